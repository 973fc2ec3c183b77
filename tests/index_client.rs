//! The index client against the local test index: project pages in JSON and HTML, the
//! project JSON, ranged reads, every fault the server can inject (each ends in a retry that
//! succeeds or a clear one-line error), and the network counters. No test waits on a clock
//! of its own: each is bounded by the client's timeouts and retry limits.
//!
//! One test, ignored by default, reads the real index: `cargo test -- --ignored live`.

mod support;

use std::time::Duration;

use gilfree::index::{
    Fetch, FetchError, IndexClient, IndexConfig, IndexError, RangeBody, USER_AGENT,
};
use support::{Fault, FileSpec, Links, PageFormat, ProjectSpec, Scope, TestIndex, Times};

const WHEEL: &str =
    "lru_dict-1.4.1-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl";
const WHEEL_PATH: &str = "/files/lru_dict-1.4.1-cp314-cp314t-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl";
const SDIST: &str = "lru_dict-1.4.0.tar.gz";
const OLD: &str = "lru_dict-1.3.0-cp313-cp313-win_amd64.whl";

/// A client with short timeouts and backoff, so that faults resolve quickly, and deaf to
/// proxy settings in the environment (the server is on loopback; `index_proxy.rs` tests
/// proxies).
fn config(index_url: &str) -> IndexConfig {
    IndexConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        max_retries: 3,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
        concurrency: 4,
        proxy_from_env: false,
        ..IndexConfig::with_index_url(index_url)
    }
}

fn client(server: &TestIndex) -> IndexClient {
    IndexClient::new(config(&server.index_url())).unwrap()
}

fn wheel_bytes() -> Vec<u8> {
    support::fixture_wheel(WHEEL)
}

/// A project with a cp314t wheel, a yanked sdist and an old wheel with a yank reason.
fn lru_dict(format: PageFormat, links: Links) -> ProjectSpec {
    ProjectSpec::new("lru-dict")
        .format(format)
        .links(links)
        .file(FileSpec::new(WHEEL, wheel_bytes()).requires_python(">=3.9"))
        .file(FileSpec::new(SDIST, b"not really a tarball".to_vec()).yanked(""))
        .file(
            FileSpec::new(OLD, b"old".to_vec())
                .requires_python(">=3.8, <4")
                .yanked("broken <build> & more"),
        )
}

fn server_with(project: ProjectSpec) -> TestIndex {
    let server = TestIndex::start();
    server.add_project(project);
    server
}

fn one_line(err: &impl std::fmt::Display) -> String {
    let message = err.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

// ---------------------------------------------------------------------------------------
// Project pages.

#[test]
fn json_pages_list_files_with_hashes_and_metadata() {
    let server = server_with(lru_dict(PageFormat::Negotiate, Links::Relative));
    let page = client(&server).project("lru-dict").unwrap();
    assert_eq!(page.name, "lru-dict");
    let names: Vec<_> = page.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, [WHEEL, SDIST, OLD]);
    let wheel = &page.files[0];
    assert_eq!(wheel.url, server.file_url(WHEEL));
    assert_eq!(
        wheel.sha256.as_deref(),
        Some(FileSpec::new(WHEEL, wheel_bytes()).sha256().as_str())
    );
    assert_eq!(wheel.size, Some(wheel_bytes().len() as u64));
    assert_eq!(wheel.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(wheel.yanked, None);
    assert_eq!(
        wheel.upload_time.as_deref(),
        Some("2025-01-02T03:04:05.000000Z")
    );
    assert_eq!(page.files[1].yanked.as_deref(), Some(""));
    assert_eq!(
        page.files[2].yanked.as_deref(),
        Some("broken <build> & more")
    );
    assert_eq!(page.files[2].requires_python.as_deref(), Some(">=3.8, <4"));

    let request = &server.requests_to("/simple/lru-dict/")[0];
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    );
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
}

