//! A project's page, read top-down: one line per interpreter (the headline over the main
//! platforms, since when, what differs elsewhere), the platform × interpreter grid (main
//! platforms first), the modules grouped where the verdict is the same on every target
//! (each expandable to its per-target evidence), the issue text when a module blocks, and
//! the crawled releases.

use askama::Template;

use super::{Cell, Layout, blockers, cell, claim, layout};
use crate::inspect::verdict::Verdict;
use crate::scan::Readiness;
use crate::site::data::{ModuleRow, ProjectData, SiteData, keeps_gil_off};
use crate::site::links::ProjectLinks;
use crate::site::tier::{self, platform_set};
use crate::site::{project_badge, readiness_label, slug};

/// Verdicts a project page lists one by one as evidence; a project with more (mypyc-built
/// packages have thousands) shows one example per module and verdict, and its JSON has all.
pub const EVIDENCE_ROWS: usize = 400;

/// One interpreter's answer.
pub struct Answer {
    pub python: String,
    pub cell: Cell,
    /// "on the main platforms", or where it was judged.
    pub scope: &'static str,
    /// Since when, in words (empty when not ready).
    pub since: String,
    /// The platforms that differ, in words ("unknown on linux-armv7l").
    pub also: String,
    pub badge: String,
    /// Markdown for a README, with absolute links when the site has a base URL.
    pub markdown: String,
}

/// One row of the platform grid.
pub struct GridRow {
    pub platform: String,
    pub main: bool,
    pub cells: Vec<GridCell>,
}

/// One cell of the grid: the readiness, and since which release where the crawl found it.
pub struct GridCell {
    pub cell: Cell,
    /// "since 2.1.0", or empty.
    pub since: String,
}

/// One target's verdict of a module.
pub struct TargetVerdict {
    pub target: String,
    pub filename: String,
    pub evidence: String,
}

/// The targets of a module that share a verdict and reason.
pub struct VerdictGroup {
    pub verdict: &'static str,
    pub class: &'static str,
    pub reason: &'static str,
    /// Where, compactly: "3.13t, 3.14t: all 14".
    pub targets: String,
    pub fix: String,
    pub rows: Vec<TargetVerdict>,
}

/// One module with its verdicts over every target.
pub struct ModuleGroup {
    pub module: String,
    pub binder: String,
    /// The same verdict and reason on every target it was read for.
    pub uniform: bool,
    /// The worst verdict's class, for the summary line.
    pub class: &'static str,
    pub groups: Vec<VerdictGroup>,
}

/// Crawled releases: version, upload day, headline per interpreter.
pub struct ReleaseRow {
    pub version: String,
    pub uploaded: String,
    pub cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "project.html")]
pub struct ProjectPage {
    pub layout: Layout,
    pub name: String,
    pub rank: u32,
    pub latest: String,
    pub error: Option<String>,
    pub native: bool,
    pub pythons: Vec<String>,
    pub answers: Vec<Answer>,
    pub claim: String,
    /// A claim the wheels contradict (shown as a warning).
    pub contradiction: Option<String>,
    /// Readiness the classifiers do not claim (shown as a note).
    pub unclaimed: Option<String>,
    pub grid: Vec<GridRow>,
    pub modules: Vec<ModuleGroup>,
    pub module_count: usize,
    /// Whether the evidence tables show one example per group only (see [`EVIDENCE_ROWS`]).
    pub evidence_sampled: bool,
    pub releases: Vec<ReleaseRow>,
    /// JSON of the project (`None`: pure projects are in `api/projects.json` only).
    pub json: Option<String>,
    pub issue: Option<String>,
    /// Its repository and issue tracker, when its metadata names them.
    pub links: ProjectLinks,
    /// Whether links meant for elsewhere (badge snippets) are absolute.
    pub absolute: bool,
}

fn verdict_words(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::GilNotUsed => ("keeps the GIL off", "r-ready"),
        Verdict::GilUsed => ("turns the GIL on", "r-gil-fallback"),
        Verdict::Unknown => ("undecided", "r-unknown"),
        Verdict::Incompatible => ("not loadable", "r-no-wheel"),
    }
}

/// Since when the interpreter is ready, in words.
fn since(site: &SiteData, p: &ProjectData, i: usize) -> String {
    let py = &site.pythons[i];
    let wheel = p.first_free_threaded_wheel[i].as_deref();
    let words = match (&p.first_ready[i], p.first_ready_proven[i]) {
        (Some(v), true) if wheel == Some(v.as_str()) => {
            format!("since {v}, its first release with {py} wheels")
        }
        (Some(v), true) => format!("since {v}"),
        (Some(v), false) => match wheel {
            Some(w) if p.native && w != v => format!(
                "since {w} at the earliest (its first release with {py} wheels), {v} at the latest (older releases not crawled)"
            ),
            _ => format!("since {v} at the latest (older releases not crawled)"),
        },
        (None, _) => String::new(),
    };
    match &p.first_ready_note[i] {
        Some(note) if !words.is_empty() => format!("{words} ({note})"),
        _ => words,
    }
}

