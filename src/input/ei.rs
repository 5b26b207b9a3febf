//! Vektis EI PM304 v3.2 declaration files (contract 10, layouts in `docs/vektis-ei.md`):
//! fixed-width records of 310 positions ending in CR LF (a bare LF is accepted too).
//!
//! Records `01` (voorloop), `02` (verzekerde), `03` (debiteur, counted only), `04` (prestatie),
//! `98` (commentaar, counted only) and `99` (sluitrecord). Each `04` becomes one line, with the
//! BSN and birth date of the `02` before it; `record` is its ordinal among the `04` records and
//! `raw` its 310 bytes. A record of the wrong length, an unknown or misplaced record type or a
//! `99` whose counts or total disagree with the records refuses the file whole (Vektis 0001).
//! Positions are bytes (the standard's character set is single-byte).

use super::{RawFields, Refusal, Sink};
use crate::model::{Cents, Reason, Span};
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// Positions per record, without the line end.
pub const RECORD_LEN: usize = 310;

/// Field `from..=to` (1-based, inclusive) of a record; empty when the record is too short.
pub fn field(rec: &[u8], from: usize, to: usize) -> &[u8] {
    rec.get(from - 1..to).unwrap_or(b"")
}

/// Field as text, trimmed (AN fields are space-padded). Bytes outside ASCII are read as
/// ISO 8859-1, so this never fails.
fn text(rec: &[u8], from: usize, to: usize) -> Cow<'_, str> {
    let b = trim(field(rec, from, to));
    match std::str::from_utf8(b) {
        Ok(s) if b.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(b.iter().map(|&c| char::from(c)).collect()),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| *c != b' ').unwrap_or(b.len());
    let end = b.iter().rposition(|c| *c != b' ').map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or(b"")
}

/// A filled field: not blank and not all zeros (N fields are zero-filled when empty).
fn filled(b: &[u8]) -> bool {
    b.iter().any(|c| *c != b' ' && *c != b'0')
}

/// Text of a field that counts as empty when it is all zeros.
fn opt_text(rec: &[u8], from: usize, to: usize) -> Cow<'_, str> {
    if filled(field(rec, from, to)) {
        text(rec, from, to)
    } else {
        Cow::Borrowed("")
    }
}

/// An unsigned numeric field.
pub fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |a, c| a * 10 + u64::from(c - b'0')))
}

/// At most this many bytes of a record are kept: a longer record (a file without line ends)
/// is read to its end without growing memory, and [`Records::record_len`] gives its real length.
pub const KEEP: usize = 4096;

/// Reads the records of an EI file one at a time: CR LF or LF ends, the last end optional.
pub struct Records<R> {
    inner: R,
    offset: u64,
    len: u64,
}

impl<R: BufRead> Records<R> {
    pub fn new(inner: R) -> Self {
        Records {
            inner,
            offset: 0,
            len: 0,
        }
    }

    /// The next record into `buf` (without its line end, at most [`KEEP`] bytes) and its byte
    /// offset; `None` at the end.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
        buf.clear();
        let at = self.offset;
        // Bytes of the record without the LF, whether an LF ended it, the byte before the LF.
        let (mut n, mut ended, mut last) = (0u64, false, None::<u8>);
        while !ended {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            let (body, eaten) = match chunk.iter().position(|c| *c == b'\n') {
                Some(i) => {
                    ended = true;
                    (chunk.get(..i).unwrap_or_default(), i + 1)
                }
                None => (chunk, chunk.len()),
            };
            let room = KEEP.saturating_sub(buf.len());
            buf.extend_from_slice(body.get(..body.len().min(room)).unwrap_or_default());
            last = body.last().copied().or(last);
            n += body.len() as u64;
            self.inner.consume(eaten);
            self.offset += eaten as u64;
        }
        if n == 0 && !ended {
            return Ok(None);
        }
        // A CR before the LF belongs to the line end.
        if ended && last == Some(b'\r') {
            n -= 1;
            if buf.len() as u64 > n {
                buf.pop();
            }
        }
        self.len = n;
        Ok(Some(at))
    }

    /// Length of the last record read, without its line end (its bytes beyond [`KEEP`] were
    /// not kept).
    pub fn record_len(&self) -> u64 {
        self.len
    }
}

