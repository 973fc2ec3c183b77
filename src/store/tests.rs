//! Tests of the store as a file: creation, migrations, files that are not stores, concurrent
//! connections and a process killed inside a transaction.

use std::path::Path;
use std::process::{Command, Stdio};

use rusqlite::Connection;

use super::schema::{self, APPLICATION_ID, MIGRATIONS};
use super::testutil::{key, module, record, sha};
use super::*;
use crate::inspect::verdict::{Binder, Reason, Verdict};

/// A raw connection to `path`, bypassing the store.
fn raw(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn pragma(conn: &Connection, name: &str) -> String {
    conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

/// Names of the tables and indexes in the main schema.
fn schema_objects(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Byte 18 of a database header: 1 for rollback journal, 2 for WAL.
fn header_write_version(path: &Path) -> u8 {
    std::fs::read(path).unwrap()[18]
}

#[test]
fn a_new_file_and_its_folder_are_created_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/gilfree.sqlite3");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(pragma(&store.conn, "journal_mode"), "wal");
    assert_eq!(pragma(&store.conn, "foreign_keys"), "1");
    assert_eq!(pragma(&store.conn, "synchronous"), "1", "NORMAL");
    assert_eq!(
        pragma(&store.conn, "application_id"),
        APPLICATION_ID.to_string()
    );
    assert!(store.conn.busy_timeout(BUSY_TIMEOUT).is_ok());
    for table in [
        "projects",
        "releases",
        "files",
        "analyses",
        "modules",
        "page_cache",
    ] {
        assert!(
            schema_objects(&store.conn).contains(&table.to_string()),
            "{table}"
        );
    }
    assert!(store.integrity_check().unwrap().is_empty());
    drop(store);
    assert_eq!(header_write_version(&path), 2, "the file stays in WAL mode");
}

#[test]
fn migrating_step_by_step_reaches_the_same_schema_as_a_fresh_open() {
    let dir = tempfile::tempdir().unwrap();
    let stepped = dir.path().join("stepped.sqlite3");
    let mut conn = raw(&stepped);
    for target in 1..=SCHEMA_VERSION {
        schema::migrate(&mut conn, &stepped, target).unwrap();
        assert_eq!(pragma(&conn, "user_version"), target.to_string());
    }
    let fresh = Store::in_memory().unwrap();
    assert_eq!(schema_objects(&conn), schema_objects(&fresh.conn));
}

/// Data as a store at the version before this one held it, written with that version's SQL.
const PREVIOUS_VERSION_DATA: &str = "
INSERT INTO projects (id, name, first_seen, last_listed) VALUES (1, 'lru-dict', 100, 200);
INSERT INTO releases (id, project_id, version, first_seen) VALUES (1, 1, '1.4.1', 100);
INSERT INTO files (release_id, filename, kind, url, sha256, size, upload_time, yanked,
                   python_tags, abi_tags, platform_tags, first_seen, last_seen)
VALUES (1, 'lru_dict-1.4.1-cp314-cp314t-manylinux_2_28_x86_64.whl', 'wheel',
        'https://files.example/lru_dict.whl',
        '00000000000000000000000000000000000000000000000000000000000000aa', 4096,
        '2025-10-01T00:00:00Z', 0, 'cp314', 'cp314t', 'manylinux_2_28_x86_64', 100, 200);
INSERT INTO analyses (id, sha256, analyzer_version, python, platform, readiness, analyzed_at)
VALUES (1, '00000000000000000000000000000000000000000000000000000000000000aa', '0.1.0+test',
        '3.14t', 'linux-x86_64', 'gil-fallback', 300);
INSERT INTO modules VALUES (1, 0, 'lru/_lru.cpython-314t-x86_64-linux-gnu.so', 'lru._lru',
        'gil-used', 'no-gil-slot', 'c-api', 'm_slots has no Py_mod_gil', 'add the slot');
";

#[test]
fn a_store_at_the_previous_version_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let mut conn = raw(&path);
        schema::migrate(&mut conn, &path, SCHEMA_VERSION - 1).unwrap();
        conn.execute_batch(PREVIOUS_VERSION_DATA).unwrap();
        assert_eq!(
            pragma(&conn, "user_version"),
            (SCHEMA_VERSION - 1).to_string()
        );
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.latest_release("lru_dict").unwrap().as_deref(),
        Some("1.4.1")
    );
    let files = store.files_of_release("lru-dict", "1.4.1").unwrap();
    let sha = files[0].sha256.clone().unwrap();
    let analysis = store.analysis(&key(&sha)).unwrap().unwrap();
    assert_eq!(analysis.readiness, crate::scan::Readiness::GilFallback);
    assert_eq!(analysis.modules[0].reason, Reason::NoGilSlot);
    assert_eq!(analysis.modules[0].fix.as_deref(), Some("add the slot"));
    // What the new version added works on the old data.
    assert_eq!(store.classifiers("lru-dict", "1.4.1").unwrap(), None);
    let run = store.begin_crawl_run("top", 1, "0.1.0").unwrap();
    let outcome = CrawlProject {
        project: "lru-dict",
        rank: 1,
        latest: Some("1.4.1"),
        error: None,
        readiness: &[ReleaseReadiness {
            version: "1.4.1",
            python: "3.14t",
            platform: "linux-x86_64",
            readiness: crate::scan::Readiness::GilFallback,
        }],
    };
    store.record_crawl_project(run, &outcome).unwrap();
    assert_eq!(store.crawl_run(run).unwrap().readiness[0].projects, 1);
    assert!(store.integrity_check().unwrap().is_empty());
    let fk_problems: i64 = store
        .conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk_problems, 0);
}

