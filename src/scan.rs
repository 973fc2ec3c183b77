//! `gilfree scan` on local targets: wheels, lone extension files, folders of wheels and
//! installed environments. Each wheel gives one report per (interpreter, platform) it is
//! checked for, with a verdict for every extension module the target would import.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::inspect::{self, Arch, Binary, Libraries, ModuleRequest};
use crate::wheel::{
    Compatibility, MemberKind, OsFamily, Platform, PythonTarget, SuffixKind, WheelArchive,
    WheelFilename, classify_member, hook_names,
};

/// What to check every target against.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub pythons: Vec<PythonTarget>,
    /// Restrict to these platforms; empty means every platform a wheel has.
    pub platforms: Vec<Platform>,
    /// Worker threads.
    pub jobs: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            pythons: vec![PythonTarget::Py314t],
            platforms: Vec::new(),
            jobs: 2,
        }
    }
}

/// Readiness of one wheel (or release) for one interpreter and platform (design §Verdicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// A matching wheel exists, but importing a named module turns the GIL on.
    GilFallback,
    /// Could not be decided.
    Unknown,
    /// Binary wheels exist, none for this target.
    NoWheel,
    /// Only a source distribution.
    SourceOnly,
    /// A matching wheel exists and every module keeps the GIL off.
    Ready,
    /// No native code.
    Pure,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::GilFallback => "gil-fallback",
            Readiness::NoWheel => "no-wheel",
            Readiness::SourceOnly => "source-only",
            Readiness::Pure => "pure",
            Readiness::Unknown => "unknown",
        }
    }

    /// Readiness of a matching wheel from its modules' verdicts.
    pub fn of_modules(modules: &[ModuleVerdict]) -> Readiness {
        if modules.is_empty() {
            Readiness::Pure
        } else if modules.iter().any(|m| m.verdict == Verdict::GilUsed) {
            Readiness::GilFallback
        } else if modules.iter().all(|m| m.verdict == Verdict::GilNotUsed) {
            Readiness::Ready
        } else if modules.iter().all(|m| m.verdict == Verdict::Incompatible) {
            Readiness::NoWheel
        } else {
            Readiness::Unknown
        }
    }
}

/// One wheel (or lone module file, or installed distribution) checked for one target.
#[derive(Debug, Clone, Serialize)]
pub struct WheelReport {
    pub filename: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub python: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub readiness: Readiness,
    /// Why the readiness is what it is, when the modules alone do not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The wheel could not be read: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub modules: Vec<ModuleVerdict>,
}

/// Counters for the `stats` object.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Stats {
    pub files: u64,
    pub bytes_read: u64,
    pub bytes_downloaded: u64,
    pub requests: u64,
    pub seconds: f64,
}

/// Everything a scan found, plus the inputs it could not read.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    pub wheels: Vec<WheelReport>,
    /// One line per input that could not be read at all.
    pub errors: Vec<String>,
    pub stats: Stats,
}

/// A unit of work found among the command-line paths.
#[derive(Debug, Clone)]
enum Input {
    Wheel(PathBuf),
    Module(PathBuf),
    /// A virtualenv, prefix or site-packages folder.
    Env(crate::wheel::InstalledEnv),
}

/// Scan local paths: `.whl` files, `.so`/`.pyd` files and folders holding them.
pub fn scan_paths(paths: &[PathBuf], cfg: &ScanConfig) -> ScanReport {
    let started = Instant::now();
    let mut report = ScanReport::default();
    let mut inputs = Vec::new();
    for path in paths {
        if let Err(e) = collect(path, &mut inputs) {
            report.errors.push(e);
        }
    }
    let bytes = AtomicU64::new(0);
    let results = run_parallel(&inputs, cfg.jobs, |input| match input {
        Input::Wheel(p) => scan_wheel_file(p, cfg, &bytes),
        Input::Module(p) => scan_module_file(p, cfg, &bytes),
        Input::Env(env) => scan_env(env, cfg, &bytes),
    });
    for r in results {
        match r {
            Ok(mut w) => {
                // An unreadable wheel is reported (unknown) and also an input error.
                if let Some(e) = w.iter().find_map(|r| r.error.as_ref()) {
                    report.errors.push(format!("{}: {e}", w[0].filename));
                }
                report.wheels.append(&mut w);
            }
            Err(e) => report.errors.push(e),
        }
    }
    report.stats.files = inputs.len() as u64;
    report.stats.bytes_read = bytes.into_inner();
    report.stats.seconds = started.elapsed().as_secs_f64();
    report
}

