//! A small package index for tests: an HTTP/1.1 server on 127.0.0.1, built on std's
//! `TcpListener` with a thread per connection (keep-alive supported), that never reaches
//! beyond loopback.
//!
//! What it serves:
//! - `/simple/` — an HTML list of projects (as the mirror this project meets in the wild).
//! - `/simple/NAME/` — a project page as PEP 691 JSON, PEP 503 HTML, or whichever the
//!   `Accept` header prefers ([`PageFormat`]); links relative or absolute ([`Links`]); a
//!   non-normalized `NAME` is redirected (301) to its normalized spelling, as PyPI does.
//!   Pages carry the project's serial (`meta._last-serial`, `<!--SERIAL n-->`), which
//!   moves each time the project is (re-)added, and advertise PEP 658 metadata files
//!   (`core-metadata`, `data-core-metadata`) for files given some.
//! - `/pypi/NAME/json` — the project JSON API, unless a project opts out.
//! - `/pypi/NAME/VERSION/json` — one release's JSON, when a project opts in.
//! - `POST /pypi` — PyPI's XML-RPC change feed, once [`TestIndex::serve_feed`] turned it on
//!   (404 before, as the mirror this project meets answers): `changelog_last_serial()` and
//!   `changelog_since_serial(n)`, from the events every `add_project` (and
//!   [`TestIndex::record_change`]) records, at most a given number per answer, as PyPI caps
//!   them; any other method gets a `<fault>`.
//! - `/files/FILENAME` (and any path given to [`TestIndex::add_file`]) — bytes from memory
//!   with single-range `Range` support: `a-b`, `a-` and `-n` get a 206 with
//!   `Content-Range`, an unsatisfiable range a 416, several ranges or a malformed header
//!   the whole file (as RFC 9110 allows).
//! - any static body or redirect given to [`TestIndex::add_route`] / [`TestIndex::redirect`]
//!   (these take precedence over everything above, so they can stand in for pages).
//!
//! Faults ([`Fault`]) are injected per path or for every path ([`Scope`]), the first N times
//! or always ([`Times`]); each is counted ([`TestIndex::fault_hits`]) and recorded on the
//! request it hit. A fault applies only to requests it makes sense for (a Range fault to
//! ranged file requests, a wrong sha256 to project pages) and is not used up by others.
//!
//! It also answers requests in absolute form (`GET http://host/path`), so that it can stand
//! in for an HTTP proxy in tests of proxy settings.
//!
//! Every request is recorded ([`TestIndex::requests`]): method, path, headers (so `Range`,
//! `Accept`, `User-Agent`), the status sent and how many body bytes went out. A request is
//! recorded when it arrives; its status and bytes are filled in once its answer is written.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How a project page is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    /// Always PEP 691 JSON.
    Json,
    /// Always PEP 503 HTML (`text/html`), as HTML-only mirrors serve.
    Html,
    /// JSON when `Accept` names `application/vnd.pypi.simple.v1+json`, else HTML.
    Negotiate,
}

/// How pages link to files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// `../../files/NAME`, to be resolved against the page's URL.
    Relative,
    /// `http://127.0.0.1:PORT/files/NAME`.
    Absolute,
}

/// One file of a project.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub filename: String,
    pub bytes: Arc<Vec<u8>>,
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked; an empty reason is written as a bare flag.
    pub yanked: Option<String>,
    pub upload_time: Option<String>,
    /// Core metadata served as a PEP 658 file at the file's URL + `.metadata`, and
    /// advertised on the project page; `None`: neither.
    pub metadata: Option<Arc<Vec<u8>>>,
}

impl FileSpec {
    pub fn new(filename: &str, bytes: Vec<u8>) -> FileSpec {
        FileSpec {
            filename: filename.to_string(),
            bytes: Arc::new(bytes),
            requires_python: None,
            yanked: None,
            upload_time: Some("2025-01-02T03:04:05.000000Z".to_string()),
            metadata: None,
        }
    }

    /// Serves `metadata` as the file's PEP 658 metadata, and says so on the project page.
    pub fn with_metadata(mut self, metadata: &str) -> FileSpec {
        self.metadata = Some(Arc::new(metadata.as_bytes().to_vec()));
        self
    }

    pub fn requires_python(mut self, spec: &str) -> FileSpec {
        self.requires_python = Some(spec.to_string());
        self
    }

    pub fn yanked(mut self, reason: &str) -> FileSpec {
        self.yanked = Some(reason.to_string());
        self
    }

