//! A crawl split in shards, end to end against the local test index: twelve projects
//! crawled as four shards at once (four processes, four stores), the stores merged with
//! `gilfree store merge`, and the result compared table by table with one crawl of the same
//! list into one store — then the two sites built from them compared file by file; and each
//! shard's nights continuing from its own store's serial with the index's change feed.

mod common;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{BITSTRUCT, LRU, Run, TIME_MACHINE, site_files};
use gilfree::crawl::Shard;
use support::{FileSpec, ProjectSpec, TestIndex};

const FT_STABLE: &str = "Programming Language :: Python :: Free Threading :: 3 - Stable";

/// The list, in rank order: three native fixtures, pure projects (some with several
/// releases and classifiers), an sdist-only project and one the index does not have.
const LIST: [&str; 12] = [
    "lru-dict",
    "time-machine",
    "bitstruct",
    "purepkg",
    "srconly",
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "no-such-project",
];

const SHARDS: u32 = 4;

fn zip(members: &[(&str, &str)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in members {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A pure wheel of `name` `version` whose metadata has these classifiers and a URL.
fn pure_wheel(name: &str, version: &str, classifiers: &[&str]) -> FileSpec {
    let dist = format!("{name}-{version}.dist-info");
    let mut metadata = format!(
        "Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n\
         Project-URL: Source, https://example.org/{name}\n"
    );
    for c in classifiers {
        metadata.push_str(&format!("Classifier: {c}\n"));
    }
    let bytes = zip(&[
        (&format!("{name}/__init__.py"), "VALUE = 1\n"),
        (&format!("{dist}/METADATA"), &metadata),
        (
            &format!("{dist}/WHEEL"),
            "Wheel-Version: 1.0\nTag: py3-none-any\n",
        ),
        (&format!("{dist}/RECORD"), ""),
    ]);
    FileSpec::new(&format!("{name}-{version}-py3-none-any.whl"), bytes)
}

fn fixture(name: &str, wheel: &str) -> ProjectSpec {
    ProjectSpec::new(name).file(FileSpec::new(wheel, support::fixture_wheel(wheel)))
}

fn index() -> TestIndex {
    let index = TestIndex::start();
    index.add_project(fixture("lru-dict", LRU));
    index.add_project(fixture("time-machine", TIME_MACHINE));
    index.add_project(fixture("bitstruct", BITSTRUCT));
    index.add_project(
        ProjectSpec::new("purepkg")
            .file(FileSpec::new(
                "purepkg-0.9.tar.gz",
                b"not a tarball".to_vec(),
            ))
            .file(pure_wheel("purepkg", "1.0", &[]))
            .file(pure_wheel("purepkg", "2.0", &[FT_STABLE])),
    );
    index.add_project(
        ProjectSpec::new("srconly").file(FileSpec::new("srconly-1.0.tar.gz", b"x".to_vec())),
    );
    for (i, name) in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
        .iter()
        .enumerate()
    {
        let mut project = ProjectSpec::new(name).file(pure_wheel(name, "1.0", &[]));
        if i % 2 == 0 {
            project = project.file(pure_wheel(name, "1.1", &[FT_STABLE]));
        }
        index.add_project(project);
    }
    index
}

fn crawl(index: &TestIndex, db: &Path, list: &Path, extra: &[&str]) -> Run {
    let url = index.index_url();
    let (db, list) = (db.display().to_string(), list.display().to_string());
    let mut args = vec![
        "crawl",
        "--format",
        "json",
        "--no-progress",
        "--timeout",
        "5",
        "--retries",
        "1",
        "--index-url",
        &url,
        "--db",
        &db,
        "--list",
        &list,
    ];
    args.extend(extra);
    common::gilfree_on_loopback(&args)
}

/// Every table of the store at `path`, as sorted text rows with ids replaced by the
/// natural keys they stand for. Left out, because one crawl and four shards cannot agree
/// on them: every time a row was written or seen (`first_seen`, `last_seen`,
/// `analyzed_at`, `fetched_at`, `found_at`, `recorded_at`, `started_at`, `finished_at`,
/// the metadata read times, kept only as set or not), and of `crawl_runs` its id and what
/// marks a sharded run (`batch`, `shard_count`, `shard_index`; checked apart, with
/// `crawl_run_shards`, which only the merged store has).
fn tables(path: &Path) -> BTreeMap<&'static str, Vec<String>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let queries: [(&str, &str); 12] = [
        ("projects", "SELECT name, last_listed IS NOT NULL FROM projects"),
        (
            "releases",
            "SELECT p.name, r.version, r.metadata_read_at IS NOT NULL, r.urls_read_at IS NOT NULL
             FROM releases r JOIN projects p ON p.id = r.project_id",
        ),
        (
            "files",
            "SELECT p.name, r.version, f.filename, f.kind, f.url, f.sha256, f.size, f.upload_time,
                    f.yanked, f.yanked_reason, f.requires_python, f.python_tags, f.abi_tags,
                    f.platform_tags
             FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id",
        ),
        (
            "release_classifiers",
            "SELECT p.name, r.version, c.classifier FROM release_classifiers c
             JOIN releases r ON r.id = c.release_id JOIN projects p ON p.id = r.project_id",
        ),
        (
            "release_urls",
            "SELECT p.name, r.version, u.position, u.label, u.url FROM release_urls u
             JOIN releases r ON r.id = u.release_id JOIN projects p ON p.id = r.project_id",
        ),
        (
            "analyses",
            "SELECT sha256, analyzer_version, python, platform, readiness, note, error FROM analyses",
        ),
        (
            "modules",
            "SELECT a.sha256, a.python, a.platform, m.position, m.member, m.module, m.verdict,
                    m.reason, m.binder, m.evidence, m.fix
             FROM modules m JOIN analyses a ON a.id = m.analysis_id",
        ),
        (
            "page_cache",
            "SELECT url, content_type, hex(body), etag, last_modified FROM page_cache",
        ),
        (
            "first_ready",
            "SELECT p.name, f.python, f.platform, r.version, f.basis, b.version, e.version,
                    f.wheels_read, f.analyzer_version
             FROM first_ready f JOIN projects p ON p.id = f.project_id
             JOIN releases r ON r.id = f.release_id
             LEFT JOIN releases b ON b.id = f.before_id
             LEFT JOIN releases e ON e.id = f.earlier_ready_id",
        ),
        (
            "crawl_runs",
            "SELECT list_name, planned, analyzer_version, finished_at IS NOT NULL,
                    bytes_downloaded, requests
             FROM crawl_runs",
        ),
        (
            "crawl_projects",
            "SELECT p.name, c.rank, r.version, c.error FROM crawl_projects c
             JOIN projects p ON p.id = c.project_id LEFT JOIN releases r ON r.id = c.release_id",
        ),
        (
            "crawl_readiness",
            "SELECT p.name, r.version, c.python, c.platform, c.readiness FROM crawl_readiness c
             JOIN releases r ON r.id = c.release_id JOIN projects p ON p.id = r.project_id",
        ),
    ];
    let mut out = BTreeMap::new();
    for (table, sql) in queries {
        let mut stmt = conn.prepare(sql).unwrap();
        let width = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let cells = (0..width)
                    .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(cells.join(" | "))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    // Every table of the schema is compared (or named above as the merged store's own; the
    // compact file tables through the `files` view, which spells their rows out).
    let all: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in all {
        assert!(
            out.contains_key(t.as_str())
                || [
                    "crawl_run_shards",
                    "file_rows",
                    "file_endings",
                    "file_texts"
                ]
                .contains(&t.as_str()),
            "table {t} is not compared"
        );
    }
    out
}

/// Copies the store at `from` to `to` with every stored time set to one instant, so that
/// two sites built from stores written at different times can be compared byte for byte.
fn pinned_copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let conn = rusqlite::Connection::open(to).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         UPDATE projects SET first_seen = 1700000000,
             last_listed = CASE WHEN last_listed IS NULL THEN NULL ELSE 1700000000 END;
         UPDATE releases SET first_seen = 1700000000,
             metadata_read_at = CASE WHEN metadata_read_at IS NULL THEN NULL ELSE 1700000000 END,
             urls_read_at = CASE WHEN urls_read_at IS NULL THEN NULL ELSE 1700000000 END;
         UPDATE file_rows SET first_seen = 1700000000, last_seen = 1700000000;
         UPDATE analyses SET analyzed_at = 1700000000;
         UPDATE page_cache SET fetched_at = 1700000000;
         UPDATE first_ready SET found_at = 1700000000;
         UPDATE crawl_projects SET recorded_at = 1700000000;
         UPDATE crawl_runs SET started_at = 1700000000, finished_at = 1700000060;",
    )
    .unwrap();
}