#[test]
fn html_only_indexes_work() {
    for links in [Links::Relative, Links::Absolute] {
        let server = server_with(lru_dict(PageFormat::Html, links));
        let page = client(&server).project("lru-dict").unwrap();
        let wheel = &page.files[0];
        assert_eq!(wheel.filename, WHEEL);
        assert_eq!(wheel.url, server.file_url(WHEEL), "{links:?}");
        assert_eq!(
            wheel.sha256.as_deref(),
            Some(FileSpec::new(WHEEL, wheel_bytes()).sha256().as_str())
        );
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(wheel.size, None, "HTML pages carry no size");
        assert_eq!(page.files[1].yanked.as_deref(), Some(""));
        assert_eq!(
            page.files[2].yanked.as_deref(),
            Some("broken <build> & more")
        );
        assert_eq!(page.files[2].requires_python.as_deref(), Some(">=3.8, <4"));
    }
}

#[test]
fn names_are_normalized_before_asking() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let page = client(&server).project("LRU_Dict").unwrap();
    assert_eq!(page.name, "lru-dict");
    let paths: Vec<_> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/simple/lru-dict/"]);
}

#[test]
fn links_resolve_against_the_page_after_redirects() {
    let server = server_with(lru_dict(PageFormat::Html, Links::Relative));
    server.redirect("/old/simple/lru-dict/", "/simple/lru-dict/");
    let client = IndexClient::new(config(&server.url("/old/simple/"))).unwrap();
    let page = client.project("lru-dict").unwrap();
    assert_eq!(page.files[0].url, server.file_url(WHEEL));
    assert_eq!(client.get(&page.files[0].url).unwrap(), wheel_bytes());
}

#[test]
fn unknown_projects_are_no_such_project_without_retries() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let err = client(&server).project("Nope").unwrap_err();
    assert!(
        matches!(&err, IndexError::NoSuchProject(name) if name == "Nope"),
        "{err:?}"
    );
    assert_eq!(
        one_line(&err),
        "no project named \"Nope\" on the package index"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn invalid_names_are_refused_before_any_request() {
    let server = TestIndex::start();
    for name in ["", "../x", "a/b", "-x", "with space"] {
        let err = client(&server).project(name).unwrap_err();
        assert!(
            matches!(err, IndexError::InvalidName(_)),
            "{name:?}: {err:?}"
        );
        assert!(client(&server).project_json(name).is_err(), "{name:?}");
    }
    assert!(server.requests().is_empty());
}

#[test]
fn an_unreachable_index_is_a_clear_one_line_error() {
    let index = support::unreachable_url();
    let client = IndexClient::new(config(&index)).unwrap();
    let err = client.project("lru-dict").unwrap_err();
    assert!(matches!(err, IndexError::Unreachable { .. }), "{err:?}");
    let message = one_line(&err);
    assert!(
        message.starts_with(&format!("cannot reach the package index at {index}: ")),
        "{message}"
    );
    assert!(message.contains("gave up after 4 attempts"), "{message}");
    assert!(message.contains("check --index-url"), "{message}");
    assert_eq!(client.stats().requests, 4);
}

#[test]
fn pages_are_read_by_content_type() {
    let server = TestIndex::start();
    let html = "<html><body><a href=\"/files/p-1.0-py3-none-any.whl#sha256=".to_string()
        + &"ab".repeat(32)
        + "\">p-1.0-py3-none-any.whl</a></body></html>";
    server.add_route("/simple/bare/", None, &html);
    server.add_route("/simple/xhtml/", Some("application/xhtml+xml"), &html);
    server.add_route("/simple/plain/", Some("text/plain"), &html);
    server.add_route(
        "/simple/fake-json/",
        Some("application/vnd.pypi.simple.v1+json"),
        &html,
    );
    let client = client(&server);
    for name in ["bare", "xhtml"] {
        let page = client.project(name).unwrap();
        assert_eq!(
            page.files[0].url,
            server.url("/files/p-1.0-py3-none-any.whl"),
            "{name}"
        );
        assert_eq!(page.files[0].sha256, Some("ab".repeat(32)), "{name}");
    }
    let err = client.project("plain").unwrap_err();
    assert_eq!(
        one_line(&err),
        format!(
            "{}: unexpected Content-Type \"text/plain\" for a project page",
            server.url("/simple/plain/")
        )
    );
    let err = client.project("fake-json").unwrap_err();
    assert!(matches!(err, IndexError::BadPage { .. }), "{err:?}");
    assert!(
        one_line(&err).contains("malformed page: not PEP 691 JSON"),
        "{err}"
    );
}

#[test]
fn gzipped_pages_are_decoded_and_counted_as_sent() {
    let server = TestIndex::start();
    let json = format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "files": [{{"filename": "p-1.0-py3-none-any.whl",
           "url": "../../files/p-1.0-py3-none-any.whl", "hashes": {{"sha256": "{}"}}}}]}}"#,
        "cd".repeat(32)
    );
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, json.as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap();
    let headers = [
        ("Content-Type", "application/vnd.pypi.simple.v1+json"),
        ("Content-Encoding", "gzip"),
    ];
    server.add_raw("/simple/zipped/", 200, &headers, gzipped.clone());
    let client = client(&server);
    let page = client.project("zipped").unwrap();
    assert_eq!(
        page.files[0].url,
        server.url("/files/p-1.0-py3-none-any.whl")
    );
    assert_eq!(client.stats().bytes, gzipped.len() as u64);
    assert_eq!(server.requests()[0].header("accept-encoding"), Some("gzip"));
}

