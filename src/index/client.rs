//! [`IndexClient`]: the package index over HTTP(S). Project pages (PEP 691 JSON or PEP 503
//! HTML, told apart by `Content-Type`), the optional project JSON, and byte ranges of files
//! through [`Fetch`], all with bounded concurrency, retries and counters.
//!
//! The client is `Sync` and cheap to clone: threads share one connection pool, one
//! concurrency bound and one set of counters.
//!
//! Proxies: `HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy`, `ALL_PROXY`/`all_proxy`
//! and `NO_PROXY`/`no_proxy` are honoured, as reqwest reads them by default; with reqwest's
//! `system-proxy` feature (enabled in Cargo.toml) the macOS and Windows system proxy
//! settings are honoured too when those variables are unset.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue,
    RANGE,
};
use url::Url;

use super::content_range::{ContentRange, RangeAsk};
use super::limiter::Limiter;
use super::retry::RetryPolicy;
use super::transport::{Counters, Failure, Reply, Transport};
use super::{
    Fetch, FetchError, Listing, NetStats, ProjectJson, ProjectPage, RangeBody, normalize_name,
    project_json, simple_html, simple_json,
};

/// How gilfree introduces itself to index servers.
pub const USER_AGENT: &str = concat!(
    "gilfree/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/gilfree/gilfree)"
);

/// PyPI's Simple API.
pub const DEFAULT_INDEX_URL: &str = "https://pypi.org/simple/";

/// What the client asks for project pages: PEP 691 JSON, else PEP 503 HTML.
const SIMPLE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";

/// The header in which PyPI (and some mirrors) send a project's change serial.
const SERIAL_HEADER: &str = "x-pypi-last-serial";

const JSON_PAGE_TYPE: &str = "application/vnd.pypi.simple.v1+json";
const HTML_PAGE_TYPES: [&str; 3] = [
    "application/vnd.pypi.simple.v1+html",
    "text/html",
    "application/xhtml+xml",
];

/// Where the index is and how patient to be with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    /// The Simple API's root, e.g. `https://pypi.org/simple/` (a missing final `/` is added).
    pub index_url: String,
    /// The root of `/pypi/NAME/json`; `None` means `../pypi/` from the index URL, which is
    /// where PyPI and its mirrors keep it.
    pub json_api_url: Option<String>,
    /// The XML-RPC endpoint of the change feed; `None` means `../pypi` from the index URL
    /// (`https://pypi.org/pypi` for PyPI).
    pub feed_url: Option<String>,
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait for a response's headers, and for each read of its body.
    pub timeout: Duration,
    /// Retries after the first attempt of each request.
    pub max_retries: u32,
    /// First pause before a retry; it doubles with each retry, up to `backoff_max`, and is
    /// jittered down by up to half.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured; a server asking for more is not retried.
    pub max_retry_after: Duration,
    /// Requests in flight at once, over all threads using the client.
    pub concurrency: usize,
    /// Whether [`IndexClient::release_json`] asks `/pypi/NAME/VERSION/json` at all. On for
    /// PyPI itself (the default index); other indexes rarely serve it. After one 404 the
    /// client stops asking for the rest of its life (a mirror without the endpoint costs one
    /// request, not one per release).
    pub release_json: bool,
    /// Whether to use the proxies the environment names (see the module documentation).
    /// Tests against a server on loopback turn this off, so that a developer's proxy
    /// settings cannot take their requests elsewhere.
    pub proxy_from_env: bool,
}

impl Default for IndexConfig {
    fn default() -> IndexConfig {
        IndexConfig {
            index_url: DEFAULT_INDEX_URL.to_string(),
            json_api_url: None,
            feed_url: None,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
            concurrency: 8,
            release_json: true,
            proxy_from_env: true,
        }
    }
}

impl IndexConfig {
    /// The defaults, for the index at `index_url`.
    pub fn with_index_url(index_url: impl Into<String>) -> IndexConfig {
        let index_url = index_url.into();
        IndexConfig {
            release_json: index_url.trim_end_matches('/')
                == DEFAULT_INDEX_URL.trim_end_matches('/'),
            index_url,
            ..IndexConfig::default()
        }
    }
}

