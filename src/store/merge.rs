//! `gilfree store merge`: folds stores (the shards of a crawl, or any gilfree stores of this
//! schema) into one, in one transaction: a failure leaves the target as it was.
//!
//! Rows meet by their natural keys, never by their ids (which are renumbered): projects by
//! name, releases by project and version, files by release and file name, analyses by sha256, analyzer,
//! interpreter and platform, cached pages by URL, first ready releases by project and
//! target. When two stores hold the same key, the row with the newer timestamp wins
//! (`last_seen`, `analyzed_at`, `fetched_at`, `found_at`, `recorded_at`, the metadata's read
//! times), with what hangs off it (an analysis' modules, a release's classifiers and URLs, a
//! crawled project's readiness rows); first-seen times keep the earliest. Nothing is
//! deleted that no newer row replaces.
//!
//! Crawl runs: the shard runs of one sharded crawl (same list, batch and shard count) become
//! one run, whose shards are kept in `crawl_run_shards`; it is finished once every shard is
//! there and finished, and its planned count and network totals are the shards' sums. A run
//! of an unsharded crawl is matched by its list, analyzer and start. Shard runs already in
//! the target are folded the same way first.
//!
//! SQLite attaches at most ten databases to a connection, so more than [`MAX_ATTACHED`]
//! inputs are first merged in groups into temporary stores next to the target; only the
//! last step writes the target.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

use super::Store;
use super::error::{Context, StoreError};
use super::schema::{APPLICATION_ID, SCHEMA_VERSION};

/// Inputs attached to the target's connection at once.
pub const MAX_ATTACHED: usize = 8;

/// The tables whose rows a merge counts, in the order the summary lists them.
const TABLES: [&str; 13] = [
    "projects",
    "releases",
    "files",
    "release_classifiers",
    "release_urls",
    "analyses",
    "modules",
    "page_cache",
    "first_ready",
    "crawl_runs",
    "crawl_run_shards",
    "crawl_projects",
    "crawl_readiness",
];

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// The target store.
    pub out: PathBuf,
    /// The target did not exist before.
    pub created: bool,
    /// Each input with its row counts, in the order given.
    pub inputs: Vec<(PathBuf, Vec<u64>)>,
    /// Rows of the target per table of [`TABLES`], before and after.
    pub before: Vec<u64>,
    pub after: Vec<u64>,
    /// The target's crawl runs after the merge.
    pub runs: Vec<MergedRun>,
}

/// One crawl run of the merged store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRun {
    pub id: i64,
    pub list_name: String,
    /// `None`: a run of an unsharded crawl.
    pub batch: Option<String>,
    /// Shards present and shards of the crawl (`None` for an unsharded run).
    pub shards: Option<(u64, u64)>,
    pub projects: u64,
    pub finished: bool,
}

/// A shard of a run as its own run recorded it.
#[derive(Debug, Clone)]
struct Part {
    shard: i64,
    planned: i64,
    analyzer_version: String,
    started_at: i64,
    finished_at: Option<i64>,
    bytes: Option<i64>,
    requests: Option<i64>,
}

/// A `crawl_runs` row of an input.
#[derive(Debug, Clone)]
struct RunRow {
    id: i64,
    list_name: String,
    planned: i64,
    analyzer_version: String,
    started_at: i64,
    finished_at: Option<i64>,
    bytes: Option<i64>,
    requests: Option<i64>,
    batch: Option<String>,
    shard_count: Option<i64>,
    shard_index: Option<i64>,
}

