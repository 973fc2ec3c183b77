//! `gilfree site`: renders the store into a static website — overview with charts, a
//! searchable table of projects, a page per project, the blocking modules, newly ready
//! projects with an Atom feed, JSON for machines and SVG badges. Plain files with relative
//! links only, so any static host (or a folder opened from disk) serves them.
//!
//! Templates live in `web/templates/` (askama, compiled in); the stylesheet and script in
//! `web/assets/` are embedded with `include_str!`. The pages make no external request.

pub mod badges;
pub mod charts;
pub mod command;
pub mod data;
pub mod json;
pub mod pages;
pub mod tier;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::scan::Readiness;
use crate::store::{Store, StoreError};

/// Why the site could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rendering {page}: {source}")]
    Render { page: String, source: askama::Error },
}

/// What a build wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteSummary {
    /// HTML pages.
    pub pages: usize,
    /// Every file, pages included.
    pub files: usize,
    pub bytes: u64,
    pub projects: usize,
    pub seconds: f64,
}

/// Writes files under the output folder and counts them.
pub(crate) struct Output {
    root: PathBuf,
    summary: SiteSummary,
}

impl Output {
    fn new(root: &Path) -> Output {
        Output {
            root: root.to_path_buf(),
            summary: SiteSummary::default(),
        }
    }

    /// Writes `bytes` at `rel` (a `/`-separated path under the root).
    pub(crate) fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), SiteError> {
        let path = rel
            .split('/')
            .fold(self.root.clone(), |p, part| p.join(part));
        let io = |source| SiteError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&path, bytes).map_err(io)?;
        self.summary.files += 1;
        self.summary.bytes += bytes.len() as u64;
        if rel.ends_with(".html") {
            self.summary.pages += 1;
        }
        Ok(())
    }
}

/// Builds the whole site from `store` into `out` (created if missing; files of the same
/// names are replaced, others left alone).
pub fn build(store: &Store, out: &Path) -> Result<SiteSummary, SiteError> {
    let started = Instant::now();
    let site = data::load(store, SystemTime::now())?;
    let mut output = Output::new(out);
    output.write(
        "assets/site.css",
        include_str!("../../web/assets/site.css").as_bytes(),
    )?;
    output.write(
        "assets/favicon.svg",
        include_str!("../../web/assets/favicon.svg").as_bytes(),
    )?;
    output.write(
        "assets/site.js",
        include_str!("../../web/assets/site.js").as_bytes(),
    )?;
    pages::write_all(&site, &mut output)?;
    json::write_all(&site, &mut output)?;
    // A badge per native project and interpreter; projects without native code share one
    // per readiness and interpreter (see [`project_badge`]).
    let mut shared = std::collections::BTreeSet::new();
    for p in &site.projects {
        for (i, py) in site.pythons.iter().enumerate() {
            let r = p.summary.get(i).copied().flatten();
            let path = project_badge(p, py, r);
            if !p.native && !shared.insert(path.clone()) {
                continue;
            }
            let svg = badges::badge(
                &format!("free-threaded {py}"),
                r.map_or("not crawled", readiness_label),
                r.map_or("#57606a", readiness_color),
            );
            output.write(&path, svg.as_bytes())?;
        }
    }
    let mut summary = output.summary;
    summary.projects = site.projects.len();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The badge a project's pages and JSON point to for an interpreter: its own for a native
/// project, else the one shared by every project without native code of that readiness
/// (`badges/_pure-3.14t.svg`; a leading `_` never starts a normalized project name).
pub fn project_badge(p: &data::ProjectData, python: &str, r: Option<Readiness>) -> String {
    if p.native {
        badge_path(&p.name, python)
    } else {
        format!(
            "badges/_{}-{}.svg",
            r.map_or("none", |r| r.as_str()),
            slug(python)
        )
    }
}

/// The badge of a project for an interpreter, relative to the site root.
pub fn badge_path(project: &str, python: &str) -> String {
    format!("badges/{}-{}.svg", slug(project), slug(python))
}

/// A name made safe as one path segment: ASCII letters, digits, `.`, `-` and `_` are kept,
/// anything else becomes `_` (normalized project names pass unchanged).
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Short words for a readiness, as the pages show it.
pub fn readiness_label(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "ready",
        Readiness::Pure => "pure Python",
        Readiness::GilFallback => "turns GIL on",
        Readiness::Unknown => "unknown",
        Readiness::NoWheel => "no wheel",
        Readiness::SourceOnly => "source only",
        Readiness::PythonExcluded => "not for this Python",
    }
}

/// A colour for a readiness with at least 4.5:1 contrast against white text.
pub fn readiness_color(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "#1a7f37",
        Readiness::Pure => "#0969da",
        Readiness::GilFallback => "#cf222e",
        Readiness::Unknown => "#8a5a00",
        Readiness::NoWheel => "#8250df",
        Readiness::SourceOnly => "#57606a",
        Readiness::PythonExcluded => "#6e7781",
    }
}

/// Escapes text for XML and HTML (element content and quoted attributes).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_single_safe_segments() {
        assert_eq!(slug("zope.interface"), "zope.interface");
        assert_eq!(slug("a/../b"), "a_.._b");
        assert_eq!(slug(".."), "_..");
        assert_eq!(slug(""), "_");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