/// Why an index question got no answer.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid index URL {url:?}: {reason}")]
    InvalidIndexUrl { url: String, reason: String },
    #[error("{0:?} is not a valid project name")]
    InvalidName(String),
    #[error("no project named {0:?} on the package index")]
    NoSuchProject(String),
    #[error(
        "cannot reach the package index at {index}: {cause} \
         (check --index-url, and HTTPS_PROXY/NO_PROXY if you are behind a proxy)"
    )]
    Unreachable { index: String, cause: String },
    #[error("{url}: unexpected Content-Type {content_type:?} for a project page")]
    UnsupportedContentType { url: String, content_type: String },
    #[error("{url}: malformed page: {reason}")]
    BadPage { url: String, reason: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// A client of one package index. See the module documentation.
#[derive(Debug, Clone)]
pub struct IndexClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    index: Url,
    json_api: Url,
    /// The change feed's XML-RPC endpoint.
    feed: Url,
    /// Whether `/pypi/NAME/VERSION/json` is worth asking (off after a 404).
    release_json: std::sync::atomic::AtomicBool,
    transport: Transport,
}

/// A page as it arrived: where from (after redirects), its type, and its decoded body.
struct Page {
    url: Url,
    content_type: Option<String>,
    text: String,
    /// `X-PyPI-Last-Serial`, when the server sent it.
    serial: Option<u64>,
}

/// How a project page is written.
enum PageKind {
    Json,
    Html,
}

impl IndexClient {
    /// A client for the index `config` names.
    pub fn new(config: IndexConfig) -> Result<IndexClient, IndexError> {
        let index = root_url(&config.index_url)?;
        let json_api = match &config.json_api_url {
            Some(url) => root_url(url)?,
            None => index
                .join("../pypi/")
                .map_err(|err| IndexError::InvalidIndexUrl {
                    url: config.index_url.clone(),
                    reason: err.to_string(),
                })?,
        };
        let feed = match &config.feed_url {
            Some(url) => endpoint_url(url)?,
            None => endpoint_url(json_api.as_str().trim_end_matches('/'))?,
        };
        let transport = Transport {
            http: http_client(&config)?,
            limiter: Limiter::new(config.concurrency),
            policy: RetryPolicy {
                max_retries: config.max_retries,
                backoff_base: config.backoff_base,
                backoff_max: config.backoff_max,
                max_retry_after: config.max_retry_after,
            },
            counters: Counters::default(),
            patience: config.timeout,
            hosts: Default::default(),
        };
        Ok(IndexClient {
            inner: Arc::new(Inner {
                index,
                json_api,
                feed,
                release_json: std::sync::atomic::AtomicBool::new(config.release_json),
                transport,
            }),
        })
    }

    /// The Simple API root this client reads.
    pub fn index_url(&self) -> &Url {
        &self.inner.index
    }

