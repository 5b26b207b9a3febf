//! CSV declarations (contract 4.1): header required, columns found by name in any order.
//!
//! Records are cut by [`csv_core`] into fixed buffers ([`Records`]), so memory does not grow
//! with a record: a record longer than [`MAX_RECORD`] bytes is skipped to its end (quoting
//! respected, as the csv crate would cut it) and rejected `MALFORMED` with its first
//! [`MAX_RECORD`] bytes as `raw`; a field over [`MAX_FIELD`] bytes rejects its line too.

use super::{RawFields, Refusal, Sink, MAX_FIELD, MAX_RECORD};
use crate::model::{Reason, Span};
use std::io::{self, BufRead};

/// The columns of contract 4.1, in the order [`RawFields`] has them.
pub(crate) const COLUMNS: [&str; 18] = [
    "batch_id",
    "line_id",
    "provider_agb",
    "member_id",
    "bsn",
    "birth_date",
    "service_date",
    "code_list",
    "code",
    "quantity",
    "indication",
    "referral",
    "authorization",
    "amount",
    "legal_copay",
    "trajectory_start",
    "debit_credit",
    "related_line_id",
];
const REQUIRED: [&str; 7] = [
    "batch_id",
    "line_id",
    "provider_agb",
    "birth_date",
    "service_date",
    "code",
    "amount",
];

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
        Records {
            inner,
            core: csv_core::Reader::new(),
            out: vec![0; MAX_RECORD],
            ends: vec![0; MAX_FIELDS],
            kept: 0,
            scratch: vec![0; 8192],
            scratch_ends: vec![0; 1024],
            offset: 0,
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

/// Reads a CSV declaration file from a byte stream, one record at a time in bounded memory
/// (`shown` names it in refusals).
pub fn read_from(input: impl BufRead, shown: &str, sink: &mut Sink) -> Result<(), Refusal> {
    let refuse = |position: String, message: String| Refusal {
        file: shown.to_string(),
        position,
        message,
    };
    let mut rdr = Records::new(input);
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
        .copied()
        .filter(|r| index[COLUMNS.iter().position(|c| c == r).unwrap_or(0)] == usize::MAX)
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

    let width = header.fields;
    loop {
        let before = rdr.offset();
        let info = match rdr.next_record() {
            Ok(Some(info)) => info,
            Ok(None) => break,
            Err(e) => {
                return Err(refuse(format!("byte {before}"), format!("read error: {e}")));
            }
        };
        let raw = Span {
            start: info.start,
            len: u32::try_from(info.len.min(MAX_RECORD as u64)).unwrap_or(u32::MAX),
        };
        let name = |i: usize| {
            names
                .get(i)
                .map_or_else(|| format!("#{}", i + 1), String::clone)
        };
        let field = |c: usize| -> Result<&str, usize> {
            match index[c] {
                usize::MAX => Ok(""),
                // A field over the limit is not echoed (its line is rejected for it).
                i if rdr.field(i).len() > MAX_FIELD => Ok(""),
                i => std::str::from_utf8(rdr.field(i))
                    .map(str::trim)
                    .map_err(|_| c),
            }
        };
        let mut bad_utf8 = None;
        let mut get = |c: usize| {
            field(c).unwrap_or_else(|c| {
                bad_utf8.get_or_insert(c);
                ""
            })
        };
        let raw_fields = RawFields {
            batch_id: get(0),
            line_id: get(1),
            provider_agb: get(2),
            member_id: get(3),
            bsn: get(4),
            birth_date: get(5),
            service_date: get(6),
            code_list: get(7),
            code: get(8),
            quantity: get(9),
            indication: get(10),
            referral: get(11),
            authorization: get(12),
            amount: get(13),
            legal_copay: get(14),
            trajectory_start: get(15),
            debit_credit: get(16),
            related_line_id: get(17),
        };
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
            sink.push(raw, &raw_fields, Some((Reason::Malformed, msg)));
            continue;
        }
        if let Some(msg) = long_field {
            sink.push(raw, &raw_fields, Some((Reason::Malformed, msg)));
            continue;
        }
        if info.fields != width {
            let msg = format!("{} fields where the header has {width}", info.fields);
            sink.push(raw, &raw_fields, Some((Reason::Malformed, msg)));
            continue;
        }
        if let Some(c) = bad_utf8 {
            let msg = format!("field {} is not valid UTF-8", COLUMNS[c]);
            sink.push(raw, &raw_fields, Some((Reason::Malformed, msg)));
            continue;
        }
        sink.push(raw, &raw_fields, None);
    }
    Ok(())
}
