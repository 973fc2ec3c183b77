//! What a release claims about itself: its `Programming Language :: Python :: Free
//! Threading :: …` classifiers, read once from its core metadata, so the site can show where
//! a project's claim and its wheels disagree, and its `Project-URL`s, so the site can link
//! a blocker to the project's repository and issue tracker.

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::error::{Context, StoreError};
use super::files::{checked_project, find_release};

impl Store {
    /// Records the free-threading classifiers of a recorded release (possibly none), marking
    /// its metadata as read; replaces what an earlier read recorded.
    pub fn record_classifiers<S: AsRef<str>>(
        &mut self,
        project: &str,
        version: &str,
        classifiers: &[S],
    ) -> Result<(), StoreError> {
        let name = checked_project(project)?;
        let now = self.now();
        let what = || format!("recording the classifiers of {name} {version}");
        let tx = self.write(what)?;
        let release = find_release(&tx, &name, version)?;
        tx.execute(
            "DELETE FROM release_classifiers WHERE release_id = ?1",
            [release],
        )
        .context(what)?;
        for classifier in classifiers {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO release_classifiers (release_id, classifier)
                 VALUES (?1, ?2)",
            )
            .and_then(|mut stmt| stmt.execute(params![release, classifier.as_ref().trim()]))
            .context(what)?;
        }
        tx.execute(
            "UPDATE releases SET metadata_read_at = ?2 WHERE id = ?1",
            [release, now],
        )
        .context(what)?;
        tx.commit().context(what)
    }

    /// The free-threading classifiers of a release, sorted; `None` when its metadata has not
    /// been read (or the release is unknown), `Some(empty)` when it declares none.
    pub fn classifiers(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading the classifiers of {name} {version}");
        let tx = self.read(what)?;
        let Some(id) = read_release(&tx, &name, version, "metadata_read_at").context(what)? else {
            return Ok(None);
        };
        let mut stmt = tx
            .prepare_cached(
                "SELECT classifier FROM release_classifiers WHERE release_id = ?1
                 ORDER BY classifier",
            )
            .context(what)?;
        let list = stmt
            .query_map([id], |r| r.get(0))
            .context(what)?
            .collect::<Result<Vec<String>, _>>()
            .context(what)?;
        Ok(Some(list))
    }
}

impl Store {
    /// Records the `(label, url)` pairs of a recorded release's core metadata (possibly
    /// none), in order, marking them read; replaces what an earlier read recorded.
    pub fn record_project_urls<S: AsRef<str>>(
        &mut self,
        project: &str,
        version: &str,
        urls: &[(S, S)],
    ) -> Result<(), StoreError> {
        let name = checked_project(project)?;
        let now = self.now();
        let what = || format!("recording the project URLs of {name} {version}");
        let tx = self.write(what)?;
        let release = find_release(&tx, &name, version)?;
        tx.execute("DELETE FROM release_urls WHERE release_id = ?1", [release])
            .context(what)?;
        for (position, (label, url)) in urls.iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO release_urls (release_id, position, label, url)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    release,
                    position as i64,
                    label.as_ref().trim(),
                    url.as_ref().trim()
                ])
            })
            .context(what)?;
        }
        tx.execute(
            "UPDATE releases SET urls_read_at = ?2 WHERE id = ?1",
            [release, now],
        )
        .context(what)?;
        tx.commit().context(what)
    }

    /// The `(label, url)` pairs of a release in metadata order; `None` when they have not
    /// been read (or the release is unknown).
    pub fn project_urls(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading the project URLs of {name} {version}");
        let tx = self.read(what)?;
        let Some(id) = read_release(&tx, &name, version, "urls_read_at").context(what)? else {
            return Ok(None);
        };
        let mut stmt = tx
            .prepare_cached(
                "SELECT label, url FROM release_urls WHERE release_id = ?1 ORDER BY position",
            )
            .context(what)?;
        let list = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .context(what)?
            .collect::<Result<Vec<(String, String)>, _>>()
            .context(what)?;
        Ok(Some(list))
    }
}

/// The id of the release whose `read_at` column (`metadata_read_at`, `urls_read_at`) is
/// set; `None` when it is unknown or that part of its metadata has not been read.
fn read_release(
    tx: &rusqlite::Transaction,
    name: &str,
    version: &str,
    read_at: &'static str,
) -> rusqlite::Result<Option<i64>> {
    let row: Option<(i64, Option<i64>)> = tx
        .query_row(
            &format!(
                "SELECT r.id, r.{read_at} FROM releases r
                 JOIN projects p ON p.id = r.project_id WHERE p.name = ?1 AND r.version = ?2"
            ),
            [name, version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(id, at)| at.map(|_| id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DistFile;

    const FT: &str = "Programming Language :: Python :: Free Threading :: 2 - Beta";

    fn store_with_release() -> Store {
        let mut store = Store::in_memory().unwrap();
        let file = DistFile {
            filename: "pkg-1.0.tar.gz".into(),
            url: "https://files.example/pkg-1.0.tar.gz".into(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
        };
        store.record_project_files("pkg", &[file]).unwrap();
        store
    }

    #[test]
    fn unread_none_and_some_are_told_apart() {
        let mut store = store_with_release();
        assert_eq!(store.classifiers("pkg", "1.0").unwrap(), None);
        store.record_classifiers::<&str>("pkg", "1.0", &[]).unwrap();
        assert_eq!(store.classifiers("pkg", "1.0").unwrap(), Some(vec![]));
        store.record_classifiers("Pkg", "1.0", &[FT, FT]).unwrap();
        assert_eq!(
            store.classifiers("pkg", "1.0").unwrap(),
            Some(vec![FT.to_string()])
        );
    }

    #[test]
    fn project_urls_keep_their_order_and_unread_is_not_empty() {
        let mut store = store_with_release();
        assert_eq!(store.project_urls("pkg", "1.0").unwrap(), None);
        let urls = [
            ("Source", "https://github.com/o/pkg"),
            ("Issues ", " https://github.com/o/pkg/issues"),
        ];
        store.record_project_urls("pkg", "1.0", &urls).unwrap();
        let got = store.project_urls("pkg", "1.0").unwrap().unwrap();
        assert_eq!(
            got,
            [
                ("Source".to_string(), "https://github.com/o/pkg".to_string()),
                (
                    "Issues".to_string(),
                    "https://github.com/o/pkg/issues".to_string()
                )
            ]
        );
        store
            .record_project_urls::<&str>("pkg", "1.0", &[])
            .unwrap();
        assert_eq!(store.project_urls("pkg", "1.0").unwrap(), Some(vec![]));
        // The classifiers are read apart from the URLs.
        assert_eq!(store.classifiers("pkg", "1.0").unwrap(), None);
    }

    #[test]
    fn an_unknown_release_is_an_error_naming_it() {
        let mut store = store_with_release();
        let err = store.record_classifiers("pkg", "9.9", &[FT]).unwrap_err();
        assert!(err.to_string().contains("pkg 9.9"), "{err}");
        assert_eq!(store.classifiers("pkg", "9.9").unwrap(), None);
    }
}
