#![no_main]
//! The PM304 reader on arbitrary bytes: it must give lines, rejections or a refusal, never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = declaro::input::Sink::new(0);
    if declaro::input::ei::read_from(data, "fuzz", &mut sink).is_ok() {
        // Every record is a line (validated or rejected), counted once each.
        let records = sink.records as usize;
        let batch = sink.finish();
        assert_eq!(batch.lines.len(), records);
        let mut night = declaro::night::Night::default();
        night.absorb(batch);
        assert_eq!(night.lines.len(), night.outcomes.len());
    }
});
