//! A remote file read through HTTP range requests, as `Read + Seek` for the wheel reader.
//!
//! The first request asks for the file's tail (end record and, for most wheels, the whole
//! central directory) and learns the file's length. Later reads are served from the fetched
//! ranges; `prefetch` fetches many members at once, coalescing nearby ranges into one
//! request. No byte is asked for twice: every fetched range is kept for as long as the file
//! is read, in memory up to a budget and in a temporary file beyond it ([`RangeCache`]), and
//! requests only ask for what is not cached. When the server ignores `Range`, the first
//! answer is the whole file: everything is then served from memory and its sha256 can be
//! checked.

use std::io::{self, Read, Seek, SeekFrom};

use super::range_cache::RangeCache;
use super::{Fetch, FetchError, RangeBody};

/// Bytes asked for by the first request: enough for the end record and a typical central
/// directory.
const TAIL: u64 = 64 << 10;
/// Smallest read sent to the server on a cache miss; sequential misses double it up to
/// `MAX_READ` (a member read that was not prefetched streams in a few large requests). Small,
/// because a miss is most often a library's first segment, read to see that it exports no
/// init hook: tens to hundreds of KB compressed.
const MIN_READ: u64 = 64 << 10;
const MAX_READ: u64 = 8 << 20;
/// Ranges closer than this are fetched as one (when nothing between them is cached).
const COALESCE_GAP: u64 = 32 << 10;
/// Largest single request of a prefetch: a body is held in memory while it arrives.
const MAX_REQUEST: u64 = 16 << 20;
/// Fetched bytes kept in memory; the rest of what was fetched waits in a temporary file
/// (read back from the page cache at memory speed: a crawl reads several wheels at once, and
/// what they hold must fit a small machine).
const MEMORY_BUDGET: u64 = 16 << 20;

/// A remote file with a cache of the ranges fetched so far.
pub struct RemoteFile<'f> {
    fetch: &'f dyn Fetch,
    url: String,
    len: u64,
    pos: u64,
    cache: RangeCache,
    /// The whole file, when the server sent it whole (it ignores `Range`).
    whole: Option<Vec<u8>>,
    /// Where the last cache miss's fetch ended, and the size of the next one.
    miss_end: u64,
    read_ahead: u64,
    /// Bytes the server sent for this file.
    fetched: u64,
    /// Offsets a read ahead does not cross (where members start), sorted.
    fences: Vec<u64>,
}

impl<'f> RemoteFile<'f> {
    /// Open `url`: fetch its tail and learn its length.
    pub fn open(fetch: &'f dyn Fetch, url: &str) -> Result<Self, FetchError> {
        Self::with_budget(fetch, url, MEMORY_BUDGET)
    }

    /// Like [`RemoteFile::open`], keeping at most `budget` fetched bytes in memory.
    pub fn with_budget(fetch: &'f dyn Fetch, url: &str, budget: u64) -> Result<Self, FetchError> {
        let mut file = RemoteFile {
            fetch,
            url: url.to_string(),
            len: 0,
            pos: 0,
            cache: RangeCache::new(budget),
            whole: None,
            miss_end: u64::MAX,
            read_ahead: MIN_READ,
            fetched: 0,
            fences: Vec::new(),
        };
        match fetch.tail(url, TAIL)? {
            RangeBody::Full(bytes) => {
                file.fetched = bytes.len() as u64;
                file.len = bytes.len() as u64;
                file.whole = Some(bytes);
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
                file.fetched = n;
                file.len = total;
                file.cache.insert(total - n, bytes, total);
            }
        }
        Ok(file)
    }

