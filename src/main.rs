//! The `gilfree` command: parse arguments, run, map the outcome to an exit code
//! (0 nothing blocks, 1 a module turns the GIL on, 2 usage, input or network error).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;

use gilfree::cli::{Cli, Command, Format, ScanArgs};
use gilfree::index::{IndexClient, IndexConfig};
use gilfree::inspect::verdict::Verdict;
use gilfree::report;
use gilfree::scan::{self, OfflineIndex, RemoteTarget, ScanConfig, ScanReport};
use gilfree::store::Store;

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
    }
}

/// A word on the command line names a local file or folder when it exists or looks like a
/// path; otherwise something on the index.
fn is_local(word: &str) -> bool {
    Path::new(word).exists()
        || word.contains(std::path::MAIN_SEPARATOR)
        || [".whl", ".so", ".pyd"]
            .iter()
            .any(|ext| word.ends_with(ext))
            && !word.contains("://")
}

fn run_scan(args: &ScanArgs, verbose: bool, quiet: bool) -> ExitCode {
    let cfg = ScanConfig {
        pythons: args.pythons.clone(),
        platforms: args.platforms.clone(),
        jobs: args.jobs,
        progress: !(args.no_progress || quiet),
        // Project pages change rarely; a page recorded in the last quarter hour is reused.
        page_max_age: (!args.refresh).then_some(Duration::from_secs(15 * 60)),
    };
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
        let store = open_store(args, &mut result.warnings).map(Mutex::new);
        if args.offline {
            match &store {
                Some(store) => merge(
                    &mut result,
                    scan::scan_remote(&remote, &cfg, &OfflineIndex::new(store), Some(store)),
                ),
                None => errors.push("--offline needs the store, which could not be opened".into()),
            }
        } else {
            let config = IndexConfig {
                timeout: Duration::from_secs(args.timeout.max(1)),
                max_retries: args.retries,
                ..IndexConfig::with_index_url(args.index_url.clone())
            };
            match IndexClient::new(config) {
                Ok(client) => merge(
                    &mut result,
                    scan::scan_remote(&remote, &cfg, &client, store.as_ref()),
                ),
                Err(e) => errors.push(format!("{e} (check --index-url)")),
            }
        }
    }
    errors.append(&mut result.errors);
    result.errors = errors;
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    for e in &result.errors {
        eprintln!("error: {e}");
    }
    let out = match args.format {
        Format::Json => report::json(
            &result,
            &args
                .pythons
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
            &args
                .platforms
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        ),
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
    if !result.errors.is_empty() {
        ExitCode::from(2)
    } else if blocked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The store of pages and analyses, unless told not to use one; a store that cannot be
/// opened is a warning (the scan goes on without it).
fn open_store(args: &ScanArgs, warnings: &mut Vec<String>) -> Option<Store> {
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
