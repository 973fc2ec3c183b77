//! The `gilfree` command: parse arguments, run, map the outcome to an exit code
//! (0 nothing blocks, 1 a module or dependency blocks, 2 usage, input or network error).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use gilfree::cli::{Cli, Command, Format, MergeArgs, ScanArgs, StoreCommand, platforms_of};
use gilfree::inspect::verdict::Verdict;
use gilfree::report;
use gilfree::scan::session::{scan_config, with_index};
use gilfree::scan::{self, RemoteTarget, ScanReport};

fn main() -> ExitCode {
    limit_malloc_arenas();
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
        Command::Audit(args) => gilfree::audit::command::run(&args, cli.verbose, cli.quiet),
        Command::Site(args) => gilfree::site::command::run(&args, cli.quiet),
        Command::Crawl(args) => gilfree::crawl::command::run(&args, cli.quiet),
        Command::Store(StoreCommand::Merge(args)) => run_merge(&args),
    }
}

/// `gilfree store merge OUT IN...`: the summary on stdout, 2 with one line on stderr when an
/// input is refused or the merge failed (OUT is then as it was).
fn run_merge(args: &MergeArgs) -> ExitCode {
    match gilfree::store::merge_stores(&args.out, &args.inputs) {
        Ok(summary) => {
            print!("{}", summary.text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
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

/// glibc gives every thread that allocates its own heap arena and hands freed memory back
/// to the system rarely: a crawl's worker threads, each inflating members of tens to hundreds
/// of MB in turn, left the process at twice the memory it used (top-300 crawl: 822 MB peak,
/// 401 MB with two arenas, in the same time). Two arenas are plenty for 2–16 threads that
/// spend their time inflating and reading, not allocating.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it runs first in main, before any
    // other thread exists, and M_ARENA_MAX is a parameter every glibc since 2.10 knows.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn run_scan(args: &ScanArgs, verbose: bool, quiet: bool) -> ExitCode {
    let platforms = platforms_of(&args.platforms);
    let cfg = scan_config(&args.pythons, &platforms, &args.index, quiet);
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
            (scan::scan_remote(&remote, &cfg, index, store), index.down())
        }) {
            // An index that never answered: that one line, not one per target.
            Ok((_, Some(down))) => {
                eprintln!("error: {down}");
                return ExitCode::from(2);
            }
            Ok((r, None)) => merge(&mut result, r),
            Err(e) => errors.push(e),
        }
        result.warnings.extend(warnings);
    }
    errors.append(&mut result.errors);
    result.errors = errors;
    print_diagnostics(&result.warnings, &result.errors);
    // Nothing could be read: the errors say why, and there is no report to print.
    if result.wheels.is_empty() && !result.errors.is_empty() {
        return ExitCode::from(2);
    }
    let out = match args.format {
        Format::Json => report::json(&result, &strings(&args.pythons), &strings(&platforms)),
        Format::Text => report::text(&result, verbose),
    };
    if let Err(e) = report::write_output(&out, args.output.file.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let blocked = result
        .wheels
        .iter()
        .flat_map(|w| &w.modules)
        .any(|m| m.verdict == Verdict::GilUsed);
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
