//! Wheel compatibility tags (PEP 425 and its successors): the interpreter, ABI and platform
//! parts of a wheel file name, parsed into what they mean for a free-threaded target.

use std::fmt;

use super::target::Platform;

/// One expanded `{python}-{abi}-{platform}` tag triple, e.g. `cp314-cp314t-win_amd64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WheelTag {
    /// Interpreter tag, e.g. `cp314`, `py3`.
    pub python: String,
    /// ABI tag, e.g. `cp314t`, `abi3`, `abi3t`, `none`.
    pub abi: String,
    /// Platform tag, e.g. `manylinux_2_17_x86_64`, `any`.
    pub platform: String,
}

impl WheelTag {
    /// Parses `py-abi-plat` (one triple, no compressed `.` sets).
    pub fn parse(s: &str) -> Option<WheelTag> {
        let mut parts = s.split('-');
        let (python, abi, platform) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || [python, abi, platform].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(WheelTag {
            python: python.to_string(),
            abi: abi.to_string(),
            platform: platform.to_string(),
        })
    }

    /// Expands a possibly compressed tag set (`py2.py3-none-any`, `cp315-abi3.abi3t-…`) into
    /// every triple it stands for, in order. `None` when it is not a tag triple or stands for
    /// more than [`MAX_TAG_TRIPLES`].
    pub fn expand(s: &str) -> Option<Vec<WheelTag>> {
        let parsed = WheelTag::parse(s)?;
        let sets = [
            split_set(&parsed.python),
            split_set(&parsed.abi),
            split_set(&parsed.platform),
        ];
        triple_count(&sets[0], &sets[1], &sets[2])?;
        Some(expand_sets(&sets[0], &sets[1], &sets[2]))
    }
}

impl fmt::Display for WheelTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// Splits a compressed tag set `a.b.c` into its members, dropping empty ones.
pub(crate) fn split_set(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Most triples one compressed tag set may stand for. Real wheels list a few python
/// versions and platform aliases (tens of triples); the sets of a 3000-character name would
/// otherwise expand to a billion.
pub const MAX_TAG_TRIPLES: usize = 4096;

/// How many triples the three sets stand for, or `None` past [`MAX_TAG_TRIPLES`].
pub(crate) fn triple_count(
    pythons: &[String],
    abis: &[String],
    platforms: &[String],
) -> Option<usize> {
    pythons
        .len()
        .checked_mul(abis.len())?
        .checked_mul(platforms.len())
        .filter(|&n| n <= MAX_TAG_TRIPLES)
}

/// Every combination of the three tag sets, as triples. Empty when they stand for more than
/// [`MAX_TAG_TRIPLES`] (parsing refuses such names and tag lines).
pub(crate) fn expand_sets(
    pythons: &[String],
    abis: &[String],
    platforms: &[String],
) -> Vec<WheelTag> {
    let Some(count) = triple_count(pythons, abis, platforms) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(count);
    for python in pythons {
        for abi in abis {
            for platform in platforms {
                out.push(WheelTag {
                    python: python.clone(),
                    abi: abi.clone(),
                    platform: platform.clone(),
                });
            }
        }
    }
    out
}

/// An interpreter tag (`cp314`, `py3`, `py39`, `pp310`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonTag {
    /// `cpXY`: CPython of that version (`minor` is `None` for a bare `cp3`).
    CPython {
        /// Major version.
        major: u32,
        /// Minor version.
        minor: Option<u32>,
    },
    /// `pyX` / `pyXY`: any Python implementation of that version.
    Generic {
        /// Major version.
        major: u32,
        /// Minor version, when given.
        minor: Option<u32>,
    },
    /// Another implementation (`pp310`, `graalpy311`, `ip27`) or something unparseable.
    Other(String),
}

