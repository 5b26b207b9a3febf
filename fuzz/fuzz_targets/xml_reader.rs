#![no_main]
//! The xml reader on arbitrary bytes: it must give lines, rejections or a refusal, never panic.
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    let mut sink = declaro::input::Sink::new(0);
    if declaro::input::xml::read_from(data, "fuzz", &mut sink).is_ok() {
        common::every_record_is_a_line(sink);
    }
});
