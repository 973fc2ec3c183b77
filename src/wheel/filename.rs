//! Wheel file names: `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`
//! (binary distribution format spec), with compressed tag sets and PEP 503 name
//! normalization.

use std::fmt;
use std::str::FromStr;

use super::WheelError;
use super::tags::{MAX_TAG_TRIPLES, WheelTag, expand_sets, split_set, triple_count};

/// The optional build tag of a wheel file name: a number, then any suffix (`1`, `2b`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BuildTag {
    /// The leading digits, compared numerically.
    pub number: u64,
    /// Whatever follows the digits, compared as a string.
    pub suffix: String,
}

impl fmt::Display for BuildTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.number, self.suffix)
    }
}

/// A parsed wheel file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WheelFilename {
    /// The distribution name as written in the file name (e.g. `pydantic_core`).
    pub distribution: String,
    /// The version as written (e.g. `2.50.4`, `2.5.0+cpu`).
    pub version: String,
    /// The build tag, when present.
    pub build: Option<BuildTag>,
    /// Interpreter tags (`cp314`; `py2`, `py3` for `py2.py3`).
    pub python_tags: Vec<String>,
    /// ABI tags (`cp314t`; `abi3`, `abi3t` for `abi3.abi3t`).
    pub abi_tags: Vec<String>,
    /// Platform tags (`manylinux_2_17_x86_64`, `manylinux2014_x86_64`, …).
    pub platform_tags: Vec<String>,
}

impl WheelFilename {
    /// Parses a wheel file name. A leading directory (`dist/x.whl`) is ignored.
    ///
    /// ```
    /// use gilfree::wheel::WheelFilename;
    /// let w = WheelFilename::parse("Pydantic_Core-2.50.4-cp314-cp314t-manylinux2014_x86_64.whl").unwrap();
    /// assert_eq!(w.normalized_name(), "pydantic-core");
    /// assert_eq!(w.abi_tags, ["cp314t"]);
    /// ```
    pub fn parse(filename: &str) -> Result<WheelFilename, WheelError> {
        let name = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
        let err = |reason: &str| WheelError::InvalidFilename {
            filename: filename.to_string(),
            reason: reason.to_string(),
        };
        let stem = name
            .strip_suffix(".whl")
            .or_else(|| name.strip_suffix(".WHL"))
            .ok_or_else(|| err("it does not end with .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (distribution, version, build, python, abi, platform) = match parts.as_slice() {
            [d, v, py, abi, plat] => (*d, *v, None, *py, *abi, *plat),
            [d, v, b, py, abi, plat] => (*d, *v, Some(*b), *py, *abi, *plat),
            _ => {
                return Err(err(&format!(
                    "expected 5 or 6 '-'-separated parts, found {}",
                    parts.len()
                )));
            }
        };
        if distribution.is_empty()
            || !distribution
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        {
            return Err(err(&format!("invalid distribution name {distribution:?}")));
        }
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '_'))
        {
            return Err(err(&format!("invalid version {version:?}")));
        }
        let build = match build {
            None => None,
            Some(b) => Some(
                parse_build(b)
                    .ok_or_else(|| err(&format!("build tag {b:?} must start with a digit")))?,
            ),
        };
        let python_tags = split_set(python);
        let abi_tags = split_set(abi);
        let platform_tags = split_set(platform);
        for (what, value, set) in [
            ("python", python, &python_tags),
            ("abi", abi, &abi_tags),
            ("platform", platform, &platform_tags),
        ] {
            if set.is_empty() || value.split('.').any(str::is_empty) {
                return Err(err(&format!("empty {what} tag in {value:?}")));
            }
            if let Some(bad) = set
                .iter()
                .find(|t| !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(err(&format!("invalid {what} tag {bad:?}")));
            }
        }
        if triple_count(&python_tags, &abi_tags, &platform_tags).is_none() {
            return Err(err(&format!(
                "its compressed tag sets stand for more than {MAX_TAG_TRIPLES} tags"
            )));
        }
        Ok(WheelFilename {
            distribution: distribution.to_string(),
            version: version.to_string(),
            build,
            python_tags,
            abi_tags,
            platform_tags,
        })
    }

    /// The PEP 503 normalized project name: lowercase, runs of `-`, `_`, `.` become `-`.
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.distribution)
    }

    /// Every `{python}-{abi}-{platform}` triple the compressed tag sets stand for (at most
    /// [`MAX_TAG_TRIPLES`]; [`WheelFilename::parse`] refuses names with more).
    pub fn tags(&self) -> Vec<WheelTag> {
        expand_sets(&self.python_tags, &self.abi_tags, &self.platform_tags)
    }

    /// Whether every ABI tag is `none` and every platform tag is `any` (a pure wheel).
    pub fn is_pure(&self) -> bool {
        self.abi_tags.iter().all(|a| a == "none") && self.platform_tags.iter().all(|p| p == "any")
    }

    /// The tag part as written: `cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64`.
    pub fn tag_string(&self) -> String {
        format!(
            "{}-{}-{}",
            self.python_tags.join("."),
            self.abi_tags.join("."),
            self.platform_tags.join(".")
        )
    }
}

