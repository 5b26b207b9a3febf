//! The ledger's storage format (schema 2): the stable hashes that place a member in a partition
//! and a line key in the sorted key sets, and the JSON of member states and run lines, written
//! by hand into reused buffers and read back with `serde_json`.
//!
//! - `fnv1a64`: FNV-1a, 64 bits (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`).
//! - A member's partition: `fnv1a64(member_id bytes) % partitions`.
//! - A line key's hash: the top 48 bits of `fnv1a64(provider AGB as 4 little-endian bytes, then
//!   the line id's bytes)`; its entry in `line_keys` / `credited`: `hash48 << 16 | partition`
//!   (so at most 65536 partitions), stored as little-endian `u64`s, sorted. A paid debit line's
//!   care (provider, service date, code, quantity, claimed, diagnosis: [`care_hash48`]) has its
//!   entry in `care_keys` the same way, for `DUPLICATE_CARE`; a match is confirmed against the
//!   stored line field by field, except the diagnosis, which `run_lines` does not keep (its
//!   48-bit hash decides).
//! - `member_state.members`: `{"<member_id>": [[[pool_id, bucket, units, cents], ...],
//!   [[year, cents], ...]], ...}`, members sorted (by bytes), counters by (pool_id, bucket).
//! - `run_lines.lines`: `{"<member_id>": [line, ...], ...}`, members sorted, lines in
//!   adjudication order, a line being `[provider_agb, "line_id", service_date, "code", quantity,
//!   year, claimed, paid_basic, deductible, paid_supplementary, member_pays, [product_id, ...],
//!   [[pool_id, bucket, units, cents], ...], "credit_of" or null]` (amounts in cents, negative on
//!   a credit).

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The schema this code reads and writes.
pub const SCHEMA_VERSION: &str = "2";
/// Partitions of a new ledger.
pub const NEW_PARTITIONS: u32 = 4096;
/// The most partitions an entry's 16 low bits can name.
pub const MAX_PARTITIONS: u32 = 1 << 16;
/// Entries per `line_keys` / `credited` row.
pub const CHUNK: usize = 65536;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a64_from(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a 64 of some bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_from(FNV_OFFSET, bytes)
}

/// The partition of a member.
pub fn part_of(member_id: &str, partitions: u32) -> u32 {
    (fnv1a64(member_id.as_bytes()) % u64::from(partitions.max(1))) as u32
}

/// The 48-bit hash of a line key.
pub fn hash48(provider_agb: u32, line_id: &str) -> u64 {
    let h = fnv1a64_from(FNV_OFFSET, &provider_agb.to_le_bytes());
    fnv1a64_from(h, line_id.as_bytes()) >> 16
}

/// A line key's entry: its hash48 above the partition of its member.
pub fn entry(provider_agb: u32, line_id: &str, part: u32) -> u64 {
    hash48(provider_agb, line_id) << 16 | u64::from(part & 0xffff)
}

/// The 48-bit hash of a paid line's care: provider, service date (`YYYYMMDD`), code, quantity,
/// claimed cents and diagnosis code (FNV-1a over their little-endian bytes, a 0 byte after the
/// code's bytes, the diagnosis as `u32::MAX` when none was declared).
pub fn care_hash48(
    provider_agb: u32,
    service_date: u32,
    code: &str,
    quantity: u16,
    claimed: i64,
    diagnosis: Option<u32>,
) -> u64 {
    let mut h = fnv1a64_from(FNV_OFFSET, &provider_agb.to_le_bytes());
    h = fnv1a64_from(h, &service_date.to_le_bytes());
    h = fnv1a64_from(h, code.as_bytes());
    h = fnv1a64_from(h, &[0]);
    h = fnv1a64_from(h, &quantity.to_le_bytes());
    h = fnv1a64_from(h, &claimed.to_le_bytes());
    fnv1a64_from(h, &diagnosis.unwrap_or(u32::MAX).to_le_bytes()) >> 16
}

/// A care's entry in `care_keys`: its hash48 above the partition of its member.
pub fn care_entry(care_hash48: u64, part: u32) -> u64 {
    care_hash48 << 16 | u64::from(part & 0xffff)
}

/// The partition an entry names.
pub fn entry_part(e: u64) -> u32 {
    (e & 0xffff) as u32
}

/// Appends a JSON string (quoted, escaped).
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an integer.
pub fn push_int(out: &mut Vec<u8>, i: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// One counter as stored: `[pool_id, bucket, units, cents]` (also a line's effect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
pub struct Counter(pub u32, pub u32, pub u32, pub i64);

/// A member's state as stored: counters and deductible per year.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct StoredMember(pub Vec<Counter>, pub Vec<(u32, i64)>);

/// A member's state: `[[counter, ...], [[year, cents], ...]]`.
pub fn push_member(out: &mut Vec<u8>, counters: &[Counter], deductible: &[(u32, i64)]) {
    out.extend_from_slice(b"[[");
    for (i, c) in counters.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_counter(out, *c);
    }
    out.extend_from_slice(b"],[");
    for (i, (year, cents)) in deductible.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        push_int(out, *year);
        out.push(b',');
        push_int(out, *cents);
        out.push(b']');
    }
    out.extend_from_slice(b"]]");
}