#[test]
fn reopening_keeps_the_data_and_migrates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let sha = sha(1);
    let modules = [module(
        "m",
        Verdict::GilUsed,
        Reason::NoGilSlot,
        Binder::Cython,
    )];
    Store::open(&path)
        .unwrap()
        .save_analysis(&key(&sha), &record(&modules))
        .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.analysis(&key(&sha)).unwrap().unwrap().modules,
        modules
    );
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn an_empty_file_is_taken_as_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.sqlite3");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_store_from_a_newer_gilfree_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite3");
    drop(Store::open(&path).unwrap());
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1));
    let text = err.to_string();
    assert!(
        text.contains("new.sqlite3") && text.contains("upgrade gilfree"),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(
        &text_file,
        "these are not the pages you are looking for\n".repeat(200),
    )
    .unwrap();
    let binary = dir.path().join("random.bin");
    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&binary, noise).unwrap();
    for path in [&text_file, &binary] {
        let before = std::fs::read(path).unwrap();
        let err = Store::open(path).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            before,
            "a refused file is left alone"
        );
    }
}

#[test]
fn a_folder_in_place_of_the_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn a_database_of_another_program_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let unmarked = dir.path().join("other.sqlite3");
    raw(&unmarked)
        .execute_batch("CREATE TABLE contacts (name TEXT)")
        .unwrap();
    let marked = dir.path().join("marked.sqlite3");
    raw(&marked)
        .execute_batch("PRAGMA application_id = 1234")
        .unwrap();
    for path in [&unmarked, &marked] {
        let err = Store::open(path).unwrap_err();
        assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err:?}");
        assert!(err.to_string().contains("another program"), "{err}");
        assert_eq!(header_write_version(path), 1, "not switched to WAL");
    }
}

#[test]
fn a_damaged_store_gives_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite3");
    {
        let mut store = Store::open(&path).unwrap();
        for n in 0..200 {
            let sha = sha(n);
            let m = [module(
                "m",
                Verdict::GilUsed,
                Reason::NoGilSlot,
                Binder::Cython,
            )];
            store.save_analysis(&key(&sha), &record(&m)).unwrap();
        }
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "the test needs several pages");
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();
    match Store::open(&path) {
        Err(err) => assert!(err.to_string().contains("damaged.sqlite3"), "{err}"),
        Ok(store) => {
            let broken = store.analysis(&key(&sha(5))).is_err()
                || !store
                    .integrity_check()
                    .map(|p| p.is_empty())
                    .unwrap_or(false);
            assert!(
                broken,
                "damage must show as an error or an integrity problem"
            );
        }
    }
}

