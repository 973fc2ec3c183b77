//! The store's schema as a list of versioned migrations, and the code that applies them.
//!
//! `PRAGMA user_version` holds the number of migrations applied; `PRAGMA application_id` marks
//! the file as gilfree's. Each migration runs in its own `BEGIN IMMEDIATE` transaction that
//! also bumps `user_version`, so a migration interrupted at any point leaves the database at
//! the version before it, and two processes opening an old database at once migrate it once.
//! A migration, once released, is never edited: a schema change is a new migration at the end.
//!
//! Times are Unix seconds (`INTEGER`) unless a column says otherwise; enum values are the
//! kebab-case names of the JSON contract (`gil-not-used`, `slot-value-0`, `pybind11`, …).

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::error::{Context, StoreError};

/// `PRAGMA application_id` of a gilfree store: "gilf" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x6769_6c66;

/// One step of the schema's history.
pub(crate) struct Migration {
    /// What the step adds, for error messages and the log.
    pub name: &'static str,
    /// The statements, run as one batch inside the step's transaction.
    pub sql: &'static str,
    /// Work SQL alone cannot do, run after `sql` in the same transaction.
    pub then: Option<fn(&Transaction) -> rusqlite::Result<()>>,
}

/// Every migration in order: applying the first `n` gives schema version `n`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "index data, analyses and the page cache",
        sql: V1_INDEX_AND_ANALYSES,
        then: None,
    },
    Migration {
        name: "crawl runs and release metadata",
        sql: V2_CRAWL,
        then: None,
    },
    Migration {
        name: "first ready releases and project URLs",
        sql: V3_HISTORY_AND_URLS,
        then: None,
    },
    Migration {
        name: "sharded crawl runs",
        sql: V4_SHARDS,
        then: None,
    },
    Migration {
        name: "compact file rows",
        sql: V5_COMPACT_FILES,
        then: Some(super::migrate_v5::move_file_rows),
    },
];

/// The version whose migration compacts the file rows (a store migrated across it is
/// vacuumed once).
pub(crate) const COMPACT_VERSION: i64 = 5;

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: what `gilfree scan` needs (issue 3).
const V1_INDEX_AND_ANALYSES: &str = "
PRAGMA application_id = 1734962278;

-- A project on the index, by its PEP 503 normalized name (`pydantic-core`).
-- `last_listed`: when its file list was last recorded from an index page; NULL when it
-- never was (a crawl list named it, but the index did not answer).
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    first_seen  INTEGER NOT NULL,
    last_listed INTEGER
) STRICT;

-- A version of a project, spelled as its file names spell it. `first_seen`: when this store
-- first saw any file of it (the release date is the earliest `files.upload_time`).
CREATE TABLE releases (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    UNIQUE (project_id, version)
) STRICT;

-- A distribution file of a release as the index lists it. `kind`: wheel, sdist or other.
-- `sha256`: lowercase hex, NULL when the index gave none. `upload_time`: ISO 8601 text as
-- the index gave it (PEP 700), NULL when it did not. `yanked` 0/1 with the reason (may be
-- empty). Wheels keep their tag sets as dotted text (`cp314`, `cp314t`,
-- `manylinux_2_17_x86_64.manylinux2014_x86_64`); other kinds have NULL tags.
-- `first_seen`/`last_seen`: when a recorded index page first/last listed the file.
CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    release_id      INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    filename        TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('wheel', 'sdist', 'other')),
    url             TEXT NOT NULL,
    sha256          TEXT CHECK (sha256 IS NULL OR length(sha256) = 64),
    size            INTEGER,
    upload_time     TEXT,
    yanked          INTEGER NOT NULL DEFAULT 0 CHECK (yanked IN (0, 1)),
    yanked_reason   TEXT,
    requires_python TEXT,
    python_tags     TEXT,
    abi_tags        TEXT,
    platform_tags   TEXT,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL
) STRICT;
CREATE INDEX files_by_release ON files(release_id);
CREATE INDEX files_by_sha256 ON files(sha256);

-- One analysis of a file's bytes for one interpreter and platform. Keyed by what the
-- result depends on: the bytes (sha256, not the file name: local wheels and lone modules
-- have no `files` row), the analyzer version, the target python (`3.14t`) and platform
-- (`linux-x86_64`). Re-analysis replaces the row. `readiness` is the wheel's readiness;
-- `note` why, when the modules alone do not say; `error` why the file could not be read.
CREATE TABLE analyses (
    id               INTEGER PRIMARY KEY,
    sha256           TEXT NOT NULL CHECK (length(sha256) = 64),
    analyzer_version TEXT NOT NULL,
    python           TEXT NOT NULL,
    platform         TEXT NOT NULL,
    readiness        TEXT NOT NULL,
    note             TEXT,
    error            TEXT,
    analyzed_at      INTEGER NOT NULL,
    UNIQUE (sha256, analyzer_version, python, platform)
) STRICT;