/// Merges `inputs` into the store at `out` (created if missing). Every input is checked
/// before the target is opened: it must exist, be a gilfree store of this schema version,
/// and not be the target itself.
pub fn merge_stores(out: &Path, inputs: &[PathBuf]) -> Result<MergeSummary, StoreError> {
    let mut counts = Vec::with_capacity(inputs.len());
    for input in inputs {
        counts.push((input.clone(), check_input(input, out)?));
    }
    let created = !out.exists();
    let result = merge_checked(out, inputs);
    if result.is_err() && created {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = out.as_os_str().to_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
    let (before, after, runs) = result?;
    Ok(MergeSummary {
        out: out.to_path_buf(),
        created,
        inputs: counts,
        before,
        after,
        runs,
    })
}

type Merged = (Vec<u64>, Vec<u64>, Vec<MergedRun>);

/// The merge once every input passed its checks.
fn merge_checked(out: &Path, inputs: &[PathBuf]) -> Result<Merged, StoreError> {
    // Groups of inputs beyond what one connection attaches go through temporary stores.
    let staging = if inputs.len() > MAX_ATTACHED {
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Some(
            tempfile::Builder::new()
                .prefix(".gilfree-merge-")
                .tempdir_in(dir)
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?,
        )
    } else {
        None
    };
    let mut level: Vec<PathBuf> = inputs.to_vec();
    let mut step = 0;
    while level.len() > MAX_ATTACHED {
        let dir = staging.as_ref().expect("made above").path();
        let mut next = Vec::new();
        for group in level.chunks(MAX_ATTACHED) {
            step += 1;
            let path = dir.join(format!("stage-{step}.sqlite3"));
            let mut store = Store::open(&path)?;
            store.merge_attached(group)?;
            next.push(path);
        }
        level = next;
    }
    let mut store = Store::open(out)?;
    let before = store.table_counts()?;
    store.merge_attached(&level)?;
    let after = store.table_counts()?;
    let runs = store.merged_runs()?;
    Ok((before, after, runs))
}

/// Checks that `input` is a gilfree store of this schema, other than `out`; its row counts.
fn check_input(input: &Path, out: &Path) -> Result<Vec<u64>, StoreError> {
    if !input.is_file() {
        return Err(StoreError::MergeInput {
            path: input.to_path_buf(),
            why: "no such store".into(),
        });
    }
    if let (Ok(a), Ok(b)) = (input.canonicalize(), out.canonicalize())
        && a == b
    {
        return Err(StoreError::MergeInput {
            path: input.to_path_buf(),
            why: "it is the store merged into".into(),
        });
    }
    let not_a_db = |e: rusqlite::Error| StoreError::NotADatabase {
        path: input.to_path_buf(),
        message: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        input,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_a_db)?;
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(not_a_db)?;
    if app_id != APPLICATION_ID {
        return Err(StoreError::ForeignDatabase {
            path: input.to_path_buf(),
            what: format!("application_id {app_id:#x}"),
        });
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(not_a_db)?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::SchemaMismatch {
            path: input.to_path_buf(),
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    counts(&conn, "main", input)
}

/// Rows per table of [`TABLES`] in the database `schema` of `conn`.
fn counts(conn: &Connection, schema: &str, path: &Path) -> Result<Vec<u64>, StoreError> {
    TABLES
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {schema}.{t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .context(|| format!("{}: counting {t}", path.display()))
        })
        .collect()
}

/// `path` as a read-only SQLite URI.
fn read_only_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for b in absolute.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(b as char)
            }
            b'\\' => uri.push('/'),
            _ => {
                let _ = write!(uri, "%{b:02X}");
            }
        }
    }
    if !uri.starts_with("file:/") {
        // A Windows path (C:/...): URIs want a slash before the drive.
        uri.insert(5, '/');
    }
    uri.push_str("?mode=ro");
    uri
}

impl Store {
    /// Rows per table of [`TABLES`].
    fn table_counts(&self) -> Result<Vec<u64>, StoreError> {
        counts(&self.conn, "main", &self.path)
    }

    /// Attaches `inputs` (at most [`MAX_ATTACHED`]) read-only and merges them in one
    /// transaction, then detaches them.
    fn merge_attached(&mut self, inputs: &[PathBuf]) -> Result<(), StoreError> {
        debug_assert!(inputs.len() <= MAX_ATTACHED);
        let out = self.path.display().to_string();
        for (i, input) in inputs.iter().enumerate() {
            self.conn
                .execute(
                    "ATTACH DATABASE ?1 AS ?2",
                    params![read_only_uri(input), alias(i)],
                )
                .context(|| format!("{}: opening it to merge", input.display()))?;
        }
        let result = self.merge_in_transaction(inputs, &out);
        for i in 0..inputs.len() {
            let _ = self
                .conn
                .execute(&format!("DETACH DATABASE {}", alias(i)), []);
        }
        result
    }

