//! A remote file read through HTTP range requests, as `Read + Seek` for the wheel reader.
//!
//! The first request asks for the file's tail (end record and, for most wheels, the whole
//! central directory) and learns the file's length. Later reads are served from the fetched
//! ranges; `prefetch` fetches many members at once, coalescing nearby ranges into one
//! request. When the server ignores `Range`, the first answer is the whole file: everything
//! is then served from memory and its sha256 can be checked.

use std::io::{self, Read, Seek, SeekFrom};

use super::{Fetch, FetchError, RangeBody};

/// Bytes asked for by the first request: enough for the end record and a typical central
/// directory.
const TAIL: u64 = 64 << 10;
/// Smallest read sent to the server on a cache miss; sequential misses double it up to
/// `MAX_READ` (a member read that was not prefetched streams in a few large requests).
const MIN_READ: u64 = 256 << 10;
const MAX_READ: u64 = 8 << 20;
/// Ranges closer than this are fetched as one.
const COALESCE_GAP: u64 = 32 << 10;
/// Bytes of fetched ranges kept once reading has moved past them: a member streamed through
/// (a library searched for its init hook can be hundreds of MB) does not stay in memory.
const KEEP_BEHIND: usize = 64 << 20;

/// A remote file with a cache of the ranges fetched so far.
pub struct RemoteFile<'f> {
    fetch: &'f dyn Fetch,
    url: String,
    len: u64,
    pos: u64,
    /// Fetched ranges: (start, bytes), sorted by start, not overlapping.
    chunks: Vec<(u64, Vec<u8>)>,
    /// The server sent the whole file (it ignores `Range`).
    whole: bool,
    /// Where the last cache miss's fetch ended, and the size of the next one.
    miss_end: u64,
    read_ahead: u64,
}

impl<'f> RemoteFile<'f> {
    /// Open `url`: fetch its tail and learn its length.
    pub fn open(fetch: &'f dyn Fetch, url: &str) -> Result<Self, FetchError> {
        let mut file = RemoteFile {
            fetch,
            url: url.to_string(),
            len: 0,
            pos: 0,
            chunks: Vec::new(),
            whole: false,
            miss_end: u64::MAX,
            read_ahead: MIN_READ,
        };
        match fetch.tail(url, TAIL)? {
            RangeBody::Full(bytes) => {
                file.len = bytes.len() as u64;
                file.whole = true;
                file.chunks.push((0, bytes));
            }
            RangeBody::Partial { bytes, total } => {
                let total = total.ok_or_else(|| FetchError::Protocol {
                    url: url.to_string(),
                    message: "a suffix range answered without the file's total length".into(),
                })?;
                let n = bytes.len() as u64;
                if n > total {
                    return Err(FetchError::Protocol {
                        url: url.to_string(),
                        message: format!("{n} tail bytes for a file of {total}"),
                    });
                }
                file.len = total;
                file.chunks.push((total - n, bytes));
            }
        }
        Ok(file)
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole file, when the server sent it whole (for checking its sha256).
    pub fn whole(&self) -> Option<&[u8]> {
        self.whole.then(|| self.chunks[0].1.as_slice())
    }

    /// Fetch the ranges `(start, len)` not fetched yet, merging those less than a few KiB
    /// apart into one request.
    pub fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), FetchError> {
        let mut wanted: Vec<(u64, u64)> = ranges
            .iter()
            .map(|&(s, l)| (s.min(self.len), s.saturating_add(l).min(self.len)))
            .filter(|&(s, e)| e > s && !self.covered(s, e))
            .collect();
        wanted.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in wanted {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(COALESCE_GAP) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            self.fetch_range(s, e - s)?;
        }
        Ok(())
    }

    fn covered(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for (s, bytes) in &self.chunks {
            let e = s + bytes.len() as u64;
            if *s <= at && at < e {
                at = e;
                if at >= end {
                    return true;
                }
            }
        }
        at >= end
    }

