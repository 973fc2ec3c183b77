//! The overview page: the native projects first (counts and shares per headline readiness
//! on the main platforms, per interpreter), the pure share as one line, the trend of those
//! same numbers across runs, the biggest blockers by download rank and the newly ready.

use askama::Template;

use super::{Layout, NewlyView, layout, newly_view, percent, project_href};
use crate::scan::Readiness;
use crate::site::data::{READINESS_ORDER, SiteData, TrendPoint};
use crate::site::tier::MAIN_PLATFORMS;
use crate::site::{charts, readiness_label};

/// One interpreter's native counts.
pub struct NativeRow {
    pub python: String,
    /// (count, share) per shown readiness column.
    pub counts: Vec<(u64, String)>,
    pub total: u64,
}

/// One run in the trend table: per interpreter, the native counts per shown column.
pub struct TrendRow {
    pub run: i64,
    pub date: String,
    pub native: u64,
    pub cells: Vec<Vec<(u64, String)>>,
}

/// A project high in the download ranking that is not ready.
pub struct BlockerLine {
    pub rank: u32,
    pub name: String,
    pub href: String,
    /// Where its entry on the blockers page is (`None`: not on it).
    pub blockers_href: Option<String>,
    /// The interpreters it is not ready for, with the readiness, in words.
    pub what: String,
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub layout: Layout,
    pub projects: usize,
    pub native: usize,
    pub main_platforms: String,
    pub pythons: Vec<String>,
    /// The readiness columns the native table shows: (label, class).
    pub columns: Vec<(&'static str, String)>,
    pub rows: Vec<NativeRow>,
    pub chart: String,
    /// The projects without native code, in one sentence.
    pub pure_line: String,
    pub trend_chart: String,
    pub trend: Vec<TrendRow>,
    pub turning_on: Vec<BlockerLine>,
    pub no_wheel: Vec<BlockerLine>,
    pub focus: String,
    pub newly: Vec<NewlyView>,
    pub blockers: usize,
}

/// The readiness columns worth a column for native projects: every readiness some native
/// project has, in [`READINESS_ORDER`].
fn columns(site: &SiteData) -> Vec<Readiness> {
    READINESS_ORDER
        .iter()
        .copied()
        .filter(|r| {
            site.projects
                .iter()
                .filter(|p| p.native)
                .any(|p| p.summary.contains(&Some(*r)))
        })
        .collect()
}

fn counts_of(counts: &[u64], shown: &[Readiness]) -> (Vec<(u64, String)>, u64) {
    let total: u64 = counts.iter().sum();
    let cells = shown
        .iter()
        .map(|r| {
            let n = READINESS_ORDER
                .iter()
                .position(|x| x == r)
                .and_then(|k| counts.get(k).copied())
                .unwrap_or(0);
            (n, percent(n, total))
        })
        .collect();
    (cells, total)
}

/// The interpreter the blocker lists are about: 3.14t when shown, else the newest.
fn focus_python(site: &SiteData) -> Option<usize> {
    site.pythons
        .iter()
        .position(|p| p == "3.14t")
        .or_else(|| site.pythons.len().checked_sub(1))
}

pub(super) fn page(
    site: &SiteData,
    blockers: usize,
    on_blockers: &dyn Fn(&str) -> Option<String>,
) -> IndexPage {
    let shown = columns(site);
    let native: Vec<_> = site.projects.iter().filter(|p| p.native).collect();
    let rows: Vec<NativeRow> = site
        .pythons
        .iter()
        .enumerate()
        .map(|(i, py)| {
            let mut counts = vec![0u64; READINESS_ORDER.len()];
            for r in native.iter().filter_map(|p| p.summary[i]) {
                if let Some(k) = READINESS_ORDER.iter().position(|x| *x == r) {
                    counts[k] += 1;
                }
            }
            let (counts, total) = counts_of(&counts, &shown);
            NativeRow {
                python: py.clone(),
                counts,
                total,
            }
        })
        .collect();
    let bars: Vec<(String, Vec<u64>)> = rows
        .iter()
        .map(|r| {
            let mut full = vec![0u64; READINESS_ORDER.len()];
            for (r, (n, _)) in shown.iter().zip(&r.counts) {
                if let Some(k) = READINESS_ORDER.iter().position(|x| x == r) {
                    full[k] = *n;
                }
            }
            (r.python.clone(), full)
        })
        .collect();
    let chart = charts::stacked_bars(
        "chart-native",
        "Native projects per headline readiness on the main platforms, per interpreter",
        &bars,
    );
    let others = site.projects.len() - native.len();
    let mut kinds: Vec<String> = Vec::new();
    if let Some(i) = focus_python(site) {
        for r in READINESS_ORDER {
            let n = site
                .projects
                .iter()
                .filter(|p| !p.native && p.summary[i] == Some(r))
                .count();
            if n > 0 {
                kinds.push(format!("{n} {}", readiness_label(r)));
            }
        }
    }
    let failed = site.projects.iter().filter(|p| p.error.is_some()).count();
    let pure_line = format!(
        "The other {others} projects ({}) ship no native code: {}{}.",
        percent(others as u64, site.projects.len() as u64),
        if kinds.is_empty() {
            "none recorded".to_string()
        } else {
            kinds.join(", ")
        },
        if failed > 0 {
            format!("; {failed} could not be read")
        } else {
            String::new()
        }
    );
    let trend = site
        .trend
        .iter()
        .map(|t: &TrendPoint| TrendRow {
            run: t.run,
            date: t.date.get(..10).unwrap_or(&t.date).to_string(),
            native: t.native,
            cells: t
                .native_counts
                .iter()
                .map(|c| counts_of(c, &shown).0)
                .collect(),
        })
        .collect();
    let focus = focus_python(site);
    let lines = |want: &dyn Fn(Readiness) -> bool| -> Vec<BlockerLine> {
        let Some(f) = focus else { return Vec::new() };
        native
            .iter()
            .filter(|p| p.summary[f].is_some_and(want))
            .take(10)
            .map(|p| BlockerLine {
                rank: p.rank,
                name: p.name.clone(),
                href: project_href("", &p.name),
                blockers_href: on_blockers(&p.name),
                what: site
                    .pythons
                    .iter()
                    .zip(&p.summary)
                    .filter_map(|(py, r)| {
                        r.filter(|r| !crate::site::data::keeps_gil_off(*r))
                            .map(|r| format!("{py} {}", readiness_label(r)))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect()
    };
    IndexPage {
        layout: layout(site, "", "overview"),
        projects: site.projects.len(),
        native: native.len(),
        main_platforms: MAIN_PLATFORMS.join(", "),
        pythons: site.pythons.clone(),
        columns: shown
            .iter()
            .map(|r| (readiness_label(*r), format!("r-{}", r.as_str())))
            .collect(),
        rows,
        chart,
        pure_line,
        trend_chart: charts::trend("chart-trend", &site.trend, &site.pythons),
        trend,
        turning_on: lines(&|r| r == Readiness::GilFallback),
        no_wheel: lines(&|r| matches!(r, Readiness::NoWheel | Readiness::Unknown)),
        focus: focus.map(|f| site.pythons[f].clone()).unwrap_or_default(),
        newly: site
            .newly_ready
            .iter()
            .take(12)
            .map(|n| newly_view("", n))
            .collect(),
        blockers,
    }
}