#[test]
fn encoded_or_unasked_partial_file_answers_are_refused() {
    let server = TestIndex::start();
    server.add_raw(
        "/encoded",
        200,
        &[("Content-Encoding", "gzip")],
        b"zz".to_vec(),
    );
    server.add_raw(
        "/partial",
        206,
        &[("Content-Range", "bytes 0-1/10")],
        b"zz".to_vec(),
    );
    let client = client(&server);
    let cases: [(Result<(), FetchError>, &str); 3] = [
        (
            client.get(&server.url("/encoded")).map(drop),
            "Content-Encoding \"gzip\" despite Accept-Encoding: identity",
        ),
        (
            client.get(&server.url("/partial")).map(drop),
            "206 Partial Content to a request without Range",
        ),
        (
            client.range(&server.url("/partial"), 5, 2).map(drop),
            "asked for bytes=5-6, the server sent Content-Range: bytes 0-1/10",
        ),
    ];
    for (got, want) in cases {
        let err = got.unwrap_err();
        assert!(matches!(err, FetchError::Protocol { .. }), "{err:?}");
        assert!(one_line(&err).ends_with(want), "{err}");
    }
    assert_eq!(
        server.requests().len(),
        3,
        "protocol errors are not retried"
    );
}

// ---------------------------------------------------------------------------------------
// The project JSON.

#[test]
fn project_json_enriches_and_its_absence_is_none() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    server.add_project(ProjectSpec::new("no-api").without_json_api());
    server.add_route("/pypi/html-answer/json", Some("text/html"), "<html></html>");
    let client = client(&server);
    let project = client.project_json("LRU.dict").unwrap().unwrap();
    assert_eq!(project.name, "lru-dict");
    assert_eq!(project.version.as_deref(), Some("1.3.0"));
    let wheel = &project.releases["1.4.1"][0];
    assert_eq!(
        wheel.url,
        server.file_url(WHEEL),
        "relative URLs are resolved"
    );
    assert_eq!(wheel.size, Some(wheel_bytes().len() as u64));
    assert_eq!(
        project.releases["1.3.0"][0].yanked.as_deref(),
        Some("broken <build> & more")
    );
    for name in ["no-api", "nothing-here", "html-answer"] {
        assert_eq!(client.project_json(name).unwrap(), None, "{name}");
    }
    assert_eq!(server.requests_to("/pypi/lru-dict/json").len(), 1);
}

// ---------------------------------------------------------------------------------------
// Ranged reads.

