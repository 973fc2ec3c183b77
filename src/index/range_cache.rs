//! The bytes of one remote file fetched so far, each byte kept exactly once for as long as
//! the file is read: ranges stay in memory up to a budget, and the ones furthest from the
//! read position move to an anonymous temporary file beyond it (the operating system removes
//! that file when it is closed, also when the process panics or is killed).
//!
//! A temporary file that cannot be created or written is not an error: the range is dropped
//! instead, and a later read fetches it again (the bytes are still right, only dearer).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Where the cached bytes of a range live.
#[derive(Debug)]
enum Place {
    Memory(Vec<u8>),
    /// `len` bytes at `at` in the spill file.
    Spilled {
        len: u64,
        at: u64,
    },
}

impl Place {
    fn len(&self) -> u64 {
        match self {
            Place::Memory(b) => b.len() as u64,
            Place::Spilled { len, .. } => *len,
        }
    }
}

/// Disjoint cached ranges of one file, keyed by their start offset.
#[derive(Debug)]
pub struct RangeCache {
    ranges: BTreeMap<u64, Place>,
    /// Bytes held in memory, at most `budget` once an insert returns (unless one range
    /// alone is larger and is being read).
    in_memory: u64,
    budget: u64,
    spill: Spill,
}

/// The temporary file ranges move to, created on first use.
#[derive(Debug, Default)]
enum Spill {
    #[default]
    None,
    File {
        file: File,
        len: u64,
    },
    /// Creating or writing it failed once: ranges over the budget are dropped instead.
    Failed,
}

impl RangeCache {
    /// An empty cache holding at most `budget` bytes in memory.
    pub fn new(budget: u64) -> RangeCache {
        RangeCache {
            ranges: BTreeMap::new(),
            in_memory: 0,
            budget,
            spill: Spill::None,
        }
    }

    /// Most bytes held in memory.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes cached in memory.
    #[cfg(test)]
    pub fn in_memory(&self) -> u64 {
        self.in_memory
    }

    /// Bytes cached in the temporary file.
    #[cfg(test)]
    pub fn spilled(&self) -> u64 {
        self.ranges
            .values()
            .filter(|p| matches!(p, Place::Spilled { .. }))
            .map(Place::len)
            .sum()
    }

    /// The cached ranges overlapping `[start, end)`, as `(start, end)`, sorted.
    fn overlapping(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = self
            .ranges
            .range(..end)
            .rev()
            .map(|(&s, p)| (s, s + p.len()))
            .take_while(|&(_, e)| e > start)
            .collect();
        out.reverse();
        out
    }

    /// The parts of `[start, end)` not cached, sorted.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = start;
        for (s, e) in self.overlapping(start, end) {
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < end {
            out.push((at, end));
        }
        out
    }

    /// Whether any byte of `[start, end)` is cached.
    pub fn any_cached(&self, start: u64, end: u64) -> bool {
        !self.overlapping(start, end).is_empty()
    }

    /// The first cached offset after `pos`, if any.
    pub fn next_cached(&self, pos: u64) -> Option<u64> {
        self.ranges
            .range(pos.saturating_add(1)..)
            .next()
            .map(|(&s, _)| s)
    }

    /// Keep `bytes` fetched at `start` (only the parts not cached yet), then move ranges
    /// out of memory while it holds more than the budget, those furthest from `pos` first.
    pub fn insert(&mut self, start: u64, bytes: Vec<u8>, pos: u64) {
        let end = start.saturating_add(bytes.len() as u64);
        let gaps = self.gaps(start, end);
        if gaps == [(start, end)] {
            self.in_memory += bytes.len() as u64;
            self.ranges.insert(start, Place::Memory(bytes));
        } else {
            for (s, e) in gaps {
                let piece = bytes[(s - start) as usize..(e - start) as usize].to_vec();
                self.in_memory += piece.len() as u64;
                self.ranges.insert(s, Place::Memory(piece));
            }
        }
        self.shrink(pos);
    }

    fn shrink(&mut self, pos: u64) {
        while self.in_memory > self.budget {
            let distance = |s: u64, len: u64| {
                if pos < s {
                    s - pos
                } else {
                    pos.saturating_sub(s + len)
                }
            };
            let victim = self
                .ranges
                .iter()
                .filter_map(|(&s, p)| match p {
                    Place::Memory(b) => Some((s, b.len() as u64)),
                    Place::Spilled { .. } => None,
                })
                .filter(|&(s, len)| !(s <= pos && pos < s + len))
                .max_by_key(|&(s, len)| distance(s, len));
            let Some((s, _)) = victim else {
                return; // only the range being read is left in memory
            };
            let Some(Place::Memory(bytes)) = self.ranges.remove(&s) else {
                return;
            };
            self.in_memory -= bytes.len() as u64;
            if let Some(at) = self.spill_out(&bytes) {
                let len = bytes.len() as u64;
                self.ranges.insert(s, Place::Spilled { len, at });
            }
        }
    }