#[test]
fn a_failed_migration_leaves_the_version_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.sqlite3");
    // A gilfree-marked database at version 0 that already has a table the first migration
    // creates last: the step fails after creating the others.
    raw(&path)
        .execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; CREATE TABLE page_cache (x TEXT);"
        ))
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Migration { version: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(MIGRATIONS[0].name), "{err}");
    let conn = raw(&path);
    assert_eq!(pragma(&conn, "user_version"), "0");
    assert_eq!(
        schema_objects(&conn),
        ["page_cache"],
        "the step was rolled back"
    );
}

#[test]
fn two_connections_write_to_one_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite3");
    drop(Store::open(&path).unwrap());
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                for n in 0..150 {
                    let sha = sha(w * 1000 + n);
                    let m = [module(
                        "m",
                        Verdict::GilNotUsed,
                        Reason::SlotValue1,
                        Binder::Pyo3,
                    )];
                    store.save_analysis(&key(&sha), &record(&m)).unwrap();
                    assert!(store.analysis(&key(&sha)).unwrap().is_some());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let analyses: i64 = store
        .conn
        .query_row("SELECT count(*) FROM analyses", [], |r| r.get(0))
        .unwrap();
    assert_eq!(analyses, 300);
    assert!(store.integrity_check().unwrap().is_empty());
}

/// Environment variable that turns [`crash_child`] on and names its database.
const CRASH_DB: &str = "GILFREE_STORE_TEST_CRASH_DB";
/// Exit code of a child that reached the point of dying mid-transaction.
const CRASH_CODE: i32 = 77;

/// Run by `a_process_killed_mid_transaction_loses_nothing_committed` in a child process:
/// replaces every analysis inside one transaction, spills it to the WAL, and exits without
/// committing, rolling back or closing anything. Does nothing in a normal test run.
#[test]
#[ignore = "helper: runs only as the child of the crash test"]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_DB) else {
        return;
    };
    let store = Store::open(path).unwrap();
    store.conn.execute_batch("PRAGMA cache_size = 8").unwrap();
    let tx = store.conn.unchecked_transaction().unwrap();
    tx.execute("DELETE FROM analyses", []).unwrap();
    let note = "x".repeat(2000);
    for n in 0..2000 {
        tx.execute(
            "INSERT INTO analyses (sha256, analyzer_version, python, platform, readiness,
               note, analyzed_at) VALUES (?1, 'crash', '3.14t', 'linux-x86_64', 'ready', ?2, 0)",
            rusqlite::params![sha(100_000 + n), note],
        )
        .unwrap();
    }
    std::process::exit(CRASH_CODE);
}

#[test]
fn a_process_killed_mid_transaction_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite3");
    let modules = [module(
        "m",
        Verdict::GilUsed,
        Reason::SlotValue0,
        Binder::Pybind11,
    )];
    {
        let mut store = Store::open(&path).unwrap();
        for n in 0..3 {
            store
                .save_analysis(&key(&sha(n)), &record(&modules))
                .unwrap();
        }
    }
    let module_path = module_path!();
    let test_name = format!(
        "{}::crash_child",
        module_path
            .split_once("::")
            .map_or(module_path, |(_, rest)| rest)
    );
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name, "--ignored", "--test-threads=1"])
        .env(CRASH_DB, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(CRASH_CODE),
        "the child died where it should"
    );
    let wal = std::fs::metadata(path.with_extension("sqlite3-wal")).map_or(0, |m| m.len());
    assert!(
        wal > 0,
        "the dead transaction left frames in the WAL to recover from"
    );
    let store = Store::open(&path).unwrap();
    for n in 0..3 {
        let back = store.analysis(&key(&sha(n))).unwrap().unwrap();
        assert_eq!(back.modules, modules);
    }
    let crashed: i64 = store
        .conn
        .query_row("SELECT count(*) FROM analyses", [], |r| r.get(0))
        .unwrap();
    assert_eq!(crashed, 3);
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn the_default_path_is_in_a_gilfree_folder_unless_overridden() {
    match std::env::var_os(DB_ENV) {
        Some(value) if !value.is_empty() => {
            assert_eq!(Store::default_path().unwrap(), Path::new(&value));
        }
        _ => match Store::default_path() {
            Ok(path) => assert!(
                path.ends_with("gilfree/gilfree.sqlite3"),
                "{}",
                path.display()
            ),
            Err(err) => assert!(matches!(err, StoreError::NoCacheDir), "{err}"),
        },
    }
}
