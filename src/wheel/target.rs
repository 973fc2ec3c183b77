//! Targets: the free-threaded interpreters (`3.13t`, `3.14t`, `3.15t`) and the platforms
//! (`linux-x86_64`, `macos-arm64`, `windows-amd64`, …) that gilfree reasons about, with the
//! names, tags and extension-module suffixes each one implies.

use std::fmt;
use std::str::FromStr;

use crate::inspect::Arch;

use super::WheelError;

/// A free-threaded CPython interpreter version (`--python`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PythonTarget {
    /// CPython 3.13, free-threaded build.
    Py313t,
    /// CPython 3.14, free-threaded build (the default target).
    Py314t,
    /// CPython 3.15, free-threaded build (adds `abi3t` and `PyModExport_*`).
    Py315t,
}

impl PythonTarget {
    /// Every supported target, oldest first.
    pub const ALL: [PythonTarget; 3] = [Self::Py313t, Self::Py314t, Self::Py315t];

    /// The minor version: 13, 14 or 15.
    pub fn minor(self) -> u32 {
        match self {
            Self::Py313t => 13,
            Self::Py314t => 14,
            Self::Py315t => 15,
        }
    }

    /// The version as `(major, minor)`, e.g. `(3, 14)`.
    pub fn version(self) -> (u32, u32) {
        (3, self.minor())
    }

    /// The target for a minor version (13, 14, 15), if supported.
    pub fn from_minor(minor: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.minor() == minor)
    }

    /// The interpreter tag of wheel file names, e.g. `cp314`.
    pub fn cp_tag(self) -> String {
        format!("cp3{}", self.minor())
    }

    /// The free-threaded ABI tag of wheel file names, e.g. `cp314t`.
    pub fn abi_tag(self) -> String {
        format!("cp3{}t", self.minor())
    }

    /// The version part of the extension suffix, e.g. `cpython-314t`.
    pub fn soabi_prefix(self) -> String {
        format!("cpython-3{}t", self.minor())
    }

    /// Whether this interpreter loads `abi3t` extensions and selects `abi3t` wheels (3.15+).
    pub fn supports_abi3t(self) -> bool {
        self.minor() >= 15
    }

    /// Whether this interpreter looks for `PyModExport_<name>` before `PyInit_<name>` (3.15+).
    pub fn supports_mod_export(self) -> bool {
        self.minor() >= 15
    }

    /// The file-name suffixes this interpreter tries for an extension module on `platform`,
    /// in the order it tries them (the first existing file wins).
    ///
    /// Linux 3.14t x86_64: `.cpython-314t-x86_64-linux-gnu.so`, `.abi3.so`, `.so`;
    /// 3.15t: `.cpython-315t-<multiarch>.so`, `.abi3t-<multiarch>.so`, `.abi3t.so`, `.so`;
    /// Windows: `.cp314t-win_amd64.pyd`, `.pyd`.
    pub fn extension_suffixes(self, platform: Platform) -> Vec<String> {
        match platform.os() {
            OsFamily::Windows => vec![
                format!(".cp3{}t-{}.pyd", self.minor(), platform.pyd_tag()),
                ".pyd".to_string(),
            ],
            OsFamily::Linux | OsFamily::MacOs => {
                let multiarch = platform.multiarch();
                let mut suffixes = vec![format!(".{}-{}.so", self.soabi_prefix(), multiarch)];
                if self.supports_abi3t() {
                    suffixes.push(format!(".abi3t-{multiarch}.so"));
                    suffixes.push(".abi3t.so".to_string());
                } else {
                    // 3.13t and 3.14t still try `.abi3.so` (python/cpython#120901), although
                    // no abi3 extension can have been built for a free-threaded ABI.
                    suffixes.push(".abi3.so".to_string());
                }
                suffixes.push(".so".to_string());
                suffixes
            }
        }
    }
}

impl fmt::Display for PythonTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{}t", self.minor())
    }
}

impl FromStr for PythonTarget {
    type Err = WheelError;

