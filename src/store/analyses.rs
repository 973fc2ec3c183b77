//! Analyses: the readiness and module verdicts of one file's bytes for one interpreter and
//! platform, keyed by everything the result depends on, so that the same file is never
//! analyzed twice by the same analyzer.

use std::fmt;
use std::time::SystemTime;

use rusqlite::{Row, Transaction, params};

use super::Store;
use super::codec::{self, decode, name_of};
use super::error::{Context, StoreError};
use crate::inspect::verdict::ModuleVerdict;
use crate::scan::{Readiness, WheelReport};

/// What one analysis depends on: the file's bytes, the analyzer, the target interpreter
/// (`3.14t`) and platform (`linux-x86_64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnalysisKey<'a> {
    /// Hex sha256 of the file (either case; stored lowercase).
    pub sha256: &'a str,
    /// Version of the analyzer that produced the result.
    pub analyzer_version: &'a str,
    /// Target interpreter.
    pub python: &'a str,
    /// Target platform.
    pub platform: &'a str,
}

impl<'a> AnalysisKey<'a> {
    /// A key from its four parts.
    pub fn new(
        sha256: &'a str,
        analyzer_version: &'a str,
        python: &'a str,
        platform: &'a str,
    ) -> Self {
        AnalysisKey {
            sha256,
            analyzer_version,
            python,
            platform,
        }
    }

    /// The sha256 in lowercase, after checking every part is usable as a key.
    fn checked_sha256(&self) -> Result<String, StoreError> {
        let sha = self.sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::InvalidInput {
                what: "sha256",
                value: sha.to_string(),
                expected: "64 hexadecimal digits",
            });
        }
        for (what, value) in [
            ("analyzer version", self.analyzer_version),
            ("python", self.python),
            ("platform", self.platform),
        ] {
            if value.trim().is_empty() {
                return Err(StoreError::InvalidInput {
                    what,
                    value: value.to_string(),
                    expected: "a non-empty name",
                });
            }
        }
        Ok(sha.to_ascii_lowercase())
    }
}

impl fmt::Display for AnalysisKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} {} (analyzer {})",
            self.sha256, self.python, self.platform, self.analyzer_version
        )
    }
}

/// The result of an analysis, as handed to [`Store::save_analysis`].
#[derive(Debug, Clone, Copy)]
pub struct AnalysisRecord<'a> {
    pub readiness: Readiness,
    /// Why the readiness is what it is, when the modules alone do not say.
    pub note: Option<&'a str>,
    /// Why the file could not be read.
    pub error: Option<&'a str>,
    /// Every module's verdict, in report order.
    pub modules: &'a [ModuleVerdict],
}

impl<'a> From<&'a WheelReport> for AnalysisRecord<'a> {
    fn from(report: &'a WheelReport) -> Self {
        AnalysisRecord {
            readiness: report.readiness,
            note: report.note.as_deref(),
            error: report.error.as_deref(),
            modules: &report.modules,
        }
    }
}

/// An analysis read back from the store: exactly what was saved, plus when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnalysis {
    pub readiness: Readiness,
    pub note: Option<String>,
    pub error: Option<String>,
    /// In the order they were saved.
    pub modules: Vec<ModuleVerdict>,
    /// When it was saved (whole seconds).
    pub analyzed_at: SystemTime,
}

/// One row of the analysis-and-modules join, as text, before decoding.
struct RawRow {
    readiness: String,
    note: Option<String>,
    error: Option<String>,
    analyzed_at: i64,
    module: Option<RawModule>,
}

/// The module columns of a [`RawRow`] (absent for an analysis without modules).
struct RawModule {
    member: String,
    module: String,
    verdict: String,
    reason: String,
    binder: String,
    evidence: String,
    fix: Option<String>,
}

const SELECT_ANALYSIS: &str = "
SELECT a.readiness, a.note, a.error, a.analyzed_at,
       m.member, m.module, m.verdict, m.reason, m.binder, m.evidence, m.fix
FROM analyses a LEFT JOIN modules m ON m.analysis_id = a.id
WHERE a.sha256 = ?1 AND a.analyzer_version = ?2 AND a.python = ?3 AND a.platform = ?4
ORDER BY m.position";