    fn fetch_range(&mut self, start: u64, len: u64) -> Result<(), FetchError> {
        match self.fetch.range(&self.url, start, len)? {
            RangeBody::Partial { bytes, .. } => self.insert(start, bytes),
            RangeBody::Full(bytes) => {
                self.len = bytes.len() as u64;
                self.whole = true;
                self.chunks = vec![(0, bytes)];
            }
        }
        Ok(())
    }

    /// Add a chunk, merging it with the chunks it overlaps (adjacent ones stay apart, so
    /// a sequential read does not copy what it has read so far again and again), then drop
    /// the chunks wholly behind the read position beyond [`KEEP_BEHIND`] bytes, oldest
    /// offsets first; the end of the file (the central directory) is always kept.
    fn insert(&mut self, start: u64, bytes: Vec<u8>) {
        self.merge(start, bytes);
        let behind = |s: u64, b: &Vec<u8>| s + (b.len() as u64) <= self.pos.min(start);
        let mut total: usize = self
            .chunks
            .iter()
            .filter(|(s, b)| behind(*s, b))
            .map(|(_, b)| b.len())
            .sum();
        if total <= KEEP_BEHIND {
            return;
        }
        let len = self.len;
        let mut kept = Vec::with_capacity(self.chunks.len());
        for (s, b) in std::mem::take(&mut self.chunks) {
            let at_end = s + b.len() as u64 >= len;
            if total > KEEP_BEHIND && !at_end && s + (b.len() as u64) <= self.pos.min(start) {
                total -= b.len();
                continue;
            }
            kept.push((s, b));
        }
        self.chunks = kept;
    }

    fn merge(&mut self, start: u64, bytes: Vec<u8>) {
        let end = start + bytes.len() as u64;
        let mut new_start = start;
        let mut new_end = end;
        let mut keep = Vec::with_capacity(self.chunks.len() + 1);
        let mut touching = Vec::new();
        for (s, b) in self.chunks.drain(..) {
            let e = s + b.len() as u64;
            if e <= start || s >= end {
                keep.push((s, b));
            } else {
                new_start = new_start.min(s);
                new_end = new_end.max(e);
                touching.push((s, b));
            }
        }
        if touching.is_empty() {
            keep.push((start, bytes));
            keep.sort_by_key(|&(s, _)| s);
            self.chunks = keep;
            return;
        }
        let mut merged = vec![0u8; (new_end - new_start) as usize];
        for (s, b) in touching.iter().chain(std::iter::once(&(start, bytes))) {
            let off = (s - new_start) as usize;
            merged[off..off + b.len()].copy_from_slice(b);
        }
        keep.push((new_start, merged));
        keep.sort_by_key(|&(s, _)| s);
        self.chunks = keep;
    }

    /// Copy cached bytes at `pos` into `buf`; 0 when `pos` is not cached.
    fn read_cached(&self, buf: &mut [u8]) -> usize {
        for (s, bytes) in &self.chunks {
            let e = s + bytes.len() as u64;
            if *s <= self.pos && self.pos < e {
                let off = (self.pos - s) as usize;
                let n = buf.len().min(bytes.len() - off);
                buf[..n].copy_from_slice(&bytes[off..off + n]);
                return n;
            }
        }
        0
    }
}

