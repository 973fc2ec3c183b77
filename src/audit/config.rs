//! What an audit is for, and where each choice came from: the interpreters, the platforms,
//! the readiness values that fail it and the packages it ignores, from the defaults, then
//! `[tool.gilfree]` of the nearest `pyproject.toml`, then the environment
//! (`GILFREE_PYTHON`, `GILFREE_PLATFORM`, `GILFREE_FAIL_ON`), then the command line; each
//! later source replaces what an earlier one said (the ignore lists add up).
//!
//! The default platform is the one gilfree runs on, as `uv pip compile` resolves for the
//! machine it runs on; `all` means every platform a dependency has wheels for.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Deserialize;

use crate::cli::{FailOnArg, PlatformArg, platforms_of};
use crate::scan::Readiness;
use crate::wheel::{Platform, PythonTarget};

/// The readiness values that fail an audit unless told otherwise.
pub const DEFAULT_FAIL_ON: [Readiness; 4] = [
    Readiness::GilFallback,
    Readiness::NoWheel,
    Readiness::PythonExcluded,
    Readiness::Unknown,
];

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// gilfree's own default.
    Default,
    /// The platform gilfree runs on (the default platform).
    Host,
    /// `[tool.gilfree]` of this `pyproject.toml`.
    File(PathBuf),
    /// This environment variable.
    Env(&'static str),
    /// This command-line option.
    CommandLine(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Host => f.write_str("the platform gilfree runs on"),
            Origin::File(path) => write!(f, "[tool.gilfree] in {}", path.display()),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::CommandLine(opt) => f.write_str(opt),
        }
    }
}

/// A package the audit reports but never fails on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    /// Normalized project name.
    pub name: String,
    pub reason: String,
    pub origin: Origin,
}

/// Everything an audit is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub pythons: Vec<PythonTarget>,
    pub pythons_from: Origin,
    /// Empty: every platform a dependency has wheels for.
    pub platforms: Vec<Platform>,
    pub platforms_from: Origin,
    pub fail_on: Vec<Readiness>,
    pub fail_on_from: Origin,
    pub ignore: Vec<Ignore>,
    /// The `pyproject.toml` whose `[tool.gilfree]` was read.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Settings given directly (as on the command line), ignoring nothing.
    pub fn new(
        pythons: Vec<PythonTarget>,
        platforms: Vec<Platform>,
        fail_on: Vec<Readiness>,
    ) -> Self {
        Settings {
            pythons,
            pythons_from: Origin::CommandLine("--python"),
            platforms,
            platforms_from: Origin::CommandLine("--platform"),
            fail_on,
            fail_on_from: Origin::CommandLine("--fail-on"),
            ignore: Vec::new(),
            config_file: None,
        }
    }

    /// The reason `name` is ignored, if it is.
    pub fn ignored(&self, name: &str) -> Option<&Ignore> {
        self.ignore.iter().find(|i| i.name == name)
    }

    /// One line saying what is audited and why: "3.14t on linux-x86_64 (platform: the
    /// platform gilfree runs on; --platform all for every platform)".
    pub fn describe(&self) -> String {
        let mut why = Vec::new();
        if self.pythons_from != Origin::Default {
            why.push(format!("python from {}", self.pythons_from));
        }
        if self.platforms_from == Origin::Host {
            why.push("the platform gilfree runs on; --platform all for every platform".into());
        } else {
            why.push(format!("platform from {}", self.platforms_from));
        }
        format!("{} ({})", self.targets(), why.join("; "))
    }

    /// What is audited, in a few words: "3.14t on linux-x86_64", "3.14t on every platform
    /// with wheels".
    pub fn targets(&self) -> String {
        use super::group::and_list;
        let pythons: Vec<String> = self.pythons.iter().map(|p| p.to_string()).collect();
        let platforms: Vec<String> = self.platforms.iter().map(|p| p.to_string()).collect();
        let platforms = if platforms.is_empty() {
            "every platform with wheels".to_string()
        } else {
            and_list(&platforms)
        };
        format!("{} on {platforms}", and_list(&pythons))
    }
}

/// What the command line said (empty: nothing).
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub pythons: Vec<PythonTarget>,
    pub platforms: Vec<PlatformArg>,
    pub fail_on: Vec<FailOnArg>,
    /// `NAME` or `NAME=REASON`.
    pub ignore: Vec<String>,
}

