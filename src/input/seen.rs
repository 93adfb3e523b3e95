//! Usernames and e-mails already seen in the file, to fail duplicates with the
//! line of the first occurrence — in 8 bytes a value, so a million-row file
//! needs ~19 MB, not the hundreds of MB a set of strings would.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hasher};

/// Open-addressing segments of packed `(fingerprint, line)` entries.
///
/// A 64-bit hash of the lower-cased value picks the home slot (its low 24
/// bits, scaled to the segment) and its high 40 bits are kept as the
/// fingerprint; the low 24 bits of an entry hold the line. Two different
/// values are mistaken for one another with a probability near
/// n / 2^41 over a whole file (about one in two million for a million rows).
///
/// A segment never grows (its entries could not be placed again without the
/// full hash): when it is 85% full a twice-larger one is added. Sized up
/// front from the file's row count, a file needs just one.
pub(crate) struct SeenTable {
    segments: Vec<Vec<u64>>,
    len_in_last: usize,
    hasher: BuildHasherDefault<DefaultHasher>,
}

const MIN_SLOTS: usize = 1024;
const MAX_LOAD_PERCENT: usize = 85;
const LINE_BITS: u32 = 24;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;

impl Default for SeenTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl SeenTable {
    /// A table that holds `expected` values in one segment.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        let slots = (expected * 100 / MAX_LOAD_PERCENT + 1).max(MIN_SLOTS);
        SeenTable {
            segments: vec![vec![0; slots]],
            len_in_last: 0,
            hasher: BuildHasherDefault::default(),
        }
    }

    fn hash(&self, value: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        for c in value.chars().flat_map(char::to_lowercase) {
            h.write_u32(c as u32);
        }
        h.finish()
    }

    fn home(hash: u64, slots: usize) -> usize {
        (((hash & LINE_MASK) * slots as u64) >> LINE_BITS) as usize
    }

    /// Bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.segments.iter().map(|s| s.len() * 8).sum()
    }

    /// The line where `value` (case-insensitive) was first recorded, or `None`
    /// after recording it at `line`.
    #[cfg(test)]
    pub(crate) fn first_seen_or_insert(&mut self, value: &str, line: u64) -> Option<u64> {
        let found = self.get(value);
        if found.is_none() {
            self.insert(value, line);
        }
        found
    }

    /// The line where `value` (case-insensitive) was recorded.
    pub(crate) fn get(&self, value: &str) -> Option<u64> {
        self.find(self.hash(value))
    }

    /// Records `value` at `line` (the caller checked it is not there yet).
    pub(crate) fn insert(&mut self, value: &str, line: u64) {
        let hash = self.hash(value);
        let last_len = self.segments.last().map_or(0, Vec::len);
        if (self.len_in_last + 1) * 100 > last_len * MAX_LOAD_PERCENT {
            self.segments.push(vec![0; last_len * 2]);
            self.len_in_last = 0;
        }
        // Lines past 2^24 - 1 are kept as that number: such a file is far
        // beyond what this tool is for, and the row still fails as a duplicate.
        let line = line.clamp(1, LINE_MASK);
        if let Some(seg) = self.segments.last_mut() {
            let n = seg.len();
            let mut i = Self::home(hash, n);
            while seg[i] != 0 {
                i = if i + 1 == n { 0 } else { i + 1 };
            }
            seg[i] = (hash & !LINE_MASK) | line;
            self.len_in_last += 1;
        }
    }

    fn find(&self, hash: u64) -> Option<u64> {
        let fp = hash & !LINE_MASK;
        self.segments.iter().find_map(|seg| {
            let n = seg.len();
            let mut i = Self::home(hash, n);
            loop {
                let e = seg[i];
                if e == 0 {
                    return None;
                }
                if e & !LINE_MASK == fp {
                    return Some(e & LINE_MASK);
                }
                i = if i + 1 == n { 0 } else { i + 1 };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_first_line_case_insensitively() {
        let mut t = SeenTable::default();
        assert_eq!(t.first_seen_or_insert("Jon.Snow", 2), None);
        assert_eq!(t.first_seen_or_insert("arya", 3), None);
        assert_eq!(t.first_seen_or_insert("JON.SNOW", 9), Some(2));
        assert_eq!(t.first_seen_or_insert("Ärya", 10), None);
        assert_eq!(t.first_seen_or_insert("äRYA", 11), Some(10));
    }

    #[test]
    fn grows_past_its_first_segment_without_losing_entries() {
        let mut t = SeenTable::with_capacity(10);
        for i in 0..50_000u64 {
            assert_eq!(
                t.first_seen_or_insert(&format!("user{i}"), i + 2),
                None,
                "{i}"
            );
        }
        assert!(t.segments.len() > 1);
        for i in (0..50_000u64).step_by(7) {
            assert_eq!(t.first_seen_or_insert(&format!("USER{i}"), 1), Some(i + 2));
        }
    }

    #[test]
    fn presized_table_is_one_compact_segment() {
        let mut t = SeenTable::with_capacity(100_000);
        for i in 0..100_000u64 {
            t.first_seen_or_insert(&format!("u{i}@example.com"), i + 2);
        }
        assert_eq!(t.segments.len(), 1);
        assert!(t.bytes() < 100_000 * 10);
    }
}
