//! Single byte ranges: the `Range` header we send and the `Content-Range` header a
//! `206 Partial Content` answers with, and whether the answer is what was asked for.

use std::fmt;

/// A range we ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAsk {
    /// Bytes `first..=last`.
    Span { first: u64, last: u64 },
    /// The last `n` bytes (`n > 0`).
    Suffix(u64),
}

/// What a `Content-Range: bytes first-last/total` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// `None` for `*` (length unknown to the server).
    pub(crate) total: Option<u64>,
}

impl RangeAsk {
    /// `[start, start + len)`; `None` when empty or past `u64::MAX`.
    pub(crate) fn span(start: u64, len: u64) -> Option<RangeAsk> {
        let last = start.checked_add(len.checked_sub(1)?)?;
        Some(RangeAsk::Span { first: start, last })
    }

    /// The value of the `Range` header.
    pub(crate) fn header(&self) -> String {
        match self {
            RangeAsk::Span { first, last } => format!("bytes={first}-{last}"),
            RangeAsk::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// Whether `got` is a correct answer to this ask. A server may send fewer bytes than asked
    /// only when the file ends sooner, which it must then say with a known total.
    pub(crate) fn check(&self, got: &ContentRange) -> Result<(), String> {
        let fits = match (*self, got.total) {
            (RangeAsk::Span { first, last }, total) => {
                got.first == first
                    && (got.last == last || (got.last < last && total == Some(got.last + 1)))
            }
            (RangeAsk::Suffix(n), Some(total)) => {
                got.last + 1 == total && got.first == total.saturating_sub(n)
            }
            (RangeAsk::Suffix(n), None) => got.len() <= n,
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "asked for {}, the server sent Content-Range: {got}",
                self.header()
            ))
        }
    }
}

impl ContentRange {
    /// Parses `bytes first-last/total` or `bytes first-last/*`; `None` for anything else
    /// (including the `bytes */total` of a 416, which names no range).
    pub(crate) fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (span, total) = rest.split_once('/')?;
        let (first, last) = span.trim().split_once('-')?;
        let first: u64 = first.trim().parse().ok()?;
        let last: u64 = last.trim().parse().ok()?;
        let total = match total.trim() {
            "*" => None,
            digits => Some(digits.parse::<u64>().ok()?),
        };
        let consistent = first <= last && total.is_none_or(|total| last < total);
        consistent.then_some(ContentRange { first, last, total })
    }

    /// How many bytes the range covers.
    pub(crate) fn len(&self) -> u64 {
        self.last - self.first + 1
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/", self.first, self.last)?;
        match self.total {
            Some(total) => write!(f, "{total}"),
            None => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(first: u64, last: u64, total: Option<u64>) -> ContentRange {
        ContentRange { first, last, total }
    }

    #[test]
    fn parses_content_range() {
        let cases = [
            ("bytes 0-99/1000", Some(cr(0, 99, Some(1000)))),
            ("bytes 978-999/1000", Some(cr(978, 999, Some(1000)))),
            ("  bytes  5-5/*", Some(cr(5, 5, None))),
            ("bytes 0-999/1000", Some(cr(0, 999, Some(1000)))),
            ("bytes */1000", None),
            ("bytes 10-5/1000", None),
            ("bytes 0-1000/1000", None),
            ("items 0-9/10", None),
            ("bytes 0-9", None),
            ("bytes a-9/10", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(ContentRange::parse(value), want, "{value:?}");
        }
    }

    #[test]
    fn formats_range_headers() {
        assert_eq!(RangeAsk::span(0, 100).unwrap().header(), "bytes=0-99");
        assert_eq!(RangeAsk::span(7, 1).unwrap().header(), "bytes=7-7");
        assert_eq!(RangeAsk::Suffix(22).header(), "bytes=-22");
        assert_eq!(RangeAsk::span(5, 0), None);
        assert_eq!(RangeAsk::span(u64::MAX, 2), None);
    }

    #[test]
    fn checks_answers_against_the_ask() {
        let span = RangeAsk::span(100, 50).unwrap();
        let suffix = RangeAsk::Suffix(22);
        let cases = [
            (span, cr(100, 149, Some(1000)), true),
            (span, cr(100, 149, None), true),
            (span, cr(100, 119, Some(120)), true),
            (span, cr(100, 119, None), false),
            (span, cr(100, 119, Some(1000)), false),
            (span, cr(0, 149, Some(1000)), false),
            (span, cr(101, 150, Some(1000)), false),
            (suffix, cr(978, 999, Some(1000)), true),
            (suffix, cr(0, 9, Some(10)), true),
            (suffix, cr(977, 998, Some(1000)), false),
            (suffix, cr(0, 999, Some(1000)), false),
            (suffix, cr(5, 26, None), true),
            (suffix, cr(0, 99, None), false),
        ];
        for (ask, got, ok) in cases {
            assert_eq!(ask.check(&got).is_ok(), ok, "{ask:?} answered by {got}");
        }
        let message = span.check(&cr(0, 9, Some(10))).unwrap_err();
        assert_eq!(
            message,
            "asked for bytes=100-149, the server sent Content-Range: bytes 0-9/10"
        );
    }
}
