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

/// Every `Classifier` of a core metadata file (`METADATA`, `PKG-INFO`), in file order;
/// the description after the headers is not read.
pub fn classifiers(text: &str) -> Vec<String> {
    headers(text)
        .filter(|(key, _)| key.eq_ignore_ascii_case("classifier"))
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .collect()
}

/// The `Project-URL` fields of core metadata as `(label, url)` in file order, after the
/// `Home-page` (labelled `Homepage`) when there is one; fields without a URL are dropped.
pub fn project_urls(text: &str) -> Vec<(String, String)> {
    let mut home = None;
    let mut urls = Vec::new();
    for (key, value) in headers(text) {
        if key.eq_ignore_ascii_case("home-page") {
            let url = value.trim();
            if !url.is_empty() && !url.eq_ignore_ascii_case("UNKNOWN") {
                home = Some(("Homepage".to_string(), url.to_string()));
            }
        } else if key.eq_ignore_ascii_case("project-url") {
            // `Label, URL`: the label may not hold a comma, the URL may.
            if let Some((label, url)) = value.split_once(',') {
                let (label, url) = (label.trim(), url.trim());
                if !url.is_empty() {
                    urls.push((label.to_string(), url.to_string()));
                }
            }
        }
    }
    home.into_iter().chain(urls).collect()
}

/// The `Requires-Dist` values of core metadata (PEP 508 requirements), in order.
pub fn requires_dist(text: &str) -> Vec<String> {
    headers(text)
        .filter(|(key, _)| key.eq_ignore_ascii_case("requires-dist"))
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .collect()
}

/// The header fields of core metadata, read as the core metadata specification says
/// (RFC 822 as Python's `email` parser reads it): `Key: Value` lines, a line that starts
/// with a space or a tab continues the field before it — even when it holds nothing but
/// whitespace, as multi-line `License:` and `Description:` fields often do — and the
/// headers end at the first empty line or at a line that is not a field. One header is held
/// at a time (callers keep the few they use), so a hostile file of millions of header lines
/// costs no memory here.
fn headers(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let mut pending: Option<(String, String)> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        while !done {
            let Some(line) = lines.next() else {
                done = true;
                break;
            };
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                done = true;
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = pending.as_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            match line.split_once(':') {
                Some((key, value)) if is_field_name(key) => {
                    let next = (key.to_string(), value.trim().to_string());
                    if let Some(previous) = pending.replace(next) {
                        return Some(previous);
                    }
                }
                // Not a field: the body begins here (a file that forgot the empty line).
                _ => {
                    done = true;
                    break;
                }
            }
        }
        pending.take()
    })
}

