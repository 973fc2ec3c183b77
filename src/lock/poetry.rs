//! `poetry.lock`, in both formats in use.
//!
//! Lock format 1.x (Poetry 1) lists `[[package]]` entries with a `category` and keeps the
//! files apart in `[metadata.files]`; format 2.x (Poetry 1.5 and later) lists `files` inline
//! and, from 2.1 (Poetry 2), `groups` and `markers` on each package.
//!
//! Before 2.1 the lock has no package markers. When the project's `pyproject.toml` sits
//! beside the lock, its direct dependencies are the roots and each package's marker is
//! computed over `[package.dependencies]` (from their `markers` and `platform`; `python`
//! constraints are not turned into markers, so the result errs towards applying). Without
//! it, packages carry no marker and are taken to apply everywhere.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use pep508_rs::MarkerTree;
use serde::Deserialize;
use toml::Spanned;

use super::{
    Format, Kind, LockError, LockedFile, Parsed, Requirement, Source, check_version, from_toml,
    line_at, normalize_name, sha256_of,
};

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Package>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "lock-version")]
    lock_version: Option<Spanned<String>>,
    files: Option<BTreeMap<String, Vec<FileEntry>>>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: String,
    category: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    markers: Option<Markers>,
    #[serde(default)]
    develop: bool,
    #[serde(default)]
    files: Vec<FileEntry>,
    source: Option<PackageSource>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Markers {
    One(String),
    PerGroup(BTreeMap<String, String>),
}

#[derive(Deserialize)]
struct FileEntry {
    file: String,
    hash: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct PackageSource {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    reference: Option<String>,
    resolved_reference: Option<String>,
}

/// Parses the text of a `poetry.lock`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let lock: Lock = from_toml(path, text)?;
    let metadata = lock
        .metadata
        .ok_or_else(|| LockError::syntax(path, 1, "poetry.lock has no [metadata] table"))?;
    let version = metadata.lock_version.ok_or_else(|| {
        LockError::syntax(path, 1, "poetry.lock has no lock-version in [metadata]")
    })?;
    let major = version.get_ref().split('.').next().unwrap_or("");
    if major != "1" && major != "2" {
        return Err(LockError::syntax(
            path,
            line_at(text, version.span().start),
            format!("unsupported poetry lock-version {:?}", version.get_ref()),
        ));
    }
    let mut side_files: BTreeMap<String, Vec<FileEntry>> = BTreeMap::new();
    for (name, files) in metadata.files.unwrap_or_default() {
        side_files.insert(normalize_name(&name), files);
    }

    let mut parsed = Parsed::new(Format::PoetryLock);
    for p in &lock.package {
        let line = line_at(text, p.name.span().start);
        let err = |m: String| LockError::syntax(path, line, format!("{}: {m}", p.name.get_ref()));
        let mut req = Requirement::new(p.name.get_ref(), Source::new(path, line));
        req.version = Some(check_version(&p.version).map_err(err)?);
        req.group = match (&p.category, p.groups.as_slice()) {
            (Some(c), _) if c != "main" => Some(c.clone()),
            (_, groups) if !groups.is_empty() && !groups.iter().any(|g| g == "main") => {
                Some(groups[0].clone())
            }
            _ => None,
        };
        req.marker = match &p.markers {
            None => None,
            Some(Markers::One(m)) => parse_marker(m).map_err(err)?.try_to_string(),
            Some(Markers::PerGroup(by_group)) => {
                let mut any = MarkerTree::FALSE;
                for m in by_group.values() {
                    any.or(parse_marker(m).map_err(err)?);
                }
                any.try_to_string()
            }
        };
        if let Some(source) = &p.source {
            let url = source.url.clone().unwrap_or_default();
            req.kind = match source.kind.as_str() {
                "legacy" => {
                    parsed.add_index(url.trim_end_matches('/'));
                    Kind::Index
                }
                "git" => {
                    let rev = source
                        .resolved_reference
                        .as_ref()
                        .or(source.reference.as_ref())
                        .map(|r| format!("@{r}"))
                        .unwrap_or_default();
                    Kind::Vcs(format!("git+{url}{rev}"))
                }
                "directory" if p.develop => Kind::Editable(url),
                "directory" | "file" => Kind::Path(url),
                "url" => Kind::Url(url),
                other => return Err(err(format!("unknown package source type {other:?}"))),
            };
        }
        let files = if p.files.is_empty() {
            side_files
                .get(&req.name)
                .map(Vec::as_slice)
                .unwrap_or_default()
        } else {
            p.files.as_slice()
        };
        req.wheels = files
            .iter()
            .map(|f| LockedFile {
                filename: f.file.clone(),
                url: f.url.clone(),
                sha256: f.hash.as_deref().and_then(sha256_of),
            })
            .collect();
        req.hashes = files.iter().filter_map(|f| f.hash.clone()).collect();
        parsed.requirements.push(req);
    }
    if !lock.package.iter().any(|p| p.markers.is_some())
        && let Some(roots) = pyproject_roots(&path.with_file_name("pyproject.toml"))
    {
        infer_markers(path, text, &lock.package, &roots, &mut parsed)?;
    }
    Ok(parsed)
}