-- The verdict of one extension module of an analysis, in report order (`position`).
CREATE TABLE modules (
    analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    member      TEXT NOT NULL,
    module      TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    binder      TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    fix         TEXT,
    PRIMARY KEY (analysis_id, position)
) STRICT, WITHOUT ROWID;
CREATE INDEX modules_by_verdict ON modules(verdict, binder);

-- Index pages as fetched, for a time-limited cache and conditional requests (`etag`,
-- `last_modified` are the response's validators).
CREATE TABLE page_cache (
    url           TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    body          BLOB NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    fetched_at    INTEGER NOT NULL
) STRICT;
";

/// Version 2: what `gilfree crawl` and `gilfree site` need (issues 5 and 6).
const V2_CRAWL: &str = "
-- When the release's core metadata (classifiers) was read; NULL: not yet.
ALTER TABLE releases ADD COLUMN metadata_read_at INTEGER;

-- The `Programming Language :: Python :: Free Threading :: …` classifiers a release declares.
CREATE TABLE release_classifiers (
    release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    classifier TEXT NOT NULL,
    PRIMARY KEY (release_id, classifier)
) STRICT, WITHOUT ROWID;

-- One run of `gilfree crawl`: which list (`top-pypi-packages`, a file name), how many projects
-- it set out to crawl, the analyzer that judged them. `finished_at` NULL: still running, or
-- interrupted (the next crawl of the same list resumes it). Network totals at the end.
CREATE TABLE crawl_runs (
    id               INTEGER PRIMARY KEY,
    list_name        TEXT NOT NULL,
    planned          INTEGER NOT NULL,
    analyzer_version TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    bytes_downloaded INTEGER,
    requests         INTEGER
) STRICT;
CREATE INDEX crawl_runs_by_list ON crawl_runs(list_name, finished_at);

-- A project a run has dealt with, written in one transaction with its readiness rows: its
-- rank on the list, the release the run took as latest (NULL when it has none or failed)
-- and the error that stopped it. A project is in here exactly when the run is done with it.
CREATE TABLE crawl_projects (
    run_id      INTEGER NOT NULL REFERENCES crawl_runs(id) ON DELETE CASCADE,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    rank        INTEGER NOT NULL,
    release_id  INTEGER REFERENCES releases(id),
    error       TEXT,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, project_id)
) STRICT;
CREATE INDEX crawl_projects_by_project ON crawl_projects(project_id);

-- The readiness of each release a run evaluated (the latest, and older ones with
-- `--history`), per interpreter and platform, as the run judged it.
CREATE TABLE crawl_readiness (
    run_id     INTEGER NOT NULL REFERENCES crawl_runs(id) ON DELETE CASCADE,
    release_id INTEGER NOT NULL REFERENCES releases(id),
    python     TEXT NOT NULL,
    platform   TEXT NOT NULL,
    readiness  TEXT NOT NULL,
    PRIMARY KEY (run_id, release_id, python, platform)
) STRICT, WITHOUT ROWID;
CREATE INDEX crawl_readiness_by_release ON crawl_readiness(release_id);
";

/// Version 3: since when each target is ready, and where a project lives (issue 14).
const V3_HISTORY_AND_URLS: &str = "
-- The first release of the unbroken run of ready releases that ends at the latest, per
-- project, interpreter and main platform, as a crawl's bisection found it; kept by later
-- crawls while the latest stays ready. `basis`: after-not-ready (`before_id` was not
-- ready), oldest-release (no older release considered), undecided (`before_id` was
-- undecided: the first may be older). `earlier_ready_id`: the first release of an older
-- run of ready releases (readiness went back and forth). `wheels_read`: what it cost.
CREATE TABLE first_ready (
    project_id       INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    python           TEXT NOT NULL,
    platform         TEXT NOT NULL,
    release_id       INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    basis            TEXT NOT NULL
                     CHECK (basis IN ('after-not-ready', 'oldest-release', 'undecided')),
    before_id        INTEGER REFERENCES releases(id) ON DELETE SET NULL,
    earlier_ready_id INTEGER REFERENCES releases(id) ON DELETE SET NULL,
    wheels_read      INTEGER NOT NULL,
    analyzer_version TEXT NOT NULL,
    found_at         INTEGER NOT NULL,
    PRIMARY KEY (project_id, python, platform)
) STRICT, WITHOUT ROWID;

