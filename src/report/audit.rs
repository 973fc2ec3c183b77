//! Rendering audits: a table, schema-1 JSON, Markdown for a pull-request comment, GitHub
//! Actions annotations and SARIF for code scanning.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Target, mark, readiness_label};
use crate::audit::AuditReport;
use crate::scan::{Readiness, Stats};

/// The JSON document of `gilfree audit --format json`.
#[derive(Serialize)]
struct AuditJson<'a> {
    schema: u32,
    target: Target,
    packages: &'a [crate::audit::PackageAudit],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [String],
    stats: &'a Stats,
}

/// Schema-1 JSON for an audit.
pub fn audit_json(report: &AuditReport, pythons: &[String], platforms: &[String]) -> String {
    let doc = AuditJson {
        schema: 1,
        target: Target {
            python: pythons.to_vec(),
            platform: platforms.to_vec(),
        },
        packages: &report.packages,
        errors: &report.errors,
        stats: &report.stats,
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The audit as a table: blockers first, one line per dependency, the modules and the
/// suggestion under the ones that block, and a summary line.
pub fn audit_text(report: &AuditReport) -> String {
    let mut out = String::new();
    let width = report
        .packages
        .iter()
        .map(|p| p.name.len() + p.version.as_deref().map_or(0, |v| v.len() + 2))
        .max()
        .unwrap_or(0);
    for p in &report.packages {
        let name = match &p.version {
            Some(v) => format!("{}=={v}", p.name),
            None => p.name.clone(),
        };
        let _ = writeln!(
            out,
            "{:<19} {name:<width$}  {}",
            readiness_label(p.readiness),
            p.source
        );
        for m in &p.modules {
            let _ = writeln!(
                out,
                "    {} {}  {}  {}",
                mark(m.verdict),
                m.module,
                m.verdict.as_str(),
                m.evidence
            );
        }
        if let Some(n) = &p.note {
            let _ = writeln!(out, "    {n}");
        }
        if let Some(s) = &p.suggestion {
            let _ = writeln!(out, "    fix: {s}");
        }
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// One line counting the dependencies by readiness.
fn summary_line(report: &AuditReport) -> String {
    let count = |r: Readiness| report.packages.iter().filter(|p| p.readiness == r).count();
    format!(
        "{} dependencies: {} ready, {} pure Python, {} turn the GIL on, {} without a free-threaded wheel, {} source only, {} unknown",
        report.packages.len(),
        count(Readiness::Ready),
        count(Readiness::Pure),
        count(Readiness::GilFallback),
        count(Readiness::NoWheel),
        count(Readiness::SourceOnly),
        count(Readiness::Unknown),
    )
}

/// The audit as Markdown, fit for a pull-request comment: a summary, then a table of the
/// dependencies that do not keep the GIL off, with their modules and suggestions.
pub fn audit_markdown(report: &AuditReport) -> String {
    let mut out = String::from("### Free-threaded Python readiness (gilfree)\n\n");
    let _ = writeln!(out, "{}\n", summary_line(report));
    let open: Vec<_> = report
        .packages
        .iter()
        .filter(|p| !matches!(p.readiness, Readiness::Ready | Readiness::Pure))
        .collect();
    if open.is_empty() {
        out.push_str("Every dependency keeps the GIL off.\n");
        return out;
    }
    out.push_str(
        "| dependency | readiness | modules | suggestion | where |\n|---|---|---|---|---|\n",
    );
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for p in open {
        let name = match &p.version {
            Some(v) => format!("`{}=={v}`", p.name),
            None => format!("`{}`", p.name),
        };
        let modules: Vec<String> = p
            .modules
            .iter()
            .map(|m| {
                format!(
                    "`{}` ({}, {})",
                    m.module,
                    m.verdict.as_str(),
                    m.binder.as_str()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | `{}` |",
            p.readiness.as_str(),
            cell(&modules.join(", ")),
            cell(p.suggestion.as_deref().or(p.note.as_deref()).unwrap_or("")),
            p.source,
        );
    }
    out
}

/// GitHub Actions workflow commands: one annotation per dependency that does not keep the
/// GIL off, on its requirement line, then the summary.
pub fn audit_github(report: &AuditReport) -> String {
    let mut out = String::new();
    for p in &report.packages {
        let level = match p.readiness {
            Readiness::Ready | Readiness::Pure => continue,
            Readiness::GilFallback | Readiness::NoWheel => "error",
            _ => "warning",
        };
        let modules: Vec<&str> = p.modules.iter().map(|m| m.module.as_str()).collect();
        let mut message = format!(
            "{} {}: {}",
            p.name,
            p.version.as_deref().unwrap_or(""),
            p.readiness.as_str()
        );
        if !modules.is_empty() {
            message.push_str(&format!(" ({})", modules.join(", ")));
        }
        if let Some(s) = p.suggestion.as_deref().or(p.note.as_deref()) {
            message.push_str(&format!(". {s}"));
        }
        // Workflow commands need %, CR and LF escaped in the message.
        let message = message
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        let _ = writeln!(
            out,
            "::{level} file={},line={},title=gilfree::{message}",
            p.location.0, p.location.1
        );
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}