impl PythonTag {
    /// Parses one interpreter tag.
    pub fn parse(tag: &str) -> PythonTag {
        let lower = tag.to_ascii_lowercase();
        let version = |digits: &str| -> Option<(u32, Option<u32>)> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let major = digits[..1].parse().ok()?;
            let minor = if digits.len() > 1 {
                Some(digits[1..].parse().ok()?)
            } else {
                None
            };
            Some((major, minor))
        };
        if let Some((major, minor)) = lower.strip_prefix("cp").and_then(version) {
            return PythonTag::CPython { major, minor };
        }
        if let Some((major, minor)) = lower.strip_prefix("py").and_then(version) {
            return PythonTag::Generic { major, minor };
        }
        PythonTag::Other(tag.to_string())
    }
}

/// An ABI tag (`cp314t`, `abi3`, `abi3t`, `none`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiTag {
    /// `none`: no ABI dependency (pure Python, or native code loaded without the C API).
    None,
    /// `abi3`: the stable ABI of GIL-enabled CPython 3.x.
    Abi3,
    /// `abi3t`: the stable ABI shared by free-threaded and GIL builds (PEP 803, 3.15+).
    Abi3t,
    /// `cpXY<flags>`: the version-specific ABI of CPython X.Y (`t` free-threaded, `d` debug,
    /// `m`/`u` for Python 2/3.7-).
    CPython {
        /// Major version.
        major: u32,
        /// Minor version.
        minor: u32,
        /// ABI flags, e.g. `t`, `d`, `td`, `m`, `mu`, or empty.
        flags: String,
    },
    /// Any other ABI (`pypy310_pp73`, `graalpy311_…`).
    Other(String),
}

impl AbiTag {
    /// Parses one ABI tag.
    pub fn parse(tag: &str) -> AbiTag {
        let lower = tag.to_ascii_lowercase();
        match lower.as_str() {
            "none" => return AbiTag::None,
            "abi3" => return AbiTag::Abi3,
            "abi3t" => return AbiTag::Abi3t,
            _ => {}
        }
        if let Some(rest) = lower.strip_prefix("cp") {
            let digits_end = rest
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(rest.len());
            let (digits, flags) = rest.split_at(digits_end);
            if digits.len() >= 2
                && flags.bytes().all(|b| b.is_ascii_lowercase())
                && let (Ok(major), Ok(minor)) = (digits[..1].parse(), digits[1..].parse())
            {
                return AbiTag::CPython {
                    major,
                    minor,
                    flags: flags.to_string(),
                };
            }
        }
        AbiTag::Other(tag.to_string())
    }

    /// Whether this is a free-threaded version-specific ABI (`cp313t`, `cp314t`, …).
    pub fn is_free_threaded(&self) -> bool {
        matches!(self, AbiTag::CPython { flags, .. } if flags.contains('t'))
    }
}

/// A platform tag, parsed by family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformTag {
    /// `any`: every platform.
    Any,
    /// `manylinux1_<arch>` (glibc 2.5), `manylinux2010_<arch>` (2.12), `manylinux2014_<arch>`
    /// (2.17) or `manylinux_X_Y_<arch>`.
    Manylinux {
        /// Minimum glibc `(major, minor)`.
        glibc: (u32, u32),
        /// Architecture as spelled in the tag (`x86_64`, `aarch64`, `i686`, …).
        arch: String,
    },
    /// `musllinux_X_Y_<arch>`.
    Musllinux {
        /// Minimum musl `(major, minor)`.
        musl: (u32, u32),
        /// Architecture as spelled in the tag.
        arch: String,
    },
    /// `linux_<arch>`: a locally built, non-portable Linux wheel (glibc or musl).
    Linux {
        /// Architecture as spelled in the tag.
        arch: String,
    },
    /// `macosx_X_Y_<arch>` with arch `arm64`, `x86_64`, `universal2`, `universal`, `intel`,
    /// `fat`, `fat3`, `fat32`, `fat64`, `i386`, `ppc`, `ppc64`.
    MacOs {
        /// Minimum macOS `(major, minor)`.
        version: (u32, u32),
        /// Architecture or fat-binary name as spelled in the tag.
        arch: String,
    },
    /// `win32`, `win_amd64`, `win_arm64`, `win_arm32`, `win_ia64`.
    Windows {
        /// The whole tag.
        tag: String,
    },
    /// Any other platform (`ios_…`, `android_…`, `pyodide_…`, `emscripten_…`, `freebsd_…`)
    /// or a malformed tag.
    Other(String),
}

