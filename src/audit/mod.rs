//! `gilfree audit`: requirements → releases → wheels → verdicts → one answer per dependency.
//!
//! Every input file is parsed completely (`crate::lock`), requirements whose markers do not
//! apply to any target are left out, pinned versions are scanned as pinned and unpinned ones
//! at the newest release (said in the note), through the same index scan as `gilfree scan`,
//! store included. Requirements that are not on an index are read where they are: a wheel
//! URL or a local wheel is scanned; a VCS checkout or a source archive is built from source
//! (`source-only`, with the reason); a local project folder (`-e .`) is not audited.

pub mod command;
pub mod config;
mod deps;
mod direct;
pub mod discover;
pub mod group;
mod indexes;
mod pages;

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::index::DistFile;
use crate::inspect::verdict::Verdict;
use crate::lock::{Parsed, Requirement};
use crate::scan::{Index, Readiness, RemoteTarget, ScanConfig, Stats, WheelReport, scan_remote};
use crate::store::Store;
pub use config::DEFAULT_FAIL_ON;
pub use group::{ModuleAcross, TargetAudit};

/// One dependency's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PackageAudit {
    pub name: String,
    /// The version audited (pinned, or the newest release when unpinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The worst readiness over the targets.
    pub readiness: Readiness,
    /// Whether it fails the audit: its readiness is one `--fail-on` names, and it is not
    /// ignored.
    pub fails: bool,
    /// Why it never fails the audit (`ignore` in `[tool.gilfree]`, `--ignore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// Where the requirement stands (`file:line`).
    pub source: String,
    /// The same place, as parts (for annotations).
    #[serde(skip)]
    pub location: (String, usize),
    /// The modules that turn the GIL on, or whose verdict is unknown, each once with the
    /// targets where that holds.
    pub modules: Vec<ModuleAcross>,
    /// Each target's readiness, with the wheel read for it.
    pub targets: Vec<TargetAudit>,
    /// The earliest newer release that is ready (on every target, or on those where the
    /// latest is), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeTo>,
    /// What to do about it, when something blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Why the readiness is what it is, when the modules do not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The lock lists no wheel for a target, so the release's files on the index were read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub relisted: bool,
    /// The per-target reports behind the answer.
    #[serde(skip)]
    pub reports: Vec<WheelReport>,
}

impl PackageAudit {
    /// Puts `note` before the notes the package already has.
    fn note_first(&mut self, note: &str) {
        self.note = Some(match self.note.take() {
            Some(n) => format!("{note}; {n}"),
            None => note.to_string(),
        });
    }
}

/// The release to upgrade a blocking dependency to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradeTo {
    pub version: String,
    /// Whether it is ready on every audited target (else only where the latest is).
    pub everywhere: bool,
}

/// A requirement that is not audited, and why (a local project folder: `-e .`).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub source: String,
    pub reason: String,
}

/// Everything an audit found.
#[derive(Debug, Default, Clone)]
pub struct AuditReport {
    pub packages: Vec<PackageAudit>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub stats: Stats,
}

impl AuditReport {
    /// Whether any dependency fails the audit.
    pub fn fails(&self) -> bool {
        self.packages.iter().any(|p| p.fails)
    }
}

/// Choices beyond the targets.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Also audit the dependencies of unpinned requirements, read from their metadata
    /// (approximate; see [`deps`]).
    pub follow_deps: bool,
    /// The readiness values that fail the audit.
    pub fail_on: Vec<Readiness>,
    /// Packages reported but never failed on: (normalized name, reason).
    pub ignore: Vec<(String, String)>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            follow_deps: false,
            fail_on: DEFAULT_FAIL_ON.to_vec(),
            ignore: Vec::new(),
        }
    }
}

/// Audit parsed inputs for the configured targets.
pub fn audit(
    inputs: &[Parsed],
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
) -> AuditReport {
    audit_with(inputs, cfg, index, store, AuditOptions::default())
}

