//! Reads the store into the site's page models: the newest crawl run's projects with their
//! readiness per interpreter and platform, each project's releases and modules, the trend
//! across runs, and the projects that became ready from one run to the next.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use serde::Serialize;

use crate::inspect::verdict::Verdict;
use crate::scan::Readiness;
use crate::store::{CrawlRunSummary, SiteReadinessRow, Store, StoreError};
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
    /// Interpreters shown, `3.14t` and `3.15t` first.
    pub pythons: Vec<String>,
    /// Platforms seen in the shown run, in `--platform` order.
    pub platforms: Vec<String>,
    /// The shown run's projects by rank.
    pub projects: Vec<ProjectData>,
    /// One point per run that recorded projects, oldest first.
    pub trend: Vec<TrendPoint>,
    /// Newest first.
    pub newly_ready: Vec<NewlyReady>,
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

/// One project of the shown run.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectData {
    pub name: String,
    pub rank: u32,
    pub latest: Option<String>,
    pub error: Option<String>,
    /// The project's readiness per interpreter (aligned with `SiteData::pythons`), judged
    /// over the latest release's platforms; `None`: nothing recorded.
    pub summary: Vec<Option<Readiness>>,
    /// The latest release's readiness per platform, per interpreter.
    pub platforms: Vec<PlatformCells>,
    /// Free-threading classifiers of the latest release; `None`: metadata not read.
    pub classifiers: Option<Vec<String>>,
    /// Where the classifier and the wheels disagree, in words.
    pub disagreement: Option<String>,
    /// Releases the crawls evaluated, newest first.
    pub releases: Vec<ReleaseData>,
    /// Per interpreter: the oldest evaluated release that was ready (or pure).
    pub first_ready: Vec<Option<String>>,
    /// Per interpreter: whether an older evaluated release was not ready, so that
    /// `first_ready` is the first ready one; otherwise it is only the oldest one crawled.
    pub first_ready_proven: Vec<bool>,
    /// The latest release's modules, per interpreter and platform.
    pub modules: Vec<ModuleRow>,
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
    pub reason: String,
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
    /// Per interpreter (aligned with `SiteData::pythons`): projects per readiness, in
    /// [`READINESS_ORDER`].
    pub counts: Vec<Vec<u64>>,
}

/// A project whose readiness for an interpreter became ready (or pure) in a run.
#[derive(Debug, Clone, Serialize)]
pub struct NewlyReady {
    pub project: String,
    pub python: String,
    pub version: Option<String>,
    pub before: Readiness,
    pub run: i64,
    /// The run's finish (or start) time, RFC 3339.
    pub date: String,
}

