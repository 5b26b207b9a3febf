//! Readers for declaration files. Every format ends in the same validated [`Line`]s and
//! [`Rejection`]s; a file that cannot be read as a whole is a [`Refusal`].

pub mod chunks;
pub mod csv_file;
pub mod ei;
pub mod xml;

use crate::intern::NONE;
use crate::model::{agb_valid, bsn_valid, Cents, Date, Reason, Span};
use crate::night::{self, flag, Batch, Line, ParseRejection};
use std::fmt;
use std::path::Path;

/// The longest record (a CSV row, a `<line>` element) a reader accepts, in bytes without its
/// line end: a longer one is a rejected line (`MALFORMED`), never buffered whole.
pub const MAX_RECORD: usize = 64 * 1024;

/// The longest field value a reader accepts, in bytes: a longer one rejects its line.
pub const MAX_FIELD: usize = 1024;

/// The identifying fields of a line as written, echoed into `rejections.csv`: batch_id,
/// line_id, provider_agb, member_id, service_date, code, claimed. Kept as one string with the
/// fields' end offsets, because a night may hold millions of rejected lines.
#[derive(Clone, Debug, Default)]
pub struct EchoFields {
    text: Box<str>,
    ends: [u32; 7],
}

impl EchoFields {
    /// The echo of the seven fields, in the order above.
    pub fn new(fields: [&str; 7]) -> EchoFields {
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; 7];
        for (end, f) in ends.iter_mut().zip(fields) {
            text.push_str(f);
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        EchoFields {
            text: text.into(),
            ends,
        }
    }

    fn field(&self, i: usize) -> &str {
        let from = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(from..self.ends[i] as usize).unwrap_or("")
    }

    /// The seven fields, in column order.
    pub fn fields(&self) -> [&str; 7] {
        std::array::from_fn(|i| self.field(i))
    }

    /// The amount as written.
    pub fn claimed(&self) -> &str {
        self.field(6)
    }
}

/// A whole file that was not applied, with where it went wrong.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub file: String,
    pub position: String,
    pub message: String,
    pub reason: RefusalReason,
    /// The specific Vektis retourcode (COD954) of a Vektis file's refusal, such as `0150` for
    /// a total that does not match; `None` where the standard has none.
    pub vektis: Option<&'static str>,
}

/// Why a whole file was refused, as `summary.json` names it (contract section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefusalReason {
    /// Structure, counts, totals, record length.
    #[default]
    MalformedFile,
    /// (Addition) the file cannot be opened or read.
    UnreadableFile,
    /// The same bytes (sha256) were processed by a committed run.
    AlreadyProcessed,
    /// A Vektis EI message that declaro does not read.
    UnsupportedFormat,
}

impl RefusalReason {
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::MalformedFile => "MALFORMED_FILE",
            RefusalReason::UnreadableFile => "UNREADABLE_FILE",
            RefusalReason::AlreadyProcessed => "ALREADY_PROCESSED",
            RefusalReason::UnsupportedFormat => "UNSUPPORTED_FORMAT",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.file, self.position, self.message)
    }
}

/// The formats `process` recognises from the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xml,
    /// A Vektis EI declaration that declaro reads.
    Ei(ei::Message),
    /// A Vektis EI file of another message (its code EI-bericht): refused as
    /// `UNSUPPORTED_FORMAT`.
    OtherEi([u8; 3]),
}

impl Format {
    /// The name `summary.json` gives the format.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xml => "xml",
            Format::Ei(ei::Message::Pm304) => "pm304",
            Format::Ei(ei::Message::Mz301) => "mz301",
            Format::OtherEi(_) => "vektis-ei",
        }
    }
}

/// The refusal of a file that cannot be opened or read at all.
pub(crate) fn unreadable(shown: &str, e: &std::io::Error) -> Refusal {
    Refusal {
        file: shown.to_string(),
        position: String::new(),
        message: format!("cannot read: {e}"),
        reason: RefusalReason::UnreadableFile,
        vektis: None,
    }
}

/// Recognises the format from the first bytes (after a UTF-8 BOM).
pub fn sniff(head: &[u8]) -> Format {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if let Some(message) = ei::Message::of(head) {
        Format::Ei(message)
    } else if let Some(code) = ei::ei_code(head) {
        Format::OtherEi(code)
    } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        Format::Xml
    } else {
        Format::Csv
    }
}