/// The marker a Poetry dependency spec puts on its edge: its `markers` and `platform`, for
/// each of its alternatives (a list of specs is a disjunction).
fn spec_marker(spec: &toml::Value) -> Result<MarkerTree, String> {
    match spec {
        toml::Value::Array(alternatives) => {
            let mut any = MarkerTree::FALSE;
            for alt in alternatives {
                any.or(spec_marker(alt)?);
            }
            Ok(any)
        }
        toml::Value::Table(t) => {
            let mut all = MarkerTree::TRUE;
            if let Some(m) = t.get("markers").and_then(toml::Value::as_str) {
                all.and(parse_marker(m)?);
            }
            if let Some(p) = t.get("platform").and_then(toml::Value::as_str) {
                all.and(parse_marker(&format!("sys_platform == '{p}'"))?);
            }
            Ok(all)
        }
        _ => Ok(MarkerTree::TRUE),
    }
}

/// The direct dependencies a `pyproject.toml` names, with their markers, or `None` when
/// there is no readable file.
fn pyproject_roots(pyproject: &Path) -> Option<Vec<(String, MarkerTree)>> {
    let text = std::fs::read_to_string(pyproject).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let mut roots = Vec::new();
    let poetry = doc.get("tool").and_then(|t| t.get("poetry"));
    let mut tables: Vec<&toml::Value> = Vec::new();
    if let Some(poetry) = poetry {
        tables.extend(poetry.get("dependencies"));
        tables.extend(poetry.get("dev-dependencies"));
        if let Some(groups) = poetry.get("group").and_then(toml::Value::as_table) {
            tables.extend(groups.values().filter_map(|g| g.get("dependencies")));
        }
    }
    for table in tables.iter().filter_map(|t| t.as_table()) {
        for (name, spec) in table {
            if name != "python" {
                roots.push((normalize_name(name), spec_marker(spec).ok()?));
            }
        }
    }
    if let Some(project) = doc.get("project") {
        let mut lists: Vec<&toml::Value> = project.get("dependencies").into_iter().collect();
        if let Some(optional) = project
            .get("optional-dependencies")
            .and_then(toml::Value::as_table)
        {
            lists.extend(optional.values());
        }
        for item in lists.iter().filter_map(|l| l.as_array()).flatten() {
            let req = super::requirements::from_pep508(item.as_str()?, Path::new(".")).ok()?;
            let marker = match &req.marker {
                Some(m) => parse_marker(m).ok()?,
                None => MarkerTree::TRUE,
            };
            roots.push((req.name, marker));
        }
    }
    Some(roots)
}

/// Gives each package the marker under which the roots reach it.
fn infer_markers(
    path: &Path,
    text: &str,
    packages: &[Package],
    roots: &[(String, MarkerTree)],
    parsed: &mut Parsed,
) -> Result<(), LockError> {
    let index = |name: &str| {
        let name = normalize_name(name);
        packages
            .iter()
            .position(|p| normalize_name(p.name.get_ref()) == name)
    };
    let mut edges: Vec<Vec<super::uv::Dep>> = Vec::with_capacity(packages.len());
    for p in packages {
        let line = line_at(text, p.name.span().start);
        let mut out = Vec::new();
        for (dep, spec) in &p.dependencies {
            // Dependencies the lock does not list were not needed anywhere (say, for an
            // unsupported Python); they have no package to mark.
            if let Some(i) = index(dep) {
                let marker = spec_marker(spec).map_err(|m| {
                    LockError::syntax(path, line, format!("{}: {m}", p.name.get_ref()))
                })?;
                out.push((i, marker, Vec::new()));
            }
        }
        edges.push(out);
    }
    let start: Vec<super::uv::Dep> = roots
        .iter()
        .filter_map(|(name, m)| index(name).map(|i| (i, m.clone(), Vec::new())))
        .collect();
    let no_extras = vec![BTreeMap::new(); packages.len()];
    let reach = super::uv::propagate(packages.len(), &start, &edges, &no_extras);
    for (req, marker) in parsed.requirements.iter_mut().zip(reach) {
        req.marker = match marker {
            Some(m) => m.try_to_string(),
            // Not reached from the project: keep it, marked as never applying.
            None => MarkerTree::FALSE.try_to_string(),
        };
    }
    Ok(())
}

