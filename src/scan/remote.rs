//! Targets on a package index: `NAME` (the latest release), `NAME==VERSION` and wheel URLs.
//! For each (interpreter, platform) the wheel an installer would pick is read by HTTP range
//! requests — its central directory, then only its extension members — and scanned like a
//! local wheel; targets without a fitting wheel get a report that says what exists instead.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::time::Instant;

use super::{Readiness, ScanConfig, ScanReport, WheelReport, run_parallel, scan_wheel};
use crate::index::remote::RemoteFile;
use crate::index::select::{self, Pick, Release};
use crate::index::{DistFile, Fetch, FetchError, NetStats, ProjectPage, RangeBody};
use crate::inspect::ANALYZER_VERSION;
use crate::store::{AnalysisKey, AnalysisRecord, Store};
use crate::wheel::{
    Compression, MemberInfo, MemberKind, Platform, PythonTarget, WheelArchive, WheelFilename,
    classify_members, normalize_name, read_central_directory,
};

/// Where project pages and files come from.
pub trait Index: Sync {
    /// The project's page (files with hashes); `Err` is a one-line reason.
    fn project(&self, name: &str) -> Result<ProjectPage, String>;
    /// Byte ranges of the files the pages link to.
    fn fetch(&self) -> &dyn Fetch;
    /// The files of one release, from a small per-release document where the index has one;
    /// `None` (the default) sends the caller to the project's page.
    fn release(&self, _name: &str, _version: &str) -> Option<ProjectPage> {
        None
    }
    /// What went over the network so far.
    fn stats(&self) -> NetStats;
    /// When the index never answered in this run: one line saying so (the run cannot be
    /// trusted and should stop with that error alone).
    fn down(&self) -> Option<String> {
        None
    }
}

impl Index for crate::index::IndexClient {
    fn project(&self, name: &str) -> Result<ProjectPage, String> {
        crate::index::IndexClient::project(self, name).map_err(|e| e.to_string())
    }
    fn fetch(&self) -> &dyn Fetch {
        self
    }
    fn release(&self, name: &str, version: &str) -> Option<ProjectPage> {
        // Any failure falls back to the project's page, which says what is wrong.
        crate::index::IndexClient::release_json(self, name, version)
            .ok()
            .flatten()
    }
    fn stats(&self) -> NetStats {
        crate::index::IndexClient::stats(self)
    }
    fn down(&self) -> Option<String> {
        crate::index::IndexClient::down(self)
    }
}

/// A command-line target that names something on the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteTarget {
    /// `NAME` (version None: the latest release) or `NAME==VERSION`.
    Release {
        name: String,
        version: Option<String>,
    },
    /// A wheel's URL.
    Url(String),
    /// A release as a lockfile lists it: its files are taken as they are (URLs and hashes),
    /// without asking the index for the project's page.
    Locked {
        name: String,
        version: String,
        files: Vec<DistFile>,
    },
}