    /// Most fetched bytes this file keeps in memory.
    pub fn memory_budget(&self) -> u64 {
        self.cache.budget()
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the server sent for this file so far.
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    /// Offsets a cache miss does not read ahead past (the starts of a zip's members and of
    /// its central directory): reading one member's first bytes fetches nothing of the next.
    pub fn set_fences(&mut self, offsets: impl IntoIterator<Item = u64>) {
        self.fences = offsets.into_iter().collect();
        self.fences.sort_unstable();
        self.fences.dedup();
    }

    /// The first fence after `pos`, if any.
    fn next_fence(&self, pos: u64) -> Option<u64> {
        let i = self.fences.partition_point(|&f| f <= pos);
        self.fences.get(i).copied()
    }

    /// The whole file, when the server sent it whole (for checking its sha256).
    pub fn whole(&self) -> Option<&[u8]> {
        self.whole.as_deref()
    }

    /// Fetch the parts of the ranges `(start, len)` not fetched yet, merging those less than
    /// a few KiB apart into one request when nothing between them is cached.
    pub fn prefetch(&mut self, ranges: &[(u64, u64)]) -> Result<(), FetchError> {
        if self.whole.is_some() {
            return Ok(());
        }
        let mut wanted: Vec<(u64, u64)> = ranges
            .iter()
            .map(|&(s, l)| (s.min(self.len), s.saturating_add(l).min(self.len)))
            .filter(|&(s, e)| e > s)
            .flat_map(|(s, e)| self.cache.gaps(s, e))
            .collect();
        wanted.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in wanted {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                Some(last)
                    if s <= last.1.saturating_add(COALESCE_GAP)
                        && !self.cache.any_cached(last.1, s) =>
                {
                    last.1 = e
                }
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            let mut at = s;
            while at < e {
                let n = (e - at).min(MAX_REQUEST);
                self.fetch_range(at, n)?;
                if self.whole.is_some() {
                    return Ok(());
                }
                at += n;
            }
        }
        Ok(())
    }

    /// Fetch `[start, start + len)`, which the caller made sure is not cached.
    fn fetch_range(&mut self, start: u64, len: u64) -> Result<(), FetchError> {
        match self.fetch.range(&self.url, start, len)? {
            RangeBody::Partial { mut bytes, .. } => {
                // More than asked would overlap what is cached; fewer is a short read that
                // the reader reports where it needs the missing bytes.
                bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
                self.fetched += bytes.len() as u64;
                self.cache.insert(start, bytes, self.pos);
            }
            RangeBody::Full(bytes) => {
                self.fetched += bytes.len() as u64;
                self.len = bytes.len() as u64;
                self.whole = Some(bytes);
                self.cache = RangeCache::new(0);
            }
        }
        Ok(())
    }

    /// Copy cached bytes at `pos` into `buf`; 0 when `pos` is not cached.
    fn read_cached(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(whole) = &self.whole {
            let at = usize::try_from(self.pos)
                .unwrap_or(usize::MAX)
                .min(whole.len());
            let n = buf.len().min(whole.len() - at);
            buf[..n].copy_from_slice(&whole[at..at + n]);
            return Ok(n);
        }
        self.cache.read_at(self.pos, buf)
    }
}

impl Read for RemoteFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let mut n = self.read_cached(buf)?;
        if n == 0 {
            // Sequential misses read further ahead each time; up to the next cached byte or
            // fence, never past the end.
            self.read_ahead = if self.pos == self.miss_end {
                (self.read_ahead * 2).min(MAX_READ)
            } else {
                MIN_READ
            };
            let next = [self.cache.next_cached(self.pos), self.next_fence(self.pos)]
                .into_iter()
                .flatten()
                .fold(self.len, u64::min);
            let want = (buf.len() as u64)
                .max(self.read_ahead)
                .min(next - self.pos)
                .max(1);
            self.miss_end = self.pos + want;
            self.fetch_range(self.pos, want).map_err(io::Error::other)?;
            n = self.read_cached(buf)?;
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

    /// Every asked-for range, checked to be disjoint from the others: no byte twice.
    fn asked_once(m: &Memory) -> u64 {
        let mut asked = m.asked.lock().unwrap().clone();
        asked.sort_unstable();
        for w in asked.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{w:?} overlap in {asked:?}");
        }
        asked.iter().map(|&(_, l)| l).sum()
    }

