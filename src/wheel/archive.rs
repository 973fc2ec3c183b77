//! Reading wheels as zip archives: the member list with sizes and offsets, bounded reads of
//! single members (a zip bomb or a lying header cannot exhaust memory), and the
//! `*.dist-info` files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use zip::ZipArchive;

use super::WheelError;
use super::filename::normalize_name;
use super::members::{ClassifiedMember, classify_members};
use super::metadata::{CoreMetadata, Record, WheelInfo};
use super::target::{Platform, PythonTarget};
use super::zipdir::{MemberInfo, read_central_directory};

/// The default largest member [`WheelArchive::read_member`] decompresses: 1 GiB.
pub const DEFAULT_MEMBER_LIMIT: u64 = 1 << 30;

/// Largest buffer reserved up front for a member, whatever its header claims.
const MAX_PREALLOCATION: u64 = 64 << 20;

/// A wheel opened as a zip archive over any seekable reader.
///
/// Opening reads only the end record and the central directory; the zip library is set up on
/// the first member read, and each read visits only that member's local header and data.
pub struct WheelArchive<R> {
    state: ZipState<R>,
    members: Vec<MemberInfo>,
    /// Member name → position in `members` (the first entry of a repeated name).
    by_name: HashMap<String, usize>,
    label: String,
    limit: u64,
    /// Every member read so far and how many bytes each read inflated, in order.
    inflated: Vec<(String, u64)>,
}

enum ZipState<R> {
    /// Not needed yet.
    Reader(R),
    /// Ready for member reads.
    Zip(ZipArchive<R>),
    /// The zip library refused the archive; the message is repeated on every read.
    Broken(String),
}