/// Expand one command-line path into wheels and module files.
fn collect(path: &Path, out: &mut Vec<Input>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        if let Ok(env) = crate::wheel::InstalledEnv::locate(path) {
            out.push(Input::Env(env));
            return Ok(());
        }
        let before = out.len();
        walk_dir(path, out, 0).map_err(|e| format!("{}: {e}", path.display()))?;
        if out.len() == before {
            return Err(format!(
                "{}: no wheels or extension modules in this folder",
                path.display()
            ));
        }
        return Ok(());
    }
    match kind_of(path) {
        Some(input) => {
            out.push(input);
            Ok(())
        }
        None => Err(format!(
            "{}: not a wheel (.whl) or an extension module (.so, .pyd)",
            path.display()
        )),
    }
}

fn kind_of(path: &Path) -> Option<Input> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".whl") {
        Some(Input::Wheel(path.to_path_buf()))
    } else if name.ends_with(".so") || name.ends_with(".pyd") {
        Some(Input::Module(path.to_path_buf()))
    } else {
        None
    }
}

/// Wheels anywhere below `dir`; module files only when the folder holds no wheel.
fn walk_dir(dir: &Path, out: &mut Vec<Input>, depth: usize) -> std::io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_dir(&p, out, depth + 1)?;
        } else if let Some(input) = kind_of(&p) {
            out.push(input);
        }
    }
    Ok(())
}

/// Run `f` over `items` on `jobs` threads, keeping the input order in the output.
fn run_parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 64).min(items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|&(i, _)| i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), total))
}

/// The last component of a path as text ("" when it has none or is not UTF-8).
fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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

fn scan_wheel_file(
    path: &Path,
    cfg: &ScanConfig,
    bytes: &AtomicU64,
) -> Result<Vec<WheelReport>, String> {
    let filename = file_name(path);
    let wf = WheelFilename::parse(&filename).map_err(|e| format!("{}: {e}", path.display()))?;
    let (sha, size) = sha256_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    bytes.fetch_add(size, Ordering::Relaxed);
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let archive = WheelArchive::new(BufReader::new(file), &filename);
    Ok(scan_wheel(&wf, Some(sha), archive, cfg))
}

