//! From a project page to the files that matter: releases by version, the latest release,
//! and for each (interpreter, platform) target the wheel an installer would pick — or why
//! there is none (only abi3, only the GIL build, only an sdist, nothing for the platform).

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use super::{DistFile, ProjectPage};
use crate::wheel::{
    AbiMismatch, Compatibility, MatchKind, Platform, PlatformTag, PythonTarget, WheelFilename,
    check_wheel, normalize_name,
};

/// The files of one release.
#[derive(Debug, Clone, Default)]
pub struct Release {
    pub version: String,
    pub wheels: Vec<(WheelFilename, DistFile)>,
    pub sdists: Vec<DistFile>,
}

impl Release {
    /// Every file is yanked.
    pub fn yanked(&self) -> bool {
        self.wheels.iter().all(|(_, f)| f.yanked.is_some())
            && self.sdists.iter().all(|f| f.yanked.is_some())
    }

    /// The platforms its wheels are built for, in a stable order; empty when it has only
    /// pure-Python wheels or none.
    pub fn platforms(&self) -> Vec<Platform> {
        let mut out: Vec<Platform> = Vec::new();
        for (wf, _) in &self.wheels {
            for tag in &wf.platform_tags {
                for p in Platform::from_tag(tag) {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out.sort_by_key(|p| Platform::ALL.iter().position(|q| q == p));
        out
    }
}

/// Releases by version, oldest first. Files whose names cannot be read are left out.
pub fn releases(page: &ProjectPage) -> BTreeMap<Version, Release> {
    let mut out: BTreeMap<Version, Release> = BTreeMap::new();
    for f in &page.files {
        let (version, wheel) = if f.filename.ends_with(".whl") {
            match WheelFilename::parse(&f.filename) {
                Ok(wf) => (wf.version.clone(), Some(wf)),
                Err(_) => continue,
            }
        } else {
            match sdist_version(&page.name, &f.filename) {
                Some(v) => (v, None),
                None => continue,
            }
        };
        let Ok(parsed) = Version::from_str(&version) else {
            continue;
        };
        let r = out.entry(parsed).or_insert_with(|| Release {
            version: version.clone(),
            ..Release::default()
        });
        match wheel {
            Some(wf) => r.wheels.push((wf, f.clone())),
            None => r.sdists.push(f.clone()),
        }
    }
    out
}

/// The version of an sdist (`name-1.2.tar.gz`, `Name_Thing-1.2.zip`) of project `name`.
fn sdist_version(name: &str, filename: &str) -> Option<String> {
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| filename.strip_suffix(ext))?;
    // The name part may itself contain '-': find the split whose prefix is the project.
    stem.match_indices('-')
        .find(|&(i, _)| normalize_name(&stem[..i]) == name)
        .map(|(i, _)| stem[i + 1..].to_string())
}

/// The release `NAME` means: the newest that is not yanked, preferring final releases over
/// pre-releases.
pub fn latest(releases: &BTreeMap<Version, Release>) -> Option<&Release> {
    let live = || releases.iter().rev().filter(|(_, r)| !r.yanked());
    live()
        .find(|(v, _)| !v.any_prerelease())
        .or_else(|| live().next())
        .map(|(_, r)| r)
}

/// The release `NAME==VERSION` means (PEP 440 equality: `1.0` matches `1.0.0`).
pub fn exact<'r>(releases: &'r BTreeMap<Version, Release>, version: &str) -> Option<&'r Release> {
    let v = Version::from_str(version).ok()?;
    releases.iter().find(|(k, _)| **k == v).map(|(_, r)| r)
}

/// What a release offers one (interpreter, platform) target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The wheel an installer would choose.
    Wheel(WheelFilename, DistFile),
    /// Only pure-Python wheels fit: no native code.
    Pure(WheelFilename, DistFile),
    /// Binary wheels exist, none for this target; the text says what exists.
    NoWheel(String),
    /// No wheel at all, only source distributions.
    SourceOnly,
    /// Files exist, but the `requires-python` of every one excludes the interpreter (the
    /// specifier given).
    PythonExcluded(String),
    /// Nothing installable (no files, or all yanked).
    Nothing,
}

