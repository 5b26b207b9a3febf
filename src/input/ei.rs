//! Vektis EI declaration files: PM304 v3.2 (paramedical, contract 10, `docs/vektis-ei.md`) and
//! MZ301 v1.3 (dental, `docs/vektis-mz301.md`). Both are fixed-width records of 310 positions
//! ending in CR LF (a bare LF, and no line end after the last record, are read too and noted
//! in [`LineEnds`]); only the `04` record's positions differ ([`Message`]).
//!
//! Records `01` (voorloop), `02` (verzekerde), `03` (debiteur, counted only), `04` (prestatie),
//! `98` (commentaar, counted only) and `99` (sluitrecord). Each `04` becomes one line, with the
//! BSN and birth date of the `02` before it; `record` is its ordinal among the `04` records and
//! `raw` its 310 bytes. A record of the wrong length, an unknown or misplaced record type or a
//! `99` whose counts or total disagree with the records refuses the file whole (Vektis 0001).
//! Positions are bytes (the standard's character set is single-byte).

use super::{Fault, RawFields, Refusal, Sink};
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
    /// How the records read so far ended.
    pub ends: LineEnds,
}

impl<R: BufRead> Records<R> {
    pub fn new(inner: R) -> Self {
        Records {
            inner,
            offset: 0,
            len: 0,
            ends: LineEnds::default(),
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
            self.ends.crlf += 1;
        } else if ended {
            self.ends.lf += 1;
        }
        self.ends.final_end = ended;
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

/// The Vektis EI declaration messages declaro reads. Their record structure is the same
/// (`01 ( 02 98* [03 98*] (04 98*)+ )+ 99`, 310 positions); the `04` positions differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// PM304 v3.2, paramedical care (code EI-bericht 107), answered with PM305 (108).
    Pm304,
    /// MZ301 v1.3, dental care (code 176), answered with MZ302 (177).
    Mz301,
}

/// Where a message's `04` prestatierecord keeps the fields of a line, as (from, to).
struct Layout {
    authorization: (usize, usize),
    code_list: (usize, usize),
    code: (usize, usize),
    quantity: (usize, usize),
    /// Code soort indicatie (CSI); MZ301 has none.
    indication: Option<(usize, usize)>,
    /// Paramedische diagnosecode 01 (the treated condition); MZ301 has none.
    diagnosis: Option<(usize, usize)>,
    behandelaar: (usize, usize),
    /// Filled when a referral exists (verwijsdatum, verwijzer).
    referral: [(usize, usize); 2],
    /// The berekend bedrag's indicatie debet/credit, which must equal the declaratiebedrag's.
    first_sign: usize,
    amount: (usize, usize),
    sign: usize,
    line_id: (usize, usize),
    related_line_id: (usize, usize),
    /// The `01`'s AGB codes tried in order when the `04` names no behandelaar.
    header_agb: &'static [(usize, usize)],
}

const PM304: Layout = Layout {
    authorization: (43, 57),
    code_list: (67, 69),
    code: (70, 75),
    quantity: (76, 79),
    indication: Some((125, 127)),
    diagnosis: Some((106, 113)),
    behandelaar: (128, 135),
    referral: [(140, 147), (148, 155)],
    first_sign: 178,
    amount: (183, 190),
    sign: 191,
    line_id: (192, 211),
    related_line_id: (212, 231),
    header_agb: &[(39, 46)],
};

const MZ301: Layout = Layout {
    authorization: (43, 57),
    code_list: (73, 75),
    code: (76, 81),
    quantity: (131, 134),
    indication: None,
    diagnosis: None,
    behandelaar: (99, 106),
    referral: [(111, 118), (119, 122)],
    first_sign: 143,
    amount: (156, 163),
    sign: 164,
    line_id: (165, 184),
    related_line_id: (185, 204),
    header_agb: &[(39, 46), (47, 54), (55, 62)],
};

impl Message {
    /// The message's name (`PM304`).
    pub fn name(self) -> &'static str {
        match self {
            Message::Pm304 => "PM304",
            Message::Mz301 => "MZ301",
        }
    }

