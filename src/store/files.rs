//! What the index lists, kept so that `--offline` can answer from the store alone and the
//! crawl can tell what changed: projects, their releases, and every file with its metadata.

use std::str::FromStr;
use std::time::SystemTime;

use pep440_rs::Version;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use super::codec::{self, from_sql_count};
use super::compact::{self, FileColumns, FileKey, KeyCache, file_key, write_file_row};
use super::error::{Context, StoreError};
use super::filenames::{Described, FileKind, describe};
use crate::index::{DistFile, ProjectPage, select};
use crate::wheel::normalize_name;

/// What [`Store::record_project_files`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Versions seen for the first time.
    pub new_releases: Vec<String>,
    /// Files seen for the first time.
    pub new_files: Vec<String>,
    /// Known files whose URL, yanked state or missing metadata changed.
    pub updated_files: Vec<String>,
    /// Files that could not be placed in a release, with why (nothing else is refused).
    pub skipped: Vec<SkippedFile>,
}

impl RecordSummary {
    /// Whether the listing differed from what the store already had.
    pub fn changed(&self) -> bool {
        !(self.new_releases.is_empty()
            && self.new_files.is_empty()
            && self.updated_files.is_empty())
    }
}

/// A listed file the store did not record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub filename: String,
    pub reason: String,
}

/// A file as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub filename: String,
    /// The release it belongs to, as its name spells the version.
    pub version: String,
    pub kind: FileKind,
    pub url: String,
    /// Lowercase hex.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// ISO 8601, as the index gave it.
    pub upload_time: Option<String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    pub requires_python: Option<String>,
    /// Dotted tag sets of a wheel: python (`cp314`), ABI (`cp314t`), platform.
    pub python_tags: Option<String>,
    pub abi_tags: Option<String>,
    pub platform_tags: Option<String>,
    /// When an index page first and last listed it.
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}

impl StoredFile {
    /// The file as the index client describes files.
    pub fn to_dist_file(&self) -> DistFile {
        DistFile {
            filename: self.filename.clone(),
            url: self.url.clone(),
            sha256: self.sha256.clone(),
            size: self.size,
            requires_python: self.requires_python.clone(),
            yanked: self.yanked.clone(),
            upload_time: self.upload_time.clone(),
        }
    }
}

/// A release of a project as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSummary {
    pub version: String,
    /// When this store first saw a file of it.
    pub first_seen: SystemTime,
    /// The earliest upload time of its files (the release date), when the index gave any.
    pub first_upload: Option<String>,
    pub files: u64,
    /// Every file of it is yanked.
    pub yanked: bool,
}

/// What happened to one listed file.
enum FileChange {
    Added,
    Updated,
    Unchanged,
}

/// The stored columns of a file that a new listing may change.
#[derive(PartialEq, Eq)]
struct FileFacts {
    url: String,
    sha256: Option<String>,
    size: Option<i64>,
    upload_time: Option<String>,
    yanked: bool,
    yanked_reason: Option<String>,
    requires_python: Option<String>,
}

impl FileFacts {
    /// The facts a listing gives (sha256 already checked and lowercased).
    fn listed(file: &DistFile, sha256: Option<String>) -> FileFacts {
        FileFacts {
            url: file.url.clone(),
            sha256,
            size: file.size.map(codec::to_sql_count),
            upload_time: file.upload_time.clone(),
            yanked: file.yanked.is_some(),
            yanked_reason: file.yanked.clone(),
            requires_python: file.requires_python.clone(),
        }
    }

    /// The listing's facts over the stored ones: the URL and yanked state are the index's
    /// current word; facts about the bytes a listing leaves out are kept.
    fn merged_over(self, stored: &FileFacts) -> FileFacts {
        FileFacts {
            sha256: self.sha256.or_else(|| stored.sha256.clone()),
            size: self.size.or(stored.size),
            upload_time: self.upload_time.or_else(|| stored.upload_time.clone()),
            requires_python: self
                .requires_python
                .or_else(|| stored.requires_python.clone()),
            ..self
        }
    }
}

