//! Crawl runs: when a crawl ran, over which list, what it made of each project, and the
//! per-run counts the site draws its trends from.
//!
//! Each project's outcome is written in one transaction as soon as the crawl is done with
//! it, so a crawl killed at any point keeps every project it finished; the next crawl of the
//! same list finds the run with [`Store::unfinished_crawl_run`] and skips the projects
//! [`Store::crawled_projects`] names.
//!
//! ```
//! use gilfree::store::{CrawlProject, CrawlTotals, Store};
//!
//! # fn main() -> Result<(), gilfree::store::StoreError> {
//! let mut store = Store::in_memory()?;
//! let run = match store.unfinished_crawl_run("top-pypi-packages")? {
//!     Some(run) => run,
//!     None => store.begin_crawl_run("top-pypi-packages", 1000, "0.1.0")?,
//! };
//! let done = store.crawled_projects(run)?;
//! if !done.iter().any(|p| p == "no-such-project") {
//!     let failed = CrawlProject {
//!         project: "no-such-project",
//!         rank: 1,
//!         latest: None,
//!         error: Some("HTTP 404"),
//!         readiness: &[],
//!     };
//!     store.record_crawl_project(run, &failed)?;
//! }
//! store.finish_crawl_run(run, &CrawlTotals { bytes_downloaded: 0, requests: 1 })?;
//! let trend = store.crawl_runs()?;
//! assert_eq!((trend[0].projects_done, trend[0].projects_failed), (1, 1));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::codec::{self, decode, from_sql_count, name_of, to_sql_count};
use super::error::{Context, StoreError};
use super::files::{checked_project, find_release};
use crate::scan::Readiness;

/// The id of a crawl run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrawlRunId(i64);

impl CrawlRunId {
    /// The stored id.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for CrawlRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The readiness a run found for one release, interpreter and platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseReadiness<'a> {
    /// A recorded version of the project.
    pub version: &'a str,
    pub python: &'a str,
    /// A platform name, or whatever the crawl uses for "all platforms".
    pub platform: &'a str,
    pub readiness: Readiness,
}

/// What a run made of one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlProject<'a> {
    pub project: &'a str,
    /// Position on the crawled list (1 = first).
    pub rank: u32,
    /// The release the run took as latest; `None` when there is none or the project failed.
    pub latest: Option<&'a str>,
    /// Why the project could not be crawled.
    pub error: Option<&'a str>,
    /// The readiness of each release the run evaluated (the latest, and older ones).
    pub readiness: &'a [ReleaseReadiness<'a>],
}

/// Which shard of a sharded crawl a run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunShard {
    /// `K`, from 0.
    pub index: u32,
    /// `N`.
    pub count: u32,
    /// The name the shards of one run share (e.g. the night's date).
    pub batch: String,
}

/// Network totals of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlTotals {
    pub bytes_downloaded: u64,
    pub requests: u64,
}

/// How many projects of a run had a readiness for an interpreter and platform (judged on
/// the release the run took as latest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessCount {
    pub python: String,
    pub platform: String,
    pub readiness: Readiness,
    pub projects: u64,
}

/// One run with its counts, as recorded so far (exact for interrupted runs too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlRunSummary {
    pub id: CrawlRunId,
    pub list_name: String,
    /// Projects the run set out to crawl.
    pub planned: u64,
    pub analyzer_version: String,
    pub started_at: SystemTime,
    /// `None`: still running, or interrupted.
    pub finished_at: Option<SystemTime>,
    pub totals: Option<CrawlTotals>,
    /// Projects recorded, failed ones included.
    pub projects_done: u64,
    pub projects_failed: u64,
    /// Sorted by python, platform, readiness.
    pub readiness: Vec<ReadinessCount>,
}

const SELECT_RUNS: &str = "
SELECT r.id, r.list_name, r.planned, r.analyzer_version, r.started_at, r.finished_at,
       r.bytes_downloaded, r.requests,
       (SELECT count(*) FROM crawl_projects p WHERE p.run_id = r.id),
       (SELECT count(*) FROM crawl_projects p WHERE p.run_id = r.id AND p.error IS NOT NULL)
FROM crawl_runs r
WHERE ?1 IS NULL OR r.id = ?1
ORDER BY r.id";

const SELECT_COUNTS: &str = "
SELECT p.run_id, c.python, c.platform, c.readiness, count(*)
FROM crawl_projects p
JOIN crawl_readiness c ON c.run_id = p.run_id AND c.release_id = p.release_id
WHERE ?1 IS NULL OR p.run_id = ?1
GROUP BY p.run_id, c.python, c.platform, c.readiness
ORDER BY p.run_id, c.python, c.platform, c.readiness";