impl Store {
    /// The stored analysis for `key`, if this analyzer has analyzed these bytes for this
    /// target before.
    pub fn analysis(&self, key: &AnalysisKey) -> Result<Option<StoredAnalysis>, StoreError> {
        let sha = key.checked_sha256()?;
        let what = || format!("reading the analysis of {key}");
        let mut stmt = self.conn.prepare_cached(SELECT_ANALYSIS).context(what)?;
        let rows = stmt
            .query_map(
                params![sha, key.analyzer_version, key.python, key.platform],
                raw_row,
            )
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        assemble(rows)
    }

    /// Saves the result of analyzing `key`, replacing any earlier result for the same key,
    /// in one transaction: readers see the old result or the new one, never a mix.
    pub fn save_analysis(
        &mut self,
        key: &AnalysisKey,
        record: &AnalysisRecord,
    ) -> Result<(), StoreError> {
        let sha = key.checked_sha256()?;
        let now = self.now();
        let what = || format!("saving the analysis of {key}");
        let tx = self.write(what)?;
        let id = replace_analysis(&tx, &sha, key, record, now).context(what)?;
        insert_modules(&tx, id, record.modules).context(what)?;
        tx.commit().context(what)
    }
}

/// Reads one joined row as text.
fn raw_row(r: &Row) -> rusqlite::Result<RawRow> {
    let member: Option<String> = r.get(4)?;
    let module = match member {
        None => None,
        Some(member) => Some(RawModule {
            member,
            module: r.get(5)?,
            verdict: r.get(6)?,
            reason: r.get(7)?,
            binder: r.get(8)?,
            evidence: r.get(9)?,
            fix: r.get(10)?,
        }),
    };
    Ok(RawRow {
        readiness: r.get(0)?,
        note: r.get(1)?,
        error: r.get(2)?,
        analyzed_at: r.get(3)?,
        module,
    })
}

/// Builds the analysis from its joined rows (none: no analysis).
fn assemble(rows: Vec<RawRow>) -> Result<Option<StoredAnalysis>, StoreError> {
    let mut rows = rows.into_iter().peekable();
    let Some(first) = rows.peek() else {
        return Ok(None);
    };
    let mut analysis = StoredAnalysis {
        readiness: decode("analyses.readiness", &first.readiness)?,
        note: first.note.clone(),
        error: first.error.clone(),
        modules: Vec::new(),
        analyzed_at: codec::from_unix_seconds(first.analyzed_at),
    };
    for raw in rows.filter_map(|row| row.module) {
        analysis.modules.push(decode_module(raw)?);
    }
    Ok(Some(analysis))
}

/// Decodes one module row.
fn decode_module(raw: RawModule) -> Result<ModuleVerdict, StoreError> {
    Ok(ModuleVerdict {
        verdict: decode("modules.verdict", &raw.verdict)?,
        reason: decode("modules.reason", &raw.reason)?,
        binder: decode("modules.binder", &raw.binder)?,
        member: raw.member,
        module: raw.module,
        evidence: raw.evidence,
        fix: raw.fix,
    })
}

