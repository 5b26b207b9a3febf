#![no_main]
//! The csv reader on arbitrary bytes: it must give lines, rejections or a refusal, never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("csv_reader", data);
    let read = declaro::input::read_file(&path, "fuzz", 0, &declaro::input::no_progress);
    if read.refusal.is_none() {
        // Every record is a line (validated or rejected), counted once each.
        let lines: usize = read.batches.iter().map(|b| b.lines.len()).sum();
        assert_eq!(lines, read.records as usize);
        let mut night = declaro::night::Night::default();
        for b in read.batches {
            night.absorb(b);
        }
        assert_eq!(night.lines.len(), night.outcomes.len());
    }
});