fn parse_marker(m: &str) -> Result<MarkerTree, String> {
    MarkerTree::from_str(m).map_err(|e| format!("invalid environment marker {m:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Target;

    const V1: &str = r#"[[package]]
name = "Colorama"
version = "0.4.6"
description = "Cross-platform colored terminal text."
category = "dev"
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,!=3.6.*,>=2.7"

[[package]]
name = "mylib"
version = "0.1.0"
description = ""
category = "main"
optional = false
python-versions = "^3.10"
develop = true

[package.source]
type = "directory"
url = "../mylib"

[metadata]
lock-version = "1.1"
python-versions = "^3.10"
content-hash = "00"

[metadata.files]
colorama = [
    {file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:4f1d"},
    {file = "colorama-0.4.6.tar.gz", hash = "sha256:0869"},
]
mylib = []
"#;

    const V2: &str = r#"# This file is automatically @generated by Poetry 2.1.1 and should not be changed by hand.

[[package]]
name = "colorama"
version = "0.4.6"
description = "Cross-platform colored terminal text."
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,!=3.6.*,>=2.7"
groups = ["main", "dev"]
markers = {main = "sys_platform == \"win32\"", dev = "platform_system == \"Windows\""}
files = [
    {file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:4f1d"},
]

[[package]]
name = "private"
version = "1.0"
description = ""
optional = false
python-versions = "*"
groups = ["main"]
markers = "python_version >= \"3.12\""
files = []

[package.source]
type = "legacy"
url = "https://pkgs.example.com/simple"
reference = "private"

[metadata]
lock-version = "2.1"
python-versions = ">=3.10"
content-hash = "00"
"#;

    #[test]
    fn both_lock_formats() {
        let win = Target::new("3.14t", "windows-amd64").unwrap();
        let linux = Target::new("3.14t", "linux-x86_64").unwrap();
        let v1 = parse_str(Path::new("/nonexistent/poetry.lock"), V1).unwrap();
        let v2 = parse_str(Path::new("/nonexistent/poetry.lock"), V2).unwrap();
        // (lock, index, name, line, group, kind, files, on linux)
        let table = [
            (&v1, 0, "colorama", 2, Some("dev"), Kind::Index, 2, true),
            (
                &v1,
                1,
                "mylib",
                10,
                None,
                Kind::Editable("../mylib".into()),
                0,
                true,
            ),
            (&v2, 0, "colorama", 4, None, Kind::Index, 1, false),
            (&v2, 1, "private", 16, None, Kind::Index, 0, true),
        ];
        for (lock, i, name, line, group, kind, files, on_linux) in table {
            let r = &lock.requirements[i];
            assert_eq!(r.name, name);
            assert_eq!(r.source.line, line, "{name}");
            assert_eq!(r.group.as_deref(), group, "{name}");
            assert_eq!(r.kind, kind, "{name}");
            assert_eq!(r.wheels.len(), files, "{name}");
            assert_eq!(r.applies(&linux), on_linux, "{name}");
            assert!(r.applies(&win), "{name}");
        }
        assert_eq!(v1.requirements[0].wheels[0].sha256.as_deref(), Some("4f1d"));
        assert_eq!(v2.index_urls, ["https://pkgs.example.com/simple"]);
    }

    #[test]
    fn broken_locks() {
        for (text, line, needle) in [
            (
                "[[package]]\nname = \"a\"\nversion = \"1\"\n",
                1,
                "[metadata]",
            ),
            ("[metadata]\nlock-version = \"3.0\"\n", 2, "unsupported"),
            (
                "[[package]]\nname = \"a\"\nversion = \"1\"\nmarkers = \"os_name =\"\n[metadata]\nlock-version = \"2.1\"\n",
                2,
                "invalid environment marker",
            ),
            (
                "[[package]]\nname = \"a\"\nversion = \"one\"\n[metadata]\nlock-version = \"2.0\"\n",
                2,
                "invalid version",
            ),
        ] {
            let e = parse_str(Path::new("poetry.lock"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
