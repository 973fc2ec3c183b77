//! The index's change feed: PyPI's XML-RPC `changelog_last_serial()` (the serial of the
//! newest event) and `changelog_since_serial(serial)` (the events after it, as
//! `[name, version, timestamp, action, serial]`), POSTed to the index's XML-RPC endpoint
//! (`https://pypi.org/pypi` for `https://pypi.org/simple/`) through the client's
//! transport, with its timeouts, retries, concurrency bound and counters.
//!
//! An index without the endpoint answers 404 (as mirrors do): that is
//! [`FeedError::Status`], and the crawl reads every page instead.

use reqwest::header::HeaderValue;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};

use super::client::{IndexClient, decode_page};
use super::transport::Failure;
use super::xmlrpc::{self, Value, XmlRpcError};
use super::{FetchError, normalize_name};

/// One event of the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The project, PEP 503 normalized; `None` when the feed names something that is not a
    /// project name (it cannot be on a crawl list).
    pub project: Option<String>,
    /// The name as the feed wrote it.
    pub name: String,
    /// The release it is about, if any.
    pub version: Option<String>,
    /// Unix seconds.
    pub timestamp: i64,
    /// What happened (`new release`, `add py3 file …`, `remove project`, `yank release`…).
    pub action: String,
    /// The event's serial: the feed's position.
    pub serial: u64,
}

/// Why the feed gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The endpoint answered with an error status (404: the index has no feed).
    #[error("HTTP {status} at {url}")]
    Status { url: String, status: u16 },
    #[error("{0}")]
    Fetch(FetchError),
    /// The answer is not XML-RPC, or not what the method returns.
    #[error("{url}: {reason}")]
    Malformed { url: String, reason: String },
    /// The method failed on the server.
    #[error("{url}: XML-RPC fault {code}: {message}")]
    Fault {
        url: String,
        code: i64,
        message: String,
    },
}

impl FeedError {
    fn from_xmlrpc(url: &str, err: XmlRpcError) -> FeedError {
        match err {
            XmlRpcError::Fault { code, message } => FeedError::Fault {
                url: url.to_string(),
                code,
                message,
            },
            other => FeedError::Malformed {
                url: url.to_string(),
                reason: other.to_string(),
            },
        }
    }
}

/// `changelog_last_serial()`'s answer: a non-negative integer.
pub fn decode_serial(value: &Value) -> Result<u64, String> {
    value
        .as_int()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "a serial should be a non-negative int, not a {}",
                value.kind()
            )
        })
}

/// `changelog_since_serial()`'s answer: an array of `[name, version, timestamp, action,
/// serial]` arrays (the version may be nil or empty).
pub fn decode_changes(value: Value) -> Result<Vec<Change>, String> {
    let Value::Array(entries) = value else {
        return Err(format!(
            "the changelog should be an array, not a {}",
            value.kind()
        ));
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| decode_change(entry).map_err(|e| format!("changelog entry {i}: {e}")))
        .collect()
}

fn decode_change(entry: Value) -> Result<Change, String> {
    let Value::Array(fields) = entry else {
        return Err(format!(
            "an array of 5 values expected, not a {}",
            entry.kind()
        ));
    };
    let [name, version, timestamp, action, serial] = <[Value; 5]>::try_from(fields)
        .map_err(|fields| format!("5 values expected, not {}", fields.len()))?;
    let Value::String(name) = name else {
        return Err(format!("the name is a {}, not a string", name.kind()));
    };
    let version = match version {
        Value::Nil => None,
        Value::String(v) if v.trim().is_empty() => None,
        Value::String(v) => Some(v),
        other => return Err(format!("the version is a {}, not a string", other.kind())),
    };
    let timestamp = timestamp
        .as_int()
        .ok_or_else(|| format!("the timestamp is a {}, not an int", timestamp.kind()))?;
    let action = match action {
        Value::String(a) => a,
        Value::Nil => String::new(),
        other => return Err(format!("the action is a {}, not a string", other.kind())),
    };
    let serial = decode_serial(&serial).map_err(|e| format!("{e} ({name})"))?;
    Ok(Change {
        project: normalize_name(name.trim()),
        name,
        version,
        timestamp,
        action,
        serial,
    })
}

impl IndexClient {
    /// The serial of the index's newest event.
    pub fn changelog_last_serial(&self) -> Result<u64, FeedError> {
        let value = self.xmlrpc("changelog_last_serial", &[])?;
        decode_serial(&value).map_err(|reason| self.malformed(reason))
    }

