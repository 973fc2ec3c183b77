//! Rendering audits: text for a person (one line per dependency, blocking modules said once
//! over the platforms where they block, a last line to act on), schema-2 JSON with every
//! target's detail, Markdown for a pull-request comment, GitHub Actions annotations; SARIF
//! lives in `sarif.rs`. All of them group modules the same way (`crate::audit::group`).

use std::fmt::Write as _;

use serde::Serialize;

use super::paint::Paint;
use super::readiness_label;
use crate::audit::config::Settings;
use crate::audit::group::{self, and_list};
use crate::audit::{AuditReport, PackageAudit, Skipped};
use crate::inspect::verdict::Verdict;
use crate::scan::{Readiness, Stats};

/// The version of the audit JSON document.
pub const AUDIT_SCHEMA: u32 = 2;

/// What a rendering needs besides the report.
#[derive(Debug, Clone)]
pub struct AuditContext<'a> {
    /// The input files, as named to the user.
    pub inputs: &'a [String],
    pub settings: &'a Settings,
    /// Evidence, every module name, every target.
    pub verbose: bool,
    pub paint: Paint,
}

impl AuditContext<'_> {
    fn one_python(&self) -> bool {
        self.settings.pythons.len() <= 1
    }

    fn short_targets(&self) -> String {
        self.settings.targets()
    }
}

/// The JSON document of `gilfree audit --format json`.
#[derive(Serialize)]
struct AuditJson<'a> {
    schema: u32,
    inputs: &'a [String],
    target: TargetJson,
    fail_on: Vec<&'static str>,
    packages: &'a [PackageAudit],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    skipped: &'a [Skipped],
    fails: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [String],
    stats: &'a Stats,
}

#[derive(Serialize)]
struct TargetJson {
    python: Vec<String>,
    /// Empty: every platform a dependency has wheels for.
    platform: Vec<String>,
    /// Where each choice came from.
    origin: OriginJson,
}

#[derive(Serialize)]
struct OriginJson {
    python: String,
    platform: String,
    fail_on: String,
}

