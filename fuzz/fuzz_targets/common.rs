// Shared by the fuzz targets: the readers take a path, so each input is written to a file
// private to this fuzzing process (in /dev/shm when there is one, to keep it off the disk).
// Each target uses part of this file.
#![allow(dead_code)]
use std::path::PathBuf;

pub fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("declaro-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("write the fuzz input to a scratch file");
    path
}

/// What a reader that accepted its input must have filed: every record as one line (validated
/// or rejected), counted once each, and an outcome for each line.
pub fn every_record_is_a_line(sink: declaro::input::Sink) {
    let records = sink.records as usize;
    let batch = sink.finish();
    assert_eq!(batch.lines.len(), records);
    let mut night = declaro::night::Night::default();
    night.absorb(batch);
    assert_eq!(night.lines.len(), night.outcomes.len());
}