    /// The XML-RPC endpoint of the index's change feed.
    pub fn feed_url(&self) -> &Url {
        &self.inner.feed
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Requests sent (every attempt, retries included) and body bytes received (as they
    /// came over the wire, before any decompression) so far, by all threads.
    pub fn stats(&self) -> NetStats {
        self.inner.transport.counters.snapshot()
    }

    /// When a server this client asked never answered and a request gave up on it, one line
    /// saying which and why; every later request to it fails at once.
    pub fn down(&self) -> Option<String> {
        let (host, cause) = self.inner.transport.hosts.any_down()?;
        let what = if self.inner.index.host_str() == Some(host.as_str()) {
            format!("the package index at {}", self.inner.index)
        } else {
            format!("the file server {host}")
        };
        Some(format!(
            "{what} does not answer: {cause} (check --index-url, the network, and \
             HTTPS_PROXY/NO_PROXY if you are behind a proxy)"
        ))
    }

    /// The files of project `name` (any spelling; it is normalized). Asks for PEP 691 JSON
    /// and reads whatever the server answers, JSON or HTML, by its `Content-Type`.
    pub fn project(&self, name: &str) -> Result<ProjectPage, IndexError> {
        self.listing(name).map(|listing| listing.page)
    }

    /// The project page of `name` with the index's change serial (the `X-PyPI-Last-Serial`
    /// header, else what the page itself says) and which files have PEP 658 metadata.
    pub fn listing(&self, name: &str) -> Result<Listing, IndexError> {
        let normalized =
            normalize_name(name).ok_or_else(|| IndexError::InvalidName(name.into()))?;
        let url = self.project_url(&normalized)?;
        let page = self
            .page(&url, SIMPLE_ACCEPT)
            .map_err(|err| self.page_error(err, name))?;
        let (files, serial, core_metadata) = match page_kind(&page)? {
            PageKind::Json => simple_json::parse_listing(&page.text, &page.url)
                .map(|l| (l.files, l.serial, l.core_metadata)),
            PageKind::Html => {
                let l = simple_html::parse_listing(&page.text, &page.url);
                Ok((l.files, l.serial, l.core_metadata))
            }
        }
        .map_err(|reason| IndexError::BadPage {
            url: page.url.to_string(),
            reason,
        })?;
        Ok(Listing {
            page: ProjectPage {
                name: normalized,
                files,
            },
            url: page.url.to_string(),
            serial: page.serial.or(serial),
            core_metadata,
        })
    }

    /// What `/pypi/NAME/json` says about project `name`, or `Ok(None)` when the index has no
    /// such endpoint or no such project there (404, 410, or an answer that is not JSON).
    /// Callers use it only to enrich what [`IndexClient::project`] says, and may treat an
    /// `Err` (network trouble, a malformed document) as `None` too.
    pub fn project_json(&self, name: &str) -> Result<Option<ProjectJson>, IndexError> {
        let normalized =
            normalize_name(name).ok_or_else(|| IndexError::InvalidName(name.into()))?;
        let url = self
            .inner
            .json_api
            .join(&format!("{normalized}/json"))
            .map_err(|_| IndexError::InvalidName(name.into()))?;
        let page = match self.page(url.as_str(), "application/json") {
            Ok(page) => page,
            Err(FetchError::Status {
                status: 404 | 410, ..
            }) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if !is_json(page.content_type.as_deref()) {
            return Ok(None);
        }
        project_json::parse(&page.text, &page.url)
            .map(Some)
            .map_err(|reason| IndexError::BadPage {
                url: page.url.to_string(),
                reason,
            })
    }

    /// The files of release `version` of `name` from `/pypi/NAME/VERSION/json`, or
    /// `Ok(None)` when the index has no such endpoint or release there (404, 410, an answer
    /// that is not JSON, or one about another version). Callers fall back to the project's
    /// page on `None`, and may on an `Err` too.
    pub fn release_json(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<ProjectPage>, IndexError> {
        let normalized =
            normalize_name(name).ok_or_else(|| IndexError::InvalidName(name.into()))?;
        let segment = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'!')
                })
        };
        let asking = &self.inner.release_json;
        if !segment(version) || !asking.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let url = self
            .inner
            .json_api
            .join(&format!("{normalized}/{version}/json"))
            .map_err(|_| IndexError::InvalidName(name.into()))?;
        let page = match self.page(url.as_str(), "application/json") {
            Ok(page) => page,
            Err(FetchError::Status {
                status: 404 | 410, ..
            }) => {
                asking.store(false, std::sync::atomic::Ordering::Relaxed);
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        if !is_json(page.content_type.as_deref()) {
            asking.store(false, std::sync::atomic::Ordering::Relaxed);
            return Ok(None);
        }
        let (said, files) =
            project_json::parse_release(&page.text, &page.url).map_err(|reason| {
                IndexError::BadPage {
                    url: page.url.to_string(),
                    reason,
                }
            })?;
        Ok((said == version).then_some(ProjectPage {
            name: normalized,
            files,
        }))
    }

    fn project_url(&self, normalized: &str) -> Result<String, IndexError> {
        self.inner
            .index
            .join(&format!("{normalized}/"))
            .map(String::from)
            .map_err(|_| IndexError::InvalidName(normalized.into()))
    }

    /// GETs a page (gzip allowed: pages compress well, unlike wheels) and decodes it.
    fn page(&self, url: &str, accept: &'static str) -> Result<Page, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        self.inner.transport.get(url, &headers, |reply| {
            if reply.status() != 200 {
                return Err(Failure::Fail(reply.status_error()));
            }
            let encoding = reply
                .header(CONTENT_ENCODING.as_str())
                .map(str::to_ascii_lowercase);
            let url = reply.final_url().clone();
            let content_type = reply.header(CONTENT_TYPE.as_str()).map(str::to_string);
            let serial = reply
                .header(SERIAL_HEADER)
                .and_then(|value| value.trim().parse().ok());
            let raw = reply.read_body(None)?;
            let text = decode_page(&url, encoding.as_deref(), raw)?;
            Ok(Page {
                url,
                content_type,
                text,
                serial,
            })
        })
    }

