//! The zip central directory, read on its own: the end record (with its zip64 form) and the
//! directory entries, without touching any member's local header. Listing a wheel this way
//! costs two or three reads, which matters when the reader is backed by HTTP range requests.

use std::io::{Read, Seek, SeekFrom};

use super::WheelError;

/// Largest central directory accepted (a wheel with 100,000 files has about 10 MB).
const MAX_CENTRAL_DIRECTORY: u64 = 256 << 20;
/// The end record is 22 bytes plus a comment of at most 65,535 bytes.
const MAX_TAIL: u64 = 22 + 0xFFFF;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;

/// How a member is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored without compression.
    Stored,
    /// Deflate.
    Deflated,
    /// Anything else (bzip2, zstd, lzma, …), with its method number: listed, but reading it
    /// fails.
    Other(u16),
}

/// One member of a wheel, as its central-directory entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Position in the central directory.
    pub index: usize,
    /// The path inside the wheel, e.g. `lxml/etree.cpython-314t-x86_64-linux-gnu.so`.
    pub name: String,
    /// Declared uncompressed size in bytes (not trusted when reading).
    pub size: u64,
    /// Compressed size in bytes.
    pub compressed_size: u64,
    /// Compression method.
    pub compression: Compression,
    /// Declared CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Offset of the member's local header in the archive (for ranged reads: the data follows
    /// the 30-byte local header, its name and its extra field).
    pub header_offset: u64,
    /// Whether the member is encrypted (reading it fails).
    pub encrypted: bool,
    /// Whether this entry is a directory.
    pub is_dir: bool,
}

impl MemberInfo {
    /// The byte range `(offset, length)` that holds the member's local header and the first
    /// `data` bytes of its compressed data, for a ranged read: the 30-byte header, the name
    /// and an extra field of rarely more than a few dozen bytes (256 are allowed for it).
    pub fn span(&self, data: u64) -> (u64, u64) {
        (
            self.header_offset,
            30 + self.name.len() as u64 + 256 + data.min(self.compressed_size),
        )
    }
}

/// Where the central directory is, from the end record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CentralDirectoryLocation {
    /// Offset of the first directory entry.
    pub offset: u64,
    /// Size of the directory in bytes.
    pub size: u64,
    /// Number of entries the end record announces.
    pub entries: u64,
}

/// Reads the central directory of the zip behind `reader`: its location and every entry.
/// `label` names the archive in errors.
pub fn read_central_directory<R: Read + Seek>(
    reader: &mut R,
    label: &str,
) -> Result<(CentralDirectoryLocation, Vec<MemberInfo>), WheelError> {
    let invalid = |reason: String| WheelError::Zip {
        what: label.to_string(),
        source: zip::result::ZipError::InvalidArchive(reason.into()),
    };
    let io = |source: std::io::Error| WheelError::Zip {
        what: label.to_string(),
        source: zip::result::ZipError::Io(source),
    };
    let len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    let tail_len = len.min(MAX_TAIL);
    let tail_start = len - tail_len;
    reader.seek(SeekFrom::Start(tail_start)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail).map_err(io)?;
    let location = locate(&tail, tail_start, |offset, buf| {
        reader.seek(SeekFrom::Start(offset))?;
        reader.read_exact(buf)
    })
    .map_err(|e| match e {
        LocateError::Invalid(reason) => invalid(reason),
        LocateError::Io(e) => io(e),
    })?;
    if location.size > MAX_CENTRAL_DIRECTORY {
        return Err(invalid(format!(
            "central directory of {} bytes is larger than the {} byte limit",
            location.size, MAX_CENTRAL_DIRECTORY
        )));
    }
    if location
        .offset
        .checked_add(location.size)
        .is_none_or(|end| end > len)
    {
        return Err(invalid(format!(
            "central directory ({} bytes at offset {}) runs past the end of the {len} byte file",
            location.size, location.offset
        )));
    }
    let mut directory = vec![0u8; location.size as usize];
    reader.seek(SeekFrom::Start(location.offset)).map_err(io)?;
    reader.read_exact(&mut directory).map_err(io)?;
    let members = parse_entries(&directory).map_err(invalid)?;
    if members.len() as u64 != location.entries {
        return Err(invalid(format!(
            "end record announces {} entries, central directory holds {}",
            location.entries,
            members.len()
        )));
    }
    Ok((location, members))
}

enum LocateError {
    Invalid(String),
    Io(std::io::Error),
}

