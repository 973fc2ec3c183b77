//! Input parsers for `gilfree audit`: every supported dependency file becomes a list of
//! [`Requirement`]s, each carrying the file and line it came from.
//!
//! [`parse_file`] detects the format from the file name, and from the content when the name
//! says nothing, then hands the file to one parser per format. A broken or unknown file is a
//! [`LockError`] naming the file and line; no parser returns a partial result.
//!
//! Environment markers are kept as text on each requirement and evaluated for a chosen
//! [`Target`] (not for the machine gilfree runs on) with [`Requirement::applies`] or
//! [`markers::applies`].

pub mod environment;
pub mod markers;
pub mod pdm;
pub mod pipfile;
pub mod poetry;
pub mod pylock;
pub mod pyproject;
pub mod requirements;
pub mod uv;

use std::fmt;
use std::path::{Path, PathBuf};

pub use markers::{Target, TargetError, applies};

/// One dependency read from an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The project name, normalized as PEP 503 says (lower case, runs of `-_.` become `-`).
    pub name: String,
    /// The exact version when the input pins one (`==1.2.3`, or the version a lock chose).
    pub version: Option<String>,
    /// The version specifier when the input does not pin one (`>=1.2,<2`).
    pub specifier: Option<String>,
    /// Extras asked for, normalized.
    pub extras: Vec<String>,
    /// The PEP 508 environment marker, if any; see [`Requirement::applies`].
    pub marker: Option<String>,
    /// Where the requirement was written.
    pub source: Source,
    /// Whether the requirement can be audited from the package index.
    pub kind: Kind,
    /// Files the lock lists for this package (wheels and source distributions).
    pub wheels: Vec<LockedFile>,
    /// Hashes the input allows (`--hash=sha256:...`, or the lock's hashes without file names).
    pub hashes: Vec<String>,
    /// The group the requirement belongs to, when the input has groups: an extra, a dependency
    /// group, Pipfile's `develop`, Poetry's and PDM's groups. `None` means the main dependencies.
    pub group: Option<String>,
}

impl Requirement {
    /// A requirement from the index with only a name and a source; the parsers fill the rest.
    pub fn new(name: &str, source: Source) -> Self {
        Requirement {
            name: normalize_name(name),
            version: None,
            specifier: None,
            extras: Vec::new(),
            marker: None,
            source,
            kind: Kind::Index,
            wheels: Vec::new(),
            hashes: Vec::new(),
            group: None,
        }
    }

    /// Whether this requirement applies to `target`: true when it has no marker or its marker
    /// holds there.
    pub fn applies(&self, target: &Target) -> bool {
        match &self.marker {
            None => true,
            Some(m) => markers::applies(m, target),
        }
    }

    /// The wheels among [`Requirement::wheels`] (the files whose names end in `.whl`).
    pub fn wheel_files(&self) -> impl Iterator<Item = &LockedFile> {
        self.wheels.iter().filter(|f| f.filename.ends_with(".whl"))
    }
}

/// The file and 1-based line a requirement was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub file: PathBuf,
    pub line: usize,
}

impl Source {
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Source {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Where a requirement comes from, which decides whether it can be audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A release on a package index: auditable.
    Index,
    /// A direct URL to an archive.
    Url(String),
    /// A local file or directory.
    Path(String),
    /// An editable install (`-e`), of a path or a VCS checkout.
    Editable(String),
    /// A version-control checkout (`git+https://...`).
    Vcs(String),
}

impl Kind {
    /// Whether the requirement can be audited from the package index.
    pub fn is_auditable(&self) -> bool {
        matches!(self, Kind::Index)
    }
}

/// A file a lock lists for a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    pub filename: String,
    pub url: Option<String>,
    /// The SHA-256 digest in hex, when the lock gives one.
    pub sha256: Option<String>,
}