/// Deletes the earlier analysis of the key (its modules go with it) and inserts the new
/// one; returns its id.
fn replace_analysis(
    tx: &Transaction,
    sha: &str,
    key: &AnalysisKey,
    record: &AnalysisRecord,
    now: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "DELETE FROM analyses
         WHERE sha256 = ?1 AND analyzer_version = ?2 AND python = ?3 AND platform = ?4",
    )?
    .execute(params![sha, key.analyzer_version, key.python, key.platform])?;
    tx.prepare_cached(
        "INSERT INTO analyses
           (sha256, analyzer_version, python, platform, readiness, note, error, analyzed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        sha,
        key.analyzer_version,
        key.python,
        key.platform,
        name_of(&record.readiness),
        record.note,
        record.error,
        now,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Inserts the module rows of analysis `id`, numbered in order.
fn insert_modules(tx: &Transaction, id: i64, modules: &[ModuleVerdict]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO modules
           (analysis_id, position, member, module, verdict, reason, binder, evidence, fix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (position, m) in modules.iter().enumerate() {
        stmt.execute(params![
            id,
            codec::to_sql_count(position as u64),
            m.member,
            m.module,
            name_of(&m.verdict),
            name_of(&m.reason),
            name_of(&m.binder),
            m.evidence,
            m.fix,
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::verdict::{Binder, Reason, Verdict};
    use crate::store::codec::Named;
    use crate::store::testutil::{ANALYZER, key, module, record, sha};

    fn count(store: &Store, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        store.conn.query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_file_never_analyzed_has_no_analysis() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.analysis(&key(&sha(1))).unwrap(), None);
    }

    #[test]
    fn every_verdict_reason_and_binder_round_trips() {
        let mut store = Store::in_memory().unwrap();
        let verdicts = Verdict::all();
        let binders = Binder::all();
        let modules: Vec<_> = Reason::all()
            .iter()
            .enumerate()
            .map(|(i, reason)| {
                let name = format!("m{i}");
                module(
                    &name,
                    verdicts[i % verdicts.len()],
                    *reason,
                    binders[i % binders.len()],
                )
            })
            .collect();
        assert!(modules.len() >= binders.len().max(verdicts.len()));
        let sha = sha(7);
        let rec = AnalysisRecord {
            note: Some("a note"),
            error: Some("an error"),
            ..record(&modules)
        };
        store.save_analysis(&key(&sha), &rec).unwrap();
        let back = store.analysis(&key(&sha)).unwrap().unwrap();
        assert_eq!(back.modules, modules);
        assert_eq!(back.readiness, rec.readiness);
        assert_eq!(back.note.as_deref(), Some("a note"));
        assert_eq!(back.error.as_deref(), Some("an error"));
    }

    #[test]
    fn every_readiness_round_trips() {
        let mut store = Store::in_memory().unwrap();
        let sha = sha(8);
        for (i, readiness) in Readiness::all().iter().enumerate() {
            let platform = format!("platform-{i}");
            let key = AnalysisKey::new(&sha, ANALYZER, "3.15t", &platform);
            let rec = AnalysisRecord {
                readiness: *readiness,
                ..record(&[])
            };
            store.save_analysis(&key, &rec).unwrap();
        }
        for (i, readiness) in Readiness::all().iter().enumerate() {
            let platform = format!("platform-{i}");
            let key = AnalysisKey::new(&sha, ANALYZER, "3.15t", &platform);
            let back = store.analysis(&key).unwrap().unwrap();
            assert_eq!(back.readiness, *readiness);
            assert!(back.modules.is_empty() && back.note.is_none() && back.error.is_none());
        }
    }

    #[test]
    fn reanalysis_replaces_the_old_result_and_its_modules() {
        let mut store = Store::in_memory().unwrap();
        let sha = sha(9);
        let old = [
            module("a", Verdict::GilUsed, Reason::NoGilSlot, Binder::Cython),
            module("b", Verdict::GilNotUsed, Reason::SlotValue1, Binder::Pyo3),
        ];
        store.save_analysis(&key(&sha), &record(&old)).unwrap();
        let new = [module(
            "a",
            Verdict::GilNotUsed,
            Reason::SlotValue1,
            Binder::Cython,
        )];
        store.save_analysis(&key(&sha), &record(&new)).unwrap();
        let back = store.analysis(&key(&sha)).unwrap().unwrap();
        assert_eq!(back.modules, new);
        assert_eq!(back.readiness, Readiness::Ready);
        assert_eq!(count(&store, "analyses"), 1);
        assert_eq!(count(&store, "modules"), 1);
    }

    #[test]
    fn each_part_of_the_key_tells_analyses_apart() {
        let mut store = Store::in_memory().unwrap();
        let digest = sha(10);
        let keys = [
            AnalysisKey::new(&digest, "1", "3.14t", "linux-x86_64"),
            AnalysisKey::new(&digest, "2", "3.14t", "linux-x86_64"),
            AnalysisKey::new(&digest, "1", "3.15t", "linux-x86_64"),
            AnalysisKey::new(&digest, "1", "3.14t", "macos-arm64"),
        ];
        for (i, k) in keys.iter().enumerate() {
            let m = [module(
                &format!("m{i}"),
                Verdict::Unknown,
                Reason::DefNotFound,
                Binder::CApi,
            )];
            store.save_analysis(k, &record(&m)).unwrap();
        }
        for (i, k) in keys.iter().enumerate() {
            let back = store.analysis(k).unwrap().unwrap();
            assert_eq!(back.modules[0].module, format!("pkg.m{i}"));
        }
        let other = sha(11);
        let unknown = AnalysisKey {
            sha256: &other,
            ..keys[0]
        };
        assert_eq!(store.analysis(&unknown).unwrap(), None);
    }

    #[test]
    fn sha256_is_matched_without_regard_to_case() {
        let mut store = Store::in_memory().unwrap();
        let upper = "AB".repeat(32);
        store.save_analysis(&key(&upper), &record(&[])).unwrap();
        assert!(
            store
                .analysis(&key(&upper.to_lowercase()))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_bad_key_is_refused_naming_the_value() {
        let mut store = Store::in_memory().unwrap();
        let err = store
            .save_analysis(&key("not-a-hash"), &record(&[]))
            .unwrap_err();
        assert!(err.to_string().contains("\"not-a-hash\""), "{err}");
        let sha = sha(12);
        let err = store
            .analysis(&AnalysisKey::new(&sha, ANALYZER, "", "linux-x86_64"))
            .unwrap_err();
        assert!(err.to_string().contains("python"), "{err}");
    }

    #[test]
    fn a_wheel_report_saves_as_it_is() {
        let mut store = Store::in_memory().unwrap();
        let modules = vec![module(
            "x",
            Verdict::GilUsed,
            Reason::SlotValue0,
            Binder::Cython,
        )];
        let report = WheelReport {
            filename: "pkg-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl".into(),
            project: Some("pkg".into()),
            version: Some("1.0".into()),
            sha256: Some(sha(13)),
            python: "3.14t".into(),
            platform: Some("linux-x86_64".into()),
            readiness: Readiness::GilFallback,
            note: Some("why".into()),
            error: None,
            modules,
        };
        let sha = sha(13);
        store
            .save_analysis(&key(&sha), &AnalysisRecord::from(&report))
            .unwrap();
        let back = store.analysis(&key(&sha)).unwrap().unwrap();
        assert_eq!(back.modules, report.modules);
        assert_eq!(back.readiness, report.readiness);
        assert_eq!(back.note, report.note);
    }

    #[test]
    fn a_failed_replacement_leaves_the_previous_analysis_intact() {
        let mut store = Store::in_memory().unwrap();
        let sha = sha(14);
        let old = [module(
            "old",
            Verdict::GilNotUsed,
            Reason::SlotValue1,
            Binder::Pyo3,
        )];
        store.save_analysis(&key(&sha), &record(&old)).unwrap();
        // Fail the transaction part way: after the old row is deleted and the new one
        // inserted, the second module row is refused.
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.modules
                 WHEN NEW.position = 1 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        let new = [
            module("n0", Verdict::GilUsed, Reason::NoGilSlot, Binder::Cython),
            module("n1", Verdict::GilUsed, Reason::NoGilSlot, Binder::Cython),
        ];
        let err = store.save_analysis(&key(&sha), &record(&new)).unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert!(err.to_string().contains(&sha), "{err}");
        let back = store.analysis(&key(&sha)).unwrap().unwrap();
        assert_eq!(back.modules, old);
        assert_eq!(count(&store, "modules"), 1);
        assert!(store.conn.is_autocommit(), "no transaction left open");
    }

    #[test]
    fn an_unknown_stored_value_is_an_error_naming_it() {
        let mut store = Store::in_memory().unwrap();
        let sha = sha(15);
        let m = [module(
            "x",
            Verdict::GilUsed,
            Reason::NoGilSlot,
            Binder::Swig,
        )];
        store.save_analysis(&key(&sha), &record(&m)).unwrap();
        store
            .conn
            .execute("UPDATE modules SET binder = 'fortran-magic'", [])
            .unwrap();
        let err = store.analysis(&key(&sha)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("modules.binder") && text.contains("fortran-magic"),
            "{text}"
        );
    }
}