fn answers(site: &SiteData, p: &ProjectData) -> Vec<Answer> {
    site.pythons
        .iter()
        .enumerate()
        .map(|(i, py)| {
            let r = p.summary[i];
            let main = p.platforms.iter().any(|pc| {
                tier::is_main(&pc.platform) && pc.cells.get(i).is_some_and(Option::is_some)
            });
            let also = p.also[i]
                .iter()
                .map(|(r, plats)| {
                    let all: Vec<String> = p
                        .platforms
                        .iter()
                        .filter(|pc| pc.cells.get(i).is_some_and(Option::is_some))
                        .map(|pc| pc.platform.clone())
                        .collect();
                    format!("{} on {}", readiness_label(*r), platform_set(plats, &all))
                })
                .collect::<Vec<_>>()
                .join("; ");
            Answer {
                python: py.clone(),
                cell: cell(r),
                scope: match (r, main) {
                    (None, _) => "",
                    (Some(Readiness::Pure), _) if !p.native => "",
                    (_, true) => "on the main platforms",
                    (_, false) => "on the only platforms it has wheels for",
                },
                since: if r.is_some_and(keeps_gil_off) {
                    since(site, p, i)
                } else {
                    String::new()
                },
                also,
                badge: format!("../{}", project_badge(p, py, r)),
                markdown: {
                    let base = site.base_url.as_deref().unwrap_or("");
                    format!(
                        "[![free-threaded {py}]({base}{})]({base}projects/{}.html)",
                        project_badge(p, py, r),
                        slug(&p.name)
                    )
                },
            }
        })
        .collect()
}

