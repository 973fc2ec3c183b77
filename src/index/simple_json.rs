//! PEP 691 project pages in JSON (`application/vnd.pypi.simple.v1+json`), with the PEP 700
//! additions (`size`, `upload-time`) and PEP 592 `yanked` as a flag or a reason.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use url::Url;

use super::{DistFile, listing};

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    files: Vec<File>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
    /// PyPI's change serial of the project (a number, or a number in a string).
    #[serde(rename = "_last-serial", default)]
    last_serial: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<Yanked>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
    /// PEP 714 (and PEP 658's older spelling): a metadata file exists at `URL.metadata`.
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<serde_json::Value>,
    #[serde(rename = "data-dist-info-metadata", default)]
    dist_info_metadata: Option<serde_json::Value>,
}

/// PEP 592 in JSON: `false`, `true`, or the reason (which means yanked).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Yanked {
    Flag(bool),
    Reason(String),
}

impl Yanked {
    /// `Some(reason)` when yanked, `reason` possibly empty.
    pub(crate) fn reason(self) -> Option<String> {
        match self {
            Yanked::Flag(false) => None,
            Yanked::Flag(true) => Some(String::new()),
            Yanked::Reason(reason) => Some(reason),
        }
    }
}

/// The files a JSON project page lists, with URLs resolved against `page_url`. `Err` says
/// what is wrong with the page: not JSON of this shape, an API version other than 1.x, or a
/// file URL that cannot be resolved.
#[cfg(test)]
pub(crate) fn parse(json: &str, page_url: &Url) -> Result<Vec<DistFile>, String> {
    parse_listing(json, page_url).map(|listed| listed.files)
}

/// What a JSON page says besides its files.
pub(crate) struct Listed {
    pub files: Vec<DistFile>,
    /// `meta._last-serial`.
    pub serial: Option<u64>,
    /// The files with a PEP 658 metadata file.
    pub core_metadata: BTreeSet<String>,
}

/// Like [`parse`], with the page's serial and which files have PEP 658 metadata.
pub(crate) fn parse_listing(json: &str, page_url: &Url) -> Result<Listed, String> {
    let page: Page =
        serde_json::from_str(json).map_err(|err| format!("not PEP 691 JSON: {err}"))?;
    check_api_version(page.meta.api_version.as_deref())?;
    let serial = page.meta.last_serial.as_ref().and_then(listing::serial_of);
    let mut core_metadata = BTreeSet::new();
    let mut files = Vec::with_capacity(page.files.len());
    for file in page.files {
        let has_metadata = [&file.core_metadata, &file.dist_info_metadata]
            .into_iter()
            .flatten()
            .any(listing::json_says_metadata);
        if has_metadata {
            core_metadata.insert(file.filename.clone());
        }
        files.push(dist_file(file, page_url)?);
    }
    Ok(Listed {
        files,
        serial,
        core_metadata,
    })
}

/// PEP 691: clients must refuse a major version they do not know.
fn check_api_version(version: Option<&str>) -> Result<(), String> {
    match version {
        Some(version) if version.split('.').next() != Some("1") => Err(format!(
            "unsupported API version {version:?} (this client reads 1.x)"
        )),
        _ => Ok(()),
    }
}

fn dist_file(file: File, page_url: &Url) -> Result<DistFile, String> {
    let url =
        resolve(page_url, &file.url).map_err(|err| format!("file {:?}: {err}", file.filename))?;
    Ok(DistFile {
        sha256: sha256(&file.hashes),
        url,
        size: file.size,
        requires_python: file.requires_python.filter(|spec| !spec.trim().is_empty()),
        yanked: file.yanked.and_then(Yanked::reason),
        upload_time: file.upload_time,
        filename: file.filename,
    })
}

/// `href` resolved against `base`, without a fragment.
pub(crate) fn resolve(base: &Url, href: &str) -> Result<String, String> {
    let mut url = base
        .join(href)
        .map_err(|err| format!("bad URL {href:?}: {err}"))?;
    url.set_fragment(None);
    Ok(url.into())
}