/// Opens an EI file for [`Records`].
pub fn open(path: &Path) -> io::Result<Records<BufReader<File>>> {
    Ok(Records::new(BufReader::with_capacity(
        1 << 16,
        File::open(path)?,
    )))
}

fn kind_name(kind: &[u8]) -> &'static str {
    match kind {
        b"01" => "01 voorlooprecord",
        b"02" => "02 verzekerdenrecord",
        b"03" => "03 debiteurrecord",
        b"04" => "04 prestatierecord",
        b"98" => "98 commentaarrecord",
        b"99" => "99 sluitrecord",
        _ => "unknown record",
    }
}

/// The insured person of the `02` record the following `04` records belong to.
#[derive(Default)]
struct Insured {
    bsn: String,
    member_id: String,
    birth_date: String,
}

/// Reads a PM304 file from a byte stream (`shown` names it in refusals).
pub fn read_from(input: impl BufRead, shown: &str, sink: &mut Sink) -> Result<(), Refusal> {
    let refuse = |n: u64, at: u64, kind: &[u8], message: String| Refusal {
        file: shown.to_string(),
        position: format!("record {n} byte {at} ({})", kind_name(kind)),
        message,
        reason: super::RefusalReason::MalformedFile,
        vektis: None,
    };
    let refuse_as = |code: &'static str, n: u64, at: u64, kind: &[u8], message: String| Refusal {
        vektis: Some(code),
        ..refuse(n, at, kind, message)
    };
    let mut records = Records::new(input);
    let mut rec: Vec<u8> = Vec::with_capacity(RECORD_LEN + 2);
    let mut n = 0u64;
    let (mut batch_id, mut provider) = (String::new(), String::new());
    let mut insured: Option<Insured> = None;
    // Counts per record type: 02, 03, 04, 98.
    let mut counts = [0u64; 4];
    // The 04 records' amounts in cents, debits and credits apart: every one is counted, so the
    // 99 record's total is always checked, and each sum must fit the 11 positions of a PM305
    // total, so that no answer can fail to be written after the night was adjudicated.
    let mut sums = Sums::default();
    let mut closed = false;
    let mut amount = String::with_capacity(16);
    loop {
        let at = match records.next_record(&mut rec) {
            Ok(Some(at)) => at,
            Ok(None) => break,
            Err(e) => {
                return Err(refuse(
                    n + 1,
                    records.offset,
                    b"",
                    format!("read error: {e}"),
                ));
            }
        };
        n += 1;
        let kind = field(&rec, 1, 2);
        if closed {
            return Err(refuse_as(
                "8026",
                n,
                at,
                kind,
                "record after the 99 sluitrecord".into(),
            ));
        }
        if records.record_len() != RECORD_LEN as u64 {
            return Err(refuse_as(
                "0804",
                n,
                at,
                kind,
                format!(
                    "record is {} positions long, expected {RECORD_LEN}",
                    records.record_len()
                ),
            ));
        }
        match (n, kind) {
            (1, b"01") => {
                if field(&rec, 3, 5) != b"107" {
                    return Err(refuse(
                        n,
                        at,
                        kind,
                        "code EI-bericht (positions 3-5) is not 107 (PM304)".into(),
                    ));
                }
                batch_id = text(&rec, 81, 92).into_owned();
                provider = opt_text(&rec, 39, 46).into_owned();
            }
            (1, _) | (_, b"01") => {
                return Err(refuse_as(
                    "8026",
                    n,
                    at,
                    kind,
                    "the 01 voorlooprecord must be the first record, and only that".into(),
                ))
            }
            (_, b"02") => {
                counts[0] += 1;
                insured = Some(Insured {
                    bsn: opt_text(&rec, 15, 23).into_owned(),
                    member_id: text(&rec, 28, 42).into_owned(),
                    birth_date: text(&rec, 54, 61).into_owned(),
                });
            }
            (_, b"03") => counts[1] += 1,
            (_, b"98") => counts[3] += 1,
            (_, b"04") => {
                counts[2] += 1;
                let Some(ins) = insured.as_ref() else {
                    return Err(refuse_as(
                        "8026",
                        n,
                        at,
                        kind,
                        "04 prestatierecord before any 02 verzekerdenrecord".into(),
                    ));
                };
                let raw = Span {
                    start: at,
                    len: RECORD_LEN as u32,
                };
                let credit = field(&rec, 191, 191) == b"C";
                let cents = sums
                    .add(field(&rec, 183, 190), field(&rec, 191, 191))
                    .map_err(|(code, m)| refuse_as(code, n, at, kind, m))?;
                amount.clear();
                euros(&mut amount, cents);
                let member_04 = text(&rec, 28, 42);
                let behandelaar = opt_text(&rec, 128, 135);
                let referral = filled(field(&rec, 140, 147)) || filled(field(&rec, 148, 155));
                let debit_credit = text(&rec, 191, 191);
                let related = if credit {
                    text(&rec, 212, 231)
                } else {
                    Cow::Borrowed("")
                };
                let fields = RawFields {
                    batch_id: &batch_id,
                    line_id: &text(&rec, 192, 211),
                    provider_agb: if behandelaar.is_empty() {
                        &provider
                    } else {
                        &behandelaar
                    },
                    member_id: if member_04.is_empty() {
                        &ins.member_id
                    } else {
                        &member_04
                    },
                    bsn: &ins.bsn,
                    birth_date: &ins.birth_date,
                    service_date: &text(&rec, 59, 66),
                    code_list: &opt_text(&rec, 67, 69),
                    code: &text(&rec, 70, 75),
                    quantity: &text(&rec, 76, 79),
                    indication: &opt_text(&rec, 125, 127),
                    referral: if referral { "Y" } else { "" },
                    authorization: &opt_text(&rec, 43, 57),
                    amount: &amount,
                    legal_copay: "",
                    trajectory_start: "",
                    debit_credit: &debit_credit,
                    related_line_id: &related,
                    // Paramedische diagnosecode 01 (positions 106-113); zeros are none.
                    diagnosis: &opt_text(&rec, 106, 113),
                };
                let bsn_04 = opt_text(&rec, 15, 23);
                let rejected = (!bsn_04.is_empty() && *bsn_04 != *ins.bsn).then(|| {
                    (
                        Reason::Malformed,
                        "the BSN of the 04 prestatierecord differs from its 02 verzekerdenrecord"
                            .to_string(),
                    )
                });
                sink.push(raw, &fields, rejected);
            }
            (_, b"99") => {
                closed = true;
                check_trailer(&rec, counts, sums.net())
                    .map_err(|(code, m)| refuse_as(code, n, at, kind, m))?;
            }
            _ => {
                return Err(refuse_as(
                    "0002",
                    n,
                    at,
                    kind,
                    format!("unknown record type {:?}", String::from_utf8_lossy(kind)),
                ))
            }
        }
    }
    if n == 0 {
        return Err(refuse(1, 0, b"01", "empty file".into()));
    }
    if !closed {
        return Err(refuse_as(
            "8026",
            n + 1,
            records.offset,
            b"99",
            "the 99 sluitrecord is missing".into(),
        ));
    }
    Ok(())
}