impl PlatformTag {
    /// Parses one platform tag (case-insensitive; `-` and `.` read as `_`).
    pub fn parse(tag: &str) -> PlatformTag {
        let norm: String = tag
            .trim()
            .chars()
            .map(|c| match c {
                '-' | '.' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        if norm == "any" {
            return PlatformTag::Any;
        }
        if norm.starts_with("win") {
            return match norm.as_str() {
                "win32" | "win_amd64" | "win_arm64" | "win_arm32" | "win_ia64" => {
                    PlatformTag::Windows { tag: norm }
                }
                _ => PlatformTag::Other(tag.to_string()),
            };
        }
        for (legacy, glibc) in [
            ("manylinux1_", (2, 5)),
            ("manylinux2010_", (2, 12)),
            ("manylinux2014_", (2, 17)),
        ] {
            if let Some(arch) = norm.strip_prefix(legacy)
                && !arch.is_empty()
            {
                return PlatformTag::Manylinux {
                    glibc,
                    arch: arch.to_string(),
                };
            }
        }
        if let Some((version, arch)) = norm.strip_prefix("manylinux_").and_then(version_arch) {
            return PlatformTag::Manylinux {
                glibc: version,
                arch,
            };
        }
        if let Some((version, arch)) = norm.strip_prefix("musllinux_").and_then(version_arch) {
            return PlatformTag::Musllinux {
                musl: version,
                arch,
            };
        }
        if let Some((version, arch)) = norm.strip_prefix("macosx_").and_then(version_arch) {
            return PlatformTag::MacOs { version, arch };
        }
        if let Some(arch) = norm.strip_prefix("linux_")
            && !arch.is_empty()
        {
            return PlatformTag::Linux {
                arch: arch.to_string(),
            };
        }
        PlatformTag::Other(tag.to_string())
    }

    /// The supported platforms this tag installs on (empty for none of them).
    pub fn platforms(&self) -> Vec<Platform> {
        use Platform::*;
        match self {
            PlatformTag::Any => Platform::ALL.to_vec(),
            PlatformTag::Manylinux { arch, .. } => glibc_platform(arch).into_iter().collect(),
            PlatformTag::Musllinux { arch, .. } => match arch.as_str() {
                "x86_64" => vec![MusllinuxX86_64],
                "aarch64" => vec![MusllinuxAarch64],
                _ => vec![],
            },
            PlatformTag::Linux { arch } => {
                let mut out: Vec<Platform> = glibc_platform(arch).into_iter().collect();
                match arch.as_str() {
                    "x86_64" => out.push(MusllinuxX86_64),
                    "aarch64" => out.push(MusllinuxAarch64),
                    _ => {}
                }
                out
            }
            PlatformTag::MacOs { arch, .. } => match arch.as_str() {
                "arm64" => vec![MacosArm64],
                "universal2" => vec![MacosArm64, MacosX86_64],
                // Fat binaries that contain an x86_64 slice.
                "x86_64" | "intel" | "universal" | "fat3" | "fat64" => vec![MacosX86_64],
                _ => vec![],
            },
            PlatformTag::Windows { tag } => match tag.as_str() {
                "win32" => vec![WindowsX86],
                "win_amd64" => vec![WindowsAmd64],
                "win_arm64" => vec![WindowsArm64],
                _ => vec![],
            },
            PlatformTag::Other(_) => vec![],
        }
    }
}

/// `X_Y_arch` → ((X, Y), arch).
fn version_arch(s: &str) -> Option<((u32, u32), String)> {
    let mut parts = s.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let arch = parts.next()?;
    if arch.is_empty() {
        return None;
    }
    Some(((major, minor), arch.to_string()))
}

fn glibc_platform(arch: &str) -> Option<Platform> {
    Some(match arch {
        "x86_64" => Platform::LinuxX86_64,
        "aarch64" => Platform::LinuxAarch64,
        "i686" => Platform::LinuxI686,
        "ppc64le" => Platform::LinuxPpc64le,
        "s390x" => Platform::LinuxS390x,
        "armv7l" => Platform::LinuxArmv7l,
        "riscv64" => Platform::LinuxRiscv64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Platform::*;

    #[test]
    fn platform_tags_map_to_platforms() {
        let cases: &[(&str, &[Platform])] = &[
            ("manylinux_2_17_x86_64", &[LinuxX86_64]),
            ("manylinux2014_x86_64", &[LinuxX86_64]),
            ("manylinux1_x86_64", &[LinuxX86_64]),
            ("manylinux2010_i686", &[LinuxI686]),
            ("manylinux1_i686", &[LinuxI686]),
            ("manylinux_2_28_aarch64", &[LinuxAarch64]),
            ("manylinux2014_aarch64", &[LinuxAarch64]),
            ("manylinux_2_17_ppc64le", &[LinuxPpc64le]),
            ("manylinux2014_s390x", &[LinuxS390x]),
            ("manylinux_2_31_armv7l", &[LinuxArmv7l]),
            ("manylinux_2_39_riscv64", &[LinuxRiscv64]),
            ("manylinux2014_ppc64", &[]),
            ("manylinux_2_36_loongarch64", &[]),
            ("musllinux_1_2_x86_64", &[MusllinuxX86_64]),
            ("musllinux_1_1_aarch64", &[MusllinuxAarch64]),
            ("musllinux_1_2_armv7l", &[]),
            ("linux_x86_64", &[LinuxX86_64, MusllinuxX86_64]),
            ("linux_armv7l", &[LinuxArmv7l]),
            ("macosx_11_0_arm64", &[MacosArm64]),
            ("macosx_10_12_universal2", &[MacosArm64, MacosX86_64]),
            ("macosx_10_9_x86_64", &[MacosX86_64]),
            ("macosx_10_6_intel", &[MacosX86_64]),
            ("macosx_10_4_universal", &[MacosX86_64]),
            ("macosx_10_5_fat64", &[MacosX86_64]),
            ("macosx_10_5_fat32", &[]),
            ("macosx_10_5_ppc", &[]),
            ("macosx_15_0_arm64", &[MacosArm64]),
            ("win32", &[WindowsX86]),
            ("win_amd64", &[WindowsAmd64]),
            ("win_arm64", &[WindowsArm64]),
            ("win_arm32", &[]),
            ("any", &Platform::ALL),
            ("ios_13_0_arm64_iphoneos", &[]),
            ("android_21_arm64_v8a", &[]),
            ("pyodide_2024_0_wasm32", &[]),
            ("emscripten_3_1_58_wasm32", &[]),
            ("manylinux_2_x_x86_64", &[]),
            ("manylinux_", &[]),
            ("macosx_11_arm64", &[]),
            ("linux_", &[]),
            ("", &[]),
        ];
        for (tag, want) in cases {
            assert_eq!(Platform::from_tag(tag), *want, "{tag}");
        }
    }

    #[test]
    fn platform_tag_details() {
        assert_eq!(
            PlatformTag::parse("manylinux2014_x86_64"),
            PlatformTag::Manylinux {
                glibc: (2, 17),
                arch: "x86_64".into()
            }
        );
        assert_eq!(
            PlatformTag::parse("manylinux_2_28_aarch64"),
            PlatformTag::Manylinux {
                glibc: (2, 28),
                arch: "aarch64".into()
            }
        );
        assert_eq!(
            PlatformTag::parse("musllinux_1_2_x86_64"),
            PlatformTag::Musllinux {
                musl: (1, 2),
                arch: "x86_64".into()
            }
        );
        assert_eq!(
            PlatformTag::parse("macosx_10_15_universal2"),
            PlatformTag::MacOs {
                version: (10, 15),
                arch: "universal2".into()
            }
        );
        assert_eq!(
            PlatformTag::parse("WIN_AMD64"),
            PlatformTag::Windows {
                tag: "win_amd64".into()
            }
        );
    }

    #[test]
    fn abi_tags() {
        let ft = |minor: u32, flags: &str| AbiTag::CPython {
            major: 3,
            minor,
            flags: flags.into(),
        };
        let cases = [
            ("none", AbiTag::None),
            ("abi3", AbiTag::Abi3),
            ("abi3t", AbiTag::Abi3t),
            ("cp314t", ft(14, "t")),
            ("cp314", ft(14, "")),
            ("cp313td", ft(13, "td")),
            ("cp37m", ft(7, "m")),
            (
                "cp27mu",
                AbiTag::CPython {
                    major: 2,
                    minor: 7,
                    flags: "mu".into(),
                },
            ),
            ("pypy310_pp73", AbiTag::Other("pypy310_pp73".into())),
            ("cp3", AbiTag::Other("cp3".into())),
            ("cp", AbiTag::Other("cp".into())),
        ];
        for (tag, want) in cases {
            assert_eq!(AbiTag::parse(tag), want, "{tag}");
        }
        assert!(AbiTag::parse("cp314t").is_free_threaded());
        assert!(!AbiTag::parse("cp314").is_free_threaded());
        assert!(!AbiTag::parse("abi3t").is_free_threaded());
    }

    #[test]
    fn python_tags() {
        let cases = [
            (
                "cp314",
                PythonTag::CPython {
                    major: 3,
                    minor: Some(14),
                },
            ),
            (
                "py3",
                PythonTag::Generic {
                    major: 3,
                    minor: None,
                },
            ),
            (
                "py39",
                PythonTag::Generic {
                    major: 3,
                    minor: Some(9),
                },
            ),
            (
                "py2",
                PythonTag::Generic {
                    major: 2,
                    minor: None,
                },
            ),
            ("pp310", PythonTag::Other("pp310".into())),
            ("graalpy311", PythonTag::Other("graalpy311".into())),
            ("pyx", PythonTag::Other("pyx".into())),
        ];
        for (tag, want) in cases {
            assert_eq!(PythonTag::parse(tag), want, "{tag}");
        }
    }

    #[test]
    fn tag_triples_expand() {
        let tags = WheelTag::expand("py2.py3-none-any").unwrap();
        let shown: Vec<String> = tags.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["py2-none-any", "py3-none-any"]);
        let tags = WheelTag::expand("cp315-abi3.abi3t-manylinux_2_34_x86_64").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[1].abi, "abi3t");
        assert!(WheelTag::expand("cp314-cp314t").is_none());
        assert!(WheelTag::expand("a-b-c-d").is_none());
        assert!(WheelTag::expand("a--c").is_none());
    }

    /// Fuzzing regression (found while reviewing the filename target): compressed tag sets
    /// of a few hundred members each expand to their product. A 3,000-character tag line
    /// (400 x 400 x 400) stood for 64 million triples, several GB of strings.
    #[test]
    fn huge_compressed_sets_are_refused() {
        let set = |p: &str, n: usize| {
            (0..n)
                .map(|i| format!("{p}{i}"))
                .collect::<Vec<_>>()
                .join(".")
        };
        let line = format!("{}-{}-{}", set("p", 400), set("a", 400), set("x", 400));
        assert!(WheelTag::expand(&line).is_none());
        let line = format!("{}-{}-{}", set("p", 16), set("a", 16), set("x", 16));
        assert_eq!(
            WheelTag::expand(&line).map(|t| t.len()),
            Some(MAX_TAG_TRIPLES)
        );
    }
}
