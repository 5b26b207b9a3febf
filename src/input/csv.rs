//! CSV declarations (contract 4.1): header required, columns found by name in any order.

use super::{FileRead, RawFields, Refusal, Rejection};
use crate::model::{Reason, Span};
use std::path::Path;

/// The columns of contract 4.1, in the order [`RawFields`] has them.
const COLUMNS: [&str; 18] = [
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

/// Reads a CSV declaration file, streaming, one [`csv::ByteRecord`] at a time.
pub fn read(path: &Path, shown: &str, file: u16, seq: &mut u32) -> Result<FileRead, Refusal> {
    let refuse = |position: String, message: String| Refusal {
        file: shown.to_string(),
        position,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_path(path)
        .map_err(|e| refuse(String::new(), format!("cannot open: {e}")))?;
    let headers = rdr
        .byte_headers()
        .map_err(|e| refuse("line 1".into(), format!("cannot read the header: {e}")))?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(refuse(
            "line 1".into(),
            "empty file: a header row is required".into(),
        ));
    }
    // Column index for each field of COLUMNS, found by name.
    let mut index = [usize::MAX; COLUMNS.len()];
    for (i, h) in headers.iter().enumerate() {
        let h = h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h);
        let name = std::str::from_utf8(h).unwrap_or("").trim();
        if let Some(c) = COLUMNS.iter().position(|c| *c == name) {
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
        return Err(refuse(
            "line 1".into(),
            format!(
                "required column(s) missing from the header: {}",
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

    let width = headers.len();
    let mut out = FileRead::default();
    let mut rec = csv::ByteRecord::new();
    let mut record = 0u32;
    loop {
        let before = rdr.position().clone();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // The csv crate only fails on I/O or invalid UTF-8 in string mode; ByteRecord
                // reading only fails on I/O, which makes the file unreadable as a whole.
                return Err(refuse(
                    format!("line {}", before.line()),
                    format!("read error: {e}"),
                ));
            }
        }
        record += 1;
        let start = rec.position().map_or(before.byte(), |p| p.byte());
        let end = rdr.position().byte();
        let raw = Span {
            start,
            len: u32::try_from(end - start).unwrap_or(u32::MAX),
        };
        let this = *seq;
        *seq += 1;
        let field = |c: usize| -> Result<&str, usize> {
            match index[c] {
                usize::MAX => Ok(""),
                i => std::str::from_utf8(rec.get(i).unwrap_or(b""))
                    .map(str::trim)
                    .map_err(|_| c),
            }
        };
        let reject = |fields: RawFields<'_>, reason, message| Rejection {
            seq: this,
            file,
            record,
            fields: fields.echo(),
            reason,
            message,
            raw,
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
        if rec.len() != width {
            let msg = format!("{} fields where the header has {width}", rec.len());
            out.rejections
                .push(reject(raw_fields, Reason::Malformed, msg));
            continue;
        }
        if let Some(c) = bad_utf8 {
            let msg = format!("field {} is not valid UTF-8", COLUMNS[c]);
            out.rejections
                .push(reject(raw_fields, Reason::Malformed, msg));
            continue;
        }
        match raw_fields.validate(this, file, record, raw) {
            Ok(line) => out.lines.push(line),
            Err((reason, message)) => out.rejections.push(reject(raw_fields, reason, message)),
        }
    }
    out.records = record;
    Ok(out)
}
