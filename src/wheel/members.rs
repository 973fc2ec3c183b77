//! Which members of a wheel (or files of a site-packages) a target interpreter would import
//! as extension modules, under which module name and init hook, and which native files are
//! modules for another interpreter or plain shared libraries.
//!
//! The interpreter's rule (detection.md §2): an extension module `a.b.c` is the file
//! `a/b/c<suffix>` for the first suffix of its list (see
//! [`PythonTarget::extension_suffixes`]) that exists. So a file is loaded only when its name is
//! exactly an identifier followed by one of those suffixes, and every directory above it is an
//! identifier too (`numpy.libs/` is not importable). Wheel paths under
//! `<name>-<ver>.data/platlib/` or `purelib/` are installed at the root; other `.data/`
//! directories and `*.dist-info/` are not importable.

use std::collections::HashMap;

use super::punycode;
use super::tags::AbiTag;
use super::target::{OsFamily, Platform, PythonTarget};

/// What a member is for a target interpreter and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    /// The target imports this file as an extension module.
    Extension(ExtensionModule),
    /// A native extension module built for another interpreter, ABI or platform: the target
    /// would not load it, or (`loaded_by_target`) would load it although it was not built for
    /// the target's ABI. Report it as `incompatible`.
    ForeignExtension(ForeignExtension),
    /// Native code that is not an extension module by its name: bundled libraries
    /// (`*.libs/*.so.1`, `torch/lib/libtorch.so`, `.dylib`, `.dll`).
    SharedLibrary(SharedLibrary),
    /// Not native code (Python source, data, import libraries, directories, …).
    Other,
}

/// A member the target interpreter loads as an extension module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionModule {
    /// The dotted module name, e.g. `lxml.etree`; `pkg/__init__.<suffix>` gives `pkg`.
    pub module: String,
    /// The suffix that matched, e.g. `.cpython-314t-x86_64-linux-gnu.so`.
    pub suffix: String,
    /// Which kind of suffix it is.
    pub suffix_kind: SuffixKind,
    /// Position of the suffix in the target's search order (0 is tried first). When two files
    /// give the same module, the lower rank is the one imported.
    pub rank: usize,
}

impl ExtensionModule {
    /// The init hook names for this module.
    pub fn hooks(&self) -> HookNames {
        hook_names(&self.module)
    }
}

/// The kinds of suffix a target loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuffixKind {
    /// Version and ABI specific: `.cpython-314t-x86_64-linux-gnu.so`, `.cp314t-win_amd64.pyd`.
    Versioned,
    /// The free-threaded stable ABI (3.15t+): `.abi3t-<multiarch>.so`, `.abi3t.so`.
    Abi3t,
    /// Untagged: `.so` or `.pyd`. Could be a module for any version, or a library that
    /// exports no init hook (the inspector decides).
    Bare,
}

/// A native extension module that does not fit the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignExtension {
    /// The module name it would have (`pkg.mod`).
    pub module: String,
    /// Its suffix, e.g. `.cpython-314-x86_64-linux-gnu.so`.
    pub suffix: String,
    /// Why it does not fit.
    pub reason: ForeignReason,
    /// Whether the target would still try to load it (`.abi3.so` on 3.13t/3.14t).
    pub loaded_by_target: bool,
}

/// Why a native extension module does not fit the target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForeignReason {
    /// Built for the GIL-enabled build of the target's version (`cpython-314`, `cp314`).
    GilBuild,
    /// Built for another CPython version; the minor version, e.g. 13 for `cpython-313t`.
    OtherVersion(u32),
    /// Built for a debug build (`cpython-314td`).
    DebugBuild,
    /// Built for another operating system or architecture (`-aarch64-linux-gnu` on x86_64,
    /// `-linux-musl` on glibc, `.pyd` outside Windows, `-darwin` on Linux).
    OtherPlatform,
    /// Built for PyPy, GraalPy or another implementation.
    OtherImplementation,
    /// Built for the GIL stable ABI (`.abi3.so`): 3.13t and 3.14t try to load `.abi3.so`,
    /// but no abi3 extension can target their ABI.
    Abi3OnFreeThreaded,
    /// Built for the GIL stable ABI, which 3.15t no longer tries to load.
    Abi3NotLoaded,
    /// Built for the free-threaded stable ABI (`abi3t`), which 3.13t and 3.14t predate.
    Abi3tUnsupported,
}

