//! `Pipfile.lock`: pipenv's JSON lock, with the `default` and `develop` sections.
//!
//! Entries pin with `"version": "==x"` and may carry `markers`, `extras`, `hashes` and an
//! `index` naming one of `_meta.sources`; `git`, `path`, `file` and `editable` entries are
//! not auditable. JSON carries no positions, so each entry's line is the line of its key
//! inside its section.

use std::path::Path;

use serde_json::{Map, Value};

use super::{
    Format, Kind, LockError, Parsed, Requirement, Source, check_marker, line_at, split_pin,
};

/// Parses the text of a `Pipfile.lock`; `path` names it in sources and errors.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, LockError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| LockError::syntax(path, e.line().max(1), format!("invalid JSON: {e}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| LockError::syntax(path, 1, "Pipfile.lock is not a JSON object"))?;
    let meta = root
        .get("_meta")
        .and_then(Value::as_object)
        .ok_or_else(|| LockError::syntax(path, 1, "Pipfile.lock has no \"_meta\" object"))?;

    let mut parsed = Parsed::new(Format::PipfileLock);
    let mut sources: Vec<(String, String)> = Vec::new();
    for source in meta
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(url)) = (
            source.get("name").and_then(Value::as_str),
            source.get("url").and_then(Value::as_str),
        ) {
            sources.push((name.to_string(), url.trim_end_matches('/').to_string()));
            parsed.add_index(url.trim_end_matches('/'));
        }
    }

    for (section, group) in [("default", None), ("develop", Some("develop"))] {
        let Some(entries) = root.get(section) else {
            continue;
        };
        let section_at = text.find(&format!("\"{section}\"")).unwrap_or(0);
        let entries = entries.as_object().ok_or_else(|| {
            LockError::syntax(
                path,
                line_at(text, section_at),
                format!("\"{section}\" is not an object"),
            )
        })?;
        for (name, entry) in entries {
            let key = serde_json::to_string(name).unwrap_or_default();
            let at = text[section_at..]
                .find(&format!("{key}:"))
                .map(|o| section_at + o)
                .unwrap_or(section_at);
            let line = line_at(text, at);
            let mut req = entry_requirement(name, entry, &sources)
                .map_err(|m| LockError::syntax(path, line, format!("{name}: {m}")))?;
            req.source = Source::new(path, line);
            req.group = group.map(str::to_string);
            parsed.requirements.push(req);
        }
    }
    // serde_json sorts keys; give the entries in file order.
    parsed.requirements.sort_by_key(|r| r.source.line);
    Ok(parsed)
}

