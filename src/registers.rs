//! The member register (who holds which product when) and the provider register (contract tags).
//!
//! The member register is read every night, whole: a million members is a 90 MB file, so it is
//! cut into chunks parsed on every core ([`crate::input::chunks`]) and kept compact: member
//! numbers in one byte arena, the BSN as a number, the holdings of all members in one array,
//! and two hash tables of `u32` indexes. Every row is checked, so a bad row anywhere stops the
//! run (exit 3) with the file, line and field, and never shows a BSN (masked) or birth date.

use crate::input::chunks;
use crate::input::csv_file::{trim, Records};
use crate::model::{bsn_valid, mask_bsn, Cents, Date};
use crate::policy::PolicySet;
use hashbrown::HashTable;
use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A bad register: the run stops before anything is read (exit 3).
#[derive(Debug)]
pub struct RegisterError {
    pub file: PathBuf,
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(
                f,
                "{} line {}: {}",
                self.file.display(),
                self.line,
                self.message
            )
        } else {
            write!(
                f,
                "{} line {}: field {}: {}",
                self.file.display(),
                self.line,
                self.field,
                self.message
            )
        }
    }
}

/// The last day of an open-ended holding.
const OPEN: Date = Date::MAX;

/// One product held during a period (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// Index into [`PolicySet::products`] (see [`Holding::product`]).
    product: u16,
    pub start: Date,
    /// The last day; [`OPEN`] when open-ended.
    end: Date,
    /// Voluntary deductible in cents (zvw rows only; at most 500.00).
    voluntary: u32,
}

impl Holding {
    pub fn new(product: usize, start: Date, end: Option<Date>, voluntary: Cents) -> Holding {
        Holding {
            product: u16::try_from(product).unwrap_or(u16::MAX),
            start,
            end: end.unwrap_or(OPEN),
            voluntary: u32::try_from(voluntary.0).unwrap_or(0),
        }
    }

    /// The product, as an index into [`PolicySet::products`].
    pub fn product(&self) -> usize {
        usize::from(self.product)
    }

    /// Whether the product is held on `d`.
    pub fn covers(&self, d: Date) -> bool {
        self.start <= d && d <= self.end
    }

    /// The last day it is held, `None` when open-ended.
    pub fn end(&self) -> Option<Date> {
        (self.end != OPEN).then_some(self.end)
    }

    pub fn voluntary_deductible(&self) -> Cents {
        Cents(i64::from(self.voluntary))
    }

    /// Whether `next` starts the day after this holding ends (back to back, no gap).
    fn followed_by(&self, next: &Holding) -> bool {
        self.end != OPEN
            && Date::from_days_since_epoch(self.end.days_since_epoch() + 1) == next.start
    }
}

/// The start of the continuous insurance each holding belongs to (in the order of `holdings`):
/// back-to-back rows of one product (the next starts the day after the previous ends: a renewal
/// on 1 January, a row split mid-year) are one insurance, and so are back-to-back rows of basic
/// products (`basic` says which products are). A gap of a day or more starts a new insurance.
pub fn continuous_starts(holdings: &[Holding], basic: impl Fn(usize) -> bool) -> Vec<Date> {
    let same = |a: &Holding, b: &Holding| {
        a.product == b.product || (basic(a.product()) && basic(b.product()))
    };
    holdings
        .iter()
        .map(|h| {
            // Walk back through the rows that end the day before the current start. Rows of one
            // product (or of basic products) never overlap (the register refuses that), so
            // each step goes strictly back in time and the walk ends.
            let mut at = *h;
            while let Some(prev) = holdings.iter().find(|p| same(p, h) && p.followed_by(&at)) {
                at = *prev;
            }
            at.start
        })
        .collect()
}

/// A verzekerde with the products held over time, in register order.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    pub id: &'a str,
    pub bsn: u32,
    pub birth_date: Date,
    pub holdings: &'a [Holding],
}

#[derive(Clone, Copy, Debug)]
struct MemberRow {
    /// [`id_hash`] of the member number: members are stored in this order.
    hash: u64,
    /// Offset of the member number in [`Members::ids`].
    id: u32,
    bsn: u32,
    birth_date: Date,
    /// First holding in [`Members::holdings`]; the next member's is the end.
    holdings: u32,
}

