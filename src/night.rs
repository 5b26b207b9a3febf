//! The night in memory: every line record of the run's input files, in input order, as a compact
//! fixed-size [`Line`] (64 bytes) plus one [`Outcome`] per line.
//!
//! Identifiers are interned to `u32` ids ([`crate::intern`]), dates are `yyyymmdd` numbers, money
//! is integer cents, and the only per-line text (the line id, and a credit's related line id)
//! lives in one byte arena. The original record text is not kept: [`Line::raw_start`] and
//! [`Line::raw_len`] say where it is in its file, and it is read back only for a rejection row.
//! A line's position in [`Night::lines`] is its run-wide sequence number (`seq`).

use crate::intern::{Interner, Remap, NONE};
use crate::model::{Cents, Date, Reason, Reasons};

/// Bits of [`Line::flags`].
pub mod flag {
    pub const CREDIT: u8 = 1;
    pub const REFERRAL: u8 = 2;
    pub const AUTHORIZATION: u8 = 4;
    /// The line names its member by `member_id` (not only by BSN).
    pub const MEMBER_ID: u8 = 8;
    /// The line declares a diagnosis code (in [`super::Night::text`] after the line ids).
    pub const DIAGNOSIS: u8 = 16;
}

/// One line record, validated (or, for a line rejected while reading, only its position).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The declared amount, positive; a credit's sign is [`flag::CREDIT`].
    pub amount: Cents,
    pub legal_copay: Cents,
    /// Byte offset of the record's text in its input file.
    pub raw_start: u64,
    /// Its length in bytes (at most [`crate::input::MAX_RECORD`] are echoed).
    pub raw_len: u32,
    /// Offset of the line id in [`Night::text`] (a credit's related line id follows it).
    pub text: u32,
    /// Interned ids: batch number, (code list, code).
    pub batch: u32,
    pub code: u32,
    /// The member in the register ([`NONE`] when the line names none).
    pub member: u32,
    pub provider_agb: u32,
    pub service_date: Date,
    /// `Date::default()` when the line has no trajectory start.
    pub trajectory_start: Date,
    pub quantity: u16,
    /// The CSI packed by [`pack_indication`]: 0 for none.
    pub indication: u16,
    /// Index of the input file in the run.
    pub file: u16,
    pub flags: u8,
}

impl Line {
    pub fn credit(&self) -> bool {
        self.flags & flag::CREDIT != 0
    }
    pub fn referral(&self) -> bool {
        self.flags & flag::REFERRAL != 0
    }
    pub fn authorization(&self) -> bool {
        self.flags & flag::AUTHORIZATION != 0
    }
    pub fn names_member_id(&self) -> bool {
        self.flags & flag::MEMBER_ID != 0
    }

    /// The amount as it counts in the outputs and the ledger: negative on a credit line.
    pub fn signed_amount(&self) -> Cents {
        if self.credit() {
            -self.amount
        } else {
            self.amount
        }
    }

    pub fn trajectory(&self) -> Option<Date> {
        (self.trajectory_start != Date::default()).then_some(self.trajectory_start)
    }

    /// The year the line counts toward: the trajectory's start year for a DBC, else the
    /// service year (contract section 2).
    pub fn year(&self) -> u32 {
        self.trajectory()
            .map_or(self.service_date.year(), Date::year)
    }
}

/// Asks the CPU to bring `value` into the cache (a hint: it reads nothing and cannot fail).
/// Stages that walk the night member by member ask for a group's lines before using them.
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never dereferences the address; SSE is baseline on x86_64.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// A CSI code (`001`) as a small number: 0 = none, else 1 + its value.
pub fn pack_indication(csi: Option<[u8; 3]>) -> u16 {
    csi.map_or(0, |[a, b, c]| {
        1 + u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
    })
}

/// Appends a text to an arena as `[len: u16 LE][bytes]` and returns its offset.
pub fn push_text(arena: &mut Vec<u8>, text: &[u8]) -> u32 {
    let at = u32::try_from(arena.len()).unwrap_or(u32::MAX);
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    arena.extend_from_slice(&len.to_le_bytes());
    arena.extend_from_slice(&text[..usize::from(len)]);
    at
}

/// The text at `at` in an arena written by [`push_text`], and the offset after it.
pub fn text_at(arena: &[u8], at: u32) -> (&[u8], u32) {
    let at = at as usize;
    let Some(len) = arena.get(at..at + 2) else {
        return (b"", at as u32);
    };
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let end = (at + 2 + len).min(arena.len());
    (&arena[(at + 2).min(end)..end], end as u32)
}