impl RemoteTarget {
    /// Read a command-line word: a wheel URL, `NAME` or `NAME==VERSION`; None otherwise.
    pub fn parse(word: &str) -> Option<RemoteTarget> {
        if word.starts_with("https://") || word.starts_with("http://") {
            return Some(RemoteTarget::Url(word.to_string()));
        }
        let (name, version) = match word.split_once("==") {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (word.trim(), None),
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        let version_ok = version
            .as_deref()
            .is_none_or(|v| !v.is_empty() && !v.contains(char::is_whitespace));
        (name_ok && version_ok).then(|| RemoteTarget::Release {
            name: normalize_name(name),
            version,
        })
    }
}

/// One wheel to fetch, with the targets that picked it.
struct Job {
    wheel: WheelFilename,
    file: DistFile,
    pythons: Vec<PythonTarget>,
    platforms: Vec<Platform>,
}

/// Scan targets on an index. With a store, every project page is recorded and every
/// analysis is kept by the file's sha256: a wheel analyzed before is answered without a byte
/// of it being fetched.
pub fn scan_remote(
    targets: &[RemoteTarget],
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
) -> ScanReport {
    let started = Instant::now();
    let mut report = ScanReport::default();
    let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
    for target in targets {
        let planned = match target {
            RemoteTarget::Url(url) => url_job(url, cfg).map(|job| (vec![job], Vec::new())),
            RemoteTarget::Release { name, version } => plan_release(
                name,
                version.as_deref(),
                cfg,
                index,
                store,
                &mut report.warnings,
            ),
            RemoteTarget::Locked {
                name,
                version,
                files,
            } => {
                let page = ProjectPage {
                    name: name.clone(),
                    files: files.clone(),
                };
                plan_page(name, Some(version), cfg, &page)
            }
        };
        match planned {
            Ok((wheel_jobs, reports)) => {
                wheel_jobs.into_iter().for_each(|j| merge_job(&mut jobs, j));
                report.wheels.extend(reports);
            }
            Err(e) => report.errors.push(e),
        }
    }
    let jobs: Vec<Job> = jobs.into_values().collect();
    // Downloads wait on the network more than on the CPU: more workers than cores.
    let workers = cfg.jobs.max(8);
    let bar = progress_bar(cfg.progress, jobs.len());
    let results = run_parallel(&jobs, workers, |job| {
        bar.set_message(job.file.filename.clone());
        let done = scan_job_stored(job, index.fetch(), store, None);
        bar.inc(1);
        done
    });
    bar.finish_and_clear();
    for (mut reports, warning) in results {
        report.warnings.extend(warning);
        if let Some(e) = reports.iter().find_map(|r| r.error.as_ref()) {
            report.errors.push(format!("{}: {e}", reports[0].filename));
        }
        report.wheels.append(&mut reports);
    }
    let net = index.stats();
    report.stats.files = jobs.len() as u64;
    report.stats.requests = net.requests;
    report.stats.bytes_downloaded = net.bytes;
    report.stats.seconds = started.elapsed().as_secs_f64();
    report
}

/// A bar on stderr counting wheels, or a hidden one.
fn progress_bar(show: bool, len: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} wheels {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

fn merge_job(jobs: &mut BTreeMap<String, Job>, job: Job) {
    match jobs.get_mut(&job.file.filename) {
        Some(j) => {
            for p in job.pythons {
                if !j.pythons.contains(&p) {
                    j.pythons.push(p);
                }
            }
            for p in job.platforms {
                if !j.platforms.contains(&p) {
                    j.platforms.push(p);
                }
            }
        }
        None => {
            jobs.insert(job.file.filename.clone(), job);
        }
    }
}

fn url_job(url: &str, cfg: &ScanConfig) -> Result<Job, String> {
    let path = url.split(['#', '?']).next().unwrap_or(url);
    let filename = path.rsplit('/').next().unwrap_or(path).to_string();
    let wheel = WheelFilename::parse(&filename).map_err(|e| format!("{url}: {e}"))?;
    let sha256 = url
        .split_once("#sha256=")
        .map(|(_, h)| h.to_ascii_lowercase());
    let file = DistFile {
        sha256,
        ..DistFile::new(filename, url)
    };
    Ok(Job {
        wheel,
        file,
        pythons: cfg.pythons.clone(),
        platforms: cfg.platforms.clone(),
    })
}

/// For a release: the wheels to fetch, and reports for the targets no wheel serves.
fn plan_release(
    name: &str,
    version: Option<&str>,
    cfg: &ScanConfig,
    index: &dyn Index,
    store: Option<&Mutex<Store>>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Job>, Vec<WheelReport>), String> {
    if let Some(page) = recent_page(name, cfg, store) {
        return plan_page(name, version, cfg, &page);
    }
    // One release's files, where the index serves them alone. Not recorded: the store keeps
    // whole project pages.
    if let Some(page) = version.and_then(|v| index.release(name, v))
        && !page.files.is_empty()
    {
        return plan_page(name, version, cfg, &page);
    }
    let page = index.project(name)?;
    if let Some(store) = store {
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = store.record_project_files(&page.name, &page.files) {
            warnings.push(format!(
                "{name}: the store did not take the project page: {e}"
            ));
        }
    }
    plan_page(name, version, cfg, &page)
}

/// The project's page as the store recorded it, when that was recent enough.
fn recent_page(name: &str, cfg: &ScanConfig, store: Option<&Mutex<Store>>) -> Option<ProjectPage> {
    let max_age = cfg.page_max_age?;
    let store = store?.lock().unwrap_or_else(|e| e.into_inner());
    let listed = store.listed_at(name).ok()??;
    let age = std::time::SystemTime::now().duration_since(listed).ok()?;
    if age > max_age {
        return None;
    }
    store.project_page(name).ok()?
}

/// For a release of a project page: the wheels to fetch, and reports for the targets no
/// wheel serves.
fn plan_page(
    name: &str,
    version: Option<&str>,
    cfg: &ScanConfig,
    page: &ProjectPage,
) -> Result<(Vec<Job>, Vec<WheelReport>), String> {
    let releases = select::releases(page);
    let release: &Release = match version {
        Some(v) => select::exact(&releases, v).ok_or_else(|| {
            let latest = select::latest(&releases)
                .map(|r| r.version.as_str())
                .unwrap_or("none");
            format!("{name}: no release {v} on the index (latest: {latest})")
        })?,
        None => select::latest(&releases)
            .ok_or_else(|| format!("{name}: no installable release on the index"))?,
    };
    let label = format!("{name}=={}", release.version);
    let platforms: Vec<Option<Platform>> = if !cfg.platforms.is_empty() {
        cfg.platforms.iter().copied().map(Some).collect()
    } else if release.platforms().is_empty() {
        vec![None]
    } else {
        release.platforms().into_iter().map(Some).collect()
    };
    let mut jobs = Vec::new();
    let mut reports = Vec::new();
    for &python in &cfg.pythons {
        for &platform in &platforms {
            let note = |readiness: Readiness, note: String| WheelReport {
                filename: label.clone(),
                project: Some(name.to_string()),
                version: Some(release.version.clone()),
                sha256: None,
                python: python.to_string(),
                platform: platform.map(|p| p.to_string()),
                readiness,
                note: Some(note),
                error: None,
                modules: Vec::new(),
            };
            match select::pick(release, python, platform, version.is_some()) {
                Pick::Wheel(wheel, file) => jobs.push(Job {
                    wheel,
                    file,
                    pythons: vec![python],
                    platforms: platform.into_iter().collect(),
                }),
                Pick::Pure(_, file) => reports.push(note(
                    Readiness::Pure,
                    format!("pure-Python wheel {}", file.filename),
                )),
                Pick::NoWheel(why) => reports.push(note(Readiness::NoWheel, why)),
                Pick::SourceOnly => reports.push(note(
                    Readiness::SourceOnly,
                    "only a source distribution: installing builds it from source".into(),
                )),
                Pick::PythonExcluded(spec) => reports.push(note(
                    Readiness::PythonExcluded,
                    format!("requires-python {spec} excludes {python}: no file of this release installs on it"),
                )),
                Pick::Nothing => reports.push(note(
                    Readiness::Unknown,
                    "no installable file in this release".into(),
                )),
            }
        }
    }
    Ok((jobs, reports))
}

/// The (python, platform) pairs a job reports on, as the report strings.
fn job_keys(job: &Job) -> Vec<(String, String)> {
    let mut platforms = job.platforms.clone();
    if platforms.is_empty() {
        for tag in &job.wheel.platform_tags {
            for p in Platform::from_tag(tag) {
                if !platforms.contains(&p) {
                    platforms.push(p);
                }
            }
        }
    }
    job.pythons
        .iter()
        .flat_map(|py| {
            platforms
                .iter()
                .map(move |p| (py.to_string(), p.to_string()))
        })
        .collect()
}

/// A job answered from the store when every one of its targets was analyzed before by this
/// analyzer; else fetched and scanned, and the new analyses saved.
fn scan_job_stored(
    job: &Job,
    fetch: &dyn Fetch,
    store: Option<&Mutex<Store>>,
    admit: Option<&dyn Admit>,
) -> (Vec<WheelReport>, Option<String>) {
    let (Some(store), Some(sha)) = (store, job.file.sha256.as_deref()) else {
        return (scan_job(job, fetch, admit), None);
    };
    if let Some(reports) = stored_reports(job, store) {
        return (reports, None);
    }
    let reports = scan_job(job, fetch, admit);
    let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
    let mut warning = None;
    for r in reports.iter().filter(|r| r.error.is_none()) {
        let Some(platform) = r.platform.as_deref() else {
            continue;
        };
        let key = AnalysisKey::new(sha, ANALYZER_VERSION, &r.python, platform);
        if let Err(e) = store.save_analysis(&key, &AnalysisRecord::from(r)) {
            warning = Some(format!(
                "{}: the store did not take the analysis: {e}",
                r.filename
            ));
        }
    }
    (reports, warning)
}

/// The job's reports from the store, when every one of its targets was analyzed before by
/// this analyzer; `None` otherwise (or when the file has no sha256 to key them by).
fn stored_reports(job: &Job, store: &Mutex<Store>) -> Option<Vec<WheelReport>> {
    let sha = job.file.sha256.as_deref()?;
    let keys = job_keys(job);
    let store = store.lock().unwrap_or_else(|e| e.into_inner());
    let reports: Vec<WheelReport> = keys
        .iter()
        .map(|(py, plat)| {
            let key = AnalysisKey::new(sha, ANALYZER_VERSION, py, plat);
            let a = store.analysis(&key).ok().flatten()?;
            Some(WheelReport {
                filename: job.wheel.to_string(),
                project: Some(job.wheel.normalized_name()),
                version: Some(job.wheel.version.clone()),
                sha256: Some(sha.to_string()),
                python: py.clone(),
                platform: Some(plat.clone()),
                readiness: a.readiness,
                note: a.note,
                error: a.error,
                modules: a.modules,
            })
        })
        .collect::<Option<_>>()?;
    (!reports.is_empty()).then_some(reports)
}

/// A wheel a caller chose from a project page (the crawl: every wheel a free-threaded
/// interpreter could load), to be scanned for these interpreters and platforms.
#[derive(Debug, Clone)]
pub struct ListedWheel {
    pub wheel: WheelFilename,
    pub file: DistFile,
    pub pythons: Vec<PythonTarget>,
    /// Not empty: the platforms to report on.
    pub platforms: Vec<Platform>,
}

/// What scanning one [`ListedWheel`] gave.
#[derive(Debug, Clone)]
pub struct ListedScan {
    /// One report per (python, platform) of the wheel.
    pub reports: Vec<WheelReport>,
    /// Answered from the store's analyses without fetching a byte of the wheel.
    pub from_store: bool,
    /// The store did not take an analysis.
    pub warning: Option<String>,
}

/// Memory shared by wheels read side by side: once a wheel's directory says how much its
/// reading will hold at most, [`Admit::admit`] waits until that fits and holds it until the
/// returned guard is dropped.
pub trait Admit: Sync {
    fn admit(&self, bytes: u64) -> Box<dyn Send + '_>;
}

/// Scans wheels a caller chose, `workers` at a time, in the order given: each is answered
/// from the store when this analyzer analyzed its bytes for every target before, else read
/// by range requests (once `admit` lets its memory in, when given) and its new analyses
/// saved (as `scan NAME` does).
pub fn scan_listed(
    wheels: &[ListedWheel],
    workers: usize,
    fetch: &dyn Fetch,
    store: Option<&Mutex<Store>>,
    admit: Option<&dyn Admit>,
) -> Vec<ListedScan> {
    let jobs: Vec<Job> = wheels
        .iter()
        .map(|w| Job {
            wheel: w.wheel.clone(),
            file: w.file.clone(),
            pythons: w.pythons.clone(),
            platforms: w.platforms.clone(),
        })
        .collect();
    run_parallel(&jobs, workers, |job| {
        if let Some(reports) = store.and_then(|s| stored_reports(job, s)) {
            return ListedScan {
                reports,
                from_store: true,
                warning: None,
            };
        }
        let (reports, warning) = scan_job_stored(job, fetch, store, admit);
        ListedScan {
            reports,
            from_store: false,
            warning,
        }
    })
}

/// The index as the store last saw it: `--offline` answers from pages and analyses saved by
/// earlier runs, and fetches nothing.
pub struct OfflineIndex<'s> {
    store: &'s Mutex<Store>,
}

impl<'s> OfflineIndex<'s> {
    pub fn new(store: &'s Mutex<Store>) -> Self {
        OfflineIndex { store }
    }
}

impl Index for OfflineIndex<'_> {
    fn project(&self, name: &str) -> Result<ProjectPage, String> {
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        match store.project_page(name) {
            Ok(Some(page)) => Ok(page),
            Ok(None) => Err(format!(
                "{name}: not in the store (run once without --offline)"
            )),
            Err(e) => Err(format!("{name}: {e}")),
        }
    }
    fn fetch(&self) -> &dyn Fetch {
        self
    }
    fn stats(&self) -> NetStats {
        NetStats::default()
    }
}

