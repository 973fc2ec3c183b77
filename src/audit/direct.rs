//! Requirements that are not releases on an index, read for what they are: a wheel at a URL
//! or on disk is scanned like any other wheel; a VCS checkout, a source archive or an
//! editable VCS install is built from source on install (`source-only`, which fails the
//! audit only when `--fail-on` names it); a local project folder (`-e .`, `./pkg`) is the
//! team's own code, not a dependency to audit.

use std::path::{Path, PathBuf};

use crate::lock::{Kind, Requirement};

/// What a direct requirement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Direct {
    /// A local project folder: not audited, for this reason.
    Project(String),
    /// Built from source when installed: why.
    Source(String),
    /// A wheel on disk.
    LocalWheel(PathBuf),
    /// A wheel at this URL.
    WheelUrl(String),
}

/// What `req` (not a release on an index) is.
pub(super) fn classify(req: &Requirement) -> Direct {
    let base = match req.source.file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let built = |what: String| {
        Direct::Source(format!(
            "built from source ({what}): gilfree reads published wheels; build one and run `gilfree scan` on it"
        ))
    };
    match &req.kind {
        Kind::Index => Direct::Source("on an index".into()),
        Kind::Vcs(url) => built(format!("a version-control checkout, {url}")),
        Kind::Url(url) if is_wheel(url) => Direct::WheelUrl(url.clone()),
        Kind::Url(url) => built(format!("a source archive at {url}")),
        Kind::Editable(loc) if loc.contains("://") || loc.contains('+') => {
            built(format!("an editable checkout of {loc}"))
        }
        Kind::Editable(loc) | Kind::Path(loc) => {
            let path = local_path(loc, base);
            if is_wheel(loc) {
                Direct::LocalWheel(path)
            } else if path.is_dir() || !looks_like_archive(loc) {
                Direct::Project(project_reason(&path, base, loc))
            } else {
                built(format!("a source archive, {loc}"))
            }
        }
    }
}

/// "the project itself" when `path` is the input file's own folder, else which project.
fn project_reason(path: &Path, base: &Path, loc: &str) -> String {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(path, base) {
        "the project itself, not audited".to_string()
    } else {
        format!("a local project at {loc}, built from its source: not audited")
    }
}

/// A path or `file:` URL, relative to the input file's folder.
fn local_path(loc: &str, base: &Path) -> PathBuf {
    let plain = loc
        .strip_prefix("file://")
        .or_else(|| loc.strip_prefix("file:"))
        .unwrap_or(loc);
    let path = Path::new(plain);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Whether a URL or path names a wheel (fragment and query left out).
fn is_wheel(loc: &str) -> bool {
    let path = loc.split(['#', '?']).next().unwrap_or(loc);
    path.to_ascii_lowercase().ends_with(".whl")
}

fn looks_like_archive(loc: &str) -> bool {
    let lower = loc.to_ascii_lowercase();
    [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Source;

    #[test]
    fn direct_requirements_are_read_for_what_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("libs")).unwrap();
        let file = tmp.path().join("requirements.txt");
        let req = |kind: Kind| {
            let mut r = Requirement::new("p", Source::new(&file, 1));
            r.kind = kind;
            r
        };
        let cases = [
            (Kind::Editable(".".into()), "project:the project itself"),
            (
                Kind::Path("./libs".into()),
                "project:a local project at ./libs",
            ),
            (
                Kind::Path("dist/p-1.0-py3-none-any.whl".into()),
                "wheel:dist/p-1.0-py3-none-any.whl",
            ),
            (
                Kind::Path("dist/p-1.0.tar.gz".into()),
                "source:a source archive",
            ),
            (
                Kind::Url(
                    "https://h/p-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl#sha256=ab".into(),
                ),
                "url:https://h/p-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl#sha256=ab",
            ),
            (
                Kind::Url("https://h/p-1.0.tar.gz".into()),
                "source:a source archive at https://h/p-1.0.tar.gz",
            ),
            (
                Kind::Vcs("git+https://h/p.git@v1".into()),
                "source:a version-control checkout",
            ),
            (
                Kind::Editable("git+https://h/p.git#egg=p".into()),
                "source:an editable checkout",
            ),
        ];
        for (kind, want) in cases {
            let (tag, text) = want.split_once(':').unwrap();
            let got = classify(&req(kind.clone()));
            let ok = match (&got, tag) {
                (Direct::Project(r), "project") => r.starts_with(text),
                (Direct::Source(r), "source") => r.contains(text),
                (Direct::LocalWheel(p), "wheel") => p.ends_with(text),
                (Direct::WheelUrl(u), "url") => u == text,
                _ => false,
            };
            assert!(ok, "{kind:?}: {got:?}, want {want}");
        }
    }
}