impl fmt::Display for WheelFilename {
    /// The file name, rebuilt from its parts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-", self.distribution, self.version)?;
        if let Some(build) = &self.build {
            write!(f, "{build}-")?;
        }
        write!(f, "{}.whl", self.tag_string())
    }
}

impl FromStr for WheelFilename {
    type Err = WheelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WheelFilename::parse(s)
    }
}

/// PEP 503 name normalization: lowercase, and every run of `-`, `_` and `.` becomes one `-`.
///
/// ```
/// assert_eq!(gilfree::wheel::normalize_name("Foo__Bar.-baz"), "foo-bar-baz");
/// ```
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

fn parse_build(b: &str) -> Option<BuildTag> {
    let end = b
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if end == 0 {
        return None;
    }
    Some(BuildTag {
        number: b[..end].parse().ok()?,
        suffix: b[end..].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real file names (oracle data and downloaded test wheels), with the expected project,
    /// version, python, abi and platform sets.
    #[test]
    fn real_filenames() {
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (
                "arro3_core-0.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "arro3-core",
                "0.9.1",
                &["cp314"],
                &["cp314t"],
                &["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
            ),
            (
                "bitstruct-8.24.0-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
                "bitstruct",
                "8.24.0",
                &["cp314"],
                &["cp314t"],
                &[
                    "manylinux2014_x86_64",
                    "manylinux_2_17_x86_64",
                    "manylinux_2_28_x86_64",
                ],
            ),
            (
                "lazy_object_proxy-1.13.0-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl",
                "lazy-object-proxy",
                "1.13.0",
                &["cp314"],
                &["cp314t"],
                &[
                    "manylinux1_x86_64",
                    "manylinux_2_28_x86_64",
                    "manylinux_2_5_x86_64",
                ],
            ),
            (
                "nvidia_cutlass_dsl_libs_base-4.8.1-cp314-cp314t-manylinux_2_28_aarch64.whl",
                "nvidia-cutlass-dsl-libs-base",
                "4.8.1",
                &["cp314"],
                &["cp314t"],
                &["manylinux_2_28_aarch64"],
            ),
            (
                "ortools-9.15.6755-cp314-cp314t-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                "ortools",
                "9.15.6755",
                &["cp314"],
                &["cp314t"],
                &["manylinux_2_27_x86_64", "manylinux_2_28_x86_64"],
            ),
            (
                "bcrypt-5.0.0-cp314-cp314t-macosx_10_12_universal2.whl",
                "bcrypt",
                "5.0.0",
                &["cp314"],
                &["cp314t"],
                &["macosx_10_12_universal2"],
            ),
            (
                "pydantic_core-2.50.4-cp314-cp314t-win_amd64.whl",
                "pydantic-core",
                "2.50.4",
                &["cp314"],
                &["cp314t"],
                &["win_amd64"],
            ),
            (
                "cryptography-50.0.2-cp315-abi3.abi3t-manylinux_2_34_x86_64.whl",
                "cryptography",
                "50.0.2",
                &["cp315"],
                &["abi3", "abi3t"],
                &["manylinux_2_34_x86_64"],
            ),
            (
                "six-1.17.0-py2.py3-none-any.whl",
                "six",
                "1.17.0",
                &["py2", "py3"],
                &["none"],
                &["any"],
            ),
            (
                "zope.interface-7.2-cp313-cp313t-musllinux_1_2_aarch64.whl",
                "zope-interface",
                "7.2",
                &["cp313"],
                &["cp313t"],
                &["musllinux_1_2_aarch64"],
            ),
            (
                "torch-2.9.0+cpu-cp314-cp314t-manylinux_2_28_x86_64.whl",
                "torch",
                "2.9.0+cpu",
                &["cp314"],
                &["cp314t"],
                &["manylinux_2_28_x86_64"],
            ),
        ];
        for (name, project, version, py, abi, plat) in cases {
            let w = WheelFilename::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(w.normalized_name(), *project, "{name}");
            assert_eq!(w.version, *version, "{name}");
            assert_eq!(w.python_tags, *py, "{name}");
            assert_eq!(w.abi_tags, *abi, "{name}");
            assert_eq!(w.platform_tags, *plat, "{name}");
            assert_eq!(w.build, None);
            assert_eq!(w.to_string(), *name, "round trip");
            assert_eq!(w.tags().len(), py.len() * abi.len() * plat.len());
        }
    }

    #[test]
    fn build_tags() {
        let w = WheelFilename::parse("foo-1.0-1-cp314-cp314t-win_amd64.whl").unwrap();
        assert_eq!(
            w.build,
            Some(BuildTag {
                number: 1,
                suffix: String::new()
            })
        );
        let w = WheelFilename::parse("foo-1.0-20b-py3-none-any.whl").unwrap();
        assert_eq!(w.build.as_ref().unwrap().number, 20);
        assert_eq!(w.build.as_ref().unwrap().suffix, "b");
        assert_eq!(w.to_string(), "foo-1.0-20b-py3-none-any.whl");
        let build = |name: &str| WheelFilename::parse(name).unwrap().build.unwrap();
        assert!(build("foo-1.0-2-py3-none-any.whl") < build("foo-1.0-10-py3-none-any.whl"));
    }

    #[test]
    fn invalid_filenames_name_the_value() {
        let cases = [
            ("foo-1.0-py3-none-any.tar.gz", "does not end with .whl"),
            ("foo-1.0-py3-none.whl", "5 or 6"),
            ("foo-bar-1.0-1-py3-none-any.whl", "5 or 6"),
            ("foo-1.0-b1-py3-none-any.whl", "\"b1\""),
            ("foo-1.0-py3-none-.whl", "empty platform"),
            ("foo-1.0-py3..py2-none-any.whl", "empty python"),
            ("foo-1.0-py3-no ne-any.whl", "\"no ne\""),
            ("-1.0-py3-none-any.whl", "distribution"),
            ("foo--py3-none-any.whl", "version"),
            ("fo%o-1.0-py3-none-any.whl", "\"fo%o\""),
        ];
        for (name, needle) in cases {
            let err = WheelFilename::parse(name).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
            assert!(err.contains(needle), "{name}: {err}");
        }
    }

    /// Fuzzing regression (found while reviewing the filename target): `tags()` expanded the
    /// compressed sets into their product, a billion triples for a 3,000-character name.
    /// 20 x 20 x 20 already passes the limit and still fits a file name on disk.
    #[test]
    fn names_whose_tag_sets_expand_too_far_are_refused() {
        let set = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let name = format!(
            "foo-1.0-{}-{}-{}.whl",
            set("p", 20).join("."),
            set("a", 20).join("."),
            set("x", 20).join(".")
        );
        let err = WheelFilename::parse(&name).unwrap_err().to_string();
        assert!(err.contains("more than 4096 tags"), "{err}");
        let name = format!(
            "foo-1.0-{}-cp314t-{}.whl",
            set("p", 64).join("."),
            set("x", 64).join(".")
        );
        assert_eq!(WheelFilename::parse(&name).unwrap().tags().len(), 4096);
    }

    #[test]
    fn paths_and_purity() {
        let w = WheelFilename::parse("dist/six-1.17.0-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.distribution, "six");
        assert!(w.is_pure());
        let w: WheelFilename = "msgpack-1.2.4-cp314-cp314t-win_amd64.whl".parse().unwrap();
        assert!(!w.is_pure());
    }

    #[test]
    fn name_normalization() {
        let cases = [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("ruamel.yaml.clib", "ruamel-yaml-clib"),
            ("Foo__Bar", "foo-bar"),
            ("foo-_.bar", "foo-bar"),
            ("PyYAML", "pyyaml"),
            ("a", "a"),
        ];
        for (name, want) in cases {
            assert_eq!(normalize_name(name), want, "{name}");
        }
    }
}