/// The largest amount of an 11-position total (a `99` record's), in cents.
pub const MAX_TOTAL: i64 = 99_999_999_999;

/// The 04 records' amounts so far, in cents.
#[derive(Default)]
struct Sums {
    debits: i64,
    credits: i64,
}

impl Sums {
    /// Counts one 04 record's bedrag (positions 183-190) and indicator (191), and gives the
    /// amount. An amount or sign that cannot be read refuses the file: without it the 99
    /// record's total cannot be verified (Vektis 0150).
    fn add(&mut self, cents: &[u8], sign: &[u8]) -> Result<i64, (&'static str, String)> {
        let unverifiable = |what: String| {
            (
                "0150",
                format!(
                    "{what}, so the 99 sluitrecord's totaal declaratiebedrag cannot be verified"
                ),
            )
        };
        // Eight digits: never more than 99,999,999 cents, so the conversion cannot fail.
        let c = number(cents)
            .filter(|_| cents.len() == 8)
            .and_then(|c| i64::try_from(c).ok())
            .ok_or_else(|| {
                unverifiable(format!(
                    "bedrag (positions 183-190) {:?} is not a number",
                    String::from_utf8_lossy(cents)
                ))
            })?;
        let sum = match sign {
            b"D" => &mut self.debits,
            b"C" => &mut self.credits,
            _ => {
                return Err(unverifiable(format!(
                    "indicatie debet/credit (position 191) {:?} is not D or C",
                    String::from_utf8_lossy(sign)
                )))
            }
        };
        *sum += c;
        if *sum > MAX_TOTAL {
            let what = if sign == b"D" { "debits" } else { "credits" };
            return Err((
                "0150",
                format!(
                    "the 04 records' {what} add up to more than {}, the most that the 11 \
                     positions of a total can hold",
                    Cents(MAX_TOTAL)
                ),
            ));
        }
        Ok(c)
    }

