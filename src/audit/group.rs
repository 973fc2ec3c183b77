//! One dependency's answer over all its targets, said once: a module that turns the GIL on
//! on every platform is one entry naming the platforms, not one per wheel; and a set of
//! targets reads as a short phrase ("on all 4 platforms", "on windows-x86").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::inspect::verdict::{Binder, Reason, Verdict};
use crate::scan::{Readiness, WheelReport};

/// A module's verdict over the targets of one dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleAcross {
    /// Dotted module name.
    pub module: String,
    pub verdict: Verdict,
    pub reason: Reason,
    pub binder: Binder,
    /// The targets (`3.14t linux-x86_64`) where the module has this verdict and reason.
    pub targets: Vec<String>,
    /// What was read, per target.
    pub evidence: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// What one target of a dependency came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetAudit {
    pub python: String,
    /// `None` for a release without native wheels (any platform).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub readiness: Readiness,
    /// The wheel read for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wheel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The label of a report's target: `3.14t linux-x86_64` (`any` for a pure release).
pub fn target_label(report: &WheelReport) -> String {
    format!(
        "{} {}",
        report.python,
        report.platform.as_deref().unwrap_or("any")
    )
}

/// Each target's readiness, worst first when one target has several reports.
pub fn targets(reports: &[WheelReport]) -> Vec<TargetAudit> {
    let mut out: Vec<TargetAudit> = Vec::new();
    for r in reports {
        let wheel = r.filename.ends_with(".whl").then(|| r.filename.clone());
        match out
            .iter_mut()
            .find(|t| t.python == r.python && t.platform == r.platform)
        {
            Some(t) if r.readiness < t.readiness => {
                t.readiness = r.readiness;
                t.wheel = wheel;
                t.note = r.note.clone().or(r.error.clone());
            }
            Some(_) => {}
            None => out.push(TargetAudit {
                python: r.python.clone(),
                platform: r.platform.clone(),
                readiness: r.readiness,
                wheel,
                note: r.note.clone().or(r.error.clone()),
            }),
        }
    }
    out
}

