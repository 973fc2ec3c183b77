//! Merging stores: runs of shards become one, newer rows win, inputs are checked first and a
//! failed merge leaves the target as it was.

use std::path::{Path, PathBuf};

use super::*;
use crate::index::DistFile;
use crate::inspect::verdict::{Binder, Reason, Verdict};
use crate::scan::Readiness;
use crate::store::codec;
use crate::store::testutil::{ANALYZER, key, module, record, sha};
use crate::store::{CrawlProject, CrawlTotals, ReleaseReadiness, RunShard};

const T0: i64 = 1_760_000_000;

fn wheel(project: &str, version: &str, n: u32) -> DistFile {
    let filename = format!("{project}-{version}-cp314-cp314t-manylinux_2_28_x86_64.whl");
    DistFile {
        url: format!("https://files.example/{filename}"),
        filename,
        sha256: Some(sha(n)),
        size: Some(1000),
        requires_python: None,
        yanked: None,
        upload_time: Some("2025-10-01T12:00:00Z".into()),
    }
}

/// A store at `path` holding shard `k` of 2 of batch `b1`: project `p{k}` crawled, with a
/// wheel analysed (ready for k = 0, GIL on for k = 1), classifiers and a first-ready row.
fn shard_store(path: &Path, k: u32, now: i64, finish: bool) -> Store {
    let mut store = Store::open(path).unwrap();
    store.fixed_now = Some(now);
    let name = format!("p{k}");
    store
        .record_project_files(&name, &[wheel(&name, "1.0", k)])
        .unwrap();
    let verdict = match k {
        0 => module("m", Verdict::GilNotUsed, Reason::SlotValue1, Binder::CApi),
        _ => module("m", Verdict::GilUsed, Reason::SlotValue0, Binder::CApi),
    };
    let modules = [verdict];
    store
        .save_analysis(&key(&sha(k)), &record(&modules))
        .unwrap();
    store
        .record_classifiers(&name, "1.0", &["Free Threading"])
        .unwrap();
    let shard = RunShard {
        index: k,
        count: 2,
        batch: "b1".into(),
    };
    let run = store
        .begin_shard_run("top.txt", 1, ANALYZER, &shard)
        .unwrap();
    let readiness = if k == 0 {
        Readiness::Ready
    } else {
        Readiness::GilFallback
    };
    let rows = [ReleaseReadiness {
        version: "1.0",
        python: "3.14t",
        platform: "linux-x86_64",
        readiness,
    }];
    let outcome = CrawlProject {
        project: &name,
        rank: k + 1,
        latest: Some("1.0"),
        error: None,
        readiness: &rows,
    };
    store.record_crawl_project(run, &outcome).unwrap();
    if finish {
        let totals = CrawlTotals {
            bytes_downloaded: 100,
            requests: 3,
        };
        store.finish_crawl_run(run, &totals).unwrap();
    }
    store
}

fn paths(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| dir.join(n)).collect()
}

fn count(path: &Path, sql: &str) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_shards_of_a_run_become_one_finished_run_and_merging_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = paths(dir.path(), &["s0.sqlite3", "s1.sqlite3"]);
    drop(shard_store(&inputs[0], 0, T0, true));
    drop(shard_store(&inputs[1], 1, T0 + 5, true));
    let out = dir.path().join("out.sqlite3");
    let first = merge_stores(&out, &inputs).unwrap();
    assert!(first.created);
    assert_eq!(
        first.runs,
        [MergedRun {
            id: 1,
            list_name: "top.txt".into(),
            batch: Some("b1".into()),
            shards: Some((2, 2)),
            projects: 2,
            finished: true,
        }]
    );
    let store = Store::open(&out).unwrap();
    let run = &store.crawl_runs().unwrap()[0];
    assert_eq!((run.planned, run.projects_done), (2, 2));
    assert_eq!(run.totals.unwrap().requests, 6);
    assert_eq!(run.started_at, codec::from_unix_seconds(T0));
    assert_eq!(run.readiness.len(), 2);
    assert_eq!(store.classifiers("p1", "1.0").unwrap().unwrap().len(), 1);
    let a = store.analysis(&key(&sha(1))).unwrap().unwrap();
    assert_eq!(a.modules[0].verdict, Verdict::GilUsed);
    drop(store);

    let again = merge_stores(&out, &inputs).unwrap();
    assert!(!again.created);
    assert_eq!(again.before, first.after);
    assert_eq!(again.after, first.after, "nothing new");
    assert_eq!(again.runs, first.runs);
    insta::assert_snapshot!(
        again
            .text()
            .replace(&dir.path().display().to_string(), "DIR")
    );
}