    /// Accepts `3.14t`, `314t` and `cp314t` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || WheelError::UnknownPythonTarget {
            value: s.to_string(),
        };
        let lower = s.trim().to_ascii_lowercase();
        let rest = lower.strip_suffix('t').ok_or_else(err)?;
        let rest = rest.strip_prefix("cp").unwrap_or(rest);
        let minor = if let Some(minor) = rest.strip_prefix("3.") {
            minor
        } else if let Some(minor) = rest.strip_prefix('3') {
            minor
        } else {
            return Err(err());
        };
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        minor
            .parse()
            .ok()
            .and_then(Self::from_minor)
            .ok_or_else(err)
    }
}

/// The operating-system family of a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OsFamily {
    /// Linux, glibc (manylinux) or musl (musllinux).
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
}

/// A platform a wheel can be built for (`--platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// glibc Linux on x86-64 (`manylinux_*_x86_64`).
    LinuxX86_64,
    /// glibc Linux on 64-bit ARM (`manylinux_*_aarch64`).
    LinuxAarch64,
    /// glibc Linux on 32-bit x86 (`manylinux_*_i686`).
    LinuxI686,
    /// glibc Linux on little-endian POWER (`manylinux_*_ppc64le`).
    LinuxPpc64le,
    /// glibc Linux on IBM Z (`manylinux_*_s390x`).
    LinuxS390x,
    /// glibc Linux on 32-bit ARM, hard float (`manylinux_*_armv7l`).
    LinuxArmv7l,
    /// glibc Linux on RISC-V 64 (`manylinux_*_riscv64`).
    LinuxRiscv64,
    /// musl Linux on x86-64 (`musllinux_*_x86_64`).
    MusllinuxX86_64,
    /// musl Linux on 64-bit ARM (`musllinux_*_aarch64`).
    MusllinuxAarch64,
    /// macOS on Apple silicon (`macosx_*_arm64`, `universal2`).
    MacosArm64,
    /// macOS on Intel (`macosx_*_x86_64`, `universal2`, `intel`, …).
    MacosX86_64,
    /// Windows on x86-64 (`win_amd64`).
    WindowsAmd64,
    /// Windows on 64-bit ARM (`win_arm64`).
    WindowsArm64,
    /// Windows on 32-bit x86 (`win32`).
    WindowsX86,
}

impl Platform {
    /// The platforms most people deploy on, whose readiness makes a project's headline
    /// (the site, the badges, the first-ready search of the crawl).
    pub const MAIN: [Platform; 4] = [
        Self::LinuxX86_64,
        Self::LinuxAarch64,
        Self::MacosArm64,
        Self::WindowsAmd64,
    ];

    /// Every supported platform.
    pub const ALL: [Platform; 14] = [
        Self::LinuxX86_64,
        Self::LinuxAarch64,
        Self::LinuxI686,
        Self::LinuxPpc64le,
        Self::LinuxS390x,
        Self::LinuxArmv7l,
        Self::LinuxRiscv64,
        Self::MusllinuxX86_64,
        Self::MusllinuxAarch64,
        Self::MacosArm64,
        Self::MacosX86_64,
        Self::WindowsAmd64,
        Self::WindowsArm64,
        Self::WindowsX86,
    ];

