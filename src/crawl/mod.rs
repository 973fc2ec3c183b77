//! `gilfree crawl`: the nightly crawl of the most-downloaded projects into the store.
//!
//! For each project of a list ([`list`]): its index page is read and recorded (every file
//! with its tags), the latest release (and, with `history`, earlier ones) is planned
//! ([`plan`]) — per interpreter and platform, the wheel an installer would pick or why there
//! is none — every wheel a free-threaded interpreter could load is analyzed (or answered
//! from the store, by sha256), the free-threading classifiers are read from the release's
//! metadata once ([`metadata`]), and the project's outcome is committed in one transaction
//! ([`run`]). [`summary`] renders what a run did.
//!
//! Cost follows change: a project whose page lists what the store already has costs that
//! one page request and no wheel bytes, and where the index has a change feed ([`feed`]),
//! a project it does not name since the last run costs no request at all. A run interrupted at any point (Ctrl-C, `kill -9`)
//! keeps every project it committed, and the next crawl of the same list resumes it.

pub mod command;
pub mod feed;
pub mod first_ready;
pub mod list;
pub mod metadata;
pub mod plan;
pub mod run;
pub mod shard;
pub mod summary;

use crate::index::{IndexClient, IndexError, Listing};
use crate::scan::{Index, OfflineIndex};
use crate::store::StoreError;
use crate::wheel::{Platform, PythonTarget};

pub use list::{ListError, ProjectList};
pub use run::crawl;
pub use shard::{Shard, ShardError};
pub use summary::CrawlSummary;

/// How to crawl.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    /// The interpreters to judge every release for.
    pub pythons: Vec<PythonTarget>,
    /// Only these platforms; empty: every platform a release has wheels for.
    pub platforms: Vec<Platform>,
    /// Releases before the latest to evaluate too.
    pub history: usize,
    /// Search the first ready release of each main-platform target whose latest release
    /// is ready (by bisection; kept in the store once found).
    pub first_ready: bool,
    /// Projects crawled at once.
    pub workers: usize,
    /// Wheels of one project read at once.
    pub wheel_workers: usize,
    /// Memory for wheels read at once over all workers (each wheel's share planned from its
    /// directory): what bounds the crawl's memory. A wheel needing more is read alone.
    pub wheel_budget: u64,
    /// Record every listing even when the index's serial says nothing changed (and read
    /// every page, whatever the change feed says).
    pub refresh: bool,
    /// Ask the index's change feed which projects changed since the last run, and read
    /// only their pages.
    pub feed: bool,
    /// Start a new run even when the list has an unfinished one.
    pub restart: bool,
    /// Crawl only the projects of this shard of the list.
    pub shard: Option<Shard>,
    /// The batch a shard's new run belongs to; `None`: the UTC date it begins (and a
    /// resumed run keeps its own).
    pub batch: Option<String>,
    /// A progress bar on stderr (drawn only on a terminal).
    pub progress: bool,
    /// After this many projects in a row for which the index could not be reached or
    /// answered 5xx/429, the run stops (unfinished, to be resumed) instead of recording
    /// every remaining project as failed.
    pub give_up_after: usize,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            pythons: PythonTarget::ALL.to_vec(),
            platforms: Vec::new(),
            history: 0,
            first_ready: true,
            workers: 4,
            wheel_workers: 2,
            wheel_budget: 512 << 20,
            refresh: false,
            feed: true,
            restart: false,
            shard: None,
            batch: None,
            progress: false,
            give_up_after: 10,
        }
    }
}

/// Why a crawl stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// Why a project page could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingError {
    /// One line, naming the project.
    pub message: String,
    /// The index itself is in trouble (unreachable, 5xx or 429 after retries), rather than
    /// this project (404, a malformed page).
    pub index_trouble: bool,
}

/// An index the crawl can read: project pages with their serials, and files.
pub trait CrawlIndex: Index {
    /// The project's page, its serial and which files have PEP 658 metadata.
    fn listing(&self, name: &str) -> Result<Listing, ListingError>;
    /// The index's change feed, if it may have one.
    fn feed(&self) -> Option<&dyn feed::ChangeFeed> {
        None
    }
}

impl CrawlIndex for IndexClient {
    fn listing(&self, name: &str) -> Result<Listing, ListingError> {
        IndexClient::listing(self, name).map_err(|e| {
            let index_trouble = match &e {
                IndexError::Unreachable { .. } => true,
                IndexError::Fetch(crate::index::FetchError::Status { status, .. }) => {
                    *status == 429 || *status >= 500
                }
                IndexError::Fetch(crate::index::FetchError::Network { .. }) => true,
                _ => false,
            };
            ListingError {
                message: e.to_string(),
                index_trouble,
            }
        })
    }
    fn feed(&self) -> Option<&dyn feed::ChangeFeed> {
        Some(self)
    }
}

impl CrawlIndex for OfflineIndex<'_> {
    fn listing(&self, name: &str) -> Result<Listing, ListingError> {
        let page = self.project(name).map_err(|message| ListingError {
            message,
            index_trouble: false,
        })?;
        Ok(Listing {
            url: format!("store:{}", page.name),
            page,
            serial: None,
            core_metadata: Default::default(),
        })
    }
}
