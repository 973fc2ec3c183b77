//! GET (and POST) requests with bounded concurrency and retries: the loop that sends, classifies what
//! came back (transient or final), waits with backoff and tries again, and counts every
//! request and body byte on the way.
//!
//! A server that has not answered once in this run is not waited for again and again: its
//! requests that get no response are retried only within the client's timeout, and once one
//! gives up, every later request to that host fails at once with the same cause (one clear
//! error instead of one slow failure per package). A server that answered before and then
//! stops is retried as usual: that is a blip, not an index that is not there.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_LENGTH, HeaderMap, RETRY_AFTER};
use url::Url;

use super::limiter::Limiter;
use super::retry::{RetryPolicy, is_retryable_status};
use super::{FetchError, NetStats};

/// Why one attempt did not give an answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth another try, after `wait` if the server asked for a pause, else after backoff.
    Retry(FetchError, Option<Duration>),
    /// No response at all (refused, reset, timed out, DNS): worth another try, within the
    /// client's patience while the server has never answered. `timed_out`: the attempt waited
    /// the whole timeout.
    NoAnswer { error: FetchError, timed_out: bool },
    /// Final: trying again would get the same answer.
    Fail(FetchError),
}

/// Counters shared by every thread using one client.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> NetStats {
        NetStats {
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// The HTTP client with its concurrency bound, retry policy and counters.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) http: Client,
    pub(crate) limiter: Limiter,
    pub(crate) policy: RetryPolicy,
    pub(crate) counters: Counters,
    /// How long to keep trying a server that has never answered (the client's timeout).
    pub(crate) patience: Duration,
    pub(crate) hosts: Hosts,
}

/// What each host has done so far in this run.
#[derive(Debug, Default)]
pub(crate) struct Hosts(Mutex<HashMap<String, Health>>);

#[derive(Debug, Default, Clone)]
struct Health {
    /// It sent a response (any status) at least once.
    answered: bool,
    /// It never answered and a request gave up on it: why.
    down: Option<String>,
}

impl Hosts {
    fn with<T>(&self, host: &str, f: impl FnOnce(&mut Health) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(host.to_string()).or_default())
    }

    /// The cause, when `host` never answered and a request gave up on it.
    pub(crate) fn down(&self, host: &str) -> Option<String> {
        self.with(host, |h| h.down.clone())
    }

    /// The first host found down, with its cause.
    pub(crate) fn any_down(&self) -> Option<(String, String)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .find_map(|(host, h)| Some((host.clone(), h.down.clone()?)))
    }
}

/// A response whose status is not transient, handed to the caller to read.
pub(crate) struct Reply<'a> {
    response: Response,
    /// The URL as asked, for error messages.
    asked: &'a str,
    counters: &'a Counters,
}

