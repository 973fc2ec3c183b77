//! What to crawl of one project page: which releases (the latest, and `history` earlier
//! ones), what each offers every (interpreter, platform) target — the wheel an installer
//! would pick, or why there is none — and every wheel a free-threaded interpreter could
//! load (`cp313t`, `cp314t`, `cp315t`, `abi3t`), whose modules the crawl analyzes.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::Version;

use crate::index::ProjectPage;
use crate::index::select::{self, Pick, Release};
use crate::scan::{ListedWheel, Readiness};
use crate::wheel::{Platform, PythonTarget, check_wheel};

/// The platform recorded for a release that has no platform wheels (pure Python, or only
/// an sdist): the answer holds on any platform.
pub const ANY_PLATFORM: &str = "any";

/// What one release offers one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// The wheel (by file name) an installer would pick: its analysis gives the readiness.
    Wheel(String),
    /// No wheel to analyze: the readiness follows from the files alone.
    Settled(Readiness),
}

/// One (interpreter, platform) target of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub python: PythonTarget,
    /// `None`: the release has no platform wheels ([`ANY_PLATFORM`]).
    pub platform: Option<Platform>,
    pub offer: Offer,
}

impl Target {
    /// The platform as recorded.
    pub fn platform_name(&self) -> String {
        self.platform
            .map_or_else(|| ANY_PLATFORM.to_string(), |p| p.to_string())
    }
}

/// One release to evaluate.
#[derive(Debug, Clone)]
pub struct ReleasePlan {
    /// As the release's file names spell it.
    pub version: String,
    pub release: Release,
    pub targets: Vec<Target>,
}

/// Everything to do for one project.
#[derive(Debug, Clone, Default)]
pub struct ProjectPlan {
    /// The latest release first, then older ones, newest first; empty when the project has
    /// no installable release.
    pub releases: Vec<ReleasePlan>,
    /// Each loadable wheel once, with every target it serves.
    pub wheels: Vec<ListedWheel>,
}

impl ProjectPlan {
    /// The release taken as latest.
    pub fn latest(&self) -> Option<&str> {
        self.releases.first().map(|r| r.version.as_str())
    }
}

/// Plans the crawl of `page` for `pythons` on `platforms` (empty: every platform a release
/// has wheels for), with `history` releases before the latest.
pub fn plan(
    page: &ProjectPage,
    pythons: &[PythonTarget],
    platforms: &[Platform],
    history: usize,
) -> ProjectPlan {
    let all = select::releases(page);
    let Some(latest) = select::latest(&all) else {
        return ProjectPlan::default();
    };
    let mut chosen = vec![latest];
    chosen.extend(earlier(&all, latest, history));
    let mut wheels: BTreeMap<String, ListedWheel> = BTreeMap::new();
    let releases = chosen
        .into_iter()
        .map(|release| {
            add_loadable(release, pythons, platforms, &mut wheels);
            ReleasePlan {
                version: release.version.clone(),
                release: release.clone(),
                targets: targets(release, pythons, platforms),
            }
        })
        .collect();
    ProjectPlan {
        releases,
        wheels: wheels.into_values().collect(),
    }
}

/// Up to `n` releases older than `latest`, newest first: not yanked, and final releases
/// unless the latest is itself a pre-release.
fn earlier<'r>(
    all: &'r BTreeMap<Version, Release>,
    latest: &Release,
    n: usize,
) -> impl Iterator<Item = &'r Release> {
    let latest_version = Version::from_str(&latest.version).ok();
    let pre_ok = latest_version.as_ref().is_some_and(Version::any_prerelease);
    all.iter()
        .rev()
        .filter(move |(v, _)| latest_version.as_ref().is_some_and(|l| *v < l))
        .filter(move |(v, r)| !r.yanked() && (pre_ok || !v.any_prerelease()))
        .map(|(_, r)| r)
        .take(n)
}