/// Scan an opened wheel (local or remote) for every configured target.
pub fn scan_wheel<R: Read + Seek>(
    wf: &WheelFilename,
    sha256: Option<String>,
    archive: Result<WheelArchive<R>, crate::wheel::WheelError>,
    cfg: &ScanConfig,
) -> Vec<WheelReport> {
    let base = |python: PythonTarget, platform: Option<Platform>| WheelReport {
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
    };
    let mut archive = match archive {
        Ok(a) => a,
        Err(e) => {
            return cfg
                .pythons
                .iter()
                .map(|&py| WheelReport {
                    error: Some(format!("unreadable wheel: {e}")),
                    ..base(py, None)
                })
                .collect();
        }
    };
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
                    r.modules = wheel_modules(&mut archive, python, platform);
                    r.readiness = Readiness::of_modules(&r.modules);
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

/// The architecture to pick from a fat Mach-O file for a platform.
fn arch_for(platform: Platform) -> Option<Arch> {
    Some(platform.arch())
}

/// Verdicts for every extension module of a wheel that `python` on `platform` would import.
fn wheel_modules<R: Read + Seek>(
    archive: &mut WheelArchive<R>,
    python: PythonTarget,
    platform: Platform,
) -> Vec<ModuleVerdict> {
    let classified = archive.native_members(python, platform);
    let libraries: Vec<String> = classified
        .iter()
        .filter(|c| matches!(c.kind, MemberKind::SharedLibrary(_)))
        .map(|c| c.path.clone())
        .collect();
    let archive = RefCell::new(archive);
    let libs = WheelLibraries {
        archive: &archive,
        members: libraries,
        exports: RefCell::new(HashMap::new()),
        arch: arch_for(platform),
    };
    let mut out = Vec::new();
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
        let data = archive.borrow_mut().read_member(&c.path);
        let v = match data {
            Ok(data) => inspect_named(&data, &c.path, &module, python, platform, &libs),
            Err(e) => unreadable(&c.path, &module, e.to_string()),
        };
        // An untagged `.so` that exports no hook is a library, not a module.
        if bare && v.reason == Reason::NoInitHook {
            continue;
        }
        out.push(v);
    }
    sort_modules(&mut out);
    out
}

/// Blockers first, then by module name.
pub fn sort_modules(modules: &mut [ModuleVerdict]) {
    modules.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.module.cmp(&b.module))
    });
}

fn unreadable(member: &str, module: &str, why: String) -> ModuleVerdict {
    ModuleVerdict {
        member: member.to_string(),
        module: module.to_string(),
        verdict: Verdict::Unknown,
        reason: Reason::UnreadableMember,
        binder: Binder::CApi,
        evidence: why,
        fix: None,
    }
}

fn inspect_named(
    data: &[u8],
    member: &str,
    module: &str,
    python: PythonTarget,
    platform: Platform,
    libs: &dyn Libraries,
) -> ModuleVerdict {
    let hooks = hook_names(module);
    let req = ModuleRequest {
        member,
        module,
        init_hook: &hooks.init,
        export_hook: &hooks.export,
        py315: python.supports_mod_export(),
        arch: arch_for(platform),
    };
    inspect::inspect_module(data, &req, libs)
}

/// The wheel's own libraries, read on demand when a stub module hands off to one of them.
struct WheelLibraries<'w, R> {
    archive: &'w RefCell<&'w mut WheelArchive<R>>,
    members: Vec<String>,
    /// Member → its exported names (empty when unreadable).
    exports: RefCell<HashMap<String, HashSet<String>>>,
    arch: Option<Arch>,
}

impl<R: Read + Seek> Libraries for WheelLibraries<'_, R> {
    fn exporting(&self, symbol: &str, needed: &[String]) -> Option<(String, Vec<u8>)> {
        // Libraries the module links against first, then the rest of the wheel's.
        let base = |m: &String| m.rsplit('/').next().unwrap_or(m).to_string();
        let mut order: Vec<&String> = self
            .members
            .iter()
            .filter(|m| needed.contains(&base(m)))
            .collect();
        order.extend(self.members.iter().filter(|m| !needed.contains(&base(m))));
        for member in order {
            let known = self
                .exports
                .borrow()
                .get(member)
                .map(|e| e.contains(symbol));
            match known {
                Some(false) => continue,
                Some(true) => {}
                None => {
                    let data = self.archive.borrow_mut().read_member(member).ok()?;
                    let names: HashSet<String> = Binary::parse(&data, self.arch)
                        .map(|b| b.exports.keys().cloned().collect())
                        .unwrap_or_default();
                    let has = names.contains(symbol);
                    self.exports.borrow_mut().insert(member.clone(), names);
                    if has {
                        return Some((member.clone(), data));
                    }
                    continue;
                }
            }
            let data = self.archive.borrow_mut().read_member(member).ok()?;
            return Some((member.clone(), data));
        }
        None
    }
}

