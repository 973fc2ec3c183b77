//! The error type of the store: every message names the database, row or value at fault.

use std::path::PathBuf;

/// Everything that can go wrong while opening, migrating, reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder that should hold the database could not be created.
    #[error("cannot create the folder {} for the store: {source}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// No user cache directory is known on this system.
    #[error("no user cache directory is known here: pass --db PATH or set {env}", env = super::DB_ENV)]
    NoCacheDir,
    /// The file is not a SQLite database, or its header is damaged.
    #[error("{} is not a gilfree store (not a SQLite database, or damaged): {message}", path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// SQLite's own words.
        message: String,
    },
    /// The file is a SQLite database that another program made.
    #[error("{} is a SQLite database of another program ({what}), not a gilfree store", path.display())]
    ForeignDatabase {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        what: String,
    },
    /// The database was written by a newer gilfree with a schema this one does not know.
    #[error(
        "{} has schema version {found}, newer than the {supported} this gilfree knows: upgrade gilfree or use another --db",
        path.display()
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this code migrates to.
        supported: i64,
    },
    /// A migration step failed; the database stays at the version before it.
    #[error("{}: migrating to schema version {version} ({step}) failed: {source}", path.display())]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version the failed step would have reached.
        version: i64,
        /// What the step adds.
        step: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A store handed to `gilfree store merge` whose schema is not this build's.
    #[error(
        "{} has schema version {found}, not the {expected} of this gilfree: merge stores of one version (open it with the gilfree that wrote it, or with this one to migrate it)",
        path.display()
    )]
    SchemaMismatch {
        /// The file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// This build's version.
        expected: i64,
    },
    /// A store handed to `gilfree store merge` that cannot be merged.
    #[error("cannot merge {}: {why}", path.display())]
    MergeInput {
        /// The file.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// A value handed to the store that it refuses to key anything by.
    #[error("invalid {what} {value:?}: {expected}")]
    InvalidInput {
        /// Which argument ("sha256", "project name", …).
        what: &'static str,
        /// The value as given.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// A stored text value that this build cannot decode (written by another gilfree, or
    /// edited by hand).
    #[error("{column} holds {value:?}, which this gilfree does not know")]
    UnknownValue {
        /// `table.column`.
        column: &'static str,
        /// The stored text.
        value: String,
    },
    /// A release the caller refers to has never been recorded.
    #[error("release {project} {version} is not in the store")]
    UnknownRelease {
        /// Normalized project name.
        project: String,
        /// The version as given.
        version: String,
    },
    /// A project the caller refers to has never been recorded.
    #[error("project {0} is not in the store")]
    UnknownProject(String),
    /// A crawl run id the store does not hold.
    #[error("crawl run {0} is not in the store")]
    UnknownCrawlRun(i64),
    /// Any other SQLite failure, with what the store was doing and on which value.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done, naming the key ("saving the analysis of <sha256> for 3.14t").
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Attaches what the store was doing to a SQLite error.
pub(crate) trait Context<T> {
    /// Wraps the error as [`StoreError::Sqlite`] with the context `what()` describes.
    fn context(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite {
            context: what(),
            source,
        })
    }
}