/// What the release offers each target.
fn targets(release: &Release, pythons: &[PythonTarget], platforms: &[Platform]) -> Vec<Target> {
    // A release with only `any` wheels (or none) is judged once, for any platform.
    let platform_wheels = release
        .wheels
        .iter()
        .any(|(w, _)| w.platform_tags.iter().any(|t| t != "any"));
    let platforms: Vec<Option<Platform>> = if !platforms.is_empty() {
        platforms.iter().copied().map(Some).collect()
    } else if !platform_wheels {
        vec![None]
    } else {
        release.platforms().into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for &python in pythons {
        for &platform in &platforms {
            let offer = match select::pick(release, python, platform, false) {
                Pick::Wheel(wheel, _) => Offer::Wheel(wheel.to_string()),
                Pick::Pure(..) => Offer::Settled(Readiness::Pure),
                Pick::NoWheel(_) => Offer::Settled(Readiness::NoWheel),
                Pick::SourceOnly => Offer::Settled(Readiness::SourceOnly),
                Pick::PythonExcluded(_) => Offer::Settled(Readiness::PythonExcluded),
                Pick::Nothing => Offer::Settled(Readiness::Unknown),
            };
            out.push(Target {
                python,
                platform,
                offer,
            });
        }
    }
    out
}

/// Adds every wheel of the release that a target interpreter could load on a platform
/// (pure wheels aside: they have no modules), with the targets it serves.
fn add_loadable(
    release: &Release,
    pythons: &[PythonTarget],
    platforms: &[Platform],
    wheels: &mut BTreeMap<String, ListedWheel>,
) {
    for (wheel, file) in &release.wheels {
        if file.yanked.is_some() || wheel.is_pure() {
            continue;
        }
        let mut serves: Vec<(PythonTarget, Platform)> = Vec::new();
        for tag in &wheel.platform_tags {
            for platform in Platform::from_tag(tag) {
                if !platforms.is_empty() && !platforms.contains(&platform) {
                    continue;
                }
                for &python in pythons {
                    let pair = (python, platform);
                    if !serves.contains(&pair)
                        && check_wheel(wheel, python, platform).is_compatible()
                    {
                        serves.push(pair);
                    }
                }
            }
        }
        if serves.is_empty() {
            continue;
        }
        let entry = wheels
            .entry(wheel.to_string())
            .or_insert_with(|| ListedWheel {
                wheel: wheel.clone(),
                file: file.clone(),
                pythons: Vec::new(),
                platforms: Vec::new(),
            });
        // Whether a wheel fits an interpreter depends on its ABI tags, whether it fits a
        // platform on its platform tags: the pairs are every python with every platform.
        for (python, platform) in serves {
            if !entry.pythons.contains(&python) {
                entry.pythons.push(python);
            }
            if !entry.platforms.contains(&platform) {
                entry.platforms.push(platform);
            }
        }
        entry.pythons.sort();
        entry.platforms.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DistFile;

    fn file(name: &str) -> DistFile {
        DistFile::new(name, format!("https://files.example/{name}"))
    }

    fn page(files: &[&str]) -> ProjectPage {
        ProjectPage {
            name: "demo".into(),
            files: files.iter().map(|f| file(f)).collect(),
        }
    }

    const ALL: [PythonTarget; 3] = PythonTarget::ALL;

    fn readiness(plan: &ReleasePlan) -> Vec<(String, String, String)> {
        plan.targets
            .iter()
            .map(|t| {
                let offer = match &t.offer {
                    Offer::Wheel(w) => w.clone(),
                    Offer::Settled(r) => r.as_str().to_string(),
                };
                (t.python.to_string(), t.platform_name(), offer)
            })
            .collect()
    }

    #[test]
    fn every_target_gets_the_installers_pick_or_a_settled_readiness() {
        let p = page(&[
            "demo-2.0-cp313-cp313t-manylinux_2_17_x86_64.whl",
            "demo-2.0-cp314-cp314t-manylinux_2_17_x86_64.whl",
            "demo-2.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
            "demo-2.0-cp314-cp314t-win_amd64.whl",
            "demo-2.0-cp39-abi3-win_amd64.whl",
            "demo-2.0.tar.gz",
            "demo-1.0.tar.gz",
        ]);
        let plan = plan(&p, &ALL, &[], 0);
        assert_eq!(plan.latest(), Some("2.0"));
        assert_eq!(plan.releases.len(), 1);
        let r = |py: &str, pl: &str, o: &str| (py.to_string(), pl.to_string(), o.to_string());
        assert_eq!(
            readiness(&plan.releases[0]),
            [
                r(
                    "3.13t",
                    "linux-x86_64",
                    "demo-2.0-cp313-cp313t-manylinux_2_17_x86_64.whl"
                ),
                r("3.13t", "windows-amd64", "no-wheel"),
                r(
                    "3.14t",
                    "linux-x86_64",
                    "demo-2.0-cp314-cp314t-manylinux_2_28_x86_64.whl"
                ),
                r(
                    "3.14t",
                    "windows-amd64",
                    "demo-2.0-cp314-cp314t-win_amd64.whl"
                ),
                r("3.15t", "linux-x86_64", "no-wheel"),
                r("3.15t", "windows-amd64", "no-wheel"),
            ]
        );
        // Every loadable wheel is analyzed, the older manylinux one too; abi3 is not
        // loadable by a free-threaded interpreter.
        let wheels: Vec<(String, Vec<PythonTarget>, Vec<Platform>)> = plan
            .wheels
            .iter()
            .map(|w| {
                (
                    w.file.filename.clone(),
                    w.pythons.clone(),
                    w.platforms.clone(),
                )
            })
            .collect();
        assert_eq!(
            wheels,
            [
                (
                    "demo-2.0-cp313-cp313t-manylinux_2_17_x86_64.whl".to_string(),
                    vec![PythonTarget::Py313t],
                    vec![Platform::LinuxX86_64]
                ),
                (
                    "demo-2.0-cp314-cp314t-manylinux_2_17_x86_64.whl".to_string(),
                    vec![PythonTarget::Py314t],
                    vec![Platform::LinuxX86_64]
                ),
                (
                    "demo-2.0-cp314-cp314t-manylinux_2_28_x86_64.whl".to_string(),
                    vec![PythonTarget::Py314t],
                    vec![Platform::LinuxX86_64]
                ),
                (
                    "demo-2.0-cp314-cp314t-win_amd64.whl".to_string(),
                    vec![PythonTarget::Py314t],
                    vec![Platform::WindowsAmd64]
                ),
            ]
        );
    }

    #[test]
    fn abi3t_wheels_serve_315t_and_later_only() {
        let p = page(&["demo-1.0-cp315-abi3t-macosx_11_0_arm64.whl"]);
        let plan = plan(&p, &ALL, &[], 0);
        assert_eq!(plan.wheels.len(), 1);
        assert_eq!(plan.wheels[0].pythons, [PythonTarget::Py315t]);
        assert_eq!(plan.wheels[0].platforms, [Platform::MacosArm64]);
    }

    #[test]
    fn pure_and_source_only_releases_are_settled_on_any_platform() {
        let plan = plan(&page(&["demo-1.0-py3-none-any.whl"]), &ALL, &[], 0);
        assert!(plan.wheels.is_empty());
        assert_eq!(plan.releases[0].targets.len(), 3, "one per python");
        assert!(
            plan.releases[0]
                .targets
                .iter()
                .all(|t| t.offer == Offer::Settled(Readiness::Pure) && t.platform_name() == "any")
        );
        let plan = super::plan(&page(&["demo-1.0.tar.gz"]), &[PythonTarget::Py314t], &[], 0);
        assert_eq!(
            plan.releases[0].targets[0].offer,
            Offer::Settled(Readiness::SourceOnly)
        );
        // Asked-for platforms are reported even when the release has none.
        let linux = [Platform::LinuxX86_64];
        let plan = super::plan(&page(&["demo-1.0.tar.gz"]), &ALL, &linux, 0);
        assert_eq!(plan.releases[0].targets.len(), 3);
        assert_eq!(plan.releases[0].targets[0].platform_name(), "linux-x86_64");
    }

    #[test]
    fn history_takes_earlier_final_releases_newest_first() {
        let mut p = page(&[
            "demo-3.0.tar.gz",
            "demo-3.1rc1.tar.gz",
            "demo-2.1.tar.gz",
            "demo-2.0.tar.gz",
            "demo-2.0rc1.tar.gz",
            "demo-1.0.tar.gz",
        ]);
        p.files[2].yanked = Some("broken".into());
        let versions = |plan: &ProjectPlan| -> Vec<String> {
            plan.releases.iter().map(|r| r.version.clone()).collect()
        };
        assert_eq!(versions(&plan(&p, &ALL, &[], 0)), ["3.0"]);
        assert_eq!(versions(&plan(&p, &ALL, &[], 2)), ["3.0", "2.0", "1.0"]);
        assert_eq!(versions(&plan(&p, &ALL, &[], 9)), ["3.0", "2.0", "1.0"]);
        let pre = page(&["demo-2.0b1.tar.gz", "demo-2.0a1.tar.gz", "demo-1.0.tar.gz"]);
        assert_eq!(versions(&plan(&pre, &ALL, &[], 5)), ["1.0"]);
        let only_pre = page(&["demo-2.0b1.tar.gz", "demo-2.0a1.tar.gz"]);
        assert_eq!(versions(&plan(&only_pre, &ALL, &[], 5)), ["2.0b1", "2.0a1"]);
    }

    #[test]
    fn a_project_without_an_installable_release_has_nothing_to_do() {
        let mut p = page(&["demo-1.0.tar.gz"]);
        p.files[0].yanked = Some(String::new());
        let plan = plan(&p, &ALL, &[], 3);
        assert!(plan.releases.is_empty() && plan.wheels.is_empty());
        assert_eq!(plan.latest(), None);
    }
}