    /// The file's real sha256, lower-case hex.
    pub fn sha256(&self) -> String {
        hex_sha256(&self.bytes)
    }

    /// The version part of a wheel or sdist name (`NAME-VERSION-…` or `NAME-VERSION.tar.gz`).
    fn version(&self) -> String {
        let stem = self.filename.trim_end_matches(".tar.gz");
        stem.split('-').nth(1).unwrap_or("0").to_string()
    }
}

/// A project the index lists.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// The name as its authors spell it; pages are served under its normalized form.
    pub name: String,
    pub format: PageFormat,
    pub links: Links,
    /// Whether `/pypi/NAME/json` answers for it.
    pub json_api: bool,
    /// Whether `/pypi/NAME/VERSION/json` answers for it (PyPI's does; the mirrors tests
    /// imitate do not, so it is off unless asked for).
    pub release_json: bool,
    pub files: Vec<FileSpec>,
    /// The project's `_last-serial`: set by `add_project`, from a counter that every
    /// `add_project` moves on (so re-adding a project changes its serial, as PyPI's does).
    pub serial: u64,
    /// A serial `add_project` keeps instead (a mirror whose serial lags its files).
    pub fixed_serial: Option<u64>,
}

impl ProjectSpec {
    /// A project whose pages negotiate JSON or HTML, link relatively, and have project JSON.
    pub fn new(name: &str) -> ProjectSpec {
        ProjectSpec {
            name: name.to_string(),
            format: PageFormat::Negotiate,
            links: Links::Relative,
            json_api: true,
            release_json: false,
            files: Vec::new(),
            serial: 0,
            fixed_serial: None,
        }
    }

    /// Serves this serial whatever the files (a mirror whose serial lags behind).
    pub fn stale_serial(mut self, serial: u64) -> ProjectSpec {
        self.fixed_serial = Some(serial);
        self
    }

    pub fn format(mut self, format: PageFormat) -> ProjectSpec {
        self.format = format;
        self
    }

    pub fn links(mut self, links: Links) -> ProjectSpec {
        self.links = links;
        self
    }

    pub fn with_release_json(mut self) -> ProjectSpec {
        self.release_json = true;
        self
    }

    pub fn without_json_api(mut self) -> ProjectSpec {
        self.json_api = false;
        self
    }

    pub fn file(mut self, file: FileSpec) -> ProjectSpec {
        self.files.push(file);
        self
    }
}

/// Something going wrong on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: N` when given) instead of the content.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Read the request, then close the connection without a word (a reset).
    Close,
    /// Send the headers and half the body, then close.
    DropMidBody,
    /// Send the headers (with the full `Content-Length`) and all but the last quarter of the
    /// body (at least one byte short), then close.
    Truncate,
    /// Send the headers and half the body, wait this long, then send the rest.
    StallMidBody(Duration),
    /// Wait this long before answering at all.
    Delay(Duration),
    /// Answer a ranged request with `200` and the whole file.
    IgnoreRange,
    /// Answer a ranged request with a correct `Content-Range` but one byte less of body
    /// (and a `Content-Length` that matches that shorter body).
    ShortRange,
    /// Answer a ranged request with a `Content-Range` one byte later than asked.
    WrongContentRange,
    /// List a wrong sha256 for every file on a project page or in the project JSON.
    WrongSha256,
}

impl Fault {
    /// `429 Too Many Requests` with `Retry-After: 0`.
    pub fn too_many_requests() -> Fault {
        Fault::Status {
            status: 429,
            retry_after: Some(0),
        }
    }

    /// `500 Internal Server Error`.
    pub fn server_error() -> Fault {
        Fault::Status {
            status: 500,
            retry_after: None,
        }
    }

    /// Whether this fault means anything for `request` about to be answered with `answer`.
    fn applies(&self, request: &Incoming, answer: &Answer) -> bool {
        match self {
            Fault::Status { .. } | Fault::Close | Fault::Delay(_) => true,
            Fault::DropMidBody | Fault::Truncate | Fault::StallMidBody(_) => {
                request.method != "HEAD" && !answer.body.is_empty()
            }
            Fault::IgnoreRange | Fault::ShortRange | Fault::WrongContentRange => {
                answer.kind == AnswerKind::File && request.header("range").is_some()
            }
            Fault::WrongSha256 => answer.kind == AnswerKind::Page,
        }
    }
}

