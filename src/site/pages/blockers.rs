//! The blockers: every module of a latest release that turns the GIL on, grouped by project
//! (download rank order), then by module, with the targets as a compact platform set per
//! interpreter, the reason in words, the fix for its binder, and an issue text to paste
//! (shown on the project's page). Paginated by rank so that no page grows past a few
//! hundred kilobytes.

use std::collections::BTreeMap;

use askama::Template;

use super::{Layout, layout, project_href};
use crate::inspect::verdict::Verdict;
use crate::site::data::{ProjectData, SiteData};
use crate::site::links::ProjectLinks;
use crate::site::slug;

/// Projects per blockers page.
pub const PER_PAGE: usize = 100;

/// One module that turns the GIL on somewhere.
pub struct BlockerModule {
    pub module: String,
    pub binder: String,
    /// Where it does, per interpreter: "3.14t, 3.15t: all 14".
    pub targets: String,
    /// The reasons in words, each once.
    pub reason: String,
    /// One representative piece of evidence.
    pub evidence: String,
}

/// One project with its blocking modules.
pub struct BlockerProject {
    pub rank: u32,
    pub name: String,
    pub href: String,
    /// The element id of its section (`p-NAME`).
    pub anchor: String,
    pub version: String,
    pub modules: Vec<BlockerModule>,
    /// The fixes of its modules' binders, each once: (binder, fix).
    pub fixes: Vec<(String, String)>,
    /// Its repository and issue tracker, when its metadata names them.
    pub links: ProjectLinks,
}

/// One binder's share of the blockers.
pub struct BinderLine {
    pub binder: String,
    pub modules: usize,
    pub projects: usize,
    pub fix: String,
}

/// A link to one page of the blockers.
pub struct PageLink {
    pub number: usize,
    pub href: String,
    pub label: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "blockers.html")]
pub struct BlockersPage {
    pub layout: Layout,
    pub total_modules: usize,
    pub total_projects: usize,
    pub binders: Vec<BinderLine>,
    pub projects: Vec<BlockerProject>,
    pub pages: Vec<PageLink>,
    pub number: usize,
}

/// The file of the n-th (1-based) blockers page.
pub fn page_file(n: usize) -> String {
    if n <= 1 {
        "blockers.html".into()
    } else {
        format!("blockers-{n}.html")
    }
}

/// A project's blocking modules, grouped by module; empty when none turns the GIL on.
pub fn project_blockers(site: &SiteData, p: &ProjectData) -> Option<BlockerProject> {
    // module → (binder, python → platforms, reasons, evidence, fix)
    type Acc = (
        String,
        BTreeMap<usize, Vec<String>>,
        Vec<&'static str>,
        String,
        Option<String>,
    );
    let mut by_module: BTreeMap<&str, Acc> = BTreeMap::new();
    for m in p.modules.iter().filter(|m| m.verdict == Verdict::GilUsed) {
        let py = site
            .pythons
            .iter()
            .position(|x| *x == m.python)
            .unwrap_or(usize::MAX);
        let e = by_module.entry(&m.module).or_insert_with(|| {
            (
                m.binder.clone(),
                BTreeMap::new(),
                Vec::new(),
                m.evidence.clone(),
                m.fix.clone(),
            )
        });
        let plats = e.1.entry(py).or_default();
        if !plats.contains(&m.platform) {
            plats.push(m.platform.clone());
        }
        if !e.2.contains(&m.reason_words) {
            e.2.push(m.reason_words);
        }
        if e.4.is_none() {
            e.4 = m.fix.clone();
        }
    }
    if by_module.is_empty() {
        return None;
    }
    let mut fixes: Vec<(String, String)> = Vec::new();
    let modules = by_module
        .into_iter()
        .map(|(module, (binder, per_python, reasons, evidence, fix))| {
            if let Some(fix) = fix
                && !fixes.iter().any(|(_, f)| *f == fix)
            {
                fixes.push((binder.clone(), fix));
            }
            BlockerModule {
                module: module.to_string(),
                targets: super::project::targets(
                    site,
                    p,
                    per_python.iter().flat_map(|(py, plats)| {
                        let name = site.pythons.get(*py).map_or("", String::as_str);
                        plats.iter().map(move |pl| (name, pl.as_str()))
                    }),
                ),
                reason: reasons.join("; "),
                binder,
                evidence,
            }
        })
        .collect();
    Some(BlockerProject {
        rank: p.rank,
        name: p.name.clone(),
        href: project_href("", &p.name),
        anchor: format!("p-{}", slug(&p.name)),
        version: p.latest.clone().unwrap_or_default(),
        modules,
        fixes,
        links: p.links.clone(),
    })
}