/// All members, found by member number or BSN.
///
/// Members are stored in the order of their number's hash, and found through an open-addressed
/// table placed by the hash's top bits: lookups made in hash order (as the readers make them,
/// a chunk of lines at a time) walk the table and the members front to back instead of
/// jumping through memory.
#[derive(Default)]
pub struct Members {
    ids: Vec<u8>,
    rows: Vec<MemberRow>,
    holdings: Vec<Holding>,
    /// Member index + 1 (0 = empty), at `hash >> shift`, linear probing.
    slots: Vec<u32>,
    shift: u32,
    by_bsn: HashMap<u32, u32>,
    /// The sha256 of the register file, over the bytes as they were read.
    sha256: String,
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Members({})", self.rows.len())
    }
}

/// The hash of a member number for [`Members::by_id`]: Fx, then murmur3's finaliser, because
/// the table is placed by the top bits and member numbers differ in few of them.
pub fn id_hash(id: &[u8]) -> u64 {
    let mut h = rustc_hash::FxBuildHasher.hash_one(id);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Members {
    /// The sha256 of the file the register was read from.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn id_bytes(&self, at: u32) -> &[u8] {
        crate::night::text_at(&self.ids, at).0
    }

    /// The member at an index.
    pub fn get(&self, i: u32) -> Member<'_> {
        let r = &self.rows[i as usize];
        let end = self
            .rows
            .get(i as usize + 1)
            .map_or(self.holdings.len(), |n| n.holdings as usize);
        Member {
            id: std::str::from_utf8(self.id_bytes(r.id)).unwrap_or(""),
            bsn: r.bsn,
            birth_date: r.birth_date,
            holdings: &self.holdings[r.holdings as usize..end],
        }
    }

    /// Asks for a member's row to be brought into the cache (see [`crate::night::prefetch`]).
    pub fn prefetch_row(&self, i: u32) {
        if let Some(r) = self.rows.get(i as usize) {
            crate::night::prefetch(r);
        }
    }

    /// Asks for a member's number to be brought into the cache (its row should be there).
    pub fn prefetch_id(&self, i: u32) {
        if let Some(b) = self
            .rows
            .get(i as usize)
            .and_then(|r| self.ids.get(r.id as usize))
        {
            crate::night::prefetch(b);
        }
    }

    /// The member number of a member.
    pub fn id(&self, i: u32) -> &str {
        std::str::from_utf8(self.id_bytes(self.rows[i as usize].id)).unwrap_or("")
    }

    /// The member with this number.
    pub fn by_id(&self, id: &str) -> Option<u32> {
        self.by_id_hashed(id_hash(id.as_bytes()), id.as_bytes())
    }

    /// [`Members::by_id`] with the number's [`id_hash`] already computed.
    pub fn by_id_hashed(&self, hash: u64, id: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = (hash >> self.shift) as usize;
        loop {
            let i = self.slots[s];
            if i == 0 {
                return None;
            }
            let r = &self.rows[i as usize - 1];
            if r.hash == hash && self.id_bytes(r.id) == id {
                return Some(i - 1);
            }
            s = (s + 1) & mask;
        }
    }

    /// The registered BSN and birth date of a member.
    pub fn bsn_and_birth(&self, i: u32) -> (u32, Date) {
        let r = &self.rows[i as usize];
        (r.bsn, r.birth_date)
    }

    pub fn by_bsn(&self, bsn: u32) -> Option<u32> {
        self.by_bsn.get(&bsn).copied()
    }

    /// Puts the members in hash order and builds the lookup tables.
    fn index(&mut self) {
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (self.rows[i as usize].hash, i));
        let (mut rows, mut ids, mut holdings) = (
            Vec::with_capacity(self.rows.len()),
            Vec::with_capacity(self.ids.len()),
            Vec::with_capacity(self.holdings.len()),
        );
        for &i in &order {
            let m = self.get(i);
            let r = self.rows[i as usize];
            rows.push(MemberRow {
                id: crate::night::push_text(&mut ids, m.id.as_bytes()),
                holdings: holdings.len() as u32,
                ..r
            });
            holdings.extend_from_slice(m.holdings);
        }
        (self.rows, self.ids, self.holdings) = (rows, ids, holdings);
        let bits = (self.rows.len() * 4 / 3 + 1).next_power_of_two().max(2);
        self.shift = 64 - bits.trailing_zeros();
        self.slots = vec![0; bits];
        self.by_bsn = HashMap::default();
        self.by_bsn.reserve(self.rows.len());
        let mask = bits - 1;
        for (i, r) in self.rows.iter().enumerate() {
            let mut s = (r.hash >> self.shift) as usize;
            while self.slots[s] != 0 {
                s = (s + 1) & mask;
            }
            self.slots[s] = i as u32 + 1;
            self.by_bsn.insert(r.bsn, i as u32);
        }
    }
}