    fn merge_in_transaction(&mut self, inputs: &[PathBuf], out: &str) -> Result<(), StoreError> {
        let tx = self.write(|| format!("{out}: starting the merge"))?;
        create_maps(&tx).context(|| format!("{out}: preparing the merge"))?;
        fold_own_shard_runs(&tx).context(|| format!("{out}: folding its shard runs"))?;
        for (i, input) in inputs.iter().enumerate() {
            merge_one(&tx, &alias(i))
                .context(|| format!("merging {} into {out}", input.display()))?;
        }
        drop_maps(&tx).context(|| format!("{out}: finishing the merge"))?;
        tx.commit()
            .context(|| format!("{out}: committing the merge"))
    }

    /// The crawl runs, with how many shards and projects each has.
    fn merged_runs(&self) -> Result<Vec<MergedRun>, StoreError> {
        let what = || format!("{}: reading the merged runs", self.path.display());
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.list_name, r.batch, r.shard_count,
                        (SELECT count(*) FROM crawl_run_shards s WHERE s.run_id = r.id),
                        r.shard_index,
                        (SELECT count(*) FROM crawl_projects p WHERE p.run_id = r.id),
                        r.finished_at IS NOT NULL
                 FROM crawl_runs r ORDER BY r.id",
            )
            .context(what)?;
        let rows = stmt
            .query_map([], |r| {
                let count: Option<i64> = r.get(3)?;
                let present: i64 = r.get(4)?;
                let own: Option<i64> = r.get(5)?;
                let present = if own.is_some() { 1 } else { present };
                Ok(MergedRun {
                    id: r.get(0)?,
                    list_name: r.get(1)?,
                    batch: r.get(2)?,
                    shards: count.map(|n| (present.max(0) as u64, n.max(0) as u64)),
                    projects: r.get::<_, i64>(6)?.max(0) as u64,
                    finished: r.get(7)?,
                })
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        Ok(rows)
    }
}

/// The schema name of the `i`th attached input.
fn alias(i: usize) -> String {
    format!("merge_in{i}")
}

/// The id maps from an input's rows to the target's.
fn create_maps(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE merge_projects (src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);
         CREATE TEMP TABLE merge_releases (src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);
         CREATE TEMP TABLE merge_endings (src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);
         CREATE TEMP TABLE merge_texts (src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);
         CREATE TEMP TABLE merge_winners (src_project INTEGER PRIMARY KEY, project INTEGER,
             rank INTEGER, release INTEGER, error TEXT, recorded_at INTEGER);",
    )
}

fn drop_maps(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP TABLE temp.merge_projects; DROP TABLE temp.merge_releases;
         DROP TABLE temp.merge_endings; DROP TABLE temp.merge_texts;
         DROP TABLE temp.merge_winners;",
    )
}

/// Runs `sql` with `src.` standing for the input's schema.
fn run(tx: &Transaction, src: &str, sql: &str) -> rusqlite::Result<()> {
    tx.execute_batch(&sql.replace("src.", &format!("{src}.")))
}

/// Everything of the input attached as `src`.
fn merge_one(tx: &Transaction, src: &str) -> rusqlite::Result<()> {
    run(tx, src, MERGE_PROJECTS_AND_RELEASES)?;
    run(tx, src, MERGE_METADATA)?;
    run(tx, src, MERGE_FILES)?;
    run(tx, src, DROP_OLDER_ANALYSES)?;
    let before: i64 = tx.query_row("SELECT coalesce(max(id), 0) FROM main.analyses", [], |r| {
        r.get(0)
    })?;
    run(tx, src, INSERT_ANALYSES)?;
    tx.execute(
        &INSERT_MODULES.replace("src.", &format!("{src}.")),
        [before],
    )?;
    run(tx, src, MERGE_PAGES_AND_FIRST_READY)?;
    for row in runs_of(tx, src)? {
        let parts = parts_of(tx, src, &row)?;
        let target = target_run(tx, &row, &parts)?;
        fold_projects(tx, src, row.id, target)?;
        if row.shard_count.is_some() {
            record_parts(tx, target, &parts)?;
        }
    }
    Ok(())
}

const MERGE_PROJECTS_AND_RELEASES: &str = "
INSERT INTO main.projects (name, first_seen, last_listed)
SELECT name, first_seen, last_listed FROM src.projects WHERE true
ON CONFLICT (name) DO UPDATE SET
    first_seen = min(projects.first_seen, excluded.first_seen),
    last_listed = max(coalesce(projects.last_listed, excluded.last_listed),
                      coalesce(excluded.last_listed, projects.last_listed));