-- The `Project-URL` fields (and `Home-page`, labelled `Homepage`) of a release's core
-- metadata, as written, read with its classifiers; `urls_read_at` NULL: not read yet (the
-- releases whose classifiers an older gilfree read).
ALTER TABLE releases ADD COLUMN urls_read_at INTEGER;
CREATE TABLE release_urls (
    release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    label      TEXT NOT NULL,
    url        TEXT NOT NULL,
    PRIMARY KEY (release_id, position)
) STRICT, WITHOUT ROWID;
";

/// Version 4: crawls split over several machines, and their merged runs (issue 15).
const V4_SHARDS: &str = "
-- A run of a sharded crawl: `shard_count` N, and `batch` the name its shards share (by
-- default the UTC date it began). A shard's own run (`gilfree crawl --shard K/N`) has
-- `shard_index` K; a run `gilfree store merge` made from shards has `shard_index` NULL and
-- its shards in `crawl_run_shards`. Runs of an unsharded crawl have all three NULL.
ALTER TABLE crawl_runs ADD COLUMN batch TEXT;
ALTER TABLE crawl_runs ADD COLUMN shard_count INTEGER CHECK (shard_count IS NULL OR shard_count >= 1);
ALTER TABLE crawl_runs ADD COLUMN shard_index INTEGER;
CREATE INDEX crawl_runs_by_batch ON crawl_runs(list_name, batch, shard_count, shard_index);

-- The shards a merged run was made from, each as its own run recorded it: a merged run is
-- finished when all `shard_count` shards are here and finished.
CREATE TABLE crawl_run_shards (
    run_id           INTEGER NOT NULL REFERENCES crawl_runs(id) ON DELETE CASCADE,
    shard            INTEGER NOT NULL,
    planned          INTEGER NOT NULL,
    analyzer_version TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    bytes_downloaded INTEGER,
    requests         INTEGER,
    PRIMARY KEY (run_id, shard)
) STRICT, WITHOUT ROWID;
";

/// Version 5: file rows a fifth of their size (issue 15). The old `files` table becomes a
/// view with the same columns over `file_rows`, which `migrate_v5.rs` fills from it.
const V5_COMPACT_FILES: &str = "
-- The file-name endings after the version (`-cp314-cp314t-manylinux_2_28_x86_64.whl`,
-- `.tar.gz`), each once, with the kind and tag sets (empty for other kinds) of the files
-- that end so.
CREATE TABLE file_endings (
    id            INTEGER PRIMARY KEY,
    ending        TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('wheel', 'sdist', 'other')),
    python_tags   TEXT NOT NULL,
    abi_tags      TEXT NOT NULL,
    platform_tags TEXT NOT NULL,
    UNIQUE (ending, kind, python_tags, abi_tags, platform_tags)
) STRICT;

-- Text that file rows repeat, each once: URL bases and requires-python specifiers.
CREATE TABLE file_texts (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
) STRICT;

-- The file name of a release's first recorded file up to and including the version
-- (`numpy-2.1.0`): its files' names start so unless their row says otherwise.
ALTER TABLE releases ADD COLUMN stem TEXT;

-- A distribution file of a release as the index lists it (the columns of version 1's
-- `files`, kept small). Its name is `prefix` (empty: the release's `stem`) and its ending.
-- `url_base` NULL: `url_key` is the whole URL; else the URL is the base, the hash path
-- `url_key` holds as 32 bytes (`0e/f9/66471f...`, NULL: none), `/` and the file name.
-- `sha256` is 32 bytes. `upload_time`: microseconds since 1970 (INTEGER) when the index
-- wrote it as `2025-08-19T10:00:00.123456Z`, else its text.
CREATE TABLE file_rows (
    release_id      INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    prefix          TEXT NOT NULL,
    ending_id       INTEGER NOT NULL REFERENCES file_endings(id),
    url_base        INTEGER REFERENCES file_texts(id),
    url_key         ANY,
    sha256          BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),
    size            INTEGER,
    upload_time     ANY,
    yanked          INTEGER NOT NULL DEFAULT 0 CHECK (yanked IN (0, 1)),
    yanked_reason   TEXT,
    requires_python INTEGER REFERENCES file_texts(id),
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    PRIMARY KEY (release_id, prefix, ending_id)
) STRICT, WITHOUT ROWID;
";

