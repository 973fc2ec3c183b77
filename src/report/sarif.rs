//! SARIF 2.1.0 for GitHub code scanning: one result per dependency that does not keep the
//! GIL off, on the line of the requirements file or lockfile that asks for it.
//!
//! One rule per readiness value; a result is an `error` when the dependency fails the audit
//! (`--fail-on`), a `note` when it is ignored, and a `warning` otherwise. Relative input paths stay relative to the
//! repository root (`%SRCROOT%`), as code scanning expects.

use serde_json::{Value, json};

use crate::audit::config::Settings;
use crate::audit::{AuditReport, PackageAudit};
use crate::scan::Readiness;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The rules, in `ruleIndex` order: (readiness, short description, help).
const RULES: [(Readiness, &str, &str); 5] = [
    (
        Readiness::GilFallback,
        "A dependency's extension module turns the GIL back on",
        "Importing an extension module that does not declare free-threading support \
         re-enables the GIL for the whole process. Upgrade to a release whose modules declare \
         Py_mod_gil = Py_MOD_GIL_NOT_USED, or ask the maintainers to declare it.",
    ),
    (
        Readiness::NoWheel,
        "A dependency has no wheel for the free-threaded interpreter",
        "The pinned release publishes wheels, but none a free-threaded interpreter can load on \
         this platform: installing builds it from source, or fails. Upgrade to a release \
         with free-threaded wheels.",
    ),
    (
        Readiness::SourceOnly,
        "A dependency publishes only a source distribution",
        "The pinned release has no wheels at all: installing it builds it from source.",
    ),
    (
        Readiness::PythonExcluded,
        "A dependency does not install on the audited interpreter",
        "The requires-python of every file of the pinned release excludes the audited \
         interpreter: it cannot be installed there. Upgrade to a release that supports it.",
    ),
    (
        Readiness::Unknown,
        "A dependency's free-threading readiness could not be determined",
        "gilfree could not tell whether this dependency keeps the GIL off; the message says why.",
    ),
];

/// The audit as a SARIF 2.1.0 log: errors for the dependencies that fail the audit,
/// warnings for the others that do not keep the GIL off (notes when ignored).
pub fn audit_sarif(report: &AuditReport, settings: &Settings) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(readiness, short, help)| {
            json!({
                "id": readiness.as_str(),
                "name": rule_name(*readiness),
                "shortDescription": {"text": short},
                "fullDescription": {"text": help},
                "help": {"text": help},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["free-threading", "dependencies"]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .packages
        .iter()
        .filter_map(|p| result(p, settings))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gilfree",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root"}}},
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn rule_name(readiness: Readiness) -> &'static str {
    match readiness {
        Readiness::GilFallback => "TurnsTheGilOn",
        Readiness::NoWheel => "NoFreeThreadedWheel",
        Readiness::SourceOnly => "SourceOnly",
        Readiness::PythonExcluded => "PythonExcluded",
        _ => "ReadinessUnknown",
    }
}

fn result(p: &PackageAudit, settings: &Settings) -> Option<Value> {
    let index = RULES.iter().position(|(r, _, _)| *r == p.readiness)?;
    let level = if p.fails {
        "error"
    } else if p.ignored.is_some() {
        "note"
    } else {
        "warning"
    };
    let what = match &p.version {
        Some(v) => format!("{}=={v}", p.name),
        None => p.name.clone(),
    };
    let mut message = format!("{what}: {}", headline(p.readiness));
    let modules = super::audit::plain_module_lines(p, settings);
    if !modules.is_empty() {
        message.push_str(&format!(" — {}", modules.join("; ")));
    }
    for extra in [&p.note, &p.suggestion].into_iter().flatten() {
        message.push_str(&format!(". {extra}"));
    }
    if let Some(reason) = &p.ignored {
        message.push_str(&format!(". Ignored: {reason}"));
    }
    let (file, line) = &p.location;
    let mut artifact = json!({"uri": uri(file)});
    if !is_absolute(file) {
        artifact["uriBaseId"] = json!("%SRCROOT%");
    }
    Some(json!({
        "ruleId": p.readiness.as_str(),
        "ruleIndex": index,
        "level": level,
        "message": {"text": message},
        "locations": [{"physicalLocation": {
            "artifactLocation": artifact,
            "region": {"startLine": (*line).max(1)},
        }}],
        // Stable across runs and line moves: the dependency and what is wrong with it.
        "partialFingerprints": {"dependency/v1": format!("{what}:{}", p.readiness.as_str())},
        "properties": {
            "package": p.name,
            "version": p.version,
            "modules": p.modules.iter().map(|m| m.module.as_str()).collect::<Vec<_>>(),
        },
    }))
}

