#![no_main]
//! The Vektis EI reader (PM304 and MZ301 layouts) on arbitrary bytes: it must give lines,
//! rejections or a refusal, never panic.
use declaro::input::ei::{LineEnds, Message};
use libfuzzer_sys::fuzz_target;
mod common;

fuzz_target!(|data: &[u8]| {
    for message in [Message::Pm304, Message::Mz301] {
        let mut sink = declaro::input::Sink::new(0);
        let mut ends = LineEnds::default();
        if declaro::input::ei::read_from(data, "fuzz", message, &mut sink, &mut ends).is_ok() {
            common::every_record_is_a_line(sink);
        }
    }
});
