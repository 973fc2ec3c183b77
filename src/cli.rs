//! Command-line definitions (clap) only: parsing lives here, behaviour in the library.

use clap::{Parser, Subcommand, ValueEnum};

use crate::wheel::{Platform, PythonTarget};

#[derive(Debug, Parser)]
#[command(
    name = "gilfree",
    version = crate::inspect::VERSION_LINE,
    about = "Will your Python dependencies keep the GIL off on free-threaded CPython?",
    long_about = "Reads the Py_mod_gil declaration of every native extension module straight out of \
                  the published binaries (ELF, PE, Mach-O), without installing or importing anything."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print less on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// List every module, also those that keep the GIL off.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Module-by-module verdicts for wheels, extension files and folders of them.
    Scan(ScanArgs),
    /// Is this project ready? Audit its requirements or lockfile, for CI.
    Audit(AuditArgs),
    /// Crawl the most-downloaded projects of the index into the store (the nightly job).
    Crawl(CrawlArgs),
    /// Render the store's crawl data into a static readiness website.
    Site(SiteArgs),
    /// Work on stores: merge the shard stores of a crawl into one.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Merge stores into OUT (created if missing): the shards of a crawl become one run;
    /// rows meet by their natural keys, and the newer wins. One transaction: a failure
    /// leaves OUT as it was.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The store to merge into (created if missing; may hold data already).
    #[arg(value_name = "OUT")]
    pub out: std::path::PathBuf,
    /// The stores to merge (gilfree stores of this schema version; read, never written).
    #[arg(value_name = "IN", required = true)]
    pub inputs: Vec<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SiteArgs {
    /// The SQLite store a crawl filled (default: in the user cache directory, or $GILFREE_DB).
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    /// The folder to write the site into (created if missing). Files an earlier build
    /// wrote and this one does not are removed; nothing else is.
    #[arg(long, value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// Where the site will be served (https://example.org/ft/): makes the feed's links, the
    /// badge snippets and the JSON's links absolute.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Wheels (.whl), extension modules (.so, .pyd), folders holding them or an installed
    /// environment; or, on the index: NAME (latest release), NAME==VERSION, a wheel URL.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Free-threaded interpreter to check for (3.13t, 3.14t, 3.15t); repeat for several.
    #[arg(long = "python", value_name = "VERSION", default_value = "3.14t")]
    pub pythons: Vec<PythonTarget>,
    /// Only these platforms (linux-x86_64, linux-aarch64, macos-arm64, windows-amd64, ...,
    /// or a wheel platform tag such as manylinux_2_28_x86_64); default (or `all`): every
    /// platform a wheel has.
    #[arg(long = "platform", value_name = "PLATFORM", value_delimiter = ',')]
    pub platforms: Vec<PlatformArg>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Where the report goes and how it looks, shared by `scan` and `audit`.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Write the report to FILE instead of stdout (any format).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Colour in the text report: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A `--platform` value: a platform (by name, alias or wheel tag), or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformArg {
    All,
    One(Platform),
}

impl std::str::FromStr for PlatformArg {
    type Err = crate::wheel::WheelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("all") {
            return Ok(PlatformArg::All);
        }
        s.parse().map(PlatformArg::One)
    }
}

/// The platforms a list of `--platform` values names; empty means every platform.
pub fn platforms_of(args: &[PlatformArg]) -> Vec<Platform> {
    if args.contains(&PlatformArg::All) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for arg in args {
        if let PlatformArg::One(p) = arg
            && !out.contains(p)
        {
            out.push(*p);
        }
    }
    out
}

