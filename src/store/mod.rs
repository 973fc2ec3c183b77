//! The SQLite store: what the index listed (projects, releases, files), every analysis of a
//! file's bytes with its module verdicts, a cache of index pages, and (for `crawl` and
//! `site`) the crawl runs that let history and trends be drawn. See `schema.rs` for the
//! tables.
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous = NORMAL`: every method that writes does
//! so in one transaction, committed before it returns. A process killed at any point (even
//! `kill -9`) loses at most the transaction it was inside; everything committed before stays,
//! and the file stays consistent. (Only a power cut may drop the last few commits.)
//!
//! # Threads
//!
//! A [`Store`] owns one SQLite connection: it is `Send` but not `Sync`. Either open one
//! `Store` per thread on the same file — WAL lets readers run alongside the one writer, and
//! writers wait for each other up to the busy timeout — or share one behind a `Mutex`. Write
//! transactions start with `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing
//! with `SQLITE_BUSY` part way.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use gilfree::index::DistFile;
//! use gilfree::scan::Readiness;
//! use gilfree::store::{AnalysisKey, AnalysisRecord, Page, Store};
//!
//! # fn main() -> Result<(), gilfree::store::StoreError> {
//! let mut store = Store::in_memory()?;
//! let sha = "ab".repeat(32);
//! let wheel = DistFile {
//!     filename: "lru_dict-1.4.1-cp314-cp314t-manylinux_2_28_x86_64.whl".into(),
//!     url: "https://files.example/lru_dict-1.4.1-cp314-cp314t-manylinux_2_28_x86_64.whl".into(),
//!     sha256: Some(sha.clone()),
//!     size: Some(40_960),
//!     requires_python: Some(">=3.9".into()),
//!     yanked: None,
//!     upload_time: Some("2025-10-01T12:00:00Z".into()),
//! };
//! store.record_project_files("lru-dict", &[wheel])?;
//!
//! // Offline: the latest release, its files, and their stored analyses.
//! let version = store.latest_release("lru_dict")?.expect("recorded above");
//! let files = store.files_of_release("lru-dict", &version)?;
//! let sha256 = files[0].sha256.as_deref().unwrap();
//! let key = AnalysisKey::new(sha256, "0.1.0", "3.14t", "linux-x86_64");
//! assert!(store.analysis(&key)?.is_none());
//! let record = AnalysisRecord {
//!     readiness: Readiness::Pure,
//!     note: None,
//!     error: None,
//!     modules: &[],
//! };
//! store.save_analysis(&key, &record)?;
//! assert_eq!(store.analysis(&key)?.unwrap().readiness, Readiness::Pure);
//!
//! // Index pages, fresh for ten minutes.
//! let page = Page {
//!     content_type: "text/html".into(),
//!     body: b"<a href='...'>".to_vec(),
//!     etag: None,
//!     last_modified: None,
//! };
//! store.save_page("https://pypi.org/simple/lru-dict/", &page)?;
//! let url = "https://pypi.org/simple/lru-dict/";
//! assert_eq!(store.cached_page(url, Duration::from_secs(600))?, Some(page));
//! # Ok(())
//! # }
//! ```

mod analyses;
mod codec;
mod compact;
mod crawl;
mod error;
mod filenames;
mod files;
mod first_ready;
mod merge;
mod metadata;
mod migrate_v5;
mod pages;
mod schema;
mod site;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use analyses::{AnalysisKey, AnalysisRecord, StoredAnalysis};
pub use crawl::{
    CrawlProject, CrawlRunId, CrawlRunSummary, CrawlTotals, ReadinessCount, ReleaseReadiness,
    RunShard,
};
pub use error::StoreError;
pub use filenames::FileKind;
pub use files::{RecordSummary, ReleaseSummary, SkippedFile, StoredFile};
pub use first_ready::{FirstReady, FirstReadyBasis};
pub use merge::{MAX_ATTACHED, MergeSummary, MergedRun, merge_stores};
pub use pages::{CachedPage, Page};
pub use schema::SCHEMA_VERSION;
pub use site::{SiteAnalysis, SiteProjectRow, SiteReadinessRow};

use error::Context;

/// Environment variable naming the database `open_default` uses instead of the cache dir.
pub const DB_ENV: &str = "GILFREE_DB";