impl Store {
    /// Starts a run over `list_name` that means to crawl `planned` projects.
    pub fn begin_crawl_run(
        &mut self,
        list_name: &str,
        planned: u64,
        analyzer_version: &str,
    ) -> Result<CrawlRunId, StoreError> {
        let now = self.now();
        self.conn
            .execute(
                "INSERT INTO crawl_runs (list_name, planned, analyzer_version, started_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![list_name, to_sql_count(planned), analyzer_version, now],
            )
            .context(|| format!("starting a crawl run of {list_name}"))?;
        Ok(CrawlRunId(self.conn.last_insert_rowid()))
    }

    /// Starts shard `shard.index` of a run over `list_name` split in `shard.count`, meaning
    /// to crawl the `planned` projects of the list that fall in the shard.
    pub fn begin_shard_run(
        &mut self,
        list_name: &str,
        planned: u64,
        analyzer_version: &str,
        shard: &RunShard,
    ) -> Result<CrawlRunId, StoreError> {
        let now = self.now();
        self.conn
            .execute(
                "INSERT INTO crawl_runs (list_name, planned, analyzer_version, started_at, batch,
                     shard_count, shard_index)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    list_name,
                    to_sql_count(planned),
                    analyzer_version,
                    now,
                    shard.batch,
                    shard.count,
                    shard.index
                ],
            )
            .context(|| {
                format!(
                    "starting shard {}/{} of a crawl run of {list_name}",
                    shard.index, shard.count
                )
            })?;
        Ok(CrawlRunId(self.conn.last_insert_rowid()))
    }

    /// The newest unfinished run of shard `index` of `count` of `list_name`, of `batch`
    /// when one is given (any batch otherwise), to resume.
    pub fn unfinished_shard_run(
        &self,
        list_name: &str,
        index: u32,
        count: u32,
        batch: Option<&str>,
    ) -> Result<Option<CrawlRunId>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM crawl_runs WHERE list_name = ?1 AND finished_at IS NULL
                   AND shard_index = ?2 AND shard_count = ?3 AND (?4 IS NULL OR batch = ?4)",
                params![list_name, index, count, batch],
                |r| r.get::<_, Option<i64>>(0),
            )
            .context(|| {
                format!("looking for an unfinished run of shard {index}/{count} of {list_name}")
            })
            .map(|id| id.map(CrawlRunId))
    }

    /// The batch a run belongs to (`None` for a run of an unsharded crawl).
    pub fn crawl_run_batch(&self, run: CrawlRunId) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT batch FROM crawl_runs WHERE id = ?1", [run.0], |r| {
                r.get(0)
            })
            .optional()
            .context(|| format!("reading the batch of crawl run {run}"))?
            .ok_or(StoreError::UnknownCrawlRun(run.0))
    }

    /// The newest run of `list_name` that never finished, to resume (runs of sharded crawls
    /// are not: see [`Store::unfinished_shard_run`]).
    pub fn unfinished_crawl_run(&self, list_name: &str) -> Result<Option<CrawlRunId>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM crawl_runs WHERE list_name = ?1 AND finished_at IS NULL
                   AND shard_count IS NULL",
                [list_name],
                |r| r.get::<_, Option<i64>>(0),
            )
            .context(|| format!("looking for an unfinished crawl run of {list_name}"))
            .map(|id| id.map(CrawlRunId))
    }

    /// The projects `run` is done with (recorded, failed ones included), by name.
    pub fn crawled_projects(&self, run: CrawlRunId) -> Result<Vec<String>, StoreError> {
        let what = || format!("listing the projects of crawl run {run}");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.name FROM crawl_projects c JOIN projects p ON p.id = c.project_id
                 WHERE c.run_id = ?1 ORDER BY p.name",
            )
            .context(what)?;
        let names = stmt
            .query_map([run.0], |r| r.get(0))
            .context(what)?
            .collect::<Result<Vec<String>, _>>()
            .context(what)?;
        Ok(names)
    }

    /// The finished runs of `list_name` of the same kind as a crawl's — shard `K` of `N`
    /// (`shard: Some((K, N))`) or unsharded (`None`; merged runs are not) — newest first,
    /// at most `limit`, each with when it started: the runs a change feed may continue from.
    pub fn finished_runs(
        &self,
        list_name: &str,
        shard: Option<(u32, u32)>,
        limit: usize,
    ) -> Result<Vec<(CrawlRunId, SystemTime)>, StoreError> {
        let what = || format!("listing the finished crawl runs of {list_name}");
        let (index, count) = shard.unzip();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, started_at FROM crawl_runs
                 WHERE list_name = ?1 AND finished_at IS NOT NULL
                   AND shard_index IS ?2 AND shard_count IS ?3
                 ORDER BY id DESC LIMIT ?4",
            )
            .context(what)?;
        let rows = stmt
            .query_map(
                params![list_name, index, count, to_sql_count(limit as u64)],
                |r| Ok((CrawlRunId(r.get(0)?), codec::from_unix_seconds(r.get(1)?))),
            )
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        Ok(rows)
    }

    /// The projects `run` recorded without an error (every wheel read), by name.
    pub fn crawled_without_error(&self, run: CrawlRunId) -> Result<Vec<String>, StoreError> {
        let what = || format!("listing the projects crawl run {run} recorded without error");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT p.name FROM crawl_projects c JOIN projects p ON p.id = c.project_id
                 WHERE c.run_id = ?1 AND c.error IS NULL ORDER BY p.name",
            )
            .context(what)?;
        let names = stmt
            .query_map([run.0], |r| r.get(0))
            .context(what)?
            .collect::<Result<Vec<String>, _>>()
            .context(what)?;
        Ok(names)
    }

    /// Records what `run` made of one project, in one transaction, replacing what the same
    /// run recorded for it before. Releases named must have been recorded (from the index
    /// listing); a project never listed is added by name.
    pub fn record_crawl_project(
        &mut self,
        run: CrawlRunId,
        outcome: &CrawlProject,
    ) -> Result<(), StoreError> {
        let name = checked_project(outcome.project)?;
        let now = self.now();
        let what = || format!("recording {name} in crawl run {run}");
        let tx = self.write(what)?;
        check_run(&tx, run)?;
        let project_id = named_project(&tx, &name, now).context(what)?;
        let latest = outcome
            .latest
            .map(|v| find_release(&tx, &name, v))
            .transpose()?;
        forget_project(&tx, run, project_id).context(what)?;
        tx.execute(
            "INSERT INTO crawl_projects (run_id, project_id, rank, release_id, error, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run.0, project_id, outcome.rank, latest, outcome.error, now],
        )
        .context(what)?;
        for r in outcome.readiness {
            let release = find_release(&tx, &name, r.version)?;
            insert_readiness(&tx, run, release, r).context(what)?;
        }
        tx.commit().context(what)
    }

    /// Marks `run` finished now, with its network totals.
    pub fn finish_crawl_run(
        &mut self,
        run: CrawlRunId,
        totals: &CrawlTotals,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let changed = self
            .conn
            .execute(
                "UPDATE crawl_runs SET finished_at = ?2, bytes_downloaded = ?3, requests = ?4
                 WHERE id = ?1",
                params![
                    run.0,
                    now,
                    to_sql_count(totals.bytes_downloaded),
                    to_sql_count(totals.requests)
                ],
            )
            .context(|| format!("finishing crawl run {run}"))?;
        if changed == 0 {
            return Err(StoreError::UnknownCrawlRun(run.0));
        }
        Ok(())
    }

    /// Every run, oldest first, with its per-run counts (the site's trends).
    pub fn crawl_runs(&self) -> Result<Vec<CrawlRunSummary>, StoreError> {
        self.summaries(None)
    }

    /// One run with its counts.
    pub fn crawl_run(&self, run: CrawlRunId) -> Result<CrawlRunSummary, StoreError> {
        self.summaries(Some(run))?
            .pop()
            .ok_or(StoreError::UnknownCrawlRun(run.0))
    }

    /// The summaries of one run or all, read in one snapshot.
    fn summaries(&self, only: Option<CrawlRunId>) -> Result<Vec<CrawlRunSummary>, StoreError> {
        let what = || "reading the crawl runs".to_string();
        let tx = self.read(what)?;
        let only = only.map(|r| r.0);
        let mut runs = query_all(&tx, SELECT_RUNS, only, raw_run).context(what)?;
        let counts = query_all(&tx, SELECT_COUNTS, only, raw_count).context(what)?;
        let index: HashMap<i64, usize> = runs.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let mut summaries = runs
            .drain(..)
            .map(RawRun::decode)
            .collect::<Result<Vec<_>, _>>()?;
        for (run, python, platform, readiness, projects) in counts {
            if let Some(&i) = index.get(&run) {
                summaries[i].readiness.push(ReadinessCount {
                    python,
                    platform,
                    readiness: decode("crawl_readiness.readiness", &readiness)?,
                    projects: from_sql_count("count(crawl_projects)", projects)?,
                });
            }
        }
        Ok(summaries)
    }
}