    #[test]
    fn bytes_read_again_after_leaving_memory_are_not_fetched_again() {
        let m = memory(3_000_000, true);
        let mut f = RemoteFile::with_budget(&m, "u", 200_000).unwrap();
        f.prefetch(&[(0, 1_500_000), (1_490_000, 20_000)]).unwrap();
        for _ in 0..3 {
            for &(at, n) in &[
                (0u64, 500_000usize),
                (1_000_000, 900_000),
                (100, 10),
                (2_500_000, 400_000),
                (1_400_000, 300_000),
            ] {
                let mut buf = vec![0; n];
                f.seek(SeekFrom::Start(at)).unwrap();
                f.read_exact(&mut buf).unwrap();
                assert_eq!(buf, m.data[at as usize..at as usize + n], "at {at}");
            }
        }
        let total = asked_once(&m);
        assert!(total <= 3_000_000, "{total}");
        assert_eq!(f.fetched(), total);
    }

    #[test]
    fn a_prefetch_does_not_ask_again_for_what_is_cached() {
        let m = memory(1_000_000, true);
        let mut f = RemoteFile::open(&m, "u").unwrap();
        f.prefetch(&[(100_000, 1000)]).unwrap();
        // Overlapping the cached range and the tail, with a cached range in the gap.
        f.prefetch(&[(90_000, 9_000), (100_500, 20_000), (940_000, 60_000)])
            .unwrap();
        asked_once(&m);
        let mut all = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut all).unwrap();
        assert_eq!(all, m.data);
        assert_eq!(asked_once(&m), 1_000_000);
    }

    #[test]
    fn short_and_overlong_answers_neither_corrupt_nor_hang() {
        /// Sends `extra` bytes more than asked (negative: fewer), never past the end.
        struct Lying(Vec<u8>, i64);
        impl Fetch for Lying {
            fn range(&self, _: &str, start: u64, len: u64) -> Result<RangeBody, FetchError> {
                let s = start as usize;
                let e = ((start + len) as i64 + self.1).clamp(s as i64, self.0.len() as i64);
                Ok(RangeBody::Partial {
                    bytes: self.0[s..e as usize].to_vec(),
                    total: Some(self.0.len() as u64),
                })
            }
            fn tail(&self, _: &str, len: u64) -> Result<RangeBody, FetchError> {
                let n = len.min(self.0.len() as u64) as usize;
                Ok(RangeBody::Partial {
                    bytes: self.0[self.0.len() - n..].to_vec(),
                    total: Some(self.0.len() as u64),
                })
            }
            fn get(&self, _: &str) -> Result<Vec<u8>, FetchError> {
                Ok(self.0.clone())
            }
        }
        let data: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
        let server = Lying(data.clone(), 1000);
        let mut f = RemoteFile::open(&server, "u").unwrap();
        f.prefetch(&[(1000, 50_000)]).unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).unwrap();
        assert_eq!(all, data, "more than asked is cut");
        // Fewer than asked: what comes is right, and where nothing comes the read fails
        // naming the offset.
        let server = Lying(data.clone(), -1000);
        let mut f = RemoteFile::open(&server, "u").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let err = loop {
            match f.read(&mut buf) {
                Ok(0) => panic!("a short server cannot serve all of it"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e.to_string(),
            }
        };
        assert_eq!(got, data[..got.len()]);
        assert!(
            err.contains(&format!("no bytes at offset {}", got.len())),
            "{err}"
        );
        let server = Lying(data.clone(), -1_000_000);
        let mut f = RemoteFile::open(&server, "u").unwrap();
        let err = f.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("no bytes at offset 0"), "{err}");
    }

    #[test]
    fn a_miss_reads_ahead_up_to_the_next_fence_only() {
        let m = memory(4_000_000, true);
        let mut f = RemoteFile::open(&m, "u").unwrap();
        f.set_fences([1_000_100, 500_000, 3_000_000]);
        let mut buf = vec![0; 100];
        f.seek(SeekFrom::Start(1_000_000)).unwrap();
        f.read_exact(&mut buf).unwrap();
        // A read across the fence is short, then goes on from it (a sequential miss: twice
        // as far ahead).
        f.seek(SeekFrom::Start(1_000_050)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert_eq!(buf, m.data[1_000_050..1_000_150]);
        let asked = m.asked.lock().unwrap().clone();
        assert_eq!(asked[1..], [(1_000_000, 100), (1_000_100, 2 * MIN_READ)]);
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
