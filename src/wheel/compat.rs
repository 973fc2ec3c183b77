//! Matching a wheel against a target: would an installer pick this wheel for a given
//! free-threaded interpreter and platform, and if not, why not.
//!
//! Rules (detection.md §2): a free-threaded ABI tag for the target's version (`cp314t`)
//! matches; `abi3t` (PEP 803) matches 3.15t and later when its interpreter tag is not newer
//! than the target; `none` matches for `py3`, `py3X` (X ≤ target) and the target's own `cp3X`.
//! `abi3` alone never matches a free-threaded interpreter (installers skip it and 3.13/3.14
//! headers refuse `Py_LIMITED_API` with `Py_GIL_DISABLED`).

use std::fmt;

use super::filename::WheelFilename;
use super::tags::{AbiTag, PythonTag, WheelTag};
use super::target::{Platform, PythonTarget};

/// How a compatible wheel reaches the target interpreter; ordered best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKind {
    /// Built for this free-threaded interpreter's own ABI (`cp314t`).
    FreeThreaded,
    /// Built for the free-threaded stable ABI (`abi3t`, 3.15+).
    Abi3t,
    /// No ABI dependency (`none`): pure Python, or native code not using the C API.
    NoAbi,
}

/// Why a wheel for the right platform does not fit the interpreter. Ordered by how useful the
/// reason is to a user: when several tags fail, the first in this order is reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AbiMismatch {
    /// Only the GIL-build stable ABI (`abi3`), which free-threaded interpreters never select.
    Abi3 {
        /// The interpreter tag it goes with, e.g. `cp39`.
        python: String,
    },
    /// Built for the GIL-enabled build of the same version (`cp314` for 3.14t).
    GilBuild {
        /// The ABI tag, e.g. `cp314`.
        abi: String,
    },
    /// The free-threaded stable ABI, which the target predates (`abi3t` needs 3.15t).
    Abi3tUnsupported {
        /// The interpreter tag it goes with, e.g. `cp315`.
        python: String,
    },
    /// Built for the free-threaded stable ABI of a newer version (`cp316-abi3t` on 3.15t).
    Abi3tTooNew {
        /// The interpreter tag, e.g. `cp316`.
        python: String,
    },
    /// Built for another CPython version (`cp313t` for 3.14t, `cp312` for 3.14t).
    OtherVersion {
        /// The ABI tag, e.g. `cp313t`.
        abi: String,
    },
    /// Another implementation, Python 2, a debug build or an unknown ABI.
    OtherInterpreter {
        /// The whole tag triple, e.g. `pp310-pypy310_pp73-manylinux_2_17_x86_64`.
        tag: String,
    },
}

impl fmt::Display for AbiMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbiMismatch::Abi3 { python } => write!(
                f,
                "only the GIL stable ABI ({python}-abi3), never selected for free-threaded Python"
            ),
            AbiMismatch::GilBuild { abi } => {
                write!(f, "built for the GIL-enabled interpreter ({abi})")
            }
            AbiMismatch::Abi3tUnsupported { python } => write!(
                f,
                "built for the free-threaded stable ABI ({python}-abi3t), which needs 3.15t or newer"
            ),
            AbiMismatch::Abi3tTooNew { python } => write!(
                f,
                "built for the free-threaded stable ABI of a newer Python ({python}-abi3t)"
            ),
            AbiMismatch::OtherVersion { abi } => {
                write!(f, "built for another Python version ({abi})")
            }
            AbiMismatch::OtherInterpreter { tag } => {
                write!(f, "built for another interpreter ({tag})")
            }
        }
    }
}

/// Whether a wheel fits a (interpreter, platform) target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compatibility {
    /// An installer would select it; `tag` is the best matching triple.
    Compatible {
        /// How it matches.
        kind: MatchKind,
        /// The tag triple that matches.
        tag: WheelTag,
    },
    /// It is for this platform but not for this interpreter.
    WrongAbi(AbiMismatch),
    /// None of its platform tags covers this platform.
    OtherPlatform,
}

impl Compatibility {
    /// Whether an installer would select the wheel.
    pub fn is_compatible(&self) -> bool {
        matches!(self, Compatibility::Compatible { .. })
    }
}

/// Decides whether `wheel` fits `target` on `platform`.
pub fn check_wheel(
    wheel: &WheelFilename,
    target: PythonTarget,
    platform: Platform,
) -> Compatibility {
    check_tags(&wheel.tags(), target, platform)
}