/// The project's readiness for one interpreter over its platforms: a module that turns the
/// GIL on anywhere decides it, then an undecided one; else ready where any platform is ready
/// (the platforms column says which), then pure, then what is missing.
pub fn summarize(cells: impl IntoIterator<Item = Readiness>) -> Option<Readiness> {
    const PRIORITY: [Readiness; 7] = [
        Readiness::GilFallback,
        Readiness::Unknown,
        Readiness::Ready,
        Readiness::Pure,
        Readiness::NoWheel,
        Readiness::SourceOnly,
        Readiness::PythonExcluded,
    ];
    let seen: Vec<Readiness> = cells.into_iter().collect();
    PRIORITY.into_iter().find(|p| seen.contains(p))
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

/// Interpreters in the order pages show them: the defaults first, then the others.
fn python_order(name: &str) -> (usize, String) {
    let pos = DEFAULT_PYTHONS
        .iter()
        .position(|p| *p == name)
        .unwrap_or(DEFAULT_PYTHONS.len());
    (pos, name.to_string())
}

/// Whether a classifier claims free-threading support (any level but "1 - Unstable").
fn claims_support(classifier: &str) -> bool {
    classifier.contains("Free Threading") && !classifier.trim_end().ends_with("1 - Unstable")
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

    let mut pythons: BTreeSet<(usize, String)> =
        DEFAULT_PYTHONS.iter().map(|p| python_order(p)).collect();
    pythons.extend(readiness.iter().map(|r| python_order(&r.python)));
    let pythons: Vec<String> = pythons.into_iter().map(|(_, p)| p).collect();

    // run → project → version → python → platform → readiness
    type Cells = BTreeMap<String, BTreeMap<String, Readiness>>;
    let mut by_run: HashMap<i64, HashMap<String, HashMap<String, Cells>>> = HashMap::new();
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
    let empty = HashMap::new();
    let summary_of = |run: i64, project: &str, version: Option<&str>| -> Vec<Option<Readiness>> {
        let cells = version.and_then(|v| {
            by_run
                .get(&run)
                .unwrap_or(&empty)
                .get(project)
                .and_then(|p| p.get(v))
        });
        pythons
            .iter()
            .map(|py| {
                cells
                    .and_then(|c| c.get(py))
                    .and_then(|plats| summarize(plats.values().copied()))
            })
            .collect()
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
        let mut now_summaries = HashMap::new();
        for p in &in_run {
            let s = summary_of(run, &p.project, p.latest.as_deref());
            for (i, r) in s.iter().enumerate() {
                if let Some(r) = r
                    && let Some(k) = READINESS_ORDER.iter().position(|x| x == r)
                {
                    counts[i][k] += 1;
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
            counts,
        });
        previous = Some(now_summaries);
    }
    newly_ready.sort_by(|a, b| b.run.cmp(&a.run).then(a.project.cmp(&b.project)));

    let Some(shown) = shown else {
        return Ok(SiteData {
            generated_at: rfc3339(now),
            run: None,
            pythons,
            platforms: Vec::new(),
            projects: Vec::new(),
            trend,
            newly_ready,
        });
    };
    let shown_id = shown.id.get();
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

    let mut out = Vec::new();
    for p in projects.iter().filter(|p| p.run == shown_id) {
        out.push(project_data(
            store,
            p,
            &pythons,
            &platforms,
            &by_run,
            shown_id,
            &summary_of,
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
    })
}

/// A project's readiness per interpreter in a run, for a release.
type SummaryOf<'a> = dyn Fn(i64, &str, Option<&str>) -> Vec<Option<Readiness>> + 'a;

type RunCells =
    HashMap<i64, HashMap<String, HashMap<String, BTreeMap<String, BTreeMap<String, Readiness>>>>>;

/// One project's page model.
fn project_data(
    store: &Store,
    p: &crate::store::SiteProjectRow,
    pythons: &[String],
    platforms: &[String],
    by_run: &RunCells,
    shown: i64,
    summary_of: &SummaryOf<'_>,
) -> Result<ProjectData, StoreError> {
    let summary = summary_of(shown, &p.project, p.latest.as_deref());
    // Each release's cells as the newest run that evaluated it saw them.
    let mut release_cells: HashMap<String, &BTreeMap<String, BTreeMap<String, Readiness>>> =
        HashMap::new();
    let mut run_ids: Vec<&i64> = by_run.keys().collect();
    run_ids.sort();
    for run in run_ids {
        if let Some(versions) = by_run[run].get(&p.project) {
            for (v, cells) in versions {
                release_cells.insert(v.clone(), cells);
            }
        }
    }
    let cells_for = |cells: Option<&BTreeMap<String, BTreeMap<String, Readiness>>>| {
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
    let latest_platforms = cells_for(
        p.latest
            .as_deref()
            .and_then(|v| release_cells.get(v).copied()),
    );

    let mut releases = Vec::new();
    let mut first_ready = vec![None; pythons.len()];
    // Per interpreter: the oldest evaluated release, and whether it was ready.
    let mut oldest: Vec<Option<bool>> = vec![None; pythons.len()];
    let known = store.releases(&p.project)?;
    for rel in &known {
        let Some(cells) = release_cells.get(&rel.version) else {
            continue;
        };
        for (i, py) in pythons.iter().enumerate() {
            let Some(plats) = cells.get(py) else {
                continue;
            };
            let ready = plats.values().any(|r| keeps_gil_off(*r));
            if ready {
                // Releases come newest first: the last one seen is the oldest.
                first_ready[i] = Some(rel.version.clone());
            }
            oldest[i] = Some(ready);
        }
        releases.push(ReleaseData {
            version: rel.version.clone(),
            uploaded: rel.first_upload.clone(),
            platforms: cells_for(Some(cells)),
        });
    }

    let mut modules = Vec::new();
    let mut classifiers = None;
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
                    binder: m.binder.as_str().to_string(),
                    evidence: m.evidence,
                    fix: m.fix,
                });
            }
        }
        classifiers = store.classifiers(&p.project, version)?;
    }
    let disagreement = disagreement(classifiers.as_deref(), pythons, &summary);
    Ok(ProjectData {
        name: p.project.clone(),
        rank: p.rank,
        latest: p.latest.clone(),
        error: p.error.clone(),
        summary,
        platforms: latest_platforms,
        classifiers,
        disagreement,
        releases,
        first_ready,
        // The first ready release is known only when an older evaluated one was not ready.
        first_ready_proven: oldest.iter().map(|o| *o == Some(false)).collect(),
        modules,
    })
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
    fn a_blocking_platform_decides_the_summary() {
        use Readiness::*;
        assert_eq!(summarize([Ready, GilFallback, NoWheel]), Some(GilFallback));
        assert_eq!(summarize([Ready, NoWheel]), Some(Ready));
        assert_eq!(summarize([NoWheel, SourceOnly]), Some(NoWheel));
        assert_eq!(summarize([]), None);
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
