//! Tests of the test index server itself, spoken to over raw TCP (not through gilfree's
//! client), so that the client's tests stand on a server known to behave: ranges as RFC 9110
//! says, pages by `Accept`, redirects, and every fault doing what it claims.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Fault, FileSpec, PageFormat, ProjectSpec, Scope, TestIndex, Times};

/// A response read off the wire: status, headers (names lower-cased), body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length").unwrap().parse().unwrap()
    }
}

/// One GET with `Connection: close`, read until the server closes (or sends nothing).
fn get(server: &TestIndex, path: &str, headers: &[(&str, &str)]) -> Option<Raw> {
    let address = server.base_url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Option<Raw> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Some(Raw {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    })
}

fn numbers(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn server_with_file() -> (TestIndex, Vec<u8>) {
    let server = TestIndex::start();
    let bytes = numbers(1000);
    server.add_file("/f.bin", bytes.clone());
    (server, bytes)
}

#[test]
fn serves_single_ranges_and_refuses_unsatisfiable_ones() {
    let (server, bytes) = server_with_file();
    let cases: [(&str, u16, Option<&str>, std::ops::Range<usize>); 8] = [
        ("bytes=0-9", 206, Some("bytes 0-9/1000"), 0..10),
        ("bytes=990-", 206, Some("bytes 990-999/1000"), 990..1000),
        ("bytes=-22", 206, Some("bytes 978-999/1000"), 978..1000),
        ("bytes=-5000", 206, Some("bytes 0-999/1000"), 0..1000),
        ("bytes=500-5000", 206, Some("bytes 500-999/1000"), 500..1000),
        ("bytes=1000-", 416, Some("bytes */1000"), 0..0),
        ("bytes=0-1,5-6", 200, None, 0..1000),
        ("pages=1", 200, None, 0..1000),
    ];
    for (range, status, content_range, span) in cases {
        let raw = get(&server, "/f.bin", &[("Range", range)]).unwrap();
        assert_eq!(raw.status, status, "{range}");
        assert_eq!(raw.header("content-range"), content_range, "{range}");
        assert_eq!(raw.body, bytes[span], "{range}");
        assert_eq!(raw.content_length(), raw.body.len(), "{range}");
    }
    let ranges: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.range().map(str::to_string))
        .collect();
    assert_eq!(ranges.len(), 8);
    assert_eq!(ranges[2].as_deref(), Some("bytes=-22"));
    assert_eq!(server.requests()[2].body_bytes, 22);
}

#[test]
fn pages_follow_accept_or_the_project_format() {
    let server = TestIndex::start();
    let file = FileSpec::new("p-1.0-py3-none-any.whl", b"x".to_vec()).requires_python(">=3.9");
    server.add_project(ProjectSpec::new("Negotiated_Project").file(file.clone()));
    server.add_project(
        ProjectSpec::new("html-only")
            .format(PageFormat::Html)
            .file(file),
    );
    let json = [(
        "Accept",
        "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
    )];
    let cases = [
        (
            "/simple/negotiated-project/",
            &json[..],
            "application/vnd.pypi.simple.v1+json",
        ),
        (
            "/simple/negotiated-project/",
            &[][..],
            "text/html; charset=utf-8",
        ),
        ("/simple/html-only/", &json[..], "text/html; charset=utf-8"),
    ];
    for (path, headers, content_type) in cases {
        let raw = get(&server, path, headers).unwrap();
        assert_eq!(raw.status, 200, "{path}");
        assert_eq!(raw.header("content-type"), Some(content_type), "{path}");
    }
    let html = get(&server, "/simple/html-only/", &[]).unwrap();
    let html = String::from_utf8(html.body).unwrap();
    assert!(
        html.contains("href=\"../../files/p-1.0-py3-none-any.whl#sha256="),
        "{html}"
    );
    assert!(html.contains("data-requires-python=\"&gt;=3.9\""), "{html}");

    let moved = get(&server, "/simple/Negotiated_Project/", &[]).unwrap();
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some("/simple/negotiated-project/")
    );
    assert_eq!(get(&server, "/simple/nothing/", &[]).unwrap().status, 404);
    let root = get(&server, "/simple/", &json).unwrap();
    assert_eq!(root.header("content-type"), Some("text/html"));
    assert!(String::from_utf8(root.body).unwrap().contains("html-only/"));
    let api = get(&server, "/pypi/html-only/json", &[]).unwrap();
    assert_eq!(api.status, 200);
    assert_eq!(
        get(&server, "/files/p-1.0-py3-none-any.whl", &[])
            .unwrap()
            .body,
        b"x"
    );
}