/// The supported input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Requirements,
    UvLock,
    Pylock,
    PoetryLock,
    PipfileLock,
    PdmLock,
    Pyproject,
    /// An installed environment: a virtualenv, a prefix or a site-packages folder.
    Environment,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Requirements => "requirements",
            Format::UvLock => "uv.lock",
            Format::Pylock => "pylock.toml",
            Format::PoetryLock => "poetry.lock",
            Format::PipfileLock => "Pipfile.lock",
            Format::PdmLock => "pdm.lock",
            Format::Pyproject => "pyproject.toml",
            Format::Environment => "environment",
        })
    }
}

/// Everything read from one input file (and, for requirements files, its includes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub format: Format,
    pub requirements: Vec<Requirement>,
    /// Requirements from constraints files included with `-c`: they limit versions but do not
    /// add packages.
    pub constraints: Vec<Requirement>,
    /// Package indexes named by the input, in order, without repeats.
    pub index_urls: Vec<String>,
    /// A requirements file's `-i` / `--index-url`: the index it installs from.
    pub primary_index: Option<String>,
    /// A requirements file's `--extra-index-url`s, in order.
    pub extra_index_urls: Vec<String>,
    /// For an installed environment: the folder given (see [`environment`]).
    pub environment: Option<PathBuf>,
}

impl Parsed {
    fn new(format: Format) -> Self {
        Parsed {
            format,
            requirements: Vec::new(),
            constraints: Vec::new(),
            index_urls: Vec::new(),
            primary_index: None,
            extra_index_urls: Vec::new(),
            environment: None,
        }
    }

    fn add_index(&mut self, url: &str) {
        if !self.index_urls.iter().any(|u| u == url) {
            self.index_urls.push(url.to_string());
        }
    }

    /// The requirements that apply to `target`.
    pub fn for_target<'a>(&'a self, target: &'a Target) -> impl Iterator<Item = &'a Requirement> {
        self.requirements.iter().filter(move |r| r.applies(target))
    }
}

/// Why an input could not be read. Every variant names the file, and the line when known.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: unknown input format (expected requirements*.txt, constraints*.txt, *.in, uv.lock, pylock.toml, poetry.lock, Pipfile.lock, pdm.lock or pyproject.toml)",
        file.display()
    )]
    UnknownFormat { file: PathBuf },
    #[error("{}: not an installed environment: {message}", file.display())]
    Environment { file: PathBuf, message: String },
    #[error("{}:{line}: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}:{line}: include loop: {} is already being read", file.display(), target.display())]
    IncludeLoop {
        file: PathBuf,
        line: usize,
        target: PathBuf,
    },
    #[error("{}:{line}: environment variable {name} is not set", file.display())]
    MissingVariable {
        file: PathBuf,
        line: usize,
        name: String,
    },
}

impl LockError {
    pub(crate) fn syntax(file: &Path, line: usize, message: impl Into<String>) -> Self {
        LockError::Syntax {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            LockError::Io { file, .. }
            | LockError::UnknownFormat { file }
            | LockError::Syntax { file, .. }
            | LockError::IncludeLoop { file, .. }
            | LockError::MissingVariable { file, .. }
            | LockError::Environment { file, .. } => file,
        }
    }