    /// The events after `serial`, oldest first, as many as the index gives in one answer
    /// (PyPI gives at most about 50,000: ask again from the last serial for more).
    pub fn changelog_since_serial(&self, serial: u64) -> Result<Vec<Change>, FeedError> {
        let since = i64::try_from(serial).map_err(|_| FeedError::Malformed {
            url: self.feed_url().to_string(),
            reason: format!("serial {serial} is too large for XML-RPC"),
        })?;
        let value = self.xmlrpc("changelog_since_serial", &[Value::Int(since)])?;
        decode_changes(value).map_err(|reason| self.malformed(reason))
    }

    fn malformed(&self, reason: String) -> FeedError {
        FeedError::Malformed {
            url: self.feed_url().to_string(),
            reason,
        }
    }

    /// Calls `method` on the index's XML-RPC endpoint.
    fn xmlrpc(&self, method: &str, params: &[Value]) -> Result<Value, FeedError> {
        let url = self.feed_url().to_string();
        let body = xmlrpc::method_call(method, params);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/xml"));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let text = self
            .transport()
            .post(&url, &headers, body.as_bytes(), |reply| {
                if reply.status() != 200 {
                    return Err(Failure::Fail(reply.status_error()));
                }
                let encoding = reply
                    .header(CONTENT_ENCODING.as_str())
                    .map(str::to_ascii_lowercase);
                let final_url = reply.final_url().clone();
                let raw = reply.read_body(None)?;
                decode_page(&final_url, encoding.as_deref(), raw)
            })
            .map_err(|err| match err {
                FetchError::Status { url, status } => FeedError::Status { url, status },
                other => FeedError::Fetch(other),
            })?;
        xmlrpc::parse_response(&text).map_err(|err| FeedError::from_xmlrpc(&url, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(values: Vec<Value>) -> Value {
        Value::Array(values)
    }

    #[test]
    fn changes_are_decoded_and_names_normalized() {
        use Value::*;
        let s = |t: &str| String(t.to_string());
        let answer = Array(vec![
            entry(vec![
                s("Django"),
                s("5.2"),
                Int(1_765_069_200),
                s("new release"),
                Int(7),
            ]),
            entry(vec![
                s("zope.interface"),
                Nil,
                Int(1),
                s("remove project"),
                Int(8),
            ]),
            entry(vec![s("x"), s(""), Int(1), Nil, Int(9)]),
            entry(vec![s("not a name!"), Nil, Int(1), s("create"), Int(10)]),
        ]);
        let changes = decode_changes(answer).unwrap();
        let got: Vec<_> = changes
            .iter()
            .map(|c| (c.project.as_deref(), c.version.as_deref(), c.serial))
            .collect();
        assert_eq!(
            got,
            [
                (Some("django"), Some("5.2"), 7),
                (Some("zope-interface"), None, 8),
                (Some("x"), None, 9),
                (None, None, 10),
            ]
        );
        assert_eq!(changes[0].action, "new release");
        assert_eq!(changes[0].name, "Django");
    }

    #[test]
    fn bad_changelogs_say_which_entry_and_why() {
        use Value::*;
        let s = |t: &str| String(t.to_string());
        let cases = [
            (Int(3), "the changelog should be an array, not a int"),
            (
                Array(vec![s("x")]),
                "changelog entry 0: an array of 5 values expected",
            ),
            (
                Array(vec![entry(vec![s("x")])]),
                "changelog entry 0: 5 values expected, not 1",
            ),
            (
                Array(vec![entry(vec![Int(1), Nil, Int(1), s("a"), Int(1)])]),
                "the name is a int",
            ),
            (
                Array(vec![entry(vec![s("x"), Int(1), Int(1), s("a"), Int(1)])]),
                "the version is a int",
            ),
            (
                Array(vec![entry(vec![s("x"), Nil, s("now"), s("a"), Int(1)])]),
                "the timestamp is a string",
            ),
            (
                Array(vec![entry(vec![s("x"), Nil, Int(1), s("a"), Int(-1)])]),
                "a serial should be a non-negative int, not a int (x)",
            ),
        ];
        for (value, want) in cases {
            let err = decode_changes(value.clone()).unwrap_err();
            assert!(err.contains(want), "{value:?}: {err}");
        }
        assert_eq!(decode_serial(&Int(5)), Ok(5));
        assert!(decode_serial(&s("5")).is_err());
    }
}