#[test]
fn ranges_read_exactly_the_bytes_asked_for() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let (client, bytes, url) = (client(&server), wheel_bytes(), server.file_url(WHEEL));
    let total = Some(bytes.len() as u64);
    let cases = [
        (100, 50, bytes[100..150].to_vec()),
        (0, 1, bytes[..1].to_vec()),
        (
            bytes.len() as u64 - 10,
            100,
            bytes[bytes.len() - 10..].to_vec(),
        ),
    ];
    for (start, len, want) in cases {
        let got = client.range(&url, start, len).unwrap();
        assert_eq!(
            got,
            RangeBody::Partial { bytes: want, total },
            "{start}+{len}"
        );
    }
    let ranges: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.range().unwrap().to_string())
        .collect();
    assert_eq!(
        ranges,
        [
            "bytes=100-149",
            "bytes=0-0",
            format!("bytes={}-{}", bytes.len() - 10, bytes.len() + 89).as_str()
        ]
    );
    for request in server.requests() {
        assert_eq!(request.header("accept-encoding"), Some("identity"));
    }
    assert_eq!(
        client.range(&url, 5, 0).unwrap(),
        RangeBody::Partial {
            bytes: vec![],
            total: None
        }
    );
    assert_eq!(
        server.requests().len(),
        3,
        "an empty range needs no request"
    );
}

#[test]
fn tail_reads_the_end_of_central_directory_and_the_length() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let (client, bytes) = (client(&server), wheel_bytes());
    let RangeBody::Partial { bytes: tail, total } =
        client.tail(&server.file_url(WHEEL), 22).unwrap()
    else {
        panic!("a 206 was expected");
    };
    assert_eq!(&tail[..4], b"PK\x05\x06");
    assert_eq!(tail, bytes[bytes.len() - 22..]);
    assert_eq!(total, Some(bytes.len() as u64));
    let longer = client.tail(&server.file_url(SDIST), 1000).unwrap();
    assert_eq!(
        longer,
        RangeBody::Partial {
            bytes: b"not really a tarball".to_vec(),
            total: Some(20)
        }
    );
    assert_eq!(server.requests()[0].range(), Some("bytes=-22"));
}

#[test]
fn get_reads_whole_files() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    assert_eq!(
        client(&server).get(&server.file_url(WHEEL)).unwrap(),
        wheel_bytes()
    );
    let request = &server.requests()[0];
    assert_eq!(
        (request.range(), request.header("accept-encoding")),
        (None, Some("identity"))
    );
}

#[test]
fn missing_files_and_unsatisfiable_ranges_fail_without_retries() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let client = client(&server);
    let missing = server.url("/files/missing.whl");
    let err = client.get(&missing).unwrap_err();
    assert_eq!(
        err,
        FetchError::Status {
            url: missing.clone(),
            status: 404
        }
    );
    assert_eq!(one_line(&err), format!("{missing}: HTTP 404"));
    let err = client.range(&server.file_url(SDIST), 1000, 10).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 416, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn servers_that_ignore_range_give_the_whole_file() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let (client, url, bytes) = (client(&server), server.file_url(WHEEL), wheel_bytes());
    server.inject(Scope::All, Fault::IgnoreRange, Times::Always);
    assert_eq!(
        client.range(&url, 10, 10).unwrap(),
        RangeBody::Full(bytes.clone())
    );
    assert_eq!(client.tail(&url, 22).unwrap(), RangeBody::Full(bytes));
}