const SELECT_FILE_COLUMNS: &str = "
SELECT f.filename, f.kind, f.url, f.sha256, f.size, f.upload_time, f.yanked, f.yanked_reason,
       f.requires_python, f.python_tags, f.abi_tags, f.platform_tags, f.first_seen, f.last_seen,
       r.version
FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id";

impl Store {
    /// Records a project's file list as an index page gave it, in one transaction: new
    /// releases and files are added, known files get the index's current URL and yanked
    /// state, and first-seen dates are kept. Files absent from the list are kept too (their
    /// `last_seen` stops moving). A file whose name gives no release is skipped and named in
    /// the summary.
    pub fn record_project_files(
        &mut self,
        project: &str,
        files: &[DistFile],
    ) -> Result<RecordSummary, StoreError> {
        let name = checked_project(project)?;
        let now = self.now();
        let what = || format!("recording the files of {name}");
        let tx = self.write(what)?;
        let project_id = upsert_project(&tx, &name, now).context(what)?;
        let mut summary = RecordSummary::default();
        let mut cache = KeyCache::default();
        for file in files {
            let what = || format!("recording {} of {name}", file.filename);
            let Some((described, sha)) = accept(&name, file, &mut summary) else {
                continue;
            };
            let (release_id, new) =
                release_id(&tx, project_id, &described.version, now).context(what)?;
            if new {
                summary.new_releases.push(described.version.clone());
            }
            let facts = FileFacts::listed(file, sha);
            match upsert_file(&tx, &mut cache, release_id, file, &described, facts, now)
                .context(what)?
            {
                FileChange::Added => summary.new_files.push(file.filename.clone()),
                FileChange::Updated => summary.updated_files.push(file.filename.clone()),
                FileChange::Unchanged => {}
            }
        }
        tx.commit().context(what)?;
        Ok(summary)
    }

    /// The project's files as an index page would list them (the files the store keeps,
    /// by file name), for answering `--offline` through the same selection code as a live
    /// index; `None` when its file list was never recorded.
    pub fn project_page(&self, project: &str) -> Result<Option<ProjectPage>, StoreError> {
        let name = checked_project(project)?;
        let files = self.project_files(&name)?;
        if files.is_empty() && !self.was_listed(&name)? {
            return Ok(None);
        }
        Ok(Some(page_of(name, &files)))
    }

    /// The project's page as the index last listed it: the files the last recorded
    /// listing named (files the store keeps from older listings are left out), for a crawl
    /// that knows from the index's change feed that the page has not changed since; `None`
    /// when its file list was never recorded.
    pub fn last_listing(&self, project: &str) -> Result<Option<ProjectPage>, StoreError> {
        let name = checked_project(project)?;
        let Some(listed) = self.listed_at(&name)? else {
            return Ok(None);
        };
        let files: Vec<StoredFile> = self
            .project_files(&name)?
            .into_iter()
            .filter(|f| f.last_seen >= listed)
            .collect();
        Ok(Some(page_of(name, &files)))
    }

