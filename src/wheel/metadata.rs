//! The `*.dist-info` files gilfree reads: `WHEEL` (tags, `Root-Is-Purelib`), `METADATA`
//! (`Name`, `Version`) and `RECORD` (the installed files, with hashes and sizes).

use sha2::{Digest, Sha256};

use super::WheelError;
use super::tags::WheelTag;

/// The `*.dist-info/WHEEL` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WheelInfo {
    /// `Wheel-Version`, e.g. `1.0`.
    pub wheel_version: Option<String>,
    /// `Generator`, e.g. `maturin (1.9.4)`.
    pub generator: Option<String>,
    /// `Root-Is-Purelib`: whether the root installs into purelib.
    pub root_is_purelib: Option<bool>,
    /// The `Tag` lines as written, e.g. `cp314-cp314t-manylinux_2_17_x86_64`.
    pub tags: Vec<String>,
    /// `Build`, when present.
    pub build: Option<String>,
}

impl WheelInfo {
    /// Parses the text of a `WHEEL` file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<WheelInfo, WheelError> {
        let mut info = WheelInfo::default();
        for (key, value) in headers(text) {
            match key.to_ascii_lowercase().as_str() {
                "wheel-version" => info.wheel_version = Some(value),
                "generator" => info.generator = Some(value),
                "root-is-purelib" => {
                    info.root_is_purelib = Some(match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(WheelError::InvalidMetadata {
                                file: file.to_string(),
                                reason: format!("Root-Is-Purelib is {value:?}, not true or false"),
                            });
                        }
                    })
                }
                "tag" => info.tags.push(value),
                "build" => info.build = Some(value),
                _ => {}
            }
        }
        if info.wheel_version.is_none() && info.tags.is_empty() {
            return Err(WheelError::InvalidMetadata {
                file: file.to_string(),
                reason: "no Wheel-Version and no Tag line".to_string(),
            });
        }
        Ok(info)
    }

    /// Every tag triple, with any compressed sets expanded; malformed lines are skipped.
    pub fn expanded_tags(&self) -> Vec<WheelTag> {
        self.tags
            .iter()
            .filter_map(|t| WheelTag::expand(t))
            .flatten()
            .collect()
    }
}

/// The fields of core metadata (`METADATA`, `PKG-INFO`) that gilfree uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Metadata-Version`.
    pub metadata_version: Option<String>,
    /// `Name` as written.
    pub name: String,
    /// `Version` as written.
    pub version: String,
    /// `Requires-Python`, when present.
    pub requires_python: Option<String>,
}

impl CoreMetadata {
    /// Parses the header part of a `METADATA` file (the body after the first blank line is
    /// the description and is ignored); `file` names it in errors. `Name` and `Version` are
    /// required.
    pub fn parse(text: &str, file: &str) -> Result<CoreMetadata, WheelError> {
        let mut meta = CoreMetadata::default();
        let (mut name, mut version) = (None, None);
        for (key, value) in headers(text) {
            match key.to_ascii_lowercase().as_str() {
                "metadata-version" => meta.metadata_version = Some(value),
                "name" if name.is_none() => name = Some(value),
                "version" if version.is_none() => version = Some(value),
                "requires-python" => meta.requires_python = Some(value),
                _ => {}
            }
        }
        let missing = |field: &str| WheelError::InvalidMetadata {
            file: file.to_string(),
            reason: format!("no {field} field"),
        };
        meta.name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("Name"))?;
        meta.version = version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("Version"))?;
        Ok(meta)
    }
}

/// `Key: Value` lines up to the first blank line, with RFC 822 continuation lines folded in.
fn headers(text: &str) -> Vec<(String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            out.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// One line of a `RECORD` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The path, relative to the wheel root / site-packages (may start with `../`).
    pub path: String,
    /// The hash as written, e.g. `sha256=<urlsafe base64>`; `None` when empty.
    pub hash: Option<String>,
    /// The size in bytes; `None` when empty.
    pub size: Option<u64>,
}

impl RecordEntry {
    /// Whether `data` has this entry's `sha256` hash. `None` when the entry has no hash or
    /// uses another algorithm.
    pub fn verify_sha256(&self, data: &[u8]) -> Option<bool> {
        let digest = self.hash.as_deref()?.strip_prefix("sha256=")?;
        let computed = urlsafe_b64_nopad(&Sha256::digest(data));
        Some(computed == digest.trim_end_matches('='))
    }
}

/// A parsed `RECORD` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The entries, in file order.
    pub entries: Vec<RecordEntry>,
}

