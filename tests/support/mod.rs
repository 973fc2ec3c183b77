//! Support for tests that talk to a package index: [`server::TestIndex`], a small HTTP/1.1
//! index server of our own on 127.0.0.1 that serves project pages (JSON and HTML), the
//! project JSON API and files with `Range`, injects faults on demand and records every
//! request. Include it with `mod support;` from a test file.
//!
//! Clients pointed at it should ignore proxy settings from the environment (a developer's
//! `HTTP_PROXY` would otherwise take loopback requests elsewhere): `proxy_from_env: false`
//! in `IndexConfig`, or `NO_PROXY=127.0.0.1` and no `*_PROXY` for a child process.

#![allow(dead_code)]

pub mod server;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use server::{Fault, FileSpec, Links, PageFormat, ProjectSpec, Scope, TestIndex, Times};

/// The bytes of a fixture wheel under `tests/fixtures/wheels/`.
pub fn fixture_wheel(filename: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wheels")
        .join(filename);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A URL on 127.0.0.1 where nothing listens (a port just bound and released), to see how a
/// client fails when the index is unreachable.
pub fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/simple/")
}