/// Decides whether a set of tag triples (from a file name or a `WHEEL` file) fits `target`
/// on `platform`.
pub fn check_tags(tags: &[WheelTag], target: PythonTarget, platform: Platform) -> Compatibility {
    let mut best: Option<(MatchKind, &WheelTag)> = None;
    let mut mismatch: Option<AbiMismatch> = None;
    for tag in tags {
        if !platform.matches_tag(&tag.platform) {
            continue;
        }
        match check_abi(tag, target) {
            Ok(kind) => {
                if best.is_none_or(|(k, _)| kind < k) {
                    best = Some((kind, tag));
                }
            }
            Err(why) => {
                if mismatch.as_ref().is_none_or(|m| why < *m) {
                    mismatch = Some(why);
                }
            }
        }
    }
    match (best, mismatch) {
        (Some((kind, tag)), _) => Compatibility::Compatible {
            kind,
            tag: tag.clone(),
        },
        (None, Some(why)) => Compatibility::WrongAbi(why),
        (None, None) => Compatibility::OtherPlatform,
    }
}

/// Checks the interpreter and ABI parts of one triple against the target.
pub fn check_abi(tag: &WheelTag, target: PythonTarget) -> Result<MatchKind, AbiMismatch> {
    let minor = target.minor();
    let python = PythonTag::parse(&tag.python);
    let other = || AbiMismatch::OtherInterpreter {
        tag: tag.to_string(),
    };
    match AbiTag::parse(&tag.abi) {
        AbiTag::None => match python {
            PythonTag::Generic {
                major: 3,
                minor: None,
            } => Ok(MatchKind::NoAbi),
            PythonTag::Generic {
                major: 3,
                minor: Some(m),
            } if m <= minor => Ok(MatchKind::NoAbi),
            PythonTag::CPython {
                major: 3,
                minor: Some(m),
            } if m == minor => Ok(MatchKind::NoAbi),
            PythonTag::CPython {
                major: 3,
                minor: Some(_),
            }
            | PythonTag::Generic {
                major: 3,
                minor: Some(_),
            } => Err(AbiMismatch::OtherVersion {
                abi: format!("{}-none", tag.python),
            }),
            _ => Err(other()),
        },
        AbiTag::Abi3 => match python {
            PythonTag::CPython { major: 3, .. } => Err(AbiMismatch::Abi3 {
                python: tag.python.clone(),
            }),
            _ => Err(other()),
        },
        AbiTag::Abi3t => match python {
            PythonTag::CPython {
                major: 3,
                minor: Some(m),
            } => {
                if !target.supports_abi3t() {
                    Err(AbiMismatch::Abi3tUnsupported {
                        python: tag.python.clone(),
                    })
                } else if m > minor {
                    Err(AbiMismatch::Abi3tTooNew {
                        python: tag.python.clone(),
                    })
                } else {
                    Ok(MatchKind::Abi3t)
                }
            }
            _ => Err(other()),
        },
        AbiTag::CPython {
            major: 3,
            minor: m,
            flags,
        } => {
            let python_ok = matches!(
                python,
                PythonTag::CPython { major: 3, minor: Some(p) } if p == m
            );
            if !python_ok {
                return Err(other());
            }
            if m != minor {
                Err(AbiMismatch::OtherVersion {
                    abi: tag.abi.clone(),
                })
            } else if flags.is_empty() {
                Err(AbiMismatch::GilBuild {
                    abi: tag.abi.clone(),
                })
            } else if flags == "t" {
                Ok(MatchKind::FreeThreaded)
            } else {
                // Debug (`td`) or other flags: not the release build's ABI.
                Err(other())
            }
        }
        AbiTag::CPython { .. } | AbiTag::Other(_) => Err(other()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Platform::*;
    use PythonTarget::*;

    fn check(name: &str, target: PythonTarget, platform: Platform) -> Compatibility {
        check_wheel(&WheelFilename::parse(name).unwrap(), target, platform)
    }

    #[test]
    fn compatible_wheels() {
        let cases: &[(&str, PythonTarget, Platform, MatchKind)] = &[
            (
                "arro3_core-0.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                Py314t,
                LinuxX86_64,
                MatchKind::FreeThreaded,
            ),
            (
                "bcrypt-5.0.0-cp314-cp314t-macosx_10_12_universal2.whl",
                Py314t,
                MacosX86_64,
                MatchKind::FreeThreaded,
            ),
            (
                "bcrypt-5.0.0-cp314-cp314t-macosx_10_12_universal2.whl",
                Py314t,
                MacosArm64,
                MatchKind::FreeThreaded,
            ),
            (
                "pydantic_core-2.50.5-cp315-cp315t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                Py315t,
                LinuxX86_64,
                MatchKind::FreeThreaded,
            ),
            (
                "cryptography-50.0.2-cp315-abi3.abi3t-manylinux_2_34_x86_64.whl",
                Py315t,
                LinuxX86_64,
                MatchKind::Abi3t,
            ),
            (
                "foo-1.0-cp315-abi3t-win_arm64.whl",
                Py315t,
                WindowsArm64,
                MatchKind::Abi3t,
            ),
            (
                "six-1.17.0-py2.py3-none-any.whl",
                Py313t,
                WindowsX86,
                MatchKind::NoAbi,
            ),
            (
                "ninja-1.13.0-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
                Py314t,
                LinuxX86_64,
                MatchKind::NoAbi,
            ),
            (
                "foo-1.0-py39-none-any.whl",
                Py314t,
                LinuxAarch64,
                MatchKind::NoAbi,
            ),
            (
                "foo-1.0-cp314-none-win_amd64.whl",
                Py314t,
                WindowsAmd64,
                MatchKind::NoAbi,
            ),
            (
                "foo-1.0-cp313-cp313t-musllinux_1_2_x86_64.whl",
                Py313t,
                MusllinuxX86_64,
                MatchKind::FreeThreaded,
            ),
            (
                "foo-1.0-cp314-cp314t-linux_x86_64.whl",
                Py314t,
                MusllinuxX86_64,
                MatchKind::FreeThreaded,
            ),
            (
                "foo-1.0-cp314-abi3.cp314t-manylinux_2_28_x86_64.whl",
                Py314t,
                LinuxX86_64,
                MatchKind::FreeThreaded,
            ),
        ];
        for (name, target, platform, kind) in cases {
            match check(name, *target, *platform) {
                Compatibility::Compatible { kind: k, .. } => {
                    assert_eq!(k, *kind, "{name} {target} {platform}")
                }
                other => panic!("{name} {target} {platform}: {other:?}"),
            }
        }
    }

    #[test]
    fn wrong_abi_wheels() {
        let cases: &[(&str, PythonTarget, Platform, AbiMismatch)] = &[
            (
                "cryptography-46.0.3-cp311-abi3-manylinux_2_34_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::Abi3 {
                    python: "cp311".into(),
                },
            ),
            (
                "cryptography-46.0.3-cp311-abi3-manylinux_2_34_x86_64.whl",
                Py315t,
                LinuxX86_64,
                AbiMismatch::Abi3 {
                    python: "cp311".into(),
                },
            ),
            (
                "lxml-6.1.3-cp314-cp314-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::GilBuild {
                    abi: "cp314".into(),
                },
            ),
            (
                "foo-1.0-cp313-cp313t-win_amd64.whl",
                Py314t,
                WindowsAmd64,
                AbiMismatch::OtherVersion {
                    abi: "cp313t".into(),
                },
            ),
            (
                "cryptography-50.0.2-cp315-abi3.abi3t-manylinux_2_34_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::Abi3 {
                    python: "cp315".into(),
                },
            ),
            (
                "foo-1.0-cp315-abi3t-manylinux_2_34_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::Abi3tUnsupported {
                    python: "cp315".into(),
                },
            ),
            (
                "foo-1.0-cp316-abi3t-manylinux_2_34_x86_64.whl",
                Py315t,
                LinuxX86_64,
                AbiMismatch::Abi3tTooNew {
                    python: "cp316".into(),
                },
            ),
            (
                "foo-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::OtherInterpreter {
                    tag: "pp310-pypy310_pp73-manylinux_2_17_x86_64".into(),
                },
            ),
            (
                "foo-1.0-py2-none-any.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::OtherInterpreter {
                    tag: "py2-none-any".into(),
                },
            ),
            (
                "foo-1.0-cp314-cp314td-manylinux_2_17_x86_64.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::OtherInterpreter {
                    tag: "cp314-cp314td-manylinux_2_17_x86_64".into(),
                },
            ),
            (
                "foo-1.0-cp313-none-any.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::OtherVersion {
                    abi: "cp313-none".into(),
                },
            ),
            (
                "foo-1.0-py315-none-any.whl",
                Py314t,
                LinuxX86_64,
                AbiMismatch::OtherVersion {
                    abi: "py315-none".into(),
                },
            ),
            (
                "foo-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl",
                Py315t,
                LinuxX86_64,
                AbiMismatch::OtherVersion {
                    abi: "cp314t".into(),
                },
            ),
        ];
        for (name, target, platform, why) in cases {
            assert_eq!(
                check(name, *target, *platform),
                Compatibility::WrongAbi(why.clone()),
                "{name} {target} {platform}"
            );
            assert!(!why.to_string().is_empty());
        }
    }

    #[test]
    fn other_platform_wheels() {
        let cases = [
            (
                "arro3_core-0.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                LinuxAarch64,
            ),
            (
                "arro3_core-0.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                MusllinuxX86_64,
            ),
            ("foo-1.0-cp314-cp314t-musllinux_1_2_x86_64.whl", LinuxX86_64),
            (
                "arro3_core-0.9.1-cp314-cp314t-macosx_11_0_arm64.whl",
                MacosX86_64,
            ),
            (
                "pydantic_core-2.50.4-cp314-cp314t-win_amd64.whl",
                WindowsArm64,
            ),
            ("foo-1.0-cp314-cp314t-win32.whl", WindowsAmd64),
            // Wrong ABI and wrong platform: the platform is reported.
            ("lxml-6.1.3-cp314-cp314-win_amd64.whl", LinuxX86_64),
        ];
        for (name, platform) in cases {
            assert_eq!(
                check(name, Py314t, platform),
                Compatibility::OtherPlatform,
                "{name} {platform}"
            );
        }
    }

    #[test]
    fn best_tag_is_reported() {
        let got = check(
            "foo-1.0-cp314.py3-cp314t.none-manylinux_2_17_x86_64.whl",
            Py314t,
            LinuxX86_64,
        );
        let Compatibility::Compatible { kind, tag } = got else {
            panic!("{got:?}")
        };
        assert_eq!(kind, MatchKind::FreeThreaded);
        assert_eq!(tag.to_string(), "cp314-cp314t-manylinux_2_17_x86_64");
    }

    #[test]
    fn real_wheels_match_their_targets() {
        // The oracle's wheels are all cp314t manylinux x86_64.
        let mut n = 0;
        let oracle = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/truth-cp314t-linux-x86_64.json"
        ))
        .expect("the runtime truth ships with the repository");
        {
            let text = oracle;
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for p in json["packages"].as_array().unwrap() {
                let name = p["wheel"].as_str().unwrap();
                let w = WheelFilename::parse(name).unwrap();
                assert_eq!(
                    w.normalized_name(),
                    super::super::normalize_name(p["package"].as_str().unwrap())
                );
                assert_eq!(w.version, p["version"].as_str().unwrap());
                assert!(
                    check_wheel(&w, Py314t, LinuxX86_64).is_compatible(),
                    "{name}"
                );
                assert_eq!(
                    check_wheel(&w, Py314t, LinuxAarch64),
                    Compatibility::OtherPlatform
                );
                assert_eq!(
                    check_wheel(&w, Py315t, LinuxX86_64),
                    Compatibility::WrongAbi(AbiMismatch::OtherVersion {
                        abi: "cp314t".into()
                    })
                );
                n += 1;
            }
        }
        assert!(n >= 72, "{n}");
    }

    #[test]
    #[ignore = "needs the wheels scripts/fetch-test-wheels.py downloads into $GILFREE_WHEELS"]
    fn downloaded_wheels_match_their_targets() {
        let root = std::env::var("GILFREE_WHEELS").unwrap_or_else(|_| "/tmp/gilfree-wheels".into());
        let mut n = 0;
        // The downloaded test wheels, by folder.
        let folders: [(&str, PythonTarget, &[Platform]); 5] = [
            ("linux-x86_64", Py314t, &[LinuxX86_64]),
            ("linux-aarch64", Py314t, &[LinuxAarch64]),
            ("macos-arm64", Py314t, &[MacosArm64]),
            ("win-amd64", Py314t, &[WindowsAmd64]),
            ("cp315", Py315t, &[LinuxX86_64]),
        ];
        for (folder, target, platforms) in folders {
            let Ok(dir) = std::fs::read_dir(format!("{root}/{folder}")) else {
                continue;
            };
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let w = WheelFilename::parse(&name).unwrap();
                for p in platforms {
                    assert!(check_wheel(&w, target, *p).is_compatible(), "{name} {p}");
                }
                assert!(!check_wheel(&w, PythonTarget::Py313t, platforms[0]).is_compatible());
                n += 1;
            }
        }
        assert!(
            n > 0,
            "no wheels under {root}: run scripts/fetch-test-wheels.py first"
        );
    }
}
