//! One wheel, opened from any `Read + Seek` (a local file or a remote one read by ranges):
//! which targets it serves, and a verdict for each extension module a target imports.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{Read, Seek};
use std::sync::Arc;

use super::{
    Readiness, ScanConfig, WheelReport, arch_for, inspect_named, sort_modules, unreadable,
};
use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::inspect::{Arch, Binary, Libraries, Library, LibrarySet};
use crate::wheel::{
    Compatibility, MemberKind, Platform, PythonTarget, SuffixKind, WheelArchive, WheelFilename,
};

/// The platforms a wheel is checked for: every platform its tags cover (restricted to
/// `cfg.platforms` when given); `None` alone for a pure wheel.
fn wheel_platforms(wf: &WheelFilename, cfg: &ScanConfig) -> Vec<Option<Platform>> {
    if wf.platform_tags.iter().all(|t| t == "any") {
        return vec![None];
    }
    let mut seen = Vec::new();
    for tag in &wf.platform_tags {
        for p in Platform::from_tag(tag) {
            if !seen.contains(&p) && (cfg.platforms.is_empty() || cfg.platforms.contains(&p)) {
                seen.push(p);
            }
        }
    }
    if seen.is_empty() {
        // None of the asked-for platforms: report each as "no wheel for it" rather than
        // silently skipping the wheel.
        return cfg.platforms.iter().copied().map(Some).collect();
    }
    seen.into_iter().map(Some).collect()
}

/// Scan an opened wheel (local or remote) for every configured target.
pub fn scan_wheel<R: Read + Seek>(
    wf: &WheelFilename,
    sha256: Option<String>,
    archive: Result<WheelArchive<R>, crate::wheel::WheelError>,
    cfg: &ScanConfig,
) -> Vec<WheelReport> {
    let base = |python, platform| base_report(wf, &sha256, python, platform);
    match archive {
        Ok(mut a) => scan_archive(wf, sha256, &mut a, cfg),
        Err(e) => cfg
            .pythons
            .iter()
            .map(|&py| WheelReport {
                error: Some(format!("unreadable wheel: {e}")),
                ..base(py, None)
            })
            .collect(),
    }
}

/// The report for a wheel's base fields, before its modules are read.
fn base_report(
    wf: &WheelFilename,
    sha256: &Option<String>,
    python: PythonTarget,
    platform: Option<Platform>,
) -> WheelReport {
    WheelReport {
        filename: wf.to_string(),
        project: Some(wf.normalized_name()),
        version: Some(wf.version.clone()),
        sha256: sha256.clone(),
        python: python.to_string(),
        platform: platform.map(|p| p.to_string()),
        readiness: Readiness::Unknown,
        note: None,
        error: None,
        modules: Vec::new(),
    }
}

/// Scan a wheel whose archive is open, for every configured target; the archive's
/// [`WheelArchive::inflated`] log then says what was read.
pub fn scan_archive<R: Read + Seek>(
    wf: &WheelFilename,
    sha256: Option<String>,
    archive: &mut WheelArchive<R>,
    cfg: &ScanConfig,
) -> Vec<WheelReport> {
    let base = |python, platform| base_report(wf, &sha256, python, platform);
    let mut out = Vec::new();
    let platforms = wheel_platforms(wf, cfg);
    for &python in &cfg.pythons {
        if platforms.is_empty() {
            out.push(WheelReport {
                note: Some(format!(
                    "no platform gilfree knows among the tags {}",
                    wf.platform_tags.join(".")
                )),
                ..base(python, None)
            });
        }
        for &platform in &platforms {
            let mut r = base(python, platform);
            let Some(platform) = platform else {
                r.readiness = Readiness::Pure;
                out.push(r);
                continue;
            };
            match crate::wheel::check_wheel(wf, python, platform) {
                Compatibility::Compatible { .. } => {
                    let (modules, foreign) = wheel_modules(archive, python, platform);
                    r.modules = modules;
                    r.readiness = Readiness::of_modules(&r.modules);
                    super::foreign::with_foreign_libraries(&mut r, &foreign);
                }
                Compatibility::WrongAbi(why) => {
                    r.readiness = Readiness::NoWheel;
                    r.note = Some(format!("not installable on {python}: {why}"));
                }
                Compatibility::OtherPlatform => {
                    r.readiness = Readiness::NoWheel;
                    r.note = Some(format!("not for {platform}"));
                }
            }
            out.push(r);
        }
    }
    out
}