#[test]
fn the_client_is_a_fetch_trait_object() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let fetch: Box<dyn Fetch> = Box::new(client(&server));
    assert!(matches!(
        fetch.tail(&server.file_url(WHEEL), 22),
        Ok(RangeBody::Partial { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Faults: each ends in a retry that succeeds or in one clear line.

/// A client that has heard from `server` once (its project page): faults after that are
/// blips of a server that answers, retried as such.
fn warm_client(server: &TestIndex) -> IndexClient {
    let client = client(server);
    client
        .project("lru-dict")
        .expect("the page before any fault");
    server.clear_requests();
    client
}

/// Injects `fault` the first `times` times on the wheel, then reads a range of it; returns
/// what the read gave and how many requests the server saw.
fn range_with_fault(fault: Fault, times: Times) -> (Result<RangeBody, FetchError>, usize) {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let client = warm_client(&server);
    server.inject(Scope::path(WHEEL_PATH), fault, times);
    let got = client.range(&server.file_url(WHEEL), 1000, 5000);
    (got, server.requests().len())
}

fn wheel_range() -> RangeBody {
    let bytes = wheel_bytes();
    RangeBody::Partial {
        bytes: bytes[1000..6000].to_vec(),
        total: Some(bytes.len() as u64),
    }
}

#[test]
fn transient_faults_are_retried_until_the_read_succeeds() {
    let faults = [
        Fault::too_many_requests(),
        Fault::server_error(),
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::Close,
        Fault::DropMidBody,
        Fault::Truncate,
        Fault::ShortRange,
        Fault::Delay(Duration::from_secs(3)),
        Fault::StallMidBody(Duration::from_secs(3)),
    ];
    for fault in faults {
        let (got, requests) = range_with_fault(fault.clone(), Times::First(2));
        assert_eq!(
            got.as_ref().ok(),
            Some(&wheel_range()),
            "{fault:?}: {got:?}"
        );
        assert_eq!(requests, 3, "{fault:?}");
    }
}

#[test]
fn persistent_faults_end_in_one_clear_line() {
    let url = |server: &TestIndex| server.file_url(WHEEL);
    let cases: [(Fault, &str); 7] = [
        (Fault::too_many_requests(), "HTTP 429"),
        (Fault::server_error(), "HTTP 500"),
        (Fault::Close, "(gave up after 4 attempts)"),
        (Fault::Truncate, "(gave up after 4 attempts)"),
        (
            Fault::ShortRange,
            "truncated body: 4999 of 5000 bytes (gave up after 4 attempts)",
        ),
        (Fault::Delay(Duration::from_secs(3)), "timed out"),
        (
            Fault::StallMidBody(Duration::from_secs(3)),
            "connection lost after 2500 bytes of the body",
        ),
    ];
    for (fault, want) in cases {
        let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
        let client = warm_client(&server);
        server.inject(Scope::All, fault.clone(), Times::Always);
        let err = client.range(&url(&server), 1000, 5000).unwrap_err();
        let message = one_line(&err);
        assert!(message.starts_with(&url(&server)), "{fault:?}: {message}");
        assert!(message.contains(want), "{fault:?}: {message}");
        assert_eq!(
            server.requests().len(),
            4,
            "{fault:?}: one attempt and three retries"
        );
    }
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_then_fails_at_once() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    server.inject(
        Scope::All,
        Fault::Delay(Duration::from_secs(3)),
        Times::Always,
    );
    let client = client(&server);
    let started = std::time::Instant::now();
    let err = client.project("lru-dict").unwrap_err();
    assert!(one_line(&err).contains("timed out"), "{err}");
    assert_eq!(
        server.requests().len(),
        1,
        "a timeout is not retried before any answer"
    );
    // Every later request fails at once, naming the first cause, without asking again.
    let again = client.range(&server.file_url(WHEEL), 0, 10).unwrap_err();
    assert!(
        again
            .to_string()
            .contains("no answer from 127.0.0.1 in this run"),
        "{again}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let down = client.down().expect("the client says the index is down");
    assert!(
        down.starts_with("the package index at http://127.0.0.1:")
            && down.contains("/simple/ does not answer: timed out"),
        "{down}"
    );

    // Refused connections are retried within the timeout, then the same.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let refused = IndexClient::new(config(&format!("http://127.0.0.1:{port}/simple/"))).unwrap();
    let err = refused.project("x").unwrap_err();
    assert!(one_line(&err).contains("cannot connect"), "{err}");
    assert!(refused.down().is_some());
}

#[test]
fn a_long_retry_after_is_not_waited_for() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    server.inject(
        Scope::All,
        Fault::Status {
            status: 429,
            retry_after: Some(3600),
        },
        Times::Always,
    );
    let err = client(&server).get(&server.file_url(WHEEL)).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_content_range_other_than_asked_is_refused_at_once() {
    let (got, requests) = range_with_fault(Fault::WrongContentRange, Times::Always);
    let err = got.unwrap_err();
    assert!(matches!(err, FetchError::Protocol { .. }), "{err:?}");
    let message = one_line(&err);
    assert!(
        message.ends_with(&format!(
            "asked for bytes=1000-5999, the server sent Content-Range: bytes 1001-6000/{}",
            wheel_bytes().len()
        )),
        "{message}"
    );
    assert_eq!(requests, 1);
}

#[test]
fn page_faults_are_retried_or_reported() {
    let page_path = "/simple/lru-dict/";
    let retried = [
        Fault::too_many_requests(),
        Fault::server_error(),
        Fault::Close,
        Fault::Truncate,
        Fault::Delay(Duration::from_secs(3)),
    ];
    for fault in retried {
        let server = server_with(lru_dict(PageFormat::Html, Links::Relative));
        let client = warm_client(&server);
        server.inject(Scope::path(page_path), fault.clone(), Times::First(2));
        let page = client.project("lru-dict").unwrap();
        assert_eq!(page.files.len(), 3, "{fault:?}");
        assert_eq!(server.requests().len(), 3, "{fault:?}");
    }
    let server = server_with(lru_dict(PageFormat::Html, Links::Relative));
    server.inject(Scope::path(page_path), Fault::Close, Times::Always);
    let err = client(&server).project("lru-dict").unwrap_err();
    assert!(matches!(err, IndexError::Unreachable { .. }), "{err:?}");
    assert!(one_line(&err).contains("check --index-url"));
    server.clear_faults();
    server.inject(Scope::path(page_path), Fault::server_error(), Times::Always);
    let err = client(&server).project("lru-dict").unwrap_err();
    assert_eq!(
        one_line(&err),
        format!("{}: HTTP 500", server.url(page_path))
    );
}

#[test]
fn a_wrong_sha256_on_the_page_is_passed_on_and_caught_by_the_check() {
    for format in [PageFormat::Json, PageFormat::Html] {
        let server = server_with(lru_dict(format, Links::Relative));
        server.inject(Scope::All, Fault::WrongSha256, Times::Always);
        let client = client(&server);
        let page = client.project("lru-dict").unwrap();
        let wheel = &page.files[0];
        let listed = wheel.sha256.clone().unwrap();
        assert_ne!(
            listed,
            FileSpec::new(WHEEL, wheel_bytes()).sha256(),
            "{format:?}"
        );
        let bytes = client.get(&wheel.url).unwrap();
        let err = wheel.check_sha256(&bytes).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{WHEEL}: sha256 is ")),
            "{err}"
        );
    }
}

#[test]
fn faults_on_every_path_at_once_still_resolve() {
    let server = server_with(lru_dict(PageFormat::Negotiate, Links::Absolute));
    let id = server.inject(Scope::All, Fault::too_many_requests(), Times::First(3));
    let client = client(&server);
    let page = client.project("lru-dict").unwrap();
    assert!(matches!(
        client.tail(&page.files[0].url, 22),
        Ok(RangeBody::Partial { .. })
    ));
    assert_eq!(server.fault_hits(id), 3);
}

// ---------------------------------------------------------------------------------------
// Counters and concurrency.

#[test]
fn stats_count_every_request_and_body_byte() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let client = client(&server);
    assert_eq!(client.stats().requests, 0);
    let page = client.project("lru-dict").unwrap();
    let url = &page.files[0].url;
    client.range(url, 0, 100).unwrap();
    client.tail(url, 22).unwrap();
    client.get(url).unwrap();
    server.inject(Scope::All, Fault::server_error(), Times::First(1));
    client.range(url, 0, 10).unwrap();
    let stats = client.stats();
    assert_eq!(stats.requests, 6, "five reads, one of them retried once");
    let read: u64 = server
        .requests()
        .iter()
        .filter(|r| r.status / 100 == 2)
        .map(|r| r.body_bytes)
        .sum();
    assert_eq!(stats.bytes, read);
    let page_bytes = server.requests()[0].body_bytes;
    assert_eq!(
        stats.bytes,
        page_bytes + 100 + 22 + wheel_bytes().len() as u64 + 10
    );
    assert_eq!(
        stats.to_string(),
        format!("6 request(s), {} byte(s)", stats.bytes)
    );
}

#[test]
fn threads_share_one_client_its_bound_and_its_counters() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    server.inject(
        Scope::All,
        Fault::Delay(Duration::from_millis(50)),
        Times::Always,
    );
    let client = IndexClient::new(IndexConfig {
        concurrency: 2,
        ..config(&server.index_url())
    })
    .unwrap();
    let url = server.file_url(WHEEL);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for i in 0..4 {
                    let got = client.range(&url, i * 100, 100).unwrap();
                    assert!(
                        matches!(got, RangeBody::Partial { ref bytes, .. } if bytes.len() == 100)
                    );
                }
            });
        }
    });
    assert!(
        server.peak_concurrency() <= 2,
        "peak {}",
        server.peak_concurrency()
    );
    assert_eq!(client.stats().requests, 24);
    assert_eq!(client.stats().bytes, 2400);
}

