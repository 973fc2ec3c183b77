//! What a release claims about free threading: its `Programming Language :: Python :: Free
//! Threading :: …` classifiers, from its core metadata (read by
//! [`crate::index::metadata::read_text`]).

use std::collections::BTreeSet;

use crate::index::Fetch;
use crate::index::metadata::{MetadataError, read_text};
use crate::index::select::Release;
use crate::wheel::metadata::classifiers;

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

/// The release's free-threading classifiers; `Ok(None)` when it has no wheel to read them
/// from. `core_metadata` names the files the index serves PEP 658 metadata for.
pub fn read_classifiers(
    fetch: &dyn Fetch,
    release: &Release,
    core_metadata: &BTreeSet<String>,
) -> Result<Option<Vec<String>>, MetadataError> {
    Ok(read_text(fetch, release, core_metadata)?.map(|text| free_threading(classifiers(&text))))
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