    /// The 1-based line the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            LockError::Syntax { line, .. }
            | LockError::IncludeLoop { line, .. }
            | LockError::MissingVariable { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// Normalizes a project name as PEP 503 says: lower case, each run of `-`, `_` and `.` one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Reads and parses one input file, choosing the format by its name and content; a folder is
/// read as an installed environment.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Parsed, LockError> {
    let path = path.as_ref();
    if path.is_dir() {
        return environment::parse(path);
    }
    let text = std::fs::read_to_string(path).map_err(|source| LockError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    match detect_format(path, &text) {
        Some(Format::Requirements) => requirements::parse_file(path),
        Some(format) => parse_str(format, path, &text),
        None => Err(LockError::UnknownFormat {
            file: path.to_path_buf(),
        }),
    }
}

/// Parses `text` as `format`; `path` is used for sources and errors (and, for requirements
/// files, to resolve includes).
pub fn parse_str(format: Format, path: &Path, text: &str) -> Result<Parsed, LockError> {
    match format {
        Format::Requirements => requirements::parse_str(path, text),
        Format::UvLock => uv::parse_str(path, text),
        Format::Pylock => pylock::parse_str(path, text),
        Format::PoetryLock => poetry::parse_str(path, text),
        Format::PipfileLock => pipfile::parse_str(path, text),
        Format::PdmLock => pdm::parse_str(path, text),
        Format::Pyproject => pyproject::parse_str(path, text),
        Format::Environment => Err(LockError::UnknownFormat {
            file: path.to_path_buf(),
        }),
    }
}

/// Chooses the format of `path` from its file name, then from `text` when the name is not one
/// of the known ones. `None` when neither tells.
pub fn detect_format(path: &Path, text: &str) -> Option<Format> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "uv.lock" => return Some(Format::UvLock),
        "pylock.toml" => return Some(Format::Pylock),
        "poetry.lock" => return Some(Format::PoetryLock),
        "pipfile.lock" => return Some(Format::PipfileLock),
        "pdm.lock" => return Some(Format::PdmLock),
        "pyproject.toml" => return Some(Format::Pyproject),
        _ => {}
    }
    if lower.starts_with("pylock.") && lower.ends_with(".toml") {
        return Some(Format::Pylock);
    }
    // Rye writes pip-compile output to requirements.lock and requirements-dev.lock.
    if ((lower.starts_with("requirements") || lower.starts_with("constraints"))
        && (lower.ends_with(".txt") || lower.ends_with(".lock")))
        || lower.ends_with(".in")
    {
        return Some(Format::Requirements);
    }
    sniff(&lower, text)
}

/// Guesses the format from the content, for files with other names.
fn sniff(lower_name: &str, text: &str) -> Option<Format> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        return value
            .get("_meta")
            .filter(|m| m.get("pipfile-spec").is_some())
            .map(|_| Format::PipfileLock);
    }
    if let Ok(table) = text.parse::<toml::Table>() {
        if table.contains_key("lock-version") && table.contains_key("packages") {
            return Some(Format::Pylock);
        }
        let metadata = table.get("metadata").and_then(|m| m.as_table());
        if let Some(meta) = metadata {
            if meta.contains_key("lock_version") || meta.contains_key("groups") {
                return Some(Format::PdmLock);
            }
            if meta.contains_key("lock-version") || meta.contains_key("content-hash") {
                return Some(Format::PoetryLock);
            }
        }
        if table.contains_key("version") && table.contains_key("package") {
            return Some(Format::UvLock);
        }
        if table.contains_key("project")
            || table.contains_key("build-system")
            || table.contains_key("dependency-groups")
        {
            return Some(Format::Pyproject);
        }
    }
    if lower_name.ends_with(".txt") {
        return Some(Format::Requirements);
    }
    None
}

/// The 1-based line of byte offset `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turns a TOML parse or shape error into a [`LockError`] at the line the error points to.
pub(crate) fn toml_error(path: &Path, text: &str, err: toml::de::Error) -> LockError {
    let line = err.span().map(|s| line_at(text, s.start)).unwrap_or(1);
    LockError::syntax(path, line, err.message().trim().to_string())
}

/// Deserializes a TOML document, naming the line of the first problem.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, LockError> {
    toml::from_str(text).map_err(|e| toml_error(path, text, e))
}

/// Splits a `sha256:<hex>` hash into its hex digest; other algorithms give `None`.
pub(crate) fn sha256_of(hash: &str) -> Option<String> {
    hash.strip_prefix("sha256:")
        .or_else(|| hash.strip_prefix("sha256="))
        .map(str::to_string)
}

/// The last path segment of a URL, without query or fragment: the file name of an archive.
pub(crate) fn url_filename(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].rsplit('/').next().unwrap_or("").to_string()
}

/// Parses a PEP 508 marker and returns it in canonical text form, or `None` when it always
/// holds. Errors name the marker.
pub(crate) fn check_marker(marker: &str) -> Result<Option<String>, String> {
    let marker = marker.trim();
    if marker.is_empty() {
        return Ok(None);
    }
    let tree: pep508_rs::MarkerTree = marker
        .parse()
        .map_err(|e| format!("invalid environment marker {marker:?}: {e}"))?;
    Ok(tree.try_to_string())
}

