//! `uv.lock`: uv's universal lock file.
//!
//! uv writes no marker on a package, only on the edges between packages, so the marker of
//! each package is computed here: the disjunction, over every path from the workspace
//! members, of the conjunction of the edge markers on the path. Workspace members themselves
//! (`source = { virtual = ... }` or `{ editable = ... }` with nothing depending on them) are
//! the project, not dependencies, and are left out.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use pep508_rs::MarkerTree;
use serde::Deserialize;
use toml::Spanned;

use super::{
    Format, Kind, LockError, LockedFile, Parsed, Requirement, Source, check_version, from_toml,
    line_at, normalize_name, sha256_of, url_filename,
};

#[derive(Deserialize)]
struct Lock {
    version: Spanned<i64>,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    source: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dependencies: Vec<Edge>,
    #[serde(default, rename = "optional-dependencies")]
    optional: BTreeMap<String, Vec<Edge>>,
    #[serde(default, rename = "dev-dependencies")]
    dev: BTreeMap<String, Vec<Edge>>,
    sdist: Option<File>,
    #[serde(default)]
    wheels: Vec<File>,
}

#[derive(Deserialize)]
struct Edge {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    url: Option<String>,
    path: Option<String>,
    filename: Option<String>,
    hash: Option<String>,
}

impl File {
    fn locked(&self) -> LockedFile {
        let filename = self
            .filename
            .clone()
            .or_else(|| self.url.as_deref().map(url_filename))
            .or_else(|| self.path.as_deref().map(url_filename))
            .unwrap_or_default();
        LockedFile {
            filename,
            url: self.url.clone().or_else(|| self.path.clone()),
            sha256: self.hash.as_deref().and_then(sha256_of),
        }
    }
}

/// Parses the text of a `uv.lock`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let lock: Lock = from_toml(path, text)?;
    if *lock.version.get_ref() != 1 {
        return Err(LockError::syntax(
            path,
            line_at(text, lock.version.span().start),
            format!("unsupported uv.lock version {}", lock.version.get_ref()),
        ));
    }
    let pkgs = &lock.package;
    let line_of = |p: &Package| line_at(text, p.name.span().start);
    let err = |p: &Package, m: String| LockError::syntax(path, line_of(p), m);

    // Resolve every edge to a package index, checking markers on the way.
    let resolve = |from: &Package, e: &Edge| -> Result<(usize, MarkerTree), LockError> {
        let name = normalize_name(&e.name);
        let found = pkgs.iter().position(|p| {
            normalize_name(p.name.get_ref()) == name
                && (e.version.is_none() || p.version == e.version)
        });
        let idx = found.ok_or_else(|| {
            err(
                from,
                format!(
                    "{} depends on {name}{} which the lock does not list",
                    from.name.get_ref(),
                    e.version
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default()
                ),
            )
        })?;
        let marker = match &e.marker {
            None => MarkerTree::TRUE,
            Some(m) => MarkerTree::from_str(m)
                .map_err(|x| err(from, format!("invalid environment marker {m:?}: {x}")))?,
        };
        Ok((idx, marker))
    };
    let mut edges: Vec<Vec<Dep>> = Vec::with_capacity(pkgs.len());
    let mut optional: Vec<BTreeMap<String, Vec<Dep>>> = Vec::new();
    let mut incoming = vec![false; pkgs.len()];
    for p in pkgs {
        let mut out = Vec::new();
        for e in &p.dependencies {
            let (i, m) = resolve(p, e)?;
            incoming[i] = true;
            out.push((i, m, e.extra.clone()));
        }
        edges.push(out);
        let mut opt = BTreeMap::new();
        for (extra, deps) in p.optional.iter().chain(&p.dev) {
            let mut list = Vec::new();
            for e in deps {
                let (i, m) = resolve(p, e)?;
                incoming[i] = true;
                list.push((i, m, e.extra.clone()));
            }
            opt.insert(normalize_name(extra), list);
        }
        optional.push(opt);
    }

    let is_member = |i: usize| {
        let s = &pkgs[i].source;
        !incoming[i] && (s.contains_key("virtual") || s.contains_key("editable"))
    };
    let members: Vec<usize> = (0..pkgs.len()).filter(|&i| is_member(i)).collect();

    // Reachability markers: first from the members' main dependencies, then per group.
    let mut entries: Vec<(Option<String>, Vec<Dep>)> = Vec::new();
    let main: Vec<Dep> = members
        .iter()
        .flat_map(|&m| edges[m].iter().cloned())
        .collect();
    entries.push((None, main));
    for &m in &members {
        for (group, deps) in &optional[m] {
            entries.push((Some(group.clone()), deps.clone()));
        }
    }
    let mut reach: Vec<Option<(MarkerTree, Option<String>)>> = vec![None; pkgs.len()];
    for (group, start) in &entries {
        let found = propagate(pkgs.len(), start, &edges, &optional);
        for (i, m) in found.into_iter().enumerate() {
            if let (Some(m), None) = (m, &reach[i]) {
                reach[i] = Some((m, group.clone()));
            }
        }
    }

    let mut parsed = Parsed::new(Format::UvLock);
    for (i, p) in pkgs.iter().enumerate() {
        if members.contains(&i) {
            continue;
        }
        let mut req = Requirement::new(p.name.get_ref(), Source::new(path, line_of(p)));
        if let Some(v) = &p.version {
            req.version = Some(check_version(v).map_err(|m| err(p, m))?);
        }
        req.kind = kind_of(&p.source).map_err(|m| err(p, m))?;
        if let Some(toml::Value::String(url)) = p.source.get("registry") {
            parsed.add_index(url.trim_end_matches('/'));
        }
        if let Some((marker, group)) = &reach[i] {
            req.marker = marker.try_to_string();
            req.group = group.clone();
        } else {
            // Nothing reaches it from a member: keep it, marked as never applying.
            req.marker = MarkerTree::FALSE.try_to_string();
        }
        req.wheels = p.sdist.iter().chain(&p.wheels).map(File::locked).collect();
        req.hashes = p
            .sdist
            .iter()
            .chain(&p.wheels)
            .filter_map(|f| f.hash.clone())
            .collect();
        parsed.requirements.push(req);
    }
    Ok(parsed)
}