/// Which requests a fault is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Exactly this path (no query).
    Path(String),
}

impl Scope {
    pub fn path(path: &str) -> Scope {
        Scope::Path(path.to_string())
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Path(wanted) => wanted == path,
        }
    }
}

/// How many times a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    First(u32),
    Always,
}

/// A request as the server saw it, and what it sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent: a path, or an absolute URL when the client took the
    /// server for a proxy.
    pub target: String,
    /// The path without the query (and without scheme and host for an absolute target).
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The status sent; 0 while the answer is still being written, and when none was (a
    /// [`Fault::Close`]).
    pub status: u16,
    /// Body bytes written.
    pub body_bytes: u64,
    /// The fault injected into this request's answer, if any.
    pub fault: Option<Fault>,
}

impl Request {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The `Range` header, if any.
    pub fn range(&self) -> Option<&str> {
        self.header("range")
    }
}

/// The running server. Stops accepting when dropped.
pub struct TestIndex {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestIndex {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> TestIndex {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State::new(format!("http://{addr}")));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (state.clone(), stop.clone());
            thread::spawn(move || accept_loop(&listener, &state, &stop))
        };
        TestIndex {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// The Simple API root, `http://127.0.0.1:PORT/simple/`.
    pub fn index_url(&self) -> String {
        self.url("/simple/")
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.state.base_url)
    }

    /// The URL of a project's file, as `add_project` serves it.
    pub fn file_url(&self, filename: &str) -> String {
        self.url(&file_path(filename))
    }

    /// Lists a project (replacing one of the same name, with a new serial) and serves its
    /// files under `/files/`, with their PEP 658 metadata files when they have some.
    pub fn add_project(&self, mut project: ProjectSpec) {
        for file in &project.files {
            let path = file_path(&file.filename);
            if let Some(metadata) = &file.metadata {
                lock(&self.state.files).insert(format!("{path}.metadata"), metadata.clone());
            }
            lock(&self.state.files).insert(path, file.bytes.clone());
        }
        let next = self.state.serial.fetch_add(1, Ordering::SeqCst) + 1;
        project.serial = project.fixed_serial.unwrap_or(next);
        let version = project
            .files
            .last()
            .map(FileSpec::version)
            .unwrap_or_default();
        let action = if version.is_empty() {
            "create"
        } else {
            "new release"
        };
        lock(&self.state.changelog).push((project.name.clone(), version, action.into(), next));
        lock(&self.state.projects).insert(normalize(&project.name), project);
    }

    /// Records an event in the change feed about `name` without changing its page (a
    /// change the page does not show, such as a role added); returns its serial.
    pub fn record_change(&self, name: &str, action: &str) -> u64 {
        let next = self.state.serial.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.state.changelog).push((name.into(), String::new(), action.into(), next));
        next
    }

    /// Serves the XML-RPC change feed at `POST /pypi`, at most `cap` events per answer.
    pub fn serve_feed(&self, cap: usize) {
        *lock(&self.state.feed_cap) = Some(cap.max(1));
    }

    /// The serial of the newest event.
    pub fn last_serial(&self) -> u64 {
        self.state.serial.load(Ordering::SeqCst)
    }

    /// Serves `bytes` at `path`, with `Range` support.
    pub fn add_file(&self, path: &str, bytes: Vec<u8>) {
        lock(&self.state.files).insert(path.to_string(), Arc::new(bytes));
    }

    /// Serves a fixed body with this `Content-Type` (none when `None`) at `path`.
    pub fn add_route(&self, path: &str, content_type: Option<&str>, body: &str) {
        let headers: Vec<(&str, &str)> = content_type
            .map(|v| ("Content-Type", v))
            .into_iter()
            .collect();
        self.add_raw(path, 200, &headers, body.as_bytes().to_vec());
    }

    /// Serves exactly this status, these headers and this body at `path` (`Content-Length`
    /// is added), for answers no other method makes: a gzip-encoded page, a 206 to a
    /// request without `Range`, and the like.
    pub fn add_raw(&self, path: &str, status: u16, headers: &[(&str, &str)], body: Vec<u8>) {
        let route = Route::Static {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body,
        };
        lock(&self.state.routes).insert(path.to_string(), route);
    }

    /// Answers `from` with `302 Found` and `Location: to` (a path or a URL).
    pub fn redirect(&self, from: &str, to: &str) {
        let route = Route::Redirect {
            location: to.to_string(),
        };
        lock(&self.state.routes).insert(from.to_string(), route);
    }

    /// Injects `fault` into requests in `scope`, `times` times; returns its number for
    /// [`TestIndex::fault_hits`]. Earlier injections take precedence over later ones.
    pub fn inject(&self, scope: Scope, fault: Fault, times: Times) -> usize {
        let mut rules = lock(&self.state.faults);
        rules.push(Rule {
            scope,
            fault,
            remaining: match times {
                Times::First(n) => Some(n),
                Times::Always => None,
            },
            hits: 0,
        });
        rules.len() - 1
    }

    /// How many requests injection number `id` has struck.
    pub fn fault_hits(&self, id: usize) -> u32 {
        lock(&self.state.faults)[id].hits
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.log).clone()
    }

    /// The project pages (`/simple/NAME/`) asked for so far, sorted.
    pub fn pages_read(&self) -> Vec<String> {
        let mut pages: Vec<String> = self
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/simple/"))
            .map(|r| r.path)
            .collect();
        pages.sort();
        pages
    }

    /// The requests for `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// Body bytes sent so far, over all requests.
    pub fn body_bytes_sent(&self) -> u64 {
        lock(&self.state.log).iter().map(|r| r.body_bytes).sum()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// The most requests that were being answered at the same time.
    pub fn peak_concurrency(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }
}