/// Contract tags per provider AGB, as bits of [`PolicySet::tags`] (tags that no benefit names
/// change nothing and are not kept).
#[derive(Debug, Default)]
pub struct Providers {
    tags: HashMap<u32, u64>,
}

impl Providers {
    /// The provider's contract tags.
    pub fn tags(&self, agb: u32) -> u64 {
        self.tags.get(&agb).copied().unwrap_or(0)
    }
}

/// The members a night names: the hashes of their member numbers ([`id_hash`]) and their BSNs.
/// Only their register rows are read.
#[derive(Debug, Default)]
pub struct Wanted {
    pub ids: rustc_hash::FxHashSet<u64>,
    pub bsns: rustc_hash::FxHashSet<u32>,
}

/// A BSN written as 9 digits, as a number (leading zeros kept by [`bsn_text`]); 0 for anything
/// else (0 is no valid BSN).
pub fn bsn_number(s: &str) -> u32 {
    if s.len() != 9 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    s.bytes().fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
}

/// A BSN number as its 9 digits.
pub fn bsn_text(bsn: u32) -> String {
    format!("{bsn:09}")
}

/// The columns of the member register (contract section 3).
const COLUMNS: [&str; 7] = [
    "member_id",
    "bsn",
    "birth_date",
    "product",
    "start_date",
    "end_date",
    "voluntary_deductible",
];

/// One row, checked on its own.
struct Row {
    line: u64,
    /// [`id_hash`] of the member number.
    hash: u64,
    /// Offset of the member number in the chunk's id arena.
    id: u32,
    bsn: u32,
    birth_date: Date,
    holding: Holding,
}

/// What one chunk of the register gave.
#[derive(Default)]
struct Parsed {
    ids: Vec<u8>,
    rows: Vec<Row>,
    /// Line ends in the chunk (to number the lines of the chunks after it).
    newlines: u64,
    /// The first bad row: its line within the chunk (0-based count of line ends before it).
    error: Option<(u64, String, String)>,
}