impl Fetch for OfflineIndex<'_> {
    fn range(&self, url: &str, _: u64, _: u64) -> Result<RangeBody, FetchError> {
        Err(offline(url))
    }
    fn tail(&self, url: &str, _: u64) -> Result<RangeBody, FetchError> {
        Err(offline(url))
    }
    fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        Err(offline(url))
    }
}

fn offline(url: &str) -> FetchError {
    FetchError::Network {
        url: url.to_string(),
        message: "not analyzed before, and --offline fetches nothing".into(),
    }
}

/// Fetch and scan one wheel: tail and central directory, then its extension members.
fn scan_job(job: &Job, fetch: &dyn Fetch, admit: Option<&dyn Admit>) -> Vec<WheelReport> {
    // A wheel named by URL is checked for every platform it has, unless told otherwise.
    let mut platforms = job.platforms.clone();
    if platforms.is_empty() {
        for tag in &job.wheel.platform_tags {
            for p in Platform::from_tag(tag) {
                if !platforms.contains(&p) {
                    platforms.push(p);
                }
            }
        }
    }
    let cfg = ScanConfig {
        pythons: job.pythons.clone(),
        platforms,
        jobs: 1,
        progress: false,
        page_max_age: None,
    };
    let failed = |e: String| {
        let archive: Result<WheelArchive<std::io::Cursor<Vec<u8>>>, _> =
            Err(crate::wheel::WheelError::Io {
                path: job.file.url.clone().into(),
                source: std::io::Error::other(e),
            });
        scan_wheel(&job.wheel, job.file.sha256.clone(), archive, &cfg)
    };
    let mut remote = match RemoteFile::open(fetch, &job.file.url) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    if let Err(e) = check_file(&job.file, &remote) {
        return failed(e);
    }
    let plan = match read_plan(&mut remote, &job.file.filename, &cfg) {
        Ok(plan) => plan,
        Err(e) => return failed(e),
    };
    let _admitted = admit.map(|a| a.admit(plan.memory));
    if let Err(e) = remote.prefetch(&plan.ranges) {
        return failed(e.to_string());
    }
    let rest = loaded_parts(&mut remote, &plan.large);
    if let Err(e) = remote.prefetch(&rest) {
        return failed(e.to_string());
    }
    let archive = WheelArchive::new(remote, &job.file.filename);
    scan_wheel(&job.wheel, job.file.sha256.clone(), archive, &cfg)
}

