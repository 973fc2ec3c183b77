//! `audit --deps`: the dependencies of unpinned requirements, followed from their releases'
//! metadata (`Requires-Dist`), for inputs such as `pyproject.toml` that name only the top of
//! the tree.
//!
//! Approximate by design, and said so on every package it adds: each dependency is taken at
//! the newest release its specifier admits, one edge at a time, not resolved together with
//! the others as an installer would. Markers are evaluated for the audited targets, with
//! the extras the parent asked for. A lockfile gives the exact tree.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::str::FromStr;

use crate::index::metadata::read_text;
use crate::index::select::{self, Release};
use crate::lock::markers::{self, Target};
use crate::lock::{Requirement, Source};
use crate::scan::Index;
use crate::wheel::metadata::requires_dist;

/// At most this many packages are added, whatever the tree.
const MAX_FOLLOWED: usize = 500;

/// A dependency found by following, with why it is there.
pub(super) struct Followed {
    pub requirement: Requirement,
    pub note: String,
}

/// One package whose dependencies are still to read.
struct Step {
    name: String,
    version: Option<String>,
    extras: Vec<String>,
    source: Source,
}

/// Follows the dependencies of `roots` (requirements with the version chosen for them, or
/// `None` for the newest) for `targets`; `known` are the names the inputs already list,
/// which are neither added again nor followed.
pub(super) fn follow(
    roots: &[(&Requirement, Option<String>)],
    known: &BTreeSet<String>,
    targets: &[Target],
    index: &dyn Index,
    warnings: &mut Vec<String>,
) -> Vec<Followed> {
    let mut seen: BTreeSet<String> = known.clone();
    let mut queue: VecDeque<Step> = roots
        .iter()
        .map(|(req, version)| Step {
            name: req.name.clone(),
            version: version.clone(),
            extras: req.extras.clone(),
            source: req.source.clone(),
        })
        .collect();
    let mut out = Vec::new();
    while let Some(step) = queue.pop_front() {
        let Ok(page) = index.project(&step.name) else {
            continue; // the scan reports the project itself
        };
        let releases = select::releases(&page);
        let release = match &step.version {
            Some(v) => select::exact(&releases, v),
            None => select::latest(&releases),
        };
        let Some(release) = release else {
            continue;
        };
        let text = match read_text(index.fetch(), release, &BTreeSet::new()) {
            Ok(Some(text)) => text,
            Ok(None) => {
                warnings.push(format!(
                    "{}: {} has no wheel to read its dependencies from; they are not followed",
                    step.name, release.version
                ));
                continue;
            }
            Err(e) => {
                warnings.push(format!("{}: dependencies not followed: {e}", step.name));
                continue;
            }
        };
        let parent = format!("{}=={}", step.name, release.version);
        let extras: Vec<&str> = step.extras.iter().map(String::as_str).collect();
        for line in requires_dist(&text) {
            let Ok(dep) = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(&line) else {
                warnings.push(format!("{parent}: unreadable Requires-Dist {line:?}"));
                continue;
            };
            let marker = line.split_once(';').map(|(_, m)| m.trim());
            let applies = marker.is_none_or(|m| {
                targets
                    .iter()
                    .any(|t| markers::evaluate(m, t, &extras).unwrap_or(true))
            });
            let name = crate::wheel::normalize_name(dep.name.as_ref());
            if !applies || !seen.insert(name.clone()) {
                continue;
            }
            if out.len() >= MAX_FOLLOWED {
                warnings.push(format!(
                    "--deps stopped after {MAX_FOLLOWED} packages; audit a lockfile for the whole tree"
                ));
                return out;
            }
            let spec = match &dep.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.to_string(),
                Some(pep508_rs::VersionOrUrl::Url(u)) => {
                    warnings.push(format!(
                        "{parent}: {name} comes from {u}, which is not followed"
                    ));
                    continue;
                }
                None => String::new(),
            };
            let version = index
                .project(&name)
                .ok()
                .and_then(|p| newest_admitted(&select::releases(&p), &spec));
            let mut requirement = Requirement::new(&name, step.source.clone());
            requirement.version = version.clone();
            requirement.specifier = (!spec.is_empty()).then(|| spec.clone());
            requirement.extras = dep.extras.iter().map(|e| e.to_string()).collect();
            let wanted = if spec.is_empty() {
                "any version".to_string()
            } else {
                spec
            };
            out.push(Followed {
                note: format!(
                    "approximate: a dependency of {parent} ({wanted}), the newest release admitting that, not resolved with the rest"
                ),
                requirement: requirement.clone(),
            });
            queue.push_back(Step {
                name,
                version,
                extras: requirement.extras,
                source: step.source.clone(),
            });
        }
    }
    out
}

/// The newest final, unyanked release `spec` admits (pre-releases only when it names one);
/// the newest release for an empty `spec`.
pub(super) fn newest_admitted(
    releases: &BTreeMap<pep440_rs::Version, Release>,
    spec: &str,
) -> Option<String> {
    let specifiers = pep440_rs::VersionSpecifiers::from_str(spec).ok()?;
    let wants_pre = specifiers.iter().any(|s| s.version().any_prerelease());
    releases
        .iter()
        .rev()
        .find(|(v, r)| specifiers.contains(v) && !r.yanked() && (wants_pre || !v.any_prerelease()))
        .map(|(_, r)| r.version.clone())
}
