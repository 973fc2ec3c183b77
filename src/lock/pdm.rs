//! `pdm.lock`: PDM's lock file.
//!
//! Lock versions 4.x list each `[[package]]` with its `groups`, its `marker` (when locked
//! with the `inherit_metadata` strategy) and its `files` inline; older locks keep the files
//! in `[metadata.files]` under `"name version"` keys. `git`, `path` and `url` packages are
//! not auditable.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Format, Kind, LockError, LockedFile, Parsed, Requirement, Source, check_marker, check_version,
    from_toml, line_at, normalize_name, sha256_of, url_filename,
};

#[derive(Deserialize)]
struct Lock {
    metadata: Option<Metadata>,
    #[serde(default)]
    package: Vec<Package>,
}

#[derive(Deserialize)]
struct Metadata {
    lock_version: Option<Spanned<String>>,
    files: Option<BTreeMap<String, Vec<FileEntry>>>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    marker: Option<String>,
    git: Option<String>,
    revision: Option<String>,
    path: Option<String>,
    url: Option<String>,
    #[serde(default)]
    editable: bool,
    #[serde(default)]
    files: Vec<FileEntry>,
}

#[derive(Deserialize)]
struct FileEntry {
    file: Option<String>,
    url: Option<String>,
    hash: Option<String>,
}