    /// Every file of a release, by file name; empty when the store has no such release.
    /// Versions compare by PEP 440 (`1.0` finds the files of `1.0.0`), as on the index.
    pub fn files_of_release(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Vec<StoredFile>, StoreError> {
        let name = checked_project(project)?;
        let files = self.project_files(&name)?;
        if files.iter().any(|f| f.version == version) {
            return Ok(files.into_iter().filter(|f| f.version == version).collect());
        }
        let Ok(wanted) = Version::from_str(version) else {
            return Ok(Vec::new());
        };
        let same = |f: &StoredFile| Version::from_str(&f.version).is_ok_and(|v| v == wanted);
        Ok(files.into_iter().filter(same).collect())
    }

    /// The releases of a project by release date, newest first: the earliest upload time of
    /// their files where the index gave upload times, else when the store first saw them.
    /// (For history; which release is the latest is [`Store::latest_release`]'s answer.)
    pub fn releases(&self, project: &str) -> Result<Vec<ReleaseSummary>, StoreError> {
        let name = checked_project(project)?;
        let what = || format!("reading the releases of {name}");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT r.version, r.first_seen, u.first_upload, coalesce(u.files, 0),
                        coalesce(u.yanked, 0)
                 FROM releases r JOIN projects p ON p.id = r.project_id
                 LEFT JOIN (
                     SELECT f.release_id, min(f.upload_time) AS first_upload,
                            count(*) AS files, min(f.yanked) AS yanked
                     FROM files f JOIN releases fr ON fr.id = f.release_id
                     JOIN projects fp ON fp.id = fr.project_id
                     WHERE fp.name = ?1
                     GROUP BY f.release_id
                 ) u ON u.release_id = r.id
                 WHERE p.name = ?1
                 ORDER BY u.first_upload DESC, r.first_seen DESC, r.id DESC",
            )
            .context(what)?;
        let rows = stmt
            .query_map([&name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        rows.into_iter()
            .map(|(version, first_seen, first_upload, files, yanked)| {
                Ok(ReleaseSummary {
                    version,
                    first_seen: codec::from_unix_seconds(first_seen),
                    first_upload,
                    files: from_sql_count("count(files)", files)?,
                    yanked: yanked == 1,
                })
            })
            .collect()
    }

    /// The version `scan NAME` means, chosen from the stored files exactly as the index
    /// client chooses from a live page ([`select::latest`]: the highest PEP 440 version
    /// that is not yanked, final releases before pre-releases). `None` when the store knows
    /// no such release.
    pub fn latest_release(&self, project: &str) -> Result<Option<String>, StoreError> {
        let Some(page) = self.project_page(project)? else {
            return Ok(None);
        };
        let releases = select::releases(&page);
        Ok(select::latest(&releases).map(|r| r.version.clone()))
    }

    /// Every stored file of a project, by file name.
    fn project_files(&self, name: &str) -> Result<Vec<StoredFile>, StoreError> {
        let what = || format!("reading the files of {name}");
        let sql = format!("{SELECT_FILE_COLUMNS} WHERE p.name = ?1 ORDER BY f.filename");
        let mut stmt = self.conn.prepare_cached(&sql).context(what)?;
        let rows = stmt
            .query_map([name], raw_file)
            .context(what)?
            .collect::<Result<Vec<_>, _>>()
            .context(what)?;
        rows.into_iter().map(RawFile::decode).collect()
    }

    /// Whether an index listing of the project was ever recorded.
    fn was_listed(&self, name: &str) -> Result<bool, StoreError> {
        let listed: Option<Option<i64>> = self
            .conn
            .prepare_cached("SELECT last_listed FROM projects WHERE name = ?1")
            .and_then(|mut stmt| stmt.query_row([name], |r| r.get(0)).optional())
            .context(|| format!("looking up project {name}"))?;
        Ok(listed.flatten().is_some())
    }

    /// Every project the store knows, by normalized name.
    /// When the project's file list was last recorded from an index page, if ever.
    pub fn listed_at(&self, project: &str) -> Result<Option<std::time::SystemTime>, StoreError> {
        let name = checked_project(project)?;
        let listed: Option<Option<i64>> = self
            .conn
            .prepare_cached("SELECT last_listed FROM projects WHERE name = ?1")
            .and_then(|mut stmt| stmt.query_row([&name], |r| r.get(0)).optional())
            .context(|| format!("looking up project {name}"))?;
        Ok(listed
            .flatten()
            .and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)))
    }

    pub fn projects(&self) -> Result<Vec<String>, StoreError> {
        let what = || "listing the projects".to_string();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM projects ORDER BY name")
            .context(what)?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .context(what)?
            .collect::<Result<Vec<String>, _>>()
            .context(what)?;
        Ok(names)
    }
}

