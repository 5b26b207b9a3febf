#![no_main]
//! The csv reader on arbitrary bytes: it must give lines, rejections or a refusal, never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("csv_reader", data);
    let mut seq = 0u32;
    if let Ok(read) = declaro::input::csv::read(&path, "fuzz", 0, &mut seq) {
        // Every record is a line or a rejection, numbered once each.
        assert_eq!(
            read.lines.len() + read.rejections.len(),
            read.records as usize
        );
        assert_eq!(seq, read.records);
    }
});