#[test]
fn a_run_is_unfinished_until_every_shard_is_there_and_finished() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = paths(dir.path(), &["s0.sqlite3", "s1.sqlite3"]);
    drop(shard_store(&inputs[0], 0, T0, true));
    let out = dir.path().join("out.sqlite3");
    let only_one = merge_stores(&out, &inputs[..1]).unwrap();
    assert_eq!(only_one.runs[0].shards, Some((1, 2)));
    assert!(!only_one.runs[0].finished);
    let unfinished = shard_store(&inputs[1], 1, T0 + 5, false);
    let both = merge_stores(&out, &inputs).unwrap();
    assert!(!both.runs[0].finished, "shard 1 has not finished");
    // Shard 1 finishes later: its newer record of itself wins.
    let mut s1 = unfinished;
    s1.fixed_now = Some(T0 + 50);
    let run = s1
        .unfinished_shard_run("top.txt", 1, 2, None)
        .unwrap()
        .unwrap();
    s1.finish_crawl_run(run, &CrawlTotals::default()).unwrap();
    drop(s1);
    let done = merge_stores(&out, &inputs).unwrap();
    assert!(done.runs[0].finished);
    assert_eq!(
        count(&out, "SELECT finished_at FROM crawl_runs"),
        T0 + 50,
        "the last shard's end"
    );
}

#[test]
fn newer_rows_win_and_older_ones_are_kept_when_they_are_newer() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (
        dir.path().join("old.sqlite3"),
        dir.path().join("new.sqlite3"),
    );
    {
        let mut a = Store::open(&old).unwrap();
        a.fixed_now = Some(T0);
        a.record_project_files("p", &[wheel("p", "1.0", 7)])
            .unwrap();
        let m = [module(
            "m",
            Verdict::Unknown,
            Reason::SlotValue0,
            Binder::CApi,
        )];
        a.save_analysis(&key(&sha(7)), &record(&m)).unwrap();
        let mut b = Store::open(&new).unwrap();
        b.fixed_now = Some(T0 + 10);
        b.record_project_files("p", &[wheel("p", "1.0", 7)])
            .unwrap();
        let m = [module(
            "m",
            Verdict::GilNotUsed,
            Reason::SlotValue1,
            Binder::CApi,
        )];
        b.save_analysis(&key(&sha(7)), &record(&m)).unwrap();
    }
    // Whatever the order, the newer analysis is the one kept, with its modules.
    for (i, order) in [[&old, &new], [&new, &old]].into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}.sqlite3"));
        let inputs: Vec<PathBuf> = order.iter().map(|p| p.to_path_buf()).collect();
        merge_stores(&out, &inputs).unwrap();
        let store = Store::open(&out).unwrap();
        let a = store.analysis(&key(&sha(7))).unwrap().unwrap();
        assert_eq!(a.modules.len(), 1);
        assert_eq!(a.modules[0].verdict, Verdict::GilNotUsed, "{order:?}");
        assert_eq!(count(&out, "SELECT count(*) FROM modules"), 1);
        assert_eq!(count(&out, "SELECT first_seen FROM files"), T0);
        assert_eq!(count(&out, "SELECT last_seen FROM files"), T0 + 10);
        assert_eq!(count(&out, "SELECT first_seen FROM projects"), T0);
    }
}