/// An index page listing `files`.
fn page_of(name: String, files: &[StoredFile]) -> ProjectPage {
    ProjectPage {
        name,
        files: files.iter().map(StoredFile::to_dist_file).collect(),
    }
}

/// The normalized project name, refusing names that normalize to nothing.
pub(crate) fn checked_project(project: &str) -> Result<String, StoreError> {
    let name = normalize_name(project);
    if name.is_empty() || name == "-" {
        return Err(StoreError::InvalidInput {
            what: "project name",
            value: project.to_string(),
            expected: "a project name",
        });
    }
    Ok(name)
}

/// The file's description and checked sha256, or `None` after noting in `summary` why the
/// file is skipped.
fn accept(
    project: &str,
    file: &DistFile,
    summary: &mut RecordSummary,
) -> Option<(Described, Option<String>)> {
    let skip = |reason: String| SkippedFile {
        filename: file.filename.clone(),
        reason,
    };
    let described = match describe(project, &file.filename) {
        Ok(d) => d,
        Err(reason) => {
            summary.skipped.push(skip(reason));
            return None;
        }
    };
    match &file.sha256 {
        Some(sha) if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
            summary
                .skipped
                .push(skip(format!("sha256 {sha:?} is not 64 hexadecimal digits")));
            None
        }
        sha => Some((described, sha.as_ref().map(|s| s.to_ascii_lowercase()))),
    }
}

/// The project's id, inserting it if new; marks it as listed now.
fn upsert_project(tx: &Transaction, name: &str, now: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO projects (name, first_seen, last_listed) VALUES (?1, ?2, ?2)
         ON CONFLICT (name) DO UPDATE SET last_listed = excluded.last_listed
         RETURNING id",
    )?
    .query_row(params![name, now], |r| r.get(0))
}

/// The release's id, inserting it if new (`true`).
fn release_id(
    tx: &Transaction,
    project_id: i64,
    version: &str,
    now: i64,
) -> rusqlite::Result<(i64, bool)> {
    let known: Option<i64> = tx
        .prepare_cached("SELECT id FROM releases WHERE project_id = ?1 AND version = ?2")?
        .query_row(params![project_id, version], |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok((id, false));
    }
    tx.prepare_cached(
        "INSERT INTO releases (project_id, version, first_seen) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![project_id, version, now])?;
    Ok((tx.last_insert_rowid(), true))
}

/// The id of a recorded release, or an error naming it.
pub(crate) fn find_release(
    tx: &Transaction,
    project: &str,
    version: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "SELECT r.id FROM releases r JOIN projects p ON p.id = r.project_id
         WHERE p.name = ?1 AND r.version = ?2",
    )
    .and_then(|mut stmt| stmt.query_row([project, version], |r| r.get(0)).optional())
    .context(|| format!("looking up release {project} {version}"))?
    .ok_or_else(|| StoreError::UnknownRelease {
        project: project.to_string(),
        version: version.to_string(),
    })
}

/// Inserts the file, or brings a known one up to date; says which.
fn upsert_file(
    tx: &Transaction,
    cache: &mut KeyCache,
    release_id: i64,
    file: &DistFile,
    described: &Described,
    listed: FileFacts,
    now: i64,
) -> rusqlite::Result<FileChange> {
    let key = file_key(
        tx,
        cache,
        release_id,
        &file_columns(file, described, &listed),
    )?;
    let Some((first_seen, stored)) = stored_facts(tx, &key, &file.filename)? else {
        write_file_row(tx, &key, &file_columns(file, described, &listed), now, now)?;
        return Ok(FileChange::Added);
    };
    let merged = listed.merged_over(&stored);
    if merged == stored {
        tx.prepare_cached(
            "UPDATE file_rows SET last_seen = ?4
             WHERE release_id = ?1 AND prefix = ?2 AND ending_id = ?3",
        )?
        .execute(params![key.release_id, key.prefix, key.ending_id, now])?;
        return Ok(FileChange::Unchanged);
    }
    write_file_row(
        tx,
        &key,
        &file_columns(file, described, &merged),
        first_seen,
        now,
    )?;
    Ok(FileChange::Updated)
}

