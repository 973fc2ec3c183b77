//! `gilfree audit` without a file: the project's dependency file in a folder, in the order a
//! uv user expects — the lock first, then requirements files, then `pyproject.toml`.

use std::path::{Path, PathBuf};

/// The names looked for, in order; `requirements*.txt` and `pylock.*.toml` stand for every
/// file of that shape (`requirements.txt` first, then the others by name).
pub const ORDER: [&str; 7] = [
    "uv.lock",
    "pylock.toml",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "requirements*.txt",
    "pyproject.toml",
];

/// The dependency file gilfree audits in `dir`, or `None` when it has none.
pub fn find(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for wanted in ORDER {
        let found = match wanted {
            "pylock.toml" => names
                .iter()
                .find(|n| *n == "pylock.toml")
                .or_else(|| names.iter().find(|n| is_named_pylock(n))),
            "requirements*.txt" => names.iter().find(|n| *n == "requirements.txt").or_else(|| {
                names
                    .iter()
                    .find(|n| n.starts_with("requirements") && n.ends_with(".txt"))
            }),
            exact => names.iter().find(|n| *n == exact),
        };
        if let Some(name) = found {
            return Some(dir.join(name));
        }
    }
    None
}

/// `pylock.<name>.toml` (PEP 751).
fn is_named_pylock(name: &str) -> bool {
    name.strip_prefix("pylock.")
        .and_then(|rest| rest.strip_suffix(".toml"))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_comes_first_then_requirements_then_pyproject() {
        let cases: [(&[&str], Option<&str>); 7] = [
            (
                &["pyproject.toml", "uv.lock", "requirements.txt"],
                Some("uv.lock"),
            ),
            (&["pyproject.toml", "poetry.lock"], Some("poetry.lock")),
            (&["pylock.dev.toml", "pdm.lock"], Some("pylock.dev.toml")),
            (
                &["requirements-dev.txt", "requirements.txt", "pyproject.toml"],
                Some("requirements.txt"),
            ),
            (
                &["requirements-dev.txt", "pyproject.toml"],
                Some("requirements-dev.txt"),
            ),
            (&["pyproject.toml", "setup.py"], Some("pyproject.toml")),
            (&["setup.py", "README.md"], None),
        ];
        for (files, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            for f in files {
                std::fs::write(tmp.path().join(f), "").unwrap();
            }
            let got = find(tmp.path());
            assert_eq!(
                got.as_deref()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str()),
                want,
                "{files:?}"
            );
        }
    }
}