/// A header field name: printable ASCII without spaces or colons (RFC 822).
fn is_field_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| (33..=126).contains(&b) && b != b':')
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
    /// errors. Blank lines are skipped. More than [`MAX_RECORD_ENTRIES`] rows is an error.
    pub fn parse(text: &str, file: &str) -> Result<Record, WheelError> {
        let mut entries = Vec::new();
        csv_rows(text, file, |row_no, blank, row| {
            if blank {
                return Ok(());
            }
            if entries.len() >= MAX_RECORD_ENTRIES {
                return Err(WheelError::InvalidMetadata {
                    file: file.to_string(),
                    reason: format!("more than {MAX_RECORD_ENTRIES} rows"),
                });
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
            Ok(())
        })?;
        Ok(Record { entries })
    }

    /// The entry for `path`, if any.
    pub fn get(&self, path: &str) -> Option<&RecordEntry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

/// Most rows a `RECORD` may have: one per file of the wheel, and wheels hold at most tens of
/// thousands. A 60 KB deflated member can hold 30 million one-letter rows (7 GB parsed).
pub const MAX_RECORD_ENTRIES: usize = 1_000_000;

/// Fields of a CSV row kept for the caller (`RECORD` has three).
const CSV_FIELDS: usize = 3;

/// Splits CSV text into rows (RFC 4180: `"` quotes, `""` escapes, CRLF or LF) and hands each
/// to `row_fn` with its index, whether all its fields are empty, and its first
/// [`CSV_FIELDS`] fields. Rows are not collected, and fields past those are not kept: a
/// hostile file of millions of blank lines or commas costs no memory.
fn csv_rows(
    text: &str,
    file: &str,
    mut row_fn: impl FnMut(usize, bool, Vec<String>) -> Result<(), WheelError>,
) -> Result<(), WheelError> {
    let mut row: Vec<String> = Vec::new();
    let mut blank = true;
    let mut field = String::new();
    let end_field = |row: &mut Vec<String>, blank: &mut bool, field: &mut String| {
        *blank &= field.is_empty();
        let field = std::mem::take(field);
        if row.len() < CSV_FIELDS {
            row.push(field);
        }
    };
    let mut row_no = 0;
    let mut fields_in_row = 0usize;
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
            ',' => {
                end_field(&mut row, &mut blank, &mut field);
                fields_in_row += 1;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_field(&mut row, &mut blank, &mut field);
                row_fn(row_no, blank, std::mem::take(&mut row))?;
                (row_no, blank, fields_in_row) = (row_no + 1, true, 0);
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
    if !field.is_empty() || fields_in_row > 0 {
        end_field(&mut row, &mut blank, &mut field);
        row_fn(row_no, blank, row)?;
    }
    Ok(())
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
    fn classifiers_come_from_the_headers_only() {
        let text = "Metadata-Version: 2.4\r\nName: x\r\nVersion: 1\r\n\
                    Classifier: Programming Language :: Python :: 3\r\n\
                    classifier: Programming Language :: Python :: Free Threading :: 3 - Stable\r\n\
                    Classifier:\r\n\
                    \r\n\
                    Classifier: in the description\n";
        assert_eq!(
            classifiers(text),
            [
                "Programming Language :: Python :: 3",
                "Programming Language :: Python :: Free Threading :: 3 - Stable"
            ]
        );
        assert!(classifiers("").is_empty());
    }

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
        // Fields past the third are ignored, but still make a row non-blank.
        let record = Record::parse("a,,1,x,y\n,,,,z\n", "R");
        assert!(
            record
                .unwrap_err()
                .to_string()
                .contains("row 2: empty path")
        );
    }

    /// Resource check regression: RECORD members of a 61 KB wheel deflating to 60 MB of
    /// newlines (21 s, 8.4 GB), 60 MB of commas (1.5 GB) or 30 million one-letter rows
    /// (7.2 GB) were parsed into a vector of every row and field first. Rows are now handed
    /// over one at a time, only three fields are kept, and rows are capped.
    #[test]
    fn hostile_records_are_cheap() {
        let blank = "\n".repeat(2_000_000);
        assert!(Record::parse(&blank, "R").unwrap().entries.is_empty());
        let commas = format!("a{}\n", ",".repeat(2_000_000));
        assert_eq!(Record::parse(&commas, "R").unwrap().entries.len(), 1);
        let rows = "a\n".repeat(MAX_RECORD_ENTRIES + 1);
        let err = Record::parse(&rows, "R").unwrap_err().to_string();
        assert!(err.contains("more than 1000000 rows"), "{err}");
    }

    /// Header lines are folded and handed over one at a time, the last one included.
    #[test]
    fn project_urls_are_label_and_url_with_the_home_page_first() {
        let text = "Metadata-Version: 2.1\nName: x\nVersion: 1\n\
Project-URL: Source Code, https://github.com/o/x\n\
Project-URL: Bug Tracker,https://github.com/o/x/issues?q=a,b\n\
Project-URL: no url here\n\
Home-page: https://x.example\n\nProject-URL: Body, https://not.a.header\n";
        assert_eq!(
            project_urls(text),
            [
                ("Homepage".to_string(), "https://x.example".to_string()),
                (
                    "Source Code".to_string(),
                    "https://github.com/o/x".to_string()
                ),
                (
                    "Bug Tracker".to_string(),
                    "https://github.com/o/x/issues?q=a,b".to_string()
                ),
            ]
        );
        assert!(project_urls("Name: x\nHome-page: UNKNOWN\n").is_empty());
    }

    #[test]
    fn headers_stream_with_continuations() {
        let text = "\u{feff}A: 1\r\nB: two\n  lines\n   \n\tthree\nC:3\nno colon\nD: 4\n\nE: body";
        let got: Vec<(String, String)> = headers(text).collect();
        let want = [("A", "1"), ("B", "two\nlines\n\nthree"), ("C", "3")];
        assert_eq!(got.len(), want.len());
        for ((k, v), (wk, wv)) in got.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
        assert_eq!(headers("X: 1").count(), 1);
        assert_eq!(headers("").count(), 0);
    }

    /// Real METADATA files whose multi-line `License` fields have whitespace-only lines:
    /// every `Requires-Dist` after them is read (counts from Python's `email.parser`).
    #[test]
    fn real_metadata_files_give_every_requirement() {
        let cases = [
            (
                include_str!("../../tests/fixtures/metadata/matplotlib.METADATA"),
                9,
                "contourpy>=1.0.1",
                "python-dateutil>=2.7",
            ),
            (
                include_str!("../../tests/fixtures/metadata/scipy.METADATA"),
                40,
                "numpy<2.8,>=2.0.0",
                "cython-lint>=0.12.2; extra == \"dev\"",
            ),
            (
                include_str!("../../tests/fixtures/metadata/pandas.METADATA"),
                48,
                "numpy>=2.0.2; python_version < \"3.14\"",
                "fastparquet>=2024.11.0; extra == \"all\"",
            ),
            (
                "Name: x\nLicense: line one\n        \n        line three\nRequires-Dist: a\n\nRequires-Dist: body\n",
                1,
                "a",
                "a",
            ),
        ];
        for (text, count, first, last) in cases {
            let got = requires_dist(text);
            assert_eq!(got.len(), count, "{got:?}");
            assert_eq!(got.first().map(String::as_str), Some(first));
            assert_eq!(got.last().map(String::as_str), Some(last));
        }
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