    /// The command-line name, e.g. `linux-x86_64`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinuxX86_64 => "linux-x86_64",
            Self::LinuxAarch64 => "linux-aarch64",
            Self::LinuxI686 => "linux-i686",
            Self::LinuxPpc64le => "linux-ppc64le",
            Self::LinuxS390x => "linux-s390x",
            Self::LinuxArmv7l => "linux-armv7l",
            Self::LinuxRiscv64 => "linux-riscv64",
            Self::MusllinuxX86_64 => "musllinux-x86_64",
            Self::MusllinuxAarch64 => "musllinux-aarch64",
            Self::MacosArm64 => "macos-arm64",
            Self::MacosX86_64 => "macos-x86_64",
            Self::WindowsAmd64 => "windows-amd64",
            Self::WindowsArm64 => "windows-arm64",
            Self::WindowsX86 => "windows-x86",
        }
    }

    /// The operating-system family.
    pub fn os(self) -> OsFamily {
        match self {
            Self::MacosArm64 | Self::MacosX86_64 => OsFamily::MacOs,
            Self::WindowsAmd64 | Self::WindowsArm64 | Self::WindowsX86 => OsFamily::Windows,
            _ => OsFamily::Linux,
        }
    }

    /// The CPU architecture, in the binary model's terms (`Arm` is 32-bit ARM, `Ppc64` covers
    /// ppc64le).
    pub fn arch(self) -> Arch {
        match self {
            Self::LinuxX86_64 | Self::MusllinuxX86_64 | Self::MacosX86_64 | Self::WindowsAmd64 => {
                Arch::X86_64
            }
            Self::LinuxAarch64 | Self::MusllinuxAarch64 | Self::MacosArm64 | Self::WindowsArm64 => {
                Arch::Aarch64
            }
            Self::LinuxI686 | Self::WindowsX86 => Arch::X86,
            Self::LinuxPpc64le => Arch::Ppc64,
            Self::LinuxS390x => Arch::S390x,
            Self::LinuxArmv7l => Arch::Arm,
            Self::LinuxRiscv64 => Arch::Riscv64,
        }
    }

    /// Whether this is a musl libc Linux platform (musllinux wheels).
    pub fn is_musl(self) -> bool {
        matches!(self, Self::MusllinuxX86_64 | Self::MusllinuxAarch64)
    }

    /// The architecture as spelled at the end of Linux and macOS wheel platform tags
    /// (`x86_64`, `aarch64`, `i686`, `ppc64le`, `s390x`, `armv7l`, `riscv64`, `arm64`), or
    /// the Windows tag (`win_amd64`, `win_arm64`, `win32`).
    pub fn tag_arch(self) -> &'static str {
        match self {
            Self::LinuxX86_64 | Self::MusllinuxX86_64 | Self::MacosX86_64 => "x86_64",
            Self::LinuxAarch64 | Self::MusllinuxAarch64 => "aarch64",
            Self::LinuxI686 => "i686",
            Self::LinuxPpc64le => "ppc64le",
            Self::LinuxS390x => "s390x",
            Self::LinuxArmv7l => "armv7l",
            Self::LinuxRiscv64 => "riscv64",
            Self::MacosArm64 => "arm64",
            Self::WindowsAmd64 | Self::WindowsArm64 | Self::WindowsX86 => self.pyd_tag(),
        }
    }

    /// The platform part of CPython's extension suffix on Linux and macOS: the multiarch
    /// triplet (`x86_64-linux-gnu`, `x86_64-linux-musl`, `arm-linux-gnueabihf`, …) or
    /// `darwin`. On Windows, the `.pyd` platform tag (`win_amd64`).
    pub fn multiarch(self) -> &'static str {
        match self {
            Self::LinuxX86_64 => "x86_64-linux-gnu",
            Self::LinuxAarch64 => "aarch64-linux-gnu",
            Self::LinuxI686 => "i386-linux-gnu",
            Self::LinuxPpc64le => "powerpc64le-linux-gnu",
            Self::LinuxS390x => "s390x-linux-gnu",
            Self::LinuxArmv7l => "arm-linux-gnueabihf",
            Self::LinuxRiscv64 => "riscv64-linux-gnu",
            Self::MusllinuxX86_64 => "x86_64-linux-musl",
            Self::MusllinuxAarch64 => "aarch64-linux-musl",
            Self::MacosArm64 | Self::MacosX86_64 => "darwin",
            Self::WindowsAmd64 | Self::WindowsArm64 | Self::WindowsX86 => self.pyd_tag(),
        }
    }

    /// The platform tag inside a Windows `.pyd` suffix (`win_amd64`, `win_arm64`, `win32`);
    /// for other platforms, the same as [`Platform::multiarch`].
    pub fn pyd_tag(self) -> &'static str {
        match self {
            Self::WindowsAmd64 => "win_amd64",
            Self::WindowsArm64 => "win_arm64",
            Self::WindowsX86 => "win32",
            _ => self.multiarch(),
        }
    }

    /// The platform whose CPython extension-suffix platform part is `multiarch`
    /// (`x86_64-linux-gnu`, `win_amd64`, …). `darwin` names both macOS platforms and gives
    /// `None`, as does an unknown triplet.
    pub fn from_multiarch(multiarch: &str) -> Option<Self> {
        let mut found = Self::ALL.into_iter().filter(|p| p.multiarch() == multiarch);
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some(first)
    }

    /// The platforms a wheel platform tag can be installed on, from every tag family:
    /// `manylinux1/2010/2014_<arch>`, `manylinux_X_Y_<arch>`, `musllinux_X_Y_<arch>`,
    /// `linux_<arch>`, `macosx_X_Y_{arm64,x86_64,universal2,universal,intel,…}`, `win32`,
    /// `win_amd64`, `win_arm64`, `any`. Empty for tags of other platforms (`ios_…`,
    /// `android_…`, `pyodide_…`, …) and for malformed tags.
    pub fn from_tag(tag: &str) -> Vec<Platform> {
        super::tags::PlatformTag::parse(tag).platforms()
    }

    /// Whether a wheel with platform tag `tag` installs on this platform.
    pub fn matches_tag(self, tag: &str) -> bool {
        Self::from_tag(tag).contains(&self)
    }

    fn expected_names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Platform {
    type Err = WheelError;

    /// Accepts the names of [`Platform::name`] (any case), plus the aliases `linux-amd64`,
    /// `linux-arm64`, `macos-aarch64`, `windows-x86_64`, `windows-aarch64`, `windows-x86_32`,
    /// `win-amd64`, `win-arm64`, `win32`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(p) = Self::ALL.into_iter().find(|p| p.name() == lower) {
            return Ok(p);
        }
        let alias = match lower.as_str() {
            "linux-amd64" | "manylinux-x86_64" => Some(Self::LinuxX86_64),
            "linux-arm64" | "manylinux-aarch64" => Some(Self::LinuxAarch64),
            "musllinux-arm64" => Some(Self::MusllinuxAarch64),
            "macos-aarch64" => Some(Self::MacosArm64),
            "windows-x86_64" | "win-amd64" => Some(Self::WindowsAmd64),
            "windows-aarch64" | "win-arm64" => Some(Self::WindowsArm64),
            "windows-x86_32" | "windows-i686" | "win32" => Some(Self::WindowsX86),
            _ => None,
        };
        if let Some(p) = alias {
            return Ok(p);
        }
        // A wheel platform tag (`manylinux_2_28_x86_64`, `macosx_11_0_arm64`, `win_amd64`)
        // names its platform family; a tag that fits several (`universal2`, `any`) does not
        // name one.
        let unknown = || WheelError::UnknownPlatform {
            value: s.to_string(),
            expected: Self::expected_names(),
        };
        if lower == "any" {
            return Err(unknown());
        }
        match Self::from_tag(&lower).as_slice() {
            [one] => Ok(*one),
            [] => Err(unknown()),
            several => Err(WheelError::AmbiguousPlatform {
                value: s.to_string(),
                platforms: several
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

impl Platform {
    /// The platform gilfree itself runs on, as a wheel platform; `None` on an operating
    /// system or architecture no wheel platform names (FreeBSD, ...).
    pub fn host() -> Option<Platform> {
        Self::for_host(std::env::consts::OS, std::env::consts::ARCH, host_is_musl())
    }

    /// The platform of an operating system and architecture as Rust names them
    /// (`std::env::consts`), musl or glibc on Linux.
    pub fn for_host(os: &str, arch: &str, musl: bool) -> Option<Platform> {
        use Platform::*;
        Some(match (os, arch, musl) {
            ("linux", "x86_64", false) => LinuxX86_64,
            ("linux", "x86_64", true) => MusllinuxX86_64,
            ("linux", "aarch64", false) => LinuxAarch64,
            ("linux", "aarch64", true) => MusllinuxAarch64,
            ("linux", "x86", false) => LinuxI686,
            ("linux", "powerpc64", false) => LinuxPpc64le,
            ("linux", "s390x", false) => LinuxS390x,
            ("linux", "arm", false) => LinuxArmv7l,
            ("linux", "riscv64", false) => LinuxRiscv64,
            ("macos", "aarch64", _) => MacosArm64,
            ("macos", "x86_64", _) => MacosX86_64,
            ("windows", "x86_64", _) => WindowsAmd64,
            ("windows", "aarch64", _) => WindowsArm64,
            ("windows", "x86", _) => WindowsX86,
            _ => return None,
        })
    }
}

/// Whether this Linux system runs musl: a gilfree built for musl may run on a glibc
/// system (it is static), so the system's own loader tells.
fn host_is_musl() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    if cfg!(target_env = "musl") {
        let has_musl_loader = std::fs::read_dir("/lib").is_ok_and(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
        });
        return has_musl_loader;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_from_names_aliases_and_wheel_tags() {
        use Platform::*;
        let cases: [(&str, Result<Platform, &str>); 13] = [
            ("linux-x86_64", Ok(LinuxX86_64)),
            ("Linux-AArch64", Ok(LinuxAarch64)),
            ("win-amd64", Ok(WindowsAmd64)),
            ("manylinux_2_28_x86_64", Ok(LinuxX86_64)),
            ("manylinux2014_aarch64", Ok(LinuxAarch64)),
            ("musllinux_1_2_x86_64", Ok(MusllinuxX86_64)),
            ("macosx_11_0_arm64", Ok(MacosArm64)),
            ("macosx_10_12_x86_64", Ok(MacosX86_64)),
            ("win_amd64", Ok(WindowsAmd64)),
            ("win32", Ok(WindowsX86)),
            ("macosx_11_0_universal2", Err("names several platforms")),
            ("any", Err("unknown platform")),
            ("freebsd_14_x86_64", Err("unknown platform")),
        ];
        for (given, want) in cases {
            match (given.parse::<Platform>(), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{given}"),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{given}: {e}"),
                (got, want) => panic!("{given}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_host_platform_comes_from_the_os_and_architecture() {
        use Platform::*;
        let cases = [
            ("linux", "x86_64", false, Some(LinuxX86_64)),
            ("linux", "x86_64", true, Some(MusllinuxX86_64)),
            ("linux", "aarch64", false, Some(LinuxAarch64)),
            ("macos", "aarch64", false, Some(MacosArm64)),
            ("windows", "x86_64", false, Some(WindowsAmd64)),
            ("windows", "x86", false, Some(WindowsX86)),
            ("freebsd", "x86_64", false, None),
        ];
        for (os, arch, musl, want) in cases {
            assert_eq!(
                Platform::for_host(os, arch, musl),
                want,
                "{os} {arch} {musl}"
            );
        }
        assert!(
            Platform::host().is_some(),
            "the tests run on a wheel platform"
        );
    }

    #[test]
    fn python_targets_parse_and_display() {
        let cases = [
            ("3.13t", Some(PythonTarget::Py313t)),
            ("3.14t", Some(PythonTarget::Py314t)),
            ("3.15t", Some(PythonTarget::Py315t)),
            ("3.14T", Some(PythonTarget::Py314t)),
            ("cp314t", Some(PythonTarget::Py314t)),
            ("315t", Some(PythonTarget::Py315t)),
            ("3.14", None),
            ("3.12t", None),
            ("3.16t", None),
            ("2.7t", None),
            ("3.t", None),
            ("t", None),
            ("", None),
            ("3.1x4t", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<PythonTarget>().ok();
            assert_eq!(got, want, "{input}");
            if let Some(t) = got {
                assert_eq!(t.to_string().parse::<PythonTarget>().unwrap(), t);
            }
        }
        let err = "3.14".parse::<PythonTarget>().unwrap_err().to_string();
        assert!(err.contains("\"3.14\""), "{err}");
    }

    #[test]
    fn python_target_tags() {
        let t = PythonTarget::Py314t;
        assert_eq!(t.to_string(), "3.14t");
        assert_eq!(t.cp_tag(), "cp314");
        assert_eq!(t.abi_tag(), "cp314t");
        assert_eq!(t.version(), (3, 14));
        assert_eq!(t.soabi_prefix(), "cpython-314t");
        assert!(!t.supports_abi3t());
        assert!(PythonTarget::Py315t.supports_abi3t());
        assert!(PythonTarget::Py315t.supports_mod_export());
        assert!(!PythonTarget::Py313t.supports_mod_export());
    }

    #[test]
    fn suffix_tables() {
        use PythonTarget::*;
        let cases: &[(PythonTarget, Platform, &[&str])] = &[
            (
                Py314t,
                Platform::LinuxX86_64,
                &[".cpython-314t-x86_64-linux-gnu.so", ".abi3.so", ".so"],
            ),
            (
                Py313t,
                Platform::LinuxAarch64,
                &[".cpython-313t-aarch64-linux-gnu.so", ".abi3.so", ".so"],
            ),
            (
                Py314t,
                Platform::MusllinuxX86_64,
                &[".cpython-314t-x86_64-linux-musl.so", ".abi3.so", ".so"],
            ),
            (
                Py315t,
                Platform::LinuxX86_64,
                &[
                    ".cpython-315t-x86_64-linux-gnu.so",
                    ".abi3t-x86_64-linux-gnu.so",
                    ".abi3t.so",
                    ".so",
                ],
            ),
            (
                Py314t,
                Platform::MacosArm64,
                &[".cpython-314t-darwin.so", ".abi3.so", ".so"],
            ),
            (
                Py315t,
                Platform::MacosX86_64,
                &[
                    ".cpython-315t-darwin.so",
                    ".abi3t-darwin.so",
                    ".abi3t.so",
                    ".so",
                ],
            ),
            (
                Py314t,
                Platform::WindowsAmd64,
                &[".cp314t-win_amd64.pyd", ".pyd"],
            ),
            (Py313t, Platform::WindowsX86, &[".cp313t-win32.pyd", ".pyd"]),
            (
                Py315t,
                Platform::WindowsArm64,
                &[".cp315t-win_arm64.pyd", ".pyd"],
            ),
            (
                Py314t,
                Platform::LinuxArmv7l,
                &[".cpython-314t-arm-linux-gnueabihf.so", ".abi3.so", ".so"],
            ),
            (
                Py314t,
                Platform::LinuxI686,
                &[".cpython-314t-i386-linux-gnu.so", ".abi3.so", ".so"],
            ),
        ];
        for (target, platform, want) in cases {
            assert_eq!(
                target.extension_suffixes(*platform),
                *want,
                "{target} {platform}"
            );
        }
    }

    #[test]
    fn platforms_parse_and_display() {
        for p in Platform::ALL {
            assert_eq!(p.name().parse::<Platform>().unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        let aliases = [
            ("linux-amd64", Platform::LinuxX86_64),
            ("LINUX-X86_64", Platform::LinuxX86_64),
            ("macos-aarch64", Platform::MacosArm64),
            ("windows-x86_64", Platform::WindowsAmd64),
            ("win32", Platform::WindowsX86),
        ];
        for (name, want) in aliases {
            assert_eq!(name.parse::<Platform>().unwrap(), want, "{name}");
        }
        let err = "solaris-sparc".parse::<Platform>().unwrap_err().to_string();
        assert!(err.contains("\"solaris-sparc\"") && err.contains("linux-x86_64"));
    }

    #[test]
    fn platform_properties() {
        let cases = [
            (
                Platform::LinuxX86_64,
                OsFamily::Linux,
                Arch::X86_64,
                false,
                "x86_64",
            ),
            (
                Platform::MusllinuxAarch64,
                OsFamily::Linux,
                Arch::Aarch64,
                true,
                "aarch64",
            ),
            (
                Platform::LinuxPpc64le,
                OsFamily::Linux,
                Arch::Ppc64,
                false,
                "ppc64le",
            ),
            (
                Platform::LinuxArmv7l,
                OsFamily::Linux,
                Arch::Arm,
                false,
                "armv7l",
            ),
            (
                Platform::MacosArm64,
                OsFamily::MacOs,
                Arch::Aarch64,
                false,
                "arm64",
            ),
            (
                Platform::WindowsX86,
                OsFamily::Windows,
                Arch::X86,
                false,
                "win32",
            ),
            (
                Platform::WindowsArm64,
                OsFamily::Windows,
                Arch::Aarch64,
                false,
                "win_arm64",
            ),
        ];
        for (p, os, arch, musl, tag_arch) in cases {
            assert_eq!(p.os(), os, "{p}");
            assert_eq!(p.arch(), arch, "{p}");
            assert_eq!(p.is_musl(), musl, "{p}");
            assert_eq!(p.tag_arch(), tag_arch, "{p}");
        }
    }

    #[test]
    fn from_multiarch() {
        assert_eq!(
            Platform::from_multiarch("x86_64-linux-gnu"),
            Some(Platform::LinuxX86_64)
        );
        assert_eq!(
            Platform::from_multiarch("aarch64-linux-musl"),
            Some(Platform::MusllinuxAarch64)
        );
        assert_eq!(
            Platform::from_multiarch("win_amd64"),
            Some(Platform::WindowsAmd64)
        );
        assert_eq!(Platform::from_multiarch("darwin"), None);
        assert_eq!(Platform::from_multiarch("sparc-sun-solaris"), None);
    }
}
