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
pub mod links;
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
    #[error("--base-url {value}: not an http:// or https:// URL")]
    BaseUrl { value: String },
}

/// How to build the site.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Where the site will be served (`https://example.org/ft/`): the feed's links and the
    /// badge snippets become absolute. Without it every link is relative.
    pub base_url: Option<String>,
}

/// The manifest of the files a build wrote, kept in the output folder so that the next
/// build removes the ones it no longer writes (and nothing else).
pub const MANIFEST: &str = ".gilfree-site-files";

/// A base URL checked and ending in `/`.
fn checked_base_url(value: &str) -> Result<String, SiteError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let host = rest.and_then(|r| r.split('/').next()).unwrap_or("");
    if host.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '<' | '>'))
    {
        return Err(SiteError::BaseUrl {
            value: value.to_string(),
        });
    }
    Ok(if value.ends_with('/') {
        value.to_string()
    } else {
        format!("{value}/")
    })
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
    /// Files of an earlier build that this one no longer writes, removed.
    pub removed: usize,
    /// The largest HTML page: (path, bytes), and the largest but the projects index.
    pub largest_page: Option<(String, u64)>,
    pub largest_other_page: Option<(String, u64)>,
    pub seconds: f64,
}

/// Writes files under the output folder, counts them and remembers their paths.
pub(crate) struct Output {
    root: PathBuf,
    summary: SiteSummary,
    written: std::collections::BTreeSet<String>,
}

/// Whether `rel` is a path this site could have written: relative, `/`-separated, no empty,
/// `.` or `..` segment (a manifest edited by hand cannot make a build delete elsewhere).
fn is_site_path(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains('\\')
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(':'))
}

impl Output {
    fn new(root: &Path) -> Output {
        Output {
            root: root.to_path_buf(),
            summary: SiteSummary::default(),
            written: Default::default(),
        }
    }

    fn path_of(&self, rel: &str) -> PathBuf {
        rel.split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    /// Removes the files the previous build's manifest lists that this build did not write,
    /// then the folders that left empty, and writes this build's manifest.
    fn finish(&mut self) -> Result<(), SiteError> {
        let manifest = self.root.join(MANIFEST);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SiteError::Io { path, source }
        };
        let previous = match std::fs::read_to_string(&manifest) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&manifest)(e)),
        };
        let mut dirs = std::collections::BTreeSet::new();
        for rel in previous.lines().filter(|l| is_site_path(l)) {
            if self.written.contains(rel) {
                continue;
            }
            let path = self.path_of(rel);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                    self.summary.removed += 1;
                    if let Some((dir, _)) = rel.rsplit_once('/') {
                        dirs.insert(dir.to_string());
                    }
                }
                _ => {}
            }
        }
        // Deepest first; a folder that still holds anything stays.
        for dir in dirs.iter().rev() {
            let _ = std::fs::remove_dir(self.path_of(dir));
        }
        let mut list = String::new();
        for rel in &self.written {
            list.push_str(rel);
            list.push('\n');
        }
        std::fs::write(&manifest, list).map_err(io(&manifest))
    }

    /// Writes `bytes` at `rel` (a `/`-separated path under the root).
    pub(crate) fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), SiteError> {
        let path = self.path_of(rel);
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
            let size = bytes.len() as u64;
            let bigger = |l: &Option<(String, u64)>| l.as_ref().is_none_or(|(_, n)| size > *n);
            if bigger(&self.summary.largest_page) {
                self.summary.largest_page = Some((rel.to_string(), size));
            }
            if rel != "projects.html" && bigger(&self.summary.largest_other_page) {
                self.summary.largest_other_page = Some((rel.to_string(), size));
            }
        }
        self.written.insert(rel.to_string());
        Ok(())
    }
}

/// Builds the whole site from `store` into `out` with relative links only.
pub fn build(store: &Store, out: &Path) -> Result<SiteSummary, SiteError> {
    build_with(store, out, &BuildOptions::default())
}

/// Builds the whole site from `store` into `out` (created if missing): files of the same
/// names are replaced, files an earlier build wrote (by its manifest, [`MANIFEST`]) and this
/// one does not are removed; anything else in the folder is left alone.
pub fn build_with(
    store: &Store,
    out: &Path,
    options: &BuildOptions,
) -> Result<SiteSummary, SiteError> {
    let started = Instant::now();
    let base_url = options
        .base_url
        .as_deref()
        .map(checked_base_url)
        .transpose()?;
    let mut site = data::load(store, SystemTime::now())?;
    site.base_url = base_url;
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
    output.finish()?;
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
    fn base_urls_are_checked_and_end_in_a_slash() {
        assert_eq!(
            checked_base_url("https://example.org/ft").unwrap(),
            "https://example.org/ft/"
        );
        assert_eq!(checked_base_url("http://h/").unwrap(), "http://h/");
        let err = checked_base_url("example.org").unwrap_err();
        assert!(err.to_string().contains("example.org"), "{err}");
        assert!(checked_base_url("https://").is_err());
        assert!(checked_base_url("https://a b/").is_err());
    }

    #[test]
    fn only_plain_relative_paths_count_as_site_files() {
        assert!(is_site_path("projects/numpy.html"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "C:/x",
            "a\\b",
            "./a",
        ] {
            assert!(!is_site_path(bad), "{bad}");
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
