//! Since when each target of a project is ready: the first release of the run of ready
//! releases that ends at the latest, per interpreter and main platform, as a crawl's
//! bisection found it (`crate::crawl::first_ready`). Found once and kept: a later crawl
//! searches again only when the latest release stopped being ready in between.

use rusqlite::{OptionalExtension, Transaction, params};

use super::Store;
use super::codec::decode;
use super::error::{Context, StoreError};
use super::files::{checked_project, find_release};
use crate::scan::Readiness;

/// Why the recorded release is the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstReadyBasis {
    /// The release just older (its version) was not ready.
    AfterNotReady(String),
    /// No older release was considered.
    OldestRelease,
    /// The release just older (its version) was undecided: the first may be older.
    Undecided(String),
}

impl FirstReadyBasis {
    fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::AfterNotReady(v) => ("after-not-ready", Some(v)),
            Self::OldestRelease => ("oldest-release", None),
            Self::Undecided(v) => ("undecided", Some(v)),
        }
    }
}

/// One target's first ready release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstReady {
    pub python: String,
    pub platform: String,
    pub version: String,
    pub basis: FirstReadyBasis,
    /// The first release of an older run of ready releases, before a not-ready one.
    pub earlier_ready: Option<String>,
    /// Wheels the search read.
    pub wheels_read: u32,
    /// The analyzer that judged the releases read.
    pub analyzer_version: String,
}

impl Store {
    /// Records what one crawl found for a project: `found` replaces the targets it names,
    /// and the targets in `gone` (whose latest release is not ready any more) are forgotten.
    pub fn record_first_ready(
        &mut self,
        project: &str,
        found: &[FirstReady],
        gone: &[(String, String)],
    ) -> Result<(), StoreError> {
        let name = checked_project(project)?;
        let now = self.now();
        let what = || format!("recording the first ready releases of {name}");
        let tx = self.write(what)?;
        let project_id: Option<i64> = tx
            .query_row("SELECT id FROM projects WHERE name = ?1", [&name], |r| {
                r.get(0)
            })
            .optional()
            .context(what)?;
        let Some(project_id) = project_id else {
            return Err(StoreError::UnknownProject(name));
        };
        for (python, platform) in gone {
            tx.execute(
                "DELETE FROM first_ready WHERE project_id = ?1 AND python = ?2 AND platform = ?3",
                params![project_id, python, platform],
            )
            .context(what)?;
        }
        for f in found {
            insert(&tx, &name, project_id, f, now)?;
        }
        tx.commit().context(what)
    }

    /// The project's recorded first ready releases, by interpreter and platform.
    pub fn first_ready(&self, project: &str) -> Result<Vec<FirstReady>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading the first ready releases of {name}");
        let tx = self.read(what)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT f.python, f.platform, r.version, f.basis, b.version, e.version,
                        f.wheels_read, f.analyzer_version
                 FROM first_ready f
                 JOIN projects p ON p.id = f.project_id
                 JOIN releases r ON r.id = f.release_id
                 LEFT JOIN releases b ON b.id = f.before_id
                 LEFT JOIN releases e ON e.id = f.earlier_ready_id
                 WHERE p.name = ?1 ORDER BY f.python, f.platform",
            )
            .context(what)?;
        let rows = stmt
            .query_map([&name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        rows.into_iter()
            .map(
                |(python, platform, version, basis, before, earlier, read, analyzer)| {
                    let basis = match (basis.as_str(), before) {
                        ("after-not-ready", Some(b)) => FirstReadyBasis::AfterNotReady(b),
                        ("undecided", Some(b)) => FirstReadyBasis::Undecided(b),
                        ("oldest-release", _) => FirstReadyBasis::OldestRelease,
                        // The release it named is gone from the store: nothing proves the
                        // first any more.
                        (_, None) => FirstReadyBasis::Undecided(String::new()),
                        (other, _) => {
                            return Err(StoreError::UnknownValue {
                                column: "first_ready.basis",
                                value: other.to_string(),
                            });
                        }
                    };
                    Ok(FirstReady {
                        python,
                        platform,
                        version,
                        basis,
                        earlier_ready: earlier,
                        wheels_read: u32::try_from(read).unwrap_or(u32::MAX),
                        analyzer_version: analyzer,
                    })
                },
            )
            .collect()
    }
}

