//! CSV declarations (contract 4.1): header required, columns found by name in any order.
//!
//! Records are cut by [`csv_core`] into fixed buffers ([`Records`]), so memory does not grow
//! with a record: a record longer than [`MAX_RECORD`] bytes is skipped to its end (quoting
//! respected, as the csv crate would cut it) and rejected `MALFORMED` with its first
//! [`MAX_RECORD`] bytes as `raw`; a field over [`MAX_FIELD`] bytes rejects its line too.

use super::{Fault, RawFields, Refusal, Sink, COLUMNS, MAX_FIELD, MAX_RECORD, REQUIRED};
use crate::model::{Reason, Span};
use std::io::{self, BufRead};

/// At most this many fields of a record are kept (more fields than the header is a rejected
/// line anyway); a header with more columns is refused.
const MAX_FIELDS: usize = 4096;

/// One record as [`Records::next_record`] cut it.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordInfo {
    /// Byte offset of the record's first byte in the file.
    pub start: u64,
    /// Bytes of the record in the file, its line end included.
    pub len: u64,
    /// Number of fields (also those beyond the kept ones).
    pub fields: usize,
    /// Whether the record was longer than [`MAX_RECORD`]: only the fields that ended within
    /// the first [`MAX_RECORD`] bytes are kept (and never more than [`MAX_FIELDS`]).
    pub overlong: bool,
    /// The first field longer than [`MAX_FIELD`] bytes: its index and length.
    pub long_field: Option<(usize, u64)>,
}

/// Cuts a CSV byte stream into records with bounded memory.
pub struct Records<R> {
    inner: R,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Complete fields kept in `out` / `ends` for the current record.
    kept: usize,
    scratch: Vec<u8>,
    scratch_ends: Vec<usize>,
    offset: u64,
}

impl<R: BufRead> Records<R> {
    pub fn new(inner: R) -> Self {
        Records::at(inner, 0)
    }

