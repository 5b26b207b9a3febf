//! Interning: a night holds a few hundred distinct codes, a few thousand batch numbers and one
//! declared identity per member, so each line keeps a `u32` id and the text is stored once.
//!
//! Readers work on chunks in parallel, each with its own [`Interner`]; the chunks are merged in
//! input order with [`Interner::absorb`], which gives the remapping of the chunk's ids.

use rustc_hash::FxHashMap;

/// The id of "nothing interned here" (a rejected line's fields): kept as is by remapping.
pub const NONE: u32 = u32::MAX;

/// Distinct byte strings, numbered in order of first appearance.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<[u8]>, u32>,
    items: Vec<Box<[u8]>>,
}

impl Interner {
    /// The id of `key`, adding it when new.
    pub fn intern(&mut self, key: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = u32::try_from(self.items.len()).unwrap_or(NONE - 1);
        let owned: Box<[u8]> = key.into();
        self.items.push(owned.clone());
        self.ids.insert(owned, id);
        id
    }

    /// The id of `key` if it was interned.
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// The bytes of an id (empty for [`NONE`] or an unknown id).
    pub fn bytes(&self, id: u32) -> &[u8] {
        self.items.get(id as usize).map_or(&[], |b| b)
    }

    /// The text of an id; interned keys are valid UTF-8 where the readers made them from text.
    pub fn text(&self, id: u32) -> &str {
        std::str::from_utf8(self.bytes(id)).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every key, by id.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.items.iter().map(|b| &**b)
    }

    /// Adds every key of `other` and returns, for each of `other`'s ids, its id here.
    pub fn absorb(&mut self, other: Interner) -> Remap {
        if self.items.is_empty() {
            // The first chunk: its ids stay as they are.
            let n = other.items.len();
            *self = other;
            return Remap((0..n as u32).collect());
        }
        Remap(other.items.iter().map(|k| self.intern(k)).collect())
    }
}

/// A chunk's ids mapped to the merged ids.
#[derive(Debug, Clone)]
pub struct Remap(Vec<u32>);

impl Remap {
    pub fn map(&self, id: u32) -> u32 {
        self.0.get(id as usize).copied().unwrap_or(NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_merge_into_one_numbering() {
        let mut a = Interner::default();
        assert_eq!(a.intern(b"x"), 0);
        assert_eq!(a.intern(b"y"), 1);
        assert_eq!(a.intern(b"x"), 0);
        let mut b = Interner::default();
        b.intern(b"y");
        b.intern(b"z");
        let mut all = Interner::default();
        let ra = all.absorb(a);
        let rb = all.absorb(b);
        assert_eq!((ra.map(0), ra.map(1)), (0, 1));
        assert_eq!((rb.map(0), rb.map(1)), (1, 2));
        assert_eq!(all.text(2), "z");
        assert_eq!(rb.map(NONE), NONE);
    }
}