/// The lower-case hex sha256 among `hashes`, when it is one.
pub(crate) fn sha256(hashes: &BTreeMap<String, String>) -> Option<String> {
    hashes
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("sha256"))
        .map(|(_, digest)| digest.to_ascii_lowercase())
        .filter(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e6a52a8e5e1d5e2e4d0c3b0a9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

    fn page() -> Url {
        Url::parse("https://pypi.example.org/simple/markupsafe/").unwrap()
    }

    #[test]
    fn reads_a_pypi_page() {
        let json = format!(
            r#"{{"meta": {{"_last-serial": 1, "api-version": "1.4"}}, "name": "markupsafe",
            "versions": ["3.0.3"], "project-status": {{"status": "active"}},
            "files": [
              {{"core-metadata": {{"sha256": "{SHA}"}}, "data-dist-info-metadata": {{"sha256": "{SHA}"}},
                "filename": "markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "hashes": {{"sha256": "{SHA}"}}, "provenance": null, "requires-python": ">=3.9",
                "size": 23456, "upload-time": "2025-09-27T18:37:36.123456Z",
                "url": "https://files.example.org/packages/ab/cd/markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "yanked": false}},
              {{"filename": "MarkupSafe-2.0.0.tar.gz", "hashes": {{"md5": "00", "sha256": "{SHA}"}},
                "requires-python": ">=3.6", "url": "https://files.example.org/MarkupSafe-2.0.0.tar.gz",
                "yanked": "broken on Windows"}},
              {{"filename": "MarkupSafe-0.11.tar.gz", "hashes": {{}}, "requires-python": null,
                "url": "https://files.example.org/MarkupSafe-0.11.tar.gz", "yanked": true}}
            ]}}"#
        );
        let files = parse(&json, &page()).unwrap();
        assert_eq!(files.len(), 3);
        let wheel = &files[0];
        assert_eq!(
            wheel.filename,
            "markupsafe-3.0.3-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        );
        assert_eq!(wheel.sha256.as_deref(), Some(SHA));
        assert_eq!(wheel.size, Some(23456));
        assert_eq!(wheel.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(wheel.yanked, None);
        assert_eq!(
            wheel.upload_time.as_deref(),
            Some("2025-09-27T18:37:36.123456Z")
        );
        assert_eq!(files[1].yanked.as_deref(), Some("broken on Windows"));
        assert_eq!(files[1].size, None);
        assert_eq!(files[2].yanked.as_deref(), Some(""));
        assert_eq!(files[2].sha256, None);
        assert_eq!(files[2].requires_python, None);
    }

    #[test]
    fn a_listing_has_the_serial_and_the_files_with_metadata() {
        let json = format!(
            r#"{{"meta": {{"_last-serial": "41753165", "api-version": "1.1"}},
            "files": [
              {{"filename": "a-1-py3-none-any.whl", "url": "a-1-py3-none-any.whl",
                "hashes": {{"sha256": "{SHA}"}}, "core-metadata": {{"sha256": "{SHA}"}}}},
              {{"filename": "a-2-py3-none-any.whl", "url": "a-2-py3-none-any.whl",
                "hashes": {{}}, "data-dist-info-metadata": true}},
              {{"filename": "a-3-py3-none-any.whl", "url": "a-3-py3-none-any.whl",
                "hashes": {{}}, "core-metadata": false}},
              {{"filename": "a-3.tar.gz", "url": "a-3.tar.gz", "hashes": {{}}}}
            ]}}"#
        );
        let listed = parse_listing(&json, &page()).unwrap();
        assert_eq!(listed.files.len(), 4);
        assert_eq!(listed.serial, Some(41753165));
        assert_eq!(
            listed.core_metadata.into_iter().collect::<Vec<_>>(),
            ["a-1-py3-none-any.whl", "a-2-py3-none-any.whl"]
        );
        let bare = parse_listing(r#"{"files": []}"#, &page()).unwrap();
        assert_eq!(bare.serial, None);
    }

    #[test]
    fn resolves_relative_urls_and_drops_fragments() {
        let cases = [
            (
                "../../packages/p-1.whl",
                "https://pypi.example.org/packages/p-1.whl",
            ),
            (
                "p-1.whl#sha256=00",
                "https://pypi.example.org/simple/markupsafe/p-1.whl",
            ),
            ("/files/p-1.whl", "https://pypi.example.org/files/p-1.whl"),
            ("//cdn.example/p-1.whl", "https://cdn.example/p-1.whl"),
            (
                "http://other.example/p-1.whl",
                "http://other.example/p-1.whl",
            ),
        ];
        for (href, want) in cases {
            let json = format!(
                r#"{{"files": [{{"filename": "p-1.whl", "url": "{href}", "hashes": {{}}}}]}}"#
            );
            let files = parse(&json, &page()).unwrap();
            assert_eq!(files[0].url, want, "{href}");
        }
    }

    #[test]
    fn says_what_is_wrong_with_a_bad_page() {
        let cases = [
            ("<html></html>", "not PEP 691 JSON"),
            (
                r#"{"files": [{"filename": "p-1.whl"}]}"#,
                "missing field `url`",
            ),
            (
                r#"{"meta": {"api-version": "2.0"}, "files": []}"#,
                "unsupported API version \"2.0\"",
            ),
            (
                r#"{"files": [{"filename": "p-1.whl", "url": "http://[::1", "hashes": {}}]}"#,
                "file \"p-1.whl\": bad URL \"http://[::1\"",
            ),
            (
                r#"{"files": [{"filename": "p", "url": "u", "yanked": 3}]}"#,
                "not PEP 691 JSON",
            ),
        ];
        for (json, want) in cases {
            let err = parse(json, &page()).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn accepts_a_minimal_page() {
        assert_eq!(parse("{}", &page()).unwrap(), vec![]);
        assert_eq!(
            parse(r#"{"meta": {"api-version": "1.0"}, "files": []}"#, &page()).unwrap(),
            vec![]
        );
    }
}