/// Why a line pays nothing, as data: the text is written only when the rejection row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Rejected while reading; the message is in [`Night::parse_rejections`].
    Parse,
    NoSuchMemberId,
    NoSuchBsn,
    MembersDiffer,
    BirthDate,
    AfterRunDate,
    DuplicateInRun,
    DuplicateEarlier,
    /// The same care as this earlier line of the run (its sequence number), under another
    /// line id.
    SameCareInRun(u32),
    /// The same care as a line an earlier run paid (its line id in [`Night::earlier_care`]).
    SameCareEarlier,
    NotInsured,
    UnknownCode,
    NotCovered,
    NothingPaid,
    /// A product's benefit refused the line.
    Benefit {
        product: u8,
        benefit: u16,
        why: Why,
    },
    CreditUnmatched,
    CreditedBefore,
    /// The credit's amount differs from the reversed line's (given).
    CreditAmount(Cents),
    /// The basic product has no mandatory deductible for the line's year.
    YearNotConfigured {
        product: u8,
        year: u16,
    },
}

/// What a benefit's conditions or limits said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The supplementary product's waiting period lasts until this date.
    WaitingPeriod(Date),
    /// Months under the product are needed first, until the date.
    MinInsured(u32, Date),
    /// Outside the benefit's ages; the member's age.
    Age(u32),
    NoContract,
    NoReferral,
    NoAuthorization,
    /// Authorization is needed from this session on.
    AuthorizationFrom(u32),
    /// Authorization is needed above this amount per jaw.
    AuthorizationAbove(Cents),
    /// The pool's maximum of units is used up.
    SessionLimit(u32),
    SameDay,
    /// The pool's euro maximum is used up.
    AmountLimit(Cents),
}

/// Indexes of the products that paid a line, basic first (at most six layers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Products([u8; 6]);

impl Default for Products {
    fn default() -> Self {
        Products([u8::MAX; 6])
    }
}

impl Products {
    pub fn push(&mut self, product: usize) {
        if let Some(slot) = self.0.iter_mut().find(|p| **p == u8::MAX) {
            *slot = u8::try_from(product).unwrap_or(u8::MAX);
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .take_while(|p| **p != u8::MAX)
            .map(|&p| usize::from(p))
    }
}

/// A line that pays or charges something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Payment {
    pub paid_basic: Cents,
    pub deductible: Cents,
    pub paid_supplementary: Cents,
    pub reasons: Reasons,
    pub products: Products,
    /// The year the deductible and the limits counted it toward.
    pub year: u16,
}

impl Payment {
    /// What the member pays of a line with this signed claimed amount.
    pub fn member_pays(&self, claimed: Cents) -> Cents {
        claimed - self.paid_basic - self.paid_supplementary
    }

    /// The payment that exactly undoes this one, for a credit line.
    pub fn reversed(&self) -> Payment {
        Payment {
            paid_basic: -self.paid_basic,
            deductible: -self.deductible,
            paid_supplementary: -self.paid_supplementary,
            reasons: Reasons::default(),
            products: self.products,
            year: self.year,
        }
    }
}

/// Why a line pays nothing: its reason code and the detail its message is written from. (A
/// rejection is a line's; a refusal is a whole file's, [`crate::input::Refusal`].)
pub type Rejection = (Reason, Detail);

/// Where a line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Not decided yet (only between the stages).
    #[default]
    Pending,
    Rejected(Reason, Detail),
    Paid(Payment),
    /// A line of another shard's member (`process --shard I/N`): screened with the whole
    /// night, then set aside. It is not adjudicated, written or recorded by this run.
    OtherShard,
}

/// A line rejected while reading: its message and the identifying fields as written.
#[derive(Clone, Debug)]
pub struct ParseRejection {
    pub message: String,
    /// The Vektis retourcode of the field at fault, where it has its own (contract 7).
    pub vektis: Option<&'static str>,
    pub echo: crate::input::EchoFields,
}

/// One input file as the run read it.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// The path as given on the command line.
    pub shown: String,
    pub path: std::path::PathBuf,
    pub format: Option<crate::input::Format>,
    /// The run-wide sequence number of its first line record.
    pub first_seq: u32,
    /// Number of line records (all in [`Night::lines`] when the file was not refused).
    pub records: u32,
    pub sha256: String,
    pub refusal: Option<crate::input::Refusal>,
    /// How the records of an EI file ended.
    pub line_ends: Option<crate::input::ei::LineEnds>,
    /// The committed run that processed the same bytes (the file is refused then).
    pub processed_by: Option<i64>,
}

