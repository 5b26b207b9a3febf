//! Stage 1, read: every input file into one [`Night`], files in parallel, lines numbered in
//! run-wide input order (files in command-line order, lines in file order). A refused file
//! contributes nothing but its entry, with the refusal.

use crate::error::Error;
use crate::input::{self, Refusal};
use crate::night::{InputFile, Night};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Reads the night's input files (on the current thread pool).
pub fn read(s: &super::Settings) -> Result<Night, Error> {
    if s.inputs.len() > usize::from(u16::MAX) {
        return Err(Error::Usage("at most 65535 input files per run".into()));
    }
    let bar = progress_bar(s.progress, s.inputs.len() as u64);
    // The input hashes for the run table are computed on another thread while parsing.
    let paths: Vec<PathBuf> = s.inputs.iter().map(PathBuf::from).collect();
    let hasher =
        std::thread::spawn(move || paths.iter().map(|p| sha256_hex(p)).collect::<Vec<_>>());
    let threads = s.threads;
    let reads: Vec<Result<input::FileBatches, Refusal>> = s
        .inputs
        .par_iter()
        .enumerate()
        .map(|(i, shown)| {
            let read = input::read_file(Path::new(shown), shown, i as u16, threads);
            bar.inc(1);
            read
        })
        .collect();
    bar.finish_and_clear();
    let hashes = hasher
        .join()
        .map_err(|_| Error::Internal("hashing inputs failed".into()))?;
    let mut night = Night::default();
    for ((shown, read), sha256) in s.inputs.iter().zip(reads).zip(hashes) {
        let first_seq = night.lines.len() as u32;
        let mut file = InputFile {
            shown: shown.clone(),
            path: PathBuf::from(shown),
            format: None,
            first_seq,
            records: 0,
            sha256,
            refusal: None,
        };
        match read {
            Ok(read) => {
                file.format = Some(read.format);
                file.records = read.records;
                night.files.push(file);
                for b in read.batches {
                    night.absorb(b);
                }
            }
            Err(r) => {
                tracing::warn!(file = %r.file, position = %r.position, "input file refused: {}", r.message);
                file.format = input::sniff_path(Path::new(shown));
                file.refusal = Some(r);
                night.files.push(file);
            }
        }
    }
    if night.lines.len() > u32::MAX as usize - 1 {
        return Err(Error::Usage(format!(
            "{} lines in one night: at most {} fit",
            night.lines.len(),
            u32::MAX - 1
        )));
    }
    Ok(night)
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(_) => return String::new(),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files {msg}") {
        bar.set_style(style);
    }
    bar
}