impl Drop for TestIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Internals.

struct State {
    base_url: String,
    files: Mutex<BTreeMap<String, Arc<Vec<u8>>>>,
    routes: Mutex<BTreeMap<String, Route>>,
    projects: Mutex<BTreeMap<String, ProjectSpec>>,
    faults: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Request>>,
    active: AtomicUsize,
    peak: AtomicUsize,
    /// The last serial `add_project` gave.
    serial: AtomicU64,
    /// The change feed's events: name as written, version, action, serial.
    changelog: Mutex<Vec<(String, String, String, u64)>>,
    /// Events per feed answer once the feed is served; `None`: `/pypi` answers 404.
    feed_cap: Mutex<Option<usize>>,
}

impl State {
    fn new(base_url: String) -> State {
        State {
            base_url,
            files: Mutex::default(),
            routes: Mutex::default(),
            projects: Mutex::default(),
            faults: Mutex::default(),
            log: Mutex::default(),
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            serial: AtomicU64::new(0),
            changelog: Mutex::default(),
            feed_cap: Mutex::default(),
        }
    }
}

enum Route {
    Static {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Redirect {
        location: String,
    },
}

struct Rule {
    scope: Scope,
    fault: Fault,
    remaining: Option<u32>,
    hits: u32,
}

/// A parsed request.
struct Incoming {
    method: String,
    target: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// What kind of content an answer carries (faults apply to some kinds only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    File,
    Page,
    Other,
}

/// A response before it is written.
struct Answer {
    kind: AnswerKind,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn new(kind: AnswerKind, status: u16, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let headers = content_type
            .map(|value| vec![("Content-Type".to_string(), value.to_string())])
            .unwrap_or_default();
        Answer {
            kind,
            status,
            headers,
            body,
        }
    }

    fn with_header(mut self, name: &str, value: String) -> Answer {
        self.headers.push((name.to_string(), value));
        self
    }

