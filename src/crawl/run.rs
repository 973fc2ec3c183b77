//! The crawl loop: find the list's unfinished run or begin one, ask the index's change feed
//! which projects changed since the last run ([`super::feed`]), hand the projects it has
//! not recorded yet to a few workers, and commit each project's outcome in one transaction
//! as it comes back. Workers read pages and wheels; one thread (the caller's) records,
//! counts, draws the progress bar and decides when to give up on an index that stopped
//! answering.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};
use std::time::Instant;

use super::feed;
use super::first_ready::search_project;
use super::metadata;
use super::plan::{self, Offer};
use super::summary::{
    CrawlSummary, FailedProject, FirstReadyCounts, NetSummary, ProjectCounts, ReadinessRow,
    ShardSummary, WheelCounts,
};
use super::{CrawlConfig, CrawlError, CrawlIndex, ProjectList};
use crate::index::select;
use crate::index::{Listing, NetStats};
use crate::inspect::ANALYZER_VERSION;
use crate::scan::{Admit, ListedScan, ListedWheel, Readiness, WheelReport, scan_listed};
use crate::store::{
    CrawlProject, CrawlRunId, CrawlTotals, FirstReady, FirstReadyBasis, Page, ReleaseReadiness,
    RunShard, Store, StoreError,
};
use crate::wheel::Platform;

/// The content type of the page-cache rows that keep a project page's serial.
const SERIAL_TYPE: &str = "text/x-gilfree-last-serial";

/// What crawling one project gave.
struct Outcome {
    rank: u32,
    project: String,
    result: Result<Crawled, Failure>,
}

/// A project crawled (possibly with unreadable wheels).
#[derive(Default)]
struct Crawled {
    latest: Option<String>,
    rows: Vec<Row>,
    /// The first-ready searches' answers, and targets whose stored answer no longer holds.
    first_ready: Vec<FirstReady>,
    first_ready_gone: Vec<(String, String)>,
    first_ready_searched: u64,
    /// `FILENAME: why` for each wheel that could not be read.
    wheel_errors: Vec<String>,
    changed: bool,
    /// The page was not read: the change feed said it had not changed.
    page_spared: bool,
    analyzed: u64,
    from_store: u64,
    metadata_read: u64,
    warnings: Vec<String>,
}

/// One readiness the project's releases got.
struct Row {
    version: String,
    python: String,
    platform: String,
    readiness: Readiness,
}

/// A project that could not be crawled.
struct Failure {
    error: String,
    kind: FailureKind,
}

enum FailureKind {
    /// Something about this project: recorded, and the run goes on.
    Project,
    /// The index did not answer: recorded unless too many in a row, which stops the run.
    IndexTrouble,
    /// The store failed: the run stops.
    Store(Box<StoreError>),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure {
            error: e.to_string(),
            kind: FailureKind::Store(Box::new(e)),
        }
    }
}