/// Why the settings could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: [tool.gilfree]: {message}")]
    File { file: PathBuf, message: String },
    #[error("${var}: {message}")]
    Env { var: &'static str, message: String },
    #[error(
        "gilfree runs on {os}-{arch}, which no wheel platform names: give --platform (or `all`)"
    )]
    NoHostPlatform { os: String, arch: String },
}

/// `[tool.gilfree]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ToolTable {
    python: Option<OneOrMany>,
    platform: Option<OneOrMany>,
    fail_on: Option<OneOrMany>,
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => s.split(',').map(str::trim).collect(),
            OneOrMany::Many(v) => v.iter().map(|s| s.trim()).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreEntry {
    name: String,
    reason: String,
}

/// The nearest `pyproject.toml` with a `[tool.gilfree]` table, from `start` up to the root.
pub fn find_config(start: &Path) -> Result<Option<(PathBuf, String)>, ConfigError> {
    for dir in start.ancestors() {
        let file = dir.join("pyproject.toml");
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        if has_tool_table(&text) {
            return Ok(Some((file, text)));
        }
    }
    Ok(None)
}

/// Whether a pyproject.toml has `[tool.gilfree]` (a file that does not parse as TOML has
/// none; its own parser says what is wrong when it is audited).
fn has_tool_table(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("tool")?.get("gilfree").cloned())
        .is_some()
}

/// The settings from every source; `config` is the file found by [`find_config`], `env`
/// reads an environment variable, `host` is the platform gilfree runs on.
pub fn resolve(
    cli: &CommandLine,
    env: &dyn Fn(&str) -> Option<String>,
    config: Option<(&Path, &str)>,
    host: Option<Platform>,
) -> Result<Settings, ConfigError> {
    let mut settings = Settings {
        pythons: vec![PythonTarget::Py314t],
        pythons_from: Origin::Default,
        platforms: Vec::new(),
        platforms_from: Origin::Host,
        fail_on: DEFAULT_FAIL_ON.to_vec(),
        fail_on_from: Origin::Default,
        ignore: Vec::new(),
        config_file: None,
    };
    let mut platform_args: Option<Vec<PlatformArg>> = None;

    if let Some((file, text)) = config {
        let bad = |message: String| ConfigError::File {
            file: file.to_path_buf(),
            message,
        };
        let table = tool_table(text).map_err(bad)?;
        let origin = Origin::File(file.to_path_buf());
        if let Some(python) = &table.python {
            settings.pythons = parse_pythons(&python.items()).map_err(bad)?;
            settings.pythons_from = origin.clone();
        }
        if let Some(platform) = &table.platform {
            platform_args = Some(parse_platforms(&platform.items()).map_err(bad)?);
            settings.platforms_from = origin.clone();
        }
        if let Some(fail_on) = &table.fail_on {
            settings.fail_on = parse_fail_on(&fail_on.items()).map_err(bad)?;
            settings.fail_on_from = origin.clone();
        }
        for entry in &table.ignore {
            settings.ignore.push(Ignore {
                name: crate::wheel::normalize_name(&entry.name),
                reason: entry.reason.clone(),
                origin: origin.clone(),
            });
        }
        settings.config_file = Some(file.to_path_buf());
    }

    let from_env = |var: &'static str| -> Option<(Vec<String>, &'static str)> {
        let value = env(var)?;
        let items: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!items.is_empty()).then_some((items, var))
    };
    if let Some((items, var)) = from_env("GILFREE_PYTHON") {
        settings.pythons =
            parse_pythons(&refs(&items)).map_err(|message| ConfigError::Env { var, message })?;
        settings.pythons_from = Origin::Env(var);
    }
    if let Some((items, var)) = from_env("GILFREE_PLATFORM") {
        platform_args = Some(
            parse_platforms(&refs(&items)).map_err(|message| ConfigError::Env { var, message })?,
        );
        settings.platforms_from = Origin::Env(var);
    }
    if let Some((items, var)) = from_env("GILFREE_FAIL_ON") {
        settings.fail_on =
            parse_fail_on(&refs(&items)).map_err(|message| ConfigError::Env { var, message })?;
        settings.fail_on_from = Origin::Env(var);
    }

    if !cli.pythons.is_empty() {
        settings.pythons = dedup(cli.pythons.clone());
        settings.pythons_from = Origin::CommandLine("--python");
    }
    if !cli.platforms.is_empty() {
        platform_args = Some(cli.platforms.clone());
        settings.platforms_from = Origin::CommandLine("--platform");
    }
    if !cli.fail_on.is_empty() {
        settings.fail_on = fail_on_of(&cli.fail_on);
        settings.fail_on_from = Origin::CommandLine("--fail-on");
    }
    for word in &cli.ignore {
        let (name, reason) = match word.split_once('=') {
            Some((name, reason)) => (name.trim(), reason.trim().to_string()),
            None => (word.trim(), "ignored on the command line".to_string()),
        };
        settings.ignore.push(Ignore {
            name: crate::wheel::normalize_name(name),
            reason,
            origin: Origin::CommandLine("--ignore"),
        });
    }

    settings.platforms = match platform_args {
        Some(args) => platforms_of(&args),
        None => vec![host.ok_or_else(|| ConfigError::NoHostPlatform {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        })?],
    };
    Ok(settings)
}