DELETE FROM temp.merge_projects;
INSERT INTO temp.merge_projects
SELECT s.id, m.id FROM src.projects s JOIN main.projects m ON m.name = s.name;

INSERT INTO main.releases (project_id, version, first_seen, stem)
SELECT p.dst, r.version, r.first_seen, r.stem
FROM src.releases r JOIN temp.merge_projects p ON p.src = r.project_id WHERE true
ON CONFLICT (project_id, version) DO UPDATE SET
    first_seen = min(releases.first_seen, excluded.first_seen),
    stem = coalesce(releases.stem, excluded.stem);
DELETE FROM temp.merge_releases;
INSERT INTO temp.merge_releases
SELECT r.id, m.id FROM src.releases r JOIN temp.merge_projects p ON p.src = r.project_id
JOIN main.releases m ON m.project_id = p.dst AND m.version = r.version;
";

/// Classifiers and URLs go with the newer read of a release's metadata.
const MERGE_METADATA: &str = "
CREATE TEMP TABLE merge_newer AS
SELECT mr.src, mr.dst, r.metadata_read_at AS read_at
FROM temp.merge_releases mr JOIN src.releases r ON r.id = mr.src
JOIN main.releases m ON m.id = mr.dst
WHERE r.metadata_read_at IS NOT NULL
  AND (m.metadata_read_at IS NULL OR r.metadata_read_at > m.metadata_read_at);
DELETE FROM main.release_classifiers WHERE release_id IN (SELECT dst FROM temp.merge_newer);
INSERT INTO main.release_classifiers (release_id, classifier)
SELECT n.dst, c.classifier FROM temp.merge_newer n
JOIN src.release_classifiers c ON c.release_id = n.src;
UPDATE main.releases SET metadata_read_at =
    (SELECT n.read_at FROM temp.merge_newer n WHERE n.dst = releases.id)
WHERE id IN (SELECT dst FROM temp.merge_newer);
DROP TABLE temp.merge_newer;

CREATE TEMP TABLE merge_newer AS
SELECT mr.src, mr.dst, r.urls_read_at AS read_at
FROM temp.merge_releases mr JOIN src.releases r ON r.id = mr.src
JOIN main.releases m ON m.id = mr.dst
WHERE r.urls_read_at IS NOT NULL
  AND (m.urls_read_at IS NULL OR r.urls_read_at > m.urls_read_at);
DELETE FROM main.release_urls WHERE release_id IN (SELECT dst FROM temp.merge_newer);
INSERT INTO main.release_urls (release_id, position, label, url)
SELECT n.dst, u.position, u.label, u.url FROM temp.merge_newer n
JOIN src.release_urls u ON u.release_id = n.src;
UPDATE main.releases SET urls_read_at =
    (SELECT n.read_at FROM temp.merge_newer n WHERE n.dst = releases.id)
WHERE id IN (SELECT dst FROM temp.merge_newer);
DROP TABLE temp.merge_newer;
";

/// A file's row as the page that listed it last had it; first seen the earliest. Endings
/// and texts are interned again in the target, and a file's name is spelled against the
/// target release's stem.
const MERGE_FILES: &str = "
INSERT INTO main.file_endings (ending, kind, python_tags, abi_tags, platform_tags)
SELECT ending, kind, python_tags, abi_tags, platform_tags FROM src.file_endings WHERE true
ON CONFLICT (ending, kind, python_tags, abi_tags, platform_tags) DO NOTHING;
DELETE FROM temp.merge_endings;
INSERT INTO temp.merge_endings
SELECT s.id, m.id FROM src.file_endings s JOIN main.file_endings m
ON m.ending = s.ending AND m.kind = s.kind AND m.python_tags = s.python_tags
   AND m.abi_tags = s.abi_tags AND m.platform_tags = s.platform_tags;

INSERT INTO main.file_texts (text) SELECT text FROM src.file_texts WHERE true
ON CONFLICT (text) DO NOTHING;
DELETE FROM temp.merge_texts;
INSERT INTO temp.merge_texts
SELECT s.id, m.id FROM src.file_texts s JOIN main.file_texts m ON m.text = s.text;