/// Verdicts for every extension module of a wheel that `python` on `platform` would import,
/// and the extension-named files that are native libraries loaded with ctypes or cffi.
fn wheel_modules<R: Read + Seek>(
    archive: &mut WheelArchive<R>,
    python: PythonTarget,
    platform: Platform,
) -> (Vec<ModuleVerdict>, Vec<String>) {
    let classified = archive.native_members(python, platform);
    // Any native file can be a library another one links against, extension-named ones too
    // (klayout's modules link `lib_pya.cpython-314t-x86_64-linux-gnu.so`, which creates them).
    let libraries: Vec<String> = classified
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                MemberKind::SharedLibrary(_) | MemberKind::Extension(_)
            )
        })
        .map(|c| c.path.clone())
        .collect();
    let archive = RefCell::new(archive);
    let libs = WheelLibraries {
        archive: &archive,
        set: LibrarySet::new(libraries, arch_for(platform)),
    };
    let mut out = Vec::new();
    let mut foreign = Vec::new();
    for c in &classified {
        if c.shadowed_by.is_some() {
            continue;
        }
        let (module, bare) = match &c.kind {
            MemberKind::Extension(e) => (e.module.clone(), e.suffix_kind == SuffixKind::Bare),
            MemberKind::SharedLibrary(s) => match &s.module_if_hooked {
                Some(m) => (m.clone(), true),
                None => continue,
            },
            MemberKind::ForeignExtension(f) if f.loaded_by_target => {
                out.push(ModuleVerdict {
                    member: c.path.clone(),
                    module: f.module.clone(),
                    verdict: Verdict::Incompatible,
                    reason: Reason::WrongAbi,
                    binder: Binder::CApi,
                    evidence: format!("{}: {}", f.suffix, f.reason),
                    fix: Some(format!(
                        "build the module for the free-threaded ABI ({})",
                        python.abi_tag()
                    )),
                });
                continue;
            }
            _ => continue,
        };
        if matches!(c.kind, MemberKind::SharedLibrary(_))
            && !may_export_hook(&mut archive.borrow_mut(), &c.path, &module)
        {
            continue; // a bundled library: its dynamic strings name no init hook
        }
        let (data, v) = read_module(&archive, &c.path, &module, python, platform, &libs);
        // An untagged `.so` that exports no hook is a library, not a module.
        if bare && v.reason == Reason::NoInitHook {
            continue;
        }
        if let Ok(data) = &data
            && super::foreign::is_foreign_loaded_library(&v, data, arch_for(platform))
        {
            foreign.push(c.path.clone());
            continue;
        }
        out.push(v);
    }
    // Modules a package's own loader imports from files not named as extension modules.
    let stems: HashSet<String> = classified
        .iter()
        .filter_map(|c| match &c.kind {
            MemberKind::Extension(e) => e.module.rsplit('.').next().map(str::to_string),
            MemberKind::SharedLibrary(s) => s.module_if_hooked.clone(),
            _ => None,
        })
        .collect();
    for c in &classified {
        let MemberKind::SharedLibrary(s) = &c.kind else {
            continue;
        };
        if s.module_if_hooked.is_some()
            || vendored(&c.path)
            || !may_export_any_hook(&mut archive.borrow_mut(), &c.path)
        {
            continue;
        }
        let Ok(data) = archive.borrow_mut().read_member(&c.path) else {
            continue; // a library that cannot be read is no evidence of a module
        };
        for module in own_loader_modules(&data, arch_for(platform), &stems) {
            let mut v = inspect_named(&data, &c.path, &module, python, platform, &libs);
            if super::foreign::is_foreign_loaded_library(&v, &data, arch_for(platform)) {
                continue;
            }
            v.evidence = format!(
                "not named as an extension module but exports {}: imported by the package's own loader; {}",
                crate::wheel::hook_names(&module).init,
                v.evidence
            );
            out.push(v);
        }
    }
    sort_modules(&mut out);
    (out, foreign)
}

/// Least size of a module member read first only up to where its loadable segments end.
const LOADED_PART_MIN_SIZE: u64 = 512 << 10;
/// Least size of the part past the loadable segments, in bytes and as a share of the file
/// (1/16), for that to pay: a shorter tail is read with the rest.
const LOADED_PART_MIN_TAIL: u64 = 128 << 10;

/// Whether a module member of `size` bytes may be read only in part (see [`read_module`]).
pub(super) fn may_read_loaded_part(size: u64) -> bool {
    size >= LOADED_PART_MIN_SIZE
}