impl Record {
    /// Parses a `RECORD` file (CSV: `path,hash,size`, with `"` quoting); `file` names it in
    /// errors. Blank lines are skipped.
    pub fn parse(text: &str, file: &str) -> Result<Record, WheelError> {
        let mut entries = Vec::new();
        for (row_no, row) in csv_rows(text, file)?.into_iter().enumerate() {
            if row.iter().all(String::is_empty) {
                continue;
            }
            let mut fields = row.into_iter();
            let path = fields.next().unwrap_or_default();
            let hash = fields.next().filter(|h| !h.is_empty());
            let size = match fields.next().filter(|s| !s.trim().is_empty()) {
                None => None,
                Some(s) => Some(s.trim().parse().map_err(|_| WheelError::InvalidMetadata {
                    file: file.to_string(),
                    reason: format!("row {}: size {s:?} is not a number", row_no + 1),
                })?),
            };
            if path.is_empty() {
                return Err(WheelError::InvalidMetadata {
                    file: file.to_string(),
                    reason: format!("row {}: empty path", row_no + 1),
                });
            }
            entries.push(RecordEntry { path, hash, size });
        }
        Ok(Record { entries })
    }

    /// The entry for `path`, if any.
    pub fn get(&self, path: &str) -> Option<&RecordEntry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

/// Splits CSV text into rows of fields (RFC 4180: `"` quotes, `""` escapes, CRLF or LF).
fn csv_rows(text: &str, file: &str) -> Result<Vec<Vec<String>>, WheelError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
            }
            c => field.push(c),
        }
    }
    if in_quotes {
        return Err(WheelError::InvalidMetadata {
            file: file.to_string(),
            reason: format!("unterminated quoted field at line {line}"),
        });
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// URL-safe base64 without padding, as `RECORD` hashes are written.
fn urlsafe_b64_nopad(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file() {
        let text = "Wheel-Version: 1.0\r\nGenerator: maturin (1.9.4)\r\nRoot-Is-Purelib: false\r\n\
                    Tag: cp314-cp314t-manylinux_2_17_x86_64\r\nTag: cp314-cp314t-manylinux2014_x86_64\r\n";
        let info = WheelInfo::parse(text, "x.dist-info/WHEEL").unwrap();
        assert_eq!(info.wheel_version.as_deref(), Some("1.0"));
        assert_eq!(info.generator.as_deref(), Some("maturin (1.9.4)"));
        assert_eq!(info.root_is_purelib, Some(false));
        assert_eq!(info.tags.len(), 2);
        assert_eq!(info.expanded_tags()[1].platform, "manylinux2014_x86_64");

        let info = WheelInfo::parse(
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2.py3-none-any\nBuild: 1\n",
            "w",
        )
        .unwrap();
        assert_eq!(info.expanded_tags().len(), 2);
        assert_eq!(info.build.as_deref(), Some("1"));

        let err = WheelInfo::parse("Wheel-Version: 1.0\nRoot-Is-Purelib: maybe\n", "a/WHEEL")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a/WHEEL") && err.contains("\"maybe\""),
            "{err}"
        );
        let err = WheelInfo::parse("garbage\n", "b/WHEEL")
            .unwrap_err()
            .to_string();
        assert!(err.contains("b/WHEEL"), "{err}");
    }

    #[test]
    fn metadata_file() {
        let text = "Metadata-Version: 2.4\nName: pydantic_core\nVersion: 2.50.4\n\
                    Summary: Core\n  continued\nRequires-Python: >=3.9\n\nName: not-this\n";
        let meta = CoreMetadata::parse(text, "METADATA").unwrap();
        assert_eq!(meta.name, "pydantic_core");
        assert_eq!(meta.version, "2.50.4");
        assert_eq!(meta.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(meta.metadata_version.as_deref(), Some("2.4"));
        let err = CoreMetadata::parse("Name: x\n", "x-1.dist-info/METADATA")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Version") && err.contains("x-1.dist-info/METADATA"),
            "{err}"
        );
    }

    #[test]
    fn record_file() {
        let text = "foo/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\r\n\
                    \"foo/a,b.py\",sha256=abc,12\r\n\
                    \"foo/\"\"q\"\".py\",,\r\n\
                    ../../bin/foo,,\r\n\
                    \r\n\
                    foo-1.0.dist-info/RECORD,,";
        let record = Record::parse(text, "RECORD").unwrap();
        let paths: Vec<&str> = record.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "foo/__init__.py",
                "foo/a,b.py",
                "foo/\"q\".py",
                "../../bin/foo",
                "foo-1.0.dist-info/RECORD"
            ]
        );
        assert_eq!(record.entries[0].size, Some(0));
        assert_eq!(record.entries[1].size, Some(12));
        assert_eq!(record.entries[2].hash, None);
        assert_eq!(record.entries[0].verify_sha256(b""), Some(true));
        assert_eq!(record.entries[0].verify_sha256(b"x"), Some(false));
        assert_eq!(record.entries[2].verify_sha256(b""), None);
        assert!(record.get("foo/a,b.py").is_some());

        let err = Record::parse("a,sha256=x,big\n", "R")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"big\""), "{err}");
        let err = Record::parse("\"a,b\n", "R").unwrap_err().to_string();
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn base64_matches_known_values() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (&[0xfb, 0xff], "-_8"),
        ];
        for (data, want) in cases {
            assert_eq!(urlsafe_b64_nopad(data), want);
        }
    }
}