INSERT INTO main.file_rows (release_id, prefix, ending_id, url_base, url_key, sha256, size,
    upload_time, yanked, yanked_reason, requires_python, first_seen, last_seen)
SELECT mr.dst,
    CASE WHEN CASE f.prefix WHEN '' THEN sr.stem ELSE f.prefix END = dr.stem THEN ''
         ELSE CASE f.prefix WHEN '' THEN sr.stem ELSE f.prefix END END,
    me.dst, mb.dst, f.url_key, f.sha256, f.size, f.upload_time, f.yanked, f.yanked_reason,
    mp.dst, f.first_seen, f.last_seen
FROM src.file_rows f
JOIN src.releases sr ON sr.id = f.release_id
JOIN temp.merge_releases mr ON mr.src = f.release_id
JOIN main.releases dr ON dr.id = mr.dst
JOIN temp.merge_endings me ON me.src = f.ending_id
LEFT JOIN temp.merge_texts mb ON mb.src = f.url_base
LEFT JOIN temp.merge_texts mp ON mp.src = f.requires_python
WHERE true
ON CONFLICT (release_id, prefix, ending_id) DO UPDATE SET
    url_base = iif(excluded.last_seen > file_rows.last_seen, excluded.url_base, file_rows.url_base),
    url_key = iif(excluded.last_seen > file_rows.last_seen, excluded.url_key, file_rows.url_key),
    sha256 = iif(excluded.last_seen > file_rows.last_seen, excluded.sha256, file_rows.sha256),
    size = iif(excluded.last_seen > file_rows.last_seen, excluded.size, file_rows.size),
    upload_time = iif(excluded.last_seen > file_rows.last_seen, excluded.upload_time,
                      file_rows.upload_time),
    yanked = iif(excluded.last_seen > file_rows.last_seen, excluded.yanked, file_rows.yanked),
    yanked_reason = iif(excluded.last_seen > file_rows.last_seen, excluded.yanked_reason,
                        file_rows.yanked_reason),
    requires_python = iif(excluded.last_seen > file_rows.last_seen, excluded.requires_python,
                          file_rows.requires_python),
    first_seen = min(file_rows.first_seen, excluded.first_seen),
    last_seen = max(file_rows.last_seen, excluded.last_seen);
";

/// Analyses the input has newer: the target's go (their modules with them).
const DROP_OLDER_ANALYSES: &str = "
DELETE FROM main.analyses WHERE id IN (
    SELECT m.id FROM main.analyses m JOIN src.analyses s
    ON s.sha256 = m.sha256 AND s.analyzer_version = m.analyzer_version
       AND s.python = m.python AND s.platform = m.platform
    WHERE s.analyzed_at > m.analyzed_at);
";

const INSERT_ANALYSES: &str = "
INSERT INTO main.analyses (sha256, analyzer_version, python, platform, readiness, note, error,
    analyzed_at)
SELECT sha256, analyzer_version, python, platform, readiness, note, error, analyzed_at
FROM src.analyses WHERE true ORDER BY id
ON CONFLICT (sha256, analyzer_version, python, platform) DO NOTHING;
";

/// The modules of the analyses just inserted (ids above `?1`).
const INSERT_MODULES: &str = "
INSERT INTO main.modules (analysis_id, position, member, module, verdict, reason, binder,
    evidence, fix)
SELECT m.id, x.position, x.member, x.module, x.verdict, x.reason, x.binder, x.evidence, x.fix
FROM main.analyses m JOIN src.analyses s
  ON s.sha256 = m.sha256 AND s.analyzer_version = m.analyzer_version
     AND s.python = m.python AND s.platform = m.platform
JOIN src.modules x ON x.analysis_id = s.id
WHERE m.id > ?1";

const MERGE_PAGES_AND_FIRST_READY: &str = "
INSERT INTO main.page_cache (url, content_type, body, etag, last_modified, fetched_at)
SELECT url, content_type, body, etag, last_modified, fetched_at FROM src.page_cache WHERE true
ON CONFLICT (url) DO UPDATE SET
    content_type = excluded.content_type, body = excluded.body, etag = excluded.etag,
    last_modified = excluded.last_modified, fetched_at = excluded.fetched_at
WHERE excluded.fetched_at > page_cache.fetched_at;