/// The columns of `file` with the facts given.
fn file_columns<'a>(
    file: &'a DistFile,
    described: &'a Described,
    facts: &'a FileFacts,
) -> FileColumns<'a> {
    let tag = |i: usize| described.tags.as_ref().map(|t| t[i].as_str());
    FileColumns {
        filename: &file.filename,
        version: &described.version,
        kind: described.kind.as_str(),
        tags: [tag(0), tag(1), tag(2)],
        url: &facts.url,
        sha256: facts.sha256.as_deref(),
        size: facts.size,
        upload_time: facts.upload_time.as_deref(),
        yanked: facts.yanked,
        yanked_reason: facts.yanked_reason.as_deref(),
        requires_python: facts.requires_python.as_deref(),
    }
}

/// When a stored file was first seen, and its changeable columns, decoded here rather than
/// through the `files` view (a listing asks for every file it lists). A value no encoding
/// writes reads as no value, which the listing then replaces.
fn stored_facts(
    tx: &Transaction,
    key: &FileKey,
    filename: &str,
) -> rusqlite::Result<Option<(i64, FileFacts)>> {
    tx.prepare_cached(
        "SELECT f.first_seen, b.text, f.url_key, f.sha256, f.size, f.upload_time, f.yanked,
                f.yanked_reason, p.text
         FROM file_rows f
         LEFT JOIN file_texts b ON b.id = f.url_base
         LEFT JOIN file_texts p ON p.id = f.requires_python
         WHERE f.release_id = ?1 AND f.prefix = ?2 AND f.ending_id = ?3",
    )?
    .query_row(params![key.release_id, key.prefix, key.ending_id], |r| {
        let base: Option<String> = r.get(1)?;
        let url_key: Value = r.get(2)?;
        let sha256: Option<Vec<u8>> = r.get(3)?;
        let upload_time = match r.get::<_, Value>(5)? {
            Value::Integer(micros) => compact::format_upload_time(micros),
            Value::Text(text) => Some(text),
            _ => None,
        };
        Ok((
            r.get(0)?,
            FileFacts {
                url: compact::decode_url(base.as_deref(), &url_key, filename).unwrap_or_default(),
                sha256: sha256.map(|b| compact::sha256_hex(&b)),
                size: r.get(4)?,
                upload_time,
                yanked: r.get(6)?,
                yanked_reason: r.get(7)?,
                requires_python: r.get(8)?,
            },
        ))
    })
    .optional()
}

/// A file row before its kind and counts are checked.
struct RawFile {
    file: StoredFile,
    kind: String,
    size: Option<i64>,
}

/// Reads one row of [`SELECT_FILE_COLUMNS`].
fn raw_file(r: &Row) -> rusqlite::Result<RawFile> {
    let yanked: bool = r.get(6)?;
    let reason: Option<String> = r.get(7)?;
    Ok(RawFile {
        kind: r.get(1)?,
        size: r.get(4)?,
        file: StoredFile {
            filename: r.get(0)?,
            version: r.get(14)?,
            kind: FileKind::Other,
            url: r.get(2)?,
            sha256: r.get(3)?,
            size: None,
            upload_time: r.get(5)?,
            yanked: yanked.then(|| reason.unwrap_or_default()),
            requires_python: r.get(8)?,
            python_tags: r.get(9)?,
            abi_tags: r.get(10)?,
            platform_tags: r.get(11)?,
            first_seen: codec::from_unix_seconds(r.get(12)?),
            last_seen: codec::from_unix_seconds(r.get(13)?),
        },
    })
}

