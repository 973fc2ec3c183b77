//! The list of projects a crawl goes through, most important first: the bundled
//! `data/top-pypi-packages.min.json` (the most-downloaded projects of PyPI, as
//! <https://hugovk.github.io/top-pypi-packages/> publishes them), or a file of the user's in
//! that JSON shape, as a JSON array of names, or as plain text with one name per line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::index::normalize_name;

/// The name runs over the bundled list are recorded under.
pub const BUNDLED_NAME: &str = "top-pypi-packages";

/// The bundled list.
const BUNDLED: &str = include_str!("../../data/top-pypi-packages.min.json");

/// Names on a list, normalized (PEP 503), in list order, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectList {
    /// What runs over this list are recorded as: `top-pypi-packages`, a file's name, with
    /// `[:N]` when cut to its first N projects.
    pub name: String,
    pub projects: Vec<String>,
    /// Entries that are not project names (PEP 508), as written.
    pub skipped: Vec<String>,
}

/// Why a list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read the project list {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a project list: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: no project names in it", path.display())]
    Empty { path: PathBuf },
}

impl ProjectList {
    /// The bundled list of the most-downloaded projects.
    pub fn bundled() -> ProjectList {
        let names = parse(BUNDLED).expect("the bundled list is well formed");
        ProjectList::new(BUNDLED_NAME.to_string(), names)
    }

    /// A list read from `path` (see the module documentation for the formats).
    pub fn from_file(path: &Path) -> Result<ProjectList, ListError> {
        let text = std::fs::read_to_string(path).map_err(|source| ListError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let names = parse(&text).map_err(|reason| ListError::Malformed {
            path: path.to_path_buf(),
            reason,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let list = ProjectList::new(name, names);
        if list.projects.is_empty() {
            return Err(ListError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(list)
    }

    /// Normalizes and deduplicates `names`, keeping the first place of each.
    fn new(name: String, names: Vec<String>) -> ProjectList {
        let mut seen = HashSet::new();
        let mut projects = Vec::new();
        let mut skipped = Vec::new();
        for raw in names {
            match normalize_name(raw.trim()) {
                Some(n) => {
                    if seen.insert(n.clone()) {
                        projects.push(n);
                    }
                }
                None => skipped.push(raw),
            }
        }
        ProjectList {
            name,
            projects,
            skipped,
        }
    }

    /// The first `n` projects; the name says so when that cuts the list.
    pub fn top(mut self, n: usize) -> ProjectList {
        if n < self.projects.len() {
            self.projects.truncate(n);
            self.name = format!("{}[:{n}]", self.name);
        }
        self
    }
}

/// The names in a list, as written: `{"rows": [{"project": …}, …]}`, `["a", "b"]`,
/// `[{"project": "a"}, …]`, or text with a name at the start of each line (`#` starts a
/// comment; anything after the name on its line, such as a download count, is ignored).
fn parse(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let doc: Value = serde_json::from_str(trimmed).map_err(|e| format!("bad JSON: {e}"))?;
        let rows = match &doc {
            Value::Array(rows) => rows,
            Value::Object(map) => map
                .get("rows")
                .and_then(Value::as_array)
                .ok_or("a JSON object without a \"rows\" array")?,
            _ => unreachable!("starts with {{ or ["),
        };
        return rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.as_str()
                    .or_else(|| row.get("project").and_then(Value::as_str))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format!(
                            "entry {} is neither a name nor {{\"project\": NAME}}",
                            i + 1
                        )
                    })
            })
            .collect();
    }
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| line.split([' ', '\t', ',']).find(|w| !w.is_empty()))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_list_starts_with_the_most_downloaded() {
        let list = ProjectList::bundled();
        assert_eq!(list.name, "top-pypi-packages");
        assert!(list.projects.len() >= 10_000, "{}", list.projects.len());
        assert_eq!(list.projects[..3], ["boto3", "packaging", "setuptools"]);
        let top = list.top(100);
        assert_eq!(
            (top.name.as_str(), top.projects.len()),
            ("top-pypi-packages[:100]", 100)
        );
    }

    #[test]
    fn every_format_gives_normalized_names_once() {
        let cases = [
            r#"{"rows": [{"project": "Foo_Bar", "download_count": 3}, {"project": "baz"}]}"#,
            r#"["Foo_Bar", "baz", "foo-bar"]"#,
            r#"[{"project": "foo.bar"}, {"project": "BAZ"}]"#,
            "# the list\nFoo_Bar 1234\n\n  baz,56 # second\nfoo-bar\n",
        ];
        for text in cases {
            let list = ProjectList::new("l".into(), parse(text).unwrap());
            assert_eq!(list.projects, ["foo-bar", "baz"], "{text}");
            assert!(list.skipped.is_empty());
        }
    }

    #[test]
    fn bad_names_are_skipped_and_bad_files_named() {
        let list = ProjectList::new("l".into(), parse("ok\n../etc\n-x\n").unwrap());
        assert_eq!(list.projects, ["ok"]);
        assert_eq!(list.skipped, ["../etc", "-x"]);
        assert!(parse(r#"{"projects": []}"#).unwrap_err().contains("rows"));
        assert!(parse("[1, 2]").unwrap_err().contains("entry 1"));
        assert!(parse("{").unwrap_err().contains("bad JSON"));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.txt");
        let err = ProjectList::from_file(&missing).unwrap_err();
        assert!(err.to_string().contains("none.txt"), "{err}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "# nothing\n").unwrap();
        let err = ProjectList::from_file(&empty).unwrap_err();
        assert!(matches!(err, ListError::Empty { .. }), "{err}");
        let mine = dir.path().join("mine.txt");
        std::fs::write(&mine, "numpy\nlxml\n").unwrap();
        let list = ProjectList::from_file(&mine).unwrap();
        assert_eq!((list.name.as_str(), list.projects.len()), ("mine.txt", 2));
        assert_eq!(list.clone().top(5).name, "mine.txt", "no cut, no suffix");
        assert_eq!(list.top(1).name, "mine.txt[:1]");
    }
}