/// Errs unless `run` exists.
fn check_run(tx: &Transaction, run: CrawlRunId) -> Result<(), StoreError> {
    let found: Option<i64> = tx
        .query_row("SELECT id FROM crawl_runs WHERE id = ?1", [run.0], |r| {
            r.get(0)
        })
        .optional()
        .context(|| format!("looking up crawl run {run}"))?;
    found.map(|_| ()).ok_or(StoreError::UnknownCrawlRun(run.0))
}

/// The id of the project, adding it (as never listed) if the store does not know it.
fn named_project(tx: &Transaction, name: &str, now: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO projects (name, first_seen) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name
         RETURNING id",
    )?
    .query_row(params![name, now], |r| r.get(0))
}

/// Deletes what `run` recorded for the project before.
fn forget_project(tx: &Transaction, run: CrawlRunId, project_id: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM crawl_readiness WHERE run_id = ?1
           AND release_id IN (SELECT id FROM releases WHERE project_id = ?2)",
        [run.0, project_id],
    )?;
    tx.execute(
        "DELETE FROM crawl_projects WHERE run_id = ?1 AND project_id = ?2",
        [run.0, project_id],
    )?;
    Ok(())
}

/// Inserts one readiness row (the last word wins if the crawl repeats one).
fn insert_readiness(
    tx: &Transaction,
    run: CrawlRunId,
    release: i64,
    r: &ReleaseReadiness,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO crawl_readiness (run_id, release_id, python, platform, readiness)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        run.0,
        release,
        r.python,
        r.platform,
        name_of(&r.readiness)
    ])?;
    Ok(())
}