/// What reading a wheel will take, from its central directory.
struct ReadPlan {
    /// Byte ranges of the members every target reads whole, fetched up front, and the first
    /// bytes of the large ones.
    ranges: Vec<(u64, u64)>,
    /// Modules large enough to be read perhaps only in part, fetched once their layout is
    /// known ([`loaded_parts`]).
    large: Vec<MemberInfo>,
    /// Most memory the reading may hold at once: the fetched bytes kept in memory, and the
    /// largest native member inflated with its model (a library a stub module hands off to
    /// is read whole, and stays while the wheel is read).
    memory: u64,
}

/// What can be verified: the length the index announced, and the sha256 when the whole file
/// came down (a server that ignores `Range`).
fn check_file(file: &DistFile, remote: &RemoteFile) -> Result<(), String> {
    if let Some(size) = file.size
        && size != remote.len()
    {
        return Err(format!(
            "the index says {size} bytes, the server has {}",
            remote.len()
        ));
    }
    match remote.whole() {
        Some(whole) => file
            .check_sha256(whole)
            .map_err(|e| format!("sha256 mismatch: {e}")),
        None => Ok(()),
    }
}

/// Compressed bytes of a large module fetched with the others to learn its layout.
const HEAD_OF_LARGE_MODULE: u64 = 64 << 10;

