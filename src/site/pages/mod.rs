//! The HTML pages and the Atom feed: view models built from [`SiteData`] and rendered
//! with the askama templates in `web/templates/`. Pages at the root link with no prefix,
//! project pages (one folder down) with `../`.

use askama::Template;

pub mod blockers;
pub mod overview;
pub mod project;
pub mod projects;

use super::data::{NewlyReady, RunInfo, SiteData};
use super::{Output, SiteError, readiness_label, slug};
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
    /// The Atom feed's address (absolute with `--base-url`).
    pub feed: String,
}

/// A readiness in a table cell.
pub struct Cell {
    /// CSS class (`r-ready`, `r-none`).
    pub class: String,
    pub text: &'static str,
    /// The JSON vocabulary (`gil-fallback`), or `none`; filters match on it.
    pub value: &'static str,
}

pub(crate) fn cell(r: Option<Readiness>) -> Cell {
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

pub(crate) fn project_href(root: &str, name: &str) -> String {
    format!("{root}projects/{}.html", slug(name))
}

/// The classifier claim of a project, in words.
pub(crate) fn claim(classifiers: Option<&[String]>) -> String {
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

pub(crate) fn layout(site: &SiteData, root: &'static str, current: &'static str) -> Layout {
    Layout {
        root,
        current,
        generated_at: site.generated_at.clone(),
        collected: collected(site.run.as_ref()),
        feed: match &site.base_url {
            Some(base) => format!("{base}feed.xml"),
            None => format!("{root}feed.xml"),
        },
    }
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
    /// The prefix of its links: the base URL, or nothing (relative to the feed).
    pub base: String,
    pub entries: Vec<NewlyView>,
}

pub(crate) fn newly_view(root: &str, n: &NewlyReady) -> NewlyView {
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

pub(crate) fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / total as f64)
    }
}

/// Renders every page and the feed.
pub(crate) fn write_all(site: &SiteData, out: &mut Output) -> Result<(), SiteError> {
    let (blocking, binders) = blockers::collect(site);
    // Which blockers page each blocking project is on.
    let on_page: std::collections::HashMap<&str, String> = blocking
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                b.name.as_str(),
                format!(
                    "{}#{}",
                    blockers::page_file(i / blockers::PER_PAGE + 1),
                    b.anchor
                ),
            )
        })
        .collect();
    let blocker_count = blocking.iter().map(|b| b.modules.len()).sum();
    let on_blockers = |name: &str| on_page.get(name).cloned();
    render(
        "index.html",
        &overview::page(site, blocker_count, &on_blockers),
        out,
    )?;
    for (file, page) in projects::pages(site) {
        render(&file, &page, out)?;
    }
    for p in &site.projects {
        let page = format!("projects/{}.html", slug(&p.name));
        render(&page, &project::page(site, p), out)?;
    }
    let blocking_pages = blockers::pages(site, blocking, &binders);
    for (file, page) in &blocking_pages {
        render(file, page, out)?;
    }
    let newly = NewlyPage {
        layout: layout(site, "", "newly"),
        entries: site.newly_ready.iter().map(|n| newly_view("", n)).collect(),
    };
    render("newly-ready.html", &newly, out)?;
    let base = site.base_url.clone().unwrap_or_default();
    let feed = Feed {
        base: base.clone(),
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
            .map(|n| newly_view(&base, n))
            .collect(),
    };
    render("feed.xml", &feed, out)
}