impl Store {
    /// What the crawls judged the project's releases: `(version, python, platform,
    /// readiness)`, the newest run's word for each, for a search to start from.
    pub fn judged_releases(
        &self,
        project: &str,
    ) -> Result<Vec<(String, String, String, Readiness)>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading what the crawls judged of {name}");
        let tx = self.read(what)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT r.version, c.python, c.platform, c.readiness
                 FROM crawl_readiness c
                 JOIN releases r ON r.id = c.release_id
                 JOIN projects p ON p.id = r.project_id
                 WHERE p.name = ?1
                   AND c.run_id = (SELECT max(c2.run_id) FROM crawl_readiness c2
                                   WHERE c2.release_id = c.release_id
                                     AND c2.python = c.python AND c2.platform = c.platform)",
            )
            .context(what)?;
        let rows = stmt
            .query_map([&name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        rows.into_iter()
            .map(|(v, py, pl, r)| Ok((v, py, pl, decode("crawl_readiness.readiness", &r)?)))
            .collect()
    }
}

/// Inserts (or replaces) one target's row.
fn insert(
    tx: &Transaction,
    name: &str,
    project_id: i64,
    f: &FirstReady,
    now: i64,
) -> Result<(), StoreError> {
    let what = || {
        format!(
            "recording the first ready release of {name} for {}",
            f.python
        )
    };
    let release = find_release(tx, name, &f.version)?;
    let (basis, before) = f.basis.parts();
    let before = before.map(|v| find_release(tx, name, v)).transpose()?;
    let earlier = f
        .earlier_ready
        .as_deref()
        .map(|v| find_release(tx, name, v))
        .transpose()?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO first_ready (project_id, python, platform, release_id, basis,
             before_id, earlier_ready_id, wheels_read, analyzer_version, found_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            project_id,
            f.python,
            f.platform,
            release,
            basis,
            before,
            earlier,
            f.wheels_read,
            f.analyzer_version,
            now
        ])
    })
    .context(what)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DistFile;

    fn store() -> Store {
        let mut store = Store::in_memory().unwrap();
        let files: Vec<DistFile> = ["1.0", "2.0", "3.0"]
            .iter()
            .map(|v| DistFile {
                filename: format!("pkg-{v}.tar.gz"),
                url: format!("https://files.example/pkg-{v}.tar.gz"),
                sha256: None,
                size: None,
                requires_python: None,
                yanked: None,
                upload_time: None,
            })
            .collect();
        store.record_project_files("pkg", &files).unwrap();
        store
    }

    fn row(python: &str, version: &str, basis: FirstReadyBasis) -> FirstReady {
        FirstReady {
            python: python.into(),
            platform: "linux-x86_64".into(),
            version: version.into(),
            basis,
            earlier_ready: None,
            wheels_read: 2,
            analyzer_version: "r1".into(),
        }
    }

    #[test]
    fn found_rows_are_kept_replaced_and_forgotten() {
        let mut store = store();
        let a = row("3.14t", "2.0", FirstReadyBasis::AfterNotReady("1.0".into()));
        let b = FirstReady {
            earlier_ready: Some("1.0".into()),
            ..row("3.13t", "3.0", FirstReadyBasis::Undecided("2.0".into()))
        };
        store
            .record_first_ready("pkg", &[a.clone(), b.clone()], &[])
            .unwrap();
        assert_eq!(store.first_ready("PKG").unwrap(), [b.clone(), a.clone()]);
        let a2 = row("3.14t", "1.0", FirstReadyBasis::OldestRelease);
        let gone = [("3.13t".to_string(), "linux-x86_64".to_string())];
        store
            .record_first_ready("pkg", std::slice::from_ref(&a2), &gone)
            .unwrap();
        assert_eq!(store.first_ready("pkg").unwrap(), [a2]);
    }

    #[test]
    fn unknown_projects_and_releases_are_errors_naming_them() {
        let mut store = store();
        let err = store.record_first_ready("nope", &[], &[]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let bad = row("3.14t", "9.9", FirstReadyBasis::OldestRelease);
        let err = store.record_first_ready("pkg", &[bad], &[]).unwrap_err();
        assert!(err.to_string().contains("9.9"), "{err}");
        assert!(store.first_ready("pkg").unwrap().is_empty());
    }
}
