//! Read-only queries for `gilfree site`: every crawl run's projects and readiness rows in a
//! few set-wise reads, and the stored analyses (with module verdicts) of one release's files,
//! so a static site of the top N renders without a query per cell.

use std::time::SystemTime;

use rusqlite::Row;

use super::Store;
use super::codec::{self, decode};
use super::error::{Context, StoreError};
use super::files::checked_project;
use crate::inspect::verdict::ModuleVerdict;
use crate::scan::Readiness;

/// A project as one crawl run recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteProjectRow {
    pub run: i64,
    pub project: String,
    pub rank: u32,
    /// The release the run took as latest.
    pub latest: Option<String>,
    pub error: Option<String>,
}

/// One `crawl_readiness` row, with its project and release spelled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReadinessRow {
    pub run: i64,
    pub project: String,
    pub version: String,
    pub python: String,
    pub platform: String,
    pub readiness: Readiness,
}

/// A stored analysis of one file of a release, for one interpreter and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAnalysis {
    pub filename: String,
    pub analyzer_version: String,
    pub python: String,
    pub platform: String,
    pub readiness: Readiness,
    pub note: Option<String>,
    pub error: Option<String>,
    pub analyzed_at: SystemTime,
    pub modules: Vec<ModuleVerdict>,
}

const SELECT_PROJECTS: &str = "
SELECT c.run_id, p.name, c.rank, r.version, c.error
FROM crawl_projects c JOIN projects p ON p.id = c.project_id
LEFT JOIN releases r ON r.id = c.release_id
ORDER BY c.run_id, c.rank, p.name";

const SELECT_READINESS: &str = "
SELECT c.run_id, p.name, r.version, c.python, c.platform, c.readiness
FROM crawl_readiness c JOIN releases r ON r.id = c.release_id
JOIN projects p ON p.id = r.project_id
ORDER BY c.run_id, p.name, r.id, c.python, c.platform";

/// Wheels whose ABI tag names a free-threaded build (`cp314t`, `abi3t`), one row per
/// project, release and ABI tag set: which releases could be ready, by file name alone.
const SELECT_FREE_THREADED_WHEELS: &str = "
SELECT DISTINCT p.name, r.version, f.abi_tags
FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id
WHERE f.kind = 'wheel' AND f.yanked = 0
  AND (f.abi_tags LIKE '%t' OR f.abi_tags LIKE '%t.%')";

const SELECT_RELEASE_ANALYSES: &str = "
SELECT f.filename, a.id, a.analyzer_version, a.python, a.platform, a.readiness, a.note,
       a.error, a.analyzed_at,
       m.member, m.module, m.verdict, m.reason, m.binder, m.evidence, m.fix
FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id
JOIN analyses a ON a.sha256 = f.sha256
LEFT JOIN modules m ON m.analysis_id = a.id
WHERE p.name = ?1 AND r.version = ?2
ORDER BY a.python, a.platform, a.analyzed_at DESC, a.id DESC, m.position";

impl Store {
    /// Every project of every crawl run, by run, then rank.
    pub fn site_crawl_projects(&self) -> Result<Vec<SiteProjectRow>, StoreError> {
        let what = || "reading the crawled projects".to_string();
        let mut stmt = self.conn.prepare_cached(SELECT_PROJECTS).context(what)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SiteProjectRow {
                    run: r.get(0)?,
                    project: r.get(1)?,
                    rank: r.get(2)?,
                    latest: r.get(3)?,
                    error: r.get(4)?,
                })
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        Ok(rows)
    }

    /// Every readiness row of every crawl run (latest releases and older ones).
    pub fn site_crawl_readiness(&self) -> Result<Vec<SiteReadinessRow>, StoreError> {
        let what = || "reading the crawl readiness".to_string();
        let mut stmt = self.conn.prepare_cached(SELECT_READINESS).context(what)?;
        let raw = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        raw.into_iter()
            .map(|(run, project, version, python, platform, readiness)| {
                Ok(SiteReadinessRow {
                    run,
                    project,
                    version,
                    python,
                    platform,
                    readiness: decode("crawl_readiness.readiness", &readiness)?,
                })
            })
            .collect()
    }

    /// Every (project, release, ABI tags) of a non-yanked wheel whose ABI tags end in `t`
    /// (`cp314t`, `abi3.abi3t`), read from file names the store already holds.
    pub fn site_free_threaded_wheels(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let what = || "reading the free-threaded wheels".to_string();
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_FREE_THREADED_WHEELS)
            .context(what)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        Ok(rows)
    }

    /// The stored analyses of a release's files, by python and platform, newest first
    /// within each (any analyzer version), each with its modules in report order.
    pub fn site_release_analyses(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Vec<SiteAnalysis>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading the analyses of {name} {version}");
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_RELEASE_ANALYSES)
            .context(what)?;
        let rows = stmt
            .query_map([&name, version], raw_analysis_row)
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        let mut out: Vec<SiteAnalysis> = Vec::new();
        let mut last_id = None;
        for (id, row, module) in rows {
            if last_id != Some(id) {
                last_id = Some(id);
                out.push(SiteAnalysis {
                    filename: row.0,
                    analyzer_version: row.1,
                    python: row.2,
                    platform: row.3,
                    readiness: decode("analyses.readiness", &row.4)?,
                    note: row.5,
                    error: row.6,
                    analyzed_at: codec::from_unix_seconds(row.7),
                    modules: Vec::new(),
                });
            }
            if let (Some(m), Some(current)) = (module, out.last_mut()) {
                current.modules.push(ModuleVerdict {
                    verdict: decode("modules.verdict", &m.2)?,
                    reason: decode("modules.reason", &m.3)?,
                    binder: decode("modules.binder", &m.4)?,
                    member: m.0,
                    module: m.1,
                    evidence: m.5,
                    fix: m.6,
                });
            }
        }
        Ok(out)
    }
}

type RawAnalysis = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
);
type RawModule = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// Reads one row of [`SELECT_RELEASE_ANALYSES`]: the analysis id, its columns, its module.
fn raw_analysis_row(r: &Row) -> rusqlite::Result<(i64, RawAnalysis, Option<RawModule>)> {
    let member: Option<String> = r.get(9)?;
    let module = match member {
        None => None,
        Some(member) => Some((
            member,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
        )),
    };
    Ok((
        r.get(1)?,
        (
            r.get(0)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ),
        module,
    ))
}
