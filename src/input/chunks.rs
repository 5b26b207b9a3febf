//! Cutting one big CSV stream into chunks at record boundaries, parsed in parallel in input
//! order (after ripgrep's searcher, which carries a partial line across buffer edges, and
//! DuckDB's morsels, which keep their order by number).
//!
//! A thread of its own reads [`CHUNK`]-sized blocks and cuts each after its last complete
//! record ([`last_record_end`], quote-aware exactly as csv-core cuts records); the rest of the
//! block starts the next one. The chunks go through a bounded channel to the workers of the
//! current rayon pool, so at most a few blocks per core are in memory. A record longer than a
//! whole block (only garbage is) ends the cutting: the caller streams the rest of the input
//! through its bounded sequential reader.

use rayon::prelude::*;
use std::io::{self, Read};

/// Bytes per chunk: large enough that cutting and handing over cost nothing next to parsing,
/// small enough that a few chunks in flight per core stay far below the file.
pub const CHUNK: usize = 4 << 20;

/// Bytes read first, for the header row: more than the longest record a reader keeps.
pub const HEAD: usize = 4 * super::MAX_RECORD;

/// What [`parse`] gives back.
pub struct Chunks<R, T> {
    /// The input, read up to where the cutting stopped.
    pub input: R,
    /// One result per chunk, in input order.
    pub parsed: Vec<T>,
    /// When a record was longer than a block: where the unsent rest starts, and its bytes
    /// (the input continues after them).
    pub tail: Option<(u64, Vec<u8>)>,
    /// The read error that stopped the cutting.
    pub error: Option<io::Error>,
}