/// Reads the member register (contract section 3). Every row is checked on its own; the
/// members a night names (`wanted`; all when `None`) are kept and their rows checked against
/// each other, so a small night holds little whatever the population.
pub fn load_members(
    path: &Path,
    policies: &PolicySet,
    wanted: Option<&Wanted>,
) -> Result<Members, RegisterError> {
    let err = |line, field: &str, message: String| RegisterError {
        file: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(0, "", format!("cannot open: {e}")))?;
    // Hashed as it is read, so the run records the sha256 of exactly what it read.
    let mut file = crate::input::Hashing::new(file);
    let mut first = Vec::with_capacity(chunks::HEAD);
    (&mut file)
        .take(chunks::HEAD as u64)
        .read_to_end(&mut first)
        .map_err(|e| err(0, "", format!("cannot read: {e}")))?;
    let mut head = Records::new(first.as_slice());
    let header = head
        .next_record()
        .map_err(|e| err(1, "", format!("cannot read header: {e}")))?;
    let mut index = [usize::MAX; COLUMNS.len()];
    if header.is_some() {
        for i in 0..head.kept() {
            let name = String::from_utf8_lossy(head.field(i));
            let name = name.trim_start_matches('\u{feff}').trim();
            if let Some(c) = COLUMNS.iter().position(|c| *c == name) {
                index[c] = i;
            }
        }
    }
    let width = header.map_or(0, |h| h.fields);
    for (c, name) in COLUMNS.iter().enumerate().take(6) {
        if index[c] == usize::MAX {
            return Err(err(
                1,
                name,
                "required column is missing from the header".into(),
            ));
        }
    }
    let start = head.offset();
    let header_lines = memchr::memchr_iter(b'\n', &first[..start as usize]).count() as u64;
    drop(head);
    first.drain(..start as usize);
    let block = first;
    let rows = RowReader {
        index,
        width,
        policies,
        wanted,
    };
    let got = chunks::parse(file, block, start, |bytes, _| rows.parse(bytes));
    let mut parts = got.parsed;
    if let Some(e) = got.error {
        return Err(err(0, "", format!("cannot read: {e}")));
    }
    let sha256 = got.input.finish();
    if let Some((_, bytes)) = got.tail {
        // A row longer than a chunk is no register row.
        let _ = bytes;
        let line = header_lines + parts.iter().map(|p| p.newlines).sum::<u64>() + 1;
        return Err(err(
            line,
            "",
            format!("a row longer than {} bytes", chunks::CHUNK),
        ));
    }
    // Line numbers: each chunk's lines follow the line ends before it.
    let mut line = header_lines + 1;
    for p in &mut parts {
        for r in &mut p.rows {
            r.line += line;
        }
        if let Some(e) = &mut p.error {
            e.0 += line;
        }
        line += p.newlines;
    }
    let first_bad = parts.iter().find_map(|p| p.error.clone());
    let mut members = merge(parts, first_bad, policies, &err)?;
    members.sha256 = sha256;
    Ok(members)
}

/// Reads the rows of one chunk.
struct RowReader<'a> {
    index: [usize; COLUMNS.len()],
    width: usize,
    policies: &'a PolicySet,
    wanted: Option<&'a Wanted>,
}

impl RowReader<'_> {
    fn parse(&self, bytes: &[u8]) -> Parsed {
        let mut out = Parsed {
            newlines: memchr::memchr_iter(b'\n', bytes).count() as u64,
            ..Parsed::default()
        };
        let mut rdr = Records::at(bytes, 0);
        // Lines before a row within the chunk, counted only for the rows that need theirs
        // (the kept ones and a bad one): in long stretches, not row by row.
        let mut counted = (0usize, 0u64);
        let mut line_of = |at: usize| {
            let (from, line) = counted;
            let line = line + memchr::memchr_iter(b'\n', &bytes[from..at]).count() as u64;
            counted = (at, line);
            line
        };
        while let Ok(Some(info)) = rdr.next_record() {
            let at = info.start as usize;
            if let Err((field, message)) = self.row(&rdr, info.fields, || line_of(at), &mut out) {
                out.error = Some((line_of(at), field, message));
                break;
            }
        }
        out
    }

    fn row(
        &self,
        rdr: &Records<&[u8]>,
        fields: usize,
        line: impl FnOnce() -> u64,
        out: &mut Parsed,
    ) -> Result<(), (String, String)> {
        if fields != self.width {
            return Err((
                String::new(),
                format!("{fields} fields, the header has a different count"),
            ));
        }
        let mut v = [""; COLUMNS.len()];
        // The row checked as UTF-8 once and its fields cut from it (much cheaper than a check
        // per field); when some field is not UTF-8, only the register's own columns must be.
        let text = rdr.text();
        for (c, &i) in self.index.iter().enumerate() {
            if i != usize::MAX {
                let field = match text {
                    Some(text) => {
                        let (from, to) = rdr.span(i);
                        text.get(from..to)
                    }
                    None => std::str::from_utf8(rdr.field(i)).ok(),
                };
                v[c] = trim(field.ok_or_else(|| {
                    (String::new(), "unreadable row: not valid UTF-8".to_string())
                })?);
            }
        }
        let [id, bsn, birth, product, start, end, vol] = v;
        if id.is_empty() || (id.len() > 15 && id.chars().count() > 15) {
            return Err((
                "member_id".into(),
                format!("{id:?} must be 1-15 characters"),
            ));
        }
        if !bsn_valid(bsn) {
            return Err((
                "bsn".into(),
                format!("{} fails the elfproef", mask_bsn(bsn)),
            ));
        }
        // The value of a birth date stays out of the message: it is personal data.
        let birth_date = Date::parse(birth).ok_or_else(|| {
            (
                "birth_date".to_string(),
                "is not a date (YYYY-MM-DD)".to_string(),
            )
        })?;
        let p = self.policies.index_of(product).ok_or_else(|| {
            (
                "product".to_string(),
                format!("unknown product {product:?}"),
            )
        })?;
        let date = |name: &str, v: &str| {
            Date::parse(v).ok_or_else(|| {
                (
                    name.to_string(),
                    format!("{v:?} is not a date (YYYY-MM-DD)"),
                )
            })
        };
        let start = date("start_date", start)?;
        let end = match end {
            "" => None,
            e => Some(date("end_date", e)?),
        };
        if end.is_some_and(|e| e < start) {
            return Err(("end_date".into(), "end_date is before start_date".into()));
        }
        let voluntary = if vol.is_empty() {
            Cents::ZERO
        } else {
            let v = Cents::parse(vol)
                .map_err(|w| ("voluntary_deductible".to_string(), format!("{vol:?}: {w}")))?;
            let product = &self.policies.products[p];
            let choices = product
                .deductible
                .as_ref()
                .map(|d| d.voluntary_choices.as_slice())
                .unwrap_or(&[]);
            if !product.basic && !v.is_zero() {
                return Err((
                    "voluntary_deductible".into(),
                    "only on the basic product's rows".into(),
                ));
            }
            if product.basic && !v.is_zero() && !choices.contains(&v) {
                return Err((
                    "voluntary_deductible".into(),
                    format!("{vol} is not one of the allowed amounts"),
                ));
            }
            v
        };
        // Every row is checked; only those of the members the night names are kept.
        let hash = id_hash(id.as_bytes());
        let bsn = bsn_number(bsn);
        if let Some(w) = self.wanted {
            if !w.ids.contains(&hash) && !w.bsns.contains(&bsn) {
                return Ok(());
            }
        }
        let id = crate::night::push_text(&mut out.ids, id.as_bytes());
        out.rows.push(Row {
            line: line(),
            hash,
            id,
            bsn,
            birth_date,
            holding: Holding::new(p, start, end, voluntary),
        });
        Ok(())
    }
}

