//! The HTML pages and the Atom feed: view models built from [`SiteData`] and rendered
//! with the askama templates in `web/templates/`. Pages at the root link with no prefix,
//! project pages (one folder down) with `../`.

use std::collections::BTreeMap;

use askama::Template;

use super::charts;
use super::data::{
    NewlyReady, PlatformCells, ProjectData, READINESS_ORDER, RunInfo, SiteData, keeps_gil_off,
    serde_name,
};
use super::{Output, SiteError, badge_path, readiness_label, slug};
use crate::inspect::verdict::Verdict;
use crate::scan::Readiness;

/// What every page's frame needs.
pub struct Layout {
    /// The way back to the site root: `""` or `"../"`.
    pub root: &'static str,
    /// Which navigation entry is this page (`overview`, `projects`, …).
    pub current: &'static str,
    pub generated_at: String,
    /// When and from what the data was collected, in words.
    pub collected: String,
}

/// A readiness in a table cell.
pub struct Cell {
    /// CSS class (`r-ready`, `r-none`).
    pub class: String,
    pub text: &'static str,
    /// The JSON vocabulary (`gil-fallback`), or `none`; filters match on it.
    pub value: &'static str,
}

fn cell(r: Option<Readiness>) -> Cell {
    match r {
        Some(r) => Cell {
            class: format!("r-{}", r.as_str()),
            text: readiness_label(r),
            value: r.as_str(),
        },
        None => Cell {
            class: "r-none".into(),
            text: "—",
            value: "none",
        },
    }
}

fn cells(pc: &PlatformCells) -> Vec<Cell> {
    pc.cells.iter().map(|r| cell(*r)).collect()
}

fn project_href(root: &str, name: &str) -> String {
    format!("{root}projects/{}.html", slug(name))
}

