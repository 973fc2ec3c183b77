//! Reads the store into the site's page models: the newest crawl run's projects with their
//! headline readiness per interpreter (over the main platforms, see [`super::tier`]) and
//! their cells per platform, each project's releases and modules, the trend across runs,
//! and the projects that became ready from one run to the next.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use serde::Serialize;

use super::links::{ProjectLinks, project_links};
use super::tier;
use crate::inspect::verdict::Verdict;
use crate::scan::Readiness;
use crate::store::{
    CrawlRunSummary, FirstReady, FirstReadyBasis, SiteReadinessRow, Store, StoreError,
};
use crate::wheel::Platform;

/// The interpreters the overview always shows, even before any data names them.
pub const DEFAULT_PYTHONS: [&str; 2] = ["3.14t", "3.15t"];

/// Every readiness, in the order pages list them (best first).
pub const READINESS_ORDER: [Readiness; 7] = [
    Readiness::Ready,
    Readiness::Pure,
    Readiness::GilFallback,
    Readiness::Unknown,
    Readiness::NoWheel,
    Readiness::SourceOnly,
    Readiness::PythonExcluded,
];

/// Everything the pages are made from.
#[derive(Debug, Clone, Serialize)]
pub struct SiteData {
    /// When the site was built (RFC 3339, UTC).
    pub generated_at: String,
    /// The run the pages show (the newest run that recorded a project).
    pub run: Option<RunInfo>,
    /// Interpreters shown, by version (3.13t, 3.14t, 3.15t).
    pub pythons: Vec<String>,
    /// Platforms seen in the shown run, in `--platform` order.
    pub platforms: Vec<String>,
    /// The shown run's projects by rank.
    pub projects: Vec<ProjectData>,
    /// One point per run that recorded projects, oldest first.
    pub trend: Vec<TrendPoint>,
    /// Newest first.
    pub newly_ready: Vec<NewlyReady>,
    /// Where the site is served (ends in `/`), for absolute feed and badge links.
    pub base_url: Option<String>,
}

/// A crawl run, as the pages date it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub list_name: String,
    pub planned: u64,
    pub done: u64,
    pub failed: u64,
    pub analyzer_version: String,
    pub started_at: String,
    /// `None`: interrupted or still running.
    pub finished_at: Option<String>,
}

/// Platforms grouped by the readiness they differ from the headline with.
pub type Also = Vec<(Readiness, Vec<String>)>;

/// One project of the shown run.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectData {
    pub name: String,
    pub rank: u32,
    pub latest: Option<String>,
    pub error: Option<String>,
    /// Whether the latest release ships native code (a wheel for a specific platform).
    pub native: bool,
    /// The headline readiness per interpreter (aligned with `SiteData::pythons`), judged
    /// over the latest release's main platforms ([`tier::headline`]); `None`: nothing
    /// recorded.
    pub summary: Vec<Option<Readiness>>,
    /// Per interpreter: the platforms whose readiness differs from the headline.
    pub also: Vec<Also>,
    /// The latest release's readiness per platform, per interpreter.
    pub platforms: Vec<PlatformCells>,
    /// Free-threading classifiers of the latest release; `None`: metadata not read.
    pub classifiers: Option<Vec<String>>,
    /// Where the classifier and the wheels disagree, in words.
    pub disagreement: Option<String>,
    /// Releases the crawls evaluated, newest first.
    pub releases: Vec<ReleaseData>,
    /// Per interpreter: the oldest release of the unbroken run of evaluated ready releases
    /// that ends at the latest; `None` whenever the latest release is not ready (headline).
    pub first_ready: Vec<Option<String>>,
    /// Per interpreter: whether `first_ready` is known to be the first (an evaluated release
    /// just older was not ready, or no older release has a free-threaded wheel).
    pub first_ready_proven: Vec<bool>,
    /// Per interpreter: the oldest release with a wheel for that free-threaded ABI (by file
    /// name, every release the index lists), the earliest a native release could be ready.
    pub first_free_threaded_wheel: Vec<Option<String>>,
    /// Per interpreter: what the crawl's first-ready search saw against "once ready, stays
    /// ready", in words (an older release ready before a not-ready one; an undecided
    /// release just before the first ready one).
    pub first_ready_note: Vec<Option<String>>,
    /// Per main platform of the latest release: since which release each interpreter is
    /// ready there (the crawl's search), `None` where it is not ready or was not searched.
    pub since: Vec<PlatformSince>,
    /// The latest release's modules, per interpreter and platform.
    pub modules: Vec<ModuleRow>,
    /// Its repository and issue tracker, from the latest release's metadata.
    pub links: ProjectLinks,
}

