//! The projects table: `projects.html` lists the native projects by rank (the ones whose
//! readiness is in question), and the projects without native code follow in rank-ordered
//! pages of [`PER_PAGE`] (`projects-others-N.html`), so that no file carries all 15,000
//! rows. Plain tables, usable without JavaScript; the script adds search, filters, sorting.

use askama::Template;

use super::{Cell, Layout, cell, claim, layout, project_href};
use crate::site::data::{ProjectData, READINESS_ORDER, SiteData};
use crate::site::readiness_label;

/// Rows per page of the projects without native code.
pub const PER_PAGE: usize = 500;

/// One row of a projects table.
pub struct ProjectRow {
    pub rank: u32,
    pub name: String,
    pub href: String,
    pub latest: String,
    pub cells: Vec<Cell>,
    pub claim: String,
    pub error: Option<String>,
}

/// A link to one page of the table.
pub struct TableLink {
    pub href: String,
    pub label: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub layout: Layout,
    pub heading: String,
    pub intro: String,
    pub pythons: Vec<String>,
    pub options: Vec<(&'static str, &'static str)>,
    pub rows: Vec<ProjectRow>,
    pub links: Vec<TableLink>,
}

fn row(p: &ProjectData) -> ProjectRow {
    ProjectRow {
        rank: p.rank,
        name: p.name.clone(),
        href: project_href("", &p.name),
        latest: p.latest.clone().unwrap_or_else(|| "—".into()),
        cells: p.summary.iter().map(|r| cell(*r)).collect(),
        claim: claim(p.classifiers.as_deref()),
        error: p.error.clone(),
    }
}

/// The file of the n-th (1-based) page of projects without native code.
pub fn others_file(n: usize) -> String {
    format!("projects-others-{n}.html")
}

/// Every page of the table: (file, page), `projects.html` first.
pub fn pages(site: &SiteData) -> Vec<(String, ProjectsPage)> {
    let native: Vec<&ProjectData> = site.projects.iter().filter(|p| p.native).collect();
    let others: Vec<&ProjectData> = site.projects.iter().filter(|p| !p.native).collect();
    let chunks: Vec<&[&ProjectData]> = others.chunks(PER_PAGE).collect();
    let mut files = vec![(
        "projects.html".to_string(),
        format!("{} native projects", native.len()),
    )];
    for (i, c) in chunks.iter().enumerate() {
        let (first, last) = (c[0].rank, c[c.len() - 1].rank);
        files.push((others_file(i + 1), format!("others, ranks {first}–{last}")));
    }
    let links = |current: usize| -> Vec<TableLink> {
        files
            .iter()
            .enumerate()
            .map(|(k, (href, label))| TableLink {
                href: href.clone(),
                label: label.clone(),
                current: k == current,
            })
            .collect()
    };
    let options: Vec<(&'static str, &'static str)> = READINESS_ORDER
        .iter()
        .map(|r| (r.as_str(), readiness_label(*r)))
        .collect();
    let mut out = vec![(
        files[0].0.clone(),
        ProjectsPage {
            layout: layout(site, "", "projects"),
            heading: "Projects with native code".into(),
            intro: format!(
                "The {} crawled projects whose latest release ships native code, by download rank, with the headline readiness per interpreter over the main platforms. The {} projects without native code are on the pages linked below, {PER_PAGE} at a time.",
                native.len(),
                others.len()
            ),
            pythons: site.pythons.clone(),
            options: options.clone(),
            rows: native.iter().map(|p| row(p)).collect(),
            links: links(0),
        },
    )];
    for (i, c) in chunks.iter().enumerate() {
        out.push((
            files[i + 1].0.clone(),
            ProjectsPage {
                layout: layout(site, "", "projects"),
                heading: format!("Projects without native code, page {}", i + 1),
                intro: "Pure Python, source-only and unreadable projects by download rank: their readiness follows from the interpreter alone.".into(),
                pythons: site.pythons.clone(),
                options: options.clone(),
                rows: c.iter().map(|p| row(p)).collect(),
                links: links(i + 1),
            },
        ));
    }
    out
}
