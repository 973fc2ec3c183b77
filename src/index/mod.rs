//! The package index: the Simple API (PEP 691 JSON, PEP 503 HTML), the files of a project
//! with their hashes and metadata, and byte ranges of remote wheels.
//!
//! [`Fetch`] is the seam between the network and everything that reads wheels: the HTTP
//! client implements it, tests can implement it in memory. [`IndexClient`] is that client:
//! project pages, the optional project JSON, and ranged reads with retries, over HTTPS.

mod changelog;
mod client;
mod content_range;
mod limiter;
mod listing;
mod project_json;
mod range_cache;
mod retry;
mod simple_html;
mod simple_json;
mod transport;

use std::fmt;

pub mod metadata;
pub mod remote;
pub mod select;
pub mod xmlrpc;
pub use changelog::{Change, FeedError, decode_changes, decode_serial};
pub use client::{DEFAULT_INDEX_URL, IndexClient, IndexConfig, IndexError, USER_AGENT};
pub use listing::Listing;
pub use project_json::ProjectJson;

/// One distribution file a project page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    pub filename: String,
    /// Absolute URL (relative links are resolved against the page's URL).
    pub url: String,
    /// Hex sha256 from the index (`hashes.sha256` or the `#sha256=` URL fragment).
    pub sha256: Option<String>,
    /// Size in bytes when the index says (PEP 700).
    pub size: Option<u64>,
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked (reason may be empty).
    pub yanked: Option<String>,
    /// ISO 8601 upload time when the index says (PEP 700).
    pub upload_time: Option<String>,
}

/// A project's page on the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// Normalized project name.
    pub name: String,
    pub files: Vec<DistFile>,
}

/// The answer to a ranged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeBody {
    /// `206 Partial Content`: exactly the asked-for bytes; `total` is the file's length
    /// from `Content-Range` when the server said.
    Partial { bytes: Vec<u8>, total: Option<u64> },
    /// The server ignored `Range` and sent the whole file.
    Full(Vec<u8>),
}

/// Reads byte ranges of remote files. Implementations retry transient failures themselves;
/// an `Err` is final.
pub trait Fetch: Send + Sync {
    /// Bytes `[start, start + len)` of `url`.
    fn range(&self, url: &str, start: u64, len: u64) -> Result<RangeBody, FetchError>;
    /// The last `len` bytes of `url` (a suffix range, `bytes=-len`), which also tells the
    /// file's total length.
    fn tail(&self, url: &str, len: u64) -> Result<RangeBody, FetchError>;
    /// The whole file.
    fn get(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

/// Why a fetch failed for good (after retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: {message}")]
    Protocol { url: String, message: String },
}

impl FetchError {
    pub fn url(&self) -> &str {
        match self {
            FetchError::Status { url, .. }
            | FetchError::Network { url, .. }
            | FetchError::Protocol { url, .. } => url,
        }
    }
}

/// Counters of what went over the network, for `stats` in the JSON report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetStats {
    pub requests: u64,
    pub bytes: u64,
}

impl fmt::Display for NetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} request(s), {} byte(s)", self.requests, self.bytes)
    }
}

impl DistFile {
    /// A file known only by its name and URL (a lock's entry, a URL on the command line).
    pub fn new(filename: impl Into<String>, url: impl Into<String>) -> DistFile {
        DistFile {
            filename: filename.into(),
            url: url.into(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
        }
    }

    /// Checks `bytes` (the whole file) against the sha256 the index gave. `Ok` when the index
    /// gave none: there is nothing to check against.
    pub fn check_sha256(&self, bytes: &[u8]) -> Result<(), Sha256Mismatch> {
        let Some(expected) = &self.sha256 else {
            return Ok(());
        };
        let actual = sha256_hex(bytes);
        if actual.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(Sha256Mismatch {
                filename: self.filename.clone(),
                expected: expected.clone(),
                actual,
            })
        }
    }
}

/// A downloaded file whose sha256 differs from the one its index listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{filename}: sha256 is {actual}, the index says {expected}")]
pub struct Sha256Mismatch {
    pub filename: String,
    pub expected: String,
    pub actual: String,
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The PEP 503 normalized form of a project name: lower case, every run of `-`, `_` and `.`
/// replaced by one `-`. `None` when `name` is not a valid PEP 508 name (which also keeps
/// slashes, dots-only names and the like out of index URLs).
pub fn normalize_name(name: &str) -> Option<String> {
    if !is_valid_name(name) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator = false;
        }
    }
    Some(out)
}

/// PEP 508: ASCII letters and digits, with `-`, `_` and `.` allowed only inside.
fn is_valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    alnum(first)
        && alnum(last)
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_as_pep_503_says() {
        let cases = [
            ("MarkupSafe", Some("markupsafe")),
            ("zope.interface", Some("zope-interface")),
            ("Foo__Bar-._baz", Some("foo-bar-baz")),
            ("a", Some("a")),
            ("", None),
            ("-lead", None),
            ("trail.", None),
            ("../etc", None),
            ("has space", None),
            ("a/b", None),
        ];
        for (name, want) in cases {
            assert_eq!(normalize_name(name).as_deref(), want, "{name:?}");
        }
    }

    #[test]
    fn checks_sha256_against_the_index() {
        let mut file = DistFile {
            filename: "x-1-py3-none-any.whl".into(),
            url: "https://example.org/x".into(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
        };
        assert!(file.check_sha256(b"abc").is_ok());
        file.sha256 =
            Some("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD".into());
        assert!(file.check_sha256(b"abc").is_ok());
        let err = file.check_sha256(b"abd").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x-1-py3-none-any.whl: sha256 is ")
        );
    }
}