/// Schema-2 JSON for an audit: the targets and where they came from, then per dependency
/// its readiness, whether it fails, each target's detail and the modules grouped over the
/// targets.
pub fn audit_json(report: &AuditReport, cx: &AuditContext<'_>) -> String {
    let s = cx.settings;
    let doc = AuditJson {
        schema: AUDIT_SCHEMA,
        inputs: cx.inputs,
        target: TargetJson {
            python: s.pythons.iter().map(|p| p.to_string()).collect(),
            platform: s.platforms.iter().map(|p| p.to_string()).collect(),
            origin: OriginJson {
                python: s.pythons_from.to_string(),
                platform: s.platforms_from.to_string(),
                fail_on: s.fail_on_from.to_string(),
            },
        },
        fail_on: s.fail_on.iter().map(|r| r.as_str()).collect(),
        packages: &report.packages,
        skipped: &report.skipped,
        fails: report.fails(),
        errors: &report.errors,
        stats: &report.stats,
    };
    let mut out =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// The lines under a dependency that does not keep the GIL off: its modules grouped (same
/// verdict, reason and targets on one line), evidence per target with `verbose`.
fn module_lines(p: &PackageAudit, cx: &AuditContext<'_>) -> Vec<String> {
    let all: Vec<String> = p
        .targets
        .iter()
        .map(|t| format!("{} {}", t.python, t.platform.as_deref().unwrap_or("any")))
        .collect();
    let mut out = Vec::new();
    for line in group::lines(&p.modules) {
        let first = line.modules[0];
        let mut names: Vec<String> = line.modules.iter().map(|m| m.module.clone()).collect();
        let count = names.len();
        if count > 3 && !cx.verbose {
            names.truncate(2);
            names.push(format!("{} more", count - 2));
        }
        let verb = match (first.verdict, count) {
            (Verdict::GilUsed, 1) => "turns the GIL on",
            (Verdict::GilUsed, _) => "turn the GIL on",
            (Verdict::Unknown, _) => "undecided",
            (Verdict::Incompatible, _) => "not loadable",
            (Verdict::GilNotUsed, _) => "keep the GIL off",
        };
        // With one target, where is no news.
        let place = if all.len() <= 1 {
            String::new()
        } else {
            format!(" {}", group::phrase(&first.targets, &all, cx.one_python()))
        };
        out.push(format!(
            "{}  {verb}{place}: {} ({})",
            and_list(&names),
            first.reason.words(),
            first.binder.as_str(),
        ));
        if cx.verbose {
            for m in &line.modules {
                for (target, evidence) in &m.evidence {
                    out.push(format!("    {} [{target}]: {evidence}", m.module));
                }
            }
        }
    }
    out
}

fn name_version(p: &PackageAudit) -> String {
    match &p.version {
        Some(v) => format!("{}=={v}", p.name),
        None => p.name.clone(),
    }
}

/// The audit as text: what was audited for, one line per dependency (blockers first), the
/// modules and the fix under those that do not keep the GIL off, and the verdict.
pub fn audit_text(report: &AuditReport, cx: &AuditContext<'_>) -> String {
    let paint = cx.paint;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} for {}",
        paint.bold("Audited"),
        cx.inputs.join(", "),
        cx.settings.describe()
    );
    let width = report
        .packages
        .iter()
        .map(|p| name_version(p).len())
        .chain(report.skipped.iter().map(|s| s.name.len()))
        .max()
        .unwrap_or(0);
    for p in &report.packages {
        let label = format!("{:<19}", readiness_label(p.readiness));
        let mut line = format!(
            "{} {}  {}",
            paint.readiness(p.readiness, &label),
            paint.bold(&format!("{:<width$}", name_version(p))),
            paint.dim(&p.source)
        );
        if let Some(reason) = &p.ignored {
            let _ = write!(line, "  (ignored: {reason})");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if matches!(p.readiness, Readiness::Ready | Readiness::Pure) && !cx.verbose {
            continue;
        }
        for l in module_lines(p, cx) {
            let _ = writeln!(out, "    {l}");
        }
        // Why a target has no wheel is evidence (-v); what is undecided or built from
        // source, or has nothing else said about it, is told.
        let show_note = cx.verbose
            || matches!(p.readiness, Readiness::Unknown | Readiness::SourceOnly)
            || p.suggestion.is_none();
        if let Some(n) = p.note.as_ref().filter(|_| show_note) {
            let _ = writeln!(out, "    {n}");
        }
        if let Some(s) = &p.suggestion {
            let _ = writeln!(out, "    {} {s}", paint.bold("fix:"));
        }
    }
    for s in &report.skipped {
        let label = format!("{:<19}", "NOT AUDITED");
        let _ = writeln!(
            out,
            "{} {:<width$}  {}  ({})",
            paint.dim(&label),
            s.name,
            paint.dim(&s.source),
            s.reason
        );
    }
    let relisted: Vec<String> = report
        .packages
        .iter()
        .filter(|p| p.relisted && !cx.verbose)
        .map(|p| p.name.clone())
        .collect();
    if !relisted.is_empty() {
        let _ = writeln!(
            out,
            "The lock lists no wheel for the audited target of {}: the releases' files on the index were read (re-lock on the target interpreter to pin them).",
            and_list(&relisted)
        );
    }
    for line in verdict(report, cx) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The last lines: what the audit comes to and what to do about it.
pub fn verdict(report: &AuditReport, cx: &AuditContext<'_>) -> Vec<String> {
    let paint = cx.paint;
    let total = report.packages.len();
    let targets = cx.short_targets();
    let failing: Vec<&PackageAudit> = report.packages.iter().filter(|p| p.fails).collect();
    let noun = |n: usize| if n == 1 { "dependency" } else { "dependencies" };
    if failing.is_empty() {
        let open: Vec<&PackageAudit> = report
            .packages
            .iter()
            .filter(|p| !matches!(p.readiness, Readiness::Ready | Readiness::Pure))
            .collect();
        if total == 0 {
            return vec![format!(
                "No dependency to audit for {targets} ({} not audited).",
                report.skipped.len()
            )];
        }
        if open.is_empty() {
            return vec![format!(
                "{} {total} {} keep the GIL off for {targets}.",
                paint.good("All"),
                noun(total)
            )];
        }
        let what: Vec<String> = open
            .iter()
            .map(|p| match &p.ignored {
                Some(_) => format!("{} ({}, ignored)", p.name, p.readiness.as_str()),
                None => format!("{} ({})", p.name, p.readiness.as_str()),
            })
            .collect();
        return vec![format!(
            "{} of {total} {} fails the audit for {targets} (fail-on: {}); not ready: {}.",
            paint.good("None"),
            noun(total),
            fail_on_words(cx),
            and_list(&what)
        )];
    }
    let mut actions: Vec<String> = Vec::new();
    let mut stuck_gil: Vec<String> = Vec::new();
    let mut stuck_wheel: Vec<String> = Vec::new();
    let mut undecided: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for p in &failing {
        match (&p.upgrade, p.readiness) {
            (Some(u), _) => actions.push(format!(
                "upgrade {} to {}{}",
                p.name,
                u.version,
                if u.everywhere {
                    ""
                } else {
                    " (not every platform)"
                }
            )),
            (None, Readiness::GilFallback) => stuck_gil.push(p.name.clone()),
            (None, Readiness::NoWheel | Readiness::SourceOnly) => stuck_wheel.push(p.name.clone()),
            (None, Readiness::Unknown) => undecided.push(p.name.clone()),
            (None, r) => other.push(format!("{} is {}", p.name, r.as_str())),
        }
    }
    let have = |names: &[String]| if names.len() == 1 { "has" } else { "have" };
    if !stuck_gil.is_empty() {
        actions.push(format!(
            "{} {} no release that keeps the GIL off",
            and_list(&stuck_gil),
            have(&stuck_gil)
        ));
    }
    if !stuck_wheel.is_empty() {
        actions.push(format!(
            "{} {} no free-threaded wheel yet",
            and_list(&stuck_wheel),
            have(&stuck_wheel)
        ));
    }
    if !undecided.is_empty() {
        actions.push(format!(
            "{} could not be decided from {} binaries (see above)",
            and_list(&undecided),
            if undecided.len() == 1 { "its" } else { "their" }
        ));
    }
    actions.extend(other);
    let blocked = failing
        .iter()
        .filter(|p| p.readiness == Readiness::GilFallback)
        .count();
    let verb = if blocked == failing.len() {
        if failing.len() == 1 {
            "turns the GIL on for"
        } else {
            "turn the GIL on for"
        }
    } else if failing.len() == 1 {
        "blocks"
    } else {
        "block"
    };
    let mut lines = vec![format!(
        "{} of {total} {} {verb} {targets}: {}.",
        paint.bad(&failing.len().to_string()),
        noun(total),
        actions.join("; ")
    )];
    if !stuck_gil.is_empty() {
        lines.push(format!(
            "For {}: wait for a release that declares free-threading support (the fix above is \
             what its maintainers need to do; tell them), replace {}, or run with PYTHON_GIL=0 \
             at your own risk: the GIL then stays off although {} never declared {} safe \
             without it, and a data race in native code can crash the process or corrupt data.",
            and_list(&stuck_gil),
            if stuck_gil.len() == 1 { "it" } else { "them" },
            and_list(&stuck_gil),
            if stuck_gil.len() == 1 {
                "itself"
            } else {
                "themselves"
            },
        ));
    }
    if !stuck_wheel.is_empty() {
        lines.push(format!(
            "For {}: installing on {targets} builds from source (a compiler is needed, and the \
             build may still turn the GIL on); wait for free-threaded wheels or replace {}.",
            and_list(&stuck_wheel),
            if stuck_wheel.len() == 1 { "it" } else { "them" },
        ));
    }
    lines
}

fn fail_on_words(cx: &AuditContext<'_>) -> String {
    if cx.settings.fail_on.is_empty() {
        return "none".into();
    }
    let words: Vec<&str> = cx.settings.fail_on.iter().map(|r| r.as_str()).collect();
    words.join(",")
}

/// The audit as Markdown, fit for a pull-request comment: what was audited, the verdict,
/// then a table of the dependencies that do not keep the GIL off.
pub fn audit_markdown(report: &AuditReport, cx: &AuditContext<'_>) -> String {
    let plain = AuditContext {
        paint: Paint::plain(),
        ..cx.clone()
    };
    let mut out = String::from("### Free-threaded Python readiness (gilfree)\n\n");
    let inputs: Vec<String> = cx.inputs.iter().map(|i| format!("`{i}`")).collect();
    let _ = writeln!(
        out,
        "Audited {} for {}.\n",
        inputs.join(", "),
        cx.settings.describe()
    );
    for line in verdict(report, &plain) {
        let _ = writeln!(out, "{line}\n");
    }
    let open: Vec<&PackageAudit> = report
        .packages
        .iter()
        .filter(|p| !matches!(p.readiness, Readiness::Ready | Readiness::Pure))
        .collect();
    if open.is_empty() {
        return out;
    }
    out.push_str(
        "| dependency | readiness | modules | what to do | where |\n|---|---|---|---|---|\n",
    );
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for p in open {
        let mut readiness = p.readiness.as_str().to_string();
        if p.fails {
            readiness = format!("**{readiness}**");
        }
        if let Some(reason) = &p.ignored {
            readiness.push_str(&format!(" (ignored: {reason})"));
        }
        let modules = module_lines(p, &plain).join("<br>");
        let todo = [p.suggestion.as_deref(), p.note.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "| `{}` | {readiness} | {} | {} | `{}` |",
            name_version(p),
            cell(&modules),
            cell(&todo),
            p.source,
        );
    }
    out
}

/// GitHub Actions workflow commands: one annotation per dependency that does not keep the
/// GIL off, on its requirement line (errors for those that fail the audit), then the verdict.
pub fn audit_github(report: &AuditReport, cx: &AuditContext<'_>) -> String {
    let plain = AuditContext {
        paint: Paint::plain(),
        ..cx.clone()
    };
    let mut out = String::new();
    for p in &report.packages {
        if matches!(p.readiness, Readiness::Ready | Readiness::Pure) {
            continue;
        }
        let level = if p.fails { "error" } else { "warning" };
        let mut message = format!("{}: {}", name_version(p), p.readiness.as_str());
        let modules = module_lines(p, &plain);
        if !modules.is_empty() {
            message.push_str(&format!(" ({})", modules.join("; ")));
        }
        for extra in [&p.suggestion, &p.note].into_iter().flatten() {
            message.push_str(&format!(". {extra}"));
        }
        if let Some(reason) = &p.ignored {
            message.push_str(&format!(". Ignored: {reason}"));
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
    for line in verdict(report, &plain) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The grouped module lines of a dependency, plain, for SARIF messages.
pub(super) fn plain_module_lines(p: &PackageAudit, settings: &Settings) -> Vec<String> {
    let cx = AuditContext {
        inputs: &[],
        settings,
        verbose: false,
        paint: Paint::plain(),
    };
    module_lines(p, &cx)
}