INSERT INTO main.first_ready (project_id, python, platform, release_id, basis, before_id,
    earlier_ready_id, wheels_read, analyzer_version, found_at)
SELECT p.dst, f.python, f.platform, r.dst, f.basis, b.dst, e.dst, f.wheels_read,
    f.analyzer_version, f.found_at
FROM src.first_ready f
JOIN temp.merge_projects p ON p.src = f.project_id
JOIN temp.merge_releases r ON r.src = f.release_id
LEFT JOIN temp.merge_releases b ON b.src = f.before_id
LEFT JOIN temp.merge_releases e ON e.src = f.earlier_ready_id
WHERE true
ON CONFLICT (project_id, python, platform) DO UPDATE SET
    release_id = excluded.release_id, basis = excluded.basis, before_id = excluded.before_id,
    earlier_ready_id = excluded.earlier_ready_id, wheels_read = excluded.wheels_read,
    analyzer_version = excluded.analyzer_version, found_at = excluded.found_at
WHERE excluded.found_at > first_ready.found_at;
";

/// The crawl runs of `src`, oldest first.
fn runs_of(tx: &Transaction, src: &str) -> rusqlite::Result<Vec<RunRow>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, list_name, planned, analyzer_version, started_at, finished_at,
                bytes_downloaded, requests, batch, shard_count, shard_index
         FROM {src}.crawl_runs ORDER BY id"
    ))?;
    stmt.query_map([], |r| {
        Ok(RunRow {
            id: r.get(0)?,
            list_name: r.get(1)?,
            planned: r.get(2)?,
            analyzer_version: r.get(3)?,
            started_at: r.get(4)?,
            finished_at: r.get(5)?,
            bytes: r.get(6)?,
            requests: r.get(7)?,
            batch: r.get(8)?,
            shard_count: r.get(9)?,
            shard_index: r.get(10)?,
        })
    })?
    .collect()
}

/// The shards a sharded run stands for: itself when it is a shard's own run, else the
/// shards it was merged from.
fn parts_of(tx: &Transaction, src: &str, row: &RunRow) -> rusqlite::Result<Vec<Part>> {
    if row.shard_count.is_none() {
        return Ok(Vec::new());
    }
    if let Some(shard) = row.shard_index {
        return Ok(vec![Part {
            shard,
            planned: row.planned,
            analyzer_version: row.analyzer_version.clone(),
            started_at: row.started_at,
            finished_at: row.finished_at,
            bytes: row.bytes,
            requests: row.requests,
        }]);
    }
    let mut stmt = tx.prepare(&format!(
        "SELECT shard, planned, analyzer_version, started_at, finished_at, bytes_downloaded,
                requests
         FROM {src}.crawl_run_shards WHERE run_id = ?1 ORDER BY shard"
    ))?;
    stmt.query_map([row.id], |r| {
        Ok(Part {
            shard: r.get(0)?,
            planned: r.get(1)?,
            analyzer_version: r.get(2)?,
            started_at: r.get(3)?,
            finished_at: r.get(4)?,
            bytes: r.get(5)?,
            requests: r.get(6)?,
        })
    })?
    .collect()
}