    /// An index error for a project page that could not be had.
    fn page_error(&self, err: FetchError, name: &str) -> IndexError {
        match err {
            FetchError::Status {
                status: 404 | 410, ..
            } => IndexError::NoSuchProject(name.to_string()),
            FetchError::Network { message, .. } => IndexError::Unreachable {
                index: self.inner.index.to_string(),
                cause: message,
            },
            other => IndexError::Fetch(other),
        }
    }

    /// A ranged GET, checked against what was asked.
    fn ranged(&self, url: &str, ask: RangeAsk) -> Result<RangeBody, FetchError> {
        let mut headers = identity_headers();
        let range = HeaderValue::from_str(&ask.header()).expect("a range header is ASCII");
        headers.insert(RANGE, range);
        self.inner.transport.get(url, &headers, |reply| {
            check_identity(&reply)?;
            match reply.status() {
                206 => read_partial(reply, ask),
                200 => Ok(RangeBody::Full(reply.read_body(None)?)),
                _ => Err(Failure::Fail(reply.status_error())),
            }
        })
    }
}

impl Fetch for IndexClient {
    fn range(&self, url: &str, start: u64, len: u64) -> Result<RangeBody, FetchError> {
        if len == 0 {
            return Ok(RangeBody::Partial {
                bytes: Vec::new(),
                total: None,
            });
        }
        let ask = RangeAsk::span(start, len).ok_or_else(|| FetchError::Protocol {
            url: url.to_string(),
            message: format!("range of {len} bytes from {start} is past the largest offset"),
        })?;
        self.ranged(url, ask)
    }

    fn tail(&self, url: &str, len: u64) -> Result<RangeBody, FetchError> {
        if len == 0 {
            return Ok(RangeBody::Partial {
                bytes: Vec::new(),
                total: None,
            });
        }
        self.ranged(url, RangeAsk::Suffix(len))
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.inner.transport.get(url, &identity_headers(), |reply| {
            check_identity(&reply)?;
            match reply.status() {
                200 => reply.read_body(None),
                206 => Err(reply
                    .protocol_error("206 Partial Content to a request without Range".to_string())),
                _ => Err(Failure::Fail(reply.status_error())),
            }
        })
    }
}

/// A 206's body, after checking its `Content-Range` against the ask; exactly the bytes the
/// header names, or a retry when fewer came.
fn read_partial(reply: Reply<'_>, ask: RangeAsk) -> Result<RangeBody, Failure> {
    let header = reply.header(CONTENT_RANGE.as_str()).unwrap_or_default();
    let content_type = reply.header(CONTENT_TYPE.as_str()).unwrap_or_default();
    if content_type.starts_with("multipart/") {
        return Err(reply.protocol_error(format!("a {content_type} answer to a single range")));
    }
    let Some(got) = ContentRange::parse(header) else {
        return Err(reply.protocol_error(format!(
            "206 with an unreadable Content-Range {header:?} (asked for {})",
            ask.header()
        )));
    };
    ask.check(&got)
        .map_err(|message| reply.protocol_error(message))?;
    let bytes = reply.read_body(Some(got.len()))?;
    Ok(RangeBody::Partial {
        bytes,
        total: got.total,
    })
}