fn headline(readiness: Readiness) -> &'static str {
    match readiness {
        Readiness::GilFallback => "turns the GIL back on",
        Readiness::NoWheel => "no wheel for the free-threaded interpreter at this version",
        Readiness::SourceOnly => "only a source distribution at this version",
        Readiness::PythonExcluded => "does not install on this interpreter (requires-python)",
        _ => "readiness unknown",
    }
}

fn is_absolute(path: &str) -> bool {
    path.starts_with('/') || path.as_bytes().get(1..3) == Some(b":\\") || path.starts_with("\\\\")
}

/// A path as a URI reference: `/` separators, reserved and non-ASCII bytes percent-encoded,
/// absolute paths as `file://` URIs.
fn uri(path: &str) -> String {
    let slashed = path.replace('\\', "/");
    let mut out = String::new();
    if is_absolute(path) {
        out.push_str("file://");
        if !slashed.starts_with('/') {
            out.push('/');
        }
    }
    let relative = slashed.strip_prefix("./").unwrap_or(&slashed);
    for b in relative.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        for (path, want) in [
            ("requirements.txt", "requirements.txt"),
            ("./sub dir/uv.lock", "sub%20dir/uv.lock"),
            ("/home/me/p/pdm.lock", "file:///home/me/p/pdm.lock"),
            ("C:\\work\\Pipfile.lock", "file:///C:/work/Pipfile.lock"),
            ("deps/ünï.txt", "deps/%C3%BCn%C3%AF.txt"),
            ("a#b?.txt", "a%23b%3F.txt"),
        ] {
            assert_eq!(uri(path), want, "{path}");
        }
    }

    #[test]
    fn only_what_does_not_keep_the_gil_off_is_a_result() {
        let fail_on = [Readiness::GilFallback, Readiness::NoWheel];
        let package = |name: &str, readiness| PackageAudit {
            name: name.into(),
            version: Some("1.0".into()),
            readiness,
            fails: fail_on.contains(&readiness),
            ignored: None,
            source: "requirements.txt:3".into(),
            location: ("requirements.txt".into(), 3),
            modules: Vec::new(),
            targets: Vec::new(),
            upgrade: None,
            relisted: false,
            suggestion: Some("upgrade to 2.0, whose wheels keep the GIL off".into()),
            note: None,
            reports: Vec::new(),
        };
        let report = AuditReport {
            packages: vec![
                package("a", Readiness::GilFallback),
                package("b", Readiness::Ready),
                package("c", Readiness::Pure),
                package("d", Readiness::SourceOnly),
            ],
            ..AuditReport::default()
        };
        let settings = Settings::new(
            vec![crate::wheel::PythonTarget::Py314t],
            vec![crate::wheel::Platform::LinuxX86_64],
            fail_on.to_vec(),
        );
        let doc: Value = serde_json::from_str(&audit_sarif(&report, &settings)).unwrap();
        let results = doc["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["ruleId"], "gil-fallback");
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["ruleId"], "source-only");
        assert_eq!(
            results[1]["level"], "warning",
            "source-only is not in --fail-on"
        );
        let rules = doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(
            rules[results[1]["ruleIndex"].as_u64().unwrap() as usize]["id"],
            "source-only"
        );
        let place = &results[0]["locations"][0]["physicalLocation"];
        assert_eq!(place["artifactLocation"]["uri"], "requirements.txt");
        assert_eq!(place["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(place["region"]["startLine"], 3);
    }
}