/// Whether a module of `size` bytes whose loadable segments end at `end` is read only that far.
pub(super) fn worth_reading_loaded_part(size: u64, end: u64) -> bool {
    may_read_loaded_part(size)
        && size
            .checked_sub(end)
            .is_some_and(|tail| tail >= LOADED_PART_MIN_TAIL.max(size / 16))
}

/// Reads and inspects one module member. An ELF module whose part past its loadable segments
/// (symbol tables, debug records, section headers: what the dynamic loader never maps) is
/// large enough ([`worth_reading_loaded_part`]) is inflated only to where those
/// segments end, and inspected from its program headers and dynamic section (the generators'
/// fingerprints are strings the loaded part holds). When that leaves the verdict unknown, the
/// whole member is read and inspected again.
fn read_module<R: Read + Seek>(
    archive: &RefCell<&mut WheelArchive<R>>,
    member: &str,
    module: &str,
    python: PythonTarget,
    platform: Platform,
    libs: &dyn Libraries,
) -> (Result<Vec<u8>, crate::wheel::WheelError>, ModuleVerdict) {
    // The archive is borrowed only while reading: inspecting may read the wheel's libraries.
    let part = loaded_part(&mut archive.borrow_mut(), member);
    if let Some(data) = part {
        let v = inspect_named(&data, member, module, python, platform, libs);
        if v.verdict != Verdict::Unknown || v.reason == Reason::NoInitHook {
            return (Ok(data), v);
        }
    }
    let data = archive.borrow_mut().read_member(member);
    let v = match &data {
        Ok(data) => inspect_named(data, member, module, python, platform, libs),
        Err(e) => unreadable(member, module, e.to_string()),
    };
    (data, v)
}

/// Bytes of a member read first to learn its layout (the ELF program headers follow the file
/// header).
const LAYOUT_HEAD: u64 = 4 << 10;

/// The part of an ELF member its loadable segments map, with the section headers forgotten
/// (they lie past the cut), when skipping the rest pays (see [`read_module`]). A part is not
/// checked against the member's CRC-32, which covers every byte; inflating still fails on a
/// damaged stream.
fn loaded_part<R: Read + Seek>(archive: &mut WheelArchive<R>, member: &str) -> Option<Vec<u8>> {
    let size = archive.member(member)?.size;
    // A member declaring more than the limit is refused whole, not read in part.
    if !may_read_loaded_part(size) || size > archive.member_limit() {
        return None;
    }
    let head = archive.read_member_prefix(member, LAYOUT_HEAD).ok()?;
    let end = crate::inspect::elf_head::loaded_end(&head)?;
    if !worth_reading_loaded_part(size, end) {
        return None;
    }
    let mut data = archive.read_member_prefix(member, end).ok()?;
    let whole = data.len() as u64 == end;
    (whole && crate::inspect::elf_head::forget_section_headers(&mut data)).then_some(data)
}

/// Whether a library is a vendored third-party one: named `lib*` (the convention for C
/// libraries), or in a directory the repair tools copy dependencies into (`<pkg>.libs/` by
/// auditwheel and delvewheel, `.dylibs/` by delocate). Those are never Python modules, and
/// are not read for init hooks.
fn vendored(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or(path).to_ascii_lowercase();
    file.starts_with("lib")
        || parts.any(|d| d.ends_with(".libs") || d == ".dylibs" || d.ends_with(".dylibs"))
}

/// Most modules one library is taken to hold for a package's own loader.
const MAX_OWN_LOADER_MODULES: usize = 16;