/// What reading one input file gave: its lines in batches (file order), or its refusal.
#[derive(Default)]
pub struct FileRead {
    /// `None` when the file could not be opened.
    pub format: Option<Format>,
    /// Over every byte of the file, computed while reading it.
    pub sha256: String,
    /// Number of line records (0 for a refused file).
    pub records: u32,
    pub batches: Vec<Batch>,
    pub refusal: Option<Refusal>,
    /// How an EI file's records ended.
    pub line_ends: Option<ei::LineEnds>,
}

impl FileRead {
    /// A refused file.
    pub fn refused(format: Option<Format>, sha256: String, refusal: Refusal) -> FileRead {
        FileRead {
            format,
            sha256,
            refusal: Some(refusal),
            ..FileRead::default()
        }
    }
}

/// Reads one declaration file, once: the format is recognised from its first bytes, the sha256
/// is computed over the bytes as they are read, and a big CSV file is cut into chunks that are
/// parsed on every core of the current thread pool.
pub fn read_file(path: &Path, shown: &str, file: u16, progress: Progress<'_>) -> FileRead {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return FileRead::refused(None, String::new(), unreadable(shown, &e)),
    };
    let mut input = std::io::BufReader::with_capacity(1 << 16, Hashing::with_progress(f, progress));
    let format = match std::io::BufRead::fill_buf(&mut input) {
        Ok(head) => sniff(head),
        Err(e) => return FileRead::refused(None, String::new(), unreadable(shown, &e)),
    };
    let mut sink = Sink::new(file);
    let mut line_ends = None;
    let read = match format {
        Format::Csv => return csv_file::read_chunked(input, shown, file),
        Format::Xml => xml::read_from(&mut input, shown, &mut sink),
        Format::Ei(message) => {
            let ends = line_ends.insert(ei::LineEnds::default());
            ei::read_from(&mut input, shown, message, &mut sink, ends)
        }
        Format::OtherEi(code) => Err(ei::unsupported(shown, code)),
    };
    let sha256 = input.into_inner().finish();
    match read {
        Ok(()) => FileRead {
            format: Some(format),
            sha256,
            records: sink.records,
            batches: vec![sink.finish()],
            refusal: None,
            line_ends,
        },
        Err(r) => FileRead {
            line_ends,
            ..FileRead::refused(Some(format), sha256, r)
        },
    }
}

/// Told how many bytes of an input were read, as they are (for a progress bar).
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// A [`Progress`] that tells nobody.
pub fn no_progress(_: u64) {}

/// A reader that computes the sha256 of everything read through it.
pub struct Hashing<'a, R> {
    inner: R,
    sha: sha2::Sha256,
    progress: Progress<'a>,
}

impl<R: std::io::Read> Hashing<'static, R> {
    pub fn new(inner: R) -> Self {
        Hashing::with_progress(inner, &no_progress)
    }
}

impl<'a, R: std::io::Read> Hashing<'a, R> {
    /// A reader that also tells `progress` of every read.
    pub fn with_progress(inner: R, progress: Progress<'a>) -> Self {
        Hashing {
            inner,
            sha: sha2::Digest::new(),
            progress,
        }
    }

