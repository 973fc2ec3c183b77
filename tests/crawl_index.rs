//! `gilfree crawl` end to end against the local test index server: what a run records
//! (readiness, tags, analyses, classifiers), failures recorded without stopping the run, a
//! second run that costs one page per project and no wheel byte, resuming an interrupted
//! run (simulated in the store, and by killing the process), `--history`, PEP 658
//! metadata files, giving up on an index that stopped answering, and the change feed: a
//! night that reads only the pages of the projects the index's changelog names, and the
//! fallback to every page when the feed answers 404, a fault or something else.

mod common;
mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use common::{LRU, Run, TIME_MACHINE};
use gilfree::store::{CrawlProject, Store};
use support::{Fault, FileSpec, ProjectSpec, Scope, TestIndex, Times};

const FT_STABLE: &str = "Programming Language :: Python :: Free Threading :: 3 - Stable";

/// A temporary folder with the store and the list in it.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("crawl.sqlite3")
    }

    /// Writes a list named `name` with these projects, one per line.
    fn list(&self, name: &str, projects: &[&str]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, projects.join("\n") + "\n").unwrap();
        path
    }
}

/// The arguments of a crawl of `list` into `db` from `index`.
fn crawl_args(index: &TestIndex, db: &Path, list: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["crawl", "--no-progress", "--timeout", "5", "--index-url"]
        .map(String::from)
        .to_vec();
    args.push(index.index_url());
    if !extra.contains(&"--format") {
        args.extend(["--format".into(), "json".into()]);
    }
    if !extra.contains(&"--retries") {
        args.extend(["--retries".into(), "1".into()]);
    }
    args.extend(["--db".into(), db.display().to_string()]);
    args.extend(["--list".into(), list.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn crawl(index: &TestIndex, db: &Path, list: &Path, extra: &[&str]) -> Run {
    let args = crawl_args(index, db, list, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::gilfree_on_loopback(&args)
}

/// A zip in memory with these members.
fn zip(members: &[(&str, &str)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in members {
        out.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The METADATA of `name` `version` with these classifiers.
fn metadata(name: &str, version: &str, classifiers: &[&str]) -> String {
    let mut text = format!(
        "Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n\
         Project-URL: Source, https://example.org/{name}\n"
    );
    for c in classifiers {
        text.push_str(&format!("Classifier: {c}\n"));
    }
    text.push_str("\nA long description.\nClassifier: not a header\n");
    text
}

/// A pure-Python wheel of `name` `version` declaring these classifiers.
fn pure_wheel(name: &str, version: &str, classifiers: &[&str]) -> FileSpec {
    let dist = format!("{name}-{version}.dist-info");
    let bytes = zip(&[
        (&format!("{name}/__init__.py"), "VALUE = 1\n"),
        (
            &format!("{dist}/METADATA"),
            &metadata(name, version, classifiers),
        ),
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

/// purepkg: 2.0 and 1.0 pure wheels (2.0 says free threading is stable), 0.9 an sdist.
fn purepkg() -> ProjectSpec {
    ProjectSpec::new("purepkg")
        .file(FileSpec::new(
            "purepkg-0.9.tar.gz",
            b"not really a tarball".to_vec(),
        ))
        .file(pure_wheel("purepkg", "1.0", &[]))
        .file(pure_wheel("purepkg", "2.0", &[FT_STABLE]))
}

/// An index with projects that all crawl cleanly.
fn clean_index() -> TestIndex {
    let index = TestIndex::start();
    index.add_project(fixture("lru-dict", LRU));
    index.add_project(fixture("time-machine", TIME_MACHINE));
    index.add_project(purepkg());
    index.add_project(
        ProjectSpec::new("srconly").file(FileSpec::new("srconly-1.0.tar.gz", b"x".to_vec())),
    );
    index
}

const CLEAN: [&str; 4] = ["lru-dict", "time-machine", "purepkg", "srconly"];

/// `(python, platform, readiness) → projects` of the run's counts in the summary.
fn count(doc: &Value, python: &str, platform: &str, readiness: &str) -> u64 {
    doc["readiness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["python"] == python && r["platform"] == platform && r["readiness"] == readiness)
        .map_or(0, |r| r["projects"].as_u64().unwrap())
}

fn sqlite(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

/// `version python platform readiness` of every readiness row of a project, sorted.
fn readiness_rows(db: &Path, project: &str) -> Vec<String> {
    let conn = sqlite(db);
    let mut stmt = conn
        .prepare(
            "SELECT r.version || ' ' || c.python || ' ' || c.platform || ' ' || c.readiness
             FROM crawl_readiness c JOIN releases r ON r.id = c.release_id
             JOIN projects p ON p.id = r.project_id WHERE p.name = ?1 ORDER BY 1",
        )
        .unwrap();
    stmt.query_map([project], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_run_records_readiness_tags_verdicts_and_classifiers_and_goes_on_past_failures() {
    let index = clean_index();
    let broken = "broken-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl";
    index.add_project(
        ProjectSpec::new("broken").file(FileSpec::new(broken, b"not a zip at all".to_vec())),
    );
    index.add_project(fixture("flaky", BITSTRUCT_AS_FLAKY));
    index.inject(
        Scope::path("/simple/flaky/"),
        Fault::server_error(),
        Times::Always,
    );
    let setup = Setup::new();
    let mut names = CLEAN.to_vec();
    names.extend(["no-such-project", "broken", "flaky"]);
    let list = setup.list("top.txt", &names);
    let run = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("3 project(s) could not be crawled"),
        "{}",
        run.stderr
    );
    let doc = run.json();
    assert_eq!(doc["finished"], true);
    assert_eq!(doc["list"], "top.txt");
    assert_eq!(doc["projects"]["crawled"], 7);
    assert_eq!(doc["projects"]["failed"], 3);
    let failed: Vec<(&str, u64, &str)> = doc["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["project"].as_str().unwrap(),
                f["rank"].as_u64().unwrap(),
                f["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[0].0, "no-such-project");
    assert!(failed[0].2.contains("no project named"), "{failed:?}");
    assert_eq!((failed[1].0, failed[1].1), ("broken", 6));
    assert!(failed[1].2.contains(broken), "{failed:?}");
    assert_eq!(failed[2].0, "flaky");
    assert!(failed[2].2.contains("500"), "{failed:?}");

    // Counts of the latest releases, per interpreter and platform.
    assert_eq!(count(&doc, "3.14t", "linux-x86_64", "gil-fallback"), 1);
    assert_eq!(count(&doc, "3.14t", "linux-x86_64", "ready"), 1);
    assert_eq!(count(&doc, "3.14t", "linux-x86_64", "unknown"), 1, "broken");
    assert_eq!(count(&doc, "3.13t", "linux-x86_64", "no-wheel"), 3);
    assert_eq!(count(&doc, "3.14t", "any", "pure"), 1);
    assert_eq!(count(&doc, "3.15t", "any", "source-only"), 1);
    assert_eq!(
        readiness_rows(&setup.db(), "lru-dict"),
        [
            "1.4.1 3.13t linux-x86_64 no-wheel",
            "1.4.1 3.14t linux-x86_64 gil-fallback",
            "1.4.1 3.15t linux-x86_64 no-wheel",
        ]
    );

    // The store: tags of every file, module verdicts, classifiers, the run.
    let store = Store::open(setup.db()).unwrap();
    let files = store.files_of_release("lru-dict", "1.4.1").unwrap();
    assert_eq!(files[0].abi_tags.as_deref(), Some("cp314t"));
    let conn = sqlite(&setup.db());
    let verdict: String = conn
        .query_row(
            "SELECT m.module || ' ' || m.verdict FROM modules m JOIN analyses a ON a.id = m.analysis_id
             WHERE a.sha256 = ?1 AND a.python = '3.14t'",
            [common::fixture_info(LRU).sha256],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(verdict, "lru._lru gil-used");
    assert_eq!(
        store.classifiers("purepkg", "2.0").unwrap(),
        Some(vec![FT_STABLE.to_string()])
    );
    assert_eq!(
        store.classifiers("lru-dict", "1.4.1").unwrap(),
        Some(vec![])
    );
    assert_eq!(
        store.classifiers("srconly", "1.0").unwrap(),
        None,
        "sdists are not read"
    );
    let runs = store.crawl_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].projects_done, runs[0].projects_failed), (7, 3));
    assert!(runs[0].finished_at.is_some());
    assert_eq!(
        runs[0].totals.unwrap().requests,
        doc["stats"]["requests"].as_u64().unwrap()
    );
}

/// The bitstruct fixture, served under another project's name (its content does not
/// matter: the page of that project fails).
const BITSTRUCT_AS_FLAKY: &str = common::BITSTRUCT;

#[test]
fn a_second_run_costs_one_page_per_project_and_no_wheel_byte() {
    let index = clean_index();
    let setup = Setup::new();
    let list = setup.list("top.txt", &CLEAN);
    let first = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let first = first.json();
    assert_eq!(first["projects"]["changed"], 4);
    assert_eq!(first["wheels"]["analyzed"], 2);
    assert_eq!(
        first["metadata_read"], 3,
        "lru-dict, time-machine, purepkg 2.0"
    );
    assert!(
        index
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/files/"))
    );

    index.clear_requests();
    let second = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    let second = second.json();
    // The index has no change feed (404, as the mirror): one request says so.
    let feed: Vec<_> = index.requests_to("/pypi");
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!((feed[0].method.as_str(), feed[0].status), ("POST", 404));
    assert_eq!(second["feed"]["state"], "unavailable");
    let paths: Vec<String> = index
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p != "/pypi")
        .collect();
    let pages: Vec<String> = CLEAN.iter().map(|p| format!("/simple/{p}/")).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    let mut want = pages.clone();
    want.sort();
    assert_eq!(sorted, want, "one page per project, nothing else");
    assert_eq!(second["projects"]["unchanged"], 4);
    assert_eq!(second["wheels"]["analyzed"], 0);
    assert_eq!(second["wheels"]["from_store"], 2);
    assert_eq!(second["metadata_read"], 0);
    assert_eq!(second["run"], 2, "a finished run is not resumed");
    assert_eq!(second["readiness"], first["readiness"]);

    // A new release: only its wheel (and metadata) is read.
    let new_wheel =
        "time_machine-3.7.0-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl";
    index.add_project(fixture("time-machine", TIME_MACHINE).file(FileSpec::new(
        new_wheel,
        support::fixture_wheel(common::BITSTRUCT),
    )));
    index.clear_requests();
    let third = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(third.code, 0, "{third:?}");
    let third = third.json();
    assert_eq!(third["projects"]["changed"], 1);
    assert_eq!(third["projects"]["unchanged"], 3);
    assert_eq!(third["wheels"]["analyzed"], 1);
    assert_eq!(third["metadata_read"], 1);
    let files: Vec<String> = index
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| !p.starts_with("/simple/") && p != "/pypi")
        .collect();
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|p| p == &format!("/files/{new_wheel}")),
        "{files:?}"
    );
}

#[test]
fn a_resumed_run_skips_the_projects_the_interrupted_one_recorded() {
    let index = clean_index();
    let setup = Setup::new();
    let list = setup.list("resume.txt", &CLEAN);
    let run_id = {
        let mut store = Store::open(setup.db()).unwrap();
        let run = store
            .begin_crawl_run("resume.txt", 4, gilfree::inspect::ANALYZER_VERSION)
            .unwrap();
        for (rank, project) in [(1, "lru-dict"), (3, "purepkg")] {
            let done = CrawlProject {
                project,
                rank,
                latest: None,
                error: None,
                readiness: &[],
            };
            store.record_crawl_project(run, &done).unwrap();
        }
        run.get()
    };
    let run = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["run"], run_id);
    assert_eq!(doc["resumed"], true);
    assert_eq!(doc["projects"]["done_before"], 2);
    assert_eq!(doc["projects"]["crawled"], 2);
    assert!(index.requests_to("/simple/lru-dict/").is_empty());
    assert!(index.requests_to("/simple/purepkg/").is_empty());
    assert_eq!(index.requests_to("/simple/srconly/").len(), 1);
    let store = Store::open(setup.db()).unwrap();
    let runs = store.crawl_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].projects_done, 4);
    assert!(runs[0].finished_at.is_some());

    // Finished: the next crawl is a new run; --restart begins one even over an unfinished.
    let again = crawl(&index, &setup.db(), &list, &[]).json();
    assert_eq!(
        (again["run"].as_i64(), again["resumed"].as_bool()),
        (Some(run_id + 1), Some(false))
    );
}

#[test]
fn restart_begins_a_new_run_over_an_unfinished_one() {
    let index = clean_index();
    let setup = Setup::new();
    let list = setup.list("l.txt", &CLEAN);
    let unfinished = Store::open(setup.db())
        .unwrap()
        .begin_crawl_run("l.txt", 4, "x")
        .unwrap();
    let doc = crawl(&index, &setup.db(), &list, &["--restart"]).json();
    assert_eq!(doc["resumed"], false);
    assert_ne!(doc["run"], unfinished.get());
    assert_eq!(doc["projects"]["crawled"], 4);
}

#[test]
fn history_evaluates_earlier_releases_and_reads_their_metadata() {
    let index = clean_index();
    let setup = Setup::new();
    let list = setup.list("l.txt", &["purepkg"]);
    let run = crawl(
        &index,
        &setup.db(),
        &list,
        &["--history", "2", "--python", "3.14t"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        readiness_rows(&setup.db(), "purepkg"),
        [
            "0.9 3.14t any source-only",
            "1.0 3.14t any pure",
            "2.0 3.14t any pure"
        ]
    );
    let store = Store::open(setup.db()).unwrap();
    assert_eq!(store.classifiers("purepkg", "1.0").unwrap(), Some(vec![]));
    assert_eq!(
        store.classifiers("purepkg", "2.0").unwrap(),
        Some(vec![FT_STABLE.to_string()])
    );
    assert_eq!(store.classifiers("purepkg", "0.9").unwrap(), None);
    assert_eq!(
        store.project_urls("purepkg", "2.0").unwrap(),
        Some(vec![(
            "Source".to_string(),
            "https://example.org/purepkg".to_string()
        )])
    );
    // The site's counts are of the latest release only.
    let doc = run.json();
    assert_eq!(count(&doc, "3.14t", "any", "pure"), 1);
    assert_eq!(doc["readiness"].as_array().unwrap().len(), 1);
}

#[test]
fn metadata_comes_from_the_pep_658_file_when_the_index_has_one() {
    let index = TestIndex::start();
    let wheel =
        pure_wheel("meta", "1.0", &[]).with_metadata(&metadata("meta", "1.0", &[FT_STABLE]));
    let filename = wheel.filename.clone();
    index.add_project(ProjectSpec::new("meta").file(wheel));
    let setup = Setup::new();
    let list = setup.list("l.txt", &["meta"]);
    let run = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let store = Store::open(setup.db()).unwrap();
    assert_eq!(
        store.classifiers("meta", "1.0").unwrap(),
        Some(vec![FT_STABLE.to_string()]),
        "the .metadata file's word, not the wheel's"
    );
    assert_eq!(
        index
            .requests_to(&format!("/files/{filename}.metadata"))
            .len(),
        1
    );
    assert!(index.requests_to(&format!("/files/{filename}")).is_empty());
}

#[test]
fn an_index_that_stops_answering_stops_the_run_which_resumes_later() {
    let index = TestIndex::start();
    let names: Vec<String> = (1..=14).map(|i| format!("p{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let setup = Setup::new();
    let list = setup.list("l.txt", &names);
    let down = index.inject(
        Scope::All,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Times::Always,
    );
    let run = crawl(&index, &setup.db(), &list, &["--retries", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("stopped before its end"),
        "{}",
        run.stderr
    );
    let doc = run.json();
    assert_eq!(doc["finished"], false);
    assert!(index.fault_hits(down) >= 10);
    let store = Store::open(setup.db()).unwrap();
    let runs = store.crawl_runs().unwrap();
    assert_eq!(runs[0].finished_at, None);
    let recorded = runs[0].projects_done;
    assert!(recorded < 14, "{recorded} recorded");

    // Back up: the run resumes and finishes (every project is missing: each one a failure).
    index.clear_faults();
    let run = crawl(&index, &setup.db(), &list, &["--retries", "0"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["resumed"], true);
    assert_eq!(doc["projects"]["failed"], 14);
    let runs = Store::open(setup.db()).unwrap().crawl_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].finished_at.is_some());
}

#[test]
fn j_bounds_the_projects_crawled_at_once() {
    let index = TestIndex::start();
    let names: Vec<String> = (1..=6).map(|i| format!("pure{i}")).collect();
    for name in &names {
        index.add_project(ProjectSpec::new(name).file(pure_wheel(name, "1.0", &[])));
    }
    // Slow answers, so that requests of parallel projects would overlap.
    index.inject(
        Scope::All,
        Fault::Delay(std::time::Duration::from_millis(50)),
        Times::Always,
    );
    let setup = Setup::new();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = setup.list("l.txt", &names);
    let run = crawl(&index, &setup.db(), &list, &["-j", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["projects"]["crawled"], 6);
    assert_eq!(
        index.peak_concurrency(),
        1,
        "one project, one request at a time"
    );
}

#[test]
fn usage_and_store_errors_exit_2() {
    let index = clean_index();
    let setup = Setup::new();
    let list = setup.list("l.txt", &CLEAN);
    let run = crawl(&index, &setup.db(), &list, &["--no-store"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--no-store"), "{}", run.stderr);
    let missing = setup.dir.path().join("missing.txt");
    let run = crawl(&index, &setup.db(), &missing, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.txt"), "{}", run.stderr);
    let not_a_db = setup.dir.path().join("not-a-db");
    std::fs::write(&not_a_db, "hello, this is text").unwrap();
    let run = crawl(&index, &not_a_db, &list, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not-a-db"), "{}", run.stderr);
    assert!(index.requests().is_empty(), "nothing asked of the index");
}

/// Every row the crawl writes, without ids, times and network totals, sorted: two stores
/// that crawled the same index the same way dump the same.
fn dump(db: &Path) -> Vec<String> {
    let conn = sqlite(db);
    let queries = [
        "SELECT 'project', name, last_listed IS NOT NULL FROM projects",
        "SELECT 'release', p.name, r.version, r.metadata_read_at IS NOT NULL
         FROM releases r JOIN projects p ON p.id = r.project_id",
        "SELECT 'file', filename, kind, url, sha256, size, upload_time, yanked, requires_python,
                python_tags, abi_tags, platform_tags FROM files",
        "SELECT 'analysis', sha256, analyzer_version, python, platform, readiness, note, error
         FROM analyses",
        "SELECT 'module', a.sha256, a.python, a.platform, m.position, m.member, m.module,
                m.verdict, m.reason, m.binder, m.evidence, m.fix
         FROM modules m JOIN analyses a ON a.id = m.analysis_id",
        "SELECT 'classifier', p.name, r.version, c.classifier FROM release_classifiers c
         JOIN releases r ON r.id = c.release_id JOIN projects p ON p.id = r.project_id",
        "SELECT 'run', list_name, planned, analyzer_version, finished_at IS NOT NULL FROM crawl_runs",
        "SELECT 'crawled', r.list_name, p.name, c.rank, v.version, c.error FROM crawl_projects c
         JOIN crawl_runs r ON r.id = c.run_id JOIN projects p ON p.id = c.project_id
         LEFT JOIN releases v ON v.id = c.release_id",
        "SELECT 'readiness', r.list_name, p.name, v.version, c.python, c.platform, c.readiness
         FROM crawl_readiness c JOIN crawl_runs r ON r.id = c.run_id
         JOIN releases v ON v.id = c.release_id JOIN projects p ON p.id = v.project_id",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let found = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|cols| cols.join("|"))
            })
            .unwrap();
        rows.extend(found.map(Result::unwrap));
    }
    rows.sort();
    rows
}

#[test]
fn a_crawl_killed_mid_way_and_resumed_stores_what_an_uninterrupted_one_does() {
    let index = clean_index();
    index.add_project(fixture("bitstruct", common::BITSTRUCT));
    let mut names = CLEAN.to_vec();
    names.push("bitstruct");
    // Slow answers, so that the kill lands while the crawl is under way.
    index.inject(
        Scope::All,
        Fault::Delay(std::time::Duration::from_millis(150)),
        Times::Always,
    );
    let killed = Setup::new();
    let list = killed.list("l.txt", &names);
    let args = crawl_args(&index, &killed.db(), &list, &["-j", "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(&args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has committed a project.
    loop {
        let status = child.try_wait().unwrap();
        assert!(
            status.is_none(),
            "the crawl ended before it could be killed: {status:?}"
        );
        let recorded: i64 = sqlite(&killed.db())
            .query_row("SELECT count(*) FROM crawl_projects", [], |r| r.get(0))
            .unwrap_or(0);
        if recorded >= 1 {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait().unwrap();
    let resumed = crawl(&index, &killed.db(), &list, &["-j", "1"]);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert_eq!(resumed.json()["resumed"], true);
    assert!(
        Store::open(killed.db())
            .unwrap()
            .integrity_check()
            .unwrap()
            .is_empty()
    );

    let whole = Setup::new();
    let list = whole.list("l.txt", &names);
    let run = crawl(&index, &whole.db(), &list, &["-j", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(dump(&killed.db()), dump(&whole.db()));
}

/// A copy of the fixture wheel `file` with one more member, so that each release gets
/// bytes (and a sha256) of its own.
fn wheel_copy(file: &str, tag: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(support::fixture_wheel(file))).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        out.raw_copy_file(zip.by_index_raw(i).unwrap()).unwrap();
    }
    out.start_file(
        format!("{tag}.txt"),
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    out.write_all(tag.as_bytes()).unwrap();
    out.finish().unwrap().into_inner()
}

/// demo: releases 1 to 3 are sdists only, 4 and 5 have a cp314t wheel whose module turns
/// the GIL on (lru-dict's), 6 to `ready_until` one that keeps it off (time-machine's); then
/// the versions in `then` with the bytes of the fixtures given.
fn demo(ready_until: u32, then: &[(u32, &str)]) -> ProjectSpec {
    let mut p = ProjectSpec::new("demo");
    let wheel = |v: u32, fixture: &str| {
        FileSpec::new(
            &format!("demo-{v}.0-cp314-cp314t-manylinux_2_28_x86_64.whl"),
            wheel_copy(fixture, &format!("demo-{v}")),
        )
    };
    for v in 1..=3 {
        p = p.file(FileSpec::new(&format!("demo-{v}.0.tar.gz"), b"x".to_vec()));
    }
    for v in 4..=ready_until {
        p = p.file(wheel(v, if v < 6 { LRU } else { TIME_MACHINE }));
    }
    for &(v, fixture) in then {
        p = p.file(wheel(v, fixture));
    }
    p
}

/// `python platform version basis before earlier read` of the project's first ready rows.
fn first_ready_rows(db: &Path, project: &str) -> Vec<String> {
    let store = Store::open(db).unwrap();
    store
        .first_ready(project)
        .unwrap()
        .into_iter()
        .map(|f| {
            format!(
                "{} {} {} {:?} earlier={:?} read={}",
                f.python, f.platform, f.version, f.basis, f.earlier_ready, f.wheels_read
            )
        })
        .collect()
}

#[test]
fn the_first_ready_release_is_found_by_bisection_once_and_kept() {
    let index = TestIndex::start();
    index.add_project(demo(12, &[]));
    let setup = Setup::new();
    let list = setup.list("l.txt", &["demo"]);
    let run = crawl(&index, &setup.db(), &list, &["--python", "3.14t"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["first_ready"]["searched"], 1);
    assert_eq!(doc["first_ready"]["found"], 1);
    assert_eq!(
        first_ready_rows(&setup.db(), "demo"),
        ["3.14t linux-x86_64 6.0 AfterNotReady(\"5.0\") earlier=None read=3"]
    );
    // The latest and the three releases bisection read, of the eight with a wheel.
    let wheels: BTreeSet<String> = index
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.starts_with("/files/") && p.ends_with(".whl"))
        .collect();
    assert_eq!(wheels.len(), 4, "{wheels:?}");
    assert_eq!(doc["wheels"]["analyzed"], 4);
    let rows = readiness_rows(&setup.db(), "demo");
    assert!(
        rows.contains(&"5.0 3.14t linux-x86_64 gil-fallback".to_string()),
        "{rows:?}"
    );
    assert!(
        rows.contains(&"6.0 3.14t linux-x86_64 ready".to_string()),
        "{rows:?}"
    );

    // Kept: a new ready release costs its own wheel and no search.
    index.add_project(demo(13, &[]));
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &["--python", "3.14t"]).json();
    assert_eq!(doc["first_ready"]["searched"], 0);
    assert_eq!(doc["wheels"]["analyzed"], 1);
    assert_eq!(first_ready_rows(&setup.db(), "demo").len(), 1);

    // A release that turns the GIL on again: the answer no longer holds and is forgotten.
    index.add_project(demo(13, &[(14, LRU)]));
    let doc = crawl(&index, &setup.db(), &list, &["--python", "3.14t"]).json();
    assert_eq!(doc["first_ready"]["searched"], 0);
    assert!(first_ready_rows(&setup.db(), "demo").is_empty());

    // Ready again: the search starts from what the earlier runs judged and reads nothing,
    // and says readiness went back and forth (ready from 6.0 to 13.0).
    index.add_project(demo(13, &[(14, LRU), (15, TIME_MACHINE)]));
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &["--python", "3.14t"]).json();
    assert_eq!(doc["first_ready"]["searched"], 1);
    assert_eq!(doc["wheels"]["analyzed"], 1, "the new latest only");
    assert_eq!(
        first_ready_rows(&setup.db(), "demo"),
        ["3.14t linux-x86_64 15.0 AfterNotReady(\"14.0\") earlier=Some(\"6.0\") read=0"]
    );
}

#[test]
fn no_first_ready_skips_the_search() {
    let index = TestIndex::start();
    index.add_project(demo(12, &[]));
    let setup = Setup::new();
    let list = setup.list("l.txt", &["demo"]);
    let doc = crawl(&index, &setup.db(), &list, &["--no-first-ready"]).json();
    assert_eq!(doc["first_ready"]["searched"], 0);
    assert_eq!(doc["wheels"]["analyzed"], 1);
    assert!(first_ready_rows(&setup.db(), "demo").is_empty());
}

#[test]
fn a_new_release_behind_a_serial_that_did_not_move_is_recorded_all_the_same() {
    let index = TestIndex::start();
    index.add_project(demo(7, &[]).stale_serial(41));
    let setup = Setup::new();
    let list = setup.list("l.txt", &["demo"]);
    let flags = ["--python", "3.14t", "--no-first-ready"];
    let doc = crawl(&index, &setup.db(), &list, &flags).json();
    assert_eq!(doc["projects"]["changed"], 1);
    // 8.0 appears, the serial stays: the page is recorded after all, and 8.0 evaluated.
    index.add_project(demo(8, &[]).stale_serial(41));
    let doc = crawl(&index, &setup.db(), &list, &flags).json();
    assert_eq!(doc["projects"]["changed"], 1, "{doc}");
    let rows = readiness_rows(&setup.db(), "demo");
    assert!(
        rows.contains(&"8.0 3.14t linux-x86_64 ready".to_string()),
        "{rows:?}"
    );
    let store = Store::open(setup.db()).unwrap();
    assert_eq!(
        store.latest_release("demo").unwrap().as_deref(),
        Some("8.0")
    );
}

/// An index of `n` tiny projects, `p0000` …: sdists only, and a pure wheel for every 100th.
fn tiny_index(n: usize) -> (TestIndex, Vec<String>) {
    let index = TestIndex::start();
    let names: Vec<String> = (0..n).map(|i| format!("p{i:04}")).collect();
    for (i, name) in names.iter().enumerate() {
        index.add_project(tiny(name, i, "1.0"));
    }
    (index, names)
}

fn tiny(name: &str, i: usize, version: &str) -> ProjectSpec {
    let sdist = FileSpec::new(&format!("{name}-{version}.tar.gz"), b"sdist".to_vec());
    let project = ProjectSpec::new(name).file(sdist);
    if i.is_multiple_of(100) {
        project.file(pure_wheel(name, version, &[]))
    } else {
        project
    }
}

/// Requests, body bytes and seconds of a crawl, for the figures in docs/crawl.md.
fn cost(index: &TestIndex, doc: &Value) -> String {
    format!(
        "{} request(s) ({} page(s)), {} body byte(s), {:.2} s",
        index.requests().len(),
        index.pages_read().len(),
        index.body_bytes_sent(),
        doc["stats"]["seconds"].as_f64().unwrap()
    )
}

#[test]
fn a_night_with_3_changed_projects_out_of_1000_fetches_3_pages() {
    let (index, names) = tiny_index(1000);
    // On the index, not yet on the list.
    index.add_project(tiny("brand-new", 1, "0.1"));
    index.serve_feed(2);
    let setup = Setup::new();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = setup.list("top.txt", &refs);
    let flags = ["-j", "8"];
    let first = crawl(&index, &setup.db(), &list, &flags);
    assert_eq!(first.code, 0, "{first:?}");
    let first = first.json();
    assert_eq!(first["projects"]["crawled"], 1000);
    assert_eq!(first["feed"]["state"], "not-used", "{}", first["feed"]);
    assert_eq!(
        first["feed"]["reason"],
        "no earlier finished run of this list recorded the index's serial"
    );
    assert_eq!(first["feed"]["serial"], 1001);
    assert_eq!(first["feed"]["recorded"], true);
    eprintln!("from empty: {}", cost(&index, &first));

    // The night: three projects change (two new releases, one a change the page does not
    // show), and the feed, capped at two events an answer, names them in two answers.
    index.add_project(tiny("p0100", 100, "1.1"));
    index.add_project(tiny("p0555", 555, "2.0"));
    index.record_change("P0777", "add Owner role");
    index.clear_requests();
    let second = crawl(&index, &setup.db(), &list, &flags);
    assert_eq!(second.code, 0, "{second:?}");
    let text_flags = ["--format", "text"];
    let second = second.json();
    eprintln!("a night with the feed: {}", cost(&index, &second));
    assert_eq!(
        index.pages_read(),
        ["/simple/p0100/", "/simple/p0555/", "/simple/p0777/"]
    );
    let feed = &second["feed"];
    assert_eq!(feed["state"], "used", "{feed}");
    assert_eq!(feed["since"], 1001);
    assert_eq!(feed["since_run"], 1);
    assert_eq!(feed["serial"], 1004);
    assert_eq!(feed["events"], 3);
    assert_eq!(feed["calls"], 2);
    assert_eq!(feed["changed"], 3);
    assert_eq!(feed["pages_spared"], 997);
    assert!(feed.get("reason").is_none(), "{feed}");
    // 1 + 2 XML-RPC calls, 3 pages, and the new pure wheel's tail, directory and metadata.
    let posts = index.requests_to("/pypi");
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert!(posts.iter().all(|r| r.method == "POST" && r.status == 200));
    let others: Vec<String> = index
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p != "/pypi" && !p.starts_with("/simple/"))
        .collect();
    assert!(
        others.iter().all(|p| p.starts_with("/files/p0100-1.1")),
        "{others:?}"
    );
    assert_eq!(second["projects"]["crawled"], 1000);
    assert_eq!(second["projects"]["changed"], 2);
    assert_eq!(second["projects"]["unchanged"], 998);
    assert_eq!(second["projects"]["failed"], 0);
    assert_eq!(second["readiness"], first["readiness"]);
    // What the run recorded is what a run reading every page records.
    let store = Store::open(setup.db()).unwrap();
    assert_eq!(
        store.latest_release("p0555").unwrap().as_deref(),
        Some("2.0")
    );
    drop(store);
    let latest = |run: i64| -> Vec<String> {
        let conn = sqlite(&setup.db());
        let mut stmt = conn
            .prepare(
                "SELECT p.name || ' ' || coalesce(r.version, '-') FROM crawl_projects c
                 JOIN projects p ON p.id = c.project_id LEFT JOIN releases r ON r.id = c.release_id
                 WHERE c.run_id = ?1 ORDER BY 1",
            )
            .unwrap();
        stmt.query_map([run], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let with_feed = latest(2);
    assert_eq!(with_feed.len(), 1000);
    assert!(with_feed.contains(&"p0555 2.0".to_string()));

    // The same night without the feed: every page, and the same record.
    index.clear_requests();
    let third = crawl(&index, &setup.db(), &list, &["-j", "8", "--no-feed"]);
    assert_eq!(third.code, 0, "{third:?}");
    let third = third.json();
    eprintln!("a night without the feed: {}", cost(&index, &third));
    assert_eq!(index.pages_read().len(), 1000);
    assert!(
        index.requests_to("/pypi").is_empty(),
        "--no-feed asks nothing"
    );
    assert_eq!(third["feed"]["state"], "off");
    assert_eq!(third["feed"]["reason"], "--no-feed");
    assert_eq!(latest(3), with_feed);
    assert_eq!(third["readiness"], second["readiness"]);

    // Nothing changed since run 2 (run 3 recorded no serial): no page is read but that of
    // a project new to the list, which the changelog does not name.
    let mut longer = refs.clone();
    longer.push("brand-new");
    let list = setup.list("top.txt", &longer);
    index.clear_requests();
    let fourth = crawl(&index, &setup.db(), &list, &text_flags);
    assert_eq!(fourth.code, 0, "{fourth:?}");
    assert_eq!(index.pages_read(), ["/simple/brand-new/"]);
    let line = fourth
        .stdout
        .lines()
        .find(|l| l.starts_with("feed:"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        line,
        "feed:     used: 0 project(s) changed since serial 1004 (run 2), 1000 page(s) not \
         read; 0 event(s) in 1 answer(s), serial 1004 recorded"
    );
}

/// A store crawled once with the feed served, then the night's index answer at `/pypi`.
fn night_after(answer: impl FnOnce(&TestIndex)) -> (TestIndex, Setup, PathBuf, Value) {
    let (index, names) = tiny_index(20);
    index.serve_feed(50);
    let setup = Setup::new();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = setup.list("top.txt", &refs);
    let first = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    index.add_project(tiny("p0003", 3, "1.1"));
    answer(&index);
    index.clear_requests();
    let second = crawl(&index, &setup.db(), &list, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    let doc = second.json();
    assert_eq!(index.pages_read().len(), 20, "every page: {}", doc["feed"]);
    assert_eq!(doc["projects"]["changed"], 1);
    assert_eq!(doc["projects"]["unchanged"], 19);
    (index, setup, list, doc)
}

#[test]
fn a_feed_that_answers_404_falls_back_to_every_page_and_says_so() {
    let (index, _, _, doc) = night_after(|index| {
        index.add_raw(
            "/pypi",
            404,
            &[("Content-Type", "text/html")],
            b"Not Found".to_vec(),
        )
    });
    assert_eq!(doc["feed"]["state"], "unavailable");
    assert_eq!(
        doc["feed"]["reason"],
        format!("HTTP 404 at {}", index.url("/pypi"))
    );
    assert!(doc["feed"].get("serial").is_none());
    assert_eq!(doc["feed"]["recorded"], false);
    assert_eq!(doc["feed"]["pages_spared"], 0);
}

#[test]
fn a_feed_fault_falls_back_to_every_page() {
    let fault = "<?xml version='1.0'?>\n<methodResponse><fault><value><struct>\
        <member><name>faultCode</name><value><int>-32500</int></value></member>\
        <member><name>faultString</name><value><string>RuntimeError: the changelog is \
        resting</string></value></member></struct></value></fault></methodResponse>\n";
    let (index, setup, list, doc) = night_after(|index| {
        index.add_route("/pypi", Some("text/xml"), fault);
    });
    assert_eq!(doc["feed"]["state"], "unavailable");
    assert_eq!(
        doc["feed"]["reason"],
        format!(
            "{}: XML-RPC fault -32500: RuntimeError: the changelog is resting",
            index.url("/pypi")
        )
    );
    // The text summary says so too.
    let text = crawl(&index, &setup.db(), &list, &["--format", "text"]);
    assert!(
        text.stdout.contains(&format!(
            "feed:     unavailable ({}: XML-RPC fault -32500: RuntimeError: the changelog is \
             resting), read every page",
            index.url("/pypi")
        )),
        "{}",
        text.stdout
    );
}

#[test]
fn a_malformed_feed_answer_falls_back_to_every_page_without_a_panic() {
    for (content_type, body, want) in [
        (
            "text/html",
            "<html><body>Welcome</body></html>",
            "the root element is <html>",
        ),
        ("text/xml", "<methodResponse><params><param>", "not XML"),
        ("text/xml", "\u{1}\u{2} binary", "not XML"),
        (
            "text/xml",
            "<methodResponse><params><param><value><string>soon</string></value></param>\
             </params></methodResponse>",
            "a serial should be a non-negative int, not a string",
        ),
    ] {
        let (_, _, _, doc) = night_after(|index| {
            index.add_route("/pypi", Some(content_type), body);
        });
        assert_eq!(doc["feed"]["state"], "unavailable", "{body}");
        let reason = doc["feed"]["reason"].as_str().unwrap();
        assert!(reason.contains(want), "{body}: {reason}");
    }
}

#[test]
fn a_feed_refused_falls_back_and_refresh_reads_every_page_recording_the_serial() {
    let (index, names) = tiny_index(5);
    index.serve_feed(50);
    let setup = Setup::new();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = setup.list("l.txt", &refs);
    assert_eq!(crawl(&index, &setup.db(), &list, &[]).code, 0);
    index.add_project(tiny("p0001", 1, "1.1"));
    let since = index.inject(
        Scope::path("/pypi"),
        Fault::Status {
            status: 403,
            retry_after: None,
        },
        Times::Always,
    );
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &[]).json();
    assert_eq!(doc["feed"]["state"], "unavailable");
    assert_eq!(
        doc["feed"]["reason"],
        format!("HTTP 403 at {}", index.url("/pypi"))
    );
    assert_eq!(index.pages_read().len(), 5);
    assert!(index.fault_hits(since) >= 1);
    index.clear_faults();
    // --refresh: the feed answers, every page is read all the same.
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &["--refresh"]).json();
    assert_eq!(doc["feed"]["state"], "not-used");
    assert_eq!(doc["feed"]["reason"], "--refresh reads every page");
    assert_eq!(doc["feed"]["recorded"], true);
    assert_eq!(index.pages_read().len(), 5);
    // The next night continues from the refreshed run.
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &[]).json();
    assert_eq!(doc["feed"]["state"], "used", "{}", doc["feed"]);
    assert_eq!(doc["feed"]["since_run"], 3);
    assert!(index.pages_read().is_empty());
    assert_eq!(doc["projects"]["unchanged"], 5);
}

#[test]
fn a_resumed_run_uses_the_feed_but_records_no_serial_it_did_not_begin_with() {
    let (index, names) = tiny_index(6);
    index.serve_feed(50);
    let setup = Setup::new();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = setup.list("r.txt", &refs);
    assert_eq!(crawl(&index, &setup.db(), &list, &[]).code, 0);
    // A run begun by a gilfree that did not ask the feed, stopped after one project.
    {
        let mut store = Store::open(setup.db()).unwrap();
        let run = store
            .begin_crawl_run("r.txt", 6, gilfree::inspect::ANALYZER_VERSION)
            .unwrap();
        let done = CrawlProject {
            project: "p0000",
            rank: 1,
            latest: None,
            error: None,
            readiness: &[],
        };
        store.record_crawl_project(run, &done).unwrap();
    }
    index.add_project(tiny("p0004", 4, "1.1"));
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &[]).json();
    assert_eq!(
        (doc["run"].as_i64(), doc["resumed"].as_bool()),
        (Some(2), Some(true))
    );
    let feed = &doc["feed"];
    assert_eq!(feed["state"], "used", "{feed}");
    assert_eq!(feed["since_run"], 1);
    assert_eq!(feed["recorded"], false, "{feed}");
    assert_eq!(feed["pages_spared"], 4);
    assert_eq!(index.pages_read(), ["/simple/p0004/"]);
    // The next night continues from run 1, the last with a serial.
    index.clear_requests();
    let doc = crawl(&index, &setup.db(), &list, &[]).json();
    assert_eq!(doc["feed"]["since_run"], 1, "{}", doc["feed"]);
    assert_eq!(doc["feed"]["recorded"], true);
    assert_eq!(index.pages_read(), ["/simple/p0004/"]);
}