    /// Code EI-bericht (positions 3-5 of the `01`).
    pub fn code(self) -> &'static [u8; 3] {
        match self {
            Message::Pm304 => b"107",
            Message::Mz301 => b"176",
        }
    }

    /// The return message's name and code EI-bericht.
    pub fn answer(self) -> (&'static str, &'static [u8; 3]) {
        match self {
            Message::Pm304 => ("PM305", b"108"),
            Message::Mz301 => ("MZ302", b"177"),
        }
    }

    /// The message a file's first bytes announce (`01` + code EI-bericht).
    pub fn of(head: &[u8]) -> Option<Message> {
        match head.get(..5)? {
            b"01107" => Some(Message::Pm304),
            b"01176" => Some(Message::Mz301),
            _ => None,
        }
    }

    fn layout(self) -> &'static Layout {
        match self {
            Message::Pm304 => &PM304,
            Message::Mz301 => &MZ301,
        }
    }

    /// Positions 183-191 (PM304) or 156-164 (MZ301) of a `04`: the declaratiebedrag and its
    /// indicatie debet/credit.
    pub fn amount_and_sign(self, rec: &[u8]) -> (&[u8], &[u8]) {
        let l = self.layout();
        (
            field(rec, l.amount.0, l.amount.1),
            field(rec, l.sign, l.sign),
        )
    }
}

/// The Vektis EI messages that declaro knows by code but does not read, with their standard.
const OTHER_MESSAGES: [(&[u8; 3], &str); 4] = [
    (
        b"108",
        "PM305, the return to a PM304 paramedical declaration",
    ),
    (b"177", "MZ302, the return to an MZ301 dental declaration"),
    (b"193", "AP304, a pharmacy declaration"),
    (b"195", "GZ321, a GGZ (mental health care) declaration"),
];

/// The code EI-bericht of a file that starts like a Vektis EI file (`01`, three digits of code
/// EI-bericht, four of version, a letter for soort bericht), whatever the message.
pub fn ei_code(head: &[u8]) -> Option<[u8; 3]> {
    let h = head.get(..10)?;
    let digits = h.get(..9)?.iter().all(u8::is_ascii_digit);
    (h.starts_with(b"01") && digits && h[9].is_ascii_uppercase()).then(|| [h[2], h[3], h[4]])
}

/// The refusal of a Vektis EI file of a message declaro does not read.
pub fn unsupported(shown: &str, code: [u8; 3]) -> Refusal {
    let code_text = String::from_utf8_lossy(&code).into_owned();
    let standard = OTHER_MESSAGES
        .iter()
        .find(|(c, _)| **c == code)
        .map_or_else(
            || "a standard declaro does not know".to_string(),
            |(_, s)| (*s).to_string(),
        );
    Refusal {
        file: shown.to_string(),
        position: "record 1 byte 0 (01 voorlooprecord)".into(),
        message: format!(
            "Vektis EI message with code EI-bericht {code_text} ({standard}): declaro reads PM304 \
             (107) and MZ301 (176) only"
        ),
        reason: super::RefusalReason::UnsupportedFormat,
        vektis: Some("0010"),
    }
}

/// How an EI file's records end, as `summary.json` notes it for the sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineEnds {
    /// Records ended by CR LF, as the standard wants.
    pub crlf: u64,
    /// Records ended by a bare LF.
    pub lf: u64,
    /// Whether the last record has a line end.
    pub final_end: bool,
}

impl LineEnds {
    /// `CR LF`, `LF` or `mixed`; `none` for a file of one record without a line end.
    pub fn style(&self) -> &'static str {
        match (self.crlf, self.lf) {
            (0, 0) => "none",
            (_, 0) => "CR LF",
            (0, _) => "LF",
            _ => "mixed",
        }
    }
}

/// The insured person of the `02` record the following `04` records belong to.
#[derive(Default)]
struct Insured {
    bsn: String,
    uzovi: [u8; 4],
    member_id: String,
    birth_date: String,
}