/// A lone extension file: its module name comes from the file name, its platform from the
/// suffix (or, for an untagged suffix, from the binary itself).
fn scan_module_file(
    path: &Path,
    cfg: &ScanConfig,
    bytes: &AtomicU64,
) -> Result<Vec<WheelReport>, String> {
    let name = file_name(path);
    let data = read_bounded(path)?;
    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    let platform = platform_of_file(&name, &data);
    let mut out = Vec::new();
    for &python in &cfg.pythons {
        let mut r = WheelReport {
            filename: path.display().to_string(),
            project: None,
            version: None,
            sha256: Some(hex(&Sha256::digest(&data))),
            python: python.to_string(),
            platform: platform.map(|p| p.to_string()),
            readiness: Readiness::Unknown,
            note: None,
            error: None,
            modules: Vec::new(),
        };
        let module = match platform.map(|p| classify_member(&name, python, p)) {
            Some(MemberKind::Extension(e)) => {
                let v = inspect_named(
                    &data,
                    &name,
                    &e.module,
                    python,
                    platform.unwrap_or(Platform::LinuxX86_64),
                    &inspect::NoLibraries,
                );
                Some(v)
            }
            Some(MemberKind::ForeignExtension(f)) => Some(ModuleVerdict {
                member: name.clone(),
                module: f.module.clone(),
                verdict: Verdict::Incompatible,
                reason: Reason::WrongAbi,
                binder: inspect::binder::detect(&data),
                evidence: format!("{}: {}", f.suffix, f.reason),
                fix: Some(format!(
                    "build the module for the free-threaded ABI ({})",
                    python.abi_tag()
                )),
            }),
            _ => {
                r.note = Some("not an extension module by its name".into());
                None
            }
        };
        r.modules.extend(module);
        r.readiness = if r.modules.is_empty() {
            Readiness::Unknown
        } else {
            Readiness::of_modules(&r.modules)
        };
        out.push(r);
    }
    Ok(out)
}

/// The platform a lone file is for: from its suffix when it names one, else from its format.
fn platform_of_file(name: &str, data: &[u8]) -> Option<Platform> {
    let tagged = Platform::ALL.iter().copied().find(|p| {
        PythonTarget::ALL.iter().any(|py| {
            matches!(classify_member(name, *py, *p), MemberKind::Extension(ref e) if e.suffix_kind != SuffixKind::Bare)
        })
    });
    if tagged.is_some() {
        return tagged;
    }
    let bin = Binary::parse(data, None).ok()?;
    let os = match bin.format {
        inspect::Format::Elf => OsFamily::Linux,
        inspect::Format::Pe => OsFamily::Windows,
        inspect::Format::MachO => OsFamily::MacOs,
    };
    Platform::ALL
        .iter()
        .copied()
        .find(|p| p.os() == os && p.arch() == bin.arch && !p.is_musl())
}