/// Everything read from the night's input files.
#[derive(Default)]
pub struct Night {
    pub files: Vec<InputFile>,
    pub lines: Vec<Line>,
    pub outcomes: Vec<Outcome>,
    /// For lines rejected `DUPLICATE_CARE` against an earlier run: the line id paid there, by
    /// sequence number (ascending).
    pub earlier_care: Vec<(u32, Box<str>)>,
    /// Lines rejected while reading, by sequence number (ascending).
    pub parse_rejections: Vec<(u32, ParseRejection)>,
    /// Line ids (and related line ids), see [`push_text`].
    pub text: Vec<u8>,
    pub batches: Interner,
    /// `code_list \0 code`.
    pub codes: Interner,
    /// What lines that named no member of the register declared, by sequence number.
    pub declared: Vec<(u32, Declared)>,
    /// The validated lines still to be matched to the register (the screen stage does it).
    pub pending: Vec<Pending>,
    /// The member numbers and BSNs they declared.
    pub declared_text: Vec<u8>,
}

/// A validated line still to be matched to the register, with what it declared.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// [`crate::registers::id_hash`] of the member number (0 without one).
    pub hash: u64,
    /// The line (its sequence number once in the [`Night`]).
    pub seq: u32,
    /// Offset of the member number in the declared text (the BSN's digits follow it).
    pub text: u32,
    /// The BSN as a number, 0 when none was declared.
    pub bsn: u32,
    pub birth_date: Date,
}

/// The member number and BSN a line declared, kept for a line whose member is not in the
/// register (its rejection row and message show them; the BSN only masked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub member_id: Box<str>,
    /// The BSN's digits, empty when none was declared.
    pub bsn: Box<str>,
}

fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// The interned key of a (code list, code) pair.
pub fn code_key(code_list: &[u8], code: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(code_list.len() + code.len() + 1);
    k.extend_from_slice(code_list);
    k.push(0);
    k.extend_from_slice(code);
    k
}

/// A (code list, code) pair's parts.
pub fn code_parts(key: &[u8]) -> (&str, &str) {
    match key.iter().position(|b| *b == 0) {
        Some(i) => (utf8(&key[..i]), utf8(&key[i + 1..])),
        None => ("", utf8(key)),
    }
}

/// What one reader produced for one chunk of a file: lines in order, with chunk-local ids.
#[derive(Default)]
pub struct Batch {
    pub lines: Vec<Line>,
    /// Lines rejected while reading, by index in `lines`.
    pub rejections: Vec<(u32, crate::model::Reason, ParseRejection)>,
    pub text: Vec<u8>,
    pub batches: Interner,
    pub codes: Interner,
    /// The validated lines, to be matched to the register (by index in `lines`).
    pub pending: Vec<Pending>,
    /// The member numbers and BSNs they declared (see [`Pending::text`]).
    pub declared_text: Vec<u8>,
    /// A reused buffer for interning keys.
    key: Vec<u8>,
    /// The last batch and code ids interned (lines of one batch come together).
    last: Option<(u32, u32)>,
}

impl Batch {
    /// The id of a (code list, code) pair (the key of [`code_key`]), interned without
    /// allocating for a known one.
    pub fn code(&mut self, code_list: &[u8], code: &[u8]) -> u32 {
        self.key.clear();
        self.key.extend_from_slice(code_list);
        self.key.push(0);
        self.key.extend_from_slice(code);
        if let Some((_, c)) = self.last.filter(|&(_, c)| self.codes.bytes(c) == self.key) {
            return c;
        }
        let c = self.codes.intern(&self.key);
        self.last = Some((self.last.map_or(NONE, |l| l.0), c));
        c
    }

    /// The id of a batch number.
    pub fn batch(&mut self, batch_id: &[u8]) -> u32 {
        if let Some((b, _)) = self
            .last
            .filter(|&(b, _)| self.batches.bytes(b) == batch_id)
        {
            return b;
        }
        let b = self.batches.intern(batch_id);
        self.last = Some((b, self.last.map_or(NONE, |l| l.1)));
        b
    }
}

impl Night {
    /// Makes room for this many lines, pending lines and bytes of text, exactly.
    pub fn reserve(&mut self, lines: usize, pending: usize, text: usize, declared: usize) {
        self.lines.reserve_exact(lines);
        self.outcomes.reserve_exact(lines);
        self.pending.reserve_exact(pending);
        self.text.reserve_exact(text);
        self.declared_text.reserve_exact(declared);
    }

