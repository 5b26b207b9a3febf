//! Member shards: `process --shard I/N` adjudicates only the lines of the members whose stable
//! hash falls in shard I of N, so that N processes (on N machines or one) share a night.
//!
//! A member's shard is `fnv1a64(member_id bytes) % N` (the hash that also places a member in a
//! ledger partition, [`crate::ledger::format::part_of`]), so when N divides the partition count
//! every partition lies in one shard.

use crate::ledger::format::fnv1a64;
use std::fmt;

/// Shard `index` (1-based) of `count`. `1/1` is the whole night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole night: one shard.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` of `count`, with `1 <= index <= count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index >= 1 && index <= count).then_some(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Option<Shard> {
        let (i, n) = s.split_once('/')?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return None;
        }
        Shard::new(i.parse().ok()?, n.parse().ok()?)
    }

    /// The 1-based index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The number of shards.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is the whole night (`1/1`).
    pub fn is_all(self) -> bool {
        self.count == 1
    }

    /// The shard (1-based index) that holds a member.
    pub fn of_member(member_id: &str, count: u32) -> u32 {
        (fnv1a64(member_id.as_bytes()) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether this shard holds the member.
    pub fn holds(self, member_id: &str) -> bool {
        Shard::of_member(member_id, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/4"), Shard::new(2, 4));
        assert_eq!(Shard::parse("1/1"), Some(Shard::ALL));
        for bad in [
            "0/4", "5/4", "4", "/4", "2/", "a/4", "2/4/1", "-1/4", "+1/4", " 1/4",
        ] {
            assert_eq!(Shard::parse(bad), None, "{bad}");
        }
        assert_eq!(Shard::new(3, 4).unwrap().to_string(), "3/4");
    }

    #[test]
    fn every_member_is_in_exactly_one_shard() {
        for id in ["", "M0000001", "M0000002", "1234567", "ÿ"] {
            let holding: Vec<u32> = (1..=4)
                .filter(|&i| Shard::new(i, 4).unwrap().holds(id))
                .collect();
            assert_eq!(holding.len(), 1, "{id}");
            assert!(Shard::ALL.holds(id));
        }
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; mod 4 = 0, so shard 1 of 4.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Shard::of_member("a", 4), 1);
    }
}