    fn net(&self) -> i64 {
        self.debits - self.credits
    }
}

/// Compares the `99` sluitrecord with the records read; a difference names its Vektis code.
fn check_trailer(rec: &[u8], counts: [u64; 4], total: i64) -> Result<(), (&'static str, String)> {
    let fields = [
        ("0151", "aantal verzekerdenrecords", 3, 8, counts[0]),
        ("0157", "aantal debiteurrecords", 9, 14, counts[1]),
        ("0158", "aantal prestatierecords", 15, 20, counts[2]),
        ("0153", "aantal commentaarrecords", 21, 26, counts[3]),
        (
            "0156",
            "totaal aantal detailrecords",
            27,
            33,
            counts.iter().sum(),
        ),
    ];
    for (code, name, from, to, actual) in fields {
        let declared = number(field(rec, from, to)).ok_or_else(|| {
            (
                code,
                format!("{name} (positions {from}-{to}) is not a number"),
            )
        })?;
        if declared != actual {
            return Err((
                code,
                format!("{name} (positions {from}-{to}) is {declared} but the file has {actual}"),
            ));
        }
    }
    let declared = number(field(rec, 34, 44))
        .and_then(|c| i64::try_from(c).ok())
        .ok_or((
            "0150",
            "totaal declaratiebedrag (positions 34-44) is not a number".into(),
        ))?;
    let declared = match field(rec, 45, 45) {
        b"C" => -declared,
        b"D" => declared,
        _ => {
            return Err((
                "0150",
                "indicatie debet/credit (position 45) is not D or C".into(),
            ))
        }
    };
    if total != declared {
        return Err((
            "0150",
            format!(
                "totaal declaratiebedrag (positions 34-45) is {} but the 04 records add up to {}",
                Cents(declared),
                Cents(total)
            ),
        ));
    }
    Ok(())
}

/// Writes cents as euros with two decimals (`4000` -> `40.00`) without the formatting machinery.
fn euros(out: &mut String, cents: i64) {
    let (int, frac) = (cents / 100, cents % 100);
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut v = int.unsigned_abs();
    loop {
        if let Some(d) = digits.get_mut(n) {
            *d = b'0' + (v % 10) as u8;
        }
        n += 1;
        v /= 10;
        if v == 0 || n >= digits.len() {
            break;
        }
    }
    for d in digits.iter().take(n).rev() {
        out.push(char::from(*d));
    }
    out.push('.');
    out.push(char::from(b'0' + (frac / 10) as u8));
    out.push(char::from(b'0' + (frac % 10) as u8));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_are_written_as_euros() {
        for (c, e) in [
            (0, "0.00"),
            (5, "0.05"),
            (4000, "40.00"),
            (123456789, "1234567.89"),
        ] {
            let mut s = String::new();
            euros(&mut s, c);
            assert_eq!(s, e);
        }
    }

    #[test]
    fn fields_are_trimmed_and_zero_filled_ones_are_empty() {
        let rec = b"04  ab  000000";
        assert_eq!(text(rec, 3, 8), "ab");
        assert_eq!(opt_text(rec, 9, 14), "");
        assert!(filled(b" 01 "));
        assert!(!filled(b"0000"));
        assert_eq!(number(b"0042"), Some(42));
        assert_eq!(number(b"4x"), None);
        assert_eq!(field(rec, 13, 20), b"");
        assert_eq!(text(b"\xe9t\xe9", 1, 3), "\u{e9}t\u{e9}");
    }
}
