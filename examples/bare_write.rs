//! The output half of a night's floor, for the files a run wrote (its remittance, rejections
//! and ledger):
//! - render: the rows of each `.csv` file, parsed into memory first (untimed), written again
//!   by a csv-crate `Writer` into memory, on one core;
//! - write: every file's bytes (read into memory first, untimed) written to a new file in DIR
//!   (into the page cache);
//! - sync: those files synced, as the commit syncs them.
//!
//! Prints `RENDER_SECONDS WRITE_SECONDS SYNC_SECONDS` and what they cover.
//! `cargo run --release --example bare_write DIR FILE...`.

use std::io::Write;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: bare_write DIR FILE...")?);
    let files: Vec<(String, Vec<u8>)> = args
        .map(|f| Ok((f.clone(), std::fs::read(&f)?)))
        .collect::<Result<_, std::io::Error>>()?;

    let mut rows: Vec<Vec<csv::ByteRecord>> = Vec::new();
    for (name, data) in files.iter().filter(|(n, _)| n.ends_with(".csv")) {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&data[..]);
        let parsed = rdr.byte_records().collect::<Result<Vec<_>, _>>();
        rows.push(parsed.map_err(|e| format!("{name}: {e}"))?);
    }
    let started = Instant::now();
    let (mut records, mut rendered) = (0usize, 0usize);
    for file in &rows {
        let mut w = csv::Writer::from_writer(Vec::with_capacity(64 << 20));
        for r in file {
            w.write_byte_record(r)?;
        }
        records += file.len();
        rendered += w.into_inner().map_err(|e| e.to_string())?.len();
    }
    let render = started.elapsed().as_secs_f64();
    drop(rows);

    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let mut bytes = 0;
    let mut written = Vec::new();
    for (i, (_, data)) in files.iter().enumerate() {
        let mut out = std::fs::File::create(dir.join(format!("copy-{i}")))?;
        out.write_all(data)?;
        bytes += data.len();
        written.push(out);
    }
    let write = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for out in &written {
        out.sync_all()?;
    }
    let sync = started.elapsed().as_secs_f64();
    drop(written);
    for (i, _) in files.iter().enumerate() {
        std::fs::remove_file(dir.join(format!("copy-{i}")))?;
    }
    println!(
        "{render:.2} {write:.2} {sync:.2} (render {records} csv rows, {rendered} bytes; \
         write {bytes} bytes in {} files, then sync them)",
        files.len()
    );
    Ok(())
}