    fn not_found() -> Answer {
        Answer::new(
            AnswerKind::Other,
            404,
            Some("text/plain"),
            b"not found".to_vec(),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        thread::spawn(move || serve_connection(&state, stream));
    }
}

/// Answers requests on one connection until the client or a fault closes it. Idle
/// connections are dropped after a few seconds so that no thread outlives its test long.
fn serve_connection(state: &State, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    while let Some(request) = read_request(&mut reader) {
        let keep_open = answer(state, &mut stream, &request) && !request.wants_close();
        if !keep_open {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one request: its head, and the body its `Content-Length` announces (POST). `None`
/// at end of stream, on timeout, or on a malformed head.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Incoming> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let path = target_path(&target);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = find_header(&headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let mut body = Vec::new();
    if let Some(length) = length {
        reader.by_ref().take(length).read_to_end(&mut body).ok()?;
    }
    Some(Incoming {
        method,
        target,
        path,
        headers,
        body,
    })
}

/// The path of a request target: origin-form as is, absolute-form (what a client sends to a
/// proxy, which this server can stand in for) without its scheme and host; no query.
fn target_path(target: &str) -> String {
    let absolute = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"));
    let origin = match absolute {
        Some(rest) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => target,
    };
    origin
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Answers one request, faults included. Returns whether the connection stays usable.
fn answer(state: &State, stream: &mut TcpStream, request: &Incoming) -> bool {
    let entry = record_arrival(state, request);
    let active = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(active, Ordering::SeqCst);
    let plain = route(state, request, false);
    let fault = take_fault(state, request, &plain);
    let answer = match &fault {
        Some(Fault::IgnoreRange) => file_answer(state, &request.path, None),
        Some(Fault::WrongSha256) => route(state, request, true),
        _ => plain,
    };
    let (status, sent, keep_open) = write_answer(stream, request, answer, fault.as_ref());
    state.active.fetch_sub(1, Ordering::SeqCst);
    let mut log = lock(&state.log);
    if let Some(record) = log.get_mut(entry) {
        record.status = status;
        record.body_bytes = sent;
        record.fault = fault;
    }
    keep_open
}

/// Logs a request as it arrives; returns its place in the log.
fn record_arrival(state: &State, request: &Incoming) -> usize {
    let mut log = lock(&state.log);
    log.push(Request {
        method: request.method.clone(),
        target: request.target.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        status: 0,
        body_bytes: 0,
        fault: None,
    });
    log.len() - 1
}

/// The first injected fault that matches this request and applies to its answer; counts it.
fn take_fault(state: &State, request: &Incoming, answer: &Answer) -> Option<Fault> {
    let mut rules = lock(&state.faults);
    let rule = rules.iter_mut().find(|rule| {
        rule.remaining != Some(0)
            && rule.scope.matches(&request.path)
            && rule.fault.applies(request, answer)
    })?;
    if let Some(remaining) = rule.remaining.as_mut() {
        *remaining -= 1;
    }
    rule.hits += 1;
    Some(rule.fault.clone())
}

/// What the content at the request's path is (before faults other than a wrong sha256).
/// Routes given with `add_route`/`redirect` come first, so they can stand in for pages.
fn route(state: &State, request: &Incoming, wrong_sha: bool) -> Answer {
    let path = request.path.as_str();
    match lock(&state.routes).get(path) {
        Some(Route::Static {
            status,
            headers,
            body,
        }) => {
            let mut answer = Answer::new(AnswerKind::Other, *status, None, body.clone());
            answer.headers.clone_from(headers);
            return answer;
        }
        Some(Route::Redirect { location }) => {
            return Answer::new(AnswerKind::Other, 302, None, vec![])
                .with_header("Location", location.clone());
        }
        None => {}
    }
    if path == "/simple/" || path == "/simple" {
        return root_page(state);
    }
    if path == "/pypi" && request.method == "POST" {
        return feed_answer(state, &request.body);
    }
    if let Some(name) = path.strip_prefix("/simple/") {
        return project_page(state, request, name.trim_end_matches('/'), wrong_sha);
    }
    if let Some(name) = path
        .strip_prefix("/pypi/")
        .and_then(|p| p.strip_suffix("/json"))
    {
        return match name.split_once('/') {
            Some((name, version)) => release_json(state, name, version, wrong_sha),
            None => project_json(state, name, wrong_sha),
        };
    }
    if lock(&state.files).contains_key(path) {
        return file_answer(state, path, request.header("range"));
    }
    Answer::not_found()
}

/// `POST /pypi`: the XML-RPC change feed, or 404 when it is not served.
fn feed_answer(state: &State, body: &[u8]) -> Answer {
    let Some(cap) = *lock(&state.feed_cap) else {
        return Answer::not_found();
    };
    let body = String::from_utf8_lossy(body);
    let between = |open: &str, close: &str| -> Option<String> {
        let start = body.find(open)? + open.len();
        let end = body[start..].find(close)? + start;
        Some(body[start..end].trim().to_string())
    };
    let method = between("<methodName>", "</methodName>").unwrap_or_default();
    let int = between("<int>", "</int>")
        .or_else(|| between("<i4>", "</i4>"))
        .or_else(|| between("<i8>", "</i8>"))
        .and_then(|n| n.parse::<u64>().ok());
    let value = match (method.as_str(), int) {
        ("changelog_last_serial", _) => {
            format!(
                "<value><int>{}</int></value>",
                state.serial.load(Ordering::SeqCst)
            )
        }
        ("changelog_since_serial", Some(since)) => {
            let entries: String = lock(&state.changelog)
                .iter()
                .filter(|e| e.3 > since)
                .take(cap)
                .map(|(name, version, action, serial)| {
                    let version = if version.is_empty() {
                        "<nil/>".to_string()
                    } else {
                        format!("<string>{}</string>", escape(version))
                    };
                    format!(
                        "<value><array><data>\n<value><string>{}</string></value>\n\
                         <value>{version}</value>\n<value><int>1765069200</int></value>\n\
                         <value><string>{}</string></value>\n<value><int>{serial}</int></value>\n\
                         </data></array></value>\n",
                        escape(name),
                        escape(action)
                    )
                })
                .collect();
            format!("<value><array><data>\n{entries}</data></array></value>")
        }
        _ => {
            let fault = format!(
                "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
                 <member>\n<name>faultCode</name>\n<value><int>-32601</int></value>\n</member>\n\
                 <member>\n<name>faultString</name>\n<value><string>method {} not supported\
                 </string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n",
                escape(&method)
            );
            return Answer::new(AnswerKind::Other, 200, Some("text/xml"), fault.into_bytes());
        }
    };
    let xml = format!(
        "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n\
         </params>\n</methodResponse>\n"
    );
    Answer::new(AnswerKind::Other, 200, Some("text/xml"), xml.into_bytes())
}

/// `/simple/`: HTML only, as the real mirror's root is.
fn root_page(state: &State) -> Answer {
    let links: String = lock(&state.projects)
        .keys()
        .map(|name| format!("<a href=\"{name}/\">{name}</a><br/>\n"))
        .collect();
    let html = format!("<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n");
    Answer::new(AnswerKind::Other, 200, Some("text/html"), html.into_bytes())
}

fn project_page(state: &State, request: &Incoming, name: &str, wrong_sha: bool) -> Answer {
    let normalized = normalize(name);
    if normalized != name {
        return Answer::new(AnswerKind::Other, 301, None, vec![])
            .with_header("Location", format!("/simple/{normalized}/"));
    }
    let Some(project) = lock(&state.projects).get(name).cloned() else {
        return Answer::not_found();
    };
    let wants_json = request
        .header("accept")
        .is_some_and(|accept| accept.contains("application/vnd.pypi.simple.v1+json"));
    let json = match project.format {
        PageFormat::Json => true,
        PageFormat::Html => false,
        PageFormat::Negotiate => wants_json,
    };
    let (content_type, body) = if json {
        let page = simple_json(state, &project, wrong_sha);
        ("application/vnd.pypi.simple.v1+json", page.to_string())
    } else {
        (
            "text/html; charset=utf-8",
            simple_html(state, &project, wrong_sha),
        )
    };
    Answer::new(AnswerKind::Page, 200, Some(content_type), body.into_bytes())
}

fn project_json(state: &State, name: &str, wrong_sha: bool) -> Answer {
    let project = lock(&state.projects).get(&normalize(name)).cloned();
    let Some(project) = project.filter(|project| project.json_api) else {
        return Answer::not_found();
    };
    let mut releases: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for file in &project.files {
        releases.entry(file.version()).or_default().push(json!({
            "filename": file.filename,
            "url": link(state, &project, file),
            "digests": {"sha256": listed_sha256(file, wrong_sha)},
            "size": file.bytes.len(),
            "requires_python": file.requires_python,
            "yanked": file.yanked.is_some(),
            "yanked_reason": file.yanked.as_deref().filter(|reason| !reason.is_empty()),
            "upload_time_iso_8601": file.upload_time,
        }));
    }
    let latest = project.files.last().map(FileSpec::version);
    let document = json!({
        "info": {"name": project.name, "version": latest, "requires_python": null},
        "releases": releases,
        "urls": [],
    });
    Answer::new(
        AnswerKind::Page,
        200,
        Some("application/json"),
        document.to_string().into_bytes(),
    )
}

/// `/pypi/NAME/VERSION/json`: one release's files under `urls`.
fn release_json(state: &State, name: &str, version: &str, wrong_sha: bool) -> Answer {
    let project = lock(&state.projects).get(&normalize(name)).cloned();
    let Some(project) = project.filter(|project| project.release_json) else {
        return Answer::not_found();
    };
    let urls: Vec<Value> = project
        .files
        .iter()
        .filter(|file| file.version() == version)
        .map(|file| {
            json!({
                "filename": file.filename,
                // One level deeper than the project's pages.
                "url": match project.links {
                    Links::Relative => format!("../../..{}", file_path(&file.filename)),
                    Links::Absolute => link(state, &project, file),
                },
                "digests": {"sha256": listed_sha256(file, wrong_sha)},
                "size": file.bytes.len(),
                "requires_python": file.requires_python,
                "yanked": file.yanked.is_some(),
            })
        })
        .collect();
    if urls.is_empty() {
        return Answer::not_found();
    }
    let document = json!({"info": {"name": project.name, "version": version}, "urls": urls});
    Answer::new(
        AnswerKind::Page,
        200,
        Some("application/json"),
        document.to_string().into_bytes(),
    )
}

fn simple_json(state: &State, project: &ProjectSpec, wrong_sha: bool) -> Value {
    let files: Vec<Value> = project
        .files
        .iter()
        .map(|file| {
            let yanked = match file.yanked.as_deref() {
                None => json!(false),
                Some("") => json!(true),
                Some(reason) => json!(reason),
            };
            let mut entry = json!({
                "filename": file.filename,
                "url": link(state, project, file),
                "hashes": {"sha256": listed_sha256(file, wrong_sha)},
                "requires-python": file.requires_python,
                "yanked": yanked,
                "size": file.bytes.len(),
                "upload-time": file.upload_time,
            });
            if let Some(metadata) = &file.metadata {
                entry["core-metadata"] = json!({"sha256": hex_sha256(metadata)});
            }
            entry
        })
        .collect();
    json!({
        "meta": {"api-version": "1.1", "_last-serial": project.serial},
        "name": normalize(&project.name),
        "versions": [],
        "files": files,
    })
}

fn simple_html(state: &State, project: &ProjectSpec, wrong_sha: bool) -> String {
    let name = normalize(&project.name);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    \
         <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
    );
    for file in &project.files {
        let href = format!(
            "{}#sha256={}",
            link(state, project, file),
            listed_sha256(file, wrong_sha)
        );
        html.push_str(&format!("    <a href=\"{}\"", escape(&href)));
        if let Some(spec) = &file.requires_python {
            html.push_str(&format!(" data-requires-python=\"{}\"", escape(spec)));
        }
        match file.yanked.as_deref() {
            Some("") => html.push_str(" data-yanked"),
            Some(reason) => html.push_str(&format!(" data-yanked=\"{}\"", escape(reason))),
            None => {}
        }
        if let Some(metadata) = &file.metadata {
            let hash = hex_sha256(metadata);
            html.push_str(&format!(" data-core-metadata=\"sha256={hash}\""));
        }
        html.push_str(&format!(">{}</a><br />\n", escape(&file.filename)));
    }
    html.push_str(&format!(
        "  </body>\n</html>\n<!--SERIAL {}-->\n",
        project.serial
    ));
    html
}

/// The link to a file, as the project's pages write it.
fn link(state: &State, project: &ProjectSpec, file: &FileSpec) -> String {
    match project.links {
        Links::Relative => format!("../..{}", file_path(&file.filename)),
        Links::Absolute => format!("{}{}", state.base_url, file_path(&file.filename)),
    }
}

fn listed_sha256(file: &FileSpec, wrong: bool) -> String {
    if wrong {
        hex_sha256(format!("not {}", file.filename).as_bytes())
    } else {
        file.sha256()
    }
}

/// A file at `path`, whole or the part `range` asks for.
fn file_answer(state: &State, path: &str, range: Option<&str>) -> Answer {
    let Some(bytes) = lock(&state.files).get(path).cloned() else {
        return Answer::not_found();
    };
    let total = bytes.len() as u64;
    let answer = |status, body: Vec<u8>| {
        Answer::new(
            AnswerKind::File,
            status,
            Some("application/octet-stream"),
            body,
        )
        .with_header("Accept-Ranges", "bytes".to_string())
    };
    match range.map(|header| parse_range(header, total)) {
        None | Some(RangeSpec::Whole) => answer(200, bytes.to_vec()),
        Some(RangeSpec::Part(first, last)) => {
            answer(206, bytes[first as usize..=last as usize].to_vec())
                .with_header("Content-Range", format!("bytes {first}-{last}/{total}"))
        }
        Some(RangeSpec::Unsatisfiable) => {
            answer(416, Vec::new()).with_header("Content-Range", format!("bytes */{total}"))
        }
    }
}

/// How to answer a `Range` header for a file of `total` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    /// Several ranges, or a header that is not a byte range: send everything.
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(header: &str, total: u64) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    match (
        first.trim().parse::<u64>().ok(),
        last.trim().parse::<u64>().ok(),
    ) {
        (None, Some(suffix)) if first.trim().is_empty() => {
            if suffix == 0 || total == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(total.saturating_sub(suffix), total - 1)
            }
        }
        (Some(first), last) if last.is_some() || spec.trim().ends_with('-') => {
            if last.is_some_and(|last| last < first) {
                RangeSpec::Whole
            } else if first >= total {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Part(first, last.map_or(total - 1, |last| last.min(total - 1)))
            }
        }
        _ => RangeSpec::Whole,
    }
}

/// Writes `answer` as `fault` dictates. Returns the status sent (0 for none), the body
/// bytes written, and whether the connection can carry another request.
fn write_answer(
    stream: &mut TcpStream,
    request: &Incoming,
    answer: Answer,
    fault: Option<&Fault>,
) -> (u16, u64, bool) {
    let head_only = request.method == "HEAD";
    match fault {
        Some(Fault::Close) => (0, 0, false),
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut failure = Answer::new(
                AnswerKind::Other,
                *status,
                Some("text/plain"),
                format!("injected {status}").into_bytes(),
            );
            if let Some(seconds) = retry_after {
                failure = failure.with_header("Retry-After", seconds.to_string());
            }
            send(stream, &failure, head_only, failure.body.len())
        }
        Some(Fault::Delay(pause)) => {
            thread::sleep(*pause);
            send(stream, &answer, head_only, answer.body.len())
        }
        Some(Fault::DropMidBody) => {
            let (status, sent, _) = send(stream, &answer, false, answer.body.len() / 2);
            (status, sent, false)
        }
        Some(Fault::Truncate) => {
            let short = answer.body.len() - (answer.body.len() / 4).max(1);
            let (status, sent, _) = send(stream, &answer, false, short);
            (status, sent, false)
        }
        Some(Fault::StallMidBody(pause)) => stall(stream, &answer, *pause),
        Some(Fault::ShortRange) => {
            let mut short = answer;
            short.body.pop();
            send(stream, &short, head_only, short.body.len())
        }
        Some(Fault::WrongContentRange) => {
            let shifted = shift_content_range(answer);
            send(stream, &shifted, head_only, shifted.body.len())
        }
        Some(Fault::IgnoreRange | Fault::WrongSha256) | None => {
            send(stream, &answer, head_only, answer.body.len())
        }
    }
}

/// Half the body, a pause, then the rest (if the client is still there).
fn stall(stream: &mut TcpStream, answer: &Answer, pause: Duration) -> (u16, u64, bool) {
    let half = answer.body.len() / 2;
    let (status, sent, ok) = send(stream, answer, false, half);
    if !ok {
        return (status, sent, false);
    }
    thread::sleep(pause);
    let rest_ok = stream.write_all(&answer.body[half..]).is_ok();
    let sent = if rest_ok {
        answer.body.len() as u64
    } else {
        sent
    };
    (status, sent, rest_ok)
}

/// The same answer with its `Content-Range` moved one byte later.
fn shift_content_range(mut answer: Answer) -> Answer {
    for (name, value) in &mut answer.headers {
        if name == "Content-Range" {
            let shifted = value
                .strip_prefix("bytes ")
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(span, total)| {
                    let (first, last) = span.split_once('-')?;
                    let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
                    Some(format!("bytes {}-{}/{total}", first + 1, last + 1))
                });
            if let Some(shifted) = shifted {
                *value = shifted;
            }
        }
    }
    answer
}

/// Writes the head (with the full `Content-Length`) and the first `body_len` bytes of the
/// body. Returns the status, body bytes written, and whether everything was written.
fn send(
    stream: &mut TcpStream,
    answer: &Answer,
    head_only: bool,
    body_len: usize,
) -> (u16, u64, bool) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
    if stream.write_all(head.as_bytes()).is_err() {
        return (answer.status, 0, false);
    }
    if head_only {
        return (answer.status, 0, stream.flush().is_ok());
    }
    let body = &answer.body[..body_len.min(answer.body.len())];
    let ok = stream.write_all(body).and_then(|()| stream.flush()).is_ok();
    (answer.status, if ok { body.len() as u64 } else { 0 }, ok)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn file_path(filename: &str) -> String {
    format!("/files/{filename}")
}

/// PEP 503 normalization, written out again here so that the server does not share code
/// with the client it tests.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Escapes text for an HTML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