/// The modules by name, each with its targets grouped by (verdict, reason).
fn module_groups(site: &SiteData, p: &ProjectData, sampled: bool) -> Vec<ModuleGroup> {
    let mut names: Vec<&str> = Vec::new();
    for m in &p.modules {
        if !names.contains(&m.module.as_str()) {
            names.push(&m.module);
        }
    }
    // Worst first, then by name: what blocks is read first.
    let rank = |v: Verdict| match v {
        Verdict::GilUsed => 0,
        Verdict::Unknown => 1,
        Verdict::Incompatible => 2,
        Verdict::GilNotUsed => 3,
    };
    let mut out: Vec<ModuleGroup> = names
        .into_iter()
        .map(|name| {
            let rows: Vec<&ModuleRow> = p.modules.iter().filter(|m| m.module == name).collect();
            let mut keys: Vec<(Verdict, &'static str)> = Vec::new();
            for m in &rows {
                if !keys.contains(&(m.verdict, m.reason_words)) {
                    keys.push((m.verdict, m.reason_words));
                }
            }
            keys.sort_by_key(|(v, _)| rank(*v));
            let groups: Vec<VerdictGroup> = keys
                .iter()
                .map(|(v, reason)| {
                    let these: Vec<&&ModuleRow> = rows
                        .iter()
                        .filter(|m| m.verdict == *v && m.reason_words == *reason)
                        .collect();
                    let (verdict, class) = verdict_words(*v);
                    VerdictGroup {
                        verdict,
                        class,
                        reason,
                        targets: targets(
                            site,
                            p,
                            these
                                .iter()
                                .map(|m| (m.python.as_str(), m.platform.as_str())),
                        ),
                        fix: these.iter().find_map(|m| m.fix.clone()).unwrap_or_default(),
                        rows: these
                            .iter()
                            .take(if sampled { 1 } else { usize::MAX })
                            .map(|m| TargetVerdict {
                                target: format!("{} {}", m.python, m.platform),
                                filename: m.filename.clone(),
                                evidence: m.evidence.clone(),
                            })
                            .collect(),
                    }
                })
                .collect();
            let worst = keys.first().map(|(v, _)| *v).unwrap_or(Verdict::Unknown);
            ModuleGroup {
                module: name.to_string(),
                binder: rows.first().map(|m| m.binder.clone()).unwrap_or_default(),
                uniform: groups.len() == 1,
                class: verdict_words(worst).1,
                groups,
            }
        })
        .collect();
    out.sort_by_key(|g| {
        (
            g.groups.first().map_or(4, |v| match v.class {
                "r-gil-fallback" => 0,
                "r-unknown" => 1,
                "r-no-wheel" => 2,
                _ => 3,
            }),
            g.module.clone(),
        )
    });
    out
}

/// Targets compactly: per interpreter the platform set relative to the platforms the
/// release has a native wheel for (not those without one, or with a pure one), interpreters with the same
/// set together: "3.14t, 3.15t: all 14".
pub(super) fn targets<'a>(
    site: &SiteData,
    p: &ProjectData,
    list: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut per: Vec<(usize, Vec<String>)> = Vec::new();
    for (py, plat) in list {
        let i = site
            .pythons
            .iter()
            .position(|x| x == py)
            .unwrap_or(usize::MAX);
        match per.iter_mut().find(|(k, _)| *k == i) {
            Some((_, v)) => {
                if !v.iter().any(|x| x == plat) {
                    v.push(plat.to_string());
                }
            }
            None => per.push((i, vec![plat.to_string()])),
        }
    }
    per.sort_by_key(|(i, _)| *i);
    let mut said: Vec<(Vec<&str>, String)> = Vec::new();
    for (i, plats) in &per {
        let Some(name) = site.pythons.get(*i) else {
            continue;
        };
        let all: Vec<String> = p
            .platforms
            .iter()
            .filter(|pc| {
                pc.platform != tier::ANY
                    && pc.cells.get(*i).copied().flatten().is_some_and(|r| {
                        // Where the wheel is pure (a fallback), no module was read.
                        !matches!(
                            r,
                            Readiness::NoWheel
                                | Readiness::SourceOnly
                                | Readiness::PythonExcluded
                                | Readiness::Pure
                        )
                    })
            })
            .map(|pc| pc.platform.clone())
            .collect();
        let set = platform_set(plats, &all);
        match said.iter_mut().find(|(_, s)| *s == set) {
            Some((names, _)) => names.push(name),
            None => said.push((vec![name.as_str()], set)),
        }
    }
    said.into_iter()
        .map(|(names, set)| format!("{}: {set}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn page(site: &SiteData, p: &ProjectData) -> ProjectPage {
    let mut grid: Vec<GridRow> = p
        .platforms
        .iter()
        .map(|pc| GridRow {
            platform: if pc.platform == tier::ANY {
                "any (no native wheels)".into()
            } else {
                pc.platform.clone()
            },
            main: tier::is_main(&pc.platform),
            cells: pc
                .cells
                .iter()
                .enumerate()
                .map(|(i, r)| GridCell {
                    cell: cell(*r),
                    since: p
                        .since
                        .iter()
                        .find(|s| s.platform == pc.platform)
                        .and_then(|s| s.versions.get(i)?.as_deref())
                        .map(|v| format!("since {v}"))
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    // Main platforms first, in their own order; the others after, as crawled.
    grid.sort_by_key(|g| {
        (
            !g.main,
            tier::MAIN_PLATFORMS
                .iter()
                .position(|m| *m == g.platform)
                .unwrap_or(usize::MAX),
        )
    });
    let (contradiction, unclaimed) = match &p.disagreement {
        Some(d) if d.contains("claim") => (Some(d.clone()), None),
        Some(d) => (None, Some(d.clone())),
        None => (None, None),
    };
    ProjectPage {
        layout: layout(site, "../", "projects"),
        name: p.name.clone(),
        rank: p.rank,
        latest: p.latest.clone().unwrap_or_else(|| "—".into()),
        error: p.error.clone(),
        native: p.native,
        pythons: site.pythons.clone(),
        answers: answers(site, p),
        claim: claim(p.classifiers.as_deref()),
        contradiction,
        unclaimed,
        grid,
        module_count: p.modules.len(),
        evidence_sampled: p.modules.len() > EVIDENCE_ROWS,
        modules: module_groups(site, p, p.modules.len() > EVIDENCE_ROWS),
        releases: p
            .releases
            .iter()
            .map(|r| ReleaseRow {
                version: r.version.clone(),
                uploaded: r
                    .uploaded
                    .as_deref()
                    .map(|u| u.get(..10).unwrap_or(u).to_string())
                    .unwrap_or_default(),
                cells: site
                    .pythons
                    .iter()
                    .enumerate()
                    .map(|(i, _)| {
                        cell(tier::headline(r.platforms.iter().filter_map(|pc| {
                            pc.cells[i].map(|c| (pc.platform.as_str(), c))
                        })))
                    })
                    .collect(),
            })
            .collect(),
        json: p
            .native
            .then(|| format!("../api/projects/{}.json", slug(&p.name))),
        issue: blockers::project_blockers(site, p).map(|b| blockers::issue_text(site, p, &b)),
        links: p.links.clone(),
        absolute: site.base_url.is_some(),
    }
}
