//! Wheels: file names, tags and the extension modules inside.
//!
//! - [`filename`]: parse `{dist}-{ver}(-{build})?-{py}-{abi}-{plat}.whl` ([`WheelFilename`]).
//! - [`tags`]: the interpreter, ABI and platform tags ([`WheelTag`], [`PlatformTag`]).
//! - [`target`]: the free-threaded interpreters and platforms gilfree targets
//!   ([`PythonTarget`], [`Platform`]) and the extension suffixes each loads.
//! - [`compat`]: would an installer pick this wheel for a target ([`check_wheel`]).
//! - [`members`]: which members are extension modules, their module names and init hooks
//!   ([`classify_member`], [`hook_names`]).
//! - [`archive`]: reading a wheel as a zip, with bounded member reads ([`WheelArchive`]).
//! - [`zipdir`]: the zip central directory alone ([`read_central_directory`]).
//! - [`metadata`]: the `WHEEL`, `METADATA` and `RECORD` files.
//! - [`installed`]: extension modules of an installed environment ([`InstalledEnv`]).

pub mod archive;
pub mod compat;
mod error;
pub mod filename;
pub mod installed;
pub mod members;
pub mod metadata;
pub mod punycode;
pub mod tags;
pub mod target;
pub mod zipdir;

pub use archive::{DEFAULT_MEMBER_LIMIT, WheelArchive};
pub use compat::{AbiMismatch, Compatibility, MatchKind, check_tags, check_wheel};
pub use error::WheelError;
pub use filename::{BuildTag, WheelFilename, normalize_name};
pub use installed::{
    InstalledDistribution, InstalledEnv, InstalledScan, NativeFile, SoabiTag, parse_soabi,
};
pub use members::{
    ClassifiedMember, ExtensionModule, ForeignExtension, ForeignReason, HookNames, LibraryReason,
    MemberKind, SharedLibrary, SuffixKind, classify_member, classify_members, hook_names,
    import_path, module_name,
};
pub use metadata::{CoreMetadata, Record, RecordEntry, WheelInfo};
pub use tags::{AbiTag, PlatformTag, PythonTag, WheelTag};
pub use target::{OsFamily, Platform, PythonTarget};
pub use zipdir::{CentralDirectoryLocation, Compression, MemberInfo, read_central_directory};
