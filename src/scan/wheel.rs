//! One wheel, opened from any `Read + Seek` (a local file or a remote one read by ranges):
//! which targets it serves, and a verdict for each extension module a target imports.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};

use super::{
    Readiness, ScanConfig, WheelReport, arch_for, inspect_named, sort_modules, unreadable,
};
use crate::inspect::verdict::{Binder, ModuleVerdict, Reason, Verdict};
use crate::inspect::{Arch, Binary, Libraries};
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
