//! Installed environments (virtualenv, prefix, site-packages): extension modules grouped by
//! the distribution whose `RECORD` lists them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Readiness, ScanConfig, WheelReport, arch_for, inspect_named, read_bounded, sort_modules,
    unreadable,
};
use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::inspect::{Libraries, Library, LibrarySet};
use crate::wheel::{MemberKind, Platform, PythonTarget, SuffixKind};

/// An installed environment: every distribution's extension modules, grouped by the
/// distribution that installed them (from `RECORD`), plus files no distribution owns.
pub(super) fn scan_env(
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
            let (modules, foreign) = env_modules(files, python, platform, bytes);
            let (project, version) = match dist {
                Some((n, v)) => (Some(crate::wheel::normalize_name(&n)), Some(v)),
                None => (None, None),
            };
            let label = match (&project, &version) {
                (Some(n), Some(v)) => format!("{n}=={v} (installed in {root})"),
                _ => format!("files no distribution owns (in {root})"),
            };
            let mut report = WheelReport {
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
            };
            super::foreign::with_foreign_libraries(&mut report, &foreign);
            out.push(report);
        }
    }
    Ok(out)
}

fn env_modules(
    files: &[crate::wheel::NativeFile],
    python: PythonTarget,
    platform: Platform,
    bytes: &AtomicU64,
) -> (Vec<ModuleVerdict>, Vec<String>) {
    let libs = DiskLibraries(LibrarySet::new(
        files
            .iter()
            // Extension-named files can be libraries others link against (see scan::wheel).
            .filter(|f| {
                matches!(
                    f.kind,
                    MemberKind::SharedLibrary(_) | MemberKind::Extension(_)
                )
            })
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect(),
        arch_for(platform),
    ));
    let mut out = Vec::new();
    let mut foreign = Vec::new();
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
        let data = read_bounded(&f.path);
        let v = match &data {
            Ok(data) => {
                bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                inspect_named(data, &f.relative, &module, python, platform, &libs)
            }
            Err(e) => unreadable(&f.relative, &module, e.clone()),
        };
        if bare && v.reason == Reason::NoInitHook {
            continue;
        }
        if let Ok(data) = &data
            && super::foreign::is_foreign_loaded_library(&v, data, arch_for(platform))
        {
            foreign.push(f.relative.clone());
            continue;
        }
        out.push(v);
    }
    sort_modules(&mut out);
    (out, foreign)
}

/// Shared libraries of an installed distribution, for hooks that hand off to them, each
/// parsed once for the whole distribution.
struct DiskLibraries(LibrarySet);

impl Libraries for DiskLibraries {
    fn exporting(&self, symbol: &str, needed: &[String]) -> Option<Arc<Library>> {
        self.0
            .exporting(symbol, needed, |path| read_bounded(Path::new(path)).ok())
    }
}