/// Finds the end record in `tail` (the last bytes of the file, starting at `tail_start`) and
/// reads the zip64 end record through `read_at` when needed.
fn locate(
    tail: &[u8],
    tail_start: u64,
    mut read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<CentralDirectoryLocation, LocateError> {
    let invalid = |s: &str| LocateError::Invalid(s.to_string());
    // The last end-record signature whose comment length fits the remaining bytes.
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            u32_at(tail, i) == Some(EOCD_SIG)
                && u16_at(tail, i + 20).is_some_and(|c| i + 22 + usize::from(c) <= tail.len())
        })
        .ok_or_else(|| invalid("no end of central directory record (truncated or not a zip)"))?;
    let field16 = |off| u64::from(u16_at(tail, eocd + off).unwrap_or(0));
    let field32 = |off| u64::from(u32_at(tail, eocd + off).unwrap_or(0));
    let disk = field16(4);
    let mut location = CentralDirectoryLocation {
        entries: field16(10),
        size: field32(12),
        offset: field32(16),
    };
    let zip64_needed = location.entries == 0xFFFF
        || location.size == 0xFFFF_FFFF
        || location.offset == 0xFFFF_FFFF;
    let locator = eocd
        .checked_sub(20)
        .filter(|&l| u32_at(tail, l) == Some(ZIP64_LOCATOR_SIG));
    match locator {
        Some(l) => {
            let record_offset = u64_at(tail, l + 8).unwrap_or(u64::MAX);
            let mut record = [0u8; 56];
            if record_offset >= tail_start && record_offset - tail_start + 56 <= tail.len() as u64 {
                let at = (record_offset - tail_start) as usize;
                record.copy_from_slice(&tail[at..at + 56]);
            } else {
                read_at(record_offset, &mut record).map_err(LocateError::Io)?;
            }
            if u32_at(&record, 0) != Some(ZIP64_EOCD_SIG) {
                return Err(invalid(
                    "zip64 end record not found where its locator points",
                ));
            }
            location = CentralDirectoryLocation {
                entries: u64_at(&record, 32).unwrap_or(0),
                size: u64_at(&record, 40).unwrap_or(0),
                offset: u64_at(&record, 48).unwrap_or(0),
            };
        }
        None if zip64_needed => {
            return Err(invalid("zip64 archive without a zip64 end record locator"));
        }
        None => {
            if disk != 0 {
                return Err(invalid("multi-disk archives are not supported"));
            }
        }
    }
    Ok(location)
}

/// Parses the central-directory entries in `dir`.
fn parse_entries(dir: &[u8]) -> Result<Vec<MemberInfo>, String> {
    let mut members = Vec::new();
    let mut pos = 0usize;
    while pos < dir.len() {
        let fixed = dir
            .get(pos..pos + 46)
            .ok_or_else(|| format!("central directory entry {} is truncated", members.len()))?;
        if u32_at(fixed, 0) != Some(CENTRAL_SIG) {
            return Err(format!(
                "bad signature for central directory entry {} at offset {pos}",
                members.len()
            ));
        }
        let u16f = |off| u16_at(fixed, off).unwrap_or(0);
        let u32f = |off| u32_at(fixed, off).unwrap_or(0);
        let flags = u16f(8);
        let method = u16f(10);
        let crc32 = u32f(16);
        let mut compressed_size = u64::from(u32f(20));
        let mut size = u64::from(u32f(24));
        let name_len = usize::from(u16f(28));
        let extra_len = usize::from(u16f(30));
        let comment_len = usize::from(u16f(32));
        let mut header_offset = u64::from(u32f(42));
        let name_start = pos + 46;
        let extra_start = name_start + name_len;
        let end = extra_start + extra_len + comment_len;
        let name_bytes = dir
            .get(name_start..extra_start)
            .ok_or_else(|| format!("central directory entry {} is truncated", members.len()))?;
        let extra = dir
            .get(extra_start..extra_start + extra_len)
            .ok_or_else(|| format!("central directory entry {} is truncated", members.len()))?;
        if end > dir.len() {
            return Err(format!(
                "central directory entry {} is truncated",
                members.len()
            ));
        }
        // Zip64 extended information: the 8-byte values whose 4-byte field is all ones.
        let mut e = 0usize;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let len = usize::from(u16_at(extra, e + 2).unwrap_or(0));
            let body = extra.get(e + 4..e + 4 + len).unwrap_or(&[]);
            if id == 0x0001 {
                let mut at = 0;
                for field in [&mut size, &mut compressed_size, &mut header_offset] {
                    if *field == 0xFFFF_FFFF {
                        if let Some(v) = u64_at(body, at) {
                            *field = v;
                        }
                        at += 8;
                    }
                }
            }
            e += 4 + len;
        }
        let name = match std::str::from_utf8(name_bytes) {
            Ok(s) => s.to_string(),
            // Not UTF-8: the legacy IBM 437 code page; wheels are ASCII in practice.
            Err(_) => name_bytes.iter().map(|&b| cp437(b)).collect(),
        };
        members.push(MemberInfo {
            index: members.len(),
            is_dir: name.ends_with('/'),
            name,
            size,
            compressed_size,
            compression: match method {
                0 => Compression::Stored,
                8 => Compression::Deflated,
                m => Compression::Other(m),
            },
            crc32,
            header_offset,
            encrypted: flags & 1 != 0,
        });
        pos = end;
    }
    Ok(members)
}