/// Classifies an exact `==` specifier as a pin: returns `(version, specifier)`.
pub(crate) fn split_pin(spec: &str) -> Result<(Option<String>, Option<String>), String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "*" {
        return Ok((None, None));
    }
    let parsed: pep440_rs::VersionSpecifiers = spec
        .parse()
        .map_err(|e| format!("invalid version specifier {spec:?}: {e}"))?;
    Ok(pin_or_specifier(&parsed))
}

pub(crate) fn pin_or_specifier(
    specs: &pep440_rs::VersionSpecifiers,
) -> (Option<String>, Option<String>) {
    use pep440_rs::Operator;
    if specs.len() == 1 {
        let s = &specs[0];
        if matches!(s.operator(), Operator::Equal | Operator::ExactEqual) {
            return (Some(s.version().to_string()), None);
        }
    }
    if specs.is_empty() {
        (None, None)
    } else {
        (None, Some(specs.to_string()))
    }
}

/// Checks that a lock's version string is a PEP 440 version.
pub(crate) fn check_version(version: &str) -> Result<String, String> {
    version
        .trim()
        .parse::<pep440_rs::Version>()
        .map(|_| version.trim().to_string())
        .map_err(|e| format!("invalid version {version:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        for (raw, want) in [
            ("Foo", "foo"),
            ("foo_bar", "foo-bar"),
            ("Foo.Bar__baz", "foo-bar-baz"),
            ("zope.interface", "zope-interface"),
            ("a-_-b", "a-b"),
        ] {
            assert_eq!(normalize_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn detects_formats_by_name() {
        for (name, want) in [
            ("requirements.txt", Some(Format::Requirements)),
            ("requirements-dev.txt", Some(Format::Requirements)),
            ("constraints.txt", Some(Format::Requirements)),
            ("dev.in", Some(Format::Requirements)),
            ("requirements-dev.lock", Some(Format::Requirements)),
            ("uv.lock", Some(Format::UvLock)),
            ("pylock.toml", Some(Format::Pylock)),
            ("pylock.dev.toml", Some(Format::Pylock)),
            ("poetry.lock", Some(Format::PoetryLock)),
            ("Pipfile.lock", Some(Format::PipfileLock)),
            ("pdm.lock", Some(Format::PdmLock)),
            ("pyproject.toml", Some(Format::Pyproject)),
            ("deps.lock", None),
        ] {
            assert_eq!(detect_format(Path::new(name), ""), want, "{name}");
        }
    }

    #[test]
    fn detects_formats_by_content() {
        for (text, want) in [
            (
                "{\"_meta\": {\"pipfile-spec\": 6}}",
                Some(Format::PipfileLock),
            ),
            (
                "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\n",
                Some(Format::Pylock),
            ),
            (
                "version = 1\n[[package]]\nname = \"a\"\n",
                Some(Format::UvLock),
            ),
            (
                "[metadata]\nlock-version = \"2.0\"\n",
                Some(Format::PoetryLock),
            ),
            (
                "[metadata]\nlock_version = \"4.5.0\"\n",
                Some(Format::PdmLock),
            ),
            ("[project]\nname = \"a\"\n", Some(Format::Pyproject)),
            ("numpy==2\n", None),
        ] {
            assert_eq!(detect_format(Path::new("x.lock"), text), want, "{text}");
        }
    }

    #[test]
    fn splits_pins() {
        for (spec, want) in [
            ("==1.2.3", (Some("1.2.3"), None)),
            ("===1.0", (Some("1.0"), None)),
            (">=1,<2", (None, Some(">=1, <2"))),
            ("==1.*", (None, Some("==1.*"))),
            ("*", (None, None)),
            ("", (None, None)),
        ] {
            let (v, s) = split_pin(spec).unwrap();
            assert_eq!((v.as_deref(), s.as_deref()), want, "{spec}");
        }
        assert!(split_pin(">>1").is_err());
    }
}
