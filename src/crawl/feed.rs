//! The index's change feed in a crawl: which projects to read the pages of.
//!
//! At the start of a run the crawl asks the feed for the index's serial
//! (`changelog_last_serial`) and records it with the run (a page-cache row keyed by the
//! feed's URL and the run). When an earlier finished run of the same list (and shard)
//! recorded a serial S, the changelog since S (`changelog_since_serial`, asked again from
//! the last serial seen while it advances, up to the serial just read) names the projects
//! that changed; a project of the list that the earlier run recorded without an error and
//! that the changelog does not name keeps its stored page, and its page is not read: it is
//! planned and judged from the files its last recorded listing named, with the analyses
//! the store holds. Every other project's page is read as without a feed.
//!
//! The serial is read before any page, so a change made while the run goes on is in the
//! next run's changelog. Without a feed — the index answers 404 (mirrors do), a fault, an
//! answer that is not XML-RPC, `--no-feed`, `--offline` — or without an earlier run to
//! continue from, or with `--refresh`, every page is read, and the summary says why.

use std::collections::HashSet;

use super::summary::{FeedState, FeedSummary};
use super::{CrawlConfig, CrawlIndex, ProjectList};
use crate::index::{Change, FeedError, IndexClient};
use crate::store::{CrawlRunId, Page, Store, StoreError};

/// The content type of the page-cache rows that keep the index's serial at a run's start.
const RUN_SERIAL_TYPE: &str = "text/x-gilfree-run-serial";

/// Answers of the changelog asked for at most, one after the other, before giving up on a
/// feed that keeps going (PyPI answers at most about 50,000 events at a time: this is some
/// fifty million events, years of PyPI).
pub const MAX_CALLS: u32 = 1000;

/// Earlier runs looked at for a recorded serial, newest first.
const BASELINE_RUNS: usize = 30;

/// An index's change feed.
pub trait ChangeFeed: Sync {
    /// Where it is asked, for the summary and error messages.
    fn feed_url(&self) -> String;
    /// The serial of the index's newest event.
    fn last_serial(&self) -> Result<u64, FeedError>;
    /// Events after `serial`, oldest first, as many as the index gives in one answer.
    fn since(&self, serial: u64) -> Result<Vec<Change>, FeedError>;
}

impl ChangeFeed for IndexClient {
    fn feed_url(&self) -> String {
        IndexClient::feed_url(self).to_string()
    }
    fn last_serial(&self) -> Result<u64, FeedError> {
        self.changelog_last_serial()
    }
    fn since(&self, serial: u64) -> Result<Vec<Change>, FeedError> {
        self.changelog_since_serial(serial)
    }
}

/// What the changelog since a serial said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Normalized names of the projects it named.
    pub projects: HashSet<String>,
    /// Events read.
    pub events: u64,
    /// Answers asked for.
    pub calls: u32,
    /// The newest serial seen (the one asked from when there were no events).
    pub last: u64,
}

/// The projects the changelog names after `since`: asked again from the newest serial of
/// each answer until an answer is empty, does not advance, or reaches `until`.
pub fn changed_since(feed: &dyn ChangeFeed, since: u64, until: u64) -> Result<Changed, FeedError> {
    let mut changed = Changed {
        last: since,
        ..Changed::default()
    };
    loop {
        if changed.calls >= MAX_CALLS {
            return Err(FeedError::Malformed {
                url: feed.feed_url(),
                reason: format!(
                    "the changelog since serial {since} did not end after {MAX_CALLS} answers \
                     (at serial {})",
                    changed.last
                ),
            });
        }
        let batch = feed.since(changed.last)?;
        changed.calls += 1;
        changed.events += batch.len() as u64;
        let newest = batch.iter().map(|c| c.serial).max();
        changed
            .projects
            .extend(batch.into_iter().filter_map(|c| c.project));
        match newest {
            Some(newest) if newest > changed.last => changed.last = newest,
            _ => break,
        }
        if changed.last >= until {
            break;
        }
    }
    Ok(changed)
}

/// What the feed decided for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPlan {
    /// Projects whose pages are not read (their stored listing stands).
    pub keep: HashSet<String>,
    pub summary: FeedSummary,
}