/// IBM code page 437 to Unicode: ASCII as is, the upper half as its letters and symbols.
fn cp437(b: u8) -> char {
    const HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";
    if b < 0x80 {
        char::from(b)
    } else {
        HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('?')
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;

    /// A reader that counts seeks, to show listing never visits local headers.
    struct Counting<R> {
        inner: R,
        seeks: usize,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.inner.read(buf)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.seeks += 1;
            self.inner.seek(pos)
        }
    }

    fn zip_with(n: usize, comment: &str, large: bool) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.set_comment(comment);
        for i in 0..n {
            let opts = SimpleFileOptions::default().large_file(large);
            w.start_file(format!("pkg/m{i}.py"), opts).unwrap();
            w.write_all(format!("x = {i}\n").as_bytes()).unwrap();
        }
        w.add_directory("pkg/sub/", SimpleFileOptions::default())
            .unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn lists_without_visiting_members() {
        let bytes = zip_with(200, "a comment", false);
        let mut r = Counting {
            inner: Cursor::new(bytes),
            seeks: 0,
        };
        let (loc, members) = read_central_directory(&mut r, "t.zip").unwrap();
        assert_eq!(loc.entries, 201);
        assert_eq!(members.len(), 201);
        assert!(r.seeks <= 3, "{} seeks", r.seeks);
        assert_eq!(members[5].name, "pkg/m5.py");
        assert_eq!(members[5].size, 6);
        assert!(members[200].is_dir);
        assert!(members[199].header_offset > members[198].header_offset);

        // The zip crate agrees on every entry.
        let mut z = zip::ZipArchive::new(Cursor::new(r.inner.into_inner())).unwrap();
        for m in &members {
            let f = z.by_index_raw(m.index).unwrap();
            assert_eq!(f.name(), m.name);
            assert_eq!(f.size(), m.size);
            assert_eq!(f.compressed_size(), m.compressed_size);
            assert_eq!(f.crc32(), m.crc32);
            assert_eq!(f.header_start(), m.header_offset);
        }
    }

    #[test]
    fn zip64_entries() {
        let bytes = zip_with(3, "", true);
        let (_, members) = read_central_directory(&mut Cursor::new(bytes.clone()), "z").unwrap();
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        for m in &members {
            let f = z.by_index_raw(m.index).unwrap();
            assert_eq!((f.size(), f.header_start()), (m.size, m.header_offset));
        }
    }

    #[test]
    fn zip64_end_record() {
        // Hand-made: one stored file, then a zip64 end record, locator and an end record
        // whose fields are all ones.
        let mut z = Vec::new();
        let name = b"a.txt";
        let data = b"hi";
        let crc = 0xd8932aac_u32; // crc32("hi")
        z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name);
        z.extend_from_slice(data);
        let cd_offset = z.len() as u64;
        z.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(name);
        let cd_size = z.len() as u64 - cd_offset;
        let zip64_offset = z.len() as u64;
        z.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        z.extend_from_slice(&44u64.to_le_bytes());
        z.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&1u64.to_le_bytes());
        z.extend_from_slice(&1u64.to_le_bytes());
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&cd_offset.to_le_bytes());
        z.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&zip64_offset.to_le_bytes());
        z.extend_from_slice(&1u32.to_le_bytes());
        z.extend_from_slice(&EOCD_SIG.to_le_bytes());
        z.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        z.extend_from_slice(&[0xFF; 8]);
        z.extend_from_slice(&0u16.to_le_bytes());
        let (loc, members) = read_central_directory(&mut Cursor::new(z), "h").unwrap();
        assert_eq!((loc.offset, loc.size, loc.entries), (cd_offset, cd_size, 1));
        assert_eq!(members[0].name, "a.txt");
        assert_eq!(members[0].crc32, crc);
    }

    #[test]
    fn damaged_directories_are_errors() {
        let bytes = zip_with(5, "", false);
        let (loc, _) = read_central_directory(&mut Cursor::new(bytes.clone()), "ok").unwrap();
        // Truncated anywhere: the end record is gone.
        for cut in [0, 1, 21, bytes.len() / 2, bytes.len() - 1] {
            let err = read_central_directory(&mut Cursor::new(bytes[..cut].to_vec()), "cut.whl")
                .unwrap_err()
                .to_string();
            assert!(err.contains("cut.whl"), "{err}");
        }
        // A damaged directory entry signature.
        let mut bad = bytes.clone();
        bad[loc.offset as usize + 1] ^= 0xff;
        let err = read_central_directory(&mut Cursor::new(bad), "sig.whl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("signature"), "{err}");
        // An end record that points past the end of the file.
        let mut bad = bytes.clone();
        let eocd = bad.len() - 22;
        bad[eocd + 16..eocd + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_central_directory(&mut Cursor::new(bad), "far.whl").is_err());
        // An end record announcing more entries than there are.
        let mut bad = bytes;
        bad[eocd + 10] = 9;
        let err = read_central_directory(&mut Cursor::new(bad), "count.whl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("announces"), "{err}");
    }

    #[test]
    fn code_page_437_names() {
        assert_eq!(cp437(b'a'), 'a');
        assert_eq!(cp437(0x80), 'Ç');
        assert_eq!(cp437(0x81), 'ü');
        assert_eq!(cp437(0xE1), 'ß');
        assert_eq!(cp437(0xFF), '\u{a0}');
    }
}