/// Parses the text of a `pdm.lock`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let lock: Lock = from_toml(path, text)?;
    let metadata = lock
        .metadata
        .ok_or_else(|| LockError::syntax(path, 1, "pdm.lock has no [metadata] table"))?;
    let version = metadata
        .lock_version
        .ok_or_else(|| LockError::syntax(path, 1, "pdm.lock has no lock_version in [metadata]"))?;
    let major = version.get_ref().split('.').next().unwrap_or("");
    if !matches!(major, "3" | "4") {
        return Err(LockError::syntax(
            path,
            line_at(text, version.span().start),
            format!("unsupported pdm lock_version {:?}", version.get_ref()),
        ));
    }
    // Old locks: "name version" keys, names as written.
    let mut side_files: BTreeMap<(String, String), Vec<FileEntry>> = BTreeMap::new();
    for (key, files) in metadata.files.unwrap_or_default() {
        let (name, ver) = key.split_once(' ').unwrap_or((key.as_str(), ""));
        let name = name.split('[').next().unwrap_or(name);
        side_files.insert((normalize_name(name), ver.trim().to_string()), files);
    }

    let mut parsed = Parsed::new(Format::PdmLock);
    for p in &lock.package {
        let line = line_at(text, p.name.span().start);
        let err = |m: String| LockError::syntax(path, line, format!("{}: {m}", p.name.get_ref()));
        let mut req = Requirement::new(p.name.get_ref(), Source::new(path, line));
        if let Some(v) = &p.version {
            req.version = Some(check_version(v).map_err(err)?);
        }
        req.extras = p.extras.iter().map(|e| normalize_name(e)).collect();
        if let Some(m) = &p.marker {
            req.marker = check_marker(m).map_err(err)?;
        }
        if !p.groups.is_empty() && !p.groups.iter().any(|g| g == "default") {
            req.group = Some(p.groups[0].clone());
        }
        req.kind = if let Some(git) = &p.git {
            let rev = p
                .revision
                .as_deref()
                .map(|r| format!("@{r}"))
                .unwrap_or_default();
            let url = format!("git+{git}{rev}");
            if p.editable {
                Kind::Editable(url)
            } else {
                Kind::Vcs(url)
            }
        } else if let Some(local) = &p.path {
            if p.editable {
                Kind::Editable(local.clone())
            } else {
                Kind::Path(local.clone())
            }
        } else if let Some(url) = &p.url {
            super::requirements::classify(url)
        } else if p.version.is_none() {
            return Err(err(
                "package has neither a version nor git, path or url".into()
            ));
        } else {
            Kind::Index
        };
        let files = if p.files.is_empty() {
            side_files
                .get(&(req.name.clone(), req.version.clone().unwrap_or_default()))
                .map(Vec::as_slice)
                .unwrap_or_default()
        } else {
            p.files.as_slice()
        };
        for f in files {
            let filename = f
                .file
                .clone()
                .or_else(|| f.url.as_deref().map(url_filename))
                .ok_or_else(|| err("a file entry has neither file nor url".into()))?;
            req.wheels.push(LockedFile {
                filename,
                url: f.url.clone(),
                sha256: f.hash.as_deref().and_then(sha256_of),
            });
        }
        req.hashes = files.iter().filter_map(|f| f.hash.clone()).collect();
        parsed.requirements.push(req);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Target;

    #[test]
    fn packages_of_every_kind() {
        let text = r#"# This file is @generated by PDM.

[metadata]
groups = ["default", "test"]
strategy = ["inherit_metadata"]
lock_version = "4.5.0"
content_hash = "sha256:00"

[[package]]
name = "Requests"
version = "2.32.3"
extras = ["socks"]
groups = ["default"]
marker = "sys_platform == \"linux\""
files = [{file = "requests-2.32.3-py3-none-any.whl", hash = "sha256:70"}]

[[package]]
name = "pytest"
version = "8.3.3"
groups = ["test"]

[[package]]
name = "tool"
version = "0.5"
git = "https://github.com/o/tool.git"
revision = "abc"
groups = ["default"]

[[package]]
name = "app"
version = "0.1"
path = "./app"
editable = true
groups = ["default"]
"#;
        let p = parse_str(Path::new("pdm.lock"), text).unwrap();
        let linux = Target::new("3.14t", "linux-x86_64").unwrap();
        let win = Target::new("3.14t", "windows-amd64").unwrap();
        // (name, line, group, kind, on windows)
        let table = [
            ("requests", 10, None, Kind::Index, false),
            ("pytest", 18, Some("test"), Kind::Index, true),
            (
                "tool",
                23,
                None,
                Kind::Vcs("git+https://github.com/o/tool.git@abc".into()),
                true,
            ),
            ("app", 30, None, Kind::Editable("./app".into()), true),
        ];
        assert_eq!(p.requirements.len(), table.len());
        for (r, (name, line, group, kind, on_win)) in p.requirements.iter().zip(table) {
            assert_eq!(r.name, name);
            assert_eq!(r.source.line, line, "{name}");
            assert_eq!(r.group.as_deref(), group, "{name}");
            assert_eq!(r.kind, kind, "{name}");
            assert_eq!(r.applies(&win), on_win, "{name}");
            assert!(r.applies(&linux), "{name}");
        }
        assert_eq!(p.requirements[0].extras, ["socks"]);
        assert_eq!(p.requirements[0].wheels[0].sha256.as_deref(), Some("70"));
    }

    #[test]
    fn old_locks_keep_files_apart() {
        let text = "[[package]]\nname = \"numpy\"\nversion = \"1.24.2\"\n\n[metadata]\nlock_version = \"3.1\"\n\n[metadata.files]\n\"numpy 1.24.2\" = [\n    {url = \"https://f/numpy-1.24.2-cp311-cp311-win_amd64.whl\", hash = \"sha256:d5\"},\n]\n";
        let p = parse_str(Path::new("pdm.lock"), text).unwrap();
        let numpy = &p.requirements[0];
        assert_eq!(
            numpy.wheels[0].filename,
            "numpy-1.24.2-cp311-cp311-win_amd64.whl"
        );
        assert_eq!(numpy.wheels[0].sha256.as_deref(), Some("d5"));
    }

    #[test]
    fn broken_locks() {
        for (text, line, needle) in [
            (
                "[[package]]\nname = \"a\"\nversion = \"1\"\n",
                1,
                "[metadata]",
            ),
            ("[metadata]\nlock_version = \"9.0\"\n", 2, "unsupported"),
            (
                "[metadata]\nlock_version = \"4.5.0\"\n[[package]]\nname = \"a\"\nversion = \"1\"\nmarker = \"os_name ==\"\n",
                4,
                "invalid environment marker",
            ),
            (
                "[metadata]\nlock_version = \"4.5.0\"\n[[package]]\nname = \"a\"\n",
                4,
                "neither a version",
            ),
        ] {
            let e = parse_str(Path::new("pdm.lock"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
