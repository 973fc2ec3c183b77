//! `pylock.toml` and `pylock.<name>.toml`: the standard lock file of PEP 751.
//!
//! Each `[[packages]]` entry carries its own marker, its index, and either its wheels and
//! sdist or one of `vcs`, `directory` and `archive`, which make it not auditable.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Format, Kind, LockError, LockedFile, Parsed, Requirement, Source, check_marker, check_version,
    from_toml, line_at, url_filename,
};

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lock-version")]
    lock_version: Spanned<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Spanned<String>,
    version: Option<String>,
    marker: Option<String>,
    index: Option<String>,
    vcs: Option<Vcs>,
    directory: Option<Directory>,
    archive: Option<Artifact>,
    sdist: Option<Artifact>,
    #[serde(default)]
    wheels: Vec<Artifact>,
}

#[derive(Deserialize)]
struct Vcs {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    path: Option<String>,
    #[serde(rename = "commit-id")]
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct Directory {
    path: String,
    #[serde(default)]
    editable: bool,
}

#[derive(Deserialize)]
struct Artifact {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

impl Artifact {
    fn locked(&self) -> LockedFile {
        let location = self.url.clone().or_else(|| self.path.clone());
        LockedFile {
            filename: self
                .name
                .clone()
                .or_else(|| location.as_deref().map(url_filename))
                .unwrap_or_default(),
            url: location,
            sha256: self.hashes.get("sha256").cloned(),
        }
    }
}

/// Parses the text of a `pylock.toml`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let lock: Lock = from_toml(path, text)?;
    let major = lock.lock_version.get_ref().split('.').next().unwrap_or("");
    if major != "1" {
        return Err(LockError::syntax(
            path,
            line_at(text, lock.lock_version.span().start),
            format!(
                "unsupported pylock lock-version {:?}",
                lock.lock_version.get_ref()
            ),
        ));
    }
    let mut parsed = Parsed::new(Format::Pylock);
    for p in &lock.packages {
        let line = line_at(text, p.name.span().start);
        let err = |m: String| LockError::syntax(path, line, m);
        let mut req = Requirement::new(p.name.get_ref(), Source::new(path, line));
        if let Some(v) = &p.version {
            req.version = Some(check_version(v).map_err(err)?);
        }
        if let Some(m) = &p.marker {
            req.marker = check_marker(m).map_err(err)?;
        }
        if let Some(index) = &p.index {
            parsed.add_index(index.trim_end_matches('/'));
        }
        req.kind = if let Some(vcs) = &p.vcs {
            let at = vcs
                .url
                .clone()
                .or_else(|| vcs.path.clone())
                .unwrap_or_default();
            let commit = vcs
                .commit_id
                .as_deref()
                .map(|c| format!("@{c}"))
                .unwrap_or_default();
            Kind::Vcs(format!("{}+{at}{commit}", vcs.kind))
        } else if let Some(dir) = &p.directory {
            if dir.editable {
                Kind::Editable(dir.path.clone())
            } else {
                Kind::Path(dir.path.clone())
            }
        } else if let Some(archive) = &p.archive {
            match (&archive.url, &archive.path) {
                (Some(url), _) => Kind::Url(url.clone()),
                (None, Some(path)) => Kind::Path(path.clone()),
                (None, None) => return Err(err("archive has neither url nor path".into())),
            }
        } else if p.sdist.is_none() && p.wheels.is_empty() {
            return Err(err(format!(
                "package {} lists no wheels, sdist, archive, directory or vcs",
                p.name.get_ref()
            )));
        } else {
            Kind::Index
        };
        req.wheels = p
            .sdist
            .iter()
            .chain(&p.wheels)
            .chain(&p.archive)
            .map(Artifact::locked)
            .collect();
        req.hashes = req
            .wheels
            .iter()
            .filter_map(|f| f.sha256.as_ref().map(|h| format!("sha256:{h}")))
            .collect();
        parsed.requirements.push(req);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_of_every_kind() {
        let text = r#"lock-version = "1.0"
created-by = "hand"

[[packages]]
name = "NumPy"
version = "2.1.0"
marker = "sys_platform == 'linux'"
index = "https://pypi.org/simple/"
wheels = [{ url = "https://f/numpy-2.1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", hashes = { sha256 = "aa" } }]

[[packages]]
name = "tool"
vcs = { type = "git", url = "https://github.com/o/tool", commit-id = "abc" }

[[packages]]
name = "app"
directory = { path = "./app", editable = true }

[[packages]]
name = "blob"
archive = { url = "https://h/blob-1.0.tar.gz", hashes = { sha256 = "bb" } }
"#;
        let p = parse_str(Path::new("pylock.toml"), text).unwrap();
        let got: Vec<(&str, Option<&str>, &Kind, usize)> = p
            .requirements
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.version.as_deref(),
                    &r.kind,
                    r.source.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("numpy", Some("2.1.0"), &Kind::Index, 5),
                (
                    "tool",
                    None,
                    &Kind::Vcs("git+https://github.com/o/tool@abc".into()),
                    12
                ),
                ("app", None, &Kind::Editable("./app".into()), 16),
                (
                    "blob",
                    None,
                    &Kind::Url("https://h/blob-1.0.tar.gz".into()),
                    20
                ),
            ]
        );
        let numpy = &p.requirements[0];
        assert_eq!(numpy.marker.as_deref(), Some("sys_platform == 'linux'"));
        assert_eq!(
            numpy.wheels[0].filename,
            "numpy-2.1.0-cp314-cp314t-manylinux_2_28_x86_64.whl"
        );
        assert_eq!(numpy.hashes, ["sha256:aa"]);
        assert_eq!(p.index_urls, ["https://pypi.org/simple"]);
    }

    #[test]
    fn broken_locks() {
        for (text, line, needle) in [
            ("lock-version = \"2.0\"\n", 1, "lock-version"),
            ("[[packages]]\nname = \"a\"\n", 1, "lock-version"),
            (
                "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\n",
                3,
                "lists no wheels",
            ),
            (
                "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nmarker = \"os_name ==\"\nwheels = [{ url = \"u\" }]\n",
                3,
                "invalid environment marker",
            ),
        ] {
            let e = parse_str(Path::new("pylock.toml"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