/// The modules that do not keep the GIL off, one entry per module, verdict and reason,
/// naming the targets where that holds, in the order the reports list them.
pub fn modules_across(reports: &[WheelReport]) -> Vec<ModuleAcross> {
    let mut out: Vec<ModuleAcross> = Vec::new();
    for r in reports {
        let target = target_label(r);
        for m in r
            .modules
            .iter()
            .filter(|m| m.verdict != Verdict::GilNotUsed)
        {
            let entry = out
                .iter_mut()
                .find(|e| e.module == m.module && e.verdict == m.verdict && e.reason == m.reason);
            let entry = match entry {
                Some(e) => e,
                None => {
                    out.push(ModuleAcross {
                        module: m.module.clone(),
                        verdict: m.verdict,
                        reason: m.reason,
                        binder: m.binder,
                        targets: Vec::new(),
                        evidence: BTreeMap::new(),
                        fix: m.fix.clone(),
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            if !entry.targets.contains(&target) {
                entry.targets.push(target.clone());
            }
            entry
                .evidence
                .entry(target.clone())
                .or_insert_with(|| m.evidence.clone());
        }
    }
    out
}

/// Modules with the same verdict, reason and targets, gathered for one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLine<'a> {
    pub modules: Vec<&'a ModuleAcross>,
}

/// `modules` gathered into lines: those sharing verdict, reason and targets share a line.
pub fn lines(modules: &[ModuleAcross]) -> Vec<ModuleLine<'_>> {
    let mut out: Vec<ModuleLine<'_>> = Vec::new();
    for m in modules {
        match out.iter_mut().find(|l| {
            let first = l.modules[0];
            first.verdict == m.verdict && first.reason == m.reason && first.targets == m.targets
        }) {
            Some(line) => line.modules.push(m),
            None => out.push(ModuleLine { modules: vec![m] }),
        }
    }
    out
}

/// How `set` reads among `all` (the targets a dependency was audited for): "on all 4
/// platforms", "on windows-x86", "on all platforms but linux-i686", "on 5 of 14 platforms".
/// With one interpreter (`one_python`), targets are named by platform alone.
pub fn phrase(set: &[String], all: &[String], one_python: bool) -> String {
    let label = |t: &String| -> String {
        match t.split_once(' ') {
            Some((_, platform)) if one_python => platform.to_string(),
            _ => t.clone(),
        }
    };
    let noun = if one_python { "platforms" } else { "targets" };
    let named: Vec<String> = set.iter().map(label).collect();
    let covers_all = !all.is_empty() && all.iter().all(|t| set.contains(t));
    if covers_all && all.len() > 1 {
        return format!("on all {} {noun}", all.len());
    }
    if named.len() <= 3 {
        return format!("on {}", and_list(&named));
    }
    let missing: Vec<String> = all.iter().filter(|t| !set.contains(t)).map(label).collect();
    if !missing.is_empty() && missing.len() <= 2 {
        return format!("on all {noun} but {}", and_list(&missing));
    }
    format!("on {} of {} {noun}", set.len(), all.len().max(set.len()))
}

/// "a", "a and b", "a, b and c".
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::verdict::ModuleVerdict;

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn target_sets_read_as_short_phrases() {
        let four = labels(&[
            "3.14t linux-x86_64",
            "3.14t linux-aarch64",
            "3.14t macos-arm64",
            "3.14t windows-amd64",
        ]);
        let cases: [(&[&str], &[String], bool, &str); 7] = [
            (&["3.14t linux-x86_64"], &four[..1], true, "on linux-x86_64"),
            (
                &[
                    "3.14t linux-x86_64",
                    "3.14t linux-aarch64",
                    "3.14t macos-arm64",
                    "3.14t windows-amd64",
                ],
                &four,
                true,
                "on all 4 platforms",
            ),
            (&["3.14t windows-amd64"], &four, true, "on windows-amd64"),
            (
                &["3.14t windows-amd64", "3.14t macos-arm64"],
                &four,
                true,
                "on windows-amd64 and macos-arm64",
            ),
            (
                &["3.14t windows-amd64", "3.14t macos-arm64"],
                &four,
                false,
                "on 3.14t windows-amd64 and 3.14t macos-arm64",
            ),
            (
                &["3.14t linux-x86_64"],
                &four[..1],
                false,
                "on 3.14t linux-x86_64",
            ),
            (&[], &four, true, "on "),
        ];
        for (set, all, one, want) in cases {
            assert_eq!(phrase(&labels(set), all, one), want, "{set:?}");
        }
        let many: Vec<String> = (0..14).map(|i| format!("3.14t p{i}")).collect();
        assert_eq!(
            phrase(&many[..12], &many, true),
            "on all platforms but p12 and p13"
        );
        assert_eq!(phrase(&many[..6], &many, true), "on 6 of 14 platforms");
    }

    fn report(platform: &str, modules: &[(&str, Verdict, Reason)]) -> WheelReport {
        WheelReport {
            filename: format!("p-1.0-cp314-cp314t-{platform}.whl"),
            project: Some("p".into()),
            version: Some("1.0".into()),
            sha256: None,
            python: "3.14t".into(),
            platform: Some(platform.into()),
            readiness: Readiness::of_modules(
                &modules
                    .iter()
                    .map(|(name, verdict, reason)| ModuleVerdict {
                        member: String::new(),
                        module: name.to_string(),
                        verdict: *verdict,
                        reason: *reason,
                        binder: Binder::Cython,
                        evidence: String::new(),
                        fix: None,
                    })
                    .collect::<Vec<_>>(),
            ),
            note: None,
            error: None,
            modules: modules
                .iter()
                .map(|(name, verdict, reason)| ModuleVerdict {
                    member: format!("{name}.so"),
                    module: name.to_string(),
                    verdict: *verdict,
                    reason: *reason,
                    binder: Binder::Cython,
                    evidence: format!("read on {platform}"),
                    fix: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_module_is_one_entry_over_the_targets_where_it_blocks() {
        use Reason::*;
        use Verdict::*;
        let reports = [
            report(
                "linux-x86_64",
                &[("p.a", GilUsed, SlotValue0), ("p.b", GilUsed, SlotValue0)],
            ),
            report(
                "windows-x86",
                &[
                    ("p.a", GilUsed, SlotValue0),
                    ("p.b", Unknown, UnsupportedArch),
                ],
            ),
            report(
                "macos-arm64",
                &[
                    ("p.a", GilUsed, SlotValue0),
                    ("p.c", GilNotUsed, SlotValue1),
                ],
            ),
        ];
        let modules = modules_across(&reports);
        let got: Vec<(&str, Verdict, usize)> = modules
            .iter()
            .map(|m| (m.module.as_str(), m.verdict, m.targets.len()))
            .collect();
        assert_eq!(
            got,
            [
                ("p.a", GilUsed, 3),
                ("p.b", GilUsed, 1),
                ("p.b", Unknown, 1)
            ]
        );
        assert_eq!(
            modules[0].evidence["3.14t windows-x86"],
            "read on windows-x86"
        );
        assert_eq!(lines(&modules).len(), 3);
        let t = targets(&reports);
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].readiness, Readiness::GilFallback);
    }
}