// ---------------------------------------------------------------------------------------
// One release's JSON.

fn release_client(server: &TestIndex) -> IndexClient {
    IndexClient::new(IndexConfig {
        release_json: true,
        ..config(&server.index_url())
    })
    .unwrap()
}

fn json_api_requests(server: &TestIndex) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/pypi/"))
        .count()
}

#[test]
fn a_release_is_read_from_its_own_json_where_the_index_has_it() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative).with_release_json());
    let client = release_client(&server);
    let page = client
        .release_json("LRU_dict", "1.4.1")
        .unwrap()
        .expect("the release's JSON");
    assert_eq!(page.name, "lru-dict");
    assert_eq!(page.files.len(), 1, "{page:?}");
    assert_eq!(page.files[0].filename, WHEEL);
    assert_eq!(page.files[0].url, server.file_url(WHEEL));
    assert_eq!(
        page.files[0].sha256.as_deref(),
        Some(FileSpec::new(WHEEL, wheel_bytes()).sha256().as_str())
    );
    assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.9"));
    assert!(server.requests_to("/simple/lru-dict/").is_empty());
    // A version it does not have: None, and no more asking in this client's life.
    assert!(client.release_json("lru-dict", "9.9").unwrap().is_none());
    let asked = json_api_requests(&server);
    assert!(client.release_json("lru-dict", "1.4.1").unwrap().is_none());
    assert_eq!(json_api_requests(&server), asked);
}