#[test]
fn status_faults_strike_the_first_n_times_and_are_counted() {
    let (server, bytes) = server_with_file();
    let id = server.inject(
        Scope::path("/f.bin"),
        Fault::too_many_requests(),
        Times::First(2),
    );
    for _ in 0..2 {
        let raw = get(&server, "/f.bin", &[]).unwrap();
        assert_eq!(raw.status, 429);
        assert_eq!(raw.header("retry-after"), Some("0"));
    }
    assert_eq!(get(&server, "/f.bin", &[]).unwrap().body, bytes);
    assert_eq!(server.fault_hits(id), 2);
    let faults: Vec<_> = server.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(Fault::too_many_requests()),
            Some(Fault::too_many_requests()),
            None
        ]
    );
}

#[test]
fn body_faults_send_less_than_announced() {
    let (server, _) = server_with_file();
    server.inject(Scope::All, Fault::Truncate, Times::First(1));
    server.inject(Scope::All, Fault::DropMidBody, Times::First(1));
    server.inject(Scope::All, Fault::Close, Times::First(1));
    let truncated = get(&server, "/f.bin", &[]).unwrap();
    assert_eq!(truncated.content_length(), 1000);
    assert_eq!(truncated.body.len(), 750);
    let dropped = get(&server, "/f.bin", &[]).unwrap();
    assert_eq!(dropped.body.len(), 500);
    assert!(get(&server, "/f.bin", &[]).is_none());
    let statuses: Vec<_> = server
        .requests()
        .iter()
        .map(|r| (r.status, r.body_bytes))
        .collect();
    assert_eq!(statuses, [(200, 750), (200, 500), (0, 0)]);
}

#[test]
fn range_faults_apply_only_to_ranged_requests() {
    let (server, bytes) = server_with_file();
    let ignore = server.inject(Scope::All, Fault::IgnoreRange, Times::First(1));
    let plain = get(&server, "/f.bin", &[]).unwrap();
    assert_eq!((plain.status, server.fault_hits(ignore)), (200, 0));
    let ignored = get(&server, "/f.bin", &[("Range", "bytes=0-9")]).unwrap();
    assert_eq!((ignored.status, ignored.body.len()), (200, 1000));
    assert_eq!(server.fault_hits(ignore), 1);

    server.inject(Scope::All, Fault::ShortRange, Times::First(1));
    let short = get(&server, "/f.bin", &[("Range", "bytes=0-9")]).unwrap();
    assert_eq!(short.header("content-range"), Some("bytes 0-9/1000"));
    assert_eq!((short.content_length(), short.body.len()), (9, 9));

    server.inject(Scope::All, Fault::WrongContentRange, Times::First(1));
    let shifted = get(&server, "/f.bin", &[("Range", "bytes=0-9")]).unwrap();
    assert_eq!(shifted.header("content-range"), Some("bytes 1-10/1000"));
    assert_eq!(shifted.body, bytes[..10]);
}

#[test]
fn wrong_sha256_changes_only_pages() {
    let server = TestIndex::start();
    let file = FileSpec::new("p-1.0-py3-none-any.whl", b"payload".to_vec());
    let real = file.sha256();
    server.add_project(ProjectSpec::new("p").format(PageFormat::Html).file(file));
    let id = server.inject(Scope::All, Fault::WrongSha256, Times::First(1));
    assert_eq!(
        get(&server, "/files/p-1.0-py3-none-any.whl", &[])
            .unwrap()
            .body,
        b"payload"
    );
    assert_eq!(server.fault_hits(id), 0);
    let wrong = String::from_utf8(get(&server, "/simple/p/", &[]).unwrap().body).unwrap();
    assert!(!wrong.contains(&real), "{wrong}");
    let right = String::from_utf8(get(&server, "/simple/p/", &[]).unwrap().body).unwrap();
    assert!(right.contains(&real), "{right}");
}

#[test]
fn routes_and_redirects() {
    let server = TestIndex::start();
    server.add_route("/plain", Some("text/plain"), "hello");
    server.add_route("/bare", None, "<a href=x>x</a>");
    server.redirect("/old/", "/plain");
    let plain = get(&server, "/plain?q=1", &[]).unwrap();
    assert_eq!((plain.status, plain.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(
        get(&server, "/bare", &[]).unwrap().header("content-type"),
        None
    );
    let moved = get(&server, "/old/", &[]).unwrap();
    assert_eq!(
        (moved.status, moved.header("location")),
        (302, Some("/plain"))
    );
    assert_eq!(server.requests()[0].path, "/plain");
}