/// [`audit`] with options.
pub fn audit_with(
    inputs: &[Parsed],
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
    options: AuditOptions,
) -> AuditReport {
    let remembered = pages::Remembered::new(index);
    let index: &dyn Index = &remembered;
    let started = std::time::Instant::now();
    let mut report = AuditReport::default();
    let installed = installed_reports(inputs, cfg, &mut report.warnings);
    let mut urls: Vec<(Requirement, String)> = Vec::new();
    // One entry per (name, version), first source wins.
    let mut wanted: BTreeMap<(String, Option<String>), Requirement> = BTreeMap::new();
    for parsed in inputs {
        for req in &parsed.requirements {
            if !applies_somewhere(req, cfg) {
                continue;
            }
            // What the installed binaries answer needs no index (editable installs included).
            if let Some((_, reports)) = installed
                .get(&(req.name.clone(), req.version.clone().unwrap_or_default()))
                .filter(|(root, _)| req.source.file.starts_with(root))
            {
                let p = package(
                    &req.name,
                    req.version.clone(),
                    req,
                    reports.clone(),
                    &[],
                    cfg,
                );
                report.packages.push(p);
                continue;
            }
            if !req.kind.is_auditable() {
                match direct::classify(req) {
                    direct::Direct::Project(reason) => report.skipped.push(Skipped {
                        name: req.name.clone(),
                        source: req.source.to_string(),
                        reason,
                    }),
                    direct::Direct::Source(reason) => {
                        let mut p =
                            package(&req.name, req.version.clone(), req, Vec::new(), &[], cfg);
                        p.readiness = Readiness::SourceOnly;
                        p.note = Some(reason);
                        report.packages.push(p);
                    }
                    direct::Direct::LocalWheel(path) => {
                        let scanned = crate::scan::scan_paths(
                            std::slice::from_ref(&path),
                            &ScanConfig {
                                progress: false,
                                ..cfg.clone()
                            },
                        );
                        let errors: Vec<&String> = scanned.errors.iter().collect();
                        let version = scanned.wheels.iter().find_map(|w| w.version.clone());
                        let p = package(
                            &req.name,
                            version,
                            req,
                            scanned.wheels.clone(),
                            &errors,
                            cfg,
                        );
                        report.packages.push(p);
                    }
                    direct::Direct::WheelUrl(url) => urls.push((req.clone(), url)),
                }
                continue;
            }
            wanted
                .entry((req.name.clone(), req.version.clone()))
                .or_insert_with(|| req.clone());
        }
    }
    // Unpinned requirements with a specifier: the newest release it admits.
    let chosen = choose_versions(&wanted, index, &mut report.warnings);
    // With --deps: what the unpinned ones depend on, approximately.
    let mut approximate: BTreeMap<String, String> = BTreeMap::new();
    if options.follow_deps {
        let roots: Vec<(&Requirement, Option<String>)> = wanted
            .iter()
            .filter(|((_, version), _)| version.is_none())
            .map(|((name, _), req)| (req, chosen.get(name).cloned()))
            .collect();
        let known = wanted.keys().map(|(name, _)| name.clone()).collect();
        let followed = deps::follow(
            &roots,
            &known,
            &marker_targets(cfg),
            index,
            &mut report.warnings,
        );
        for f in followed {
            approximate.insert(f.requirement.name.clone(), f.note);
            wanted
                .entry((f.requirement.name.clone(), f.requirement.version.clone()))
                .or_insert(f.requirement);
        }
    }
    let targets: Vec<RemoteTarget> = wanted
        .iter()
        .map(|((name, version), req)| {
            let version = version.as_deref().or(chosen.get(name).map(String::as_str));
            target(name, version, req)
        })
        .collect();
    let mut scanned = scan_remote(&targets, cfg, index, store);
    // A lock is written on one machine: it may list no wheel for the audited interpreter
    // (`pip lock` keeps the wheel of the interpreter it ran on; uv drops wheels of Python
    // versions outside requires-python) while the release has one. Those releases are
    // audited from the index instead, and say so.
    let relisted = relist_from_index(&targets, &mut scanned, cfg, index, store);
    report.stats = scanned.stats;
    report.warnings.extend(scanned.warnings);
    // Direct wheel URLs: read at that URL, by ranges like any other wheel.
    if !urls.is_empty() {
        let targets: Vec<RemoteTarget> = urls
            .iter()
            .map(|(_, url)| RemoteTarget::Url(url.clone()))
            .collect();
        let by_url = scan_remote(&targets, cfg, index, store);
        for (req, url) in &urls {
            let file = url
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .split(['#', '?'])
                .next()
                .unwrap_or_default();
            let reports: Vec<WheelReport> = by_url
                .wheels
                .iter()
                .filter(|w| w.filename == file)
                .cloned()
                .collect();
            let errors: Vec<&String> = by_url.errors.iter().filter(|e| e.contains(file)).collect();
            let version = reports.iter().find_map(|w| w.version.clone());
            let mut p = package(&req.name, version, req, reports, &errors, cfg);
            p.note_first(&format!("a direct URL: read at {url}"));
            report.packages.push(p);
        }
        report.warnings.extend(by_url.warnings);
    }
    let mut by_project: BTreeMap<String, Vec<WheelReport>> = BTreeMap::new();
    for w in scanned.wheels {
        by_project
            .entry(w.project.clone().unwrap_or_default())
            .or_default()
            .push(w);
    }
    for ((name, version), req) in wanted {
        let errors: Vec<&String> = scanned
            .errors
            .iter()
            .filter(|e| e.starts_with(&format!("{name}: ")))
            .collect();
        // A pinned request takes the reports of its version; an unpinned one those of the
        // newest version scanned (the release it asked for).
        let all = by_project.get(&name).map(Vec::as_slice).unwrap_or_default();
        let want = match &version {
            Some(v) => Some(v.clone()),
            None if chosen.contains_key(&name) => chosen.get(&name).cloned(),
            None => newest(all),
        };
        let reports: Vec<WheelReport> = all
            .iter()
            .filter(|r| {
                want.as_deref()
                    .is_some_and(|v| same_version(r.version.as_deref(), v))
            })
            .cloned()
            .collect();
        let mut p = package(&name, version.clone(), &req, reports, &errors, cfg);
        if relisted.contains(&(name.clone(), version.unwrap_or_default())) {
            p.relisted = true;
            p.note_first("the lock lists no wheel for this target: audited the release's files on the index (re-lock on the target interpreter to pin them)");
        }
        if let Some(note) = approximate.get(&name) {
            p.note_first(note);
        }
        report.packages.push(p);
    }
    // Errors that belong to no package (an unreadable wheel is named by its file).
    for e in scanned.errors {
        if !report
            .packages
            .iter()
            .any(|p| e.starts_with(&format!("{}: ", p.name)))
        {
            report.errors.push(e);
        }
    }
    // For what blocks: the earliest newer release that does not.
    // The searches wait on the network: several at once.
    let searching: Vec<(usize, String, Option<String>)> = report
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| blocks(p.readiness) && p.reports.iter().any(|r| r.project.is_some()))
        .map(|(i, p)| (i, p.name.clone(), p.version.clone()))
        .collect();
    let found = crate::scan::run_parallel(&searching, cfg.jobs.max(4), |(_, name, version)| {
        // Nothing more to learn from an index that does not answer.
        if index.down().is_some() {
            return None;
        }
        upgrade(name, version.as_deref(), cfg, index, store)
    });
    for ((i, _, _), upgrade) in searching.iter().zip(found) {
        let Some(upgrade) = upgrade else {
            continue;
        };
        let p = &mut report.packages[*i];
        let fix = p.suggestion.take();
        p.upgrade = upgrade.version();
        p.suggestion = Some(upgrade.suggestion(p.readiness, fix));
    }
    for p in &mut report.packages {
        p.ignored = options
            .ignore
            .iter()
            .find(|(name, _)| *name == p.name)
            .map(|(_, reason)| reason.clone());
        p.fails = p.ignored.is_none() && options.fail_on.contains(&p.readiness);
    }
    // Totals of the whole audit, upgrade searches included.
    let net = index.stats();
    report.stats.requests = net.requests;
    report.stats.bytes_downloaded = net.bytes;
    report.stats.seconds = started.elapsed().as_secs_f64();
    report.packages.sort_by(|a, b| {
        a.readiness
            .cmp(&b.readiness)
            .then_with(|| a.name.cmp(&b.name))
    });
    report
}

