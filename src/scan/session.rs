//! What a command needs to ask the index: the scan configuration from the command line,
//! the store (or none), and the index client (or the store alone with `--offline`), shared
//! by `scan` and `audit`.

use std::sync::Mutex;
use std::time::Duration;

use super::{Index, OfflineIndex, ScanConfig};
use crate::cli::IndexArgs;
use crate::index::{IndexClient, IndexConfig};
use crate::store::Store;
use crate::wheel::{Platform, PythonTarget};

/// The scan configuration for these targets and index options.
pub fn scan_config(
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

/// The index client `args` describe, for `index_url`.
pub fn client(args: &IndexArgs, index_url: &str) -> Result<IndexClient, String> {
    let config = IndexConfig {
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_retries: args.retries,
        ..IndexConfig::with_index_url(index_url)
    };
    IndexClient::new(config).map_err(|e| format!("{e} (check --index-url)"))
}

/// Runs `work` with the index (or the store alone with `--offline`) and the store; `Err` is a
/// one-line reason nothing could be asked.
pub fn with_index<T>(
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
    let client = client(args, &args.index_url)?;
    let out = work(&client, store.as_ref());
    // Dropping the client waits for its resolver threads, and a name lookup the system
    // has not answered yet would hold the exit for seconds after the work is done: the
    // process is about to end, so the client is left to it.
    std::mem::forget(client);
    Ok(out)
}

/// The store of pages and analyses, unless told not to use one; a store that cannot be
/// opened is a warning (the run goes on without it).
pub fn open_store(args: &IndexArgs, warnings: &mut Vec<String>) -> Option<Store> {
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