#[test]
fn bad_inputs_are_refused_before_the_target_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sqlite3");
    drop(shard_store(&good, 0, T0, true));
    let out = dir.path().join("out.sqlite3");

    let old = dir.path().join("old.sqlite3");
    std::fs::copy(&good, &old).unwrap();
    Connection::open(&old)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION - 1)
        .unwrap();
    let foreign = dir.path().join("foreign.sqlite3");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); PRAGMA application_id = 42;")
        .unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database at all, just some text").unwrap();
    let cases = [
        (
            old,
            format!(
                "schema version {}, not the {SCHEMA_VERSION}",
                SCHEMA_VERSION - 1
            ),
        ),
        (foreign, "application_id 0x2a".to_string()),
        (text, "not a gilfree store".to_string()),
        (
            dir.path().join("missing.sqlite3"),
            "no such store".to_string(),
        ),
    ];
    for (bad, want) in cases {
        let err = merge_stores(&out, &[good.clone(), bad.clone()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&want), "{message}");
        assert!(message.contains(&*bad.to_string_lossy()), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(!out.exists(), "the target is not created");
    }

    merge_stores(&out, std::slice::from_ref(&good)).unwrap();
    let before = std::fs::read(&out).unwrap();
    let err = merge_stores(&out, &[good.clone(), out.clone()]).unwrap_err();
    assert!(err.to_string().contains("the store merged into"), "{err}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the target is unchanged"
    );
}

#[test]
fn a_failure_part_way_rolls_the_whole_merge_back() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = paths(dir.path(), &["s0.sqlite3", "s1.sqlite3"]);
    drop(shard_store(&inputs[0], 0, T0, true));
    drop(shard_store(&inputs[1], 1, T0, true));
    let out = dir.path().join("out.sqlite3");
    merge_stores(&out, &inputs[..1]).unwrap();
    let before = count(&out, "SELECT count(*) FROM files");
    // A row of s1 that breaks a constraint of the target, written with the checks off: the
    // merge fails at the files, after s1's project and release went in.
    let conn = Connection::open(&inputs[1]).unwrap();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE file_rows SET sha256 = x'ab'")
        .unwrap();
    drop(conn);
    let err = merge_stores(&out, &inputs).unwrap_err();
    assert!(err.to_string().contains("s1.sqlite3"), "{err}");
    assert_eq!(count(&out, "SELECT count(*) FROM files"), before);
    assert_eq!(count(&out, "SELECT count(*) FROM crawl_projects"), 1);
    assert_eq!(
        count(&out, "SELECT count(*) FROM projects WHERE name = 'p1'"),
        0
    );
}

#[test]
fn more_inputs_than_sqlite_attaches_go_through_staging_stores() {
    let dir = tempfile::tempdir().unwrap();
    let n = MAX_ATTACHED as u32 * 2 + 1;
    let mut inputs = Vec::new();
    for k in 0..n {
        let path = dir.path().join(format!("s{k}.sqlite3"));
        let mut store = Store::open(&path).unwrap();
        store.fixed_now = Some(T0 + i64::from(k));
        let name = format!("q{k}");
        store
            .record_project_files(&name, &[wheel(&name, "1.0", 100 + k)])
            .unwrap();
        let shard = RunShard {
            index: k,
            count: n,
            batch: "night".into(),
        };
        let run = store
            .begin_shard_run("big.txt", 1, ANALYZER, &shard)
            .unwrap();
        let outcome = CrawlProject {
            project: &name,
            rank: k + 1,
            latest: Some("1.0"),
            error: None,
            readiness: &[],
        };
        store.record_crawl_project(run, &outcome).unwrap();
        store
            .finish_crawl_run(run, &CrawlTotals::default())
            .unwrap();
        inputs.push(path);
    }
    let out = dir.path().join("out.sqlite3");
    let summary = merge_stores(&out, &inputs).unwrap();
    assert_eq!(summary.runs.len(), 1);
    assert_eq!(summary.runs[0].shards, Some((u64::from(n), u64::from(n))));
    assert_eq!(summary.runs[0].projects, u64::from(n));
    assert!(summary.runs[0].finished);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".gilfree-merge")
        })
        .collect();
    assert!(left.is_empty(), "staging stores are removed");
}

