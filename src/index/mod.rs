//! The package index: the Simple API (PEP 691 JSON, PEP 503 HTML), the files of a project
//! with their hashes and metadata, and byte ranges of remote wheels.
//!
//! [`Fetch`] is the seam between the network and everything that reads wheels: the HTTP
//! client implements it, tests can implement it in memory.

use std::fmt;

pub mod remote;
pub mod select;

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