/// Puts the rows of every chunk together in file order: one member per member number, its
/// holdings in register order. The first row (in file order) that is bad on its own
/// (`first_bad`) or against an earlier row is the error.
fn merge(
    parts: Vec<Parsed>,
    first_bad: Option<(u64, String, String)>,
    policies: &PolicySet,
    err: &dyn Fn(u64, &str, String) -> RegisterError,
) -> Result<Members, RegisterError> {
    let stop = first_bad.as_ref().map_or(u64::MAX, |e| e.0);
    let mut m = Members::default();
    // Members by number while the rows come in (file order); [`Members::index`] builds the
    // final tables.
    let mut by_id: HashTable<u32> = HashTable::new();
    // The member of each row, with the row, in file order.
    let mut owned: Vec<(u32, u64, Holding)> =
        Vec::with_capacity(parts.iter().map(|p| p.rows.len()).sum());
    let mut identity_error: Option<(u64, &str, String)> = None;
    'parts: for p in &parts {
        for r in &p.rows {
            if r.line >= stop {
                break 'parts;
            }
            let id = crate::night::text_at(&p.ids, r.id).0;
            let hash = r.hash;
            let found = by_id
                .find(hash, |&i| {
                    crate::night::text_at(&m.ids, m.rows[i as usize].id).0 == id
                })
                .copied();
            let shown = || String::from_utf8_lossy(id).into_owned();
            let i = match found {
                Some(i) => {
                    let row = &m.rows[i as usize];
                    if row.bsn != r.bsn {
                        identity_error = Some((
                            r.line,
                            "bsn",
                            format!("member {} has another BSN on an earlier row", shown()),
                        ));
                        break 'parts;
                    }
                    if row.birth_date != r.birth_date {
                        identity_error = Some((
                            r.line,
                            "birth_date",
                            format!(
                                "member {} has another birth date on an earlier row",
                                shown()
                            ),
                        ));
                        break 'parts;
                    }
                    i
                }
                None => {
                    if m.by_bsn.contains_key(&r.bsn) {
                        identity_error = Some((
                            r.line,
                            "bsn",
                            format!(
                                "{} belongs to another member_id",
                                mask_bsn(&bsn_text(r.bsn))
                            ),
                        ));
                        break 'parts;
                    }
                    let i = m.rows.len() as u32;
                    let at = crate::night::push_text(&mut m.ids, id);
                    m.rows.push(MemberRow {
                        hash,
                        id: at,
                        bsn: r.bsn,
                        birth_date: r.birth_date,
                        holdings: 0,
                    });
                    let rows = &m.rows;
                    by_id.insert_unique(hash, i, |&j| rows[j as usize].hash);
                    m.by_bsn.insert(r.bsn, i);
                    i
                }
            };
            owned.push((i, r.line, r.holding));
        }
    }
    drop(parts);
    // Holdings per member, in register order (a stable sort by member).
    owned.sort_by_key(|(i, _, _)| *i);
    let mut overlap: Option<u64> = None;
    let mut at = 0usize;
    for (i, row) in m.rows.iter_mut().enumerate() {
        row.holdings = m.holdings.len() as u32;
        let from = m.holdings.len();
        while let Some(&(owner, line, h)) = owned.get(at) {
            if owner as usize != i {
                break;
            }
            at += 1;
            let clash = m.holdings[from..].iter().any(|e| {
                let basic =
                    policies.products[e.product()].basic && policies.products[h.product()].basic;
                (e.product == h.product || basic) && e.start <= h.end && h.start <= e.end
            });
            if clash {
                overlap = Some(overlap.map_or(line, |o| o.min(line)));
            }
            m.holdings.push(h);
        }
    }
    let overlap = overlap.map(|line| {
        (
            line,
            "start_date",
            "overlaps an earlier row of the same member for the same (or another basic) product"
                .to_string(),
        )
    });
    let earliest = [
        identity_error.map(|(l, f, msg)| (l, f.to_string(), msg)),
        overlap.map(|(l, f, msg)| (l, f.to_string(), msg)),
        first_bad,
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(line, _, _)| *line);
    if let Some((line, field, message)) = earliest {
        return Err(err(line, &field, message));
    }
    m.index();
    Ok(m)
}

