//! PEP 508 environment markers evaluated for a target interpreter and platform, not for the
//! machine gilfree runs on.
//!
//! A [`Target`] is a CPython version (`3.14t`, `3.13`, `3.14.1t`) and a platform such as
//! `linux-x86_64`, `windows-amd64` or `macos-arm64`; it fills every marker variable the way
//! that interpreter on that platform would. Parsing and evaluation are `pep508_rs`'s.

use std::fmt;
use std::str::FromStr;

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree};

/// The operating systems a target can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Linux,
    Windows,
    Macos,
}

/// A CPython interpreter on a platform, for which markers are evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `major.minor.micro`, such as `3.14.0`.
    pub python_full_version: String,
    /// Whether the interpreter is a free-threaded build (`3.14t`).
    pub free_threaded: bool,
    pub os: Os,
    /// The machine as `platform.machine()` reports it there (`x86_64`, `AMD64`, `arm64`).
    pub machine: String,
    env: MarkerEnvironment,
}

/// Why a target could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unknown Python version {0:?} (expected like 3.14t, 3.13 or 3.14.1t)")]
    Python(String),
    #[error(
        "unknown platform {0:?} (expected <os>-<machine> with os linux, windows or macos, like linux-x86_64, windows-amd64, macos-arm64)"
    )]
    Platform(String),
}

impl Target {
    /// A target from a Python version (`3.14t`) and a platform (`linux-x86_64`).
    pub fn new(python: &str, platform: &str) -> Result<Target, TargetError> {
        let bad_python = || TargetError::Python(python.to_string());
        let (digits, free_threaded) = match python.trim().strip_suffix('t') {
            Some(d) => (d, true),
            None => (python.trim(), false),
        };
        let parts: Vec<&str> = digits.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad_python());
        }
        let full = if parts.len() == 2 {
            format!("{digits}.0")
        } else {
            digits.to_string()
        };
        let short = format!("{}.{}", parts[0], parts[1]);

        let bad_platform = || TargetError::Platform(platform.to_string());
        let lower = platform.trim().to_ascii_lowercase();
        let (os_part, machine_part) = lower.split_once(['-', '_']).ok_or_else(bad_platform)?;
        let os = match os_part {
            "linux" | "manylinux" | "musllinux" => Os::Linux,
            "windows" | "win" | "win32" => Os::Windows,
            "macos" | "darwin" | "macosx" | "osx" => Os::Macos,
            _ => return Err(bad_platform()),
        };
        let machine = match (os, machine_part) {
            (Os::Windows, "amd64" | "x86_64" | "x64") => "AMD64",
            (Os::Windows, "arm64" | "aarch64") => "ARM64",
            (Os::Windows, "x86" | "i686" | "win32") => "x86",
            (Os::Macos, "arm64" | "aarch64") => "arm64",
            (Os::Macos, "x86_64" | "amd64") => "x86_64",
            (Os::Linux, "x86_64" | "amd64") => "x86_64",
            (Os::Linux, "aarch64" | "arm64") => "aarch64",
            (Os::Linux, "i686" | "x86") => "i686",
            (Os::Linux, "ppc64le" | "s390x" | "armv7l" | "riscv64") => machine_part,
            _ => return Err(bad_platform()),
        }
        .to_string();
        let (sys_platform, platform_system, os_name) = match os {
            Os::Linux => ("linux", "Linux", "posix"),
            Os::Windows => ("win32", "Windows", "nt"),
            Os::Macos => ("darwin", "Darwin", "posix"),
        };
        let env = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: &machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system,
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform,
        })
        .map_err(|_| bad_python())?;
        Ok(Target {
            python_full_version: full,
            free_threaded,
            os,
            machine,
            env,
        })
    }

    /// The marker environment this target stands for.
    pub fn environment(&self) -> &MarkerEnvironment {
        &self.env
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let os = match self.os {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
        };
        let t = if self.free_threaded { "t" } else { "" };
        write!(
            f,
            "{}{t} on {os}-{}",
            self.python_full_version,
            self.machine.to_ascii_lowercase()
        )
    }
}

/// Evaluates `marker` for `target`, with `extras` as the extras asked for. Errors describe
/// a marker that does not parse.
pub fn evaluate(marker: &str, target: &Target, extras: &[&str]) -> Result<bool, String> {
    let tree = MarkerTree::from_str(marker.trim())
        .map_err(|e| format!("invalid environment marker {marker:?}: {e}"))?;
    let extras: Vec<pep508_rs::ExtraName> = extras
        .iter()
        .map(|e| pep508_rs::ExtraName::from_str(e).map_err(|err| format!("extra {e:?}: {err}")))
        .collect::<Result<_, _>>()?;
    Ok(tree.evaluate(&target.env, &extras))
}

/// Whether `marker` holds for `target` with no extras. The parsers only store markers that
/// parse; a marker that does not parse counts as holding, so nothing is dropped silently.
pub fn applies(marker: &str, target: &Target) -> bool {
    evaluate(marker, target, &[]).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_targets() {
        let t = Target::new("3.14t", "linux-x86_64").unwrap();
        assert!(t.free_threaded);
        assert_eq!(t.python_full_version, "3.14.0");
        assert_eq!(t.machine, "x86_64");
        assert_eq!(
            Target::new("3.13.2", "windows-amd64").unwrap().machine,
            "AMD64"
        );
        assert_eq!(Target::new("3.14t", "macos-arm64").unwrap().os, Os::Macos);
        for (py, plat) in [
            ("3", "linux-x86_64"),
            ("3.x", "linux-x86_64"),
            ("3.14t", "beos-x86_64"),
            ("3.14t", "linux"),
            ("3.14t", "macos-sparc"),
        ] {
            assert!(Target::new(py, plat).is_err(), "{py} {plat}");
        }
    }

    #[test]
    fn evaluates_for_the_target() {
        let linux = Target::new("3.14t", "linux-x86_64").unwrap();
        let windows = Target::new("3.13t", "windows-amd64").unwrap();
        let mac = Target::new("3.14t", "macos-arm64").unwrap();
        // (marker, linux 3.14, windows 3.13, macos 3.14)
        let table = [
            ("sys_platform == 'win32'", false, true, false),
            ("sys_platform != 'win32'", true, false, true),
            ("platform_system == 'Linux'", true, false, false),
            ("os_name == 'nt'", false, true, false),
            ("platform_machine == 'x86_64'", true, false, false),
            ("platform_machine == 'AMD64'", false, true, false),
            ("platform_machine == 'arm64'", false, false, true),
            ("python_version >= '3.14'", true, false, true),
            ("python_full_version < '3.13.1'", false, true, false),
            ("implementation_name == 'cpython'", true, true, true),
            ("platform_python_implementation != 'PyPy'", true, true, true),
            (
                "sys_platform == 'darwin' and python_version < '3.15'",
                false,
                false,
                true,
            ),
            ("extra == 'dev'", false, false, false),
        ];
        for (marker, l, w, m) in table {
            assert_eq!(applies(marker, &linux), l, "{marker} on linux");
            assert_eq!(applies(marker, &windows), w, "{marker} on windows");
            assert_eq!(applies(marker, &mac), m, "{marker} on macos");
        }
        assert!(evaluate("extra == 'dev'", &linux, &["dev"]).unwrap());
        assert!(evaluate("python_version >>> '3'", &linux, &[]).is_err());
    }
}