impl Transport {
    /// GETs `url` with `headers` until `read` accepts a reply, `read` or the server fails
    /// for good, or the retries run out. A permit of the concurrency bound is held for each
    /// attempt (request and body), not while waiting to retry.
    pub(crate) fn get<T>(
        &self,
        url: &str,
        headers: &HeaderMap,
        read: impl FnMut(Reply<'_>) -> Result<T, Failure>,
    ) -> Result<T, FetchError> {
        self.send(url, headers, None, read)
    }

    /// POSTs `body` to `url` with `headers`, with the retries of [`Transport::get`] (for
    /// calls that only read, such as XML-RPC queries, which are safe to send again).
    pub(crate) fn post<T>(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
        read: impl FnMut(Reply<'_>) -> Result<T, Failure>,
    ) -> Result<T, FetchError> {
        self.send(url, headers, Some(body), read)
    }

    /// GETs `url`, or POSTs `body` to it when there is one.
    fn send<T>(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        mut read: impl FnMut(Reply<'_>) -> Result<T, Failure>,
    ) -> Result<T, FetchError> {
        let parsed = Url::parse(url).map_err(|err| FetchError::Protocol {
            url: url.to_string(),
            message: format!("not a valid URL: {err}"),
        })?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let started = Instant::now();
        let mut retry = 0;
        loop {
            if let Some(cause) = self.hosts.down(&host) {
                return Err(FetchError::Network {
                    url: url.to_string(),
                    message: format!("{cause} (no answer from {host} in this run)"),
                });
            }
            let outcome = {
                let _permit = self.limiter.acquire();
                self.attempt(url, &parsed, headers, body, &mut read)
            };
            let (error, wait) = match outcome {
                Ok(value) => return Ok(value),
                Err(Failure::Fail(error)) => return Err(error),
                Err(Failure::Retry(error, wait)) => (error, wait),
                Err(Failure::NoAnswer { error, timed_out }) => {
                    let never_answered = !self.hosts.with(&host, |h| h.answered);
                    let pause = self.policy.backoff(retry);
                    // Before any answer, a timeout has used the patience up on its own;
                    // failures that come at once are tried again within it.
                    let out_of_patience =
                        never_answered && (timed_out || started.elapsed() + pause > self.patience);
                    if out_of_patience || retry >= self.policy.max_retries {
                        let error = gave_up(error, retry + 1);
                        if never_answered {
                            self.hosts.with(&host, |h| {
                                h.down.get_or_insert_with(|| error_cause(&error));
                            });
                        }
                        return Err(error);
                    }
                    (error, Some(pause))
                }
            };
            if retry >= self.policy.max_retries {
                return Err(gave_up(error, retry + 1));
            }
            std::thread::sleep(wait.unwrap_or_else(|| self.policy.backoff(retry)));
            retry += 1;
        }
    }

    fn attempt<T>(
        &self,
        asked: &str,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        read: &mut impl FnMut(Reply<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let request = match body {
            None => self.http.get(url.clone()),
            Some(body) => self.http.post(url.clone()).body(body.to_vec()),
        };
        let response = request
            .headers(headers.clone())
            .send()
            .map_err(|err| send_failure(asked, &err))?;
        if let Some(host) = url.host_str() {
            self.hosts.with(host, |h| h.answered = true);
        }
        let reply = Reply {
            response,
            asked,
            counters: &self.counters,
        };
        self.check_transient(&reply)?;
        read(reply)
    }

    /// A 429, 5xx or 408 is retried, after the server's `Retry-After` when it is short; one
    /// that asks for a longer pause than the policy allows ends the request.
    fn check_transient(&self, reply: &Reply<'_>) -> Result<(), Failure> {
        let status = reply.status();
        if !is_retryable_status(status) {
            return Ok(());
        }
        let error = reply.status_error();
        match self.policy.retry_after(reply.header(RETRY_AFTER.as_str())) {
            Ok(wait) => Err(Failure::Retry(error, wait)),
            Err(_too_long) => Err(Failure::Fail(error)),
        }
    }
}

impl Reply<'_> {
    pub(crate) fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// A header's value, when it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name)?.to_str().ok()
    }

    /// Where the answer came from, after redirects.
    pub(crate) fn final_url(&self) -> &Url {
        self.response.url()
    }

    /// The final failure for this reply's status.
    pub(crate) fn status_error(&self) -> FetchError {
        FetchError::Status {
            url: self.asked.to_string(),
            status: self.status(),
        }
    }

    /// A final protocol failure with `message`.
    pub(crate) fn protocol_error(&self, message: String) -> Failure {
        Failure::Fail(FetchError::Protocol {
            url: self.asked.to_string(),
            message,
        })
    }

    /// The whole body. A body that ends before its `Content-Length` (or `expected`, when
    /// given) or a connection lost while reading is retried; one longer than `expected` is
    /// a protocol failure.
    pub(crate) fn read_body(mut self, expected: Option<u64>) -> Result<Vec<u8>, Failure> {
        let announced = self
            .header(CONTENT_LENGTH.as_str())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if let (Some(announced), Some(expected)) = (announced, expected)
            && announced > expected
        {
            return Err(self.protocol_error(format!(
                "Content-Length {announced} is more than the {expected} bytes asked for"
            )));
        }
        let body = self.read_all(expected)?;
        let want = expected.or(announced);
        match want {
            Some(want) if (body.len() as u64) < want => Err(self.truncated(body.len(), want)),
            _ => Ok(body),
        }
    }

    /// Reads to the end (or one byte past `limit`), counting bytes as they arrive.
    fn read_all(&mut self, limit: Option<u64>) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match self.response.read(&mut chunk) {
                Ok(0) => return Ok(body),
                Ok(n) => n,
                Err(err) => return Err(self.lost(body.len(), &err)),
            };
            self.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
            body.extend_from_slice(&chunk[..n]);
            if let Some(limit) = limit.filter(|&limit| body.len() as u64 > limit) {
                return Err(self.protocol_error(format!(
                    "the body is longer than the {limit} bytes announced"
                )));
            }
        }
    }

    fn truncated(&self, got: usize, want: u64) -> Failure {
        Failure::Retry(
            FetchError::Network {
                url: self.asked.to_string(),
                message: format!("truncated body: {got} of {want} bytes"),
            },
            None,
        )
    }

    fn lost(&self, got: usize, err: &std::io::Error) -> Failure {
        Failure::Retry(
            FetchError::Network {
                url: self.asked.to_string(),
                message: format!("connection lost after {got} bytes of the body: {err}"),
            },
            None,
        )
    }
}

/// A request that got no response: final for a bad request or a redirect loop, retried for
/// everything else (refused or reset connections, timeouts, TLS and DNS hiccups).
fn send_failure(url: &str, err: &reqwest::Error) -> Failure {
    let error = FetchError::Network {
        url: url.to_string(),
        message: describe(err),
    };
    if err.is_builder() || err.is_redirect() {
        Failure::Fail(error)
    } else {
        Failure::NoAnswer {
            error,
            timed_out: err.is_timeout(),
        }
    }
}

/// The message of a network error, without its URL.
fn error_cause(error: &FetchError) -> String {
    match error {
        FetchError::Network { message, .. } | FetchError::Protocol { message, .. } => {
            message.clone()
        }
        FetchError::Status { status, .. } => format!("HTTP {status}"),
    }
}

/// One line saying what went wrong, from the innermost cause (reqwest's own message names
/// the URL, which the caller's error already does).
fn describe(err: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    let cause = root.to_string();
    if err.is_timeout() {
        format!("timed out ({cause})")
    } else if err.is_connect() {
        format!("cannot connect ({cause})")
    } else if err.is_redirect() {
        "too many redirects".to_string()
    } else {
        cause
    }
}

/// The last attempt's error, saying how many attempts were made.
fn gave_up(error: FetchError, attempts: u32) -> FetchError {
    let note = |message: String| format!("{message} (gave up after {attempts} attempts)");
    match error {
        FetchError::Network { url, message } => FetchError::Network {
            url,
            message: note(message),
        },
        FetchError::Protocol { url, message } => FetchError::Protocol {
            url,
            message: note(message),
        },
        status @ FetchError::Status { .. } => status,
    }
}
