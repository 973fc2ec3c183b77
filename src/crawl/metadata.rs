//! What a release says about itself: its `Programming Language :: Python :: Free
//! Threading :: …` classifiers and its `Project-URL`s, from its core metadata (read by
//! [`crate::index::metadata::read_text`]).

use std::collections::BTreeSet;

use crate::index::Fetch;
use crate::index::metadata::{MetadataError, read_text};
use crate::index::select::Release;
use crate::wheel::metadata::{classifiers, project_urls};

/// The classifiers the crawl keeps.
pub const FREE_THREADING: &str = "Programming Language :: Python :: Free Threading";

/// The free-threading classifiers among `all`, trimmed, sorted and each once.
pub fn free_threading(all: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = all
        .into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| c.starts_with(FREE_THREADING))
        .collect();
    set.into_iter().collect()
}

/// What the crawl keeps of a release's core metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The free-threading classifiers.
    pub classifiers: Vec<String>,
    /// `(label, url)`: where the project lives.
    pub urls: Vec<(String, String)>,
}

/// The release's free-threading classifiers and URLs; `Ok(None)` when it has no wheel to
/// read them from. `core_metadata` names the files the index serves PEP 658 metadata for.
pub fn read_claims(
    fetch: &dyn Fetch,
    release: &Release,
    core_metadata: &BTreeSet<String>,
) -> Result<Option<Claims>, MetadataError> {
    Ok(
        read_text(fetch, release, core_metadata)?.map(|text| Claims {
            classifiers: free_threading(classifiers(&text)),
            urls: project_urls(&text),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_free_threading_classifiers_are_kept() {
        let all = [
            "Programming Language :: Python :: 3.14",
            "Programming Language :: Python :: Free Threading :: 3 - Stable ",
            "Programming Language :: Python :: Free Threading :: 3 - Stable",
            "Programming Language :: Python :: Free Threading :: 1 - Unstable",
        ]
        .map(String::from);
        assert_eq!(
            free_threading(all),
            [
                "Programming Language :: Python :: Free Threading :: 1 - Unstable",
                "Programming Language :: Python :: Free Threading :: 3 - Stable"
            ]
        );
    }
}