/// File bytes are asked for as they are stored: offsets into a compressed body would be
/// meaningless.
fn identity_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    headers
}

/// A file answered with a `Content-Encoding` despite `identity` is refused.
fn check_identity(reply: &Reply<'_>) -> Result<(), Failure> {
    match reply.header(CONTENT_ENCODING.as_str()).map(str::trim) {
        None | Some("") => Ok(()),
        Some(identity) if identity.eq_ignore_ascii_case("identity") => Ok(()),
        Some(other) => Err(reply.protocol_error(format!(
            "Content-Encoding {other:?} despite Accept-Encoding: identity"
        ))),
    }
}

/// A page's text, gunzipped when it came compressed.
pub(crate) fn decode_page(
    url: &Url,
    encoding: Option<&str>,
    raw: Vec<u8>,
) -> Result<String, Failure> {
    let bytes = match encoding.map(str::trim) {
        None | Some("" | "identity") => raw,
        Some("gzip" | "x-gzip") => gunzip(&raw).map_err(|err| {
            Failure::Retry(
                FetchError::Protocol {
                    url: url.to_string(),
                    message: format!("corrupt gzip body: {err}"),
                },
                None,
            )
        })?,
        Some(other) => {
            return Err(Failure::Fail(FetchError::Protocol {
                url: url.to_string(),
                message: format!("unsupported Content-Encoding {other:?}"),
            }));
        }
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn gunzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw).read_to_end(&mut out)?;
    Ok(out)
}

/// JSON or HTML, by the page's `Content-Type`; a page without one is HTML, as PEP 503
/// pages served from plain file servers often are.
fn page_kind(page: &Page) -> Result<PageKind, IndexError> {
    let Some(content_type) = &page.content_type else {
        return Ok(PageKind::Html);
    };
    let essence = essence(content_type);
    if essence == JSON_PAGE_TYPE {
        Ok(PageKind::Json)
    } else if HTML_PAGE_TYPES.contains(&essence.as_str()) {
        Ok(PageKind::Html)
    } else {
        Err(IndexError::UnsupportedContentType {
            url: page.url.to_string(),
            content_type: content_type.clone(),
        })
    }
}