/// Read the central directory and plan the reads: the members every target will read, to be
/// fetched in as few requests as possible, and the memory that takes.
fn read_plan(remote: &mut RemoteFile, label: &str, cfg: &ScanConfig) -> Result<ReadPlan, String> {
    let (directory, members) = read_central_directory(remote, label).map_err(|e| e.to_string())?;
    // A member's reads stop where the next member (or the directory) starts.
    let starts = members.iter().map(|m| m.header_offset);
    remote.set_fences(starts.chain([directory.offset]));
    let mut wanted = std::collections::HashSet::new();
    let mut largest = 0u64;
    for &python in &cfg.pythons {
        for &platform in &cfg.platforms {
            let names = members
                .iter()
                .filter(|m| !m.is_dir)
                .map(|m| m.name.as_str());
            for c in classify_members(names, python, platform) {
                let native = matches!(
                    c.kind,
                    MemberKind::Extension(_) | MemberKind::SharedLibrary(_)
                );
                if native && let Some(m) = members.iter().find(|m| m.name == c.path) {
                    largest = largest.max(m.size);
                }
                // Libraries that might be modules are read lazily: usually only their
                // first segment, to see that they export no hook.
                let read = matches!(c.kind, MemberKind::Extension(_));
                if read && c.shadowed_by.is_none() {
                    wanted.insert(c.path);
                }
            }
        }
    }
    // Local header and compressed data of each member. A module large enough to be read only
    // as far as its loadable segments go gets its first bytes here and the rest as the
    // reading asks.
    let (large, small): (Vec<MemberInfo>, Vec<MemberInfo>) = members
        .into_iter()
        .filter(|m| wanted.contains(&m.name))
        .partition(|m| super::wheel::may_read_loaded_part(m.size));
    let ranges: Vec<(u64, u64)> = small
        .iter()
        .map(|m| m.span(m.compressed_size))
        .chain(large.iter().map(|m| m.span(HEAD_OF_LARGE_MODULE)))
        .collect();
    let fetched: u64 = small.iter().chain(&large).map(|m| m.compressed_size).sum();
    // A model takes about a tenth of its file (pointer map, symbols); a second big member
    // (a stub's library kept while the next module is read) is rare enough not to reserve.
    let memory = fetched.min(remote.memory_budget()) + largest.saturating_add(largest / 8);
    Ok(ReadPlan {
        ranges,
        large,
        memory,
    })
}

/// The ranges of the large modules still to fetch, once their first bytes are here: for a
/// module that will be read only as far as its loadable segments go, an estimate of the
/// compressed bytes that takes (its share of the compressed size and an eighth more; a short
/// estimate is completed by the reads themselves), else the whole member.
fn loaded_parts(remote: &mut RemoteFile, large: &[MemberInfo]) -> Vec<(u64, u64)> {
    large
        .iter()
        .map(|m| {
            let data = member_head(remote, m)
                .and_then(|head| crate::inspect::elf_head::loaded_end(&head))
                .filter(|&end| super::wheel::worth_reading_loaded_part(m.size, end))
                .map_or(m.compressed_size, |end| {
                    let share =
                        u128::from(m.compressed_size) * u128::from(end) / u128::from(m.size.max(1));
                    let share = u64::try_from(share).unwrap_or(u64::MAX);
                    share.saturating_add(share / 8).min(m.compressed_size)
                });
            m.span(data)
        })
        .collect()
}

