//! `pyproject.toml`: the `[project]` dependencies, its optional dependencies (extras) and the
//! `[dependency-groups]` of PEP 735, with `{include-group = "..."}` followed (and loops
//! reported).
//!
//! These are requirements, not pins: most carry a specifier and no version. Requirements of
//! an extra or a group carry its name in [`Requirement::group`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Format, LockError, Parsed, Requirement, Source, from_toml, line_at, normalize_name};

#[derive(Deserialize)]
struct Pyproject {
    project: Option<Project>,
    #[serde(rename = "dependency-groups")]
    dependency_groups: Option<BTreeMap<String, Vec<Spanned<toml::Value>>>>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    dependencies: Vec<Spanned<String>>,
    #[serde(default, rename = "optional-dependencies")]
    optional: BTreeMap<String, Vec<Spanned<String>>>,
}

/// Parses the text of a `pyproject.toml`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let doc: Pyproject = from_toml(path, text)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut parsed = Parsed::new(Format::Pyproject);
    let one = |item: &Spanned<String>, group: Option<&str>| -> Result<Requirement, LockError> {
        let line = line_at(text, item.span().start);
        let mut req = super::requirements::from_pep508(item.get_ref(), dir)
            .map_err(|m| LockError::syntax(path, line, m))?;
        req.source = Source::new(path, line);
        req.group = group.map(str::to_string);
        Ok(req)
    };
    if let Some(project) = &doc.project {
        for item in &project.dependencies {
            parsed.requirements.push(one(item, None)?);
        }
        for (extra, items) in &project.optional {
            let extra = normalize_name(extra);
            for item in items {
                parsed.requirements.push(one(item, Some(&extra))?);
            }
        }
    }
    let groups = doc.dependency_groups.unwrap_or_default();
    let by_name: BTreeMap<String, &Vec<Spanned<toml::Value>>> =
        groups.iter().map(|(k, v)| (normalize_name(k), v)).collect();
    for name in groups.keys() {
        let group = normalize_name(name);
        let mut items = Vec::new();
        expand_group(
            path,
            text,
            &by_name,
            &group,
            &mut vec![group.clone()],
            &mut items,
        )?;
        for item in items {
            parsed.requirements.push(one(&item, Some(&group))?);
        }
    }
    if doc.project.is_none() && groups.is_empty() {
        return Err(LockError::syntax(
            path,
            1,
            "pyproject.toml has neither [project] nor [dependency-groups]",
        ));
    }
    Ok(parsed)
}

/// The requirement strings of `group`, with included groups in place.
fn expand_group(
    path: &Path,
    text: &str,
    groups: &BTreeMap<String, &Vec<Spanned<toml::Value>>>,
    group: &str,
    stack: &mut Vec<String>,
    out: &mut Vec<Spanned<String>>,
) -> Result<(), LockError> {
    for item in groups[group] {
        let line = line_at(text, item.span().start);
        let err = |m: String| LockError::syntax(path, line, m);
        match item.get_ref() {
            toml::Value::String(s) => out.push(Spanned::new(item.span(), s.clone())),
            toml::Value::Table(t) => {
                let included = t
                    .get("include-group")
                    .and_then(toml::Value::as_str)
                    .filter(|_| t.len() == 1)
                    .ok_or_else(|| {
                        err(format!(
                            "dependency group {group}: a table entry must be {{include-group = \"...\"}}"
                        ))
                    })?;
                let key = normalize_name(included);
                if !groups.contains_key(&key) {
                    return Err(err(format!(
                        "dependency group {group} includes unknown group {included:?}"
                    )));
                }
                if stack.contains(&key) {
                    return Err(err(format!(
                        "dependency group include loop: {} -> {key}",
                        stack.join(" -> ")
                    )));
                }
                stack.push(key.clone());
                expand_group(path, text, groups, &key, stack, out)?;
                stack.pop();
            }
            other => {
                return Err(err(format!(
                    "dependency group {group}: expected a requirement string, found {other}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_extras_and_groups() {
        let text = r#"[project]
name = "demo"
dependencies = [
    "numpy>=2.1",
    "colorama>=0.4; sys_platform == 'win32'",
    "pinned==1.0",
]

[project.optional-dependencies]
Fast_Path = ["uvloop[dev]>=0.21"]

[dependency-groups]
test = ["pytest>=8"]
dev = [{include-group = "test"}, "ruff"]
"#;
        let p = parse_str(Path::new("pyproject.toml"), text).unwrap();
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            usize,
        );
        let got: Vec<Row> = p
            .requirements
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.version.as_deref(),
                    r.specifier.as_deref(),
                    r.group.as_deref(),
                    r.source.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("numpy", None, Some(">=2.1"), None, 4),
                ("colorama", None, Some(">=0.4"), None, 5),
                ("pinned", Some("1.0"), None, None, 6),
                ("uvloop", None, Some(">=0.21"), Some("fast-path"), 10),
                ("pytest", None, Some(">=8"), Some("dev"), 13),
                ("ruff", None, None, Some("dev"), 14),
                ("pytest", None, Some(">=8"), Some("test"), 13),
            ]
        );
        assert_eq!(p.requirements[3].extras, ["dev"]);
        assert_eq!(
            p.requirements[1].marker.as_deref(),
            Some("sys_platform == 'win32'")
        );
    }

    #[test]
    fn broken_files() {
        for (text, line, needle) in [
            ("[tool.black]\nline-length = 99\n", 1, "neither"),
            (
                "[project]\ndependencies = [\n  \"numpy>=\",\n]\n",
                3,
                "invalid requirement",
            ),
            (
                "[dependency-groups]\na = [{include-group = \"b\"}]\nb = [\n {include-group = \"a\"}]\n",
                4,
                "include loop",
            ),
            (
                "[dependency-groups]\na = [\n\n  {include-group = \"nope\"}]\n",
                4,
                "unknown group",
            ),
            (
                "[dependency-groups]\na = [3]\n",
                2,
                "expected a requirement string",
            ),
            ("[project]\ndependencies = \"numpy\"\n", 2, ""),
        ] {
            let e = parse_str(Path::new("pyproject.toml"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