    /// Reads the rest of the input (a refused file is hashed whole too) and gives the sha256
    /// in hex; empty when the rest cannot be read.
    pub fn finish(mut self) -> String {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match std::io::Read::read(&mut self, &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return String::new(),
            }
        }
        let digest = sha2::Digest::finalize(self.sha);
        let mut hex = String::with_capacity(64);
        for b in digest {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Where readers put line records: each one validated into a compact [`Line`] (or rejected
/// with its reason and the fields as written), in file order. The member a line names is
/// matched to the register later, for the whole night at once (`pipeline::screen`).
pub struct Sink {
    batch: Batch,
    file: u16,
    /// Line records so far.
    pub records: u32,
}

impl Sink {
    pub fn new(file: u16) -> Sink {
        Sink {
            batch: Batch::default(),
            file,
            records: 0,
        }
    }

    /// Files a line record at bytes `raw` of the file: validated, unless the reader already
    /// found it bad (`rejected`).
    pub fn push(&mut self, raw: Span, fields: &RawFields<'_>, rejected: Option<Fault>) {
        self.records += 1;
        let i = self.batch.lines.len() as u32;
        let checked = match rejected {
            Some(r) => Err(r),
            None => fields.validate(&mut self.batch),
        };
        let mut line = match checked {
            Ok((line, birth_date)) => {
                let b = &mut self.batch;
                let id = fields.member_id.as_bytes();
                let text = night::push_text(&mut b.declared_text, id);
                night::push_text(&mut b.declared_text, fields.bsn.as_bytes());
                b.pending.push(night::Pending {
                    hash: if id.is_empty() {
                        0
                    } else {
                        crate::registers::id_hash(id)
                    },
                    seq: i,
                    text,
                    bsn: crate::registers::bsn_number(fields.bsn),
                    birth_date,
                });
                line
            }
            Err(fault) => {
                self.batch.rejections.push((
                    i,
                    fault.reason,
                    ParseRejection {
                        message: fault.message,
                        vektis: fault.vektis,
                        echo: fields.echo(),
                    },
                ));
                Line {
                    text: NONE,
                    batch: NONE,
                    code: NONE,
                    member: NONE,
                    ..Line::default()
                }
            }
        };
        line.file = self.file;
        line.raw_start = raw.start;
        line.raw_len = raw.len;
        self.batch.lines.push(line);
    }

    /// Sets the raw span of the last line pushed when it started at `start` (an XML `<line>`
    /// whose end tag came later).
    pub fn close_last(&mut self, start: u64, len: u32) {
        if let Some(l) = self.batch.lines.last_mut().filter(|l| l.raw_start == start) {
            l.raw_len = len;
        }
    }

    /// The lines read (without the room the vectors grew, as batches wait to be merged).
    pub fn finish(mut self) -> Batch {
        let b = &mut self.batch;
        b.lines.shrink_to_fit();
        b.pending.shrink_to_fit();
        b.text.shrink_to_fit();
        b.declared_text.shrink_to_fit();
        self.batch
    }
}

/// Why a line record was rejected while reading: the reason, a message naming the field and
/// value, and the Vektis retourcode (COD954) of the field at fault where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub reason: Reason,
    pub message: String,
    /// The specific code for the EI return file; `None` = the reason's own code.
    pub vektis: Option<&'static str>,
}

impl Fault {
    /// A fault with the reason's own Vektis code.
    pub fn new(reason: Reason, message: impl Into<String>) -> Fault {
        Fault {
            reason,
            message: message.into(),
            vektis: None,
        }
    }

    /// The same fault with a specific Vektis code.
    pub fn vektis(self, code: &'static str) -> Fault {
        Fault {
            vektis: Some(code),
            ..self
        }
    }

    /// A fault of the named field (a column name of contract 4.1), with the field's Vektis
    /// code (contract section 7).
    pub fn of_field(reason: Reason, field: &str, message: impl Into<String>) -> Fault {
        Fault {
            vektis: field_code(field),
            ..Fault::new(reason, message)
        }
    }
}

/// The Vektis retourcode of a field that is empty or cannot be read (contract section 7:
/// `MALFORMED` and `MISSING_FIELD` carry the code of the field at fault, else 0801).
pub fn field_code(field: &str) -> Option<&'static str> {
    Some(match field {
        "service_date" | "birth_date" | "trajectory_start" => "8007",
        "amount" | "legal_copay" => "8033",
        "quantity" => "0638",
        "debit_credit" => "0631",
        "code_list" => "0581",
        "code" => "0582",
        "bsn" => "0435",
        "provider_agb" => "8011",
        // "Creditering zonder referentie naar debitering" (vektis-mz301.md).
        "related_line_id" => "0651",
        _ => return None,
    })
}

/// The fields of one line as text, before validation. Empty string = absent.
#[derive(Default, Debug)]
pub struct RawFields<'a> {
    pub batch_id: &'a str,
    pub line_id: &'a str,
    pub provider_agb: &'a str,
    pub member_id: &'a str,
    pub bsn: &'a str,
    pub birth_date: &'a str,
    pub service_date: &'a str,
    pub code_list: &'a str,
    pub code: &'a str,
    pub quantity: &'a str,
    pub indication: &'a str,
    pub referral: &'a str,
    pub authorization: &'a str,
    pub amount: &'a str,
    pub legal_copay: &'a str,
    pub trajectory_start: &'a str,
    pub debit_credit: &'a str,
    pub related_line_id: &'a str,
    /// (Addition) diagnosis code of the treated condition (paramedische diagnosecode).
    pub diagnosis: &'a str,
}