/// The view that spells `file_rows` out as version 1's `files` table (read-only; written
/// through `file_rows`). `migrate_v5.rs` creates it once the old table is gone.
pub(crate) const FILES_VIEW: &str = "
CREATE VIEW files AS
SELECT f.release_id, f.prefix, f.ending_id,
    CASE f.prefix WHEN '' THEN r.stem ELSE f.prefix END || e.ending AS filename,
    e.kind,
    CASE
        WHEN f.url_base IS NULL THEN f.url_key
        WHEN f.url_key IS NULL THEN b.text || '/' || CASE f.prefix WHEN '' THEN r.stem ELSE f.prefix END || e.ending
        ELSE b.text || lower(substr(hex(f.url_key), 1, 2)) || '/' || lower(substr(hex(f.url_key), 3, 2))
            || '/' || lower(substr(hex(f.url_key), 5)) || '/'
            || CASE f.prefix WHEN '' THEN r.stem ELSE f.prefix END || e.ending
    END AS url,
    CASE WHEN f.sha256 IS NULL THEN NULL ELSE lower(hex(f.sha256)) END AS sha256,
    f.size,
    CASE typeof(f.upload_time)
        WHEN 'integer' THEN strftime('%Y-%m-%dT%H:%M:%S', f.upload_time / 1000000, 'unixepoch')
            || printf('.%06dZ', f.upload_time % 1000000)
        ELSE f.upload_time
    END AS upload_time,
    f.yanked, f.yanked_reason, p.text AS requires_python,
    nullif(e.python_tags, '') AS python_tags, nullif(e.abi_tags, '') AS abi_tags,
    nullif(e.platform_tags, '') AS platform_tags,
    f.first_seen, f.last_seen
FROM file_rows f
JOIN releases r ON r.id = f.release_id
JOIN file_endings e ON e.id = f.ending_id
LEFT JOIN file_texts b ON b.id = f.url_base
LEFT JOIN file_texts p ON p.id = f.requires_python;
";

/// Reads `user_version`, refusing files that are not SQLite, belong to another program or
/// come from a newer gilfree. Reads only: nothing is written to a file that is refused.
pub(crate) fn check_identity(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let not_a_db = |e: rusqlite::Error| StoreError::NotADatabase {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_a_db)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_a_db)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(not_a_db)?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        let what = if app_id != 0 {
            format!("application_id {app_id:#x}")
        } else {
            format!("{tables} schema object(s) and no gilfree mark")
        };
        return Err(StoreError::ForeignDatabase {
            path: path.to_path_buf(),
            what,
        });
    }
    too_new(version, path)?;
    Ok(version)
}

/// The error for a database newer than this build, if it is one.
fn too_new(version: i64, path: &Path) -> Result<(), StoreError> {
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the migrations the database lacks up to `target`, one transaction each.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, target: i64) -> Result<(), StoreError> {
    while step(conn, path, target)? {}
    Ok(())
}

/// Applies the next migration if the database is below `target`; `false` when there is
/// nothing left to do. The version is read inside the write transaction, so a process that
/// lost the race to migrate sees the winner's work and does nothing.
fn step(conn: &mut Connection, path: &Path, target: i64) -> Result<bool, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context(|| format!("{}: starting a migration", path.display()))?;
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .context(|| format!("{}: reading the schema version", path.display()))?;
    too_new(current, path)?;
    if current >= target {
        return Ok(false);
    }
    let next = current + 1;
    let migration = &MIGRATIONS[current as usize];
    let failed = |source| StoreError::Migration {
        path: path.to_path_buf(),
        version: next,
        step: migration.name,
        source,
    };
    tx.execute_batch(migration.sql).map_err(failed)?;
    if let Some(then) = migration.then {
        then(&tx).map_err(failed)?;
    }
    tx.pragma_update(None, "user_version", next)
        .map_err(failed)?;
    tx.commit().map_err(failed)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_in_sql_matches_the_constant() {
        let expected = format!("PRAGMA application_id = {APPLICATION_ID};");
        assert!(V1_INDEX_AND_ANALYSES.contains(&expected));
        assert_eq!(&APPLICATION_ID.to_be_bytes()[4..], b"gilf");
    }

    #[test]
    fn every_migration_has_a_name_and_statements() {
        for m in MIGRATIONS {
            assert!(!m.name.is_empty());
            assert!(m.sql.contains("CREATE"), "{}", m.name);
        }
    }
}
