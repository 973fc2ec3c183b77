//! A project page with what a crawl needs besides the files: the index's change serial
//! (PyPI's `_last-serial`, in the JSON page's `meta`, the `X-PyPI-Last-Serial` header or the
//! HTML page's `<!--SERIAL n-->` comment) and which files have a PEP 658 metadata file
//! next to them (`core-metadata` / `data-dist-info-metadata`).

use std::collections::BTreeSet;

use super::ProjectPage;

/// A project page as the crawl reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub page: ProjectPage,
    /// The page's final URL (after redirects).
    pub url: String,
    /// The index's serial for the project: it moves whenever the project changes. `None`
    /// when the index gives none.
    pub serial: Option<u64>,
    /// File names whose core metadata the index serves at `URL.metadata` (PEP 658/714).
    pub core_metadata: BTreeSet<String>,
}

/// Whether a PEP 691 `core-metadata` (or `data-dist-info-metadata`) value says a metadata
/// file exists: `true` or a table of hashes; `false`, `null` or anything else says no.
pub(crate) fn json_says_metadata(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Object(_) => true,
        _ => false,
    }
}

/// Whether a PEP 503 `data-core-metadata` attribute's value says a metadata file exists:
/// bare, `true`, or `sha256=…`; `false` says no.
pub(crate) fn html_says_metadata(value: &str) -> bool {
    !value.trim().eq_ignore_ascii_case("false")
}

/// A serial as the JSON page writes it: a number, or a number in a string (the mirror this
/// project meets writes `"_last-serial": "41753165"`).
pub(crate) fn serial_of(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The serial of PyPI's HTML pages, written as a comment `<!--SERIAL 12345-->`.
pub(crate) fn html_comment_serial(comment: &str) -> Option<u64> {
    comment.trim().strip_prefix("SERIAL")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serials_as_numbers_strings_and_comments() {
        assert_eq!(serial_of(&json!(41753165)), Some(41753165));
        assert_eq!(serial_of(&json!("41753165")), Some(41753165));
        assert_eq!(serial_of(&json!("soon")), None);
        assert_eq!(serial_of(&json!(null)), None);
        assert_eq!(html_comment_serial("SERIAL 12"), Some(12));
        assert_eq!(html_comment_serial(" SERIAL  12 "), Some(12));
        assert_eq!(html_comment_serial("a comment"), None);
    }

    #[test]
    fn metadata_markers() {
        assert!(json_says_metadata(&json!(true)));
        assert!(json_says_metadata(&json!({"sha256": "00"})));
        assert!(!json_says_metadata(&json!(false)));
        assert!(!json_says_metadata(&json!(null)));
        assert!(html_says_metadata(""));
        assert!(html_says_metadata("sha256=00"));
        assert!(html_says_metadata("true"));
        assert!(!html_says_metadata("false"));
    }
}