impl Read for RemoteFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let mut n = self.read_cached(buf);
        if n == 0 {
            // Sequential misses read further ahead each time; up to the next cached chunk,
            // never past the end.
            self.read_ahead = if self.pos == self.miss_end {
                (self.read_ahead * 2).min(MAX_READ)
            } else {
                MIN_READ
            };
            let next = self
                .chunks
                .iter()
                .map(|(s, _)| *s)
                .find(|&s| s > self.pos)
                .unwrap_or(self.len);
            let want = (buf.len() as u64)
                .max(self.read_ahead)
                .min(next - self.pos)
                .max(1);
            self.miss_end = self.pos + want;
            self.fetch_range(self.pos, want).map_err(io::Error::other)?;
            n = self.read_cached(buf);
            if n == 0 {
                return Err(io::Error::other(format!(
                    "{}: no bytes at offset {}",
                    self.url, self.pos
                )));
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RemoteFile<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// An in-memory server: honours ranges (or not) and records what was asked.
    struct Memory {
        data: Vec<u8>,
        ranges: bool,
        asked: Mutex<Vec<(u64, u64)>>,
    }

    impl Fetch for Memory {
        fn range(&self, _: &str, start: u64, len: u64) -> Result<RangeBody, FetchError> {
            self.asked.lock().unwrap().push((start, len));
            if !self.ranges {
                return Ok(RangeBody::Full(self.data.clone()));
            }
            let s = start as usize;
            let e = (start + len).min(self.data.len() as u64) as usize;
            Ok(RangeBody::Partial {
                bytes: self.data[s..e].to_vec(),
                total: Some(self.data.len() as u64),
            })
        }
        fn tail(&self, url: &str, len: u64) -> Result<RangeBody, FetchError> {
            let n = len.min(self.data.len() as u64);
            self.range(url, self.data.len() as u64 - n, n)
        }
        fn get(&self, _: &str) -> Result<Vec<u8>, FetchError> {
            Ok(self.data.clone())
        }
    }

    fn memory(n: usize, ranges: bool) -> Memory {
        Memory {
            data: (0..n).map(|i| (i * 7 % 251) as u8).collect(),
            ranges,
            asked: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn reads_anywhere_and_fetches_each_byte_once() {
        let m = memory(4_000_000, true);
        let mut f = RemoteFile::open(&m, "u").unwrap();
        assert_eq!(f.len(), 4_000_000);
        for &(at, n) in &[
            (0u64, 100usize),
            (150_000, 40_000),
            (299_990, 10),
            (150_100, 50),
            (0, 50),
        ] {
            let mut buf = vec![0; n];
            f.seek(SeekFrom::Start(at)).unwrap();
            f.read_exact(&mut buf).unwrap();
            assert_eq!(buf, m.data[at as usize..at as usize + n], "at {at}");
        }
        let asked = m.asked.lock().unwrap().clone();
        let total: u64 = asked.iter().map(|&(_, l)| l).sum();
        assert!(total < 4_000_000 / 4, "fetched {total} bytes in {asked:?}");
    }

    #[test]
    fn prefetch_coalesces_nearby_ranges() {
        let m = memory(1_000_000, true);
        let mut f = RemoteFile::open(&m, "u").unwrap();
        f.prefetch(&[(1000, 100), (5000, 100), (9000, 100), (500_000, 10)])
            .unwrap();
        let asked = m.asked.lock().unwrap().clone();
        assert_eq!(asked[1..], [(1000, 8100), (500_000, 10)]);
        // Served from the cache now.
        let mut buf = [0u8; 100];
        f.seek(SeekFrom::Start(5000)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(m.asked.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_server_ignoring_ranges_gives_the_whole_file_once() {
        let m = memory(70_000, false);
        let mut f = RemoteFile::open(&m, "u").unwrap();
        assert_eq!(f.whole().map(<[u8]>::len), Some(70_000));
        let mut all = Vec::new();
        f.read_to_end(&mut all).unwrap();
        assert_eq!(all, m.data);
        assert_eq!(m.asked.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_tail_without_total_length_is_an_error() {
        struct NoTotal;
        impl Fetch for NoTotal {
            fn range(&self, _: &str, _: u64, _: u64) -> Result<RangeBody, FetchError> {
                Ok(RangeBody::Partial {
                    bytes: vec![0; 10],
                    total: None,
                })
            }
            fn tail(&self, u: &str, l: u64) -> Result<RangeBody, FetchError> {
                self.range(u, 0, l)
            }
            fn get(&self, _: &str) -> Result<Vec<u8>, FetchError> {
                Ok(Vec::new())
            }
        }
        assert!(RemoteFile::open(&NoTotal, "u").is_err());
    }
}