    /// Records of a stream that starts at byte `offset` of its file (a chunk), so that spans
    /// are offsets in the file.
    pub fn at(inner: R, offset: u64) -> Self {
        Records {
            inner,
            core: csv_core::Reader::new(),
            out: vec![0; MAX_RECORD],
            ends: vec![0; MAX_FIELDS],
            kept: 0,
            scratch: vec![0; 8192],
            scratch_ends: vec![0; 1024],
            offset,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Field `i` of the current record (empty when it was not kept).
    pub fn field(&self, i: usize) -> &[u8] {
        if i >= self.kept {
            return b"";
        }
        let from = match i {
            0 => 0,
            _ => self.ends.get(i - 1).copied().unwrap_or(0),
        };
        let to = self.ends.get(i).copied().unwrap_or(0);
        self.out.get(from..to).unwrap_or(b"")
    }

    /// The kept fields of the current record as one text, when all of it is UTF-8 (checking
    /// once per record is much cheaper than once per field).
    pub fn text(&self) -> Option<&str> {
        let end = match self.kept {
            0 => 0,
            k => self.ends.get(k - 1).copied().unwrap_or(0),
        };
        std::str::from_utf8(self.out.get(..end)?).ok()
    }

    /// Where field `i` of the current record is in [`Records::text`] (empty when it was not
    /// kept).
    pub fn span(&self, i: usize) -> (usize, usize) {
        if i >= self.kept {
            return (0, 0);
        }
        let from = match i {
            0 => 0,
            _ => self.ends.get(i - 1).copied().unwrap_or(0),
        };
        (from, self.ends.get(i).copied().unwrap_or(from).max(from))
    }

    /// Number of fields kept for the current record.
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// The next record; `None` at the end of the input. Empty lines are skipped, as the csv
    /// crate skips them.
    pub fn next_record(&mut self) -> io::Result<Option<RecordInfo>> {
        // Line ends before a record (an empty line, the LF of a CR LF) are not part of it.
        let start = loop {
            let buf = self.inner.fill_buf()?;
            if self.offset == 0 && buf.starts_with(b"\xEF\xBB\xBF") {
                break 3;
            }
            let n = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            self.inner.consume(n);
            self.offset += n as u64;
            if n == 0 {
                break self.offset;
            }
        };
        let mut info = RecordInfo {
            start,
            ..RecordInfo::default()
        };
        let (mut nout, mut nend) = (0usize, 0usize);
        let mut prev_end = 0usize;
        let (mut overflow, mut out_full) = (false, false);
        loop {
            let input = self.inner.fill_buf()?;
            let (res, nin, n_out, n_end) = if overflow {
                self.core
                    .read_record(input, &mut self.scratch, &mut self.scratch_ends)
            } else {
                let out = self.out.get_mut(nout..).unwrap_or_default();
                let ends = self.ends.get_mut(nend..).unwrap_or_default();
                self.core.read_record(input, out, ends)
            };
            self.inner.consume(nin);
            self.offset += nin as u64;
            // Field ends are positions in the record's whole output, also in the scratch buffer.
            let new_ends = if overflow {
                self.scratch_ends.get(..n_end)
            } else {
                self.ends.get(nend..nend + n_end)
            };
            for &end in new_ends.unwrap_or_default() {
                let len = end.saturating_sub(prev_end);
                if len > MAX_FIELD && info.long_field.is_none() {
                    info.long_field = Some((info.fields, len as u64));
                }
                prev_end = end;
                info.fields += 1;
            }
            if !overflow {
                nout += n_out;
                nend += n_end;
            }
            match res {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    overflow = true;
                    out_full = true;
                }
                // More fields than kept: counted on, the width check rejects the line.
                csv_core::ReadRecordResult::OutputEndsFull => overflow = true,
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => {
                    if info.fields == 0 && self.offset == start {
                        self.kept = 0;
                        return Ok(None);
                    }
                    break;
                }
            }
        }
        self.kept = nend;
        info.len = self.offset - info.start;
        info.overlong = out_full || info.len > MAX_RECORD as u64 + 1;
        Ok(Some(info))
    }
}

/// `str::trim`, without its Unicode work for the usual field that starts and ends in a
/// printable ASCII character.
pub(crate) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// The header of a declaration file: which field of a record holds which column.
pub struct Header {
    /// Header names, for messages about a field of any column.
    names: Vec<String>,
    /// Field index of each of [`COLUMNS`] (`usize::MAX`: not in the file).
    index: [usize; COLUMNS.len()],
    width: usize,
}

/// Reads a CSV declaration file from a byte stream, one record at a time in bounded memory
/// (`shown` names it in refusals).
pub fn read_from(input: impl BufRead, shown: &str, sink: &mut Sink) -> Result<(), Refusal> {
    let mut rdr = Records::new(input);
    let header = read_header(&mut rdr, shown)?;
    header.records(&mut rdr, shown, sink)
}

fn refusal(shown: &str, position: String, message: String) -> Refusal {
    Refusal {
        file: shown.to_string(),
        position,
        message,
        reason: super::RefusalReason::MalformedFile,
        vektis: None,
    }
}

/// Reads and checks the header row.
pub fn read_header<R: BufRead>(rdr: &mut Records<R>, shown: &str) -> Result<Header, Refusal> {
    let refuse = |position: String, message: String| refusal(shown, position, message);
    let header = rdr
        .next_record()
        .map_err(|e| refuse("line 1".into(), format!("cannot read the header: {e}")))?;
    let Some(header) = header else {
        return Err(refuse(
            "line 1".into(),
            "empty file: a header row is required".into(),
        ));
    };
    // An over-long header keeps no field: it is not an empty one.
    if header.overlong || header.fields > MAX_FIELDS {
        return Err(refuse(
            "line 1".into(),
            format!(
                "the header row is longer than {MAX_RECORD} bytes or has more than {MAX_FIELDS} \
                 columns: not a declaration file?"
            ),
        ));
    }
    if header.fields == 1 && rdr.field(0).is_empty() {
        return Err(refuse(
            "line 1".into(),
            "empty file: a header row is required".into(),
        ));
    }
    // Header names, for messages about a field of any column.
    let names: Vec<String> = (0..header.fields)
        .map(|i| {
            let h = rdr.field(i);
            let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
            match std::str::from_utf8(h).map(str::trim) {
                Ok(name) if !name.is_empty() && name.len() <= 64 => name.to_string(),
                _ => format!("#{}", i + 1),
            }
        })
        .collect();
    // Column index for each field of COLUMNS, found by name.
    let mut index = [usize::MAX; COLUMNS.len()];
    for (i, name) in names.iter().enumerate() {
        if let Some(c) = COLUMNS.iter().position(|c| c == name) {
            if index[c] != usize::MAX {
                return Err(refuse(
                    "line 1".into(),
                    format!("column {name} appears twice in the header"),
                ));
            }
            index[c] = i;
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .map(|&r| COLUMNS[r])
        .filter(|&name| index[COLUMNS.iter().position(|c| *c == name).unwrap_or(0)] == usize::MAX)
        .collect();
    if !missing.is_empty() {
        // A header of one column holding the names separated by something else than commas.
        let first = rdr.field(0);
        let hint = match header.fields {
            1 if first.contains(&b';') => {
                " (the header is separated by ';': declaro reads comma-separated files)"
            }
            1 if first.contains(&b'\t') => {
                " (the header is separated by tabs: declaro reads comma-separated files)"
            }
            _ => "",
        };
        return Err(refuse(
            "line 1".into(),
            format!(
                "required column(s) missing from the header: {}{hint}",
                missing.join(", ")
            ),
        ));
    }
    if index[3] == usize::MAX && index[4] == usize::MAX {
        return Err(refuse(
            "line 1".into(),
            "the header needs member_id or bsn".into(),
        ));
    }

    Ok(Header {
        names,
        index,
        width: header.fields,
    })
}

impl Header {
    /// Reads the records after the header into `sink`, to the end of `rdr`.
    pub fn records<R: BufRead>(
        &self,
        rdr: &mut Records<R>,
        shown: &str,
        sink: &mut Sink,
    ) -> Result<(), Refusal> {
        loop {
            let before = rdr.offset();
            match rdr.next_record() {
                Ok(Some(info)) => self.record(rdr, info, sink),
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(refusal(
                        shown,
                        format!("byte {before}"),
                        format!("read error: {e}"),
                    ))
                }
            }
        }
    }

    /// Files one record (just cut by `rdr`) as a line or a rejection.
    fn record<R: BufRead>(&self, rdr: &Records<R>, info: RecordInfo, sink: &mut Sink) {
        let (names, index, width) = (&self.names, &self.index, self.width);
        let raw = Span {
            start: info.start,
            len: u32::try_from(info.len.min(MAX_RECORD as u64)).unwrap_or(u32::MAX),
        };
        let name = |i: usize| {
            names
                .get(i)
                .map_or_else(|| format!("#{}", i + 1), String::clone)
        };
        // Each column's field, trimmed; the record is checked as UTF-8 once.
        let text = rdr.text();
        let mut v = [""; COLUMNS.len()];
        let mut bad_utf8 = None;
        for (c, &i) in index.iter().enumerate() {
            if i == usize::MAX {
                continue;
            }
            let (from, to) = rdr.span(i);
            // A field over the limit is not echoed (its line is rejected for it).
            if to - from > MAX_FIELD {
                continue;
            }
            match text.and_then(|t| t.get(from..to)) {
                Some(f) => v[c] = trim(f),
                None => match std::str::from_utf8(rdr.field(i)) {
                    Ok(f) => v[c] = trim(f),
                    Err(_) => {
                        bad_utf8.get_or_insert(c);
                    }
                },
            }
        }
        let raw_fields = RawFields::from_columns(v);
        let long_field = info.long_field.map(|(i, len)| {
            format!(
                "field {} is {len} bytes long, over the limit of {MAX_FIELD}",
                name(i)
            )
        });
        if info.overlong {
            let mut msg = format!(
                "record is {} bytes long, over the limit of {MAX_RECORD} (raw holds its first \
                     {MAX_RECORD} bytes)",
                info.len
            );
            if let Some(f) = long_field {
                msg = format!("{f}; {msg}");
            }
            sink.push(raw, &raw_fields, Some(Fault::new(Reason::Malformed, msg)));
            return;
        }
        if let Some(msg) = long_field {
            sink.push(raw, &raw_fields, Some(Fault::new(Reason::Malformed, msg)));
            return;
        }
        if info.fields != width {
            let msg = format!("{} fields where the header has {width}", info.fields);
            sink.push(raw, &raw_fields, Some(Fault::new(Reason::Malformed, msg)));
            return;
        }
        if let Some(c) = bad_utf8 {
            let msg = format!("field {} is not valid UTF-8", COLUMNS[c]);
            sink.push(raw, &raw_fields, Some(Fault::new(Reason::Malformed, msg)));
            return;
        }
        sink.push(raw, &raw_fields, None);
    }
}

/// The input of a declaration file as [`super::read_file`] opens it.
type Input<'a> = io::BufReader<super::Hashing<'a, std::fs::File>>;

/// Reads a CSV declaration file in chunks parsed in parallel on the current thread pool
/// ([`super::chunks`]), with the same code as [`read_from`] and each chunk's offset in the
/// file, so every line keeps its byte span; the batches come back in file order.
pub fn read_chunked(mut input: Input<'_>, shown: &str, file: u16) -> super::FileRead {
    use super::{chunks, FileRead, Format};
    use std::io::Read;
    let refused =
        |input: Input, r| FileRead::refused(Some(Format::Csv), input.into_inner().finish(), r);

    // The header, from the first bytes (a longer header is refused anyway).
    let mut first = Vec::with_capacity(chunks::HEAD);
    if let Err(e) = (&mut input)
        .take(chunks::HEAD as u64)
        .read_to_end(&mut first)
    {
        return refused(input, super::unreadable(shown, &e));
    }
    let mut head = Records::new(first.as_slice());
    let header = match read_header(&mut head, shown) {
        Ok(h) => h,
        Err(r) => return refused(input, r),
    };
    let start = head.offset();
    drop(head);
    first.drain(..start as usize);
    let got = chunks::parse(input, first, start, |bytes, at| {
        let mut sink = Sink::new(file);
        // Reading from memory cannot fail.
        let _ = header.records(&mut Records::at(bytes, at), shown, &mut sink);
        sink
    });
    let (mut input, mut sinks) = (got.input, got.parsed);
    if let Some(e) = got.error {
        return refused(input, super::unreadable(shown, &e));
    }
    if let Some((at, bytes)) = got.tail {
        let mut sink = Sink::new(file);
        let rest = io::BufReader::with_capacity(1 << 16, io::Cursor::new(bytes).chain(&mut input));
        if let Err(r) = header.records(&mut Records::at(rest, at), shown, &mut sink) {
            return refused(input, r);
        }
        sinks.push(sink);
    }
    FileRead {
        format: Some(Format::Csv),
        sha256: input.into_inner().finish(),
        records: sinks.iter().map(|s| s.records).sum(),
        batches: sinks.into_iter().map(Sink::finish).collect(),
        refusal: None,
        line_ends: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::night::Night;

    /// A file of several chunks, with quoted fields holding line ends, commas and quotes on
    /// every side of the chunk edges, reads the same in chunks as in one stream.
    #[test]
    fn chunked_reading_gives_the_lines_of_one_stream() {
        let mut text = String::from(
            "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code,amount\n",
        );
        let mut i = 0u64;
        while text.len() < 3 * super::super::chunks::CHUNK + 12_345 {
            i += 1;
            let batch = match i % 7 {
                0 => format!("\"B\n{i}\""),
                1 => format!("\"B,\"\"{i}\"\"\""),
                2 => format!("B\"{i}"),
                _ => format!("B{}", i / 100),
            };
            let end = if i % 5 == 0 { "\r\n" } else { "\n" };
            text.push_str(&format!(
                "{batch},L{i},12345678,M{},1980-05-17,2024-01-{:02},1000,{}.50{end}",
                i % 997,
                i % 28 + 1,
                i % 90
            ));
            if i % 1000 == 0 {
                text.push_str("broken,\"unterminated\nline\",x\n\n");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, &text).unwrap();

        let chunked = crate::input::read_file(&path, "big.csv", 0, &crate::input::no_progress);
        assert!(chunked.refusal.is_none());
        assert!(
            chunked.batches.len() >= 3,
            "{} batches",
            chunked.batches.len()
        );
        let mut sink = Sink::new(0);
        read_from(text.as_bytes(), "big.csv", &mut sink).unwrap();
        assert_eq!(chunked.records, sink.records);

        let (mut a, mut b) = (Night::default(), Night::default());
        for batch in chunked.batches {
            a.absorb(batch);
        }
        b.absorb(sink.finish());
        assert_eq!(a.lines.len(), b.lines.len());
        if let Some(i) = (0..a.lines.len()).find(|&i| a.lines[i] != b.lines[i]) {
            panic!("line {i} differs:\n{:?}\n{:?}", a.lines[i], b.lines[i]);
        }
        assert!(a.outcomes == b.outcomes);
        assert_eq!(a.text, b.text);
        let messages = |n: &Night| -> Vec<(u32, String)> {
            n.parse_rejections
                .iter()
                .map(|(s, r)| (*s, format!("{} {:?}", r.message, r.echo.fields())))
                .collect()
        };
        assert_eq!(messages(&a), messages(&b));
        assert!(!a.parse_rejections.is_empty());
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(chunked.sha256, sha);
    }
}