impl std::fmt::Display for ForeignReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForeignReason::GilBuild => f.write_str("built for the GIL-enabled interpreter"),
            ForeignReason::OtherVersion(minor) => write!(f, "built for Python 3.{minor}"),
            ForeignReason::DebugBuild => f.write_str("built for a debug interpreter"),
            ForeignReason::OtherPlatform => f.write_str("built for another platform"),
            ForeignReason::OtherImplementation => {
                f.write_str("built for another Python implementation")
            }
            ForeignReason::Abi3OnFreeThreaded => f.write_str(
                "built for the GIL stable ABI (abi3), which free-threaded 3.13/3.14 cannot use",
            ),
            ForeignReason::Abi3NotLoaded => f.write_str(
                "built for the GIL stable ABI (abi3), not loaded by free-threaded 3.15+",
            ),
            ForeignReason::Abi3tUnsupported => {
                f.write_str("built for the abi3t stable ABI, which needs 3.15t or newer")
            }
        }
    }
}

/// A native file that is not an extension module by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLibrary {
    /// Why it is taken for a library.
    pub reason: LibraryReason,
    /// The module name the target would import it under, had it an init hook: set for an
    /// importable bare `.so` whose name starts with `lib` (`torch/lib/libtorch.so` →
    /// `torch.lib.libtorch`), so that the inspector can still check.
    pub module_if_hooked: Option<String>,
}

/// Why a native file is taken for a shared library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibraryReason {
    /// A versioned shared object: `libfoo.so.1`, `libfoo-1a2b.so.4.8.5`.
    VersionedSo,
    /// A macOS dynamic library (`.dylib`).
    Dylib,
    /// A Windows DLL (`.dll`).
    Dll,
    /// Its directory is not on an importable module path (`numpy.libs/`, `.dylibs/`,
    /// `*.data/data/`, `*.dist-info/`).
    NotImportable,
    /// An untagged `.so` named `lib*`, the convention for libraries (`libtorch_cpu.so`).
    LibPrefix,
    /// A `.so` whose suffix the target does not try and that names no interpreter
    /// (`foo.bar.so`), or an untagged `.so` on Windows.
    UnrecognizedSuffix,
}

/// The init hook names an interpreter looks up for a module.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HookNames {
    /// `PyInit_<name>`, or `PyInitU_<punycode>` for a non-ASCII name.
    pub init: String,
    /// `PyModExport_<name>` (3.15+, PEP 793), or `PyModExportU_<punycode>`.
    pub export: String,
}

impl HookNames {
    /// The hooks a target looks up, in order: `PyModExport_*` then `PyInit_*` on 3.15+,
    /// only `PyInit_*` before.
    pub fn lookup_order(&self, target: PythonTarget) -> Vec<&str> {
        if target.supports_mod_export() {
            vec![&self.export, &self.init]
        } else {
            vec![&self.init]
        }
    }
}

/// The init hook names of the module `module` (dotted; only the last part counts). Non-ASCII
/// names are Punycode-encoded with `-` replaced by `_` and use the `U` prefixes, as
/// CPython's `Python/importdl.c` does.
///
/// ```
/// let h = gilfree::wheel::hook_names("lxml.etree");
/// assert_eq!(h.init, "PyInit_etree");
/// assert_eq!(h.export, "PyModExport_etree");
/// assert_eq!(gilfree::wheel::hook_names("pkg.café").init, "PyInitU_caf_dma");
/// ```
pub fn hook_names(module: &str) -> HookNames {
    let last = module.rsplit('.').next().unwrap_or(module);
    if last.is_ascii() {
        HookNames {
            init: format!("PyInit_{last}"),
            export: format!("PyModExport_{last}"),
        }
    } else {
        // Names longer than any file name (and arithmetic overflow) are not encoded; fall
        // back to the raw name, which no module exports.
        let encoded = punycode::encode(last)
            .unwrap_or_else(|| last.to_string())
            .replace('-', "_");
        HookNames {
            init: format!("PyInitU_{encoded}"),
            export: format!("PyModExportU_{encoded}"),
        }
    }
}

/// Whether `s` can be one part of a dotted module name for the import system: not empty
/// and without `.`. (Python identifiers are not required: `importlib` imports any such name,
/// and mypyc shims import group libraries such as `6ec57f84c680d3a3778b__mypyc`.)
fn is_name_part(s: &str) -> bool {
    !s.is_empty() && !s.contains('.')
}