/// The line columns of contract 4.1 (CSV header names, XML attribute names), in the order
/// [`RawFields`] has them: every reader, and `generate`, take the names from here.
pub const COLUMNS: [&str; 19] = [
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
    "diagnosis",
];

/// The columns a line must fill (indexes in [`COLUMNS`]): a CSV header without one is refused,
/// and a line with one empty is `MISSING_FIELD`.
pub const REQUIRED: [usize; 7] = [0, 1, 2, 5, 6, 8, 13];

impl<'a> RawFields<'a> {
    /// The fields in the order of [`COLUMNS`].
    pub fn from_columns(v: [&'a str; 19]) -> RawFields<'a> {
        RawFields {
            batch_id: v[0],
            line_id: v[1],
            provider_agb: v[2],
            member_id: v[3],
            bsn: v[4],
            birth_date: v[5],
            service_date: v[6],
            code_list: v[7],
            code: v[8],
            quantity: v[9],
            indication: v[10],
            referral: v[11],
            authorization: v[12],
            amount: v[13],
            legal_copay: v[14],
            trajectory_start: v[15],
            debit_credit: v[16],
            related_line_id: v[17],
            diagnosis: v[18],
        }
    }

    /// The echo fields, as written.
    pub fn echo(&self) -> EchoFields {
        EchoFields::new([
            self.batch_id,
            self.line_id,
            self.provider_agb,
            self.member_id,
            self.service_date,
            self.code,
            self.amount,
        ])
    }

    /// Checks every field (contract 4.1) and builds the line (with the declared birth date,
    /// which the register checks); the first problem is the fault.
    pub fn validate(&self, out: &mut Batch) -> Result<(Line, Date), Fault> {
        // In the order of REQUIRED.
        let values = [
            self.batch_id,
            self.line_id,
            self.provider_agb,
            self.birth_date,
            self.service_date,
            self.code,
            self.amount,
        ];
        for (&column, v) in REQUIRED.iter().zip(values) {
            let name = COLUMNS[column];
            if v.is_empty() {
                return Err(Fault::of_field(
                    Reason::MissingField,
                    name,
                    format!("field {name} is empty"),
                ));
            }
        }
        if !agb_valid(self.provider_agb) {
            return Err(Fault::new(
                Reason::BadAgb,
                format!(
                    "field provider_agb {:?}: an AGB code is 8 digits",
                    self.provider_agb
                ),
            ));
        }
        if self.member_id.is_empty() && self.bsn.is_empty() {
            return Err(Fault::new(
                Reason::BadBsn,
                "fields member_id and bsn are both empty",
            ));
        }
        if !self.bsn.is_empty() && !bsn_valid(self.bsn) {
            // The value itself stays out of the message: it may be a real BSN with a typo.
            return Err(Fault::new(
                Reason::BadBsn,
                "field bsn fails the elfproef (9 digits, 11-check)",
            ));
        }
        if self.member_id.len() > 15 && self.member_id.chars().count() > 15 {
            return Err(Fault::new(
                Reason::Malformed,
                "field member_id is longer than 15 characters",
            ));
        }
        let service_date = Date::parse(self.service_date).ok_or_else(|| {
            Fault::new(
                Reason::BadDate,
                format!(
                    "field service_date {:?} is not a valid date (YYYY-MM-DD or YYYYMMDD)",
                    self.service_date
                ),
            )
        })?;
        let date = |name: &str, v: &str| {
            Date::parse(v).ok_or_else(|| {
                Fault::of_field(
                    Reason::Malformed,
                    name,
                    format!("field {name} is not a valid date (YYYY-MM-DD or YYYYMMDD)"),
                )
            })
        };
        let birth_date = date("birth_date", self.birth_date)?;
        let trajectory_start = match self.trajectory_start {
            "" => None,
            v => Some(date("trajectory_start", v)?),
        };
        let quantity = match self.quantity {
            "" => 1,
            v => match v.parse::<u32>() {
                Ok(q) if (1..=9999).contains(&q) && v.bytes().all(|c| c.is_ascii_digit()) => q,
                _ => {
                    return Err(Fault::of_field(
                        Reason::Malformed,
                        "quantity",
                        format!("field quantity {v:?} must be a whole number from 1 to 9999"),
                    ))
                }
            },
        };
        let indication = match self.indication.as_bytes() {
            [] => None,
            [a, b, c] if self.indication.bytes().all(|x| x.is_ascii_digit()) => Some([*a, *b, *c]),
            _ => {
                return Err(Fault::new(
                    Reason::Malformed,
                    format!(
                        "field indication {:?} must be a 3-digit CSI code",
                        self.indication
                    ),
                ))
            }
        };
        let referral = match self.referral {
            "" | "N" => false,
            "Y" => true,
            v => {
                return Err(Fault::new(
                    Reason::Malformed,
                    format!("field referral {v:?} must be Y, N or empty"),
                ))
            }
        };
        let money = |name: &str, v: &str| -> Result<Cents, Fault> {
            Cents::parse(v).map_err(|why| {
                Fault::of_field(
                    Reason::Malformed,
                    name,
                    format!("field {name} {v:?}: {why}"),
                )
            })
        };
        let amount = money("amount", self.amount)?;
        if amount.is_zero() {
            return Err(Fault::of_field(
                Reason::Malformed,
                "amount",
                "field amount is 0.00: nothing to pay",
            ));
        }
        let legal_copay = match self.legal_copay {
            "" => Cents::ZERO,
            v => money("legal_copay", v)?,
        };
        if legal_copay > amount {
            return Err(Fault::of_field(
                Reason::Malformed,
                "legal_copay",
                format!(
                    "field legal_copay {} is more than amount {}",
                    self.legal_copay, self.amount
                ),
            ));
        }
        let credit = match self.debit_credit {
            "" | "D" => false,
            "C" => true,
            v => {
                return Err(Fault::of_field(
                    Reason::Malformed,
                    "debit_credit",
                    format!("field debit_credit {v:?} must be D or C"),
                ))
            }
        };
        if credit && self.related_line_id.is_empty() {
            return Err(Fault::of_field(
                Reason::MissingField,
                "related_line_id",
                "field related_line_id is empty on a credit line",
            ));
        }
        // A diagnosis code is a number of 1-8 digits (the PM304 field's width; DCSPH codes are
        // 4 digits), kept as written for the per-condition count.
        let diagnosis = self.diagnosis;
        let well_formed = diagnosis.len() <= 8 && diagnosis.bytes().all(|c| c.is_ascii_digit());
        if !well_formed {
            return Err(Fault::new(
                Reason::Malformed,
                format!("field diagnosis {diagnosis:?} must be a code of 1 to 8 digits"),
            ));
        }
        let mut flags = 0;
        if !diagnosis.is_empty() {
            flags |= flag::DIAGNOSIS;
        }
        if credit {
            flags |= flag::CREDIT;
        }
        if referral {
            flags |= flag::REFERRAL;
        }
        if !self.authorization.is_empty() {
            flags |= flag::AUTHORIZATION;
        }
        if !self.member_id.is_empty() {
            flags |= flag::MEMBER_ID;
        }
        let text = night::push_text(&mut out.text, self.line_id.as_bytes());
        if credit {
            night::push_text(&mut out.text, self.related_line_id.as_bytes());
        }
        if !diagnosis.is_empty() {
            night::push_text(&mut out.text, diagnosis.as_bytes());
        }
        let line = Line {
            amount,
            legal_copay,
            raw_start: 0,
            raw_len: 0,
            text,
            batch: out.batch(self.batch_id.as_bytes()),
            code: out.code(self.code_list.as_bytes(), self.code.as_bytes()),
            member: NONE,
            provider_agb: self.provider_agb.parse().unwrap_or(0),
            service_date,
            trajectory_start: trajectory_start.unwrap_or_default(),
            quantity: quantity as u16,
            indication: night::pack_indication(indication),
            file: 0,
            flags,
        };
        Ok((line, birth_date))
    }
}