/// The modules a native library exports init hooks for (`PyInit_<name>`), which a package's
/// own loader imports under that name (pywin32 loads `pywintypes314.dll` with
/// `importlib.machinery.ExtensionFileLoader`). Hooks for a module the wheel names as an
/// extension module are a stub's hand-off target, not a module of their own; a library that
/// embeds an interpreter (`Py_Initialize`) exports its built-in modules' hooks, which are not
/// imported from it.
fn own_loader_modules(data: &[u8], arch: Option<Arch>, stems: &HashSet<String>) -> Vec<String> {
    let Ok(bin) = Binary::parse(data, arch) else {
        return Vec::new();
    };
    if bin.exports.contains_key("Py_Initialize") || bin.exports.contains_key("Py_InitializeEx") {
        return Vec::new();
    }
    let mut names: Vec<String> = bin
        .exports
        .keys()
        .filter_map(|k| k.strip_prefix("PyInit_"))
        .filter(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !stems.contains(*n)
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.truncate(MAX_OWN_LOADER_MODULES);
    names
}

/// Largest library (uncompressed) searched whole for an init hook name when its dynamic
/// names are not in a read-only prefix (PE and Mach-O files, older ELF layouts).
const SEARCHED_LIBRARY: u64 = 64 << 20;

/// Whether a library might export any init hook (`PyInit_`): found among the dynamic names
/// of an ELF file's read-only first segment, or anywhere in a smaller file of another layout.
fn may_export_any_hook<R: Read + Seek>(archive: &mut WheelArchive<R>, member: &str) -> bool {
    let needle = b"PyInit_".to_vec();
    let Ok(prefix) = archive.read_member_prefix(member, PREFIX) else {
        return false;
    };
    match dynamic_names(archive, member, &prefix) {
        Some(head) => head.is_ok_and(|h| memchr::memmem::find(&h, &needle).is_some()),
        None => {
            let small = archive
                .member(member)
                .is_some_and(|m| m.size <= SEARCHED_LIBRARY);
            small && archive.member_contains(member, &[needle]).unwrap_or(false)
        }
    }
}

/// The wheel's own libraries, read on demand when a stub module hands off to one of them,
/// each parsed once for the whole wheel.
struct WheelLibraries<'w, R> {
    archive: &'w RefCell<&'w mut WheelArchive<R>>,
    set: LibrarySet,
}

impl<R: Read + Seek> Libraries for WheelLibraries<'_, R> {
    fn exporting(&self, symbol: &str, needed: &[String]) -> Option<Arc<Library>> {
        self.set.exporting(symbol, needed, |member| {
            self.archive.borrow_mut().read_member(member).ok()
        })
    }
}

/// Bytes of a member read first when deciding whether a library could be a module: enough
/// for an ELF file's program headers, which say how much more the decision needs (its first
/// segment); other files are then searched as a stream.
const PREFIX: u64 = LAYOUT_HEAD;

/// Whether a library member (`lib*.so`) might export an init hook for `module`. For ELF files
/// whose first loadable segment holds no code (the layout of every current linker), that
/// segment holds the dynamic symbol names: when the hook's name is not among them, the
/// library is no module, and the rest of it (often hundreds of MB) is never read.
fn may_export_hook<R: Read + Seek>(
    archive: &mut WheelArchive<R>,
    member: &str,
    module: &str,
) -> bool {
    let hooks = crate::wheel::hook_names(module);
    let needles: Vec<Vec<u8>> = [hooks.init, hooks.export]
        .iter()
        .map(|h| {
            let mut needle = h.clone().into_bytes();
            needle.push(0);
            needle
        })
        .collect();
    let Ok(prefix) = archive.read_member_prefix(member, PREFIX) else {
        return true;
    };
    match dynamic_names(archive, member, &prefix) {
        Some(Ok(head)) => needles
            .iter()
            .any(|n| memchr::memmem::find(&head, n).is_some()),
        Some(Err(_)) => true,
        // Code first (older linkers): a name absent from the whole file is not exported.
        // Searched as it decompresses, never held whole.
        None => {
            !prefix.starts_with(b"\x7fELF")
                || archive.member_contains(member, &needles).unwrap_or(true)
        }
    }
}

/// For an ELF file whose first loadable segment holds no code, the bytes of that segment
/// (the dynamic symbol names among them), given the member's first bytes; `None` for other
/// layouts.
fn dynamic_names<R: Read + Seek>(
    archive: &mut WheelArchive<R>,
    member: &str,
    prefix: &[u8],
) -> Option<Result<Vec<u8>, crate::wheel::WheelError>> {
    let ro_len = crate::inspect::elf_head::read_only_prefix(prefix)?;
    Some(if ro_len <= prefix.len() as u64 {
        Ok(prefix[..ro_len as usize].to_vec())
    } else {
        archive.read_member_prefix(member, ro_len)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_cut_only_when_its_tail_is_long_enough() {
        const K: u64 = 1 << 10;
        const M: u64 = 1 << 20;
        // (size, end of the loadable segments, read only that far)
        let table = [
            (400 * K, 100 * K, false), // too small to bother
            (512 * K, 300 * K, true),
            (512 * K, 400 * K, false),       // tail under 128 KiB
            (8 * M, 7 * M + 700 * K, false), // tail under a sixteenth
            (8 * M, 7 * M, true),
            (500 * M, 192 * M, true),
            (4 * M, 5 * M, false), // segments past the end: damaged, read whole
        ];
        for (size, end, cut) in table {
            assert_eq!(worth_reading_loaded_part(size, end), cut, "{size} {end}");
        }
    }
}
