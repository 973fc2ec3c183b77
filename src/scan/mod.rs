//! `gilfree scan`: module-by-module verdicts for wheels, lone extension files, folders,
//! installed environments (see `local` and `env`) and, through the index, releases on PyPI.
//! Each wheel gives one report per (interpreter, platform) it is checked for.

mod env;
mod foreign;
mod local;
mod remote;
pub mod session;
mod wheel;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::inspect::{self, Arch, Libraries, ModuleRequest};
use crate::wheel::{Platform, PythonTarget, hook_names};

pub use local::scan_paths;
pub use remote::{
    Admit, Index, ListedScan, ListedWheel, OfflineIndex, RemoteTarget, scan_listed, scan_remote,
};
pub use wheel::{scan_archive, scan_wheel};

/// What to check every target against.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub pythons: Vec<PythonTarget>,
    /// Restrict to these platforms; empty means every platform a wheel has.
    pub platforms: Vec<Platform>,
    /// Worker threads.
    pub jobs: usize,
    /// Show a progress bar on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
    /// A project page the store recorded less than this long ago is used instead of asking
    /// the index again (None: always ask).
    pub page_max_age: Option<std::time::Duration>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            pythons: vec![PythonTarget::Py314t],
            platforms: Vec::new(),
            jobs: 2,
            progress: false,
            page_max_age: None,
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
    /// No file of the release installs on this interpreter: its `requires-python` excludes it.
    PythonExcluded,
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
            Readiness::PythonExcluded => "python-excluded",
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
    /// Things that went wrong without affecting any verdict (the store could not be written).
    pub warnings: Vec<String>,
    pub wheels: Vec<WheelReport>,
    /// One line per input that could not be read at all.
    pub errors: Vec<String>,
    pub stats: Stats,
}

/// Run `f` over `items` on `jobs` threads, keeping the input order in the output.
pub(crate) fn run_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
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

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Blockers first, then by module name.
pub fn sort_modules(modules: &mut [ModuleVerdict]) {
    modules.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.module.cmp(&b.module))
    });
}

pub(super) fn unreadable(member: &str, module: &str, why: String) -> ModuleVerdict {
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

/// Read a file on disk, refusing anything larger than a module can sensibly be.
pub(super) fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
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

/// The architecture to pick from a fat Mach-O file for a platform.
pub(super) fn arch_for(platform: Platform) -> Option<Arch> {
    Some(platform.arch())
}

pub(super) fn inspect_named(
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