/// Re-scans from the index the locked releases whose listed files serve some target with no
/// wheel, replacing their reports in `scanned`; returns their (name, version).
fn relist_from_index(
    targets: &[RemoteTarget],
    scanned: &mut crate::scan::ScanReport,
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
) -> std::collections::BTreeSet<(String, String)> {
    let lacking: std::collections::BTreeSet<(String, String)> = targets
        .iter()
        .filter_map(|t| match t {
            RemoteTarget::Locked { name, version, .. } => Some((name, version)),
            _ => None,
        })
        .filter(|(name, version)| {
            scanned.wheels.iter().any(|w| {
                w.project.as_deref() == Some(name.as_str())
                    && same_version(w.version.as_deref(), version)
                    && matches!(w.readiness, Readiness::NoWheel | Readiness::SourceOnly)
            })
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    if lacking.is_empty() {
        return lacking;
    }
    let again: Vec<RemoteTarget> = lacking
        .iter()
        .map(|(name, version)| RemoteTarget::Release {
            name: name.clone(),
            version: Some(version.clone()),
        })
        .collect();
    let fresh = scan_remote(&again, cfg, index, store);
    scanned.wheels.retain(|w| {
        !lacking.iter().any(|(n, v)| {
            w.project.as_deref() == Some(n.as_str()) && same_version(w.version.as_deref(), v)
        })
    });
    scanned.wheels.extend(fresh.wheels);
    scanned.errors.extend(fresh.errors);
    scanned.warnings.extend(fresh.warnings);
    scanned.stats.files += fresh.stats.files;
    scanned.stats.seconds += fresh.stats.seconds;
    scanned.stats.requests = fresh.stats.requests;
    scanned.stats.bytes_downloaded = fresh.stats.bytes_downloaded;
    lacking
}

/// Reports read from the installed binaries of every environment input built for all the
/// audited interpreters (its extension suffixes or its `lib/python3.Nt` folder say so), keyed
/// by (name, version), with the environment's folder. Environments built for another
/// interpreter are answered from the index instead, by their installed versions.
fn installed_reports(
    inputs: &[Parsed],
    cfg: &ScanConfig,
    warnings: &mut Vec<String>,
) -> BTreeMap<(String, String), (std::path::PathBuf, Vec<WheelReport>)> {
    use crate::wheel::{InstalledEnv, Platform, PythonTarget};
    let mut out = BTreeMap::new();
    for root in inputs.iter().filter_map(|p| p.environment.as_ref()) {
        let Ok(env) = InstalledEnv::locate(root) else {
            continue;
        };
        let python = cfg.pythons.first().copied().unwrap_or(PythonTarget::Py314t);
        let Ok(probe) = env.scan(python, Platform::LinuxX86_64) else {
            continue;
        };
        let built_for = probe
            .dominant_interpreter()
            .and_then(|t| t.python_target())
            .or_else(|| env.target_from_layout());
        let platform = probe.dominant_interpreter().and_then(|t| t.platform());
        let serves_python = cfg.pythons.iter().all(|&p| Some(p) == built_for);
        let serves_platform = cfg.platforms.is_empty()
            || platform.is_some_and(|p| cfg.platforms == [p])
            || (platform.is_none() && probe.native_files().next().is_none());
        if !serves_python || !serves_platform {
            let what = built_for.map_or("no free-threaded interpreter".to_string(), |p| {
                p.to_string()
            });
            warnings.push(format!(
                "{}: built for {what}, not for the audited target: auditing its installed versions from the index",
                root.display()
            ));
            continue;
        }
        let local_cfg = ScanConfig {
            platforms: platform.into_iter().collect(),
            progress: false,
            ..cfg.clone()
        };
        let scanned = crate::scan::scan_paths(std::slice::from_ref(root), &local_cfg);
        warnings.extend(scanned.errors);
        let note = format!("read from the files installed in {}", root.display());
        for dist in &probe.distributions {
            let name = crate::wheel::normalize_name(&dist.name);
            let mut reports: Vec<WheelReport> = scanned
                .wheels
                .iter()
                .filter(|w| {
                    w.project.as_deref() == Some(&name)
                        && w.version.as_deref() == Some(&dist.version)
                })
                .cloned()
                .map(|mut w| {
                    w.note.get_or_insert_with(|| note.clone());
                    w
                })
                .collect();
            if reports.is_empty() {
                // Installed for this interpreter without a native module.
                reports = cfg
                    .pythons
                    .iter()
                    .map(|python| WheelReport {
                        filename: format!(
                            "{name}=={} (installed in {})",
                            dist.version,
                            root.display()
                        ),
                        project: Some(name.clone()),
                        version: Some(dist.version.clone()),
                        sha256: None,
                        python: python.to_string(),
                        platform: platform.map(|p| p.to_string()),
                        readiness: Readiness::Pure,
                        note: Some(format!(
                            "installed in {} without extension modules",
                            root.display()
                        )),
                        error: None,
                        modules: Vec::new(),
                    })
                    .collect();
            }
            out.insert((name, dist.version.clone()), (env.root.clone(), reports));
        }
    }
    out
}

/// For every unpinned requirement with a version specifier, the newest final, unyanked
/// release the specifier admits (pre-releases only when it names one, as installers do).
fn choose_versions(
    wanted: &BTreeMap<(String, Option<String>), Requirement>,
    index: &dyn Index,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, String> {
    use std::str::FromStr;
    let mut chosen = BTreeMap::new();
    for ((name, version), req) in wanted {
        let (None, Some(spec)) = (version, &req.specifier) else {
            continue;
        };
        if pep440_rs::VersionSpecifiers::from_str(spec).is_err() {
            continue;
        }
        let Ok(page) = index.project(name) else {
            continue;
        };
        let best = deps::newest_admitted(&crate::index::select::releases(&page), spec);
        match best {
            Some(v) => {
                chosen.insert(name.clone(), v);
            }
            None => warnings.push(format!(
                "{name}: no release on the index matches {spec}; auditing the newest"
            )),
        }
    }
    chosen
}

/// What to scan for a requirement: the files its lock lists when the lock gives every one
/// of them a URL (uv.lock, pylock.toml), else the release on the index.
fn target(name: &str, version: Option<&str>, req: &Requirement) -> RemoteTarget {
    let web = |url: &str| url.starts_with("https://") || url.starts_with("http://");
    let locked: Option<Vec<DistFile>> = req
        .wheels
        .iter()
        .map(|f| {
            let url = f.url.as_deref().filter(|u| web(u))?;
            Some(DistFile {
                sha256: f.sha256.clone(),
                ..DistFile::new(&f.filename, url)
            })
        })
        .collect();
    match (version, locked) {
        (Some(version), Some(files)) if !files.is_empty() => RemoteTarget::Locked {
            name: name.to_string(),
            version: version.to_string(),
            files,
        },
        _ => RemoteTarget::Release {
            name: name.to_string(),
            version: version.map(str::to_string),
        },
    }
}

/// The newest version among reports.
fn newest(reports: &[WheelReport]) -> Option<String> {
    use std::str::FromStr;
    reports
        .iter()
        .filter_map(|r| r.version.as_deref())
        .filter_map(|v| pep440_rs::Version::from_str(v).ok().map(|p| (p, v)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v.to_string())
}

/// PEP 440 equality of a report's version and a pin (`1.0` is `1.0.0`).
fn same_version(got: Option<&str>, pin: &str) -> bool {
    use std::str::FromStr;
    match (
        got.map(pep440_rs::Version::from_str),
        pep440_rs::Version::from_str(pin),
    ) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => got == Some(pin),
    }
}

fn blocks(r: Readiness) -> bool {
    matches!(
        r,
        Readiness::GilFallback
            | Readiness::NoWheel
            | Readiness::PythonExcluded
            | Readiness::SourceOnly
    )
}

/// What a newer release offers a dependency that blocks.
enum Upgrade {
    /// The earliest newer release whose wheels keep the GIL off on every target.
    To(String),
    /// No newer release does on every target; `version` is the earliest that does on the
    /// targets where the latest does (`ready_on`); `others` are the rest, with the latest's
    /// readiness there.
    Partly {
        version: String,
        ready_on: Vec<String>,
        others: Vec<(String, Readiness)>,
    },
    /// No newer release does on every target; `latest` is the newest (maybe the one audited),
    /// with its readiness per target.
    None {
        latest: String,
        targets: Vec<(String, Readiness)>,
    },
}

impl Upgrade {
    /// The release to upgrade to, when there is one.
    fn version(&self) -> Option<UpgradeTo> {
        match self {
            Upgrade::To(v) => Some(UpgradeTo {
                version: v.clone(),
                everywhere: true,
            }),
            Upgrade::Partly { version, .. } => Some(UpgradeTo {
                version: version.clone(),
                everywhere: false,
            }),
            Upgrade::None { .. } => None,
        }
    }

    /// The suggestion to show; `fix` is what the maintainers can do about a GIL fallback.
    fn suggestion(self, readiness: Readiness, fix: Option<String>) -> String {
        let (latest, targets) = match self {
            Upgrade::To(v) => return format!("upgrade to {v}, whose wheels keep the GIL off"),
            Upgrade::Partly {
                version,
                ready_on,
                others,
            } => {
                let others: Vec<String> = others
                    .iter()
                    .map(|(t, r)| format!("{t} ({})", r.as_str()))
                    .collect();
                return format!(
                    "upgrade to {version}, whose wheels keep the GIL off on {}; no release is ready yet on {}",
                    ready_on.join(", "),
                    others.join(", ")
                );
            }
            Upgrade::None { latest, targets } => (latest, targets),
        };
        let without_wheel = !targets.is_empty()
            && targets
                .iter()
                .all(|(_, r)| matches!(r, Readiness::NoWheel | Readiness::SourceOnly));
        if without_wheel || (targets.is_empty() && readiness != Readiness::GilFallback) {
            return format!(
                "no release has a free-threaded wheel for this target yet (latest: {latest})"
            );
        }
        let head = format!("no newer release keeps the GIL off (latest: {latest})");
        match fix {
            Some(f) if readiness == Readiness::GilFallback => format!("{head}; {f}"),
            _ => head,
        }
    }
}

/// The earliest release newer than `version` whose wheels keep the GIL off on every target,
/// or that none does. None when the index cannot tell.
fn upgrade(
    name: &str,
    version: Option<&str>,
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
) -> Option<Upgrade> {
    use std::str::FromStr;
    let page = index.project(name).ok()?;
    let releases = crate::index::select::releases(&page);
    let current = pep440_rs::Version::from_str(version?).ok()?;
    let newer_releases: Vec<&crate::index::select::Release> = releases
        .iter()
        .filter(|(v, r)| **v > current && !v.any_prerelease() && !r.yanked())
        .map(|(_, r)| r)
        .collect();
    let newer: Vec<&str> = newer_releases.iter().map(|r| r.version.as_str()).collect();
    // The readiness of a release per target; None when it could not be scanned.
    let targets = |v: &str| -> Option<Vec<(String, Readiness)>> {
        let target = RemoteTarget::Release {
            name: name.to_string(),
            version: Some(v.to_string()),
        };
        let scanned = scan_remote(
            &[target],
            &ScanConfig {
                progress: false,
                ..cfg.clone()
            },
            index,
            store,
        );
        (scanned.errors.is_empty() && !scanned.wheels.is_empty()).then(|| {
            let mut out: Vec<(String, Readiness)> = Vec::new();
            for w in &scanned.wheels {
                let t = format!("{} {}", w.python, w.platform.as_deref().unwrap_or("any"));
                match out.iter_mut().find(|(o, _)| *o == t) {
                    Some((_, r)) => *r = (*r).min(w.readiness),
                    None => out.push((t, w.readiness)),
                }
            }
            out
        })
    };
    let Some(&latest) = newer.last() else {
        return Some(Upgrade::None {
            latest: version?.to_string(),
            targets: Vec::new(),
        });
    };
    let latest_targets = targets(latest).unwrap_or_default();
    let good = |r: &Readiness| matches!(r, Readiness::Ready | Readiness::Pure);
    let (ready_on, others): (Vec<_>, Vec<_>) =
        latest_targets.iter().cloned().partition(|(_, r)| good(r));
    if ready_on.is_empty() {
        return Some(Upgrade::None {
            latest: latest.to_string(),
            targets: latest_targets,
        });
    }
    // Readiness rarely goes back once a project ships free-threaded wheels: bisect for the
    // first release ready where the latest is (a few scans, answered from the store when
    // known).
    let wanted: Vec<&str> = ready_on.iter().map(|(t, _)| t.as_str()).collect();
    // Releases without a fitting wheel for those targets cannot be ready: skip them by their
    // file names alone, without reading a byte.
    let fits = |release: &crate::index::select::Release| {
        use crate::index::select::{Pick, pick};
        let places: Vec<Option<crate::wheel::Platform>> = crate::wheel::Platform::ALL
            .iter()
            .copied()
            .map(Some)
            .chain([None])
            .collect();
        wanted.iter().all(|label| {
            cfg.pythons.iter().any(|&python| {
                places.iter().any(|&place| {
                    let name = place.map_or("any".to_string(), |p| p.to_string());
                    *label == format!("{python} {name}")
                        && matches!(
                            pick(release, python, place, false),
                            Pick::Wheel(..) | Pick::Pure(..)
                        )
                })
            })
        })
    };
    let first_fitting = newer_releases
        .iter()
        .position(|r| fits(r))
        .unwrap_or(newer.len() - 1);
    let fine = |v: &str| {
        targets(v).is_some_and(|t| {
            wanted
                .iter()
                .all(|w| t.iter().any(|(name, r)| name == w && good(r)))
        })
    };
    // Most projects are ready from the first release with free-threaded wheels: try it
    // before bisecting the rest.
    let (mut lo, mut hi) = (first_fitting, newer.len() - 1);
    if lo < hi && !fine(newer[lo]) {
        lo += 1;
    } else {
        hi = lo;
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fine(newer[mid]) {
            hi = mid
        } else {
            lo = mid + 1
        }
    }
    let version = newer[lo].to_string();
    Some(if others.is_empty() {
        Upgrade::To(version)
    } else {
        Upgrade::Partly {
            version,
            ready_on: wanted.iter().map(|w| w.to_string()).collect(),
            others,
        }
    })
}

/// The marker environments of the audited targets. No platform asked for: a requirement
/// counts when any common platform needs it.
fn marker_targets(cfg: &ScanConfig) -> Vec<crate::lock::markers::Target> {
    let platforms: Vec<String> = if cfg.platforms.is_empty() {
        ["linux-x86_64", "macos-arm64", "windows-amd64"]
            .map(String::from)
            .to_vec()
    } else {
        cfg.platforms.iter().map(|p| p.to_string()).collect()
    };
    cfg.pythons
        .iter()
        .flat_map(|py| {
            platforms.iter().filter_map(move |plat| {
                crate::lock::markers::Target::new(&py.to_string(), plat).ok()
            })
        })
        .collect()
}

fn applies_somewhere(req: &Requirement, cfg: &ScanConfig) -> bool {
    let targets = marker_targets(cfg);
    targets.is_empty() || targets.iter().any(|t| req.applies(t))
}

fn package(
    name: &str,
    version: Option<String>,
    req: &Requirement,
    reports: Vec<WheelReport>,
    errors: &[&String],
    cfg: &ScanConfig,
) -> PackageAudit {
    let chosen = reports.iter().find_map(|r| r.version.clone());
    let readiness = reports
        .iter()
        .map(|r| r.readiness)
        .min()
        .unwrap_or(Readiness::Unknown);
    let modules = group::modules_across(&reports);
    let one_python = cfg.pythons.len() <= 1;
    let all_targets: Vec<String> = reports.iter().map(group::target_label).collect();
    let mut notes: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    if version.is_none()
        && let Some(v) = &chosen
    {
        notes.push(match &req.specifier {
            Some(spec) => format!("not pinned: audited the newest release matching {spec}, {v}"),
            None => format!("not pinned: audited the newest release, {v}"),
        });
    }
    let plain = |r: &WheelReport| matches!(r.readiness, Readiness::Ready | Readiness::Pure);
    // One line per distinct note, naming every target it holds for.
    let mut grouped: Vec<(&str, Vec<String>)> = Vec::new();
    for r in reports.iter().filter(|r| !plain(r)) {
        let Some(note) = r.note.as_deref() else {
            continue;
        };
        let target = group::target_label(r);
        match grouped.iter_mut().find(|(n, _)| *n == note) {
            Some((_, targets)) => targets.push(target),
            None => grouped.push((note, vec![target])),
        }
    }
    notes.extend(grouped.into_iter().map(|(note, targets)| {
        // With one target, where is no news.
        if all_targets.len() <= 1 {
            note.to_string()
        } else {
            format!(
                "{}: {note}",
                group::phrase(&targets, &all_targets, one_python)
            )
        }
    }));
    notes.dedup();
    let suggestion = match readiness {
        Readiness::GilFallback => Some(fix_summary(&modules)),
        Readiness::NoWheel | Readiness::SourceOnly => {
            Some("no free-threaded wheel at this version: check for a newer release or build from source".into())
        }
        _ => None,
    };
    PackageAudit {
        name: name.to_string(),
        version: version.or(chosen),
        readiness,
        fails: false,
        ignored: None,
        source: req.source.to_string(),
        location: (req.source.file.display().to_string(), req.source.line),
        targets: group::targets(&reports),
        modules,
        upgrade: None,
        relisted: false,
        suggestion,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        reports,
    }
}

/// The fixes of the blocking modules, without repeats.
fn fix_summary(modules: &[ModuleAcross]) -> String {
    let mut fixes: Vec<&str> = modules
        .iter()
        .filter(|m| m.verdict == Verdict::GilUsed)
        .filter_map(|m| m.fix.as_deref())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    fixes.retain(|f| seen.insert(*f));
    if fixes.is_empty() {
        "ask the maintainers to declare free-threading support".into()
    } else {
        format!("the maintainers can {}", fixes.join("; or "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(list: &[(&str, Readiness)]) -> Vec<(String, Readiness)> {
        list.iter().map(|(t, r)| (t.to_string(), *r)).collect()
    }

    #[test]
    fn suggestions_say_what_a_newer_release_does_and_does_not_fix() {
        let fix = || Some("the maintainers can rebuild".to_string());
        let cases = [
            (
                Upgrade::To("2.0".into()),
                Readiness::NoWheel,
                "upgrade to 2.0, whose wheels keep the GIL off",
            ),
            (
                Upgrade::Partly {
                    version: "2.0".into(),
                    ready_on: vec!["3.14t linux-x86_64".into()],
                    others: targets(&[("3.14t linux-s390x", Readiness::Unknown)]),
                },
                Readiness::NoWheel,
                "upgrade to 2.0, whose wheels keep the GIL off on 3.14t linux-x86_64; no release is ready yet on 3.14t linux-s390x (unknown)",
            ),
            (
                Upgrade::None {
                    latest: "1.4".into(),
                    targets: targets(&[("3.14t linux-x86_64", Readiness::NoWheel)]),
                },
                Readiness::NoWheel,
                "no release has a free-threaded wheel for this target yet (latest: 1.4)",
            ),
            (
                Upgrade::None {
                    latest: "1.4".into(),
                    targets: targets(&[("3.14t linux-x86_64", Readiness::GilFallback)]),
                },
                Readiness::GilFallback,
                "no newer release keeps the GIL off (latest: 1.4); the maintainers can rebuild",
            ),
            (
                Upgrade::None {
                    latest: "1.4".into(),
                    targets: Vec::new(),
                },
                Readiness::GilFallback,
                "no newer release keeps the GIL off (latest: 1.4); the maintainers can rebuild",
            ),
        ];
        for (upgrade, readiness, want) in cases {
            assert_eq!(upgrade.suggestion(readiness, fix()), want);
        }
    }
}