/// Runs `sql`, whose `?1` is a run id or NULL for all runs, and maps every row.
fn query_all<T>(
    tx: &Transaction,
    sql: &str,
    run: Option<i64>,
    map: fn(&Row) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = tx.prepare_cached(sql)?;
    stmt.query_map([run], map)?.collect()
}

/// A `crawl_runs` row with its project counts, before decoding.
struct RawRun {
    id: i64,
    list_name: String,
    planned: i64,
    analyzer_version: String,
    started_at: i64,
    finished_at: Option<i64>,
    bytes: Option<i64>,
    requests: Option<i64>,
    done: i64,
    failed: i64,
}

/// Reads one row of [`SELECT_RUNS`].
fn raw_run(r: &Row) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        id: r.get(0)?,
        list_name: r.get(1)?,
        planned: r.get(2)?,
        analyzer_version: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        bytes: r.get(6)?,
        requests: r.get(7)?,
        done: r.get(8)?,
        failed: r.get(9)?,
    })
}

/// Reads one row of [`SELECT_COUNTS`].
fn raw_count(r: &Row) -> rusqlite::Result<(i64, String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl RawRun {
    /// The summary, counts of readiness still to be added.
    fn decode(self) -> Result<CrawlRunSummary, StoreError> {
        let totals = match (self.bytes, self.requests) {
            (Some(bytes), Some(requests)) => Some(CrawlTotals {
                bytes_downloaded: from_sql_count("crawl_runs.bytes_downloaded", bytes)?,
                requests: from_sql_count("crawl_runs.requests", requests)?,
            }),
            _ => None,
        };
        Ok(CrawlRunSummary {
            id: CrawlRunId(self.id),
            list_name: self.list_name,
            planned: from_sql_count("crawl_runs.planned", self.planned)?,
            analyzer_version: self.analyzer_version,
            started_at: codec::from_unix_seconds(self.started_at),
            finished_at: self.finished_at.map(codec::from_unix_seconds),
            totals,
            projects_done: from_sql_count("count(crawl_projects)", self.done)?,
            projects_failed: from_sql_count("count(crawl_projects)", self.failed)?,
            readiness: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DistFile;

    const T0: i64 = 1_750_000_000;

    fn sdist(project: &str, version: &str) -> DistFile {
        let filename = format!("{project}-{version}.tar.gz");
        DistFile {
            url: format!("https://files.example/{filename}"),
            filename,
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
        }
    }

    /// A store that knows `a` 1.0 and 2.0, and `b` 0.1.
    fn listed(store: &mut Store) {
        store
            .record_project_files("a", &[sdist("a", "1.0"), sdist("a", "2.0")])
            .unwrap();
        store
            .record_project_files("b", &[sdist("b", "0.1")])
            .unwrap();
    }

    fn ready<'a>(version: &'a str, python: &'a str, readiness: Readiness) -> ReleaseReadiness<'a> {
        ReleaseReadiness {
            version,
            python,
            platform: "linux-x86_64",
            readiness,
        }
    }

    fn outcome<'a>(
        project: &'a str,
        rank: u32,
        latest: Option<&'a str>,
        readiness: &'a [ReleaseReadiness<'a>],
    ) -> CrawlProject<'a> {
        CrawlProject {
            project,
            rank,
            latest,
            error: None,
            readiness,
        }
    }

    fn counts(summary: &CrawlRunSummary) -> Vec<(&str, Readiness, u64)> {
        summary
            .readiness
            .iter()
            .map(|c| (c.python.as_str(), c.readiness, c.projects))
            .collect()
    }

    #[test]
    fn a_run_counts_the_readiness_of_each_projects_latest_release() {
        let mut store = Store::in_memory().unwrap();
        store.fixed_now = Some(T0);
        listed(&mut store);
        let run = store
            .begin_crawl_run("top-pypi-packages", 3, "0.1.0")
            .unwrap();
        let a = [
            ready("2.0", "3.14t", Readiness::Ready),
            ready("2.0", "3.15t", Readiness::NoWheel),
            ready("1.0", "3.14t", Readiness::GilFallback),
        ];
        store
            .record_crawl_project(run, &outcome("a", 1, Some("2.0"), &a))
            .unwrap();
        let b = [ready("0.1", "3.14t", Readiness::Ready)];
        store
            .record_crawl_project(run, &outcome("b", 2, Some("0.1"), &b))
            .unwrap();
        let failed = CrawlProject {
            error: Some("HTTP 404"),
            ..outcome("gone", 3, None, &[])
        };
        store.record_crawl_project(run, &failed).unwrap();
        store.fixed_now = Some(T0 + 90);
        let totals = CrawlTotals {
            bytes_downloaded: 1234,
            requests: 7,
        };
        store.finish_crawl_run(run, &totals).unwrap();

        let summary = store.crawl_run(run).unwrap();
        assert_eq!(summary.list_name, "top-pypi-packages");
        assert_eq!(
            (
                summary.planned,
                summary.projects_done,
                summary.projects_failed
            ),
            (3, 3, 1)
        );
        assert_eq!(summary.started_at, codec::from_unix_seconds(T0));
        assert_eq!(summary.finished_at, Some(codec::from_unix_seconds(T0 + 90)));
        assert_eq!(summary.totals, Some(totals));
        assert_eq!(
            counts(&summary),
            [
                ("3.14t", Readiness::Ready, 2),
                ("3.15t", Readiness::NoWheel, 1)
            ],
            "the 1.0 row is history, not the latest"
        );
        assert_eq!(store.crawled_projects(run).unwrap(), ["a", "b", "gone"]);
        assert_eq!(
            store.unfinished_crawl_run("top-pypi-packages").unwrap(),
            None
        );
    }

    #[test]
    fn runs_are_listed_oldest_first_for_trends() {
        let mut store = Store::in_memory().unwrap();
        listed(&mut store);
        let first = store.begin_crawl_run("top", 1, "0.1.0").unwrap();
        let gil = [ready("1.0", "3.14t", Readiness::GilFallback)];
        store
            .record_crawl_project(first, &outcome("a", 1, Some("1.0"), &gil))
            .unwrap();
        store
            .finish_crawl_run(first, &CrawlTotals::default())
            .unwrap();
        let second = store.begin_crawl_run("top", 1, "0.1.0").unwrap();
        let ok = [ready("2.0", "3.14t", Readiness::Ready)];
        store
            .record_crawl_project(second, &outcome("a", 1, Some("2.0"), &ok))
            .unwrap();

        let runs = store.crawl_runs().unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            [first, second]
        );
        assert_eq!(counts(&runs[0]), [("3.14t", Readiness::GilFallback, 1)]);
        assert_eq!(counts(&runs[1]), [("3.14t", Readiness::Ready, 1)]);
        assert_eq!(runs[1].finished_at, None);
        assert_eq!(runs[1].totals, None);
    }

    #[test]
    fn recording_a_project_again_in_the_same_run_replaces_it() {
        let mut store = Store::in_memory().unwrap();
        listed(&mut store);
        let run = store.begin_crawl_run("top", 1, "0.1.0").unwrap();
        let old = [ready("1.0", "3.14t", Readiness::Unknown)];
        store
            .record_crawl_project(run, &outcome("a", 1, Some("1.0"), &old))
            .unwrap();
        let new = [ready("2.0", "3.14t", Readiness::Ready)];
        store
            .record_crawl_project(run, &outcome("a", 1, Some("2.0"), &new))
            .unwrap();
        let summary = store.crawl_run(run).unwrap();
        assert_eq!(summary.projects_done, 1);
        assert_eq!(counts(&summary), [("3.14t", Readiness::Ready, 1)]);
    }

    #[test]
    fn an_interrupted_run_is_found_again_with_what_it_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crawl.sqlite3");
        let run = {
            let mut store = Store::open(&path).unwrap();
            listed(&mut store);
            let done = store.begin_crawl_run("top", 2, "0.1.0").unwrap();
            store
                .finish_crawl_run(done, &CrawlTotals::default())
                .unwrap();
            let run = store.begin_crawl_run("top", 2, "0.1.0").unwrap();
            let r = [ready("0.1", "3.14t", Readiness::Pure)];
            store
                .record_crawl_project(run, &outcome("b", 2, Some("0.1"), &r))
                .unwrap();
            run
        };
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.unfinished_crawl_run("top").unwrap(), Some(run));
        assert_eq!(store.unfinished_crawl_run("other-list").unwrap(), None);
        assert_eq!(store.crawled_projects(run).unwrap(), ["b"]);
        let r = [ready("2.0", "3.14t", Readiness::Ready)];
        store
            .record_crawl_project(run, &outcome("a", 1, Some("2.0"), &r))
            .unwrap();
        store
            .finish_crawl_run(run, &CrawlTotals::default())
            .unwrap();
        assert_eq!(store.crawl_run(run).unwrap().projects_done, 2);
    }

    #[test]
    fn a_shard_resumes_only_its_own_run_and_a_whole_crawl_none_of_a_shard() {
        let mut store = Store::in_memory().unwrap();
        listed(&mut store);
        let shard = |index, batch: &str| RunShard {
            index,
            count: 2,
            batch: batch.into(),
        };
        let zero = store
            .begin_shard_run("top", 1, "0.1.0", &shard(0, "n1"))
            .unwrap();
        let one = store
            .begin_shard_run("top", 1, "0.1.0", &shard(1, "n1"))
            .unwrap();
        assert_eq!(store.unfinished_crawl_run("top").unwrap(), None);
        let find = |index, count, batch| {
            store
                .unfinished_shard_run("top", index, count, batch)
                .unwrap()
        };
        assert_eq!(find(0, 2, None), Some(zero));
        assert_eq!(find(1, 2, Some("n1")), Some(one));
        assert_eq!(find(1, 2, Some("n2")), None, "another batch");
        assert_eq!(find(0, 3, None), None, "another split");
        assert_eq!(store.crawl_run_batch(one).unwrap().as_deref(), Some("n1"));
        store
            .finish_crawl_run(zero, &CrawlTotals::default())
            .unwrap();
        assert_eq!(store.unfinished_shard_run("top", 0, 2, None).unwrap(), None);
        let whole = store.begin_crawl_run("top", 2, "0.1.0").unwrap();
        assert_eq!(store.unfinished_crawl_run("top").unwrap(), Some(whole));
        assert_eq!(store.crawl_run_batch(whole).unwrap(), None);
        assert!(store.crawl_run_batch(CrawlRunId(99)).is_err());
    }

    #[test]
    fn unknown_runs_and_releases_are_errors_that_record_nothing() {
        let mut store = Store::in_memory().unwrap();
        listed(&mut store);
        let ghost = CrawlRunId(42);
        let err = store
            .record_crawl_project(ghost, &outcome("a", 1, None, &[]))
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownCrawlRun(42)), "{err:?}");
        assert!(
            store
                .finish_crawl_run(ghost, &CrawlTotals::default())
                .is_err()
        );
        assert!(store.crawl_run(ghost).is_err());

        let run = store.begin_crawl_run("top", 1, "0.1.0").unwrap();
        let r = [ready("3.0", "3.14t", Readiness::Ready)];
        let err = store
            .record_crawl_project(run, &outcome("a", 1, Some("2.0"), &r))
            .unwrap_err();
        assert!(err.to_string().contains("a 3.0"), "{err}");
        assert!(store.crawled_projects(run).unwrap().is_empty());
    }
}