/// The path a wheel member is installed at relative to site-packages: `*.data/platlib/` and
/// `*.data/purelib/` are stripped. `None` when the member is not installed on the import path
/// (`*.data/scripts/`, `*.data/data/`, `*.data/headers/`), is a directory, or has an empty,
/// `.` or `..` component. Paths from a site-packages walk pass through unchanged.
pub fn import_path(member: &str) -> Option<&str> {
    if member.is_empty() || member.ends_with('/') || member.starts_with('/') {
        return None;
    }
    let mut path = member;
    if let Some((first, rest)) = path.split_once('/')
        && first.ends_with(".data")
    {
        let (scheme, rest) = rest.split_once('/')?;
        if scheme != "platlib" && scheme != "purelib" {
            return None;
        }
        path = rest;
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    Some(path)
}

/// The dotted module name and suffix of an importable path (relative to site-packages):
/// `a/b/c.cpython-314t-x86_64-linux-gnu.so` → (`a.b.c`, `.cpython-314t-x86_64-linux-gnu.so`);
/// `pkg/__init__.abi3.so` → (`pkg`, `.abi3.so`). `None` when a directory name holds a `.`
/// (`numpy.libs/`, `.dylibs/`), or the file name has no `.` or starts with one.
pub fn module_name(path: &str) -> Option<(String, String)> {
    let (dirs, file) = match path.rsplit_once('/') {
        Some((dirs, file)) => (Some(dirs), file),
        None => (None, path),
    };
    let dot = file.find('.')?;
    let (stem, suffix) = file.split_at(dot);
    if !is_name_part(stem) {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    if let Some(dirs) = dirs {
        for d in dirs.split('/') {
            if !is_name_part(d) {
                return None;
            }
            parts.push(d);
        }
    }
    if stem != "__init__" || parts.is_empty() {
        parts.push(stem);
    }
    Some((parts.join("."), suffix.to_string()))
}

/// Classifies one member path of a wheel (or one path relative to site-packages) for a target
/// interpreter and platform.
pub fn classify_member(member: &str, target: PythonTarget, platform: Platform) -> MemberKind {
    let file = member.rsplit('/').next().unwrap_or(member);
    let lower = file.to_ascii_lowercase();
    let library = |reason| {
        MemberKind::SharedLibrary(SharedLibrary {
            reason,
            module_if_hooked: None,
        })
    };
    if lower.ends_with(".dylib") {
        return library(LibraryReason::Dylib);
    }
    if lower.ends_with(".dll") {
        return library(LibraryReason::Dll);
    }
    if is_versioned_so(&lower) {
        return library(LibraryReason::VersionedSo);
    }
    // Suffixes match case-sensitively, as CPython's finder does (without PYTHONCASEOK).
    if !(file.ends_with(".so") || file.ends_with(".pyd")) {
        return MemberKind::Other;
    }
    let Some((module, suffix)) = import_path(member).and_then(module_name) else {
        return library(LibraryReason::NotImportable);
    };
    let suffixes = target.extension_suffixes(platform);
    if let Some(rank) = suffixes.iter().position(|s| *s == suffix) {
        let suffix_kind = if suffix == ".so" || suffix == ".pyd" {
            SuffixKind::Bare
        } else if suffix.starts_with(".abi3t") {
            SuffixKind::Abi3t
        } else if suffix == ".abi3.so" {
            return MemberKind::ForeignExtension(ForeignExtension {
                module,
                suffix,
                reason: ForeignReason::Abi3OnFreeThreaded,
                loaded_by_target: true,
            });
        } else {
            SuffixKind::Versioned
        };
        let stem = module.rsplit('.').next().unwrap_or(&module);
        if suffix_kind == SuffixKind::Bare && stem.starts_with("lib") && suffix == ".so" {
            return MemberKind::SharedLibrary(SharedLibrary {
                reason: LibraryReason::LibPrefix,
                module_if_hooked: Some(module),
            });
        }
        return MemberKind::Extension(ExtensionModule {
            module,
            suffix,
            suffix_kind,
            rank,
        });
    }
    match foreign_reason(&suffix, target, platform) {
        Some(reason) => MemberKind::ForeignExtension(ForeignExtension {
            module,
            suffix,
            reason,
            loaded_by_target: false,
        }),
        None => library(LibraryReason::UnrecognizedSuffix),
    }
}

/// `libfoo.so.1`, `libfoo.so.4.8.5`: `.so.` followed by a digit.
fn is_versioned_so(lower_name: &str) -> bool {
    lower_name.match_indices(".so.").any(|(i, _)| {
        lower_name[i + 4..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit())
    })
}

/// Why an extension suffix the target does not try belongs to another interpreter; `None`
/// when the suffix names no interpreter at all.
fn foreign_reason(suffix: &str, target: PythonTarget, platform: Platform) -> Option<ForeignReason> {
    let windows = platform.os() == OsFamily::Windows;
    let (inner, pyd) = if let Some(inner) = suffix.strip_suffix(".so") {
        (inner, false)
    } else {
        (suffix.get(..suffix.len() - 4)?, true)
    };
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    if inner.is_empty() {
        // Untagged `.pyd` outside Windows, or untagged `.so` on Windows.
        return pyd.then_some(ForeignReason::OtherPlatform);
    }
    let lower = inner.to_ascii_lowercase();
    if ["pypy", "graalpy", "pyston"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Some(ForeignReason::OtherImplementation);
    }
    let (tag, plat) = match lower.split_once('-') {
        Some((tag, plat)) => (tag, Some(plat)),
        None => (lower.as_str(), None),
    };
    let platform_ok = |plat: Option<&str>| {
        if pyd != windows {
            return false;
        }
        match plat {
            None => true,
            Some(p) if pyd => p == platform.pyd_tag(),
            Some(p) => p == platform.multiarch(),
        }
    };
    match tag {
        "abi3" if !pyd => Some(if target.supports_abi3t() {
            ForeignReason::Abi3NotLoaded
        } else if platform_ok(plat) {
            ForeignReason::Abi3OnFreeThreaded
        } else {
            ForeignReason::OtherPlatform
        }),
        "abi3t" if !pyd => Some(if !target.supports_abi3t() {
            ForeignReason::Abi3tUnsupported
        } else {
            ForeignReason::OtherPlatform
        }),
        _ => {
            let version = if pyd {
                tag.strip_prefix("cp")?
            } else {
                let rest = lower.strip_prefix("cpython-")?;
                rest.split('-').next().unwrap_or(rest)
            };
            let AbiTag::CPython {
                major,
                minor,
                flags,
            } = AbiTag::parse(&format!("cp{version}"))
            else {
                return None;
            };
            Some(if major != 3 || minor != target.minor() {
                ForeignReason::OtherVersion(minor)
            } else if !flags.contains('t') {
                ForeignReason::GilBuild
            } else if flags != "t" {
                ForeignReason::DebugBuild
            } else {
                // Right version and ABI, so the platform part (or its absence) is wrong.
                ForeignReason::OtherPlatform
            })
        }
    }
}

/// One member with its classification, from [`classify_members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedMember {
    /// The member path as given.
    pub path: String,
    /// What it is for the target.
    pub kind: MemberKind,
    /// When another member gives the same module with a suffix the target tries first, that
    /// member's path: this one is never imported.
    pub shadowed_by: Option<String>,
}

/// Classifies every path (wheel members or site-packages relative paths) and marks extension
/// files that another file of the same module shadows (`foo.cpython-314t-….so` wins over
/// `foo.abi3.so` and `foo.so`). Only native files are returned (`Other` is dropped).
pub fn classify_members<'a, I>(
    paths: I,
    target: PythonTarget,
    platform: Platform,
) -> Vec<ClassifiedMember>
where
    I: IntoIterator<Item = &'a str>,
{
    let suffixes = target.extension_suffixes(platform);
    let rank_of = |kind: &MemberKind| -> Option<(String, usize)> {
        match kind {
            MemberKind::Extension(e) => Some((e.module.clone(), e.rank)),
            MemberKind::ForeignExtension(f) if f.loaded_by_target => {
                let rank = suffixes.iter().position(|s| *s == f.suffix)?;
                Some((f.module.clone(), rank))
            }
            _ => None,
        }
    };
    let mut out: Vec<ClassifiedMember> = paths
        .into_iter()
        .map(|path| ClassifiedMember {
            path: path.to_string(),
            kind: classify_member(path, target, platform),
            shadowed_by: None,
        })
        .filter(|m| m.kind != MemberKind::Other)
        .collect();
    // Best (lowest rank) file per module.
    let mut winners: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, m) in out.iter().enumerate() {
        if let Some((module, rank)) = rank_of(&m.kind) {
            let entry = winners.entry(module).or_insert((rank, i));
            if rank < entry.0 {
                *entry = (rank, i);
            }
        }
    }
    let paths: Vec<String> = out.iter().map(|m| m.path.clone()).collect();
    for (i, m) in out.iter_mut().enumerate() {
        if let Some((module, _)) = rank_of(&m.kind) {
            let (_, winner) = winners[&module];
            if winner != i {
                m.shadowed_by = Some(paths[winner].clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Platform::*;
    use PythonTarget::*;

    fn ext(path: &str, target: PythonTarget, platform: Platform) -> (String, SuffixKind) {
        match classify_member(path, target, platform) {
            MemberKind::Extension(e) => (e.module, e.suffix_kind),
            other => panic!("{path} {target} {platform}: {other:?}"),
        }
    }

    #[test]
    fn extension_modules_of_real_wheels() {
        use SuffixKind::*;
        let cases: &[(&str, PythonTarget, Platform, &str, SuffixKind)] = &[
            (
                "arro3/core/_core.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                "arro3.core._core",
                Versioned,
            ),
            (
                "mypy/__init__.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                "mypy",
                Versioned,
            ),
            (
                "mypyc/irbuild/__init__.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                "mypyc.irbuild",
                Versioned,
            ),
            (
                "arro3/core/_core.cpython-314t-aarch64-linux-gnu.so",
                Py314t,
                LinuxAarch64,
                "arro3.core._core",
                Versioned,
            ),
            (
                "bcrypt/_bcrypt.cpython-314t-darwin.so",
                Py314t,
                MacosArm64,
                "bcrypt._bcrypt",
                Versioned,
            ),
            (
                "bcrypt/_bcrypt.cpython-314t-darwin.so",
                Py314t,
                MacosX86_64,
                "bcrypt._bcrypt",
                Versioned,
            ),
            (
                "ast_serialize/ast_serialize.cp314t-win_amd64.pyd",
                Py314t,
                WindowsAmd64,
                "ast_serialize.ast_serialize",
                Versioned,
            ),
            (
                "markupsafe/_speedups.cp314t-win32.pyd",
                Py314t,
                WindowsX86,
                "markupsafe._speedups",
                Versioned,
            ),
            (
                "markupsafe/_speedups.cp313t-win_arm64.pyd",
                Py313t,
                WindowsArm64,
                "markupsafe._speedups",
                Versioned,
            ),
            (
                "pydantic_core/_pydantic_core.cpython-315t-x86_64-linux-gnu.so",
                Py315t,
                LinuxX86_64,
                "pydantic_core._pydantic_core",
                Versioned,
            ),
            (
                "cryptography/hazmat/bindings/_rust.abi3t.so",
                Py315t,
                LinuxX86_64,
                "cryptography.hazmat.bindings._rust",
                Abi3t,
            ),
            (
                "foo/_x.abi3t-aarch64-linux-gnu.so",
                Py315t,
                LinuxAarch64,
                "foo._x",
                Abi3t,
            ),
            (
                "foo/_x.abi3t-darwin.so",
                Py315t,
                MacosArm64,
                "foo._x",
                Abi3t,
            ),
            (
                "msgpack/_cmsgpack.cpython-314t-x86_64-linux-musl.so",
                Py314t,
                MusllinuxX86_64,
                "msgpack._cmsgpack",
                Versioned,
            ),
            (
                "foo-1.0.data/platlib/_foo.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                "_foo",
                Versioned,
            ),
            (
                "foo-1.0.data/purelib/pkg/sub/_foo.cpython-313t-x86_64-linux-gnu.so",
                Py313t,
                LinuxX86_64,
                "pkg.sub._foo",
                Versioned,
            ),
            (
                "_cffi_backend.so",
                Py314t,
                LinuxX86_64,
                "_cffi_backend",
                Bare,
            ),
            ("pkg/_native.pyd", Py314t, WindowsAmd64, "pkg._native", Bare),
            ("pkg/__init__.pyd", Py315t, WindowsAmd64, "pkg", Bare),
            (
                "pkg/ext.cpython-314t-arm-linux-gnueabihf.so",
                Py314t,
                LinuxArmv7l,
                "pkg.ext",
                Versioned,
            ),
            (
                "pkg/ext.cpython-314t-powerpc64le-linux-gnu.so",
                Py314t,
                LinuxPpc64le,
                "pkg.ext",
                Versioned,
            ),
            (
                "pkg/ext.cpython-314t-i386-linux-gnu.so",
                Py314t,
                LinuxI686,
                "pkg.ext",
                Versioned,
            ),
        ];
        for (path, target, platform, module, kind) in cases {
            assert_eq!(
                ext(path, *target, *platform),
                (module.to_string(), *kind),
                "{path}"
            );
        }
    }

    #[test]
    fn oracle_members_are_modules() {
        // Every member of the runtime oracle (cp314t linux x86_64) is a module with the same
        // name the interpreter reported.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/truth-cp314t-linux-x86_64.json"
        ))
        .expect("the runtime truth ships with the repository");
        let oracle: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut n = 0;
        for package in oracle["packages"].as_array().unwrap() {
            for m in package["modules"].as_array().unwrap() {
                let member = m["member"].as_str().unwrap();
                let module = m["module"].as_str().unwrap();
                assert_eq!(ext(member, Py314t, LinuxX86_64).0, module, "{member}");
                n += 1;
            }
        }
        assert!(n > 400, "{n}");
    }

    #[test]
    fn foreign_extensions() {
        use ForeignReason::*;
        let cases: &[(&str, PythonTarget, Platform, ForeignReason, bool)] = &[
            (
                "lxml/etree.cpython-314-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                GilBuild,
                false,
            ),
            (
                "foo/_x.cpython-313t-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                OtherVersion(13),
                false,
            ),
            (
                "foo/_x.cpython-314td-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                DebugBuild,
                false,
            ),
            (
                "foo/_x.cpython-314t-aarch64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                MusllinuxX86_64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.cpython-314t-darwin.so",
                Py314t,
                LinuxX86_64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.cpython-314t-x86_64-linux-gnu.so",
                Py314t,
                WindowsAmd64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.cp314t-win_amd64.pyd",
                Py314t,
                LinuxX86_64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.cp314t-win32.pyd",
                Py314t,
                WindowsAmd64,
                OtherPlatform,
                false,
            ),
            ("foo/_x.pyd", Py314t, MacosArm64, OtherPlatform, false),
            (
                "foo/_x.cp314-win_amd64.pyd",
                Py314t,
                WindowsAmd64,
                GilBuild,
                false,
            ),
            (
                "foo/_x.cp315t-win_amd64.pyd",
                Py314t,
                WindowsAmd64,
                OtherVersion(15),
                false,
            ),
            (
                "cryptography/hazmat/bindings/_rust.abi3.so",
                Py314t,
                LinuxX86_64,
                Abi3OnFreeThreaded,
                true,
            ),
            (
                "cryptography/hazmat/bindings/_rust.abi3.so",
                Py313t,
                MacosArm64,
                Abi3OnFreeThreaded,
                true,
            ),
            (
                "cryptography/hazmat/bindings/_rust.abi3.so",
                Py315t,
                LinuxX86_64,
                Abi3NotLoaded,
                false,
            ),
            (
                "foo/_x.abi3-x86_64-linux-gnu.so",
                Py315t,
                LinuxX86_64,
                Abi3NotLoaded,
                false,
            ),
            (
                "foo/_x.abi3-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                Abi3OnFreeThreaded,
                false,
            ),
            (
                "cryptography/hazmat/bindings/_rust.abi3t.so",
                Py314t,
                LinuxX86_64,
                Abi3tUnsupported,
                false,
            ),
            (
                "foo/_x.abi3t-aarch64-linux-gnu.so",
                Py315t,
                LinuxX86_64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.abi3t.so",
                Py315t,
                WindowsAmd64,
                OtherPlatform,
                false,
            ),
            (
                "foo/_x.pypy310-pp73-x86_64-linux-gnu.so",
                Py314t,
                LinuxX86_64,
                OtherImplementation,
                false,
            ),
            (
                "foo/_x.graalpy311-311-native-x86_64-linux.so",
                Py314t,
                LinuxX86_64,
                OtherImplementation,
                false,
            ),
            (
                "foo/_x.pypy310-pp73-win_amd64.pyd",
                Py314t,
                WindowsAmd64,
                OtherImplementation,
                false,
            ),
        ];
        for (path, target, platform, reason, loaded) in cases {
            match classify_member(path, *target, *platform) {
                MemberKind::ForeignExtension(f) => {
                    assert_eq!(
                        (&f.reason, f.loaded_by_target),
                        (reason, *loaded),
                        "{path} {target} {platform}"
                    );
                    assert!(!f.reason.to_string().is_empty());
                }
                other => panic!("{path} {target} {platform}: {other:?}"),
            }
        }
    }

    #[test]
    fn shared_libraries() {
        use LibraryReason::*;
        let cases: &[(&str, Platform, LibraryReason, Option<&str>)] = &[
            (
                "confluent_kafka.libs/librdkafka-1e1b45fc.so.1",
                LinuxX86_64,
                VersionedSo,
                None,
            ),
            (
                "ctranslate2.libs/libctranslate2-121c464e.so.4.8.5",
                LinuxAarch64,
                VersionedSo,
                None,
            ),
            (
                "numpy.libs/libscipy_openblas64_-ff651d7f.so",
                LinuxX86_64,
                NotImportable,
                None,
            ),
            (
                "torch/lib/libtorch_cpu.so",
                LinuxX86_64,
                LibPrefix,
                Some("torch.lib.libtorch_cpu"),
            ),
            (
                "onnxruntime/capi/libonnxruntime_providers_shared.so",
                LinuxX86_64,
                LibPrefix,
                Some("onnxruntime.capi.libonnxruntime_providers_shared"),
            ),
            (
                "pkg/libfoo-1e1b45fc.so",
                LinuxX86_64,
                LibPrefix,
                Some("pkg.libfoo-1e1b45fc"),
            ),
            ("pyarrow/libarrow.2600.dylib", MacosArm64, Dylib, None),
            ("PIL/.dylibs/libharfbuzz.0.dylib", MacosArm64, Dylib, None),
            (
                "cchardet.libs/msvcp140-a4c2229bdc2a2a630acdc095b4d86008.dll",
                WindowsAmd64,
                Dll,
                None,
            ),
            ("foo/bar.DLL", WindowsAmd64, Dll, None),
            ("foo/.dylibs/_x.so", MacosArm64, NotImportable, None),
            (
                "foo-1.0.data/data/lib/x.so",
                LinuxX86_64,
                NotImportable,
                None,
            ),
            (
                "foo-1.0.data/scripts/x.cpython-314t-x86_64-linux-gnu.so",
                LinuxX86_64,
                NotImportable,
                None,
            ),
            ("foo-1.0.dist-info/x.so", LinuxX86_64, NotImportable, None),
            ("foo/bar.baz.so", LinuxX86_64, UnrecognizedSuffix, None),
            ("foo/_x.so", WindowsAmd64, UnrecognizedSuffix, None),
            ("foo/../x.so", LinuxX86_64, NotImportable, None),
        ];
        for (path, platform, reason, module) in cases {
            match classify_member(path, Py314t, *platform) {
                MemberKind::SharedLibrary(lib) => {
                    assert_eq!(lib.reason, *reason, "{path}");
                    assert_eq!(lib.module_if_hooked.as_deref(), *module, "{path}");
                }
                other => panic!("{path} {platform}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_members() {
        let cases = [
            "foo/__init__.py",
            "foo/",
            "scipy/_cyutility.cp314t-win_amd64.dll.a",
            "foo/x.lib",
            "foo-1.0.dist-info/RECORD",
            "foo/so",
            "foo/x.sox",
            "foo/libx.a",
            "foo/_x.PYD",
        ];
        for path in cases {
            assert_eq!(
                classify_member(path, Py314t, WindowsAmd64),
                MemberKind::Other,
                "{path}"
            );
            assert_eq!(
                classify_member(path, Py314t, LinuxX86_64),
                MemberKind::Other,
                "{path}"
            );
        }
    }

    #[test]
    fn module_names_and_paths() {
        assert_eq!(
            module_name("a/b/c.cpython-314t-x86_64-linux-gnu.so"),
            Some(("a.b.c".into(), ".cpython-314t-x86_64-linux-gnu.so".into()))
        );
        assert_eq!(
            module_name("pkg/__init__.abi3.so"),
            Some(("pkg".into(), ".abi3.so".into()))
        );
        assert_eq!(module_name("a.b/c.so"), None);
        assert_eq!(module_name(".hidden/c.so"), None);
        assert_eq!(module_name("a/.c.so"), None);
        assert_eq!(module_name("a/c"), None);
        assert_eq!(
            module_name("6ec57f84c680d3a3778b__mypyc.cpython-314t-darwin.so"),
            Some((
                "6ec57f84c680d3a3778b__mypyc".into(),
                ".cpython-314t-darwin.so".into()
            ))
        );
        assert_eq!(
            module_name("paquet/café.so"),
            Some(("paquet.café".into(), ".so".into()))
        );
        assert_eq!(import_path("x-1.0.data/platlib/a/b.so"), Some("a/b.so"));
        assert_eq!(import_path("x-1.0.data/purelib/b.so"), Some("b.so"));
        assert_eq!(import_path("x-1.0.data/headers/b.h"), None);
        assert_eq!(import_path("x-1.0.data/platlib"), None);
        assert_eq!(import_path("a//b.so"), None);
        assert_eq!(import_path("/a/b.so"), None);
        assert_eq!(import_path("a/./b.so"), None);
        assert_eq!(import_path("a/b.so"), Some("a/b.so"));
    }

    #[test]
    fn hook_names_ascii_and_unicode() {
        let cases = [
            ("lxml.etree", "PyInit_etree", "PyModExport_etree"),
            (
                "_cffi_backend",
                "PyInit__cffi_backend",
                "PyModExport__cffi_backend",
            ),
            ("mypyc", "PyInit_mypyc", "PyModExport_mypyc"),
            ("pkg.café", "PyInitU_caf_dma", "PyModExportU_caf_dma"),
            ("é", "PyInitU_9ca", "PyModExportU_9ca"),
            (
                "pkg.müller_ext",
                "PyInitU_mller_ext_q9a",
                "PyModExportU_mller_ext_q9a",
            ),
        ];
        for (module, init, export) in cases {
            let h = hook_names(module);
            assert_eq!(
                (h.init.as_str(), h.export.as_str()),
                (init, export),
                "{module}"
            );
        }
        let h = hook_names("a.b");
        assert_eq!(h.lookup_order(Py314t), ["PyInit_b"]);
        assert_eq!(h.lookup_order(Py315t), ["PyModExport_b", "PyInit_b"]);
    }

    #[test]
    fn shadowing() {
        let paths = [
            "foo/_x.so",
            "foo/_x.abi3.so",
            "foo/_x.cpython-314t-x86_64-linux-gnu.so",
            "foo/_y.abi3.so",
            "foo/_z.so",
            "foo/__init__.py",
            "foo.libs/libz-1.so.1",
        ];
        let got = classify_members(paths, Py314t, LinuxX86_64);
        assert_eq!(got.len(), 6);
        let shadow: Vec<(&str, Option<&str>)> = got
            .iter()
            .map(|m| (m.path.as_str(), m.shadowed_by.as_deref()))
            .collect();
        let winner = Some("foo/_x.cpython-314t-x86_64-linux-gnu.so");
        assert_eq!(
            shadow,
            [
                ("foo/_x.so", winner),
                ("foo/_x.abi3.so", winner),
                ("foo/_x.cpython-314t-x86_64-linux-gnu.so", None),
                ("foo/_y.abi3.so", None),
                ("foo/_z.so", None),
                ("foo.libs/libz-1.so.1", None),
            ]
        );
    }

    #[test]
    #[ignore = "needs the wheels scripts/fetch-test-wheels.py downloads into $GILFREE_WHEELS"]
    fn downloaded_wheel_members() {
        // Members of the wheels downloaded for tests: every native member must classify
        // without panicking, and each `cpython-314t`/`cp314t` member must be a module for its
        // own platform.
        let root = std::env::var("GILFREE_WHEELS").unwrap_or_else(|_| "/tmp/gilfree-wheels".into());
        let dirs = std::fs::read_dir(&root).expect("run scripts/fetch-test-wheels.py first");
        let mut seen = 0;
        for dir in dirs.flatten() {
            let platform = match dir.file_name().to_str() {
                Some("linux-x86_64") => LinuxX86_64,
                Some("linux-aarch64") => LinuxAarch64,
                Some("macos-arm64") => MacosArm64,
                Some("win-amd64") => WindowsAmd64,
                _ => continue,
            };
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for file in files.flatten().take(12) {
                let Ok(f) = std::fs::File::open(file.path()) else {
                    continue;
                };
                let Ok(zip) = zip::ZipArchive::new(f) else {
                    continue;
                };
                for name in zip.file_names() {
                    let kind = classify_member(name, Py314t, platform);
                    let tagged = name.contains(".cpython-314t-") || name.contains(".cp314t-");
                    if tagged && (name.ends_with(".so") || name.ends_with(".pyd")) {
                        assert!(matches!(kind, MemberKind::Extension(_)), "{name}: {kind:?}");
                        seen += 1;
                    }
                }
            }
        }
        eprintln!("{seen} downloaded extension members checked");
    }
}