pub fn push_counter(out: &mut Vec<u8>, c: Counter) {
    out.push(b'[');
    push_int(out, c.0);
    out.push(b',');
    push_int(out, c.1);
    out.push(b',');
    push_int(out, c.2);
    out.push(b',');
    push_int(out, c.3);
    out.push(b']');
}

/// A line as stored in `run_lines`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct StoredLine(
    pub u32,
    pub String,
    pub u32,
    pub String,
    pub u32,
    pub u32,
    pub i64,
    pub i64,
    pub i64,
    pub i64,
    pub i64,
    pub Vec<u32>,
    pub Vec<Counter>,
    pub Option<String>,
);

impl StoredLine {
    pub fn provider_agb(&self) -> u32 {
        self.0
    }
    pub fn line_id(&self) -> &str {
        &self.1
    }
    pub fn credit_of(&self) -> Option<&str> {
        self.13.as_deref()
    }
}

/// A line's fields to write.
pub struct LineOut<'a> {
    pub provider_agb: u32,
    pub line_id: &'a str,
    pub service_date: u32,
    pub code: &'a str,
    pub quantity: u16,
    pub year: u16,
    /// claimed, paid basic, deductible, paid supplementary, member pays (cents).
    pub amounts: [i64; 5],
    pub credit_of: Option<&'a str>,
}

/// Appends one line; `products` and `effects` are its product ids and counters.
pub fn push_line(
    out: &mut Vec<u8>,
    l: &LineOut<'_>,
    products: impl Iterator<Item = u32>,
    effects: impl Iterator<Item = Counter>,
) {
    out.push(b'[');
    push_int(out, l.provider_agb);
    out.push(b',');
    push_str(out, l.line_id);
    out.push(b',');
    push_int(out, l.service_date);
    out.push(b',');
    push_str(out, l.code);
    out.push(b',');
    push_int(out, l.quantity);
    out.push(b',');
    push_int(out, l.year);
    for a in l.amounts {
        out.push(b',');
        push_int(out, a);
    }
    out.extend_from_slice(b",[");
    for (i, p) in products.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_int(out, p);
    }
    out.extend_from_slice(b"],[");
    for (i, e) in effects.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_counter(out, e);
    }
    out.extend_from_slice(b"],");
    match l.credit_of {
        Some(of) => push_str(out, of),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b']');
}

/// A string read from JSON, borrowed from the text when it has no escapes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object's members in their order.
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Vis<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(kv) = map.next_entry()? {
                    out.push(kv);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// The members of a partition's JSON, each with its value's exact text, sorted by member.
pub type Members<'a> = Vec<(Text<'a>, &'a serde_json::value::RawValue)>;

/// Splits a partition's JSON object into its members.
pub fn members(text: &str) -> serde_json::Result<Members<'_>> {
    let mut m = serde_json::from_str::<Entries<Text<'_>, &serde_json::value::RawValue>>(text)?.0;
    // Written sorted; sorting again costs one pass over sorted input and guards hand edits.
    m.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(m)
}

/// The value of one member in sorted [`members`].
pub fn find<'a>(members: &Members<'a>, member_id: &str) -> Option<&'a serde_json::value::RawValue> {
    members
        .binary_search_by(|(k, _)| k.0.as_ref().cmp(member_id))
        .ok()
        .map(|i| members[i].1)
}

/// The stored lines of `member_id` in a parsed `run_lines` row (none when it has none).
pub fn lines_of(members: &Members<'_>, member_id: &str) -> serde_json::Result<Vec<StoredLine>> {
    match find(members, member_id) {
        Some(raw) => serde_json::from_str(raw.get()),
        None => Ok(Vec::new()),
    }
}

/// The provider and line id of a stored line, the rest skipped.
pub struct LineHead<'a> {
    pub provider_agb: u32,
    pub line_id: Text<'a>,
}

impl<'de> Deserialize<'de> for LineHead<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LineHead<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a line")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LineHead<'de>, A::Error> {
                let provider_agb = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line_id = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LineHead {
                    provider_agb,
                    line_id,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

/// The keys of every line in a partition's `run_lines` JSON, whatever its member.
pub fn line_heads(text: &str) -> serde_json::Result<Vec<LineHead<'_>>> {
    let e = serde_json::from_str::<Entries<IgnoredAny, Vec<LineHead<'_>>>>(text)?;
    Ok(e.0.into_iter().flat_map(|(_, lines)| lines).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\""
        );
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{7f}");
    }
}