/// The classifier claim of a project, in words.
fn claim(classifiers: Option<&[String]>) -> String {
    match classifiers {
        None => "not read".into(),
        Some([]) => "none".into(),
        Some(list) => list
            .iter()
            .map(|c| {
                c.rsplit("::")
                    .next()
                    .map(str::trim)
                    .unwrap_or(c)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn collected(run: Option<&RunInfo>) -> String {
    match run {
        None => "No crawl has been recorded yet.".into(),
        Some(r) => {
            let when = match &r.finished_at {
                Some(f) => format!("finished {f}"),
                None => format!("started {}, not finished", r.started_at),
            };
            format!(
                "Crawl run {} of {} ({} of {} projects, {} failed), {when}, analyzer {}.",
                r.id, r.list_name, r.done, r.planned, r.failed, r.analyzer_version
            )
        }
    }
}

fn layout(site: &SiteData, root: &'static str, current: &'static str) -> Layout {
    Layout {
        root,
        current,
        generated_at: site.generated_at.clone(),
        collected: collected(site.run.as_ref()),
    }
}

/// One interpreter's counts on the overview.
pub struct SummaryRow {
    pub python: String,
    pub total: u64,
    /// (label, count, share in percent) in [`READINESS_ORDER`].
    pub counts: Vec<(&'static str, u64, String)>,
    pub off_share: String,
}

/// The per-platform counts of one interpreter.
pub struct PlatformSection {
    pub python: String,
    pub chart: String,
    pub rows: Vec<(String, Vec<u64>)>,
}

/// One run in the trend table.
pub struct TrendRow {
    pub run: i64,
    pub date: String,
    pub projects: u64,
    pub shares: Vec<String>,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub labels: Vec<&'static str>,
    pub pythons: Vec<String>,
    pub summary: Vec<SummaryRow>,
    pub summary_chart: String,
    pub platform_sections: Vec<PlatformSection>,
    pub trend_chart: String,
    pub trend: Vec<TrendRow>,
    pub newly: Vec<NewlyView>,
    pub blockers: usize,
    pub projects: usize,
}

/// One row of the projects table.
pub struct ProjectRow {
    pub rank: u32,
    pub name: String,
    pub href: String,
    pub latest: String,
    pub cells: Vec<Cell>,
    pub platforms: String,
    pub platforms_ready: usize,
    pub claim: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub layout: Layout,
    pub pythons: Vec<String>,
    pub options: Vec<(&'static str, &'static str)>,
    pub rows: Vec<ProjectRow>,
}

/// One module of a project page.
pub struct ModuleView {
    pub target: String,
    pub module: String,
    pub member: String,
    pub filename: String,
    pub verdict: String,
    pub verdict_class: &'static str,
    pub reason: String,
    pub binder: String,
    pub evidence: String,
    pub fix: String,
}

/// Releases × platforms of one interpreter.
pub struct ReleaseTable {
    pub python: String,
    pub platforms: Vec<String>,
    /// (version, uploaded, one cell per platform)
    pub rows: Vec<(String, String, Vec<Cell>)>,
}

/// One interpreter's line in a project's summary.
pub struct ProjectSummaryLine {
    pub python: String,
    pub cell: Cell,
    pub first_ready: String,
    pub badge: String,
}

#[derive(Template)]
#[template(path = "project.html")]
pub struct ProjectPage {
    pub layout: Layout,
    pub name: String,
    pub rank: u32,
    pub latest: String,
    pub error: Option<String>,
    pub pythons: Vec<String>,
    pub lines: Vec<ProjectSummaryLine>,
    pub claim: String,
    pub disagreement: Option<String>,
    pub platform_rows: Vec<(String, Vec<Cell>)>,
    pub releases: Vec<ReleaseTable>,
    pub modules: Vec<ModuleView>,
    pub json: String,
}

/// A module that turns the GIL on, with the targets where it does.
pub struct BlockerEntry {
    pub project: String,
    pub href: String,
    pub version: String,
    pub module: String,
    pub targets: String,
    pub reason: String,
    pub evidence: String,
}

/// The blockers of one binding generator.
pub struct BinderGroup {
    pub binder: String,
    pub id: String,
    pub fix: String,
    pub projects: usize,
    pub entries: Vec<BlockerEntry>,
}

#[derive(Template)]
#[template(path = "blockers.html")]
pub struct BlockersPage {
    pub layout: Layout,
    pub groups: Vec<BinderGroup>,
    pub total: usize,
}

/// A newly ready project, for the page and the feed.
pub struct NewlyView {
    pub date: String,
    pub project: String,
    pub href: String,
    pub python: String,
    pub version: String,
    pub before: &'static str,
    pub run: i64,
}

#[derive(Template)]
#[template(path = "newly-ready.html")]
pub struct NewlyPage {
    pub layout: Layout,
    pub entries: Vec<NewlyView>,
}

#[derive(Template)]
#[template(path = "feed.xml")]
pub struct Feed {
    pub updated: String,
    pub entries: Vec<NewlyView>,
}

fn newly_view(root: &str, n: &NewlyReady) -> NewlyView {
    NewlyView {
        date: n.date.clone(),
        project: n.project.clone(),
        href: project_href(root, &n.project),
        python: n.python.clone(),
        version: n.version.clone().unwrap_or_default(),
        before: readiness_label(n.before),
        run: n.run,
    }
}

fn render(page: &str, t: &impl Template, out: &mut Output) -> Result<(), SiteError> {
    let html = t.render().map_err(|source| SiteError::Render {
        page: page.to_string(),
        source,
    })?;
    out.write(page, html.as_bytes())
}

fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / total as f64)
    }
}

/// Counts per readiness (in [`READINESS_ORDER`]) of the values given.
fn count(values: impl Iterator<Item = Readiness>) -> Vec<u64> {
    let mut counts = vec![0; READINESS_ORDER.len()];
    for r in values {
        if let Some(i) = READINESS_ORDER.iter().position(|x| *x == r) {
            counts[i] += 1;
        }
    }
    counts
}

/// Renders every page and the feed.
pub(crate) fn write_all(site: &SiteData, out: &mut Output) -> Result<(), SiteError> {
    let groups = blockers(site);
    let blocker_count = groups.iter().map(|g| g.entries.len()).sum();
    render("index.html", &index(site, blocker_count), out)?;
    render("projects.html", &projects(site), out)?;
    for p in &site.projects {
        let page = format!("projects/{}.html", slug(&p.name));
        render(&page, &project(site, p), out)?;
    }
    let blockers = BlockersPage {
        layout: layout(site, "", "blockers"),
        total: blocker_count,
        groups,
    };
    render("blockers.html", &blockers, out)?;
    let newly = NewlyPage {
        layout: layout(site, "", "newly"),
        entries: site.newly_ready.iter().map(|n| newly_view("", n)).collect(),
    };
    render("newly-ready.html", &newly, out)?;
    let feed = Feed {
        updated: site
            .newly_ready
            .iter()
            .map(|n| n.date.clone())
            .max()
            .unwrap_or_else(|| site.generated_at.clone()),
        entries: site
            .newly_ready
            .iter()
            .take(200)
            .map(|n| newly_view("", n))
            .collect(),
    };
    render("feed.xml", &feed, out)
}

fn index(site: &SiteData, blockers: usize) -> IndexPage {
    let summary: Vec<SummaryRow> = site
        .pythons
        .iter()
        .enumerate()
        .map(|(i, py)| {
            let counts = count(site.projects.iter().filter_map(|p| p.summary[i]));
            let total: u64 = counts.iter().sum();
            let off: u64 = READINESS_ORDER
                .iter()
                .zip(&counts)
                .filter(|(r, _)| keeps_gil_off(**r))
                .map(|(_, n)| n)
                .sum();
            SummaryRow {
                python: py.clone(),
                total,
                counts: READINESS_ORDER
                    .iter()
                    .zip(&counts)
                    .map(|(r, n)| (readiness_label(*r), *n, percent(*n, total)))
                    .collect(),
                off_share: percent(off, total),
            }
        })
        .collect();
    let bars: Vec<(String, Vec<u64>)> = summary
        .iter()
        .map(|s| (s.python.clone(), s.counts.iter().map(|c| c.1).collect()))
        .collect();
    let summary_chart = charts::stacked_bars(
        "chart-summary",
        "Projects per readiness, per interpreter",
        &bars,
    );
    let platform_sections = site
        .pythons
        .iter()
        .enumerate()
        .map(|(i, py)| {
            let rows: Vec<(String, Vec<u64>)> = site
                .platforms
                .iter()
                .map(|plat| {
                    let values = site.projects.iter().filter_map(|p| {
                        p.platforms
                            .iter()
                            .find(|pc| &pc.platform == plat)
                            .and_then(|pc| pc.cells[i])
                    });
                    // The crawl files pure and source-only releases under "any".
                    let label = if plat == "any" {
                        "any (no native wheels)".to_string()
                    } else {
                        plat.clone()
                    };
                    (label, count(values))
                })
                .collect();
            PlatformSection {
                python: py.clone(),
                chart: charts::stacked_bars(
                    &format!("chart-platforms-{i}"),
                    &format!("Projects per readiness and platform, {py}"),
                    &rows,
                ),
                rows,
            }
        })
        .collect();
    let trend = site
        .trend
        .iter()
        .map(|t| TrendRow {
            run: t.run,
            date: t.date.clone(),
            projects: t.projects,
            shares: t
                .counts
                .iter()
                .map(|c| {
                    let total: u64 = c.iter().sum();
                    let off = READINESS_ORDER
                        .iter()
                        .zip(c)
                        .filter(|(r, _)| keeps_gil_off(**r))
                        .map(|(_, n)| n)
                        .sum();
                    percent(off, total)
                })
                .collect(),
        })
        .collect();
    IndexPage {
        layout: layout(site, "", "overview"),
        labels: READINESS_ORDER
            .iter()
            .map(|r| readiness_label(*r))
            .collect(),
        pythons: site.pythons.clone(),
        summary,
        summary_chart,
        platform_sections,
        trend_chart: charts::trend("chart-trend", &site.trend, &site.pythons),
        trend,
        newly: site
            .newly_ready
            .iter()
            .take(10)
            .map(|n| newly_view("", n))
            .collect(),
        blockers,
        projects: site.projects.len(),
    }
}

fn projects(site: &SiteData) -> ProjectsPage {
    let rows = site
        .projects
        .iter()
        .map(|p| {
            let ready = p
                .platforms
                .iter()
                .filter(|pc| pc.cells.iter().flatten().any(|r| keeps_gil_off(*r)))
                .count();
            ProjectRow {
                rank: p.rank,
                name: p.name.clone(),
                href: project_href("", &p.name),
                latest: p.latest.clone().unwrap_or_else(|| "—".into()),
                cells: p.summary.iter().map(|r| cell(*r)).collect(),
                platforms: p
                    .platforms
                    .iter()
                    .map(|pc| pc.platform.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                platforms_ready: ready,
                claim: claim(p.classifiers.as_deref()),
                error: p.error.clone(),
            }
        })
        .collect();
    ProjectsPage {
        layout: layout(site, "", "projects"),
        pythons: site.pythons.clone(),
        options: READINESS_ORDER
            .iter()
            .map(|r| (r.as_str(), readiness_label(*r)))
            .collect(),
        rows,
    }
}

fn project(site: &SiteData, p: &ProjectData) -> ProjectPage {
    let root = "../";
    let lines = site
        .pythons
        .iter()
        .enumerate()
        .map(|(i, py)| ProjectSummaryLine {
            python: py.clone(),
            cell: cell(p.summary[i]),
            first_ready: match (&p.first_ready[i], p.first_ready_proven[i]) {
                (Some(v), true) => v.clone(),
                (Some(v), false) => format!("{v} or earlier (older releases not crawled)"),
                (None, _) => "none evaluated".into(),
            },
            badge: format!("{root}{}", badge_path(&p.name, py)),
        })
        .collect();
    let releases = site
        .pythons
        .iter()
        .enumerate()
        .filter_map(|(i, py)| {
            let mut platforms: Vec<String> = Vec::new();
            for r in &p.releases {
                for pc in &r.platforms {
                    if pc.cells[i].is_some() && !platforms.contains(&pc.platform) {
                        platforms.push(pc.platform.clone());
                    }
                }
            }
            if platforms.is_empty() {
                return None;
            }
            let rows = p
                .releases
                .iter()
                .filter(|r| r.platforms.iter().any(|pc| pc.cells[i].is_some()))
                .map(|r| {
                    let row = platforms
                        .iter()
                        .map(|plat| {
                            cell(
                                r.platforms
                                    .iter()
                                    .find(|pc| &pc.platform == plat)
                                    .and_then(|pc| pc.cells[i]),
                            )
                        })
                        .collect();
                    (
                        r.version.clone(),
                        r.uploaded
                            .as_deref()
                            .map(|u| u.get(..10).unwrap_or(u).to_string())
                            .unwrap_or_default(),
                        row,
                    )
                })
                .collect();
            Some(ReleaseTable {
                python: py.clone(),
                platforms,
                rows,
            })
        })
        .collect();
    let modules = p
        .modules
        .iter()
        .map(|m| ModuleView {
            target: format!("{} {}", m.python, m.platform),
            module: m.module.clone(),
            member: m.member.clone(),
            filename: m.filename.clone(),
            verdict: serde_name(&m.verdict),
            verdict_class: match m.verdict {
                Verdict::GilNotUsed => "r-ready",
                Verdict::GilUsed => "r-gil-fallback",
                Verdict::Unknown => "r-unknown",
                Verdict::Incompatible => "r-no-wheel",
            },
            reason: m.reason.clone(),
            binder: m.binder.clone(),
            evidence: m.evidence.clone(),
            fix: m.fix.clone().unwrap_or_default(),
        })
        .collect();
    ProjectPage {
        layout: layout(site, root, "projects"),
        name: p.name.clone(),
        rank: p.rank,
        latest: p.latest.clone().unwrap_or_else(|| "—".into()),
        error: p.error.clone(),
        pythons: site.pythons.clone(),
        lines,
        claim: claim(p.classifiers.as_deref()),
        disagreement: p.disagreement.clone(),
        platform_rows: p
            .platforms
            .iter()
            .map(|pc| (pc.platform.clone(), cells(pc)))
            .collect(),
        releases,
        modules,
        json: format!("{root}api/projects/{}.json", slug(&p.name)),
    }
}

/// Blockers of one binder by (rank, project, module).
type Entries = BTreeMap<(u32, String, String), BlockerEntry>;

/// Every module of a latest release that turns the GIL on, grouped by binder, then by
/// project and module (the targets where it does listed together).
fn blockers(site: &SiteData) -> Vec<BinderGroup> {
    // binder → (rank, project, module) → entry
    let mut groups: BTreeMap<String, (String, Entries)> = BTreeMap::new();
    for p in &site.projects {
        for m in p.modules.iter().filter(|m| m.verdict == Verdict::GilUsed) {
            let (fix, entries) = groups
                .entry(m.binder.clone())
                .or_insert_with(|| (m.fix.clone().unwrap_or_default(), BTreeMap::new()));
            if fix.is_empty() {
                *fix = m.fix.clone().unwrap_or_default();
            }
            let target = format!("{} {}", m.python, m.platform);
            entries
                .entry((p.rank, p.name.clone(), m.module.clone()))
                .and_modify(|e| {
                    e.targets.push_str(", ");
                    e.targets.push_str(&target);
                })
                .or_insert_with(|| BlockerEntry {
                    project: p.name.clone(),
                    href: project_href("", &p.name),
                    version: p.latest.clone().unwrap_or_default(),
                    module: m.module.clone(),
                    targets: target,
                    reason: m.reason.clone(),
                    evidence: m.evidence.clone(),
                });
        }
    }
    let mut out: Vec<BinderGroup> = groups
        .into_iter()
        .map(|(binder, (fix, entries))| {
            let entries: Vec<BlockerEntry> = entries.into_values().collect();
            let mut names: Vec<&str> = entries.iter().map(|e| e.project.as_str()).collect();
            names.dedup();
            BinderGroup {
                id: format!("binder-{}", slug(&binder)),
                projects: names.len(),
                binder,
                fix,
                entries,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.entries
            .len()
            .cmp(&a.entries.len())
            .then(a.binder.cmp(&b.binder))
    });
    out
}