fn entry_requirement(
    name: &str,
    entry: &Value,
    sources: &[(String, String)],
) -> Result<Requirement, String> {
    let entry: &Map<String, Value> = entry.as_object().ok_or("entry is not an object")?;
    let text = |k: &str| -> Result<Option<&str>, String> {
        match entry.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("{k:?} should be a string, not {other}")),
        }
    };
    let mut req = Requirement::new(name, Source::new("", 0));
    if let Some(v) = text("version")? {
        // pipenv 2026.10.3 writes `"==" + the Pipfile's specifier` for a package its own platform's
        // resolution skipped (`"==>=311"` for `pywin32 = {version = ">=311", markers = ...}`).
        let skipped = v
            .strip_prefix("==")
            .filter(|rest| rest.starts_with(['<', '>', '=', '!', '~']));
        (req.version, req.specifier) = split_pin(skipped.unwrap_or(v))?;
    }
    if let Some(m) = text("markers")? {
        req.marker = check_marker(m)?;
    }
    for list in ["extras", "hashes"] {
        let items = match entry.get(list) {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!("{list:?} should list strings"))?,
            Some(other) => return Err(format!("{list:?} should be a list, not {other}")),
        };
        if list == "extras" {
            req.extras = items.iter().map(|e| super::normalize_name(e)).collect();
        } else {
            req.hashes = items;
        }
    }
    if let Some(index) = text("index")?
        && !sources.iter().any(|(n, _)| n == index)
    {
        return Err(format!("index {index:?} is not among _meta.sources"));
    }
    let editable = entry.get("editable").and_then(Value::as_bool) == Some(true);
    req.kind = if let Some(git) = text("git")? {
        let reference = text("ref")?.map(|r| format!("@{r}")).unwrap_or_default();
        let url = format!("git+{}{reference}", git.trim_start_matches("git+"));
        if editable {
            Kind::Editable(url)
        } else {
            Kind::Vcs(url)
        }
    } else if let Some(p) = text("path")? {
        if editable {
            Kind::Editable(p.to_string())
        } else {
            Kind::Path(p.to_string())
        }
    } else if let Some(f) = text("file")? {
        super::requirements::classify(f)
    } else if !entry.contains_key("version") {
        // pipenv writes `"version": "*"` for packages its platform's resolution skipped.
        return Err("entry has neither a version nor git, path or file".into());
    } else {
        Kind::Index
    };
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_pipenv_did_not_resolve_keeps_its_specifier() {
        // As pipenv 2026.0.3 wrote it on Linux for a Windows-only dependency.
        let text = r#"{"_meta": {"sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true}]},
            "default": {"pywin32": {"hashes": ["sha256:0502d1facf1fed4839a9a51ccbcc63d952cf318f78ffc00a7e78528ac27d7a2b"],
                                    "markers": "sys_platform == 'win32'", "version": "==>=311"}},
            "develop": {}}"#;
        let parsed = parse_str(Path::new("Pipfile.lock"), text).unwrap();
        let req = &parsed.requirements[0];
        assert_eq!(req.version, None);
        assert_eq!(req.specifier.as_deref(), Some(">=311"));
        assert_eq!(req.marker.as_deref(), Some("sys_platform == 'win32'"));
    }

    const LOCK: &str = r#"{
    "_meta": {
        "pipfile-spec": 6,
        "sources": [{"name": "pypi", "url": "https://pypi.org/simple/", "verify_ssl": true}]
    },
    "default": {
        "Requests": {"extras": ["socks"], "hashes": ["sha256:aa"], "index": "pypi", "version": "==2.32.3"},
        "tool": {"git": "https://github.com/o/tool.git", "ref": "abc123"},
        "app": {"editable": true, "path": "."},
        "blob": {"file": "https://h/blob-1.0.tar.gz"}
    },
    "develop": {
        "pytest": {"markers": "python_version >= '3.8'", "version": "==8.3.0"}
    }
}
"#;

    #[test]
    fn entries_of_every_kind() {
        let p = parse_str(Path::new("Pipfile.lock"), LOCK).unwrap();
        assert_eq!(p.index_urls, ["https://pypi.org/simple"]);
        type Row<'a> = (&'a str, Option<&'a str>, &'a Kind, usize, Option<&'a str>);
        let got: Vec<Row> = p
            .requirements
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.version.as_deref(),
                    &r.kind,
                    r.source.line,
                    r.group.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("requests", Some("2.32.3"), &Kind::Index, 7, None),
                (
                    "tool",
                    None,
                    &Kind::Vcs("git+https://github.com/o/tool.git@abc123".into()),
                    8,
                    None
                ),
                ("app", None, &Kind::Editable(".".into()), 9, None),
                (
                    "blob",
                    None,
                    &Kind::Url("https://h/blob-1.0.tar.gz".into()),
                    10,
                    None
                ),
                ("pytest", Some("8.3.0"), &Kind::Index, 13, Some("develop")),
            ]
        );
        assert_eq!(p.requirements[0].extras, ["socks"]);
        assert_eq!(p.requirements[0].hashes, ["sha256:aa"]);
    }

    #[test]
    fn broken_locks() {
        for (text, line, needle) in [
            ("{\n  \"_meta\": {,\n}", 2, "invalid JSON"),
            ("[]", 1, "not a JSON object"),
            ("{\"default\": {}}", 1, "_meta"),
            (
                "{\"_meta\": {},\n \"default\": {\n  \"a\": {\"version\": \"=>1\"}}}",
                3,
                "invalid version specifier",
            ),
            (
                "{\"_meta\": {},\n \"default\": {\n  \"a\": {\"version\": \"==1\", \"index\": \"x\"}}}",
                3,
                "not among _meta.sources",
            ),
            (
                "{\"_meta\": {},\n \"develop\": {\n\n  \"b\": {}}}",
                4,
                "neither a version",
            ),
        ] {
            let e = parse_str(Path::new("Pipfile.lock"), text).unwrap_err();
            assert_eq!(e.line(), Some(line), "{text}: {e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
