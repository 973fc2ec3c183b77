//! The `gilfree` command: parse arguments, run, map the outcome to an exit code
//! (0 nothing blocks, 1 a module or dependency blocks, 2 usage, input or network error).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;

use gilfree::audit::{self, AuditReport};
use gilfree::cli::{AuditArgs, AuditFormat, Cli, Command, Format, IndexArgs, ScanArgs};
use gilfree::index::{IndexClient, IndexConfig};
use gilfree::inspect::verdict::Verdict;
use gilfree::report;
use gilfree::scan::{self, Index, OfflineIndex, Readiness, RemoteTarget, ScanConfig, ScanReport};
use gilfree::store::Store;
use gilfree::wheel::{Platform, PythonTarget};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Scan(args) => run_scan(&args, cli.verbose, cli.quiet),
        Command::Audit(args) => run_audit(&args, cli.quiet),
        Command::Site(args) => gilfree::site::command::run(&args, cli.quiet),
        Command::Crawl(args) => gilfree::crawl::command::run(&args, cli.quiet),
    }
}

/// A word on the command line names a local file or folder when it exists or looks like a
/// path; otherwise something on the index.
fn is_local(word: &str) -> bool {
    if word.contains("://") {
        return false;
    }
    Path::new(word).exists()
        || word.contains(std::path::MAIN_SEPARATOR)
        || [".whl", ".so", ".pyd"]
            .iter()
            .any(|ext| word.ends_with(ext))
}

fn scan_config(
    pythons: &[PythonTarget],
    platforms: &[Platform],
    index: &IndexArgs,
    quiet: bool,
) -> ScanConfig {
    ScanConfig {
        pythons: pythons.to_vec(),
        platforms: platforms.to_vec(),
        jobs: index.jobs,
        progress: !(index.no_progress || quiet),
        // Project pages change rarely; a page recorded in the last quarter hour is reused.
        page_max_age: (!index.refresh).then_some(Duration::from_secs(15 * 60)),
    }
}

/// Run `work` with the index (or the store alone with `--offline`) and the store; `Err` is a
/// one-line reason nothing could be asked.
fn with_index<T>(
    args: &IndexArgs,
    warnings: &mut Vec<String>,
    work: impl FnOnce(&dyn Index, Option<&Mutex<Store>>) -> T,
) -> Result<T, String> {
    let store = open_store(args, warnings).map(Mutex::new);
    if args.offline {
        let store = store
            .as_ref()
            .ok_or("--offline needs the store, which could not be opened")?;
        return Ok(work(&OfflineIndex::new(store), Some(store)));
    }
    let config = IndexConfig {
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_retries: args.retries,
        ..IndexConfig::with_index_url(args.index_url.clone())
    };
    let client = IndexClient::new(config).map_err(|e| format!("{e} (check --index-url)"))?;
    Ok(work(&client, store.as_ref()))
}

fn run_scan(args: &ScanArgs, verbose: bool, quiet: bool) -> ExitCode {
    let cfg = scan_config(&args.pythons, &args.platforms, &args.index, quiet);
    let mut local: Vec<PathBuf> = Vec::new();
    let mut remote: Vec<RemoteTarget> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for word in &args.targets {
        if is_local(word) {
            local.push(PathBuf::from(word));
        } else if let Some(t) = RemoteTarget::parse(word) {
            remote.push(t);
        } else {
            errors.push(format!(
                "{word}: not a file, a wheel URL, or NAME / NAME==VERSION"
            ));
        }
    }
    let mut result = if local.is_empty() {
        ScanReport::default()
    } else {
        scan::scan_paths(&local, &cfg)
    };
    if !remote.is_empty() {
        let mut warnings = Vec::new();
        match with_index(&args.index, &mut warnings, |index, store| {
            scan::scan_remote(&remote, &cfg, index, store)
        }) {
            Ok(r) => merge(&mut result, r),
            Err(e) => errors.push(e),
        }
        result.warnings.extend(warnings);
    }
    errors.append(&mut result.errors);
    result.errors = errors;
    print_diagnostics(&result.warnings, &result.errors);
    let out = match args.format {
        Format::Json => report::json(&result, &strings(&args.pythons), &strings(&args.platforms)),
        Format::Text => report::text(&result, verbose),
    };
    if std::io::stdout().write_all(out.as_bytes()).is_err() {
        return ExitCode::from(2);
    }
    let blocked = result
        .wheels
        .iter()
        .flat_map(|w| &w.modules)
        .any(|m| m.verdict == Verdict::GilUsed);
    exit_code(!result.errors.is_empty(), blocked)
}

fn run_audit(args: &AuditArgs, quiet: bool) -> ExitCode {
    let cfg = scan_config(&args.pythons, &args.platforms, &args.index, quiet);
    let mut errors = Vec::new();
    let mut inputs = Vec::new();
    for file in &args.files {
        match gilfree::lock::parse_file(file) {
            Ok(parsed) => inputs.push(parsed),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut warnings = Vec::new();
    let mut result = if inputs.is_empty() {
        AuditReport::default()
    } else {
        match with_index(&args.index, &mut warnings, |index, store| {
            let options = audit::AuditOptions {
                follow_deps: args.deps,
            };
            audit::audit_with(&inputs, &cfg, index, store, options)
        }) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                AuditReport::default()
            }
        }
    };
    result.warnings.extend(warnings);
    errors.append(&mut result.errors);
    result.errors = errors;
    print_diagnostics(&result.warnings, &result.errors);
    let fail_on: Vec<Readiness> = args.fail_on.iter().map(|&r| r.into()).collect();
    let out = match args.format {
        AuditFormat::Sarif => report::audit_sarif(&result, &fail_on),
        AuditFormat::Json => {
            report::audit_json(&result, &strings(&args.pythons), &strings(&args.platforms))
        }
        AuditFormat::Text => report::audit_text(&result),
        AuditFormat::Markdown => report::audit_markdown(&result),
        AuditFormat::Github => report::audit_github(&result),
    };
    if std::io::stdout().write_all(out.as_bytes()).is_err() {
        return ExitCode::from(2);
    }
    let blocked = result
        .packages
        .iter()
        .any(|p| fail_on.contains(&p.readiness));
    exit_code(!result.errors.is_empty(), blocked)
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

fn print_diagnostics(warnings: &[String], errors: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    for e in errors {
        eprintln!("error: {e}");
    }
}

fn exit_code(errors: bool, blocked: bool) -> ExitCode {
    if errors {
        ExitCode::from(2)
    } else if blocked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The store of pages and analyses, unless told not to use one; a store that cannot be
/// opened is a warning (the run goes on without it).
fn open_store(args: &IndexArgs, warnings: &mut Vec<String>) -> Option<Store> {
    if args.no_store {
        return None;
    }
    let opened = match &args.db {
        Some(path) => Store::open(path),
        None => Store::open_default(),
    };
    opened
        .map_err(|e| warnings.push(format!("not using the store: {e}")))
        .ok()
}

fn merge(into: &mut ScanReport, other: ScanReport) {
    into.warnings.extend(other.warnings);
    into.wheels.extend(other.wheels);
    into.errors.extend(other.errors);
    into.stats.files += other.stats.files;
    into.stats.bytes_read += other.stats.bytes_read;
    into.stats.bytes_downloaded += other.stats.bytes_downloaded;
    into.stats.requests += other.stats.requests;
    into.stats.seconds += other.stats.seconds;
}
