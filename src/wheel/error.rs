//! The error type of the wheel layer: every message names the value that was wrong.

use std::path::PathBuf;

/// Everything that can go wrong while reading wheel names, tags, archives and environments.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    /// A wheel file name that does not follow `{dist}-{version}(-{build})?-{py}-{abi}-{plat}.whl`.
    #[error("invalid wheel file name {filename:?}: {reason}")]
    InvalidFilename {
        /// The file name as given.
        filename: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--python` value that is not a supported free-threaded interpreter.
    #[error(
        "unknown Python target {value:?}: expected a free-threaded interpreter such as 3.13t, 3.14t or 3.15t"
    )]
    UnknownPythonTarget {
        /// The value as given.
        value: String,
    },
    /// A `--platform` wheel tag that fits several platforms (`macosx_11_0_universal2`).
    #[error("platform tag {value:?} names several platforms ({platforms}): give one of them")]
    AmbiguousPlatform {
        /// The value as given.
        value: String,
        /// The platforms it fits, comma separated.
        platforms: String,
    },
    /// A `--platform` value that names no supported platform.
    #[error("unknown platform {value:?}: expected one of {expected}")]
    UnknownPlatform {
        /// The value as given.
        value: String,
        /// The accepted names, comma separated.
        expected: String,
    },
    /// The zip container could not be read (truncated, corrupt, unsupported feature).
    #[error("cannot read wheel {what}: {source}")]
    Zip {
        /// The archive or member being read.
        what: String,
        /// The zip library's error.
        #[source]
        source: zip::result::ZipError,
    },
    /// Reading a member failed part way (corrupt data, bad CRC, I/O error).
    #[error("cannot read member {member:?}: {source}")]
    MemberRead {
        /// The member's path inside the wheel.
        member: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A member is larger than the caller allows (declared or actually decompressed).
    #[error("member {member:?} is larger than the limit of {limit} bytes ({size})")]
    MemberTooLarge {
        /// The member's path inside the wheel.
        member: String,
        /// What was seen: the declared size, or "more than N bytes decompressed".
        size: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A member decompressed to a different size than its header declares.
    #[error("member {member:?} declares {declared} bytes but decompresses to {actual}")]
    MemberSizeMismatch {
        /// The member's path inside the wheel.
        member: String,
        /// Uncompressed size from the central directory.
        declared: u64,
        /// Bytes actually produced.
        actual: u64,
    },
    /// The wheel has no member of that name.
    #[error("wheel has no member {member:?}")]
    MemberNotFound {
        /// The path that was asked for.
        member: String,
    },
    /// The wheel has no `*.dist-info/` directory (or no `WHEEL` file inside it).
    #[error("wheel has no {what}")]
    MissingDistInfo {
        /// What is missing, e.g. "*.dist-info/WHEEL".
        what: String,
    },
    /// A metadata file (`WHEEL`, `METADATA`, `RECORD`, `pyvenv.cfg`) could not be understood.
    #[error("invalid {file}: {reason}")]
    InvalidMetadata {
        /// The file, e.g. `foo-1.0.dist-info/WHEEL`.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file system error while reading an installed environment.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path that is neither a virtual environment, a prefix nor a site-packages folder.
    #[error("{path} is not a Python environment or site-packages folder: {reason}")]
    NotAnEnvironment {
        /// The path as given.
        path: PathBuf,
        /// What was looked for.
        reason: String,
    },
}