#[test]
fn shard_runs_in_the_target_itself_are_folded_too() {
    let dir = tempfile::tempdir().unwrap();
    let (s0, s1) = (dir.path().join("s0.sqlite3"), dir.path().join("s1.sqlite3"));
    drop(shard_store(&s0, 0, T0, true));
    drop(shard_store(&s1, 1, T0, true));
    let summary = merge_stores(&s0, std::slice::from_ref(&s1)).unwrap();
    assert_eq!(summary.runs.len(), 1, "{summary:?}");
    assert_eq!(summary.runs[0].shards, Some((2, 2)));
    assert_eq!(summary.runs[0].projects, 2);
    assert!(summary.runs[0].finished);
    assert_eq!(count(&s0, "SELECT count(*) FROM crawl_readiness"), 2);
}

#[test]
fn runs_of_unsharded_crawls_are_kept_apart_and_matched_by_their_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.sqlite3");
    {
        let mut store = Store::open(&a).unwrap();
        store.fixed_now = Some(T0);
        store
            .record_project_files("p", &[wheel("p", "1.0", 1)])
            .unwrap();
        let run = store.begin_crawl_run("l.txt", 1, ANALYZER).unwrap();
        let outcome = CrawlProject {
            project: "p",
            rank: 1,
            latest: Some("1.0"),
            error: None,
            readiness: &[],
        };
        store.record_crawl_project(run, &outcome).unwrap();
        store
            .finish_crawl_run(run, &CrawlTotals::default())
            .unwrap();
        store.fixed_now = Some(T0 + 86_400);
        let run = store.begin_crawl_run("l.txt", 1, ANALYZER).unwrap();
        store.record_crawl_project(run, &outcome).unwrap();
    }
    let out = dir.path().join("out.sqlite3");
    merge_stores(&out, std::slice::from_ref(&a)).unwrap();
    let summary = merge_stores(&out, &[a]).unwrap();
    let states: Vec<(i64, bool, u64)> = summary
        .runs
        .iter()
        .map(|r| (r.id, r.finished, r.projects))
        .collect();
    assert_eq!(states, [(1, true, 1), (2, false, 1)]);
}

/// Files of one release recorded in another order in each store: each store gave the
/// release another stem, and the merge spells every name against the target's.
#[test]
fn file_names_survive_stores_whose_releases_have_other_stems() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = paths(dir.path(), &["a.sqlite3", "b.sqlite3"]);
    let hosted = |name: &str| DistFile {
        filename: name.to_string(),
        url: format!(
            "https://files.pythonhosted.org/packages/0e/f9/66471f9b7e9291cca697b2e61a10645a537f389a9d5c0679d50dd86b20f7/{name}"
        ),
        sha256: Some(sha(name.len() as u32)),
        size: Some(10),
        requires_python: Some(">=3.9".into()),
        yanked: None,
        upload_time: Some("2024-11-28T08:47:45.123456Z".into()),
    };
    let sdist = hosted("zope.interface-7.2.tar.gz");
    let wheel = hosted("zope_interface-7.2-cp314-cp314t-manylinux_2_28_x86_64.whl");
    let other = hosted("zope_interface-7.1-py3-none-any.whl");
    let mut a = Store::open(&inputs[0]).unwrap();
    a.fixed_now = Some(T0);
    a.record_project_files("zope.interface", &[sdist.clone(), wheel.clone()])
        .unwrap();
    drop(a);
    let mut b = Store::open(&inputs[1]).unwrap();
    b.fixed_now = Some(T0 + 10);
    b.record_project_files(
        "zope.interface",
        &[wheel.clone(), sdist.clone(), other.clone()],
    )
    .unwrap();
    drop(b);
    let out = dir.path().join("out.sqlite3");
    merge_stores(&out, &inputs).unwrap();
    let merged = Store::open(&out).unwrap();
    let page = merged.project_page("zope-interface").unwrap().unwrap();
    let mut want = vec![other, sdist, wheel];
    want.sort_by(|x, y| x.filename.cmp(&y.filename));
    assert_eq!(page.files, want);
    assert_eq!(count(&out, "SELECT count(*) FROM file_rows"), 3);
    assert_eq!(count(&out, "SELECT min(first_seen) FROM files"), T0);
    assert_eq!(count(&out, "SELECT min(last_seen) FROM files"), T0 + 10);
    // Merging again changes nothing.
    merge_stores(&out, &inputs).unwrap();
    assert_eq!(count(&out, "SELECT count(*) FROM file_rows"), 3);
}