impl<R> std::fmt::Debug for WheelArchive<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WheelArchive")
            .field("label", &self.label)
            .field("members", &self.members.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl WheelArchive<BufReader<File>> {
    /// Opens a wheel file on disk.
    pub fn open_path(path: &Path) -> Result<Self, WheelError> {
        let file = File::open(path).map_err(|source| WheelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        WheelArchive::new(BufReader::new(file), &path.display().to_string())
    }
}

impl<R: Read + Seek> WheelArchive<R> {
    /// Reads the central directory of a wheel. `label` (a file name or URL) names the wheel
    /// in errors. Fails with a clear error on a truncated or corrupt archive.
    pub fn new(mut reader: R, label: &str) -> Result<Self, WheelError> {
        let (_, members) = read_central_directory(&mut reader, label)?;
        let mut by_name = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            by_name.entry(m.name.clone()).or_insert(i);
        }
        Ok(WheelArchive {
            state: ZipState::Reader(reader),
            members,
            by_name,
            label: label.to_string(),
            limit: DEFAULT_MEMBER_LIMIT,
            inflated: Vec::new(),
        })
    }

    /// Every member read so far, with the bytes each read inflated, in the order of the
    /// reads (a member read twice is listed twice). Benchmarks compare a scan with merely
    /// inflating the same bytes.
    pub fn inflated(&self) -> &[(String, u64)] {
        &self.inflated
    }

    /// The zip library's view of the archive, set up on first use.
    fn zip(&mut self) -> Result<&mut ZipArchive<R>, WheelError> {
        let broken = |message: &str| WheelError::Zip {
            what: self.label.clone(),
            source: zip::result::ZipError::InvalidArchive(message.to_string().into()),
        };
        if let ZipState::Broken(message) = &self.state {
            return Err(broken(message));
        }
        if matches!(self.state, ZipState::Reader(_)) {
            let ZipState::Reader(reader) =
                std::mem::replace(&mut self.state, ZipState::Broken(String::new()))
            else {
                unreachable!("checked above");
            };
            self.state = match ZipArchive::new(reader) {
                Ok(zip) => ZipState::Zip(zip),
                Err(e) => ZipState::Broken(e.to_string()),
            };
        }
        match &mut self.state {
            ZipState::Zip(zip) => Ok(zip),
            ZipState::Broken(message) => Err(WheelError::Zip {
                what: self.label.clone(),
                source: zip::result::ZipError::InvalidArchive(message.clone().into()),
            }),
            ZipState::Reader(_) => unreachable!("replaced above"),
        }
    }

    /// Sets the largest member size [`WheelArchive::read_member`] accepts (default 1 GiB).
    pub fn set_member_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// The largest member size [`WheelArchive::read_member`] accepts.
    pub fn member_limit(&self) -> u64 {
        self.limit
    }

    /// The label given at opening (file name or URL).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Every member, in central-directory order.
    pub fn members(&self) -> &[MemberInfo] {
        &self.members
    }

    /// The member named `name`, if any.
    pub fn member(&self, name: &str) -> Option<&MemberInfo> {
        self.by_name.get(name).map(|&i| &self.members[i])
    }

    /// Reads one member fully, refusing it when its declared size exceeds the member limit and
    /// stopping when decompression passes the limit whatever the header says. The data's
    /// CRC-32 and its length are checked against the central directory.
    pub fn read_member(&mut self, name: &str) -> Result<Vec<u8>, WheelError> {
        self.read_member_limited(name, self.limit)
    }

    /// The first `len` bytes of a member, decompressing no further (no CRC check: the member
    /// is not read to its end).
    pub fn read_member_prefix(&mut self, name: &str, len: u64) -> Result<Vec<u8>, WheelError> {
        let what = format!("{}: member {name:?}", self.label);
        let zip = self.zip()?;
        let index = zip
            .index_for_name(name)
            .ok_or_else(|| WheelError::MemberNotFound {
                member: name.to_string(),
            })?;
        let file = zip
            .by_index(index)
            .map_err(|source| WheelError::Zip { what, source })?;
        let mut data = Vec::with_capacity(len.min(MAX_PREALLOCATION) as usize);
        file.take(len)
            .read_to_end(&mut data)
            .map_err(|source| WheelError::MemberRead {
                member: name.to_string(),
                source,
            })?;
        self.inflated.push((name.to_string(), data.len() as u64));
        Ok(data)
    }

    /// Whether any of `needles` occurs in a member, decompressing it chunk by chunk without
    /// holding it whole (at most the member limit is read).
    pub fn member_contains(&mut self, name: &str, needles: &[Vec<u8>]) -> Result<bool, WheelError> {
        const CHUNK: usize = 1 << 20;
        let what = format!("{}: member {name:?}", self.label);
        let limit = self.limit;
        let zip = self.zip()?;
        let index = zip
            .index_for_name(name)
            .ok_or_else(|| WheelError::MemberNotFound {
                member: name.to_string(),
            })?;
        let file = zip
            .by_index(index)
            .map_err(|source| WheelError::Zip { what, source })?;
        let mut file = file.take(limit);
        let keep = needles
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        let finders: Vec<memchr::memmem::Finder> =
            needles.iter().map(memchr::memmem::Finder::new).collect();
        // The tail of the previous chunk, so a needle split across two chunks is found.
        let mut window: Vec<u8> = Vec::with_capacity(CHUNK + keep);
        let mut chunk = vec![0u8; CHUNK];
        let mut total = 0u64;
        let found = loop {
            let n = match file.read(&mut chunk) {
                Ok(n) => n,
                Err(source) => {
                    break Err(WheelError::MemberRead {
                        member: name.to_string(),
                        source,
                    });
                }
            };
            if n == 0 {
                break Ok(false);
            }
            total += n as u64;
            window.extend_from_slice(&chunk[..n]);
            if finders.iter().any(|f| f.find(&window).is_some()) {
                break Ok(true);
            }
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        };
        drop(file);
        self.inflated.push((name.to_string(), total));
        found
    }

    /// Like [`WheelArchive::read_member`] with an explicit limit in bytes.
    pub fn read_member_limited(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, WheelError> {
        let info = self
            .member(name)
            .ok_or_else(|| WheelError::MemberNotFound {
                member: name.to_string(),
            })?
            .clone();
        if info.size > limit {
            return Err(WheelError::MemberTooLarge {
                member: name.to_string(),
                size: format!("{} bytes declared", info.size),
                limit,
            });
        }
        let what = format!("{}: member {name:?}", self.label);
        let zip = self.zip()?;
        // The zip library keeps central-directory order; look up by name if it disagrees.
        let index = if zip.name_for_index(info.index) == Some(name) {
            info.index
        } else {
            zip.index_for_name(name)
                .ok_or_else(|| WheelError::MemberNotFound {
                    member: name.to_string(),
                })?
        };
        let mut file = zip
            .by_index(index)
            .map_err(|source| WheelError::Zip { what, source })?;
        let mut data = Vec::with_capacity(info.size.min(limit).min(MAX_PREALLOCATION) as usize);
        (&mut file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|source| WheelError::MemberRead {
                member: name.to_string(),
                source,
            })?;
        let actual = data.len() as u64;
        drop(file);
        self.inflated.push((name.to_string(), actual));
        if actual > limit {
            return Err(WheelError::MemberTooLarge {
                member: name.to_string(),
                size: format!("more than {limit} bytes decompressed"),
                limit,
            });
        }
        if actual != info.size {
            return Err(WheelError::MemberSizeMismatch {
                member: name.to_string(),
                declared: info.size,
                actual,
            });
        }
        Ok(data)
    }

    /// The top-level `*.dist-info` directory (without the trailing `/`). When there are
    /// several, the one whose name matches `project` (PEP 503 normalized) is preferred, then
    /// one that holds a `WHEEL` file.
    pub fn dist_info_dir(&self, project: Option<&str>) -> Option<String> {
        let mut dirs: Vec<&str> = self
            .members
            .iter()
            .filter_map(|m| m.name.split_once('/').map(|(first, _)| first))
            .filter(|first| first.ends_with(".dist-info"))
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        let has_wheel = |d: &&str| self.member(&format!("{d}/WHEEL")).is_some();
        let matches_project = |d: &&str| {
            project.is_some_and(|p| {
                let stem = d.trim_end_matches(".dist-info");
                let name = stem.split('-').next().unwrap_or(stem);
                normalize_name(name) == normalize_name(p)
            })
        };
        dirs.iter()
            .find(|d| matches_project(d) && has_wheel(d))
            .or_else(|| dirs.iter().find(|d| matches_project(d)))
            .or_else(|| dirs.iter().find(|d| has_wheel(d)))
            .or_else(|| dirs.first())
            .map(|d| d.to_string())
    }

    fn read_dist_info_file(&mut self, file: &str) -> Result<(String, String), WheelError> {
        let dir = self
            .dist_info_dir(None)
            .ok_or_else(|| WheelError::MissingDistInfo {
                what: "*.dist-info/ directory".to_string(),
            })?;
        let path = format!("{dir}/{file}");
        if self.member(&path).is_none() {
            return Err(WheelError::MissingDistInfo { what: path });
        }
        // Metadata files are small; a 64 MiB cap keeps a hostile one cheap.
        let bytes = self.read_member_limited(&path, self.limit.min(64 << 20))?;
        let text = String::from_utf8(bytes).map_err(|_| WheelError::InvalidMetadata {
            file: path.clone(),
            reason: "not UTF-8".to_string(),
        })?;
        Ok((path, text))
    }

    /// Reads and parses `*.dist-info/WHEEL`.
    pub fn wheel_info(&mut self) -> Result<WheelInfo, WheelError> {
        let (path, text) = self.read_dist_info_file("WHEEL")?;
        WheelInfo::parse(&text, &path)
    }

    /// Reads and parses `*.dist-info/METADATA`.
    pub fn metadata(&mut self) -> Result<CoreMetadata, WheelError> {
        let (path, text) = self.read_dist_info_file("METADATA")?;
        CoreMetadata::parse(&text, &path)
    }

    /// Reads and parses `*.dist-info/RECORD`.
    pub fn record(&mut self) -> Result<Record, WheelError> {
        let (path, text) = self.read_dist_info_file("RECORD")?;
        Record::parse(&text, &path)
    }

    /// Classifies every file member for a target: extension modules, modules for other
    /// interpreters and shared libraries (other members are left out).
    pub fn native_members(
        &self,
        target: PythonTarget,
        platform: Platform,
    ) -> Vec<ClassifiedMember> {
        classify_members(
            self.members
                .iter()
                .filter(|m| !m.is_dir)
                .map(|m| m.name.as_str()),
            target,
            platform,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::super::members::MemberKind;
    use super::super::zipdir::Compression;
    use super::*;

    fn build_wheel(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(method);
        for (name, data) in files {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    const WHEEL: &[u8] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp314-cp314t-manylinux_2_17_x86_64\n";

    #[test]
    fn a_member_is_searched_as_it_decompresses_across_chunks() {
        // The needle straddles the first 1 MiB chunk boundary.
        let mut lib = vec![b'x'; (1 << 20) - 4];
        lib.extend_from_slice(b"PyInit_foo\0");
        lib.extend(std::iter::repeat_n(b'y', 3 << 20));
        let bytes = build_wheel(&[("pkg/libfoo.so", &lib)], zip::CompressionMethod::Deflated);
        let mut archive = WheelArchive::new(Cursor::new(bytes), "test.whl").unwrap();
        let found = |a: &mut WheelArchive<_>, n: &str| {
            a.member_contains("pkg/libfoo.so", &[n.as_bytes().to_vec()])
                .unwrap()
        };
        assert!(found(&mut archive, "PyInit_foo\0"));
        assert!(!found(&mut archive, "PyInit_bar\0"));
        assert!(
            archive
                .member_contains("pkg/none.so", &[b"x".to_vec()])
                .is_err()
        );
    }
    const METADATA: &[u8] =
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nlong description\n";
    const RECORD: &[u8] = b"demo/__init__.py,,\ndemo/_x.cpython-314t-x86_64-linux-gnu.so,,\ndemo-1.0.dist-info/RECORD,,\n";

    fn demo_wheel(method: zip::CompressionMethod) -> Vec<u8> {
        build_wheel(
            &[
                ("demo/", b""),
                ("demo/__init__.py", b"from ._x import *\n"),
                (
                    "demo/_x.cpython-314t-x86_64-linux-gnu.so",
                    &[0x7f, b'E', b'L', b'F', 1, 2, 3],
                ),
                ("demo/_x.abi3.so", b"\x7fELF"),
                ("demo.libs/libz-abc.so.1", b"\x7fELF"),
                ("demo-1.0.dist-info/WHEEL", WHEEL),
                ("demo-1.0.dist-info/METADATA", METADATA),
                ("demo-1.0.dist-info/RECORD", RECORD),
            ],
            method,
        )
    }

    #[test]
    fn lists_and_reads_members() {
        for method in [
            zip::CompressionMethod::Deflated,
            zip::CompressionMethod::Stored,
        ] {
            let bytes = demo_wheel(method);
            let mut wheel = WheelArchive::new(Cursor::new(bytes), "demo.whl").unwrap();
            assert_eq!(wheel.members().len(), 8);
            assert!(wheel.members()[0].is_dir);
            let so = wheel
                .member("demo/_x.cpython-314t-x86_64-linux-gnu.so")
                .unwrap()
                .clone();
            assert_eq!(so.size, 7);
            assert!(so.header_offset > 0);
            let want = if method == zip::CompressionMethod::Stored {
                Compression::Stored
            } else {
                Compression::Deflated
            };
            assert_eq!(so.compression, want);
            assert_eq!(
                wheel.read_member(&so.name).unwrap(),
                [0x7f, b'E', b'L', b'F', 1, 2, 3]
            );
            assert_eq!(
                wheel.dist_info_dir(None).as_deref(),
                Some("demo-1.0.dist-info")
            );
            let info = wheel.wheel_info().unwrap();
            assert_eq!(info.root_is_purelib, Some(false));
            assert_eq!(info.tags, ["cp314-cp314t-manylinux_2_17_x86_64"]);
            let meta = wheel.metadata().unwrap();
            assert_eq!((meta.name.as_str(), meta.version.as_str()), ("demo", "1.0"));
            assert_eq!(wheel.record().unwrap().entries.len(), 3);

            let native = wheel.native_members(PythonTarget::Py314t, Platform::LinuxX86_64);
            assert_eq!(native.len(), 3);
            assert!(matches!(&native[0].kind, MemberKind::Extension(e) if e.module == "demo._x"));
            assert!(matches!(native[1].kind, MemberKind::ForeignExtension(_)));
            assert_eq!(native[1].shadowed_by.as_deref(), Some(so.name.as_str()));
            assert!(matches!(native[2].kind, MemberKind::SharedLibrary(_)));
        }
    }

    /// Regression (found by the resource checks, not the fuzzer): `member()` scanned the
    /// whole member list, and every `read_member` and `dist_info_dir` probe called it, so a
    /// scan of a wheel with 100,000 members (14 MB) took 8 s, and a 256 MB central directory
    /// of several million entries would take hours. Lookups are now hashed.
    #[test]
    fn member_lookup_does_not_scan_the_list() {
        let names: Vec<String> = (0..100_000).map(|k| format!("p/m{k}.py")).collect();
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for name in &names {
            w.start_file(name.as_str(), opts).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let wheel = WheelArchive::new(Cursor::new(bytes), "many.whl").unwrap();
        for (k, name) in names.iter().enumerate() {
            assert_eq!(wheel.member(name).map(|m| m.index), Some(k));
        }
        assert!(wheel.member("p/m100000.py").is_none());
        // 5 * 10^9 string comparisons before; a few milliseconds now, even unoptimised.
    }

    #[test]
    fn missing_members_and_dist_info() {
        let bytes = build_wheel(&[("a/b.py", b"x")], zip::CompressionMethod::Deflated);
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "a.whl").unwrap();
        let err = wheel.read_member("nope").unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
        let err = wheel.wheel_info().unwrap_err().to_string();
        assert!(err.contains("dist-info"), "{err}");

        let bytes = build_wheel(
            &[("x-1.dist-info/METADATA", METADATA)],
            zip::CompressionMethod::Deflated,
        );
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "x.whl").unwrap();
        let err = wheel.record().unwrap_err().to_string();
        assert!(err.contains("x-1.dist-info/RECORD"), "{err}");
    }

    #[test]
    fn several_dist_info_dirs() {
        let bytes = build_wheel(
            &[
                ("aaa-1.dist-info/METADATA", METADATA),
                ("demo-1.0.dist-info/WHEEL", WHEEL),
                ("zzz-1.dist-info/WHEEL", WHEEL),
            ],
            zip::CompressionMethod::Deflated,
        );
        let wheel = WheelArchive::new(Cursor::new(bytes), "x.whl").unwrap();
        assert_eq!(
            wheel.dist_info_dir(Some("Demo")).as_deref(),
            Some("demo-1.0.dist-info")
        );
        assert_eq!(
            wheel.dist_info_dir(Some("aaa")).as_deref(),
            Some("aaa-1.dist-info")
        );
        assert_eq!(
            wheel.dist_info_dir(None).as_deref(),
            Some("demo-1.0.dist-info")
        );
    }

    #[test]
    fn truncated_and_garbage_archives_are_errors() {
        let bytes = demo_wheel(zip::CompressionMethod::Deflated);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            let err = WheelArchive::new(Cursor::new(bytes[..cut].to_vec()), "cut.whl")
                .unwrap_err()
                .to_string();
            assert!(err.contains("cut.whl"), "{cut}: {err}");
        }
        let err = WheelArchive::new(Cursor::new(b"not a zip at all".to_vec()), "junk.whl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("junk.whl"), "{err}");
    }

    /// Finds `needle` in `haystack` (first occurrence).
    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    }

    #[test]
    fn corrupt_data_fails_crc() {
        let payload = b"hello hello hello hello, this payload is stored".to_vec();
        let mut bytes = build_wheel(
            &[("pkg/data.bin", &payload)],
            zip::CompressionMethod::Stored,
        );
        let at = find(&bytes, b"payload is stored");
        bytes[at] ^= 0xff;
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "crc.whl").unwrap();
        let err = wheel.read_member("pkg/data.bin").unwrap_err();
        assert!(matches!(err, WheelError::MemberRead { .. }), "{err}");
        assert!(err.to_string().contains("pkg/data.bin"), "{err}");
    }

    #[test]
    fn corrupt_deflate_stream_is_an_error() {
        let payload: Vec<u8> = (0..5000u32)
            .flat_map(|i| (i * 7919).to_le_bytes())
            .collect();
        let mut bytes = build_wheel(&[("pkg/x.so", &payload)], zip::CompressionMethod::Deflated);
        let info = WheelArchive::new(Cursor::new(bytes.clone()), "d.whl")
            .unwrap()
            .member("pkg/x.so")
            .unwrap()
            .clone();
        // Scramble the middle of the compressed data.
        let start = info.header_offset as usize + 30 + "pkg/x.so".len() + 10;
        for b in &mut bytes[start..start + 40] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "d.whl").unwrap();
        assert!(wheel.read_member("pkg/x.so").is_err());
    }

    #[test]
    fn declared_size_over_limit_is_refused() {
        let bytes = build_wheel(
            &[("big.bin", &[0u8; 4096])],
            zip::CompressionMethod::Deflated,
        );
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "big.whl").unwrap();
        wheel.set_member_limit(1000);
        assert_eq!(wheel.member_limit(), 1000);
        let err = wheel.read_member("big.bin").unwrap_err();
        assert!(matches!(err, WheelError::MemberTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("4096"), "{err}");
        assert_eq!(
            wheel.read_member_limited("big.bin", 4096).unwrap().len(),
            4096
        );
    }

    /// Rewrites the uncompressed size of `name` in both its local header and its
    /// central-directory entry.
    fn lie_about_size(bytes: &mut [u8], name: &str, fake: u32) {
        let mut pos = 0;
        while let Some(off) = bytes[pos..]
            .windows(4)
            .position(|w| w == b"PK\x03\x04" || w == b"PK\x01\x02")
        {
            let at = pos + off;
            let (size_at, name_len_at, name_at) = if &bytes[at..at + 4] == b"PK\x03\x04" {
                (at + 22, at + 26, at + 30)
            } else {
                (at + 24, at + 28, at + 46)
            };
            let name_len =
                u16::from_le_bytes([bytes[name_len_at], bytes[name_len_at + 1]]) as usize;
            if bytes.get(name_at..name_at + name_len) == Some(name.as_bytes()) {
                bytes[size_at..size_at + 4].copy_from_slice(&fake.to_le_bytes());
            }
            pos = at + 4;
        }
    }

    #[test]
    fn lying_header_cannot_exhaust_memory() {
        // A 2 MiB run of zeros deflates to a few KiB; the headers claim 100 bytes.
        let bomb = vec![0u8; 2 << 20];
        let mut bytes = build_wheel(&[("bomb.so", &bomb)], zip::CompressionMethod::Deflated);
        lie_about_size(&mut bytes, "bomb.so", 100);
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "bomb.whl").unwrap();
        assert_eq!(wheel.member("bomb.so").unwrap().size, 100);
        wheel.set_member_limit(64 << 10);
        let err = wheel.read_member("bomb.so").unwrap_err();
        assert!(
            matches!(&err, WheelError::MemberTooLarge { size, .. } if size.contains("decompressed")),
            "{err}"
        );
        // Under the default limit the lie is caught by the size check.
        let err = wheel.read_member_limited("bomb.so", 4 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                WheelError::MemberSizeMismatch { declared: 100, actual, .. } if actual == 2 << 20
            ),
            "{err}"
        );
    }

    #[test]
    fn understated_size_is_an_error() {
        let mut bytes = build_wheel(&[("x.so", &[1u8; 50])], zip::CompressionMethod::Stored);
        lie_about_size(&mut bytes, "x.so", 500);
        let mut wheel = WheelArchive::new(Cursor::new(bytes), "x.whl").unwrap();
        assert!(wheel.read_member("x.so").is_err());
    }

    #[test]
    #[ignore = "needs the wheels scripts/fetch-test-wheels.py downloads into $GILFREE_WHEELS"]
    fn open_path_reads_downloaded_wheels() {
        let root = std::env::var("GILFREE_WHEELS").unwrap_or_else(|_| "/tmp/gilfree-wheels".into());
        let dir = std::fs::read_dir(format!("{root}/cp315"))
            .expect("run scripts/fetch-test-wheels.py first");
        for entry in dir.flatten() {
            let mut wheel = WheelArchive::open_path(&entry.path()).unwrap();
            let info = wheel.wheel_info().unwrap();
            assert!(!info.tags.is_empty());
            let meta = wheel.metadata().unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            let parsed = super::super::WheelFilename::parse(&name).unwrap();
            assert_eq!(normalize_name(&meta.name), parsed.normalized_name());
            assert_eq!(meta.version, parsed.version);
            let native = wheel.native_members(PythonTarget::Py315t, Platform::LinuxX86_64);
            assert!(
                native
                    .iter()
                    .any(|m| matches!(m.kind, MemberKind::Extension(_))),
                "{name}"
            );
        }
        let err = WheelArchive::open_path(Path::new("/nonexistent/x.whl")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.whl"));
    }
}