/// The store, even if a thread panicked while holding it (every write is one transaction:
/// what it holds is consistent).
fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Crawls `list` into `store` through `index`, resuming the list's unfinished run unless
/// `cfg.restart`. `Ok` with `finished: false` when the run was stopped because the index
/// stopped answering (the next crawl resumes it); `Err` when the store failed.
pub fn crawl(
    list: &ProjectList,
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
) -> Result<CrawlSummary, CrawlError> {
    let started = Instant::now();
    let net_before = index.stats();
    // The projects of the list this crawl keeps, with their ranks on the whole list (so
    // that the shards of a run, merged, rank them as one crawl of the list would).
    let kept: Vec<(u32, &str)> = list
        .projects
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u32 + 1, p.as_str()))
        .filter(|(_, p)| cfg.shard.is_none_or(|s| s.keeps(p)))
        .collect();
    let (run, resumed) = {
        let mut store = lock(store);
        let unfinished = match (cfg.restart, cfg.shard) {
            (true, _) => None,
            (false, None) => store.unfinished_crawl_run(&list.name)?,
            (false, Some(s)) => store.unfinished_shard_run(
                &list.name,
                s.index(),
                s.count(),
                cfg.batch.as_deref(),
            )?,
        };
        match unfinished {
            Some(run) => (run, true),
            None => {
                let planned = kept.len() as u64;
                let run = match cfg.shard {
                    None => store.begin_crawl_run(&list.name, planned, ANALYZER_VERSION)?,
                    Some(s) => {
                        let shard = RunShard {
                            index: s.index(),
                            count: s.count(),
                            batch: cfg.batch.clone().unwrap_or_else(today),
                        };
                        store.begin_shard_run(&list.name, planned, ANALYZER_VERSION, &shard)?
                    }
                };
                (run, false)
            }
        }
    };
    let feed::FeedPlan {
        keep,
        summary: mut feed_summary,
    } = feed::plan(cfg, index, store, list, (run, resumed), &kept)?;
    let done: HashSet<String> = lock(store).crawled_projects(run)?.into_iter().collect();
    let todo: Vec<(u32, &str)> = kept
        .iter()
        .copied()
        .filter(|(_, p)| !done.contains(*p))
        .collect();
    let done_before = (kept.len() - todo.len()) as u64;
    let shard_summary = match cfg.shard {
        None => None,
        Some(s) => Some(ShardSummary {
            index: s.index(),
            count: s.count(),
            batch: lock(store).crawl_run_batch(run)?.unwrap_or_default(),
            kept: kept.len() as u64,
            listed: list.projects.len() as u64,
        }),
    };

    let bar = progress_bar(cfg.progress, kept.len() as u64, done_before);
    let mut recorder = Recorder {
        run,
        cfg,
        store,
        held: Vec::new(),
        tally: Tally::default(),
        stopped: None,
        fatal: None,
    };
    let stop = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let budget = Budget::new(cfg.wheel_budget);
    let (tx, rx) = mpsc::sync_channel::<Outcome>(cfg.workers.max(1));
    std::thread::scope(|s| {
        for _ in 0..cfg.workers.clamp(1, 64).min(todo.len().max(1)) {
            let (tx, stop, next, todo, budget, keep) =
                (tx.clone(), &stop, &next, &todo, &budget, &keep);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&(rank, project)) = todo.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        break;
                    };
                    let kept_page = keep.contains(project);
                    let result = crawl_project(project, kept_page, cfg, index, store, budget);
                    let outcome = Outcome {
                        rank,
                        project: project.to_string(),
                        result,
                    };
                    if tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for outcome in rx {
            bar.set_message(outcome.project.clone());
            recorder.take(outcome);
            bar.inc(1);
            if recorder.fatal.is_some() || recorder.stopped.is_some() {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    bar.finish_and_clear();
    if let Some(e) = recorder.fatal.take() {
        return Err(e);
    }
    let finished = recorder.stopped.is_none();
    let net = since(index.stats(), net_before);
    if finished {
        recorder.flush()?;
        let totals = CrawlTotals {
            bytes_downloaded: net.bytes,
            requests: net.requests,
        };
        lock(store).finish_crawl_run(run, &totals)?;
    }
    let Recorder { tally, stopped, .. } = recorder;
    let recorded = lock(store).crawl_run(run)?;
    let mut warnings = tally.warnings;
    warnings.extend(stopped);
    let mut failures = tally.failures;
    failures.sort_by_key(|f| f.rank);
    feed_summary.pages_spared = tally.pages_spared;
    Ok(CrawlSummary {
        schema: 1,
        run: run.get(),
        list: list.name.clone(),
        shard: shard_summary,
        planned: recorded.planned,
        finished,
        resumed,
        projects: ProjectCounts {
            done_before,
            crawled: tally.crawled,
            failed: recorded.projects_failed,
            changed: tally.changed,
            unchanged: tally.unchanged,
        },
        wheels: WheelCounts {
            analyzed: tally.analyzed,
            from_store: tally.from_store,
        },
        metadata_read: tally.metadata_read,
        first_ready: FirstReadyCounts {
            searched: tally.first_ready_searched,
            found: tally.first_ready_found,
        },
        feed: feed_summary,
        failures,
        readiness: recorded
            .readiness
            .into_iter()
            .map(|c| ReadinessRow {
                python: c.python,
                platform: c.platform,
                readiness: c.readiness,
                projects: c.projects,
            })
            .collect(),
        warnings,
        stats: NetSummary {
            bytes_downloaded: net.bytes,
            requests: net.requests,
            seconds: started.elapsed().as_secs_f64(),
        },
    })
}

/// The UTC date, `2026-12-03`: the batch of a shard's run when none is given.
fn today() -> String {
    crate::site::data::rfc3339(std::time::SystemTime::now())[..10].to_string()
}

/// What the network carried between two snapshots of the counters.
fn since(now: NetStats, before: NetStats) -> NetStats {
    NetStats {
        requests: now.requests.saturating_sub(before.requests),
        bytes: now.bytes.saturating_sub(before.bytes),
    }
}

/// A bar on stderr counting projects (indicatif draws it only on a terminal).
fn progress_bar(show: bool, len: u64, done: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len).with_position(done);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {pos}/{len} projects {elapsed_precise} (eta {eta}) {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Counts of this invocation.
#[derive(Default)]
struct Tally {
    crawled: u64,
    changed: u64,
    unchanged: u64,
    analyzed: u64,
    from_store: u64,
    metadata_read: u64,
    first_ready_searched: u64,
    first_ready_found: u64,
    pages_spared: u64,
    failures: Vec<FailedProject>,
    warnings: Vec<String>,
}

/// The one thread that writes outcomes into the run.
struct Recorder<'a> {
    run: CrawlRunId,
    cfg: &'a CrawlConfig,
    store: &'a Mutex<Store>,
    /// Failures for which the index did not answer, not recorded yet: one more success
    /// and they are; `cfg.give_up_after` of them in a row and the run stops.
    held: Vec<Outcome>,
    tally: Tally,
    /// Why the run stopped early (it stays unfinished).
    stopped: Option<String>,
    /// The store failed: nothing more is recorded.
    fatal: Option<CrawlError>,
}

impl Recorder<'_> {
    /// Deals with one outcome.
    fn take(&mut self, outcome: Outcome) {
        if self.fatal.is_some() || self.stopped.is_some() {
            return;
        }
        let trouble = match &outcome.result {
            Err(Failure {
                kind: FailureKind::Store(_),
                ..
            }) => {
                if let Err(Failure {
                    kind: FailureKind::Store(e),
                    ..
                }) = outcome.result
                {
                    self.fatal = Some((*e).into());
                }
                return;
            }
            Err(Failure {
                kind: FailureKind::IndexTrouble,
                error,
            }) => Some(error.clone()),
            _ => None,
        };
        if let Some(last) = trouble {
            self.held.push(outcome);
            if self.held.len() >= self.cfg.give_up_after.max(1) {
                self.stopped = Some(format!(
                    "stopped after {} projects in a row for which the index did not answer \
                     (the last: {last}); they are not recorded, and the next crawl of this \
                     list resumes the run",
                    self.held.len()
                ));
            }
            return;
        }
        if let Err(e) = self.flush().and_then(|()| self.record(outcome)) {
            self.fatal = Some(e.into());
        }
    }

    /// Records the held failures: the index answers again, so they were the projects'.
    fn flush(&mut self) -> Result<(), StoreError> {
        for outcome in std::mem::take(&mut self.held) {
            self.record(outcome)?;
        }
        Ok(())
    }

    /// Commits one project's outcome and counts it.
    fn record(&mut self, outcome: Outcome) -> Result<(), StoreError> {
        let t = &mut self.tally;
        t.crawled += 1;
        let mut store = lock(self.store);
        match outcome.result {
            Err(failure) => {
                let failed = CrawlProject {
                    project: &outcome.project,
                    rank: outcome.rank,
                    latest: None,
                    error: Some(&failure.error),
                    readiness: &[],
                };
                store.record_crawl_project(self.run, &failed)?;
                t.failures.push(FailedProject {
                    project: outcome.project,
                    rank: outcome.rank,
                    error: failure.error,
                });
            }
            Ok(crawled) => {
                let error = (!crawled.wheel_errors.is_empty()).then(|| {
                    let mut e = crawled.wheel_errors.join("; ");
                    if e.len() > 2000 {
                        e.truncate(e.floor_char_boundary(2000));
                        e.push('…');
                    }
                    e
                });
                let readiness: Vec<ReleaseReadiness> = crawled
                    .rows
                    .iter()
                    .map(|r| ReleaseReadiness {
                        version: &r.version,
                        python: &r.python,
                        platform: &r.platform,
                        readiness: r.readiness,
                    })
                    .collect();
                let project = CrawlProject {
                    project: &outcome.project,
                    rank: outcome.rank,
                    latest: crawled.latest.as_deref(),
                    error: error.as_deref(),
                    readiness: &readiness,
                };
                store.record_crawl_project(self.run, &project)?;
                if !crawled.first_ready.is_empty() || !crawled.first_ready_gone.is_empty() {
                    store.record_first_ready(
                        &outcome.project,
                        &crawled.first_ready,
                        &crawled.first_ready_gone,
                    )?;
                }
                t.first_ready_searched += crawled.first_ready_searched;
                t.first_ready_found += crawled.first_ready.len() as u64;
                if let Some(error) = error {
                    t.failures.push(FailedProject {
                        project: outcome.project,
                        rank: outcome.rank,
                        error,
                    });
                }
                if crawled.changed {
                    t.changed += 1;
                } else {
                    t.unchanged += 1;
                }
                t.pages_spared += u64::from(crawled.page_spared);
                t.analyzed += crawled.analyzed;
                t.from_store += crawled.from_store;
                t.metadata_read += crawled.metadata_read;
                t.warnings.extend(crawled.warnings);
            }
        }
        Ok(())
    }
}

/// Everything about one project but recording its outcome. `keep_page`: the change feed
/// says the page has not changed since the store's listing, which stands for it.
fn crawl_project(
    name: &str,
    keep_page: bool,
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
    budget: &Budget,
) -> Result<Crawled, Failure> {
    let stored = match keep_page {
        true => lock(store).last_listing(name)?,
        false => None,
    };
    let page_spared = stored.is_some();
    let (listing, mut changed) = match stored {
        Some(page) => {
            let listing = Listing {
                url: format!("store:{}", page.name),
                page,
                serial: None,
                core_metadata: Default::default(),
            };
            (listing, false)
        }
        None => {
            let listing = index.listing(name).map_err(|e| Failure {
                error: e.message,
                kind: if e.index_trouble {
                    FailureKind::IndexTrouble
                } else {
                    FailureKind::Project
                },
            })?;
            let changed = record_listing(&listing, cfg.refresh, store)?;
            (listing, changed)
        }
    };
    let project = listing.page.name.as_str();
    let plan = plan::plan(&listing.page, &cfg.pythons, &cfg.platforms, cfg.history);
    // Versions as the store spells them: a release whose files it could not place (a
    // malformed name or hash) is left out of what is recorded.
    let known_releases = || -> Result<HashSet<String>, StoreError> {
        Ok(lock(store)
            .releases(project)?
            .into_iter()
            .map(|r| r.version)
            .collect())
    };
    let mut known = known_releases()?;
    let missing = |known: &HashSet<String>| {
        plan.releases
            .iter()
            .find(|r| !known.contains(&r.version))
            .map(|r| r.version.clone())
    };
    if !changed && !page_spared && missing(&known).is_some() {
        // The serial said nothing changed, yet the page lists a release the store lacks
        // (a mirror whose serial lags its files): record the page after all.
        changed = record_listing(&listing, true, store)?;
        known = known_releases()?;
    }
    let mut warnings = Vec::new();
    if let Some(v) = missing(&known) {
        warnings.push(format!(
            "{project} {v}: not recorded (the store skipped its files), so not evaluated"
        ));
    }
    let mut crawled = Crawled {
        changed,
        page_spared,
        warnings,
        latest: plan
            .latest()
            .filter(|v| known.contains(*v))
            .map(String::from),
        ..Crawled::default()
    };
    let scans = scan_within_budget(&plan.wheels, cfg, index, store, budget);
    let mut reports: HashMap<(&str, &str, &str), &WheelReport> = HashMap::new();
    let mut unreadable: BTreeSet<String> = BTreeSet::new();
    for scan in &scans {
        if scan.from_store {
            crawled.from_store += 1;
        } else {
            crawled.analyzed += 1;
        }
        crawled.warnings.extend(scan.warning.clone());
        for r in &scan.reports {
            if let Some(e) = &r.error {
                unreadable.insert(format!("{}: {e}", r.filename));
            }
            if let Some(platform) = &r.platform {
                reports.insert((&r.filename, &r.python, platform), r);
            }
        }
    }
    crawled.wheel_errors = unreadable.into_iter().collect();
    for release in plan.releases.iter().filter(|r| known.contains(&r.version)) {
        for target in &release.targets {
            let python = target.python.to_string();
            let platform = target.platform_name();
            let readiness = match &target.offer {
                Offer::Settled(r) => *r,
                Offer::Wheel(file) => reports
                    .get(&(file.as_str(), python.as_str(), platform.as_str()))
                    .filter(|r| r.error.is_none())
                    .map_or(Readiness::Unknown, |r| r.readiness),
            };
            crawled.rows.push(Row {
                version: release.version.clone(),
                python,
                platform,
                readiness,
            });
        }
        read_metadata(project, release, &listing, index, store, &mut crawled)?;
    }
    if cfg.first_ready
        && let Some(latest) = crawled.latest.clone()
    {
        let from = (&listing, &known);
        search_first_ready(
            project,
            &latest,
            from,
            cfg,
            index,
            store,
            budget,
            &mut crawled,
        )?;
    }
    Ok(crawled)
}

/// Finds since when each main-platform target whose latest release is ready has been
/// ready, unless the store knows already (`--refresh`: search again); the releases read are
/// recorded as this run's readiness rows.
#[allow(clippy::too_many_arguments)]
fn search_first_ready(
    project: &str,
    latest: &str,
    (listing, known): (&Listing, &HashSet<String>),
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
    budget: &Budget,
    crawled: &mut Crawled,
) -> Result<(), StoreError> {
    let targets: Vec<_> = cfg
        .pythons
        .iter()
        .flat_map(|&py| Platform::MAIN.map(|pl| (py, pl)))
        .filter(|(_, pl)| cfg.platforms.is_empty() || cfg.platforms.contains(pl))
        .collect();
    let stored = match cfg.refresh {
        true => Vec::new(),
        false => lock(store).first_ready(project)?,
    };
    let all = select::releases(&listing.page);
    // What this run judged, then what earlier runs did: a release known not ready keeps
    // the search from bisecting across a regression.
    let earlier = lock(store).judged_releases(project)?;
    let rows = &crawled.rows;
    let judged = |v: &str, py: crate::wheel::PythonTarget, pl: Platform| {
        let (py, pl) = (py.to_string(), pl.to_string());
        rows.iter()
            .find(|r| r.version == v && r.python == py && r.platform == pl)
            .map(|r| r.readiness)
            .or_else(|| {
                earlier
                    .iter()
                    .find(|(ev, epy, epl, _)| ev == v && *epy == py && *epl == pl)
                    .map(|e| e.3)
            })
    };
    let mut read = |wheels: &[ListedWheel]| scan_within_budget(wheels, cfg, index, store, budget);
    let searched = search_project(&all, latest, &targets, &judged, &stored, &mut read);
    // Only releases the store could place are recorded.
    for (version, python, platform, readiness) in searched.judged {
        if known.contains(&version) {
            crawled.rows.push(Row {
                version,
                python: python.to_string(),
                platform: platform.to_string(),
                readiness,
            });
        }
    }
    crawled.analyzed += searched.analyzed;
    crawled.from_store += searched.from_store;
    crawled.first_ready_searched += searched.searched;
    crawled.first_ready = searched
        .found
        .into_iter()
        .filter(|f| {
            let named = [
                Some(f.version.as_str()),
                f.earlier_ready.as_deref(),
                match &f.basis {
                    FirstReadyBasis::AfterNotReady(v) | FirstReadyBasis::Undecided(v) => Some(v),
                    FirstReadyBasis::OldestRelease => None,
                },
            ];
            named.into_iter().flatten().all(|v| known.contains(v))
        })
        .collect();
    crawled.first_ready_gone = searched.gone;
    Ok(())
}

/// Scans the project's wheels, `cfg.wheel_workers` at a time, each once its memory fits in
/// the budget shared by all workers; results in the order of `wheels`.
fn scan_within_budget(
    wheels: &[ListedWheel],
    cfg: &CrawlConfig,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
    budget: &Budget,
) -> Vec<ListedScan> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ListedScan>>> = Mutex::new(vec![None; wheels.len()]);
    std::thread::scope(|s| {
        for _ in 0..cfg.wheel_workers.clamp(1, 16).min(wheels.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(wheel) = wheels.get(i) else { break };
                    let scanned = scan_listed(
                        std::slice::from_ref(wheel),
                        1,
                        index.fetch(),
                        Some(store),
                        Some(budget),
                    );
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] =
                        scanned.into_iter().next();
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Memory for wheels read at once over all workers. A wheel asks for its share once its
/// directory says what reading it will hold (the bytes kept in memory, its largest native
/// member inflated with its model: `scan::remote` plans it), and holds nothing of the budget
/// while it waits, so no two wheels wait on each other; one larger than the whole budget runs
/// alone. Torch- or jaxlib-sized members side by side would otherwise take gigabytes.
struct Budget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl Admit for Budget {
    fn admit(&self, bytes: u64) -> Box<dyn Send + '_> {
        Box::new(self.take(bytes))
    }
}

/// A share of the budget, given back when dropped.
struct Taken<'b> {
    budget: &'b Budget,
    amount: u64,
}

impl Budget {
    fn new(total: u64) -> Budget {
        Budget {
            total: total.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Waits until `want` bytes (at most the whole budget) are free, and takes them.
    fn take(&self, want: u64) -> Taken<'_> {
        let amount = want.clamp(1, self.total);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + amount > self.total {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += amount;
        Taken {
            budget: self,
            amount,
        }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.amount;
        self.budget.freed.notify_all();
    }
}

/// Records the listing unless the index's serial says the store has it already; whether
/// the file list changed.
fn record_listing(
    listing: &Listing,
    refresh: bool,
    store: &Mutex<Store>,
) -> Result<bool, StoreError> {
    let key = format!("{}#last-serial", listing.url);
    let name = &listing.page.name;
    let mut store = lock(store);
    if let (Some(serial), false) = (listing.serial, refresh) {
        let known = store.stored_page(&key)?.and_then(|cached| {
            std::str::from_utf8(&cached.page.body)
                .ok()?
                .parse::<u64>()
                .ok()
        });
        if known == Some(serial) && store.listed_at(name)?.is_some() {
            return Ok(false);
        }
    }
    let summary = store.record_project_files(name, &listing.page.files)?;
    if let Some(serial) = listing.serial {
        let page = Page {
            content_type: SERIAL_TYPE.to_string(),
            body: serial.to_string().into_bytes(),
            etag: None,
            last_modified: None,
        };
        store.save_page(&key, &page)?;
    }
    Ok(summary.changed())
}

/// Reads and records the release's free-threading classifiers and URLs, unless the store
/// has both.
fn read_metadata(
    project: &str,
    release: &plan::ReleasePlan,
    listing: &Listing,
    index: &dyn CrawlIndex,
    store: &Mutex<Store>,
    crawled: &mut Crawled,
) -> Result<(), StoreError> {
    {
        let store = lock(store);
        if store.classifiers(project, &release.version)?.is_some()
            && store.project_urls(project, &release.version)?.is_some()
        {
            return Ok(());
        }
    }
    match metadata::read_claims(index.fetch(), &release.release, &listing.core_metadata) {
        Ok(Some(claims)) => {
            let mut store = lock(store);
            store.record_classifiers(project, &release.version, &claims.classifiers)?;
            store.record_project_urls(project, &release.version, &claims.urls)?;
            crawled.metadata_read += 1;
        }
        Ok(None) => {}
        Err(e) => crawled.warnings.push(format!(
            "{project} {}: metadata not read: {e}",
            release.version
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_lets_wheels_through_as_their_sizes_fit() {
        let budget = Budget::new(100);
        let a = budget.take(60);
        let b = budget.take(40);
        assert_eq!(*budget.used.lock().unwrap(), 100);
        // A third wheel waits until one of the others is done.
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                let c = budget.take(30);
                c.amount
            });
            drop(a);
            assert_eq!(waiting.join().unwrap(), 30);
        });
        drop(b);
        // One larger than the whole budget takes all of it, alone.
        let huge = budget.take(10_000);
        assert_eq!(huge.amount, 100);
        drop(huge);
        assert_eq!(*budget.used.lock().unwrap(), 0);
    }
}