/// How long a writer waits for another connection's write transaction to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the in-memory store calls itself in messages.
const IN_MEMORY: &str = ":memory:";

/// The store: one connection to one database file (see the module docs for threads).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Unix seconds that tests pin "now" to; `None` reads the system clock.
    fixed_now: Option<i64>,
}

/// A `Store` can move to another thread (one per thread, or behind a `Mutex`).
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Store>();
};

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating it and its folder if needed) the database at `path`, and migrates it
    /// to this build's schema. Refuses a file that is not SQLite, a SQLite database of
    /// another program, or one written by a newer gilfree.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_parent(&path)?;
        let conn = Connection::open(&path).context(|| format!("opening {}", path.display()))?;
        Store::set_up(conn, path, true)
    }

    /// Opens the default database: `$GILFREE_DB` when set, else `gilfree/gilfree.sqlite3` in
    /// the user cache directory (`~/.cache` on Linux, `~/Library/Caches` on macOS,
    /// `%LOCALAPPDATA%` on Windows).
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(Store::default_path()?)
    }

    /// Where [`Store::open_default`] keeps the database.
    pub fn default_path() -> Result<PathBuf, StoreError> {
        if let Some(path) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        let cache = dirs::cache_dir().ok_or(StoreError::NoCacheDir)?;
        Ok(cache.join("gilfree").join("gilfree.sqlite3"))
    }

    /// A fresh database in memory, gone when the `Store` is dropped (tests, one-off runs).
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn =
            Connection::open_in_memory().context(|| "opening a database in memory".into())?;
        Store::set_up(conn, PathBuf::from(IN_MEMORY), false)
    }

    /// The database file (`:memory:` for [`Store::in_memory`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database (always [`SCHEMA_VERSION`] once open).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .context(|| format!("{}: reading the schema version", self.path.display()))
    }

    /// Runs `PRAGMA integrity_check`: the problems found, none when the file is sound.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let what = || format!("{}: checking integrity", self.path.display());
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").context(what)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .context(what)?;
        let lines = rows.collect::<Result<Vec<_>, _>>().context(what)?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    /// Applies the connection settings, checks what the file is and migrates it.
    fn set_up(mut conn: Connection, path: PathBuf, wal: bool) -> Result<Store, StoreError> {
        configure(&conn, &path)?;
        let found = schema::check_identity(&conn, &path)?;
        if wal {
            enable_wal(&conn, &path)?;
        }
        schema::migrate(&mut conn, &path, SCHEMA_VERSION)?;
        if (1..schema::COMPACT_VERSION).contains(&found) {
            // The compaction left the old rows' pages free: give them back to the disk. Only
            // space depends on it, so a vacuum that cannot run now (another connection is
            // reading) is left for `sqlite3 FILE VACUUM` rather than failing the open.
            let _ = conn.execute_batch("VACUUM");
        }
        Ok(Store {
            conn,
            path,
            fixed_now: None,
        })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: waits for other writers up front).
    fn write(&mut self, what: impl FnOnce() -> String) -> Result<Transaction<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context(what)
    }

    /// Starts a read transaction, so that several queries see one snapshot.
    fn read(&self, what: impl FnOnce() -> String) -> Result<Transaction<'_>, StoreError> {
        self.conn.unchecked_transaction().context(what)
    }

    /// Now, in Unix seconds.
    fn now(&self) -> i64 {
        self.fixed_now
            .unwrap_or_else(|| codec::unix_seconds(SystemTime::now()))
    }
}

/// Creates the folder that will hold `path`, if it has one and it is missing.
fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}

/// Statements each connection keeps prepared: every one the store runs, so that a listing
/// of thousands of files prepares each (the `files` view's among them) once.
const STATEMENT_CACHE: usize = 96;

/// Per-connection settings: wait for busy writers, enforce foreign keys, keep statements.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let what = || format!("{}: configuring the connection", path.display());
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT).context(what)?;
    conn.pragma_update(None, "foreign_keys", true).context(what)
}

/// Switches the file to WAL (a persistent setting) with `synchronous = NORMAL`.
fn enable_wal(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let what = || format!("{}: switching to WAL mode", path.display());
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .context(what)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .context(what)
}

#[cfg(test)]
mod tests;