/// The text of an issue to open on the project's tracker: the modules, the evidence, the
/// fix, and where the finding comes from.
pub fn issue_text(site: &SiteData, p: &ProjectData, b: &BlockerProject) -> String {
    let pythons: Vec<&str> = site
        .pythons
        .iter()
        .zip(&p.summary)
        .filter(|(_, r)| **r == Some(crate::scan::Readiness::GilFallback))
        .map(|(py, _)| py.as_str())
        .collect();
    let count = b.modules.len();
    let mut s = format!(
        "{name} {version}: {count} extension module{plural} re-enable{verb} the GIL on free-threaded Python {pys}\n\n\
         Importing {them} on a free-threaded CPython build turns the GIL back on for the whole process \
         (CPython warns \"The global interpreter lock (GIL) has been enabled to load module ...\"), \
         so every user of {name} loses free threading:\n\n",
        name = p.name,
        version = b.version,
        plural = if count == 1 { "" } else { "s" },
        verb = if count == 1 { "s" } else { "" },
        pys = if pythons.is_empty() {
            "on some platforms".to_string()
        } else {
            pythons.join(", ")
        },
        them = if count == 1 { "it" } else { "them" },
    );
    for m in &b.modules {
        s.push_str(&format!(
            "- `{}` ({}), {}: {}. Evidence: `{}`\n",
            m.module, m.binder, m.targets, m.reason, m.evidence
        ));
    }
    s.push_str("\nFix, once the code is thread-safe:\n\n");
    for (binder, fix) in &b.fixes {
        s.push_str(&format!("- {binder}: {fix}\n"));
    }
    s.push_str(
        "\nFound by reading the published wheels with gilfree (no code was run); \
         the details per platform are on the project's readiness page.\n",
    );
    s
}

/// Every blocking project by rank, and the binders' totals.
pub fn collect(site: &SiteData) -> (Vec<BlockerProject>, Vec<BinderLine>) {
    let projects: Vec<BlockerProject> = site
        .projects
        .iter()
        .filter_map(|p| project_blockers(site, p))
        .collect();
    let mut binders: BTreeMap<&str, (usize, usize, String)> = BTreeMap::new();
    for p in &projects {
        let mut seen: Vec<&str> = Vec::new();
        for m in &p.modules {
            let e = binders.entry(&m.binder).or_default();
            e.0 += 1;
            if !seen.contains(&m.binder.as_str()) {
                seen.push(&m.binder);
                e.1 += 1;
            }
            if e.2.is_empty()
                && let Some((_, fix)) = p.fixes.iter().find(|(b, _)| *b == m.binder)
            {
                e.2 = fix.clone();
            }
        }
    }
    let mut lines: Vec<BinderLine> = binders
        .into_iter()
        .map(|(binder, (modules, projects, fix))| BinderLine {
            binder: binder.to_string(),
            modules,
            projects,
            fix,
        })
        .collect();
    lines.sort_by(|a, b| b.projects.cmp(&a.projects).then(a.binder.cmp(&b.binder)));
    (projects, lines)
}

/// The blockers pages, [`PER_PAGE`] projects each: (file, page).
pub fn pages(
    site: &SiteData,
    projects: Vec<BlockerProject>,
    binders: &[BinderLine],
) -> Vec<(String, BlockersPage)> {
    let total_projects = projects.len();
    let total_modules = projects.iter().map(|p| p.modules.len()).sum();
    let count = total_projects.div_ceil(PER_PAGE).max(1);
    let mut chunks: Vec<Vec<BlockerProject>> = Vec::new();
    let mut it = projects.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(PER_PAGE).collect());
    }
    if chunks.is_empty() {
        chunks.push(Vec::new());
    }
    let ranks: Vec<String> = chunks
        .iter()
        .map(|c| match (c.first(), c.last()) {
            (Some(a), Some(b)) => format!("ranks {}–{}", a.rank, b.rank),
            _ => "none".into(),
        })
        .collect();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, projects)| {
            let number = i + 1;
            let links = (1..=count)
                .map(|n| PageLink {
                    number: n,
                    href: page_file(n),
                    label: ranks[n - 1].clone(),
                    current: n == number,
                })
                .collect();
            (
                page_file(number),
                BlockersPage {
                    layout: layout(site, "", "blockers"),
                    total_modules,
                    total_projects,
                    binders: binders
                        .iter()
                        .map(|b| BinderLine {
                            binder: b.binder.clone(),
                            modules: b.modules,
                            projects: b.projects,
                            fix: b.fix.clone(),
                        })
                        .collect(),
                    projects,
                    pages: links,
                    number,
                },
            )
        })
        .collect()
}