/// Whether a `Content-Type` is JSON of any kind.
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let essence = essence(value);
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// A media type without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A root URL (http or https) ending with `/`, so that names join below it.
fn root_url(text: &str) -> Result<Url, IndexError> {
    let invalid = |reason: String| IndexError::InvalidIndexUrl {
        url: text.to_string(),
        reason,
    };
    let mut url = Url::parse(text.trim()).map_err(|err| invalid(err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("no host".to_string()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// An endpoint's URL (http or https), as given: no `/` is added.
fn endpoint_url(text: &str) -> Result<Url, IndexError> {
    let mut url = root_url(text)?;
    let slash = Url::parse(text.trim()).map_or(true, |given| given.path().ends_with('/'));
    if !slash {
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
    }
    Ok(url)
}

/// The reqwest client: User-Agent, timeouts, rustls, environment proxies (unless turned
/// off), a pool as large as the concurrency bound.
fn http_client(config: &IndexConfig) -> Result<reqwest::blocking::Client, IndexError> {
    let builder = reqwest::blocking::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout)
        .pool_max_idle_per_host(config.concurrency.max(1));
    let builder = if config.proxy_from_env {
        builder
    } else {
        builder.no_proxy()
    };
    builder
        .build()
        .map_err(|err| IndexError::Setup(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_become_roots() {
        let cases = [
            ("https://pypi.org/simple/", Ok("https://pypi.org/simple/")),
            ("https://pypi.org/simple", Ok("https://pypi.org/simple/")),
            (
                " http://127.0.0.1:8080/root/pypi/+simple?x=1#y ",
                Ok("http://127.0.0.1:8080/root/pypi/+simple/"),
            ),
            ("https://host", Ok("https://host/")),
            (
                "ftp://host/simple/",
                Err("scheme \"ftp\" is not http or https"),
            ),
            ("pypi.org/simple", Err("relative URL without a base")),
            ("mailto:x@y", Err("scheme \"mailto\"")),
        ];
        for (text, want) in cases {
            match (root_url(text), want) {
                (Ok(url), Ok(want)) => assert_eq!(url.as_str(), want, "{text}"),
                (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{text}: {err}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_json_api_sits_beside_the_simple_api() {
        let cases = [
            ("https://pypi.org/simple/", "https://pypi.org/pypi/"),
            (
                "https://mirror.example/pypi/simple",
                "https://mirror.example/pypi/pypi/",
            ),
            ("https://mirror.example/", "https://mirror.example/pypi/"),
        ];
        for (index, want) in cases {
            let client = IndexClient::new(IndexConfig::with_index_url(index)).unwrap();
            assert_eq!(client.inner.json_api.as_str(), want, "{index}");
        }
    }

    #[test]
    fn the_change_feed_sits_beside_the_simple_api() {
        let cases = [
            ("https://pypi.org/simple/", None, "https://pypi.org/pypi"),
            ("https://pypi.org/simple", None, "https://pypi.org/pypi"),
            (
                "https://mirror.example/pypi/simple/",
                None,
                "https://mirror.example/pypi/pypi",
            ),
            (
                "https://mirror.example/",
                None,
                "https://mirror.example/pypi",
            ),
            (
                "https://mirror.example/simple/",
                Some("https://feed.example/RPC2"),
                "https://feed.example/RPC2",
            ),
            (
                "https://mirror.example/simple/",
                Some("https://feed.example/xmlrpc/"),
                "https://feed.example/xmlrpc/",
            ),
        ];
        for (index, feed, want) in cases {
            let config = IndexConfig {
                feed_url: feed.map(str::to_string),
                ..IndexConfig::with_index_url(index)
            };
            let client = IndexClient::new(config).unwrap();
            assert_eq!(client.feed_url().as_str(), want, "{index} {feed:?}");
        }
    }

    #[test]
    fn pages_are_told_apart_by_content_type() {
        let page = |content_type: Option<&str>| Page {
            url: Url::parse("https://i.example/simple/p/").unwrap(),
            content_type: content_type.map(str::to_string),
            text: String::new(),
            serial: None,
        };
        let cases = [
            (Some("application/vnd.pypi.simple.v1+json"), Some(true)),
            (
                Some("Application/VND.PyPI.Simple.v1+JSON; charset=utf-8"),
                Some(true),
            ),
            (Some("application/vnd.pypi.simple.v1+html"), Some(false)),
            (Some("text/html; charset=utf-8"), Some(false)),
            (Some("application/xhtml+xml"), Some(false)),
            (None, Some(false)),
            (Some("application/json"), None),
            (Some("text/plain"), None),
        ];
        for (content_type, want) in cases {
            let got = page_kind(&page(content_type)).map(|kind| matches!(kind, PageKind::Json));
            assert_eq!(got.ok(), want, "{content_type:?}");
        }
        let err = page_kind(&page(Some("text/plain"))).err().unwrap();
        assert_eq!(
            err.to_string(),
            "https://i.example/simple/p/: unexpected Content-Type \"text/plain\" for a project page"
        );
    }

    #[test]
    fn user_agent_names_gilfree_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!(
                "gilfree/{} (+https://github.com/gilfree/gilfree)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn errors_name_the_offending_value() {
        let cases = [
            (
                IndexError::InvalidName("a/b".into()),
                "\"a/b\" is not a valid project name",
            ),
            (
                IndexError::NoSuchProject("nope".into()),
                "no project named \"nope\" on the package index",
            ),
            (
                IndexError::Unreachable {
                    index: "https://pypi.org/simple/".into(),
                    cause: "cannot connect (Connection refused)".into(),
                },
                "cannot reach the package index at https://pypi.org/simple/: cannot connect (Connection refused) (check --index-url, and HTTPS_PROXY/NO_PROXY if you are behind a proxy)",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
