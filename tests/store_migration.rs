//! Migration 5 on a store with data: a store of schema version 4 (the site fixture's store,
//! with its file rows put back in version 4's `files` table) is migrated when `gilfree site`
//! opens it, keeps every file row as it was, shrinks, and gives the same site as the store
//! that never was at version 4.

mod common;
mod site_fixture;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::site_files;
use rusqlite::Connection;

/// Version 4's `files` table and its indexes, as migration 1 created them.
const V4_FILES: &str = "
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
";

/// The file columns of version 4, as the `files` view of version 5 gives them too.
const FILE_COLUMNS: &str = "release_id, filename, kind, url, sha256, size, upload_time, yanked,
    yanked_reason, requires_python, python_tags, abi_tags, platform_tags, first_seen, last_seen";

/// Turns the version-5 store at `path` into the version-4 store that holds the same data.
fn downgrade_to_v4(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = OFF;
         CREATE TEMP TABLE saved AS SELECT {FILE_COLUMNS} FROM files;
         DROP VIEW files;
         DROP TABLE file_rows;
         DROP TABLE file_endings;
         DROP TABLE file_texts;
         ALTER TABLE releases DROP COLUMN stem;
         {V4_FILES}
         INSERT INTO files ({FILE_COLUMNS})
         SELECT {FILE_COLUMNS} FROM temp.saved ORDER BY release_id, filename;
         PRAGMA user_version = 4;"
    ))
    .unwrap();
}

/// Every row of the tables both versions have, with version 4's file columns, sorted.
fn dump(path: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = Connection::open(path).unwrap();
    let mut out = BTreeMap::new();
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')
             AND name NOT LIKE 'sqlite_%'
             AND name NOT IN ('file_rows', 'file_endings', 'file_texts') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let sql = match table.as_str() {
            "files" => format!("SELECT {FILE_COLUMNS} FROM files"),
            "releases" => "SELECT id, project_id, version, first_seen, metadata_read_at,
                                  urls_read_at FROM releases"
                .to_string(),
            _ => format!("SELECT * FROM {table}"),
        };
        let mut stmt = conn.prepare(&sql).unwrap();
        let width = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                (0..width)
                    .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|cells| cells.join(" | "))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// `gilfree site --db DB --out OUT`.
fn site(db: &Path, out: &Path) {
    let result = Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(["site", "--db"])
        .arg(db)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "gilfree site failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn pragma(path: &Path, name: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, name, |r| r.get(0))
        .unwrap()
}

#[test]
fn a_version_4_store_is_migrated_with_every_row_and_gives_the_same_site() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.sqlite3");
    site_fixture::fill(&new);
    let old = dir.path().join("old.sqlite3");
    std::fs::copy(&new, &old).unwrap();
    downgrade_to_v4(&old);
    assert_eq!(pragma(&old, "user_version"), 4);
    let before = dump(&old);
    assert!(before["files"].len() > 10, "{:?}", before["files"]);
    assert_eq!(
        before,
        dump(&new),
        "the fixture holds the same data at both versions"
    );

    // Opening the old store migrates it.
    let (site_old, site_new) = (dir.path().join("site-old"), dir.path().join("site-new"));
    site(&old, &site_old);
    site(&new, &site_new);
    assert_eq!(pragma(&old, "user_version"), 5);
    let kind: String = Connection::open(&old)
        .unwrap()
        .query_row(
            "SELECT type FROM sqlite_schema WHERE name = 'files'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kind, "view");
    assert_eq!(dump(&old), before, "every row as it was");
    let integrity: String = Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    let (a, b) = (site_files(&site_old), site_files(&site_new));
    assert!(a.len() > 10, "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs");
    }
}

#[test]
fn a_version_4_store_migrated_twice_at_once_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite3");
    site_fixture::fill(&db);
    downgrade_to_v4(&db);
    let before = dump(&db);
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("site-{i}"));
            Command::new(env!("CARGO_BIN_EXE_gilfree"))
                .args(["site", "--db"])
                .arg(&db)
                .arg("--out")
                .arg(out)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    assert_eq!(pragma(&db, "user_version"), 5);
    assert_eq!(dump(&db), before);
}
