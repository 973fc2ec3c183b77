//! When to try a request again and how long to wait first: exponential backoff with jitter,
//! and `Retry-After` when the server asks for a short enough pause.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// How many times to retry and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt; the total is `max_retries + 1`.
    pub(crate) max_retries: u32,
    /// The first backoff; each later one doubles, up to `backoff_max`.
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    /// The longest `Retry-After` honoured; a server asking for more gets no retry.
    pub(crate) max_retry_after: Duration,
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first retry): `base * 2^retry`,
    /// capped, then scaled by a random factor in `[0.5, 1.0]` so that threads that failed
    /// together do not come back together.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let doubled = self
            .backoff_base
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX));
        let capped = doubled.min(self.backoff_max);
        capped.mul_f64(0.5 + 0.5 * random_fraction())
    }

    /// The pause a `Retry-After` header asks for, when it is a number of seconds within
    /// `max_retry_after`. `Err` carries the pause asked for when it is longer than that.
    /// HTTP-date values are not read: the caller falls back to its own backoff.
    pub(crate) fn retry_after(&self, header: Option<&str>) -> Result<Option<Duration>, Duration> {
        let Some(seconds) = header.and_then(|value| value.trim().parse::<u64>().ok()) else {
            return Ok(None);
        };
        let asked = Duration::from_secs(seconds);
        if asked <= self.max_retry_after {
            Ok(Some(asked))
        } else {
            Err(asked)
        }
    }
}

/// Statuses worth another try: request timeout, rate limiting, and server-side failures.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A number in `[0, 1)` from the standard library's randomly keyed hasher; jitter needs no
/// more than that.
fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(std::thread::current().id());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let policy = policy();
        let cases = [(0, 50, 100), (1, 100, 200), (2, 200, 400), (3, 400, 800)];
        for (retry, low, high) in cases {
            for _ in 0..20 {
                let pause = policy.backoff(retry).as_millis();
                assert!((low..=high).contains(&pause), "retry {retry}: {pause} ms");
            }
        }
        for retry in [4, 10, 31, 32, 1000] {
            let pause = policy.backoff(retry).as_millis();
            assert!((500..=1000).contains(&pause), "retry {retry}: {pause} ms");
        }
    }

    #[test]
    fn retry_after_is_honoured_only_when_small() {
        let policy = policy();
        let cases = [
            (None, Ok(None)),
            (Some("0"), Ok(Some(Duration::ZERO))),
            (Some(" 7 "), Ok(Some(Duration::from_secs(7)))),
            (Some("30"), Ok(Some(Duration::from_secs(30)))),
            (Some("31"), Err(Duration::from_secs(31))),
            (Some("Wed, 21 Oct 2015 07:28:00 GMT"), Ok(None)),
            (Some("-1"), Ok(None)),
        ];
        for (header, want) in cases {
            assert_eq!(policy.retry_after(header), want, "{header:?}");
        }
    }

    #[test]
    fn retries_only_transient_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 206, 301, 400, 401, 403, 404, 410, 416, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