    /// Appends a file's batches (in order), renumbering their ids into the night's.
    pub fn absorb(&mut self, batch: Batch) {
        let first = self.lines.len() as u32;
        let base = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let rb: Remap = self.batches.absorb(batch.batches);
        let rc: Remap = self.codes.absorb(batch.codes);
        self.text.extend_from_slice(&batch.text);
        for mut l in batch.lines {
            l.batch = if l.batch == NONE {
                NONE
            } else {
                rb.map(l.batch)
            };
            l.code = if l.code == NONE { NONE } else { rc.map(l.code) };
            if l.text != NONE {
                l.text = l.text.saturating_add(base);
            }
            self.lines.push(l);
            self.outcomes.push(Outcome::Pending);
        }
        for (i, reason, r) in batch.rejections {
            let seq = first + i;
            self.outcomes[seq as usize] = Outcome::Rejected(reason, Detail::Parse);
            self.parse_rejections.push((seq, r));
        }
        let text_base = u32::try_from(self.declared_text.len()).unwrap_or(u32::MAX);
        self.declared_text.extend_from_slice(&batch.declared_text);
        self.pending
            .extend(batch.pending.into_iter().map(|p| Pending {
                seq: first + p.seq,
                text: p.text.saturating_add(text_base),
                ..p
            }));
    }

    /// The line id of a line.
    pub fn line_id(&self, line: &Line) -> &str {
        std::str::from_utf8(text_at(&self.text, line.text).0).unwrap_or("")
    }

    /// The related line id of a credit line (empty otherwise).
    pub fn related_line_id(&self, line: &Line) -> &str {
        if !line.credit() {
            return "";
        }
        let (_, next) = text_at(&self.text, line.text);
        std::str::from_utf8(text_at(&self.text, next).0).unwrap_or("")
    }

    /// The diagnosis code a line declares, as a number (`None` without one).
    pub fn diagnosis(&self, line: &Line) -> Option<u32> {
        if line.flags & flag::DIAGNOSIS == 0 {
            return None;
        }
        let (_, mut next) = text_at(&self.text, line.text);
        if line.credit() {
            next = text_at(&self.text, next).1;
        }
        let digits = text_at(&self.text, next).0;
        digits.iter().try_fold(0u32, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + u32::from(c - b'0'))
        })
    }

    /// The (code list, code) of a line.
    pub fn code(&self, line: &Line) -> (&str, &str) {
        code_parts(self.codes.bytes(line.code))
    }

    /// What a line that named no member of the register declared.
    pub fn declared(&self, seq: u32) -> Option<&Declared> {
        self.declared
            .binary_search_by_key(&seq, |(s, _)| *s)
            .ok()
            .map(|i| &self.declared[i].1)
    }

    /// The parse rejection of a line rejected while reading.
    pub fn parse_rejection(&self, seq: u32) -> Option<&ParseRejection> {
        self.parse_rejections
            .binary_search_by_key(&seq, |(s, _)| *s)
            .ok()
            .map(|i| &self.parse_rejections[i].1)
    }

    /// The index of the input file of a sequence number.
    pub fn file_of(&self, seq: u32) -> usize {
        self.files
            .partition_point(|f| f.first_seq <= seq)
            .saturating_sub(1)
    }

    /// The 1-based record number of a line within its file.
    pub fn record(&self, seq: u32, line: &Line) -> u32 {
        let first = self
            .files
            .get(usize::from(line.file))
            .map_or(0, |f| f.first_seq);
        seq - first + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Line>(), 64);
        assert!(std::mem::size_of::<Outcome>() <= 48);
    }

    #[test]
    fn texts_round_trip_through_the_arena() {
        let mut a = Vec::new();
        let x = push_text(&mut a, b"L1");
        let y = push_text(&mut a, b"");
        push_text(&mut a, b"related");
        assert_eq!(text_at(&a, x).0, b"L1");
        let (t, next) = text_at(&a, y);
        assert_eq!(t, b"");
        assert_eq!(text_at(&a, next).0, b"related");
    }

    #[test]
    fn codes_split_back_into_their_parts() {
        assert_eq!(code_parts(&code_key(b"012", b"1000")), ("012", "1000"));
        assert_eq!(code_parts(&code_key(b"", b"P21")), ("", "P21"));
        assert_eq!(pack_indication(Some(*b"008")), 9);
        assert_eq!(pack_indication(None), 0);
    }
}