/// Options for reaching the index and using the store, shared by `scan` and `audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexArgs {
    /// Worker threads (and concurrent downloads); with more than one, a big local wheel is
    /// hashed on a thread of its own while its members are read.
    #[arg(short = 'j', long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// The package index's Simple API root.
    #[arg(long, value_name = "URL", default_value = crate::index::DEFAULT_INDEX_URL, env = "GILFREE_INDEX_URL")]
    pub index_url: String,
    /// The SQLite store of index pages and analyses (default: in the user cache directory,
    /// or $GILFREE_DB).
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    /// Answer from the store alone: fetch nothing, and say what it cannot answer.
    #[arg(long)]
    pub offline: bool,
    /// Seconds to wait for the index to answer (per attempt).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Retries of a failed request (429, 5xx, resets, timeouts, truncated bodies).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,
    /// Ask the index for every project page, even one the store recorded minutes ago.
    #[arg(long)]
    pub refresh: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Neither read nor write the store.
    #[arg(long, conflicts_with = "offline")]
    pub no_store: bool,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// requirements.txt, constraints, uv.lock, pylock.toml, poetry.lock, Pipfile.lock,
    /// pdm.lock, pyproject.toml or an installed environment; default: the project's
    /// dependency file in the current folder (uv.lock, pylock.toml, poetry.lock, pdm.lock,
    /// Pipfile.lock, requirements*.txt, pyproject.toml, the first found).
    #[arg(value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// Free-threaded interpreter to check for (3.13t, 3.14t, 3.15t); repeat for several.
    /// Default: `python` in `[tool.gilfree]` of pyproject.toml, $GILFREE_PYTHON, or 3.14t.
    #[arg(long = "python", value_name = "VERSION", value_delimiter = ',')]
    pub pythons: Vec<PythonTarget>,
    /// The platforms to audit for (a name, a wheel platform tag, or `all` for every platform
    /// a dependency has wheels for). Default: `platform` in `[tool.gilfree]`,
    /// $GILFREE_PLATFORM, or the platform gilfree runs on.
    #[arg(long = "platform", value_name = "PLATFORM", value_delimiter = ',')]
    pub platforms: Vec<PlatformArg>,
    /// Output format: a table, JSON, Markdown for a pull-request comment, GitHub Actions
    /// annotations on the requirement lines, or SARIF 2.1.0 for code scanning.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// The readiness values that fail the audit (exit 1), or `none`. Default: `fail-on` in
    /// `[tool.gilfree]`, $GILFREE_FAIL_ON, or gil-fallback,no-wheel,python-excluded,unknown.
    #[arg(long, value_delimiter = ',', value_name = "READINESS")]
    pub fail_on: Vec<FailOnArg>,
    /// Report NAME but never fail on it (`NAME=REASON` to say why); adds to the `ignore`
    /// list of `[tool.gilfree]`.
    #[arg(long = "ignore", value_name = "NAME[=REASON]")]
    pub ignore: Vec<String>,
    /// Another index to look for releases in, beside --index-url (as pip does); requirements
    /// files' own `--extra-index-url` lines are honoured too.
    #[arg(long = "extra-index-url", value_name = "URL")]
    pub extra_index_urls: Vec<String>,
    /// Also audit what unpinned requirements depend on, read from their releases' metadata
    /// (approximate: each at the newest release its specifier admits, not a resolution;
    /// audit a lockfile for the exact tree).
    #[arg(long)]
    pub deps: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// A `--fail-on` value: a readiness, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    GilFallback,
    NoWheel,
    PythonExcluded,
    SourceOnly,
    Unknown,
    Pure,
    Ready,
    None,
}

impl FailOnArg {
    /// The readiness value, `None` for `none`.
    pub fn readiness(self) -> Option<crate::scan::Readiness> {
        use crate::scan::Readiness as R;
        Some(match self {
            FailOnArg::GilFallback => R::GilFallback,
            FailOnArg::NoWheel => R::NoWheel,
            FailOnArg::PythonExcluded => R::PythonExcluded,
            FailOnArg::SourceOnly => R::SourceOnly,
            FailOnArg::Unknown => R::Unknown,
            FailOnArg::Pure => R::Pure,
            FailOnArg::Ready => R::Ready,
            FailOnArg::None => return None,
        })
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Markdown,
    Github,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CrawlArgs {
    /// The projects to crawl, most important first: one name per line, a JSON array of
    /// names, or the top-pypi-packages JSON (default: the bundled top-pypi-packages list).
    #[arg(long, value_name = "FILE")]
    pub list: Option<std::path::PathBuf>,
    /// Only the first N projects of the list.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Also evaluate the K releases before each project's latest (to tell which version
    /// first became ready).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub history: usize,
    /// Do not search since when each project is ready. By default, for every interpreter
    /// and main platform whose latest release is ready, the crawl bisects the releases with
    /// a free-threaded wheel for it to find the first ready one, once (the store keeps it).
    #[arg(long)]
    pub no_first_ready: bool,
    /// Free-threaded interpreter to judge for; repeat for several.
    #[arg(
        long = "python",
        value_name = "VERSION",
        default_values = ["3.13t", "3.14t", "3.15t"]
    )]
    pub pythons: Vec<PythonTarget>,
    /// Only these platforms; default: every platform a release has wheels for.
    #[arg(long = "platform", value_name = "PLATFORM")]
    pub platforms: Vec<Platform>,
    /// Projects crawled at once (default 4, whatever the default of -j; -j N sets it too).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Begin a new run even when the list has an unfinished one (default: resume it).
    #[arg(long)]
    pub restart: bool,
    /// Crawl only shard K of N (K from 0 to N-1): the projects of the list whose normalized
    /// name hashes there (SHA-256). `gilfree store merge` folds the shard stores into one.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// The name the shards of one run share, so that merging makes them one run (default:
    /// the UTC date the shard's run began).
    #[arg(long, value_name = "NAME", requires = "shard")]
    pub batch: Option<String>,
    /// Do not ask the index's change feed (XML-RPC `changelog_since_serial`) which projects
    /// changed since the last run: read every project's page.
    #[arg(long)]
    pub no_feed: bool,
    /// The change feed's XML-RPC endpoint (default: `../pypi` from the index URL, where
    /// PyPI has it).
    #[arg(long, value_name = "URL")]
    pub feed_url: Option<String>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub index: IndexArgs,
}
