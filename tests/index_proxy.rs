//! Proxy settings from the environment: with `HTTP_PROXY` set, the client sends its requests
//! to the proxy (here the test index standing in for one, so nothing leaves loopback);
//! `NO_PROXY` exempts hosts from it; `proxy_from_env: false` ignores it all. `HTTPS_PROXY`
//! works the same way for https URLs (through a CONNECT tunnel), which a plain-HTTP test
//! server cannot show.
//!
//! This file holds a single test because it changes the process's environment, which every
//! client built at the same time would see.

mod support;

use gilfree::index::{Fetch, IndexClient, IndexConfig, RangeBody};
use support::{FileSpec, ProjectSpec, TestIndex};

const WHEEL: &str = "p-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl";

fn project() -> ProjectSpec {
    ProjectSpec::new("p").file(FileSpec::new(WHEEL, b"wheel bytes PK\x05\x06".to_vec()))
}

#[test]
fn proxies_come_from_the_environment() {
    let proxy = TestIndex::start();
    proxy.add_project(project());
    let direct = TestIndex::start();
    direct.add_project(project());
    for name in ["http_proxy", "all_proxy", "ALL_PROXY", "no_proxy"] {
        // SAFETY: this test binary runs no other test, and no thread of its own is reading
        // the environment now.
        unsafe { std::env::remove_var(name) };
    }
    // SAFETY: as above.
    unsafe { std::env::set_var("HTTP_PROXY", proxy.base_url()) };
    unsafe { std::env::set_var("NO_PROXY", "localhost") };

    // A host the proxy is for: the client never resolves it, the proxy answers.
    let client =
        IndexClient::new(IndexConfig::with_index_url("http://index.test/simple/")).unwrap();
    let page = client.project("p").unwrap();
    assert_eq!(
        page.files[0].url,
        format!("http://index.test/files/{WHEEL}")
    );
    let tail = client.tail(&page.files[0].url, 4).unwrap();
    assert_eq!(
        tail,
        RangeBody::Partial {
            bytes: b"PK\x05\x06".to_vec(),
            total: Some(16)
        }
    );
    let targets: Vec<_> = proxy.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "http://index.test/simple/p/".to_string(),
            format!("http://index.test/files/{WHEEL}")
        ]
    );

    // A client told to ignore the environment goes direct.
    let config = IndexConfig {
        proxy_from_env: false,
        ..IndexConfig::with_index_url(direct.index_url())
    };
    assert_eq!(
        IndexClient::new(config)
            .unwrap()
            .project("p")
            .unwrap()
            .files
            .len(),
        1
    );
    assert_eq!(direct.requests().len(), 1);

    // A host NO_PROXY names goes direct.
    // SAFETY: as above.
    unsafe { std::env::set_var("NO_PROXY", "localhost,127.0.0.1") };
    let client = IndexClient::new(IndexConfig::with_index_url(direct.index_url())).unwrap();
    assert_eq!(client.project("p").unwrap().files.len(), 1);
    assert_eq!(direct.requests().len(), 2);
    assert_eq!(proxy.requests().len(), 2, "the proxy saw nothing more");
}