/// Reads the provider register (contract section 3.1).
pub fn load_providers(path: &Path, policies: &PolicySet) -> Result<Providers, RegisterError> {
    let e = |line, field: &str, message: String| RegisterError {
        file: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|x| e(0, "", format!("cannot open: {x}")))?;
    let headers = rdr
        .headers()
        .map_err(|x| e(1, "", format!("cannot read header: {x}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').trim() == name)
            .ok_or_else(|| e(1, name, "required column is missing from the header".into()))
    };
    let (agb_col, tags_col) = (col("provider_agb")?, col("contracts")?);
    let mut providers = Providers::default();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut rec) {
            Ok(false) => return Ok(providers),
            Ok(true) => {}
            Err(x) => return Err(e(line, "", format!("unreadable row: {x}"))),
        }
        let line = rec.position().map_or(line, |p| p.line());
        if rec.len() != headers.len() {
            return Err(e(
                line,
                "",
                format!("{} fields, the header has a different count", rec.len()),
            ));
        }
        let agb = rec.get(agb_col).unwrap_or("").trim();
        if !crate::model::agb_valid(agb) {
            return Err(e(
                line,
                "provider_agb",
                format!("{agb:?} is not an 8-digit AGB code"),
            ));
        }
        let tags = policies.tag_bits(rec.get(tags_col).unwrap_or("").split(';').map(str::trim));
        let n: u32 = agb
            .parse()
            .map_err(|_| e(line, "provider_agb", "not a number".to_string()))?;
        if providers.tags.insert(n, tags).is_some() {
            return Err(e(line, "provider_agb", format!("{agb} is listed twice")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> PolicySet {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        crate::policy::load(&[root.join("fixtures/policies")]).unwrap()
    }

    /// A valid BSN from a counter (the ninth digit makes the elfproef hold).
    fn bsn(n: u64) -> String {
        (0u64..)
            .find_map(|k| {
                let head = format!("{:08}", 10_000_000 + (n * 13 + k) % 89_999_999);
                let sum: u64 = head
                    .bytes()
                    .enumerate()
                    .map(|(i, d)| u64::from(d - b'0') * (9 - i as u64))
                    .sum();
                (sum % 11 < 10).then(|| format!("{head}{}", sum % 11))
            })
            .unwrap()
    }

    fn register(rows: usize, bad_at: Option<usize>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("members.csv");
        let mut text = String::from(
            "member_id,bsn,birth_date,product,start_date,end_date,voluntary_deductible\n",
        );
        for i in 0..rows {
            let birth = if Some(i) == bad_at {
                "1980-02-30"
            } else {
                "1980-05-17"
            };
            text.push_str(&format!(
                "M{i},{},{birth},zvw,2020-01-01,,\n",
                bsn(i as u64)
            ));
        }
        // Member 1's second row comes after everyone else's, and keeps its register order.
        text.push_str(&format!(
            "M1,{},1980-05-17,dsw-2009-av-top,2009-01-01,,\n",
            bsn(1)
        ));
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn members_are_found_by_number_and_bsn_with_holdings_in_register_order() {
        let (_dir, path) = register(1000, None);
        let m = load_members(&path, &policies(), None).unwrap();
        assert_eq!(m.len(), 1000);
        // The sha256 of what was read is the file's.
        let whole = crate::input::Hashing::new(std::fs::File::open(&path).unwrap()).finish();
        assert_eq!(m.sha256(), whole);
        assert_eq!(whole.len(), 64);
        let i = m.by_id("M1").unwrap();
        assert_eq!(m.by_bsn(bsn_number(&bsn(1))), Some(i));
        let got = m.get(i);
        assert_eq!((got.id, got.bsn), ("M1", bsn_number(&bsn(1))));
        let p = policies();
        let products: Vec<&str> = got
            .holdings
            .iter()
            .map(|h| p.products[h.product()].id.as_str())
            .collect();
        assert_eq!(products, ["zvw", "dsw-2009-av-top"]);
        assert!(m.by_id("M1000").is_none());
        assert!(m.by_id("").is_none());
    }

    /// Only the rows of the night's members are kept, and their lines are counted only for
    /// them: a kept row deep in a register of several chunks, and a field with a quoted line
    /// end before it, still give the right line to an error between two rows.
    #[test]
    fn a_kept_row_far_from_the_last_counted_one_has_its_own_line() {
        let rows = 2 * chunks::CHUNK / 50;
        let (_dir, path) = register(rows, None);
        let text = std::fs::read_to_string(&path).unwrap();
        // Member M5's number gets a line end inside quotes (one more line before the end), and
        // member 1's last row another BSN.
        let text = text.replacen("\nM5,", "\n\"M\n5\",", 1);
        let last = format!("M1,{},1980-05-17,dsw-2009-av-top", bsn(1));
        let text = text.replace(&last, &format!("M1,{},1980-05-17,dsw-2009-av-top", bsn(2)));
        std::fs::write(&path, text).unwrap();
        let wanted = Wanted {
            ids: [id_hash(b"M1")].into_iter().collect(),
            bsns: Default::default(),
        };
        let e = load_members(&path, &policies(), Some(&wanted)).unwrap_err();
        // The header, `rows` rows, one more line for M5's field, then M1's second row.
        assert_eq!(e.line as usize, rows + 3, "{e}");
        assert_eq!(e.field, "bsn", "{e}");
    }

    /// A register of several chunks: the bad row deep in it is named by its own line.
    #[test]
    fn an_error_in_a_later_chunk_names_its_line_and_not_the_birth_date() {
        let rows = 2 * chunks::CHUNK / 50;
        let (_dir, path) = register(rows, Some(rows - 7));
        let e = load_members(&path, &policies(), None).unwrap_err();
        assert_eq!(e.line as usize, rows - 7 + 2, "{e}");
        assert_eq!(e.field, "birth_date");
        assert!(!e.to_string().contains("1980-02-30"), "{e}");
    }
}
