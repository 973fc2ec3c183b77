//! Rendering scan results: JSON (schema 1 of the design) for machines, and a table a person
//! reads at a glance, blockers first.

use std::fmt::Write as _;

use serde::Serialize;

use crate::inspect::verdict::Verdict;
use crate::scan::{Readiness, ScanReport, Stats, WheelReport};

/// The JSON document of `gilfree scan --format json`.
#[derive(Serialize)]
struct JsonReport<'a> {
    schema: u32,
    target: Target,
    wheels: &'a [WheelReport],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [String],
    stats: &'a Stats,
}

#[derive(Serialize)]
struct Target {
    python: Vec<String>,
    platform: Vec<String>,
}

/// Schema-1 JSON for a scan.
pub fn json(report: &ScanReport, pythons: &[String], platforms: &[String]) -> String {
    // Without --platform, the target is every platform that was scanned.
    let mut platforms = platforms.to_vec();
    if platforms.is_empty() {
        for p in report.wheels.iter().filter_map(|w| w.platform.as_ref()) {
            if !platforms.contains(p) {
                platforms.push(p.clone());
            }
        }
    }
    let doc = JsonReport {
        schema: 1,
        target: Target {
            python: pythons.to_vec(),
            platform: platforms,
        },
        wheels: &report.wheels,
        errors: &report.errors,
        stats: &report.stats,
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::GilNotUsed => "ok",
        Verdict::GilUsed => "GIL",
        Verdict::Unknown => "??",
        Verdict::Incompatible => "xx",
    }
}

fn readiness_label(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "READY",
        Readiness::GilFallback => "TURNS THE GIL ON",
        Readiness::NoWheel => "NO WHEEL FOR TARGET",
        Readiness::SourceOnly => "SOURCE ONLY",
        Readiness::Pure => "PURE PYTHON",
        Readiness::Unknown => "UNKNOWN",
    }
}

/// The text table: one block per wheel and target, blockers first; ready wheels summarised
/// in one line each unless `verbose`.
pub fn text(report: &ScanReport, verbose: bool) -> String {
    let mut wheels: Vec<&WheelReport> = report.wheels.iter().collect();
    wheels.sort_by(|a, b| {
        a.readiness
            .cmp(&b.readiness)
            .then_with(|| a.filename.cmp(&b.filename))
    });
    let mut out = String::new();
    for w in &wheels {
        let target = match &w.platform {
            Some(p) => format!("{} {p}", w.python),
            None => w.python.clone(),
        };
        let _ = writeln!(
            out,
            "{}  [{target}]  {}",
            w.filename,
            readiness_label(w.readiness)
        );
        for line in w.note.iter().chain(&w.error) {
            let _ = writeln!(out, "    {line}");
        }
        let show_all = verbose || w.readiness != Readiness::Ready;
        let width = w.modules.iter().map(|m| m.module.len()).max().unwrap_or(0);
        let mut hidden = 0;
        for m in &w.modules {
            if !show_all && m.verdict == Verdict::GilNotUsed {
                hidden += 1;
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<3} {:<width$}  {:<12}  {:<8}  {}",
                mark(m.verdict),
                m.module,
                m.verdict.as_str(),
                m.binder.as_str(),
                m.evidence,
            );
            if let Some(fix) = &m.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "  ok  {hidden} module(s) keep the GIL off (-v lists them)"
            );
        }
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

/// One line: how many modules and wheels, and how they came out.
pub fn summary(report: &ScanReport) -> String {
    let modules: Vec<_> = report.wheels.iter().flat_map(|w| &w.modules).collect();
    let count = |v: Verdict| modules.iter().filter(|m| m.verdict == v).count();
    let unreadable = report.wheels.iter().filter(|w| w.error.is_some()).count();
    let mut line = format!(
        "{} module(s) in {} wheel/target pair(s): {} keep the GIL off, {} turn it on, {} unknown, {} incompatible",
        modules.len(),
        report.wheels.len(),
        count(Verdict::GilNotUsed),
        count(Verdict::GilUsed),
        count(Verdict::Unknown),
        count(Verdict::Incompatible),
    );
    if unreadable > 0 {
        line.push_str(&format!("; {unreadable} unreadable wheel/target pair(s)"));
    }
    line
}

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
pub fn audit_json(
    report: &crate::audit::AuditReport,
    pythons: &[String],
    platforms: &[String],
) -> String {
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
pub fn audit_text(report: &crate::audit::AuditReport) -> String {
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
fn summary_line(report: &crate::audit::AuditReport) -> String {
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
pub fn audit_markdown(report: &crate::audit::AuditReport) -> String {
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
pub fn audit_github(report: &crate::audit::AuditReport) -> String {
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