/// Asks the feed (unless told not to), records the index's serial with `run`, and decides
/// which of `kept` keep their stored pages. Feed trouble is never an error: every page is
/// read, and the summary says why; only the store's failures are.
pub fn plan(
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &std::sync::Mutex<Store>,
    list: &ProjectList,
    (run, resumed): (CrawlRunId, bool),
    kept: &[(u32, &str)],
) -> Result<FeedPlan, StoreError> {
    let unasked = |state, url: Option<String>, serial, reason: String| FeedPlan {
        keep: HashSet::new(),
        summary: FeedSummary {
            state,
            url,
            serial,
            reason: Some(reason),
            ..FeedSummary::default()
        },
    };
    if !cfg.feed {
        return Ok(unasked(FeedState::Off, None, None, "--no-feed".into()));
    }
    let Some(feed) = index.feed() else {
        return Ok(unasked(FeedState::Off, None, None, "--offline".into()));
    };
    let url = feed.feed_url();
    let serial = match feed.last_serial() {
        Ok(serial) => serial,
        Err(e) => {
            return Ok(unasked(
                FeedState::Unavailable,
                Some(url),
                None,
                e.to_string(),
            ));
        }
    };
    let recorded = record_serial(store, &url, run, resumed, serial)?;
    let every_page = |state, reason: String| {
        let mut p = unasked(state, Some(url.clone()), Some(serial), reason);
        p.summary.recorded = recorded;
        p
    };
    if cfg.refresh {
        return Ok(every_page(
            FeedState::NotUsed,
            "--refresh reads every page".into(),
        ));
    }
    let shard = cfg.shard.map(|s| (s.index(), s.count()));
    let Some((since_run, since)) = baseline(store, &url, &list.name, shard, run)? else {
        return Ok(every_page(
            FeedState::NotUsed,
            "no earlier finished run of this list recorded the index's serial".into(),
        ));
    };
    if serial < since {
        return Ok(every_page(
            FeedState::NotUsed,
            format!(
                "the index's serial {serial} is below the {since} of run {since_run}: not the \
                 same index's changelog"
            ),
        ));
    }
    let changed = match changed_since(feed, since, serial) {
        Ok(changed) => changed,
        Err(e) => return Ok(every_page(FeedState::Unavailable, e.to_string())),
    };
    let judged: HashSet<String> = lock(store)
        .crawled_without_error(since_run)?
        .into_iter()
        .collect();
    let keep: HashSet<String> = kept
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| !changed.projects.contains(*p) && judged.contains(*p))
        .map(str::to_string)
        .collect();
    let named = kept
        .iter()
        .filter(|(_, p)| changed.projects.contains(*p))
        .count() as u64;
    Ok(FeedPlan {
        keep,
        summary: FeedSummary {
            state: FeedState::Used,
            url: Some(url),
            serial: Some(serial),
            recorded,
            since: Some(since),
            since_run: Some(since_run.get()),
            events: changed.events,
            calls: changed.calls,
            changed: named,
            ..FeedSummary::default()
        },
    })
}