/// The target's run that `row` folds into, made if it has none yet.
fn target_run(tx: &Transaction, row: &RunRow, parts: &[Part]) -> rusqlite::Result<i64> {
    let Some(count) = row.shard_count else {
        let found: Option<(i64, Option<i64>)> = tx
            .query_row(
                "SELECT id, finished_at FROM main.crawl_runs
                 WHERE shard_count IS NULL AND list_name = ?1 AND analyzer_version = ?2
                   AND started_at = ?3
                 ORDER BY id LIMIT 1",
                params![row.list_name, row.analyzer_version, row.started_at],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        return match found {
            Some((id, finished)) => {
                // The same run in two stores: the copy that saw it finish knows more.
                if finished.is_none() && row.finished_at.is_some() {
                    tx.execute(
                        "UPDATE main.crawl_runs SET finished_at = ?2, bytes_downloaded = ?3,
                             requests = ?4, planned = max(planned, ?5)
                         WHERE id = ?1",
                        params![id, row.finished_at, row.bytes, row.requests, row.planned],
                    )?;
                }
                Ok(id)
            }
            None => {
                tx.execute(
                    "INSERT INTO main.crawl_runs (list_name, planned, analyzer_version,
                         started_at, finished_at, bytes_downloaded, requests)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        row.list_name,
                        row.planned,
                        row.analyzer_version,
                        row.started_at,
                        row.finished_at,
                        row.bytes,
                        row.requests
                    ],
                )?;
                Ok(tx.last_insert_rowid())
            }
        };
    };
    let found: Option<i64> = tx
        .query_row(
            "SELECT id FROM main.crawl_runs
             WHERE shard_index IS NULL AND shard_count = ?1 AND list_name = ?2 AND batch IS ?3
             ORDER BY id LIMIT 1",
            params![count, row.list_name, row.batch],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let started = parts.iter().map(|p| p.started_at).min();
    tx.execute(
        "INSERT INTO main.crawl_runs (list_name, planned, analyzer_version, started_at, batch,
             shard_count)
         VALUES (?1, 0, ?2, ?3, ?4, ?5)",
        params![
            row.list_name,
            row.analyzer_version,
            started.unwrap_or(row.started_at),
            row.batch,
            count
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Records the shards of a merged run (the newer record of a shard wins) and sets the run's
/// planned count, start, end and totals from them.
fn record_parts(tx: &Transaction, run: i64, parts: &[Part]) -> rusqlite::Result<()> {
    for p in parts {
        tx.execute(
            "INSERT INTO main.crawl_run_shards (run_id, shard, planned, analyzer_version,
                 started_at, finished_at, bytes_downloaded, requests)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (run_id, shard) DO UPDATE SET
                 planned = excluded.planned, analyzer_version = excluded.analyzer_version,
                 started_at = excluded.started_at, finished_at = excluded.finished_at,
                 bytes_downloaded = excluded.bytes_downloaded, requests = excluded.requests
             WHERE (excluded.started_at, coalesce(excluded.finished_at, 0))
                 > (crawl_run_shards.started_at, coalesce(crawl_run_shards.finished_at, 0))",
            params![
                run,
                p.shard,
                p.planned,
                p.analyzer_version,
                p.started_at,
                p.finished_at,
                p.bytes,
                p.requests
            ],
        )?;
    }
    let totals = tx.query_row(
        "SELECT count(*), count(s.finished_at), sum(s.planned), min(s.started_at),
                max(s.finished_at), sum(s.bytes_downloaded), sum(s.requests),
                max(s.analyzer_version), r.shard_count
         FROM main.crawl_run_shards s JOIN main.crawl_runs r ON r.id = s.run_id
         WHERE s.run_id = ?1",
        [run],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        },
    )?;
    let (parts, finished, planned, started, last, bytes, requests, analyzer, count) = totals;
    if parts == 0 {
        return Ok(());
    }
    // Finished when every shard is here and finished; the totals only then.
    let complete = Some(parts) == count && finished == parts;
    tx.execute(
        "UPDATE main.crawl_runs SET planned = ?2, started_at = ?3, finished_at = ?4,
             bytes_downloaded = ?5, requests = ?6, analyzer_version = ?7
         WHERE id = ?1",
        params![
            run,
            planned.unwrap_or(0),
            started,
            last.filter(|_| complete),
            bytes.filter(|_| complete),
            requests.filter(|_| complete),
            analyzer
        ],
    )?;
    Ok(())
}