impl RawFile {
    /// The file with its kind and size decoded.
    fn decode(self) -> Result<StoredFile, StoreError> {
        let kind = FileKind::from_stored(&self.kind).ok_or_else(|| StoreError::UnknownValue {
            column: "files.kind",
            value: self.kind.clone(),
        })?;
        let size = self
            .size
            .map(|s| from_sql_count("files.size", s))
            .transpose()?;
        Ok(StoredFile {
            kind,
            size,
            ..self.file
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    fn wheel(name: &str, upload: Option<&str>) -> DistFile {
        DistFile {
            filename: name.to_string(),
            url: format!("https://files.example/{name}"),
            sha256: Some(format!(
                "{:064x}",
                name.len() * 7919 + name.as_bytes()[name.len() / 2] as usize
            )),
            size: Some(123_456),
            requires_python: Some(">=3.9".into()),
            yanked: None,
            upload_time: upload.map(str::to_string),
        }
    }

    fn at(store: &mut Store, secs: i64) -> &mut Store {
        store.fixed_now = Some(secs);
        store
    }

    fn count(store: &Store, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        store.conn.query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn files_come_back_with_their_metadata_and_tags() {
        let mut store = Store::in_memory().unwrap();
        let whl = wheel(
            "Time_Machine-2.19.0-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            Some("2025-08-19T10:00:00.123456Z"),
        );
        let sdist = DistFile {
            sha256: None,
            size: None,
            yanked: Some(String::new()),
            ..wheel("time_machine-2.19.0.tar.gz", None)
        };
        let summary = at(&mut store, T0)
            .record_project_files("Time.Machine", &[whl.clone(), sdist.clone()])
            .unwrap();
        assert_eq!(summary.new_releases, ["2.19.0"]);
        assert_eq!(summary.new_files.len(), 2);
        assert!(summary.skipped.is_empty() && summary.changed());
        let files = store.files_of_release("time-machine", "2.19.0").unwrap();
        assert_eq!(files.len(), 2);
        let (wh, sd) = (&files[0], &files[1]);
        assert_eq!(wh.to_dist_file(), whl);
        assert_eq!(sd.to_dist_file(), sdist);
        assert_eq!((wh.kind, sd.kind), (FileKind::Wheel, FileKind::Sdist));
        assert_eq!(wh.python_tags.as_deref(), Some("cp314"));
        assert_eq!(wh.abi_tags.as_deref(), Some("cp314t"));
        assert_eq!(
            wh.platform_tags.as_deref(),
            Some("manylinux_2_17_x86_64.manylinux2014_x86_64")
        );
        assert_eq!(sd.python_tags, None);
        assert_eq!(wh.first_seen, codec::from_unix_seconds(T0));
        assert_eq!(store.projects().unwrap(), ["time-machine"]);
    }

    #[test]
    fn listing_again_keeps_first_seen_and_reports_only_changes() {
        let mut store = Store::in_memory().unwrap();
        let a = wheel("pkg-1.0-py3-none-any.whl", Some("2024-01-01T00:00:00Z"));
        at(&mut store, T0)
            .record_project_files("pkg", std::slice::from_ref(&a))
            .unwrap();
        let again = at(&mut store, T0 + 60)
            .record_project_files("pkg", std::slice::from_ref(&a))
            .unwrap();
        assert!(!again.changed(), "{again:?}");
        let file = &store.files_of_release("pkg", "1.0").unwrap()[0];
        assert_eq!(file.first_seen, codec::from_unix_seconds(T0));
        assert_eq!(file.last_seen, codec::from_unix_seconds(T0 + 60));

        // Yanked now, and listed by a mirror that gives no hash, size or upload time.
        let yanked = DistFile {
            yanked: Some("broken build".into()),
            sha256: None,
            size: None,
            upload_time: None,
            ..a.clone()
        };
        let b = wheel("pkg-1.1-py3-none-any.whl", Some("2024-02-01T00:00:00Z"));
        let summary = at(&mut store, T0 + 120)
            .record_project_files("pkg", &[yanked, b])
            .unwrap();
        assert_eq!(summary.new_releases, ["1.1"]);
        assert_eq!(summary.new_files, ["pkg-1.1-py3-none-any.whl"]);
        assert_eq!(summary.updated_files, ["pkg-1.0-py3-none-any.whl"]);
        let file = &store.files_of_release("pkg", "1.0").unwrap()[0];
        assert_eq!(file.yanked.as_deref(), Some("broken build"));
        assert_eq!(file.sha256, a.sha256, "facts the listing left out are kept");
        assert_eq!(file.size, a.size);
        assert_eq!(file.upload_time, a.upload_time);
        assert_eq!(file.first_seen, codec::from_unix_seconds(T0));
        assert_eq!(count(&store, "projects"), 1);
        assert_eq!(count(&store, "releases"), 2);
    }

    #[test]
    fn unplaceable_files_are_skipped_and_named() {
        let mut store = Store::in_memory().unwrap();
        let bad_sha = DistFile {
            sha256: Some("abc".into()),
            ..wheel("pkg-2.0-py3-none-any.whl", None)
        };
        let installer = wheel("pkg-2.0.win32.exe", None);
        let good = wheel("pkg-2.0.tar.gz", None);
        let summary = store
            .record_project_files("pkg", &[bad_sha, installer, good])
            .unwrap();
        let skipped: Vec<_> = summary
            .skipped
            .iter()
            .map(|s| s.filename.as_str())
            .collect();
        assert_eq!(skipped, ["pkg-2.0-py3-none-any.whl", "pkg-2.0.win32.exe"]);
        assert!(summary.skipped[0].reason.contains("\"abc\""));
        assert_eq!(summary.new_files, ["pkg-2.0.tar.gz"]);
    }

    #[test]
    fn an_unknown_release_has_no_files_and_a_bad_name_is_refused() {
        let store = Store::in_memory().unwrap();
        assert!(store.files_of_release("nothing", "1.0").unwrap().is_empty());
        assert_eq!(store.latest_release("nothing").unwrap(), None);
        let err = store.files_of_release("  ", "1.0").unwrap_err();
        assert!(err.to_string().contains("project name"), "{err}");
    }

    #[test]
    fn the_latest_release_is_chosen_as_on_a_live_index() {
        let mut store = Store::in_memory().unwrap();
        let files = [
            wheel("pkg-1.9-py3-none-any.whl", Some("2024-01-01T00:00:00Z")),
            wheel("pkg-1.10-py3-none-any.whl", Some("2024-03-01T00:00:00Z")),
            wheel("pkg-2.0rc1-py3-none-any.whl", Some("2024-05-01T00:00:00Z")),
            DistFile {
                yanked: Some(String::new()),
                ..wheel("pkg-1.11-py3-none-any.whl", Some("2024-04-01T00:00:00Z"))
            },
            // A backport uploaded last is not the latest release.
            wheel("pkg-1.9.1-py3-none-any.whl", Some("2024-06-01T00:00:00Z")),
        ];
        store.record_project_files("pkg", &files).unwrap();
        assert_eq!(
            store.latest_release("pkg").unwrap().as_deref(),
            Some("1.10")
        );
        let page = store.project_page("pkg").unwrap().unwrap();
        let live = ProjectPage {
            name: "pkg".into(),
            files: files.to_vec(),
        };
        let online = select::latest(&select::releases(&live)).map(|r| r.version.clone());
        assert_eq!(store.latest_release("pkg").unwrap(), online);
        assert_eq!(page.files.len(), files.len());
        let by_date: Vec<_> = store
            .releases("pkg")
            .unwrap()
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(by_date, ["1.9.1", "2.0rc1", "1.11", "1.10", "1.9"]);
        assert!(store.releases("pkg").unwrap()[2].yanked);
    }

    #[test]
    fn only_prereleases_give_the_newest_prerelease_and_all_yanked_gives_none() {
        let mut store = Store::in_memory().unwrap();
        let files = [
            wheel("pkg-1.0a2-py3-none-any.whl", Some("2024-01-01T00:00:00Z")),
            wheel("pkg-1.0a10-py3-none-any.whl", Some("2024-02-01T00:00:00Z")),
        ];
        store.record_project_files("pkg", &files).unwrap();
        assert_eq!(
            store.latest_release("pkg").unwrap().as_deref(),
            Some("1.0a10")
        );
        let yanked = DistFile {
            yanked: Some("bad".into()),
            ..wheel("gone-1.0.tar.gz", None)
        };
        store.record_project_files("gone", &[yanked]).unwrap();
        assert_eq!(store.latest_release("gone").unwrap(), None);
    }

    #[test]
    fn without_upload_times_releases_are_dated_by_first_sight() {
        let mut store = Store::in_memory().unwrap();
        at(&mut store, T0)
            .record_project_files("pkg", &[wheel("pkg-1.0.tar.gz", None)])
            .unwrap();
        at(&mut store, T0 + 10)
            .record_project_files("pkg", &[wheel("pkg-0.9.1.tar.gz", None)])
            .unwrap();
        let by_date: Vec<_> = store
            .releases("pkg")
            .unwrap()
            .into_iter()
            .map(|r| (r.version, r.first_upload))
            .collect();
        assert_eq!(by_date, [("0.9.1".into(), None), ("1.0".into(), None)]);
        assert_eq!(store.latest_release("pkg").unwrap().as_deref(), Some("1.0"));
    }

    #[test]
    fn a_release_is_found_by_pep_440_equality() {
        let mut store = Store::in_memory().unwrap();
        let files = [
            wheel("pkg-1.0.0-py3-none-any.whl", None),
            wheel("pkg-1.0.0.tar.gz", None),
            wheel("pkg-1.0.1.tar.gz", None),
        ];
        store.record_project_files("pkg", &files).unwrap();
        for asked in ["1.0.0", "1.0", "1"] {
            let found = store.files_of_release("pkg", asked).unwrap();
            let names: Vec<_> = found.iter().map(|f| f.filename.as_str()).collect();
            assert_eq!(
                names,
                ["pkg-1.0.0-py3-none-any.whl", "pkg-1.0.0.tar.gz"],
                "{asked}"
            );
            assert!(found.iter().all(|f| f.version == "1.0.0"));
        }
        assert!(
            store
                .files_of_release("pkg", "not a version")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_project_never_listed_has_no_page() {
        let mut store = Store::in_memory().unwrap();
        assert_eq!(store.project_page("pkg").unwrap(), None);
        store.record_project_files("empty", &[]).unwrap();
        let page = store.project_page("Empty").unwrap().unwrap();
        assert_eq!((page.name.as_str(), page.files.len()), ("empty", 0));
    }

    #[test]
    fn a_failed_listing_records_nothing_of_it() {
        let mut store = Store::in_memory().unwrap();
        store
            .record_project_files("pkg", &[wheel("pkg-1.0.tar.gz", None)])
            .unwrap();
        store
            .conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.file_rows
                 WHEN NEW.ending_id = (SELECT id FROM main.file_endings WHERE ending = '-py3-none-any.whl')
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;",
            )
            .unwrap();
        let files = [
            wheel("pkg-2.0.tar.gz", None),
            wheel("pkg-2.0-py3-none-any.whl", None),
        ];
        let err = store.record_project_files("pkg", &files).unwrap_err();
        assert!(
            err.to_string().contains("pkg-2.0-py3-none-any.whl"),
            "{err}"
        );
        assert_eq!(count(&store, "releases"), 1);
        assert_eq!(count(&store, "files"), 1);
        assert_eq!(store.latest_release("pkg").unwrap().as_deref(), Some("1.0"));
    }
}