/// The first few KiB of a member's data, inflated from the bytes fetched so far (and more
/// if its local header is longer than planned); None when it cannot be read.
fn member_head(remote: &mut RemoteFile, m: &MemberInfo) -> Option<Vec<u8>> {
    const HEAD: u64 = 4 << 10;
    remote.seek(SeekFrom::Start(m.header_offset)).ok()?;
    let mut local = [0u8; 30];
    remote.read_exact(&mut local).ok()?;
    if local[..4] != *b"PK\x03\x04" {
        return None;
    }
    let skip =
        u16::from_le_bytes([local[26], local[27]]) + u16::from_le_bytes([local[28], local[29]]);
    remote.seek(SeekFrom::Current(i64::from(skip))).ok()?;
    let compressed = (&mut *remote).take(m.compressed_size.min(HEAD_OF_LARGE_MODULE));
    let mut head = Vec::with_capacity(HEAD as usize);
    match m.compression {
        Compression::Deflated => flate2::read::DeflateDecoder::new(compressed)
            .take(HEAD)
            .read_to_end(&mut head)
            .ok()?,
        Compression::Stored => compressed.take(HEAD).read_to_end(&mut head).ok()?,
        Compression::Other(_) => return None,
    };
    Some(head)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::index::{FetchError, RangeBody};
    use crate::inspect::verdict::Verdict;

    const LRU: &str = "lru_dict-1.4.1-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl";

    /// An index in memory: one project page and its files, with every range recorded.
    struct Memory {
        page: ProjectPage,
        files: Vec<(String, Vec<u8>)>,
        ranges: bool,
        stats: Mutex<NetStats>,
        /// Serve one release's files alone, as PyPI's per-release JSON does.
        releases: bool,
        /// Project pages asked for.
        pages: Mutex<u32>,
    }

    impl Memory {
        fn bytes(&self, url: &str) -> Result<&Vec<u8>, FetchError> {
            self.files
                .iter()
                .find(|(u, _)| u == url)
                .map(|(_, b)| b)
                .ok_or(FetchError::Status {
                    url: url.into(),
                    status: 404,
                })
        }
        fn count(&self, n: usize) {
            let mut s = self.stats.lock().unwrap();
            s.requests += 1;
            s.bytes += n as u64;
        }
    }

    impl Fetch for Memory {
        fn range(&self, url: &str, start: u64, len: u64) -> Result<RangeBody, FetchError> {
            let data = self.bytes(url)?;
            if !self.ranges {
                self.count(data.len());
                return Ok(RangeBody::Full(data.clone()));
            }
            let s = (start as usize).min(data.len());
            let e = (start + len).min(data.len() as u64) as usize;
            self.count(e - s);
            Ok(RangeBody::Partial {
                bytes: data[s..e].to_vec(),
                total: Some(data.len() as u64),
            })
        }
        fn tail(&self, url: &str, len: u64) -> Result<RangeBody, FetchError> {
            let n = self.bytes(url)?.len() as u64;
            self.range(url, n.saturating_sub(len), len.min(n))
        }
        fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
            self.bytes(url).cloned()
        }
    }

    impl Index for Memory {
        fn project(&self, name: &str) -> Result<ProjectPage, String> {
            *self.pages.lock().unwrap() += 1;
            if name == self.page.name {
                Ok(self.page.clone())
            } else {
                Err(format!("{name}: no such project"))
            }
        }
        fn fetch(&self) -> &dyn Fetch {
            self
        }
        fn release(&self, name: &str, version: &str) -> Option<ProjectPage> {
            let files = self
                .page
                .files
                .iter()
                .filter(|f| f.filename.contains(&format!("-{version}")))
                .cloned()
                .collect();
            (self.releases && name == self.page.name).then(|| ProjectPage {
                name: name.into(),
                files,
            })
        }
        fn stats(&self) -> NetStats {
            *self.stats.lock().unwrap()
        }
    }

    fn lru_index(ranges: bool, sha256: &str) -> Memory {
        let wheel = std::fs::read(format!(
            "{}/tests/fixtures/wheels/{LRU}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let url = format!("https://files.example/{LRU}");
        let file = DistFile {
            filename: LRU.into(),
            url: url.clone(),
            sha256: Some(sha256.into()),
            size: Some(wheel.len() as u64),
            requires_python: None,
            yanked: None,
            upload_time: None,
        };
        let sdist = DistFile {
            filename: "lru-dict-1.4.1.tar.gz".into(),
            url: "https://files.example/lru-dict-1.4.1.tar.gz".into(),
            ..file.clone()
        };
        Memory {
            page: ProjectPage {
                name: "lru-dict".into(),
                files: vec![file, sdist],
            },
            files: vec![(url, wheel)],
            ranges,
            stats: Mutex::new(NetStats::default()),
            releases: false,
            pages: Mutex::new(0),
        }
    }

    const LRU_SHA256: &str = "b21d06dec64fb1952385262d9fcefaec147921dc0b55210007091a79da440d93";

    #[test]
    fn a_release_is_read_by_ranges_and_scanned() {
        let index = lru_index(true, LRU_SHA256);
        let cfg = ScanConfig {
            platforms: vec![Platform::LinuxX86_64, Platform::WindowsAmd64],
            ..ScanConfig::default()
        };
        let target = RemoteTarget::parse("lru-dict==1.4.1").unwrap();
        let report = scan_remote(&[target], &cfg, &index, None);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let linux = report
            .wheels
            .iter()
            .find(|w| w.platform.as_deref() == Some("linux-x86_64"))
            .unwrap();
        assert_eq!(linux.readiness, Readiness::GilFallback);
        assert_eq!(linux.modules[0].verdict, Verdict::GilUsed);
        let windows = report
            .wheels
            .iter()
            .find(|w| w.platform.as_deref() == Some("windows-amd64"))
            .unwrap();
        assert_eq!(windows.readiness, Readiness::NoWheel, "{windows:?}");
        // A 36 KB wheel fits in the first (tail) request.
        assert_eq!(report.stats.requests, 1);
        assert_eq!(report.stats.bytes_downloaded, index.files[0].1.len() as u64);
    }

    /// Records what each wheel asked to hold.
    struct Asked(Mutex<Vec<u64>>);

    impl Admit for Asked {
        fn admit(&self, bytes: u64) -> Box<dyn Send + '_> {
            self.0.lock().unwrap().push(bytes);
            Box::new(())
        }
    }

    #[test]
    fn a_listed_wheel_asks_for_its_memory_once_its_directory_is_read() {
        let index = lru_index(true, LRU_SHA256);
        let file = index.page.files[0].clone();
        let listed = ListedWheel {
            wheel: WheelFilename::parse(&file.filename).unwrap(),
            file,
            pythons: vec![PythonTarget::Py314t],
            platforms: vec![Platform::LinuxX86_64],
        };
        let asked = Asked(Mutex::new(Vec::new()));
        let scans = scan_listed(std::slice::from_ref(&listed), 1, &index, None, Some(&asked));
        assert_eq!(scans[0].reports[0].readiness, Readiness::GilFallback);
        // The module's compressed bytes, and the module inflated with room for its model.
        let mut archive =
            WheelArchive::new(std::io::Cursor::new(index.files[0].1.clone()), "lru.whl").unwrap();
        let module = archive
            .members()
            .iter()
            .find(|m| m.name.ends_with(".so"))
            .unwrap()
            .clone();
        let asked = asked.0.into_inner().unwrap();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(
            asked[0] >= module.size + module.compressed_size,
            "{asked:?}"
        );
        assert!(
            asked[0] <= 2 * module.size + module.compressed_size + 4096,
            "{asked:?}"
        );
        let _ = archive.read_member(&module.name).unwrap();
    }

    /// The fixture wheel with 2 MB of incompressible data added before its members.
    fn padded_lru() -> Vec<u8> {
        use std::io::{Read, Write};
        let src = std::fs::read(format!(
            "{}/tests/fixtures/wheels/{LRU}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut zin = zip::ZipArchive::new(std::io::Cursor::new(src)).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        out.start_file("lru/padding.bin", stored).unwrap();
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        out.write_all(&noise).unwrap();
        for i in 0..zin.len() {
            let mut f = zin.by_index(i).unwrap();
            let name = f.name().to_string();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            out.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            out.write_all(&data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn only_the_tail_and_the_extension_members_are_fetched() {
        let mut index = lru_index(true, LRU_SHA256);
        let wheel = padded_lru();
        index.page.files[0].size = Some(wheel.len() as u64);
        index.page.files[0].sha256 = None;
        index.files[0].1 = wheel;
        let cfg = ScanConfig {
            platforms: vec![Platform::LinuxX86_64],
            ..ScanConfig::default()
        };
        let report = scan_remote(
            &[RemoteTarget::parse("lru-dict").unwrap()],
            &cfg,
            &index,
            None,
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.wheels[0].modules[0].verdict, Verdict::GilUsed);
        let size = index.files[0].1.len() as u64;
        let got = report.stats.bytes_downloaded;
        assert!(got * 10 < size, "{got} of {size} bytes");
        assert!(
            report.stats.requests <= 2,
            "{} requests",
            report.stats.requests
        );
    }

    #[test]
    fn a_server_ignoring_ranges_is_checked_against_the_sha256() {
        let cfg = ScanConfig {
            platforms: vec![Platform::LinuxX86_64],
            ..ScanConfig::default()
        };
        let target = RemoteTarget::parse("lru-dict").unwrap();
        let good = scan_remote(
            std::slice::from_ref(&target),
            &cfg,
            &lru_index(false, LRU_SHA256),
            None,
        );
        assert!(good.errors.is_empty(), "{:?}", good.errors);
        assert_eq!(good.wheels[0].readiness, Readiness::GilFallback);
        let bad = scan_remote(&[target], &cfg, &lru_index(false, &"0".repeat(64)), None);
        assert_eq!(bad.wheels[0].readiness, Readiness::Unknown);
        assert!(
            bad.errors[0].contains("sha256 mismatch"),
            "{:?}",
            bad.errors
        );
    }

    #[test]
    fn a_second_scan_is_answered_from_the_store_and_offline() {
        let store = Mutex::new(Store::in_memory().unwrap());
        let index = lru_index(true, LRU_SHA256);
        let cfg = ScanConfig {
            platforms: vec![Platform::LinuxX86_64],
            ..ScanConfig::default()
        };
        let target = [RemoteTarget::parse("lru-dict==1.4.1").unwrap()];
        let first = scan_remote(&target, &cfg, &index, Some(&store));
        let fetched = index.stats().bytes;
        assert!(fetched > 0);
        let again = scan_remote(&target, &cfg, &index, Some(&store));
        assert_eq!(
            index.stats().bytes,
            fetched,
            "no wheel byte the second time"
        );
        assert_eq!(again.wheels[0].modules, first.wheels[0].modules);
        assert_eq!(again.wheels[0].readiness, Readiness::GilFallback);
        let offline = OfflineIndex::new(&store);
        let answered = scan_remote(&target, &cfg, &offline, Some(&store));
        assert!(answered.errors.is_empty(), "{:?}", answered.errors);
        assert_eq!(answered.wheels[0].modules, first.wheels[0].modules);
        // Not analyzed before: offline says so instead of guessing.
        let windows = ScanConfig {
            platforms: vec![Platform::LinuxAarch64],
            ..ScanConfig::default()
        };
        let unknown = scan_remote(&target, &windows, &offline, Some(&store));
        assert_eq!(unknown.wheels[0].readiness, Readiness::NoWheel);
        let missing = scan_remote(
            &[RemoteTarget::parse("numpy").unwrap()],
            &cfg,
            &offline,
            Some(&store),
        );
        assert!(
            missing.errors[0].contains("not in the store"),
            "{:?}",
            missing.errors
        );
    }

    #[test]
    fn a_release_named_with_its_version_is_planned_from_its_own_files() {
        let mut index = lru_index(true, LRU_SHA256);
        index.releases = true;
        let cfg = ScanConfig {
            platforms: vec![Platform::LinuxX86_64],
            ..ScanConfig::default()
        };
        let exact = [RemoteTarget::parse("lru-dict==1.4.1").unwrap()];
        let report = scan_remote(&exact, &cfg, &index, None);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.wheels[0].readiness, Readiness::GilFallback);
        assert_eq!(*index.pages.lock().unwrap(), 0, "no project page");
        // The latest release, or a version the release files do not have: the page.
        for target in ["lru-dict", "lru-dict==9.9"] {
            scan_remote(&[RemoteTarget::parse(target).unwrap()], &cfg, &index, None);
        }
        assert_eq!(*index.pages.lock().unwrap(), 2);
    }

    #[test]
    fn missing_projects_and_versions_are_one_line_errors() {
        let index = lru_index(true, LRU_SHA256);
        let cfg = ScanConfig::default();
        let r = scan_remote(
            &[
                RemoteTarget::parse("nope").unwrap(),
                RemoteTarget::parse("lru-dict==9.9").unwrap(),
            ],
            &cfg,
            &index,
            None,
        );
        assert_eq!(
            r.errors,
            [
                "nope: no such project",
                "lru-dict: no release 9.9 on the index (latest: 1.4.1)"
            ]
        );
    }

    #[test]
    fn command_line_words() {
        let r = |n: &str, v: Option<&str>| {
            Some(RemoteTarget::Release {
                name: n.to_string(),
                version: v.map(str::to_string),
            })
        };
        assert_eq!(RemoteTarget::parse("lxml"), r("lxml", None));
        assert_eq!(
            RemoteTarget::parse("Pydantic_Core==2.50.4"),
            r("pydantic-core", Some("2.50.4"))
        );
        assert_eq!(
            RemoteTarget::parse("https://files.example/x-1.0-py3-none-any.whl"),
            Some(RemoteTarget::Url(
                "https://files.example/x-1.0-py3-none-any.whl".into()
            ))
        );
        for bad in ["", "==1.0", "lxml==", "two words", "-lead", "lxml>=6"] {
            assert_eq!(RemoteTarget::parse(bad), None, "{bad:?}");
        }
    }
}
