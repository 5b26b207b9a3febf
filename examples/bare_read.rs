//! The baseline of the speed targets: a bare single-threaded csv-crate `ByteRecord` loop over a
//! file, touching every field once. `cargo run --release --example bare_read FILE`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: bare_read FILE")?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(&path)?;
    let mut rec = csv::ByteRecord::new();
    let (mut records, mut bytes) = (0u64, 0u64);
    while rdr.read_byte_record(&mut rec)? {
        records += 1;
        bytes += rec.iter().map(|f| f.len() as u64).sum::<u64>();
    }
    println!("{records} records, {bytes} field bytes");
    Ok(())
}