fn site(db: &Path, out: &Path) {
    let (db, out) = (db.display().to_string(), out.display().to_string());
    let run = common::gilfree_on_loopback(&["site", "--db", &db, "--out", &out]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn four_shards_merged_are_one_crawl_of_the_list() {
    let index = index();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("top.txt");
    std::fs::write(&list, LIST.join("\n") + "\n").unwrap();

    // The test can fail: every shard has a project of the list.
    for k in 0..SHARDS {
        let shard = Shard::new(k, SHARDS).unwrap();
        assert!(LIST.iter().any(|p| shard.keeps(p)), "shard {k} is empty");
    }

    // Four shards at once, each in its own process and store.
    let shard_dbs: Vec<PathBuf> = (0..SHARDS)
        .map(|k| dir.path().join(format!("shard-{k}.sqlite3")))
        .collect();
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = shard_dbs
            .iter()
            .enumerate()
            .map(|(k, db)| {
                let (index, list) = (&index, &list);
                s.spawn(move || {
                    let shard = format!("{k}/{SHARDS}");
                    // Without the feed: each shard would ask it once (a 404 here), and the
                    // run's request totals would not add up to the single crawl's.
                    let flags = ["--shard", &shard, "--batch", "night-1", "--no-feed"];
                    crawl(index, db, list, &flags)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut kept = 0;
    for (k, run) in runs.iter().enumerate() {
        assert_eq!(run.code, 0, "shard {k}: {run:?}");
        let doc = run.json();
        assert_eq!(doc["shard"]["index"], k as u64);
        assert_eq!(doc["shard"]["count"], SHARDS);
        assert_eq!(doc["shard"]["batch"], "night-1");
        assert_eq!(doc["shard"]["listed"], LIST.len() as u64);
        let shard = Shard::new(k as u32, SHARDS).unwrap();
        let want = LIST.iter().filter(|p| shard.keeps(p)).count() as u64;
        assert_eq!(doc["shard"]["kept"], want);
        assert_eq!(doc["planned"], want);
        assert_eq!(doc["projects"]["crawled"], want);
        assert!(run.stdout.contains("\"shard\""));
        kept += want;
    }
    assert_eq!(
        kept,
        LIST.len() as u64,
        "every project in exactly one shard"
    );

    let single = dir.path().join("single.sqlite3");
    let whole = crawl(&index, &single, &list, &["--no-feed"]);
    assert_eq!(whole.code, 0, "{whole:?}");
    assert!(whole.json().get("shard").is_none());

    let merged = dir.path().join("merged.sqlite3");
    let mut args = vec![
        "store".to_string(),
        "merge".into(),
        merged.display().to_string(),
    ];
    args.extend(shard_dbs.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let merge = common::gilfree_on_loopback(&args);
    assert_eq!(merge.code, 0, "{merge:?}");
    assert!(
        merge.stdout.contains(
            "crawl run 1 of top.txt, batch night-1, 4 of 4 shard(s): 12 project(s), finished"
        ),
        "{}",
        merge.stdout
    );

    // Table by table, the merged store is the single crawl's.
    let (a, b) = (tables(&single), tables(&merged));
    for (table, rows) in &a {
        assert_eq!(rows, &b[table], "table {table}");
    }
    for table in [
        "projects",
        "files",
        "analyses",
        "modules",
        "release_classifiers",
        "release_urls",
        "first_ready",
        "crawl_projects",
        "crawl_readiness",
        "page_cache",
    ] {
        assert!(
            !a[table].is_empty(),
            "{table} is empty: the test proves nothing"
        );
    }
    assert_eq!(a["crawl_projects"].len(), LIST.len());
    assert!(
        a["crawl_projects"]
            .iter()
            .any(|r| r.starts_with("Text(\"no-such-project\")") && !r.ends_with("Null")),
        "the failed project is recorded with its error: {:?}",
        a["crawl_projects"]
    );
    // What only the merged store has: its run is made of the four shards, each finished.
    let conn = rusqlite::Connection::open(&merged).unwrap();
    let shards: Vec<(i64, i64, bool)> = conn
        .prepare(
            "SELECT shard, planned, finished_at IS NOT NULL FROM crawl_run_shards ORDER BY shard",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(shards.len(), SHARDS as usize, "{shards:?}");
    assert!(shards.iter().all(|s| s.2), "{shards:?}");
    assert_eq!(shards.iter().map(|s| s.1).sum::<i64>(), LIST.len() as i64);
    let (batch, count): (String, i64) = conn
        .query_row("SELECT batch, shard_count FROM crawl_runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((batch.as_str(), count), ("night-1", i64::from(SHARDS)));
    drop(conn);

    // The sites: the same files, byte for byte once the times are pinned and the build
    // time taken out.
    let (single_pinned, merged_pinned) = (
        dir.path().join("single-pinned.sqlite3"),
        dir.path().join("merged-pinned.sqlite3"),
    );
    pinned_copy(&single, &single_pinned);
    pinned_copy(&merged, &merged_pinned);
    let (site_a, site_b) = (
        dir.path().join("site-single"),
        dir.path().join("site-merged"),
    );
    site(&single_pinned, &site_a);
    site(&merged_pinned, &site_b);
    let (fa, fb) = (site_files(&site_a), site_files(&site_b));
    assert!(fa.len() > 10, "{} files", fa.len());
    assert!(
        fa.keys().any(|k| k.contains("time-machine")),
        "{:?}",
        fa.keys()
    );
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{path} differs:\n--- single\n{}\n--- merged\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&fb[path])
        );
    }

    // Merging again changes nothing; a bad input is refused in one line, exit 2.
    let again = common::gilfree_on_loopback(&args);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(tables(&merged), b);
    let text = dir.path().join("top.txt").display().to_string();
    let out = merged.display().to_string();
    let bad = common::gilfree_on_loopback(&["store", "merge", &out, &text]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(bad.stderr_lines().len(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("top.txt"), "{}", bad.stderr);
    assert!(bad.stdout.is_empty());
}

#[test]
fn bad_shard_values_are_one_line_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("l.txt");
    std::fs::write(&list, "a\n").unwrap();
    let db = dir.path().join("s.sqlite3");
    let (list, db) = (list.display().to_string(), db.display().to_string());
    for (value, want) in [
        ("4/4", "K must be below N"),
        ("0/0", "N must be at least 1"),
        ("x", "expected K/N"),
    ] {
        let run = common::gilfree_on_loopback(&[
            "crawl",
            "--offline",
            "--list",
            &list,
            "--db",
            &db,
            "--shard",
            value,
        ]);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(&format!("{value:?}")), "{}", run.stderr);
        assert!(run.stderr.contains(want), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    assert!(
        !Path::new(&db).exists(),
        "nothing is opened for a bad value"
    );
}

#[test]
fn a_shard_resumes_its_own_unfinished_run_of_its_batch() {
    let index = index();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("top.txt");
    std::fs::write(&list, LIST.join("\n") + "\n").unwrap();
    let db = dir.path().join("shard-0.sqlite3");
    let shard = Shard::new(0, SHARDS).unwrap();
    let mine: Vec<&str> = LIST.iter().copied().filter(|p| shard.keeps(p)).collect();
    assert!(mine.len() >= 2, "{mine:?}");
    let interrupted = {
        let mut store = gilfree::store::Store::open(&db).unwrap();
        let batch = gilfree::store::RunShard {
            index: 0,
            count: SHARDS,
            batch: "night-1".into(),
        };
        let run = store
            .begin_shard_run(
                "top.txt",
                mine.len() as u64,
                gilfree::inspect::ANALYZER_VERSION,
                &batch,
            )
            .unwrap();
        let rank = LIST.iter().position(|p| *p == mine[0]).unwrap() as u32 + 1;
        let done = gilfree::store::CrawlProject {
            project: mine[0],
            rank,
            latest: None,
            error: Some("stand-in"),
            readiness: &[],
        };
        store.record_crawl_project(run, &done).unwrap();
        run.get()
    };

    // Another batch is another run; the other shards' runs are not this one's.
    let other = crawl(
        &index,
        &db,
        &list,
        &["--shard", "0/4", "--batch", "night-2"],
    );
    assert_eq!(other.code, 0, "{other:?}");
    let other = other.json();
    assert_eq!(other["resumed"], false);
    assert_ne!(other["run"], interrupted);
    assert_eq!(other["projects"]["crawled"], mine.len() as u64);
    let one = crawl(&index, &db, &list, &["--shard", "1/4"]).json();
    assert_eq!(one["resumed"], false);

    // Without --batch, the shard's unfinished run, whatever its batch, is resumed.
    let resumed = crawl(&index, &db, &list, &["--shard", "0/4"]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    let doc = resumed.json();
    assert_eq!(doc["run"], interrupted);
    assert_eq!(doc["resumed"], true);
    assert_eq!(doc["finished"], true);
    assert_eq!(doc["shard"]["batch"], "night-1");
    assert_eq!(doc["projects"]["done_before"], 1);
    assert_eq!(doc["projects"]["crawled"], mine.len() as u64 - 1);
}

#[test]
fn each_shard_continues_from_its_own_serial() {
    let index = index();
    index.serve_feed(100);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("top.txt");
    std::fs::write(&list, LIST.join("\n") + "\n").unwrap();
    let db = |k: u32| dir.path().join(format!("shard-{k}.sqlite3"));
    let night = |k: u32, batch: &str| {
        let shard = format!("{k}/2");
        let run = crawl(
            &index,
            &db(k),
            &list,
            &["--shard", &shard, "--batch", batch],
        );
        assert_eq!(run.code, 0, "{run:?}");
        run.json()
    };
    for k in 0..2 {
        assert_eq!(night(k, "n1")["feed"]["state"], "not-used");
    }
    // One project of each shard changes; a shard reads the page of its own only.
    let changed: Vec<&str> = (0..2)
        .map(|k| {
            let shard = Shard::new(k, 2).unwrap();
            *LIST.iter().find(|p| shard.keeps(p)).unwrap()
        })
        .collect();
    for name in &changed {
        index.record_change(name, "add Maintainer role");
    }
    for k in 0..2u32 {
        index.clear_requests();
        let doc = night(k, "n2");
        let feed = &doc["feed"];
        assert_eq!(feed["state"], "used", "{feed}");
        assert_eq!(feed["since_run"], 1, "the shard's own store and run");
        assert_eq!(feed["events"], 2);
        assert_eq!(feed["changed"], 1, "{feed}");
        // The changed project's page, and again that of the project the first night failed.
        let shard = Shard::new(k, 2).unwrap();
        let mut want = vec![format!("/simple/{}/", changed[k as usize])];
        if shard.keeps("no-such-project") {
            want.push("/simple/no-such-project/".into());
        }
        want.sort();
        assert_eq!(index.pages_read(), want);
        let spared = doc["planned"].as_u64().unwrap() - want.len() as u64;
        assert_eq!(feed["pages_spared"], spared);
    }
}
