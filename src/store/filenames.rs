//! What a distribution file's name says about it before it is stored: its kind, the release
//! version it belongs to and, for wheels, its tag sets.

use crate::wheel::{WheelFilename, normalize_name};

/// The kind of a distribution file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A `.whl`.
    Wheel,
    /// A source distribution (`.tar.gz`, `.zip`, …).
    Sdist,
    /// An egg.
    Other,
}

impl FileKind {
    /// The stored name: `wheel`, `sdist` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Wheel => "wheel",
            FileKind::Sdist => "sdist",
            FileKind::Other => "other",
        }
    }

    /// The kind a stored name stands for.
    pub(crate) fn from_stored(text: &str) -> Option<FileKind> {
        [FileKind::Wheel, FileKind::Sdist, FileKind::Other]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// The facts a file name gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub kind: FileKind,
    pub version: String,
    /// Dotted tag sets of a wheel (`cp314`, `cp314t`, `manylinux_2_28_x86_64`); `None` for
    /// other kinds.
    pub tags: Option<[String; 3]>,
}

/// Source distribution suffixes, longest first.
const SDIST_SUFFIXES: &[&str] = &[
    ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.Z", ".tar", ".tgz", ".tbz", ".zip",
];

/// Describes `filename`, a file of the project whose normalized name is `project`; `Err`
/// says why the name cannot be placed in a release.
pub(crate) fn describe(project: &str, filename: &str) -> Result<Described, String> {
    if filename.ends_with(".whl") {
        return describe_wheel(filename);
    }
    if let Some(stem) = SDIST_SUFFIXES.iter().find_map(|s| filename.strip_suffix(s)) {
        let version = version_after_name(project, stem)
            .ok_or_else(|| format!("no version after the project name in {filename:?}"))?;
        return described(FileKind::Sdist, version, None);
    }
    if let Some(stem) = filename.strip_suffix(".egg") {
        let version = stem
            .split('-')
            .nth(1)
            .ok_or_else(|| format!("no version in egg name {filename:?}"))?;
        return described(FileKind::Other, version, None);
    }
    Err(format!(
        "{filename:?} is not a wheel, source distribution or egg"
    ))
}

/// Describes a wheel by its parsed name.
fn describe_wheel(filename: &str) -> Result<Described, String> {
    let wheel = WheelFilename::parse(filename).map_err(|e| e.to_string())?;
    let tags = [
        wheel.python_tags.join("."),
        wheel.abi_tags.join("."),
        wheel.platform_tags.join("."),
    ];
    described(FileKind::Wheel, &wheel.version, Some(tags))
}

/// A description, once the version looks like one.
fn described(
    kind: FileKind,
    version: &str,
    tags: Option<[String; 3]>,
) -> Result<Described, String> {
    let plausible = version
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '_' | '-' | '*'));
    if !plausible {
        return Err(format!("{version:?} is not a version"));
    }
    Ok(Described {
        kind,
        version: version.to_string(),
        tags,
    })
}

/// The version in `stem` (`Foo_Bar-1.0-rc1`) after the part that normalizes to `project`
/// (`foo-bar`); the text after the last `-` when no prefix matches.
fn version_after_name<'a>(project: &str, stem: &'a str) -> Option<&'a str> {
    let after_name = stem
        .match_indices('-')
        .find(|(i, _)| normalize_name(&stem[..*i]) == project)
        .map(|(i, _)| &stem[i + 1..]);
    after_name
        .or_else(|| stem.rsplit_once('-').map(|(_, v)| v))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheels_give_version_and_tag_sets() {
        let d = describe(
            "pydantic-core",
            "pydantic_core-2.41.5-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(d.kind, FileKind::Wheel);
        assert_eq!(d.version, "2.41.5");
        let [py, abi, plat] = d.tags.unwrap();
        assert_eq!(
            (py.as_str(), abi.as_str(), plat.as_str()),
            (
                "cp314",
                "cp314t",
                "manylinux_2_17_x86_64.manylinux2014_x86_64"
            )
        );
    }

    #[test]
    fn sdists_give_the_version_after_the_project_name() {
        for (project, file, version) in [
            ("lxml", "lxml-6.0.2.tar.gz", "6.0.2"),
            ("pydantic-core", "pydantic_core-2.41.5.tar.gz", "2.41.5"),
            ("zope-interface", "zope.interface-7.2.zip", "7.2"),
            ("foo-bar", "Foo-Bar-1.0-rc1.tar.bz2", "1.0-rc1"),
            ("renamed", "oldname-3.1.tgz", "3.1"),
        ] {
            let d = describe(project, file).unwrap();
            assert_eq!(
                (d.kind, d.version.as_str()),
                (FileKind::Sdist, version),
                "{file}"
            );
            assert_eq!(d.tags, None);
        }
    }

    #[test]
    fn eggs_are_other_files_and_installers_are_refused() {
        let egg = describe("six", "six-1.10.0-py2.7.egg").unwrap();
        assert_eq!(
            (egg.kind, egg.version.as_str()),
            (FileKind::Other, "1.10.0")
        );
        let err = describe("pywin32", "pywin32-306.win-amd64-py3.12.exe").unwrap_err();
        assert!(err.contains("pywin32-306.win-amd64-py3.12.exe"), "{err}");
    }

    #[test]
    fn names_without_a_version_are_refused_naming_the_file() {
        for file in ["lxml.tar.gz", "lxml-.tar.gz", "bad-name.whl", "x-/1.zip"] {
            let err = describe("lxml", file).unwrap_err();
            assert!(!err.is_empty(), "{file}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in [FileKind::Wheel, FileKind::Sdist, FileKind::Other] {
            assert_eq!(FileKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(FileKind::from_stored("msi"), None);
    }
}