/// Since when one platform is ready, per interpreter (aligned with `SiteData::pythons`).
#[derive(Debug, Clone, Serialize)]
pub struct PlatformSince {
    pub platform: String,
    pub versions: Vec<Option<String>>,
}

/// Readiness of one platform per interpreter (aligned with `SiteData::pythons`).
#[derive(Debug, Clone, Serialize)]
pub struct PlatformCells {
    pub platform: String,
    pub cells: Vec<Option<Readiness>>,
}

/// One evaluated release: a row of platform cells per interpreter.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseData {
    pub version: String,
    /// Earliest upload time the index gave (ISO 8601), if any.
    pub uploaded: Option<String>,
    pub platforms: Vec<PlatformCells>,
}

/// One module verdict of the latest release for one target.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleRow {
    pub python: String,
    pub platform: String,
    pub filename: String,
    pub module: String,
    pub member: String,
    pub verdict: Verdict,
    /// The reason's JSON token (`slot-value-0`).
    pub reason: String,
    /// The reason in words ([`crate::inspect::verdict::Reason::words`]).
    pub reason_words: &'static str,
    pub binder: String,
    pub evidence: String,
    pub fix: Option<String>,
}

/// Counts of one run, per interpreter.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    pub run: i64,
    /// The run's start (RFC 3339).
    pub date: String,
    pub projects: u64,
    /// Projects whose latest release ships native code.
    pub native: u64,
    /// Per interpreter (aligned with `SiteData::pythons`): projects per headline readiness,
    /// in [`READINESS_ORDER`].
    pub counts: Vec<Vec<u64>>,
    /// The same, native projects only.
    pub native_counts: Vec<Vec<u64>>,
}

/// A project whose headline readiness for an interpreter became ready (or pure) in a run.
#[derive(Debug, Clone, Serialize)]
pub struct NewlyReady {
    pub project: String,
    pub rank: u32,
    pub python: String,
    pub version: Option<String>,
    pub before: Readiness,
    pub run: i64,
    /// The run's finish (or start) time, RFC 3339.
    pub date: String,
}

/// The JSON contract's name of an enum value (`slot-value-0`).
pub fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Whether the GIL stays off with this readiness.
pub fn keeps_gil_off(r: Readiness) -> bool {
    matches!(r, Readiness::Ready | Readiness::Pure)
}

/// RFC 3339 (UTC, whole seconds) of a time.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Platform names in `--platform` order; unknown names after, alphabetically.
fn platform_order(name: &str) -> (usize, String) {
    let pos = Platform::ALL
        .iter()
        .position(|p| p.name() == name)
        .unwrap_or(Platform::ALL.len());
    (pos, name.to_string())
}

/// Versions in PEP 440 order; ones that do not parse first.
fn version_order(v: &str) -> Option<pep440_rs::Version> {
    v.parse().ok()
}

/// Interpreters in the order pages show them: by version (`3.13t` before `3.14t`), names
/// that are not versions last.
fn python_order(name: &str) -> (Vec<u32>, String) {
    let numbers: Option<Vec<u32>> = name
        .trim_end_matches('t')
        .split('.')
        .map(|n| n.parse().ok())
        .collect();
    (numbers.unwrap_or_else(|| vec![u32::MAX]), name.to_string())
}

/// Whether a wheel with these ABI tags (`cp314t`, `abi3.abi3t`) loads on the free-threaded
/// interpreter `python` (`3.14t`): its own `cpXYt` tag, or `abi3t` from 3.15t on.
fn abi_serves(abi_tags: &str, python: &str) -> bool {
    let own = format!("cp{}", python.replace('.', ""));
    let minor: Option<u32> = python
        .trim_end_matches('t')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok());
    abi_tags
        .split('.')
        .any(|t| t == own || (t == "abi3t" && minor.is_some_and(|m| m >= 15)))
}