fn lock(store: &std::sync::Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// The page-cache key of the serial recorded with `run` for the feed at `url`.
fn serial_key(url: &str, run: CrawlRunId) -> String {
    format!("{url}#serial-at-start-of-run-{run}")
}

/// The recorded row: the serial and when the run started (Unix seconds), so that a row
/// copied into another store (by a merge) cannot pass for another run's of the same id.
fn serial_row(serial: u64, started: i64) -> Vec<u8> {
    format!("{serial} {started}").into_bytes()
}

fn parse_serial_row(body: &[u8]) -> Option<(u64, i64)> {
    let text = std::str::from_utf8(body).ok()?;
    let (serial, started) = text.trim().split_once(' ')?;
    Some((serial.parse().ok()?, started.parse().ok()?))
}

/// Records `serial` as the index's serial at the start of `run`; a resumed run keeps the
/// one recorded when it began, and one that began without a feed records none (projects
/// read before now may have changed before `serial`). Whether the run has a serial.
fn record_serial(
    store: &std::sync::Mutex<Store>,
    url: &str,
    run: CrawlRunId,
    resumed: bool,
    serial: u64,
) -> Result<bool, StoreError> {
    let mut store = lock(store);
    let key = serial_key(url, run);
    if resumed {
        return Ok(store.stored_page(&key)?.is_some());
    }
    let started = unix_seconds(store.crawl_run(run)?.started_at);
    let page = Page {
        content_type: RUN_SERIAL_TYPE.to_string(),
        body: serial_row(serial, started),
        etag: None,
        last_modified: None,
    };
    store.save_page(&key, &page)?;
    Ok(true)
}

/// The newest earlier finished run of the list (and shard) with a serial recorded for the
/// feed at `url`, and that serial.
fn baseline(
    store: &std::sync::Mutex<Store>,
    url: &str,
    list: &str,
    shard: Option<(u32, u32)>,
    run: CrawlRunId,
) -> Result<Option<(CrawlRunId, u64)>, StoreError> {
    let store = lock(store);
    for (earlier, started) in store.finished_runs(list, shard, BASELINE_RUNS)? {
        if earlier == run {
            continue;
        }
        let Some(row) = store.stored_page(&serial_key(url, earlier))? else {
            continue;
        };
        match parse_serial_row(&row.page.body) {
            Some((serial, at)) if at == unix_seconds(started) => {
                return Ok(Some((earlier, serial)));
            }
            _ => continue,
        }
    }
    Ok(None)
}

/// Whole seconds since the Unix epoch (0 before it).
fn unix_seconds(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A feed answering from a list of events, `cap` at a time.
    struct Recorded {
        events: Vec<(&'static str, u64)>,
        cap: usize,
        asked: Mutex<Vec<u64>>,
    }

    impl ChangeFeed for Recorded {
        fn feed_url(&self) -> String {
            "http://feed.test/pypi".into()
        }
        fn last_serial(&self) -> Result<u64, FeedError> {
            Ok(self.events.iter().map(|e| e.1).max().unwrap_or(0))
        }
        fn since(&self, serial: u64) -> Result<Vec<Change>, FeedError> {
            self.asked.lock().unwrap().push(serial);
            Ok(self
                .events
                .iter()
                .filter(|e| e.1 > serial)
                .take(self.cap)
                .map(|&(name, serial)| Change {
                    project: crate::index::normalize_name(name),
                    name: name.into(),
                    version: None,
                    timestamp: 0,
                    action: "new release".into(),
                    serial,
                })
                .collect())
        }
    }

    fn recorded(cap: usize) -> Recorded {
        Recorded {
            events: vec![("A", 11), ("b_c", 12), ("A", 13), ("d", 14), ("e", 15)],
            cap,
            asked: Mutex::default(),
        }
    }

    #[test]
    fn the_changelog_is_read_in_capped_answers_up_to_the_serial() {
        let feed = recorded(2);
        let changed = changed_since(&feed, 10, 15).unwrap();
        let mut names: Vec<_> = changed.projects.iter().cloned().collect();
        names.sort();
        assert_eq!(names, ["a", "b-c", "d", "e"]);
        assert_eq!((changed.events, changed.calls, changed.last), (5, 3, 15));
        assert_eq!(*feed.asked.lock().unwrap(), [10, 12, 14]);
        // Up to an earlier serial only.
        let feed = recorded(2);
        let changed = changed_since(&feed, 10, 12).unwrap();
        assert_eq!((changed.events, changed.calls), (2, 1));
        // Beyond the last event: an empty answer ends it.
        let feed = recorded(50);
        let changed = changed_since(&feed, 10, 99).unwrap();
        assert_eq!((changed.events, changed.calls), (5, 2));
        // Nothing since.
        let changed = changed_since(&recorded(2), 15, 15).unwrap();
        assert_eq!((changed.events, changed.calls, changed.last), (0, 1, 15));
    }

    /// A feed that answers the same events whatever it is asked, or ever newer ones.
    struct Stuck {
        advancing: bool,
        calls: Mutex<u64>,
    }

    impl ChangeFeed for Stuck {
        fn feed_url(&self) -> String {
            "http://feed.test/pypi".into()
        }
        fn last_serial(&self) -> Result<u64, FeedError> {
            Ok(5)
        }
        fn since(&self, _: u64) -> Result<Vec<Change>, FeedError> {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            let serial = if self.advancing { 5 + *calls } else { 5 };
            Ok(vec![Change {
                project: Some("x".into()),
                name: "x".into(),
                version: None,
                timestamp: 0,
                action: String::new(),
                serial,
            }])
        }
    }

    #[test]
    fn a_feed_that_does_not_advance_or_never_ends_is_left() {
        let stuck = Stuck {
            advancing: false,
            calls: Mutex::default(),
        };
        let changed = changed_since(&stuck, 5, u64::MAX).unwrap();
        assert_eq!(changed.calls, 1);
        let endless = Stuck {
            advancing: true,
            calls: Mutex::default(),
        };
        let err = changed_since(&endless, 5, u64::MAX).unwrap_err();
        assert!(
            err.to_string()
                .contains("did not end after 1000 answers (at serial 1005)"),
            "{err}"
        );
    }

    #[test]
    fn serial_rows_read_back() {
        assert_eq!(
            parse_serial_row(&serial_row(42, 1_765_000_000)),
            Some((42, 1_765_000_000))
        );
        assert_eq!(parse_serial_row(b"42"), None);
        assert_eq!(parse_serial_row(b"x 1"), None);
        assert_eq!(parse_serial_row(&[0xff, b' ', b'1']), None);
    }
}