#[test]
fn an_index_without_release_json_costs_one_request_and_no_error() {
    let server = server_with(lru_dict(PageFormat::Json, Links::Relative));
    let client = release_client(&server);
    for _ in 0..3 {
        assert!(client.release_json("lru-dict", "1.4.1").unwrap().is_none());
    }
    assert_eq!(json_api_requests(&server), 1);
    // Versions that are no path segment are not asked for.
    assert!(
        release_client(&server)
            .release_json("lru-dict", "../x")
            .unwrap()
            .is_none()
    );
    assert_eq!(json_api_requests(&server), 1);
    // Asked of PyPI alone unless configured.
    assert!(!IndexConfig::with_index_url(server.index_url()).release_json);
    assert!(IndexConfig::default().release_json);
}

// ---------------------------------------------------------------------------------------
// The real index (opt-in).

#[test]
#[ignore = "reaches the real package index; run with --ignored"]
fn live_index_lists_cp314t_markupsafe_wheels_and_serves_their_tails() {
    let client = IndexClient::new(IndexConfig::default()).unwrap();
    let page = client.project("MarkupSafe").unwrap();
    assert_eq!(page.name, "markupsafe");
    let wheel = page
        .files
        .iter()
        .find(|f| f.filename.contains("-cp314t-") && f.filename.ends_with(".whl"))
        .expect("a cp314t wheel of markupsafe");
    let sha = wheel.sha256.as_deref().expect("a sha256 for the wheel");
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sha}"
    );
    let eocd = match client.tail(&wheel.url, 22).unwrap() {
        RangeBody::Partial { bytes, total } => {
            if let (Some(size), Some(total)) = (wheel.size, total) {
                assert_eq!(size, total);
            }
            bytes
        }
        RangeBody::Full(bytes) => bytes[bytes.len() - 22..].to_vec(),
    };
    assert_eq!(&eocd[..4], b"PK\x05\x06");
    // Optional enrichment: present or not, never an error for a known project.
    let _ = client.project_json("markupsafe").unwrap();
    let stats = client.stats();
    eprintln!("live: {} ({} files on the page)", stats, page.files.len());
}