/// The first ready release from newest-first readiness (`None`: not evaluated): the oldest
/// of the unbroken streak of ready releases starting at the newest, and whether an older
/// evaluated release was not ready. Nothing when the newest is not ready.
fn first_ready(newest_first: &[Option<bool>]) -> (Option<usize>, bool) {
    if newest_first.first() != Some(&Some(true)) {
        return (None, false);
    }
    let mut first = 0;
    for (i, r) in newest_first.iter().enumerate() {
        match r {
            Some(true) => first = i,
            Some(false) => return (Some(first), true),
            None => {}
        }
    }
    (Some(first), false)
}

/// Whether a classifier claims free-threading support (any level but "1 - Unstable").
fn claims_support(classifier: &str) -> bool {
    classifier.contains("Free Threading") && !classifier.trim_end().ends_with("1 - Unstable")
}

/// run → project → version → python → platform → readiness
type RunCells =
    HashMap<i64, HashMap<String, HashMap<String, BTreeMap<String, BTreeMap<String, Readiness>>>>>;

/// python → platform → readiness of one release.
type ReleaseCells = BTreeMap<String, BTreeMap<String, Readiness>>;

/// The headline per interpreter of one release's cells.
fn headlines(cells: Option<&ReleaseCells>, pythons: &[String]) -> Vec<Option<Readiness>> {
    pythons
        .iter()
        .map(|py| {
            cells
                .and_then(|c| c.get(py))
                .and_then(|plats| tier::headline(plats.iter().map(|(p, r)| (p.as_str(), *r))))
        })
        .collect()
}

/// Whether a release ships native code: a cell for a specific platform (not `any`) that is
/// not pure (a release whose every wheel is pure is pure, whatever its tags).
fn is_native(cells: Option<&ReleaseCells>) -> bool {
    cells.is_some_and(|c| {
        c.values()
            .flat_map(|m| m.iter())
            .any(|(p, r)| p != tier::ANY && *r != Readiness::Pure)
    })
}

