//! `gilfree crawl` as a command: the list, the store and the index from the arguments, the
//! crawl, the summary on stdout (warnings and the progress bar on stderr) and the exit
//! code — 0 when the run is complete (even if some projects failed: the summary and
//! stderr say so), 2 for usage, list or store errors and for a run stopped early.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use super::{CrawlConfig, CrawlIndex, ProjectList, Shard, crawl};
use crate::cli::{CrawlArgs, Format};
use crate::index::{IndexClient, IndexConfig};
use crate::scan::OfflineIndex;
use crate::store::Store;

/// Projects crawled at once unless told otherwise: polite to the index, and enough to keep
/// a few requests in flight.
const DEFAULT_WORKERS: usize = 4;

/// Wheels of one project read at once.
const WHEEL_WORKERS: usize = 2;

/// Runs `gilfree crawl`.
pub fn run(args: &CrawlArgs, quiet: bool) -> ExitCode {
    match run_inner(args, quiet) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: &CrawlArgs, quiet: bool) -> Result<ExitCode, String> {
    let ix = &args.index;
    if ix.no_store {
        return Err("crawl records into the store: --no-store cannot be used with it".into());
    }
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(batch) = &args.batch
        && (batch.trim().is_empty() || batch.chars().any(char::is_control))
    {
        return Err(format!(
            "--batch {batch:?}: expected a name (the shards of one run share it)"
        ));
    }
    let mut list = match &args.list {
        Some(path) => ProjectList::from_file(path).map_err(|e| e.to_string())?,
        None => ProjectList::bundled(),
    };
    if let Some(n) = args.top {
        list = list.top(n);
    }
    if !list.skipped.is_empty() && !quiet {
        eprintln!(
            "warning: {} entr(y/ies) of the list are not project names, e.g. {:?}",
            list.skipped.len(),
            list.skipped[0]
        );
    }
    let store = match &ix.db {
        Some(path) => Store::open(path),
        None => Store::open_default(),
    }
    .map_err(|e| format!("crawl needs the store: {e}"))?;
    let store = Mutex::new(store);
    let workers = args
        .concurrency
        .or(jobs_on_command_line().then_some(ix.jobs))
        .unwrap_or(DEFAULT_WORKERS)
        .max(1);
    let cfg = CrawlConfig {
        pythons: args.pythons.clone(),
        platforms: args.platforms.clone(),
        history: args.history,
        first_ready: !args.no_first_ready,
        workers,
        wheel_workers: WHEEL_WORKERS,
        refresh: ix.refresh,
        feed: !args.no_feed,
        restart: args.restart,
        shard,
        batch: args.batch.clone(),
        progress: !(ix.no_progress || quiet),
        ..CrawlConfig::default()
    };
    let result = if ix.offline {
        let index = OfflineIndex::new(&store);
        crawl_with(&list, &cfg, &index, &store)
    } else {
        let config = IndexConfig {
            timeout: Duration::from_secs(ix.timeout.max(1)),
            max_retries: ix.retries,
            concurrency: workers * WHEEL_WORKERS,
            feed_url: args.feed_url.clone(),
            ..IndexConfig::with_index_url(ix.index_url.clone())
        };
        let index = IndexClient::new(config).map_err(|e| format!("{e} (check --index-url)"))?;
        let result = crawl_with(&list, &cfg, &index, &store);
        // A name lookup still pending in the client's resolver would hold the exit.
        std::mem::forget(index);
        result
    };
    let summary = result?;
    if !quiet {
        for w in &summary.warnings {
            eprintln!("warning: {w}");
        }
    }
    let out = match args.format {
        Format::Json => summary.json(),
        Format::Text => summary.text(),
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return Ok(ExitCode::from(2));
    }
    drop(stdout);
    if !summary.finished {
        return Err(format!(
            "crawl run {} of {} stopped before its end; run the same command again to resume it",
            summary.run, summary.list
        ));
    }
    if summary.projects.failed > 0 {
        eprintln!(
            "note: crawl run {} is complete; {} project(s) could not be crawled (listed in the \
             summary, recorded with their errors)",
            summary.run, summary.projects.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn crawl_with(
    list: &ProjectList,
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
) -> Result<super::CrawlSummary, String> {
    crawl(list, cfg, index, store).map_err(|e| e.to_string())
}

/// Whether `-j`/`--jobs` was given on this process's command line (its default, the number
/// of cores, suits scanning; a crawl's default is [`DEFAULT_WORKERS`]).
fn jobs_on_command_line() -> bool {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    crate::cli::Cli::command()
        .try_get_matches_from(std::env::args_os())
        .ok()
        .and_then(|m| {
            m.subcommand_matches("crawl")
                .map(|c| c.value_source("jobs") == Some(ValueSource::CommandLine))
        })
        .unwrap_or(false)
}
