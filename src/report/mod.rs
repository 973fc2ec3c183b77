//! Rendering scan results: JSON (schema 1 of the design) for machines, and a table a person
//! reads at a glance, blockers first.

mod audit;
mod paint;
mod sarif;

pub use audit::{AUDIT_SCHEMA, AuditContext, audit_github, audit_json, audit_markdown, audit_text};
pub use paint::{Paint, write_output};
pub use sarif::audit_sarif;

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

pub(crate) fn readiness_label(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "READY",
        Readiness::GilFallback => "TURNS THE GIL ON",
        Readiness::NoWheel => "NO WHEEL FOR TARGET",
        Readiness::PythonExcluded => "NOT FOR THIS PYTHON",
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