/// Folds what run `from` of `src` recorded of its projects into the target's run `into`:
/// a project the target's run has recorded later keeps its record; otherwise the input's
/// record replaces it, readiness rows included.
fn fold_projects(tx: &Transaction, src: &str, from: i64, into: i64) -> rusqlite::Result<()> {
    let sql = "
DELETE FROM temp.merge_winners;
INSERT INTO temp.merge_winners (src_project, project, rank, release, error, recorded_at)
SELECT c.project_id, p.dst, c.rank, r.dst, c.error, c.recorded_at
FROM src.crawl_projects c
JOIN temp.merge_projects p ON p.src = c.project_id
LEFT JOIN temp.merge_releases r ON r.src = c.release_id
WHERE c.run_id = ?1 AND NOT EXISTS (
    SELECT 1 FROM main.crawl_projects x
    WHERE x.run_id = ?2 AND x.project_id = p.dst AND x.recorded_at >= c.recorded_at);
DELETE FROM main.crawl_readiness WHERE run_id = ?2 AND release_id IN (
    SELECT id FROM main.releases WHERE project_id IN (SELECT project FROM temp.merge_winners));
DELETE FROM main.crawl_projects
WHERE run_id = ?2 AND project_id IN (SELECT project FROM temp.merge_winners);
INSERT INTO main.crawl_projects (run_id, project_id, rank, release_id, error, recorded_at)
SELECT ?2, project, rank, release, error, recorded_at FROM temp.merge_winners;
INSERT INTO main.crawl_readiness (run_id, release_id, python, platform, readiness)
SELECT ?2, mr.dst, c.python, c.platform, c.readiness
FROM src.crawl_readiness c
JOIN src.releases r ON r.id = c.release_id
JOIN temp.merge_releases mr ON mr.src = c.release_id
WHERE c.run_id = ?1 AND r.project_id IN (SELECT src_project FROM temp.merge_winners);
"
    .replace("src.", &format!("{src}."));
    // execute_batch takes no parameters: run the statements one by one.
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut prepared = tx.prepare(stmt)?;
        let wanted = prepared.parameter_count();
        let args: [&dyn rusqlite::ToSql; 2] = [&from, &into];
        prepared.execute(&args[..wanted])?;
    }
    Ok(())
}

/// Shard runs the target itself holds (it is a shard's store, or shards were crawled into
/// it one after another) become merged runs like those of the inputs.
fn fold_own_shard_runs(tx: &Transaction) -> rusqlite::Result<()> {
    let own: Vec<RunRow> = runs_of(tx, "main")?
        .into_iter()
        .filter(|r| r.shard_index.is_some())
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    tx.execute_batch(
        "DELETE FROM temp.merge_projects;
         INSERT INTO temp.merge_projects SELECT id, id FROM main.projects;
         DELETE FROM temp.merge_releases;
         INSERT INTO temp.merge_releases SELECT id, id FROM main.releases;",
    )?;
    for row in own {
        let parts = parts_of(tx, "main", &row)?;
        let target = target_run(tx, &row, &parts)?;
        fold_projects(tx, "main", row.id, target)?;
        record_parts(tx, target, &parts)?;
        tx.execute("DELETE FROM main.crawl_runs WHERE id = ?1", [row.id])?;
    }
    Ok(())
}

impl MergeSummary {
    /// The summary for people: what came from where, the target's rows before and after,
    /// and its crawl runs.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let name = |p: &Path| p.display().to_string();
        let _ = writeln!(
            out,
            "merged {} store(s) into {}{}",
            self.inputs.len(),
            name(&self.out),
            if self.created { " (new)" } else { "" }
        );
        for (path, counts) in &self.inputs {
            let of = |table: &str| {
                TABLES
                    .iter()
                    .position(|t| *t == table)
                    .map_or(0, |i| counts[i])
            };
            let _ = writeln!(
                out,
                "  from {}: {} project(s), {} file(s), {} analyses, {} crawl run(s)",
                name(path),
                of("projects"),
                of("files"),
                of("analyses"),
                of("crawl_runs")
            );
        }
        let _ = writeln!(
            out,
            "\n{:<20}{:>12}{:>12}{:>12}",
            "rows", "before", "inputs", "after"
        );
        for (t, table) in TABLES.iter().enumerate() {
            let inputs: u64 = self.inputs.iter().map(|(_, c)| c[t]).sum();
            let _ = writeln!(
                out,
                "{table:<20}{:>12}{inputs:>12}{:>12}",
                self.before[t], self.after[t]
            );
        }
        if !self.runs.is_empty() {
            out.push('\n');
        }
        let mut by_state: BTreeMap<bool, u64> = BTreeMap::new();
        for r in &self.runs {
            *by_state.entry(r.finished).or_default() += 1;
            let shards = match (r.shards, &r.batch) {
                (Some((have, of)), Some(batch)) => {
                    format!(", batch {batch}, {have} of {of} shard(s)")
                }
                (Some((have, of)), None) => format!(", {have} of {of} shard(s)"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "crawl run {} of {}{shards}: {} project(s), {}",
                r.id,
                r.list_name,
                r.projects,
                if r.finished { "finished" } else { "unfinished" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests;