/// Pick the wheel for `python` on `platform` (`None`: a release with only pure wheels).
/// Yanked files count only when `allow_yanked` (an exact pin installs them).
pub fn pick(
    release: &Release,
    python: PythonTarget,
    platform: Option<Platform>,
    allow_yanked: bool,
) -> Pick {
    let usable = |f: &DistFile| (allow_yanked || f.yanked.is_none()) && python_ok(f, python);
    let wheels: Vec<&(WheelFilename, DistFile)> =
        release.wheels.iter().filter(|(_, f)| usable(f)).collect();
    if wheels.is_empty() {
        if release.sdists.iter().any(usable) {
            return Pick::SourceOnly;
        }
        // Files the installer would consider but for their requires-python.
        let mut files = release
            .wheels
            .iter()
            .map(|(_, f)| f)
            .chain(&release.sdists)
            .filter(|f| allow_yanked || f.yanked.is_none());
        return match files.find_map(|f| f.requires_python.clone()) {
            Some(spec) => Pick::PythonExcluded(spec),
            None => Pick::Nothing,
        };
    }
    let Some(platform) = platform else {
        return match wheels.iter().find(|(wf, _)| wf.is_pure()) {
            Some((wf, f)) => Pick::Pure(wf.clone(), f.clone()),
            None => Pick::NoWheel("no pure-Python wheel".into()),
        };
    };
    let mut best: Option<(MatchKind, &(WheelFilename, DistFile))> = None;
    let mut mismatches: Vec<AbiMismatch> = Vec::new();
    for w in &wheels {
        match check_wheel(&w.0, python, platform) {
            Compatibility::Compatible { kind, .. } => {
                let key = |wf: &WheelFilename| std::cmp::Reverse(specificity(wf, platform));
                let better = best.as_ref().is_none_or(|(k, b)| {
                    (kind, key(&w.0), w.0.to_string()) < (*k, key(&b.0), b.0.to_string())
                });
                if better {
                    best = Some((kind, w));
                }
            }
            Compatibility::WrongAbi(why) => mismatches.push(why),
            Compatibility::OtherPlatform => {}
        }
    }
    match best {
        Some((MatchKind::NoAbi, (wf, f))) if wf.is_pure() => Pick::Pure(wf.clone(), f.clone()),
        Some((_, (wf, f))) => Pick::Wheel(wf.clone(), f.clone()),
        None if mismatches.is_empty() => {
            let others: Vec<String> = release.platforms().iter().map(|p| p.to_string()).collect();
            Pick::NoWheel(format!(
                "no wheel for {platform}; wheels exist for: {}",
                others.join(", ")
            ))
        }
        None => Pick::NoWheel(format!(
            "wheels for this platform exist, but {}",
            describe(&mismatches)
        )),
    }
}

/// Why no wheel of a platform fits, with like reasons merged: "built for other Python
/// versions (cp39, cp310, cp311)" rather than one clause per wheel.
fn describe(mismatches: &[AbiMismatch]) -> String {
    let mut versions: Vec<&str> = Vec::new();
    let mut interpreters: Vec<&str> = Vec::new();
    let mut gil: Vec<&str> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for m in mismatches {
        match m {
            AbiMismatch::OtherVersion { abi } => versions.push(abi),
            // `pp310-pypy310_pp73-manylinux_2_17_x86_64`: the platform part is the target's.
            AbiMismatch::OtherInterpreter { tag } => {
                interpreters.push(tag.rsplitn(2, '-').last().unwrap_or(tag))
            }
            AbiMismatch::GilBuild { abi } => gil.push(abi),
            m => other.push(m.to_string()),
        }
    }
    // cp39 before cp310: shorter tags of one family first.
    let list = |mut items: Vec<&str>| {
        items.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        items.dedup();
        items.join(", ")
    };
    let mut parts = Vec::new();
    if !gil.is_empty() {
        parts.push(format!(
            "built for the GIL-enabled interpreter ({})",
            list(gil)
        ));
    }
    parts.extend(other.into_iter().fold(Vec::new(), |mut seen, m| {
        if !seen.contains(&m) {
            seen.push(m);
        }
        seen
    }));
    match versions.len() {
        0 => {}
        1 => parts.push(format!(
            "built for another Python version ({})",
            versions[0]
        )),
        _ => parts.push(format!(
            "built for other Python versions ({})",
            list(versions)
        )),
    }
    if !interpreters.is_empty() {
        parts.push(format!(
            "built for other interpreters ({})",
            list(interpreters)
        ));
    }
    parts.join("; ")
}