/// Reads the store into [`SiteData`], dated `now`.
pub fn load(store: &Store, now: SystemTime) -> Result<SiteData, StoreError> {
    let runs: Vec<CrawlRunSummary> = store.crawl_runs()?;
    let projects = store.site_crawl_projects()?;
    let readiness = store.site_crawl_readiness()?;

    let runs_with_projects: BTreeSet<i64> = projects.iter().map(|p| p.run).collect();
    let shown = runs
        .iter()
        .rev()
        .find(|r| runs_with_projects.contains(&r.id.get()));

    let mut pythons: BTreeSet<(Vec<u32>, String)> =
        DEFAULT_PYTHONS.iter().map(|p| python_order(p)).collect();
    pythons.extend(readiness.iter().map(|r| python_order(&r.python)));
    let pythons: Vec<String> = pythons.into_iter().map(|(_, p)| p).collect();

    let mut by_run: RunCells = HashMap::new();
    for SiteReadinessRow {
        run,
        project,
        version,
        python,
        platform,
        readiness,
    } in &readiness
    {
        by_run
            .entry(*run)
            .or_default()
            .entry(project.clone())
            .or_default()
            .entry(version.clone())
            .or_default()
            .entry(python.clone())
            .or_default()
            .insert(platform.clone(), *readiness);
    }
    let cells_of = |run: i64, project: &str, version: Option<&str>| -> Option<&ReleaseCells> {
        by_run.get(&run)?.get(project)?.get(version?)
    };

    // Trend and newly ready, run by run.
    let run_date = |id: i64, finished: bool| {
        runs.iter()
            .find(|r| r.id.get() == id)
            .map(|r| {
                rfc3339(if finished {
                    r.finished_at.unwrap_or(r.started_at)
                } else {
                    r.started_at
                })
            })
            .unwrap_or_default()
    };
    let mut trend = Vec::new();
    let mut newly_ready = Vec::new();
    let mut previous: Option<HashMap<&str, Vec<Option<Readiness>>>> = None;
    for run in runs.iter().map(|r| r.id.get()) {
        let in_run: Vec<_> = projects.iter().filter(|p| p.run == run).collect();
        if in_run.is_empty() {
            continue;
        }
        let mut counts = vec![vec![0u64; READINESS_ORDER.len()]; pythons.len()];
        let mut native_counts = counts.clone();
        let mut native = 0;
        let mut now_summaries = HashMap::new();
        for p in &in_run {
            let cells = cells_of(run, &p.project, p.latest.as_deref());
            let s = headlines(cells, &pythons);
            let is_native = is_native(cells);
            native += u64::from(is_native);
            for (i, r) in s.iter().enumerate() {
                if let Some(r) = r
                    && let Some(k) = READINESS_ORDER.iter().position(|x| x == r)
                {
                    counts[i][k] += 1;
                    if is_native {
                        native_counts[i][k] += 1;
                    }
                }
            }
            if let Some(prev) = previous.as_ref().and_then(|m| m.get(p.project.as_str())) {
                for (i, (now_r, before)) in s.iter().zip(prev).enumerate() {
                    if let (Some(now_r), Some(before)) = (now_r, before)
                        && keeps_gil_off(*now_r)
                        && !keeps_gil_off(*before)
                    {
                        newly_ready.push(NewlyReady {
                            project: p.project.clone(),
                            rank: p.rank,
                            python: pythons[i].clone(),
                            version: p.latest.clone(),
                            before: *before,
                            run,
                            date: run_date(run, true),
                        });
                    }
                }
            }
            now_summaries.insert(p.project.as_str(), s);
        }
        trend.push(TrendPoint {
            run,
            date: run_date(run, false),
            projects: in_run.len() as u64,
            native,
            counts,
            native_counts,
        });
        previous = Some(now_summaries);
    }
    newly_ready.sort_by(|a, b| {
        b.run
            .cmp(&a.run)
            .then(a.rank.cmp(&b.rank))
            .then(a.project.cmp(&b.project))
    });

    let Some(shown) = shown else {
        return Ok(SiteData {
            generated_at: rfc3339(now),
            run: None,
            pythons,
            platforms: Vec::new(),
            projects: Vec::new(),
            trend,
            newly_ready,
            base_url: None,
        });
    };
    let shown_id = shown.id.get();
    let empty = HashMap::new();
    let run_cells = by_run.get(&shown_id).unwrap_or(&empty);
    let platforms: Vec<String> = run_cells
        .values()
        .flat_map(|versions| versions.values())
        .flat_map(|pys| pys.values())
        .flat_map(|plats| plats.keys())
        .map(|p| platform_order(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|(_, p)| p)
        .collect();

    // project → version → ABI tag sets of its free-threaded wheels.
    let mut ft_wheels: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
    for (project, version, abi) in store.site_free_threaded_wheels()? {
        ft_wheels
            .entry(project)
            .or_default()
            .entry(version)
            .or_default()
            .push(abi);
    }

    let mut out = Vec::new();
    for p in projects.iter().filter(|p| p.run == shown_id) {
        out.push(project_data(
            store,
            p,
            &pythons,
            &platforms,
            &by_run,
            shown_id,
            ft_wheels.get(&p.project),
        )?);
    }
    Ok(SiteData {
        generated_at: rfc3339(now),
        run: Some(RunInfo {
            id: shown_id,
            list_name: shown.list_name.clone(),
            planned: shown.planned,
            done: shown.projects_done,
            failed: shown.projects_failed,
            analyzer_version: shown.analyzer_version.clone(),
            started_at: rfc3339(shown.started_at),
            finished_at: shown.finished_at.map(rfc3339),
        }),
        pythons,
        platforms,
        projects: out,
        trend,
        newly_ready,
        base_url: None,
    })
}

/// One project's page model.
fn project_data(
    store: &Store,
    p: &crate::store::SiteProjectRow,
    pythons: &[String],
    platforms: &[String],
    by_run: &RunCells,
    shown: i64,
    ft_wheels: Option<&HashMap<String, Vec<String>>>,
) -> Result<ProjectData, StoreError> {
    // Each release's cells as the newest run that evaluated it saw them.
    let mut release_cells: HashMap<String, &ReleaseCells> = HashMap::new();
    let mut run_ids: Vec<&i64> = by_run.keys().collect();
    run_ids.sort();
    for run in run_ids {
        if let Some(versions) = by_run[run].get(&p.project) {
            for (v, cells) in versions {
                release_cells.insert(v.clone(), cells);
            }
        }
    }
    let latest_cells = by_run
        .get(&shown)
        .and_then(|r| r.get(&p.project))
        .and_then(|v| v.get(p.latest.as_deref()?));
    let summary = headlines(latest_cells, pythons);
    let also = pythons
        .iter()
        .zip(&summary)
        .map(|(py, headline)| {
            let Some(plats) = latest_cells.and_then(|c| c.get(py)) else {
                return Vec::new();
            };
            let mut ordered: Vec<(&str, Readiness)> =
                plats.iter().map(|(p, r)| (p.as_str(), *r)).collect();
            ordered.sort_by_key(|(p, _)| platform_order(p));
            tier::also(ordered, *headline, &READINESS_ORDER)
        })
        .collect();
    let cells_for = |cells: Option<&ReleaseCells>| {
        let mut names: Vec<String> = platforms.to_vec();
        if let Some(c) = cells {
            for plat in c.values().flat_map(|m| m.keys()) {
                if !names.contains(plat) {
                    names.push(plat.clone());
                }
            }
        }
        names
            .into_iter()
            .map(|platform| PlatformCells {
                cells: pythons
                    .iter()
                    .map(|py| cells.and_then(|c| c.get(py)?.get(&platform).copied()))
                    .collect(),
                platform,
            })
            .filter(|pc| pc.cells.iter().any(Option::is_some))
            .collect::<Vec<_>>()
    };

    let known = store.releases(&p.project)?;
    let mut releases = Vec::new();
    // Per interpreter, newest first: whether each release (evaluated or not) was ready.
    let mut ready_by_python: Vec<Vec<Option<bool>>> = vec![Vec::new(); pythons.len()];
    let mut versions: Vec<&str> = Vec::new();
    // The latest release first, wherever the upload dates put it.
    let mut order: Vec<&crate::store::ReleaseSummary> = known.iter().collect();
    if let Some(pos) = order
        .iter()
        .position(|r| Some(r.version.as_str()) == p.latest.as_deref())
    {
        let latest = order.remove(pos);
        order.insert(0, latest);
    }
    for rel in order {
        let cells = if Some(rel.version.as_str()) == p.latest.as_deref() {
            latest_cells.or_else(|| release_cells.get(&rel.version).copied())
        } else {
            release_cells.get(&rel.version).copied()
        };
        versions.push(&rel.version);
        let heads = headlines(cells, pythons);
        for (i, h) in heads.iter().enumerate() {
            ready_by_python[i].push(h.map(keeps_gil_off));
        }
        if let Some(cells) = cells {
            releases.push(ReleaseData {
                version: rel.version.clone(),
                uploaded: rel.first_upload.clone(),
                platforms: cells_for(Some(cells)),
            });
        }
    }
    // The oldest release with a free-threaded wheel for each interpreter: releases come
    // newest first, so the last match is the oldest.
    let first_free_threaded_wheel: Vec<Option<String>> = pythons
        .iter()
        .map(|py| {
            let with_wheel = |v: &str| {
                ft_wheels
                    .and_then(|m| m.get(v))
                    .is_some_and(|abis| abis.iter().any(|a| abi_serves(a, py)))
            };
            known
                .iter()
                .rev()
                .find(|r| with_wheel(&r.version))
                .map(|r| r.version.clone())
        })
        .collect();
    let mut first = Vec::new();
    let mut proven = Vec::new();
    for (i, ready) in ready_by_python.iter().enumerate() {
        let (at, older_not_ready) = first_ready(ready);
        let version = at.map(|k| versions[k].to_string());
        // Only native releases need a free-threaded wheel to be ready; a pure one is ready
        // without, so the bound proves nothing for it.
        let bounded = summary[i] == Some(Readiness::Ready)
            && version.is_some()
            && version == first_free_threaded_wheel[i];
        proven.push(version.is_some() && (older_not_ready || bounded));
        first.push(version);
    }
    // The crawl's searches per main platform, where they cover every main platform the
    // latest release is ready on, replace what the evaluated releases alone can tell.
    let searched = store.first_ready(&p.project)?;
    let mut notes = vec![None; pythons.len()];
    let mut since: Vec<PlatformSince> = Vec::new();
    for (i, py) in pythons.iter().enumerate() {
        if summary[i] != Some(Readiness::Ready) {
            continue;
        }
        let ready_on: Vec<&str> = latest_cells
            .and_then(|c| c.get(py))
            .map(|plats| {
                plats
                    .iter()
                    .filter(|(pl, r)| {
                        tier::is_main(pl) && pl.as_str() != tier::ANY && **r == Readiness::Ready
                    })
                    .map(|(pl, _)| pl.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<&FirstReady> = ready_on
            .iter()
            .filter_map(|pl| {
                searched
                    .iter()
                    .find(|f| f.python == *py && f.platform == *pl)
            })
            .collect();
        for f in &rows {
            let at = match since.iter().position(|s| s.platform == f.platform) {
                Some(at) => at,
                None => {
                    since.push(PlatformSince {
                        platform: f.platform.clone(),
                        versions: vec![None; pythons.len()],
                    });
                    since.len() - 1
                }
            };
            since[at].versions[i] = Some(f.version.clone());
        }
        if ready_on.is_empty() || rows.len() != ready_on.len() {
            continue;
        }
        if let Some((version, is_proven, note)) = headline_since(&rows) {
            first[i] = Some(version);
            proven[i] = is_proven;
            notes[i] = note;
        }
    }
    since.sort_by_key(|s| platform_order(&s.platform));

    let mut modules = Vec::new();
    let mut classifiers = None;
    let mut links = ProjectLinks::default();
    if let Some(version) = p.latest.as_deref() {
        let mut seen = BTreeSet::new();
        let mut analyses = store.site_release_analyses(&p.project, version)?;
        analyses.sort_by(|a, b| {
            python_order(&a.python)
                .cmp(&python_order(&b.python))
                .then(platform_order(&a.platform).cmp(&platform_order(&b.platform)))
        });
        for a in analyses {
            // Newest analysis per file and target only.
            if !seen.insert((a.filename.clone(), a.python.clone(), a.platform.clone())) {
                continue;
            }
            for m in a.modules {
                modules.push(ModuleRow {
                    python: a.python.clone(),
                    platform: a.platform.clone(),
                    filename: a.filename.clone(),
                    module: m.module,
                    member: m.member,
                    verdict: m.verdict,
                    reason: serde_name(&m.reason),
                    reason_words: m.reason.words(),
                    binder: m.binder.as_str().to_string(),
                    evidence: m.evidence,
                    fix: m.fix,
                });
            }
        }
        classifiers = store.classifiers(&p.project, version)?;
        links = project_links(&store.project_urls(&p.project, version)?.unwrap_or_default());
    }
    let disagreement = disagreement(classifiers.as_deref(), pythons, &summary);
    Ok(ProjectData {
        name: p.project.clone(),
        rank: p.rank,
        latest: p.latest.clone(),
        error: p.error.clone(),
        native: is_native(latest_cells),
        summary,
        also,
        platforms: cells_for(latest_cells),
        classifiers,
        disagreement,
        releases,
        first_ready: first,
        first_ready_proven: proven,
        first_free_threaded_wheel,
        first_ready_note: notes,
        since,
        modules,
        links,
    })
}

/// Since when an interpreter is ready on every main platform, from each platform's first
/// ready release: the newest of them, whether it is proven the first (a tie is proven when
/// one of them is), and what the search saw against monotony, in words.
fn headline_since(rows: &[&FirstReady]) -> Option<(String, bool, Option<String>)> {
    let key = |f: &FirstReady| {
        let proven = !matches!(f.basis, FirstReadyBasis::Undecided(_));
        (version_order(&f.version), proven)
    };
    let newest = rows.iter().max_by(|a, b| key(a).cmp(&key(b)))?;
    let note = match (&newest.basis, &newest.earlier_ready) {
        (FirstReadyBasis::Undecided(v), _) if !v.is_empty() => Some(format!(
            "{v}, just before, could not be judged: the first ready release may be older"
        )),
        (FirstReadyBasis::Undecided(_), _) => {
            Some("the release before it is no longer listed".to_string())
        }
        (FirstReadyBasis::AfterNotReady(before), Some(earlier)) => Some(format!(
            "not monotone: it was ready from {earlier} on too, until {before}"
        )),
        _ => None,
    };
    Some((newest.version.clone(), key(newest).1, note))
}

/// Where the release's classifier claim and its wheels' readiness part ways.
fn disagreement(
    classifiers: Option<&[String]>,
    pythons: &[String],
    summary: &[Option<Readiness>],
) -> Option<String> {
    let classifiers = classifiers?;
    let claims = classifiers.iter().any(|c| claims_support(c));
    let blocked: Vec<&str> = pythons
        .iter()
        .zip(summary)
        .filter(|(_, r)| **r == Some(Readiness::GilFallback))
        .map(|(p, _)| p.as_str())
        .collect();
    let ready: Vec<&str> = pythons
        .iter()
        .zip(summary)
        .filter(|(_, r)| **r == Some(Readiness::Ready))
        .map(|(p, _)| p.as_str())
        .collect();
    if claims && !blocked.is_empty() {
        Some(format!(
            "The classifiers claim free-threading support, but a module turns the GIL on for {}.",
            blocked.join(", ")
        ))
    } else if !claims && !ready.is_empty() && blocked.is_empty() {
        Some(format!(
            "The wheels keep the GIL off for {}, but no free-threading classifier says so.",
            ready.join(", ")
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_750_000_000);
        assert_eq!(rfc3339(t), "2025-06-15T15:06:40Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn interpreters_are_ordered_by_version() {
        let mut v = vec!["3.15t", "3.13t", "3.14t", "3.9t"];
        v.sort_by_key(|p| python_order(p));
        assert_eq!(v, ["3.9t", "3.13t", "3.14t", "3.15t"]);
    }

    #[test]
    fn free_threaded_abi_tags_are_matched_to_interpreters() {
        assert!(abi_serves("cp314t", "3.14t"));
        assert!(!abi_serves("cp314t", "3.13t"));
        assert!(abi_serves("abi3.abi3t", "3.15t"));
        assert!(!abi_serves("abi3.abi3t", "3.14t"));
        assert!(!abi_serves("cp314", "3.14t"));
    }

    fn found(platform: &str, version: &str, basis: FirstReadyBasis) -> FirstReady {
        FirstReady {
            python: "3.14t".into(),
            platform: platform.into(),
            version: version.into(),
            basis,
            earlier_ready: None,
            wheels_read: 3,
            analyzer_version: "r".into(),
        }
    }

    #[test]
    fn the_headline_is_ready_since_the_newest_platform_first_ready_release() {
        use FirstReadyBasis::*;
        let linux = found("linux-x86_64", "2.10", AfterNotReady("2.9".into()));
        let mac = found("macos-arm64", "2.9", OldestRelease);
        assert_eq!(
            headline_since(&[&linux, &mac]),
            Some(("2.10".into(), true, None)),
            "PEP 440 order, not text order"
        );
        // A tie: proven when one platform proves it.
        let win = found("windows-amd64", "2.10", Undecided("2.9".into()));
        assert!(headline_since(&[&win, &linux]).unwrap().1);
        let (_, proven, note) = headline_since(&[&win]).unwrap();
        assert!(!proven);
        assert!(
            note.unwrap()
                .contains("2.9, just before, could not be judged")
        );
        let back = FirstReady {
            earlier_ready: Some("1.0".into()),
            ..found("linux-x86_64", "3.0", AfterNotReady("2.0".into()))
        };
        let (_, proven, note) = headline_since(&[&back]).unwrap();
        assert!(proven);
        assert_eq!(
            note.as_deref(),
            Some("not monotone: it was ready from 1.0 on too, until 2.0")
        );
        assert_eq!(headline_since(&[]), None);
    }

    #[test]
    fn a_first_ready_release_needs_a_ready_latest() {
        // Newest first: 3.0 not ready, 2.0 ready, 1.0 not ready.
        let ready = [Some(false), Some(true), Some(false)];
        assert_eq!(first_ready(&ready), (None, false));
        let ready = [Some(true), Some(true), Some(false)];
        assert_eq!(first_ready(&ready), (Some(1), true));
        let ready = [Some(true), None, Some(true)];
        assert_eq!(first_ready(&ready), (Some(2), false));
        // Ready, not ready, ready: the streak since the newest not-ready release counts.
        let ready = [Some(true), Some(false), Some(true)];
        assert_eq!(first_ready(&ready), (Some(0), true));
    }

    #[test]
    fn claims_and_wheels_are_compared() {
        let py = vec!["3.14t".to_string()];
        let beta = vec!["Programming Language :: Python :: Free Threading :: 2 - Beta".to_string()];
        let d = disagreement(Some(&beta), &py, &[Some(Readiness::GilFallback)]).unwrap();
        assert!(d.contains("3.14t"), "{d}");
        assert!(disagreement(Some(&beta), &py, &[Some(Readiness::Ready)]).is_none());
        assert!(disagreement(Some(&[]), &py, &[Some(Readiness::Ready)]).is_some());
        assert!(disagreement(None, &py, &[Some(Readiness::Ready)]).is_none());
    }
}