/// An edge: the package it leads to, its marker, and the extras it asks for.
pub(crate) type Dep = (usize, MarkerTree, Vec<String>);

/// The packages an edge taken under `here` reaches directly, with their markers: its target,
/// and the optional dependencies of the extras it asks for.
fn follow(
    here: &MarkerTree,
    dep: &Dep,
    optional: &[BTreeMap<String, Vec<Dep>>],
    out: &mut Vec<(usize, MarkerTree)>,
    depth: usize,
) {
    let (to, m, extras) = dep;
    let mut along = here.clone();
    along.and(m.clone());
    out.push((*to, along.clone()));
    if depth > 8 {
        // Extras that ask for each other: their packages are reached from the fixed point.
        return;
    }
    for extra in extras {
        for next in optional[*to]
            .get(&normalize_name(extra))
            .into_iter()
            .flatten()
        {
            follow(&along, next, optional, out, depth + 1);
        }
    }
}

/// The marker under which each package is reached from `start`, `None` when never.
pub(crate) fn propagate(
    n: usize,
    start: &[Dep],
    edges: &[Vec<Dep>],
    optional: &[BTreeMap<String, Vec<Dep>>],
) -> Vec<Option<MarkerTree>> {
    let mut reach = vec![MarkerTree::FALSE; n];
    let mut targets = Vec::new();
    for dep in start {
        follow(&MarkerTree::TRUE, dep, optional, &mut targets, 0);
    }
    for (to, m) in targets.drain(..) {
        reach[to].or(m);
    }
    // Markers form a finite lattice, so this reaches a fixed point; the bound is a guard.
    for _ in 0..(n + 2) {
        let mut changed = false;
        for from in 0..n {
            if reach[from].is_false() {
                continue;
            }
            let here = reach[from].clone();
            for dep in &edges[from] {
                follow(&here, dep, optional, &mut targets, 0);
            }
            for (to, along) in targets.drain(..) {
                let mut next = reach[to].clone();
                next.or(along);
                if next != reach[to] {
                    reach[to] = next;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    reach
        .into_iter()
        .map(|m| (!m.is_false()).then_some(m))
        .collect()
}

/// The kind of a package from its `source` table.
fn kind_of(source: &BTreeMap<String, toml::Value>) -> Result<Kind, String> {
    let (key, value) = source
        .iter()
        .next()
        .ok_or("package has no source".to_string())?;
    let value = value.as_str().unwrap_or_default().to_string();
    Ok(match key.as_str() {
        "registry" => Kind::Index,
        "git" => Kind::Vcs(format!("git+{value}")),
        "url" => Kind::Url(value),
        "path" | "directory" | "virtual" => Kind::Path(value),
        "editable" => Kind::Editable(value),
        other => return Err(format!("unknown package source {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Target;

    const LOCK: &str = r#"version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "a", marker = "sys_platform == 'win32'" },
    { name = "b", extra = ["x"] },
    { name = "tool" },
]

[package.dev-dependencies]
dev = [{ name = "d" }]

[[package]]
name = "a"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "c" }]
wheels = [{ url = "https://f/a-1.0-py3-none-any.whl", hash = "sha256:ab" }]

[[package]]
name = "b"
version = "2.0"
source = { registry = "https://pypi.org/simple" }

[package.optional-dependencies]
x = [{ name = "c", marker = "python_version < '3.12'" }]

[[package]]
name = "c"
version = "3.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "d"
version = "4.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "tool"
version = "0.2"
source = { git = "https://github.com/o/tool?rev=main#abc" }
"#;

    #[test]
    fn markers_follow_the_graph() {
        let p = parse_str(Path::new("uv.lock"), LOCK).unwrap();
        let linux = Target::new("3.14t", "linux-x86_64").unwrap();
        let win = Target::new("3.14t", "windows-amd64").unwrap();
        let old_linux = Target::new("3.11", "linux-x86_64").unwrap();
        // (name, line, on linux 3.14, on windows 3.14, on linux 3.11, group, kind)
        let table = [
            ("a", 18, false, true, false, None, Kind::Index),
            ("b", 25, true, true, true, None, Kind::Index),
            ("c", 33, false, true, true, None, Kind::Index),
            ("d", 38, true, true, true, Some("dev"), Kind::Index),
            (
                "tool",
                43,
                true,
                true,
                true,
                None,
                Kind::Vcs("git+https://github.com/o/tool?rev=main#abc".into()),
            ),
        ];
        assert_eq!(p.requirements.len(), table.len());
        for (r, (name, line, l, w, o, group, kind)) in p.requirements.iter().zip(table) {
            assert_eq!(r.name, name);
            assert_eq!(r.source.line, line, "{name}");
            assert_eq!(r.applies(&linux), l, "{name} linux");
            assert_eq!(r.applies(&win), w, "{name} windows");
            assert_eq!(r.applies(&old_linux), o, "{name} 3.11");
            assert_eq!(r.group.as_deref(), group, "{name}");
            assert_eq!(r.kind, kind, "{name}");
        }
        assert_eq!(p.requirements[0].wheels[0].sha256.as_deref(), Some("ab"));
        assert_eq!(p.index_urls, ["https://pypi.org/simple"]);
    }

    #[test]
    fn broken_locks() {
        for (text, line, needle) in [
            ("version = 2\n", 1, "unsupported uv.lock version 2"),
            (
                "version = 1\n\n[[package]]\nname = \"a\"\nversion = \"1\"\nsource = { registry = \"r\" }\ndependencies = [{ name = \"zz\" }]\n",
                4,
                "zz",
            ),
            (
                "version = 1\n[[package]]\nname = \"a\"\nversion = \"x.y\"\nsource = { registry = \"r\" }\n",
                3,
                "invalid version",
            ),
            ("version = 1\n[[package]]\nversion = \"1\"\n", 2, "name"),
            ("version = 1\n[[package\n", 2, ""),
        ] {
            let e = parse_str(Path::new("uv.lock"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