/// How specific a wheel's best tag for `platform` is: installers on a current system try the
/// newest glibc, musl or macOS version first, so among fitting wheels the one built for the
/// newest platform version wins (`manylinux_2_28` over `manylinux2014`).
fn specificity(wf: &WheelFilename, platform: Platform) -> (u32, u32) {
    wf.platform_tags
        .iter()
        .filter(|t| platform.matches_tag(t))
        .map(|t| match PlatformTag::parse(t) {
            PlatformTag::Manylinux { glibc, .. } => glibc,
            PlatformTag::Musllinux { musl, .. } => musl,
            PlatformTag::MacOs { version, .. } => version,
            _ => (0, 0),
        })
        .max()
        .unwrap_or((0, 0))
}

/// The file's `requires-python` admits the interpreter (an unreadable one admits it).
fn python_ok(f: &DistFile, python: PythonTarget) -> bool {
    let Some(spec) = &f.requires_python else {
        return true;
    };
    let Ok(spec) = VersionSpecifiers::from_str(spec) else {
        return true;
    };
    let (major, minor) = python.version();
    let v = Version::new([u64::from(major), u64::from(minor), 0]);
    spec.contains(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> DistFile {
        DistFile::new(name, format!("https://files.example/{name}"))
    }

    fn page(files: &[&str]) -> ProjectPage {
        ProjectPage {
            name: "demo-pkg".into(),
            files: files.iter().map(|f| file(f)).collect(),
        }
    }

    #[test]
    fn groups_files_by_release_and_finds_the_latest_final() {
        let p = page(&[
            "demo_pkg-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl",
            "demo-pkg-1.0.tar.gz",
            "demo_pkg-1.1rc1.tar.gz",
            "Demo.Pkg-0.9.zip",
            "not-ours-1.0.tar.gz",
        ]);
        let rs = releases(&p);
        assert_eq!(rs.len(), 3, "{:?}", rs.keys().collect::<Vec<_>>());
        assert_eq!(latest(&rs).unwrap().version, "1.0");
        assert_eq!(exact(&rs, "1.1rc1").unwrap().sdists.len(), 1);
        assert_eq!(exact(&rs, "1.0.0").unwrap().wheels.len(), 1);
        assert!(exact(&rs, "2.0").is_none());
    }

    #[test]
    fn picks_the_free_threaded_wheel_or_says_why_not() {
        let p = page(&[
            "demo_pkg-1.0-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "demo_pkg-1.0-cp314-cp314-manylinux_2_17_x86_64.whl",
            "demo_pkg-1.0-cp39-abi3-macosx_11_0_arm64.whl",
            "demo_pkg-1.0.tar.gz",
        ]);
        let rs = releases(&p);
        let r = latest(&rs).unwrap();
        let py = PythonTarget::Py314t;
        assert!(
            matches!(pick(r, py, Some(Platform::LinuxX86_64), false), Pick::Wheel(wf, _) if wf.abi_tags == ["cp314t"])
        );
        match pick(r, py, Some(Platform::MacosArm64), false) {
            Pick::NoWheel(why) => assert!(why.contains("abi3"), "{why}"),
            other => panic!("{other:?}"),
        }
        match pick(r, py, Some(Platform::WindowsAmd64), false) {
            Pick::NoWheel(why) => assert!(why.contains("no wheel for windows-amd64"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pick(r, PythonTarget::Py313t, Some(Platform::LinuxX86_64), false),
            Pick::NoWheel(_)
        ));
    }

    #[test]
    fn like_reasons_are_merged() {
        let page = page(&[
            "x-1.0-cp39-cp39-manylinux_2_17_x86_64.whl",
            "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "x-1.0-cp310-cp310-manylinux_2_17_x86_64.whl",
            "x-1.0-cp310-cp310-manylinux_2_28_x86_64.whl",
            "x-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
            "x-1.0-cp314-cp314-manylinux_2_17_x86_64.whl",
        ]);
        let releases = releases(&page);
        let release = latest(&releases).unwrap();
        let Pick::NoWheel(why) = pick(
            release,
            PythonTarget::Py314t,
            Some(Platform::LinuxX86_64),
            false,
        ) else {
            panic!("no wheel fits")
        };
        assert_eq!(
            why,
            "wheels for this platform exist, but built for the GIL-enabled interpreter (cp314); \
             built for other Python versions (cp39, cp310, cp312); built for other interpreters \
             (pp310-pypy310_pp73)"
        );
    }

    #[test]
    fn prefers_the_newest_platform_version_as_installers_do() {
        let p = page(&[
            "demo_pkg-1.0-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            "demo_pkg-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
            "demo_pkg-1.0-cp314-cp314t-macosx_10_13_x86_64.whl",
            "demo_pkg-1.0-cp314-cp314t-macosx_14_0_x86_64.whl",
        ]);
        let rs = releases(&p);
        let r = latest(&rs).unwrap();
        let chosen = |platform| match pick(r, PythonTarget::Py314t, Some(platform), false) {
            Pick::Wheel(wf, _) => wf.platform_tags.join("."),
            other => panic!("{other:?}"),
        };
        assert_eq!(chosen(Platform::LinuxX86_64), "manylinux_2_28_x86_64");
        assert_eq!(chosen(Platform::MacosX86_64), "macosx_14_0_x86_64");
    }

    #[test]
    fn source_only_pure_and_yanked() {
        let rs = releases(&page(&["demo-pkg-2.0.tar.gz"]));
        assert_eq!(
            pick(latest(&rs).unwrap(), PythonTarget::Py314t, None, false),
            Pick::SourceOnly
        );
        let rs = releases(&page(&["demo_pkg-2.0-py3-none-any.whl"]));
        assert!(matches!(
            pick(latest(&rs).unwrap(), PythonTarget::Py314t, None, false),
            Pick::Pure(..)
        ));
        let mut p = page(&[
            "demo_pkg-3.0-cp314-cp314t-manylinux_2_17_x86_64.whl",
            "demo-pkg-2.0.tar.gz",
        ]);
        p.files[0].yanked = Some("broken".into());
        let rs = releases(&p);
        assert_eq!(latest(&rs).unwrap().version, "2.0");
        let pinned = exact(&rs, "3.0").unwrap();
        assert!(matches!(
            pick(
                pinned,
                PythonTarget::Py314t,
                Some(Platform::LinuxX86_64),
                true
            ),
            Pick::Wheel(..)
        ));
        assert_eq!(
            pick(
                pinned,
                PythonTarget::Py314t,
                Some(Platform::LinuxX86_64),
                false
            ),
            Pick::Nothing
        );
    }

    #[test]
    fn requires_python_excludes_files() {
        let mut p = page(&["demo_pkg-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl"]);
        p.files[0].requires_python = Some(">=3.15".into());
        let rs = releases(&p);
        assert_eq!(
            pick(
                latest(&rs).unwrap(),
                PythonTarget::Py314t,
                Some(Platform::LinuxX86_64),
                false
            ),
            Pick::PythonExcluded(">=3.15".into())
        );
        // A pure release for older Pythons only: not installable, for every platform.
        let mut p = page(&["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"]);
        for f in &mut p.files {
            f.requires_python = Some("<3.14".into());
        }
        let rs = releases(&p);
        for platform in [None, Some(Platform::WindowsAmd64)] {
            assert_eq!(
                pick(latest(&rs).unwrap(), PythonTarget::Py314t, platform, false),
                Pick::PythonExcluded("<3.14".into()),
                "{platform:?}"
            );
        }
        assert_eq!(
            pick(latest(&rs).unwrap(), PythonTarget::Py313t, None, false),
            Pick::Pure(
                WheelFilename::parse("demo_pkg-1.0-py3-none-any.whl").unwrap(),
                p.files[0].clone()
            )
        );
    }
}
