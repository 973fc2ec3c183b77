//! The cache of index pages: a page fetched recently enough is answered from the store, and
//! an older one still lends its validators (`ETag`, `Last-Modified`) to a conditional request.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::codec::{self, to_sql_count};
use super::error::{Context, StoreError};

/// A page as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The response's `Content-Type`.
    pub content_type: String,
    pub body: Vec<u8>,
    /// The response's `ETag`, for `If-None-Match`.
    pub etag: Option<String>,
    /// The response's `Last-Modified`, for `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// A cached page with the time it was fetched (or last confirmed unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPage {
    pub page: Page,
    pub fetched_at: SystemTime,
}

impl Store {
    /// Caches `page` as the current content of `url`, fetched now (replacing any older copy).
    pub fn save_page(&mut self, url: &str, page: &Page) -> Result<(), StoreError> {
        let now = self.now();
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO page_cache
                   (url, content_type, body, etag, last_modified, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    url,
                    page.content_type,
                    page.body,
                    page.etag,
                    page.last_modified,
                    now
                ])
            })
            .context(|| format!("caching the page {url}"))?;
        Ok(())
    }

    /// The cached page of `url` if it was fetched at most `max_age` ago (whole seconds; a
    /// page stamped in the future, after the clock went back, counts as expired).
    pub fn cached_page(&self, url: &str, max_age: Duration) -> Result<Option<Page>, StoreError> {
        let now = self.now();
        let Some(cached) = self.stored_page(url)? else {
            return Ok(None);
        };
        let age = now - codec::unix_seconds(cached.fetched_at);
        let fresh = (0..=to_sql_count(max_age.as_secs())).contains(&age);
        Ok(fresh.then_some(cached.page))
    }

    /// The cached page of `url` whatever its age, for a conditional request.
    pub fn stored_page(&self, url: &str) -> Result<Option<CachedPage>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT content_type, body, etag, last_modified, fetched_at
                 FROM page_cache WHERE url = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([url], |r| {
                    Ok(CachedPage {
                        page: Page {
                            content_type: r.get(0)?,
                            body: r.get(1)?,
                            etag: r.get(2)?,
                            last_modified: r.get(3)?,
                        },
                        fetched_at: codec::from_unix_seconds(r.get(4)?),
                    })
                })
                .optional()
            })
            .context(|| format!("reading the cached page {url}"))
    }

    /// Marks the cached page of `url` as fetched now (the server answered `304 Not
    /// Modified`); `false` when there is no such page.
    pub fn refresh_page(&mut self, url: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let changed = self
            .conn
            .prepare_cached("UPDATE page_cache SET fetched_at = ?2 WHERE url = ?1")
            .and_then(|mut stmt| stmt.execute(params![url, now]))
            .context(|| format!("refreshing the cached page {url}"))?;
        Ok(changed == 1)
    }

    /// Drops cached pages fetched more than `age` ago; returns how many.
    pub fn forget_pages_older_than(&mut self, age: Duration) -> Result<u64, StoreError> {
        let cutoff = self.now().saturating_sub(to_sql_count(age.as_secs()));
        let removed = self
            .conn
            .prepare_cached("DELETE FROM page_cache WHERE fetched_at < ?1")
            .and_then(|mut stmt| stmt.execute([cutoff]))
            .context(|| format!("dropping cached pages older than {}s", age.as_secs()))?;
        Ok(removed as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;
    const URL: &str = "https://pypi.org/simple/lxml/";

    fn page(body: &str) -> Page {
        Page {
            content_type: "application/vnd.pypi.simple.v1+json".into(),
            body: body.as_bytes().to_vec(),
            etag: Some("\"abc\"".into()),
            last_modified: None,
        }
    }

    fn store_at(secs: i64) -> Store {
        let mut store = Store::in_memory().unwrap();
        store.fixed_now = Some(secs);
        store
    }

    #[test]
    fn a_page_is_fresh_until_max_age_then_expired() {
        let mut store = store_at(T0);
        store.save_page(URL, &page("{}")).unwrap();
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            store.cached_page(URL, ten_minutes).unwrap(),
            Some(page("{}"))
        );
        store.fixed_now = Some(T0 + 600);
        assert!(
            store.cached_page(URL, ten_minutes).unwrap().is_some(),
            "at the limit"
        );
        store.fixed_now = Some(T0 + 601);
        assert_eq!(store.cached_page(URL, ten_minutes).unwrap(), None);
        let stale = store.stored_page(URL).unwrap().unwrap();
        assert_eq!(stale.page.etag.as_deref(), Some("\"abc\""));
        assert_eq!(stale.fetched_at, codec::from_unix_seconds(T0));
    }

    #[test]
    fn a_page_from_the_future_counts_as_expired() {
        let mut store = store_at(T0);
        store.save_page(URL, &page("{}")).unwrap();
        store.fixed_now = Some(T0 - 5);
        assert_eq!(
            store.cached_page(URL, Duration::from_secs(3600)).unwrap(),
            None
        );
    }

    #[test]
    fn saving_again_replaces_and_refreshing_extends() {
        let mut store = store_at(T0);
        store.save_page(URL, &page("old")).unwrap();
        store.save_page(URL, &page("new")).unwrap();
        assert_eq!(store.stored_page(URL).unwrap().unwrap().page, page("new"));
        store.fixed_now = Some(T0 + 1000);
        assert!(store.refresh_page(URL).unwrap());
        assert!(!store.refresh_page("https://elsewhere/").unwrap());
        let fresh = store.cached_page(URL, Duration::from_secs(10)).unwrap();
        assert_eq!(fresh, Some(page("new")));
    }

    #[test]
    fn binary_bodies_and_unknown_urls() {
        let mut store = store_at(T0);
        let html = Page {
            content_type: "text/html".into(),
            body: vec![0, 159, 146, 150, 255],
            etag: None,
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        };
        store.save_page(URL, &html).unwrap();
        assert_eq!(store.cached_page(URL, Duration::ZERO).unwrap(), Some(html));
        assert_eq!(
            store.cached_page("https://x/", Duration::MAX).unwrap(),
            None
        );
    }

    #[test]
    fn old_pages_can_be_forgotten() {
        let mut store = store_at(T0);
        store.save_page("https://a/", &page("a")).unwrap();
        store.fixed_now = Some(T0 + 100);
        store.save_page("https://b/", &page("b")).unwrap();
        assert_eq!(
            store
                .forget_pages_older_than(Duration::from_secs(50))
                .unwrap(),
            1
        );
        assert!(store.stored_page("https://a/").unwrap().is_none());
        assert!(store.stored_page("https://b/").unwrap().is_some());
    }
}