/// The BSN of a record: `999999999` means "no BSN" (the member is then matched on the
/// verzekerdennummer), as do zeros.
fn bsn(rec: &[u8]) -> Cow<'_, str> {
    match field(rec, 15, 23) {
        b"999999999" => Cow::Borrowed(""),
        _ => opt_text(rec, 15, 23),
    }
}

/// Reads a PM304 or MZ301 file from a byte stream (`shown` names it in refusals); `ends` tells
/// how its records ended, also for a refused file.
pub fn read_from(
    input: impl BufRead,
    shown: &str,
    message: Message,
    sink: &mut Sink,
    ends: &mut LineEnds,
) -> Result<(), Refusal> {
    let mut records = Records::new(input);
    let read = read_records(&mut records, shown, message, sink);
    *ends = records.ends;
    read
}

fn read_records(
    records: &mut Records<impl BufRead>,
    shown: &str,
    message: Message,
    sink: &mut Sink,
) -> Result<(), Refusal> {
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
    let layout = message.layout();
    let mut rec: Vec<u8> = Vec::with_capacity(RECORD_LEN + 2);
    let mut n = 0u64;
    let (mut batch_id, mut provider) = (String::new(), String::new());
    let mut insured: Option<Insured> = None;
    // Counts per record type: 02, 03, 04, 98.
    let mut counts = [0u64; 4];
    // The 04 records' amounts in cents, debits and credits apart: every one is counted, so the
    // 99 record's total is always checked, and each sum must fit the 11 positions of a return
    // file's total, so that no answer can fail to be written after the night was adjudicated.
    let mut sums = Sums::default();
    let mut closed = false;
    let mut amount: Vec<u8> = Vec::with_capacity(24);
    // MZ301: the dagtekening factuur, and the numbering of the detail records.
    let mut invoice_date: Option<crate::model::Date> = None;
    let mut numbering = Numbering::default();
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
                wrong_length(&rec, records.record_len()),
            ));
        }
        if message == Message::Mz301 && matches!(kind, b"02" | b"03" | b"04" | b"98") {
            numbering
                .check(&rec)
                .map_err(|m| refuse_as("0801", n, at, kind, m))?;
        }
        match (n, kind) {
            (1, b"01") => {
                if field(&rec, 3, 5) != message.code() {
                    return Err(refuse_as(
                        "0010",
                        n,
                        at,
                        kind,
                        format!(
                            "code EI-bericht (positions 3-5) is not {} ({})",
                            String::from_utf8_lossy(message.code()),
                            message.name()
                        ),
                    ));
                }
                if message == Message::Mz301 && field(&rec, 6, 9) != b"0103" {
                    return Err(refuse_as(
                        "0011",
                        n,
                        at,
                        kind,
                        format!(
                            "versie {:?} (positions 6-9): declaro reads MZ301 versie 01 \
                             subversie 03 (0103)",
                            String::from_utf8_lossy(field(&rec, 6, 9))
                        ),
                    ));
                }
                if message == Message::Mz301 {
                    invoice_date = Some(
                        check_mz301_header(&rec)
                            .map_err(|(code, m)| refuse_as(code, n, at, kind, m))?,
                    );
                }
                batch_id = text(&rec, 81, 92).into_owned();
                provider = layout
                    .header_agb
                    .iter()
                    .map(|&(from, to)| opt_text(&rec, from, to))
                    .find(|agb| !agb.is_empty())
                    .unwrap_or_default()
                    .into_owned();
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
                    bsn: bsn(&rec).into_owned(),
                    uzovi: field(&rec, 24, 27).try_into().unwrap_or_default(),
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
                let (cents_field, sign_field) = message.amount_and_sign(&rec);
                let credit = sign_field == b"C";
                let cents = sums
                    .add(message, cents_field, sign_field)
                    .map_err(|(code, m)| refuse_as(code, n, at, kind, m))?;
                amount.clear();
                // The field as CSV would carry it, so that one validation serves every format.
                Cents(cents).write_to(&mut amount);
                let f = |(from, to): (usize, usize)| text(&rec, from, to);
                let opt = |(from, to): (usize, usize)| opt_text(&rec, from, to);
                let member_04 = text(&rec, 28, 42);
                let behandelaar = opt(layout.behandelaar);
                let referral = layout
                    .referral
                    .iter()
                    .any(|&(from, to)| filled(field(&rec, from, to)));
                let debit_credit = text(&rec, layout.sign, layout.sign);
                let related = if credit {
                    f(layout.related_line_id)
                } else {
                    Cow::Borrowed("")
                };
                let indication = layout.indication.map(opt).unwrap_or_default();
                let diagnosis = layout.diagnosis.map(opt).unwrap_or_default();
                let fields = RawFields {
                    batch_id: &batch_id,
                    line_id: &f(layout.line_id),
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
                    code_list: &opt(layout.code_list),
                    code: &f(layout.code),
                    quantity: &f(layout.quantity),
                    indication: &indication,
                    referral: if referral { "Y" } else { "" },
                    authorization: &opt(layout.authorization),
                    amount: std::str::from_utf8(&amount).unwrap_or(""),
                    legal_copay: "",
                    trajectory_start: "",
                    debit_credit: &debit_credit,
                    related_line_id: &related,
                    // Paramedische diagnosecode 01 (positions 106-113); zeros are none.
                    diagnosis: &diagnosis,
                };
                let bsn_04 = bsn(&rec);
                let first_sign = field(&rec, layout.first_sign, layout.first_sign);
                let rejected = if !bsn_04.is_empty() && *bsn_04 != *ins.bsn {
                    Some(Fault::new(
                        Reason::Malformed,
                        "the BSN of the 04 prestatierecord differs from its 02 verzekerdenrecord",
                    ))
                } else if field(&rec, 24, 27) != ins.uzovi
                    || (!member_04.is_empty() && *member_04 != *ins.member_id)
                {
                    Some(Fault::new(
                        Reason::Malformed,
                        "the UZOVI-nummer or verzekerdennummer of the 04 prestatierecord differs \
                         from its 02 verzekerdenrecord",
                    ))
                } else if let Some(after) = invoice_date.filter(|d| {
                    crate::model::Date::parse(&text(&rec, 59, 66)).is_some_and(|s| s > *d)
                }) {
                    Some(
                        Fault::new(
                            Reason::FutureDate,
                            format!(
                                "datum prestatie (positions 59-66) is after the dagtekening \
                                 factuur {after}"
                            ),
                        )
                        .vektis("8176"),
                    )
                } else if message == Message::Mz301 && code_list_04(&fields) {
                    Some(Fault::of_field(
                        Reason::Malformed,
                        "code_list",
                        format!(
                            "aanduiding prestatiecodelijst (positions 73-75) {:?}: MZ301 declares \
                             list 010 (mondzorg)",
                            fields.code_list
                        ),
                    ))
                } else if message == Message::Mz301 && first_sign != sign_field {
                    Some(
                        Fault::new(
                            Reason::Malformed,
                            format!(
                                "indicatie debet/credit (01) (position {}) {:?} differs from \
                                 indicatie debet/credit (02) (position {}) {:?}",
                                layout.first_sign,
                                String::from_utf8_lossy(first_sign),
                                layout.sign,
                                String::from_utf8_lossy(sign_field)
                            ),
                        )
                        .vektis("8064"),
                    )
                } else {
                    None
                };
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

/// Whether an MZ301 line names a code list other than 010 (prestatiecodelijst mondzorg).
fn code_list_04(fields: &RawFields<'_>) -> bool {
    fields.code_list != "010"
}

/// The MZ301 voorlooprecord's own checks (`vektis-mz301.md`, validation 1): soort bericht `P`
/// or `T`, and begindatum <= einddatum declaratieperiode <= dagtekening factuur, all real dates.
/// Gives the dagtekening, which no datum prestatie may follow.
fn check_mz301_header(rec: &[u8]) -> Result<crate::model::Date, (&'static str, String)> {
    use crate::model::Date;
    if !matches!(field(rec, 10, 10), b"P" | b"T") {
        return Err((
            "8028",
            format!(
                "soort bericht (position 10) {:?} is not P (productie) or T (test)",
                String::from_utf8_lossy(field(rec, 10, 10))
            ),
        ));
    }
    let date = |code: &'static str, name: &str, from: usize, to: usize| {
        Date::parse(&text(rec, from, to)).ok_or_else(|| {
            (
                code,
                format!("{name} (positions {from}-{to}) is not a real date"),
            )
        })
    };
    let begin = date("0020", "begindatum declaratieperiode", 65, 72)?;
    let end = date("0021", "einddatum declaratieperiode", 73, 80)?;
    let invoice = date("0025", "dagtekening factuur", 93, 100)?;
    if end < begin {
        return Err((
            "0021",
            format!("einddatum declaratieperiode {end} is before the begindatum {begin}"),
        ));
    }
    if invoice < end {
        return Err((
            "0025",
            format!(
                "dagtekening factuur {invoice} is before the einddatum declaratieperiode {end}"
            ),
        ));
    }
    Ok(invoice)
}

/// The identificatie detailrecord of an MZ301's records (`vektis-mz301.md`, validation 5):
/// the 02, 03 and 04 are numbered 1, 2, 3, ... in file order; a 98 repeats the number of the
/// record it annotates, its regelnummer counting from 0001 per annotated record.
#[derive(Default)]
struct Numbering {
    last: u64,
    comment_line: u64,
}

impl Numbering {
    fn check(&mut self, rec: &[u8]) -> Result<(), String> {
        let id = number(field(rec, 3, 14)).ok_or_else(|| {
            "identificatie detailrecord (positions 3-14) is not a number".to_string()
        })?;
        if field(rec, 1, 2) == b"98" {
            let line = number(field(rec, 15, 18)).unwrap_or(0);
            if self.last == 0 || id != self.last {
                return Err(format!(
                    "identificatie detailrecord {id} of a 98 commentaarrecord is not that of the \
                     record before it ({})",
                    self.last
                ));
            }
            if line != self.comment_line + 1 {
                return Err(format!(
                    "regelnummer vrije tekst (positions 15-18) is {line}, expected {}",
                    self.comment_line + 1
                ));
            }
            self.comment_line = line;
        } else {
            if id != self.last + 1 {
                return Err(format!(
                    "identificatie detailrecord (positions 3-14) is {id}, expected {}",
                    self.last + 1
                ));
            }
            self.last = id;
            self.comment_line = 0;
        }
        Ok(())
    }
}

/// The message for a record that is not 310 bytes, saying so when it would be 310 characters
/// in UTF-8 (a name written in UTF-8 instead of one byte per character).
fn wrong_length(rec: &[u8], len: u64) -> String {
    let mut m = format!("record is {len} positions long, expected {RECORD_LEN}");
    let kept = rec.len() as u64 == len;
    if let (true, Ok(text)) = (kept, std::str::from_utf8(rec)) {
        let chars = text.chars().count();
        if chars == RECORD_LEN && !text.is_ascii() {
            m.push_str(&format!(
                ": it is {RECORD_LEN} characters written in UTF-8, where the standard counts one \
                 byte per character (Latin-1 / Windows-1252)"
            ));
        }
    }
    m
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
    /// Counts one 04 record's declaratiebedrag and its indicatie debet/credit, and gives the
    /// amount. An amount or sign that cannot be read refuses the file: without it the 99
    /// record's total cannot be verified (Vektis 0150).
    fn add(
        &mut self,
        message: Message,
        cents: &[u8],
        sign: &[u8],
    ) -> Result<i64, (&'static str, String)> {
        let l = message.layout();
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
                    "declaratiebedrag (positions {}-{}) {:?} is not a number",
                    l.amount.0,
                    l.amount.1,
                    String::from_utf8_lossy(cents)
                ))
            })?;
        let sum = match sign {
            b"D" => &mut self.debits,
            b"C" => &mut self.credits,
            _ => {
                return Err(unverifiable(format!(
                    "indicatie debet/credit (position {}) {:?} is not D or C",
                    l.sign,
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

#[cfg(test)]
mod tests {
    use super::*;

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