fn refs(items: &[String]) -> Vec<&str> {
    items.iter().map(String::as_str).collect()
}

fn tool_table(text: &str) -> Result<ToolTable, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
    let Some(value) = doc.get("tool").and_then(|t| t.get("gilfree")) else {
        return Ok(ToolTable::default());
    };
    value
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| one_line(&e.to_string()))
}

/// The first line of a multi-line message (TOML errors draw the offending line).
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_string();
    // toml's messages put what is wrong after the excerpt: keep the last plain line too.
    match lines
        .rev()
        .find(|l| !l.starts_with('|') && !l.contains('^'))
    {
        Some(last) if last != first && !last.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            format!("{first} {last}")
        }
        _ => first,
    }
}

/// Every item parsed, without repeats; `empty` is the error for a list of none.
fn parse_list<T>(items: &[&str], empty: &str) -> Result<Vec<T>, String>
where
    T: std::str::FromStr + PartialEq,
    T::Err: std::fmt::Display,
{
    let parsed: Vec<T> = items
        .iter()
        .map(|s| s.parse::<T>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let parsed = dedup(parsed);
    if parsed.is_empty() {
        return Err(empty.to_string());
    }
    Ok(parsed)
}

fn parse_pythons(items: &[&str]) -> Result<Vec<PythonTarget>, String> {
    parse_list(items, "python lists no interpreter")
}

fn parse_platforms(items: &[&str]) -> Result<Vec<PlatformArg>, String> {
    parse_list(
        items,
        "platform lists no platform (use \"all\" for every platform)",
    )
}

fn parse_fail_on(items: &[&str]) -> Result<Vec<Readiness>, String> {
    let parsed: Result<Vec<FailOnArg>, String> = items
        .iter()
        .map(|s| {
            FailOnArg::from_str(s, true).map_err(|_| {
                format!(
                    "unknown readiness {s:?} in fail-on: expected gil-fallback, no-wheel, \
                     python-excluded, source-only, unknown, pure, ready or none"
                )
            })
        })
        .collect();
    Ok(fail_on_of(&parsed?))
}

fn fail_on_of(args: &[FailOnArg]) -> Vec<Readiness> {
    dedup(args.iter().filter_map(|a| a.readiness()).collect())
}

/// `items` without repeats, in their order.
pub(super) fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[project]
name = "app"

[tool.gilfree]
python = ["3.14t", "3.15t"]
platform = ["linux-x86_64", "macosx_11_0_arm64"]
fail-on = "gil-fallback"
ignore = [{ name = "LXML", reason = "only the test suite imports it" }]
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolve_with(
        cli: &CommandLine,
        env: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
        resolve(
            cli,
            &lookup,
            file.map(|text| (Path::new("/p/pyproject.toml"), text)),
            Some(Platform::LinuxX86_64),
        )
    }

    #[test]
    fn defaults_are_3_14t_on_the_host_platform() {
        let s = resolve(
            &CommandLine::default(),
            &no_env,
            None,
            Some(Platform::MacosArm64),
        )
        .unwrap();
        assert_eq!(s.pythons, [PythonTarget::Py314t]);
        assert_eq!(s.platforms, [Platform::MacosArm64]);
        assert_eq!(s.platforms_from, Origin::Host);
        assert_eq!(s.fail_on, DEFAULT_FAIL_ON);
        assert_eq!(
            s.describe(),
            "3.14t on macos-arm64 (the platform gilfree runs on; --platform all for every platform)"
        );
        let err = resolve(&CommandLine::default(), &no_env, None, None).unwrap_err();
        assert!(err.to_string().contains("give --platform"), "{err}");
    }

    #[test]
    fn the_file_then_the_environment_then_the_command_line() {
        let file = Origin::File(PathBuf::from("/p/pyproject.toml"));
        // The file alone.
        let s = resolve_with(&CommandLine::default(), &[], Some(FILE)).unwrap();
        assert_eq!(s.pythons, [PythonTarget::Py314t, PythonTarget::Py315t]);
        assert_eq!(s.platforms, [Platform::LinuxX86_64, Platform::MacosArm64]);
        assert_eq!(s.fail_on, [Readiness::GilFallback]);
        assert_eq!(
            (&s.pythons_from, &s.platforms_from, &s.fail_on_from),
            (&file, &file, &file)
        );
        assert_eq!(
            s.ignored("lxml").unwrap().reason,
            "only the test suite imports it"
        );

        // The environment over the file.
        let env = [
            ("GILFREE_PLATFORM", "all"),
            ("GILFREE_FAIL_ON", "none"),
            ("GILFREE_PYTHON", ""),
        ];
        let s = resolve_with(&CommandLine::default(), &env, Some(FILE)).unwrap();
        assert!(s.platforms.is_empty(), "all: every platform");
        assert_eq!(s.platforms_from, Origin::Env("GILFREE_PLATFORM"));
        assert!(s.fail_on.is_empty());
        assert_eq!(s.pythons_from, file, "an empty variable says nothing");

        // The command line over both; ignores add up.
        let cli = CommandLine {
            pythons: vec![PythonTarget::Py313t],
            platforms: vec![PlatformArg::One(Platform::WindowsAmd64)],
            fail_on: vec![FailOnArg::Unknown, FailOnArg::NoWheel],
            ignore: vec!["pyyaml=vendored copy".into(), "hiredis".into()],
        };
        let s = resolve_with(&cli, &env, Some(FILE)).unwrap();
        assert_eq!(s.pythons, [PythonTarget::Py313t]);
        assert_eq!(s.platforms, [Platform::WindowsAmd64]);
        assert_eq!(s.fail_on, [Readiness::Unknown, Readiness::NoWheel]);
        assert_eq!(s.fail_on_from, Origin::CommandLine("--fail-on"));
        let names: Vec<&str> = s.ignore.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lxml", "pyyaml", "hiredis"]);
        assert_eq!(s.ignored("pyyaml").unwrap().reason, "vendored copy");
    }

    #[test]
    fn bad_values_name_their_source() {
        let cases = [
            (
                "[tool.gilfree]\nplatform = \"linux-sparc\"\n",
                &[][..],
                "[tool.gilfree]: unknown platform \"linux-sparc\"",
            ),
            (
                "[tool.gilfree]\nfail-on = [\"gil-falback\"]\n",
                &[],
                "unknown readiness \"gil-falback\"",
            ),
            (
                "[tool.gilfree]\nplatfrom = \"all\"\n",
                &[],
                "unknown field `platfrom`",
            ),
            (
                "[tool.gilfree]\nignore = [{ name = \"x\" }]\n",
                &[],
                "missing field `reason`",
            ),
            (
                "[tool.gilfree]\n",
                &[("GILFREE_PYTHON", "3.12")],
                "$GILFREE_PYTHON:",
            ),
        ];
        for (file, env, want) in cases {
            let err = resolve_with(&CommandLine::default(), env, Some(file)).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(want), "{file}: {message}");
            assert_eq!(message.lines().count(), 1, "one line: {message}");
        }
    }

    #[test]
    fn the_nearest_pyproject_with_a_gilfree_table_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(tmp.path().join("pyproject.toml"), FILE).unwrap();
        std::fs::write(
            tmp.path().join("a/pyproject.toml"),
            "[project]\nname = \"x\"\n",
        )
        .unwrap();
        let (found, _) = find_config(&inner).unwrap().unwrap();
        assert_eq!(found, tmp.path().join("pyproject.toml"));
    }
}