/// Parses `input` in chunks: `first` holds the bytes of the input at offset `at` onwards that
/// were read already (it starts at a record's start); `parse(bytes, offset)` turns one chunk of
/// whole records, starting at byte `offset`, into a `T`.
pub fn parse<R, T, F>(input: R, first: Vec<u8>, at: u64, parse: F) -> Chunks<R, T>
where
    R: Read + Send,
    T: Send,
    F: Fn(&[u8], u64) -> T + Sync,
{
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<(usize, u64, Vec<u8>)>(2 * rayon::current_num_threads());
    let (mut parsed, (input, tail, error)) = std::thread::scope(|scope| {
        // The cutter never waits for the pool, so a pool of one thread cannot deadlock;
        // dropping `tx` at its end lets the workers finish.
        let cutter = scope.spawn(move || cut(input, first, at, &tx));
        let parsed: Vec<(usize, T)> = rx
            .into_iter()
            .par_bridge()
            .map(|(i, offset, bytes)| (i, parse(&bytes, offset)))
            .collect();
        let cut = match cutter.join() {
            Ok(c) => c,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (parsed, cut)
    });
    parsed.sort_unstable_by_key(|(i, _)| *i);
    Chunks {
        input,
        parsed: parsed.into_iter().map(|(_, t)| t).collect(),
        tail,
        error,
    }
}

type Cut<R> = (R, Option<(u64, Vec<u8>)>, Option<io::Error>);

/// Reads on after `block` (at byte `at`), cuts after the last record of each block and sends
/// the chunks in order.
fn cut<R: Read>(
    mut input: R,
    mut block: Vec<u8>,
    mut at: u64,
    tx: &std::sync::mpsc::SyncSender<(usize, u64, Vec<u8>)>,
) -> Cut<R> {
    let mut index = 0usize;
    loop {
        let want = CHUNK.saturating_sub(block.len()) as u64;
        block.reserve_exact(want as usize);
        let eof = match (&mut input).take(want).read_to_end(&mut block) {
            Ok(n) => (n as u64) < want,
            Err(e) => return (input, None, Some(e)),
        };
        let end = if eof {
            Some(block.len())
        } else {
            last_record_end(&block)
        };
        let Some(end) = end else {
            return (input, Some((at, block)), None);
        };
        let rest = block.split_off(end);
        let len = block.len() as u64;
        if !block.is_empty() && tx.send((index, at, block)).is_err() {
            return (input, None, None);
        }
        index += 1;
        at += len;
        if eof {
            return (input, None, None);
        }
        block = rest;
    }
}

/// The end of the last complete record in `block` (which starts at a record's start), as
/// csv-core cuts records: a CR or LF outside a quoted field ends one, and quoting starts only
/// at a field's start. `None` when the block holds no record end.
pub fn last_record_end(block: &[u8]) -> Option<usize> {
    if memchr::memchr(b'"', block).is_none() {
        // Without quotes every line end ends a record.
        return memchr::memrchr2(b'\n', b'\r', block).map(|i| i + 1);
    }
    #[derive(Clone, Copy)]
    enum Q {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut q = Q::FieldStart;
    let mut last = None;
    for (i, &b) in block.iter().enumerate() {
        q = match (q, b) {
            (Q::Quoted, b'"') => Q::QuoteInQuoted,
            (Q::Quoted, _) => Q::Quoted,
            (Q::FieldStart | Q::QuoteInQuoted, b'"') => Q::Quoted,
            (_, b',') => Q::FieldStart,
            (_, b'\n' | b'\r') => {
                last = Some(i + 1);
                Q::FieldStart
            }
            _ => Q::Unquoted,
        };
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Where csv-core ends each record of `data`, read whole.
    fn record_ends(data: &[u8]) -> Vec<usize> {
        let mut r = csv_core::Reader::new();
        let (mut out, mut ends) = (vec![0u8; data.len() + 1], vec![0usize; data.len() + 1]);
        let (mut at, mut got) = (0usize, Vec::new());
        loop {
            let (res, nin, _, _) = r.read_record(&data[at..], &mut out, &mut ends);
            at += nin;
            match res {
                csv_core::ReadRecordResult::Record => got.push(at),
                csv_core::ReadRecordResult::End => return got,
                csv_core::ReadRecordResult::InputEmpty => {
                    if at >= data.len() {
                        // The end of the input ends the last record; feed the end.
                        let (res, _, _, _) = r.read_record(&[], &mut out, &mut ends);
                        if res == csv_core::ReadRecordResult::Record {
                            got.push(usize::MAX);
                        }
                        return got;
                    }
                }
                _ => return got,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Cutting a block after `last_record_end` never splits what csv-core reads as one
        /// record: the cut is one of csv-core's record ends (or the block has none).
        #[test]
        fn cuts_fall_on_csv_core_record_ends(data in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b' ')],
            0..64,
        )) {
            let ends = record_ends(&data);
            match last_record_end(&data) {
                // csv-core ends a record at a line end; its count of bytes consumed includes
                // the terminator (and may include an LF after CR, or skip empty lines before
                // the next record), so the cut must lie within consumed, record-free bytes:
                // re-reading from the cut gives the same remaining records.
                Some(cut) => {
                    let before = record_ends(&data[..cut]);
                    let after = record_ends(&data[cut..]);
                    prop_assert_eq!(
                        before.len() + after.len(),
                        ends.len(),
                        "cut at {} of {:?}", cut, String::from_utf8_lossy(&data)
                    );
                }
                None => prop_assert!(
                    ends.iter().all(|&e| e == usize::MAX || e >= data.len()) || ends.len() <= 1,
                    "no cut found in {:?} but csv-core ends records at {:?}",
                    String::from_utf8_lossy(&data), ends
                ),
            }
        }
    }

    #[test]
    fn quoted_line_ends_are_not_cuts() {
        assert_eq!(last_record_end(b"a,b\nc,\"d\ne\""), Some(4));
        assert_eq!(last_record_end(b"a,\"x\"\"\ny\"\nz"), Some(10));
        assert_eq!(last_record_end(b"ab\"c\nd"), Some(5));
        assert_eq!(last_record_end(b"\"open"), None);
        assert_eq!(last_record_end(b"no end"), None);
        assert_eq!(last_record_end(b"a\r\nb"), Some(3));
    }
}