    /// Append `bytes` to the spill file; where they went, or None when it failed.
    fn spill_out(&mut self, bytes: &[u8]) -> Option<u64> {
        if matches!(self.spill, Spill::None) {
            self.spill = match tempfile::tempfile() {
                Ok(file) => Spill::File { file, len: 0 },
                Err(_) => Spill::Failed,
            };
        }
        let Spill::File { file, len } = &mut self.spill else {
            return None;
        };
        let at = *len;
        let written = file
            .seek(SeekFrom::Start(at))
            .and_then(|_| file.write_all(bytes));
        match written {
            Ok(()) => {
                *len += bytes.len() as u64;
                Some(at)
            }
            Err(_) => {
                self.spill = Spill::Failed;
                // Ranges already spilled are unreachable now.
                self.ranges.retain(|_, p| matches!(p, Place::Memory(_)));
                None
            }
        }
    }

    /// Copy cached bytes at `pos` into `buf`: how many (0 when `pos` is not cached).
    pub fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some((&s, place)) = self.ranges.range(..=pos).next_back() else {
            return Ok(0);
        };
        let len = place.len();
        if pos >= s + len {
            return Ok(0);
        }
        let off = pos - s;
        let n = buf.len().min((len - off) as usize);
        match place {
            Place::Memory(bytes) => {
                buf[..n].copy_from_slice(&bytes[off as usize..off as usize + n]);
                Ok(n)
            }
            Place::Spilled { at, .. } => {
                let at = *at;
                let Spill::File { file, .. } = &mut self.spill else {
                    return Ok(0);
                };
                file.seek(SeekFrom::Start(at + off))?;
                file.read_exact(&mut buf[..n])?;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(start: u64, n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|i| ((start + i) * 7 % 251) as u8)
            .collect()
    }

    fn read(c: &mut RangeCache, pos: u64, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        let mut at = 0;
        while at < n {
            let got = c.read_at(pos + at as u64, &mut out[at..]).unwrap();
            assert!(got > 0, "nothing cached at {}", pos + at as u64);
            at += got;
        }
        out
    }

    #[test]
    fn ranges_over_the_budget_move_to_the_spill_file_and_read_back() {
        let mut c = RangeCache::new(1000);
        for k in 0..10u64 {
            c.insert(k * 600, bytes(k * 600, 600), 0);
            assert!(c.in_memory() <= 1000, "{} in memory", c.in_memory());
        }
        assert_eq!(c.in_memory() + c.spilled(), 6000);
        assert!(c.spilled() >= 5000);
        // Reads cross ranges in memory and on disk alike.
        assert_eq!(read(&mut c, 0, 6000), bytes(0, 6000));
        assert_eq!(read(&mut c, 1799, 2), bytes(1799, 2));
    }

    #[test]
    fn only_missing_parts_are_kept_and_gaps_are_exact() {
        let mut c = RangeCache::new(1 << 20);
        c.insert(100, bytes(100, 100), 0);
        c.insert(300, bytes(300, 100), 0);
        assert_eq!(c.gaps(0, 500), [(0, 100), (200, 300), (400, 500)]);
        assert_eq!(c.gaps(120, 180), []);
        assert!(c.any_cached(150, 160) && !c.any_cached(200, 300));
        assert_eq!(c.next_cached(150), Some(300));
        // Overlapping both: only the three gaps are added.
        c.insert(50, bytes(50, 400), 0);
        assert_eq!(c.in_memory(), 400);
        assert_eq!(read(&mut c, 50, 400), bytes(50, 400));
        assert_eq!(c.gaps(0, 500), [(0, 50), (450, 500)]);
    }

    #[test]
    fn the_range_being_read_stays_in_memory() {
        let mut c = RangeCache::new(10);
        c.insert(0, bytes(0, 100), 5);
        assert_eq!(c.in_memory(), 100);
        c.insert(100, bytes(100, 100), 5);
        assert_eq!(c.in_memory(), 100);
        assert_eq!(c.spilled(), 100);
        assert_eq!(read(&mut c, 0, 200), bytes(0, 200));
    }
}