/// An installed environment: every distribution's extension modules, grouped by the
/// distribution that installed them (from `RECORD`), plus files no distribution owns.
fn scan_env(
    env: &crate::wheel::InstalledEnv,
    cfg: &ScanConfig,
    bytes: &AtomicU64,
) -> Result<Vec<WheelReport>, String> {
    let root = env.root.display().to_string();
    let mut out = Vec::new();
    for &python in &cfg.pythons {
        // The platform: asked for, else named by the files' own suffixes, else this machine's.
        let probe = env
            .scan(python, Platform::LinuxX86_64)
            .map_err(|e| format!("{root}: {e}"))?;
        let platform = cfg
            .platforms
            .first()
            .copied()
            .or_else(|| probe.dominant_interpreter().and_then(|t| t.platform()))
            .unwrap_or(Platform::LinuxX86_64);
        let scan = env
            .scan(python, platform)
            .map_err(|e| format!("{root}: {e}"))?;
        // (name, version) of the owning distribution, or None for files nobody owns.
        type Group<'s> = (Option<(String, String)>, &'s [crate::wheel::NativeFile]);
        let mut groups: Vec<Group> = scan
            .distributions
            .iter()
            .map(|d| {
                (
                    Some((d.name.clone(), d.version.clone())),
                    d.native.as_slice(),
                )
            })
            .collect();
        groups.push((None, scan.unowned.as_slice()));
        for (dist, files) in groups {
            if files.is_empty() {
                continue;
            }
            let modules = env_modules(files, python, platform, bytes);
            let (project, version) = match dist {
                Some((n, v)) => (Some(crate::wheel::normalize_name(&n)), Some(v)),
                None => (None, None),
            };
            let label = match (&project, &version) {
                (Some(n), Some(v)) => format!("{n}=={v} (installed in {root})"),
                _ => format!("files no distribution owns (in {root})"),
            };
            out.push(WheelReport {
                filename: label,
                project,
                version,
                sha256: None,
                python: python.to_string(),
                platform: Some(platform.to_string()),
                readiness: Readiness::of_modules(&modules),
                note: None,
                error: None,
                modules,
            });
        }
    }
    Ok(out)
}

fn env_modules(
    files: &[crate::wheel::NativeFile],
    python: PythonTarget,
    platform: Platform,
    bytes: &AtomicU64,
) -> Vec<ModuleVerdict> {
    let libs = DiskLibraries {
        files: files
            .iter()
            .filter(|f| matches!(f.kind, MemberKind::SharedLibrary(_)))
            .map(|f| f.path.clone())
            .collect(),
        arch: arch_for(platform),
    };
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.shadowed_by.is_none()) {
        let (module, bare) = match &f.kind {
            MemberKind::Extension(e) => (e.module.clone(), e.suffix_kind == SuffixKind::Bare),
            MemberKind::SharedLibrary(s) => match &s.module_if_hooked {
                Some(m) => (m.clone(), true),
                None => continue,
            },
            MemberKind::ForeignExtension(x) if x.loaded_by_target => {
                out.push(ModuleVerdict {
                    member: f.relative.clone(),
                    module: x.module.clone(),
                    verdict: Verdict::Incompatible,
                    reason: Reason::WrongAbi,
                    binder: Binder::CApi,
                    evidence: format!("{}: {}", x.suffix, x.reason),
                    fix: Some(format!(
                        "reinstall a build for the free-threaded ABI ({})",
                        python.abi_tag()
                    )),
                });
                continue;
            }
            _ => continue,
        };
        let v = match read_bounded(&f.path) {
            Ok(data) => {
                bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                inspect_named(&data, &f.relative, &module, python, platform, &libs)
            }
            Err(e) => unreadable(&f.relative, &module, e),
        };
        if bare && v.reason == Reason::NoInitHook {
            continue;
        }
        out.push(v);
    }
    sort_modules(&mut out);
    out
}

/// Read a file on disk, refusing anything larger than a module can sensibly be.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > crate::wheel::DEFAULT_MEMBER_LIMIT {
        return Err(format!(
            "{}: {len} bytes is larger than any extension module this tool reads",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Shared libraries of an installed distribution, for hooks that hand off to them.
struct DiskLibraries {
    files: Vec<PathBuf>,
    arch: Option<Arch>,
}

impl Libraries for DiskLibraries {
    fn exporting(&self, symbol: &str, needed: &[String]) -> Option<(String, Vec<u8>)> {
        let base = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut order: Vec<&PathBuf> = self
            .files
            .iter()
            .filter(|p| needed.contains(&base(p)))
            .collect();
        order.extend(self.files.iter().filter(|p| !needed.contains(&base(p))));
        for path in order {
            let Ok(data) = read_bounded(path) else {
                continue;
            };
            let found =
                Binary::parse(&data, self.arch).is_ok_and(|b| b.exports.contains_key(symbol));
            if found {
                return Some((path.display().to_string(), data));
            }
        }
        None
    }
}
