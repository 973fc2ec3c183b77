//! A release's core metadata (`METADATA`), read as cheaply as the index allows: the PEP 658
//! file when the page advertises one; otherwise (the mirror this project meets answers 404
//! for those) `*.dist-info/METADATA` out of the release's smallest wheel by range requests —
//! the zip's tail and central directory, then that one member. Source distributions are not
//! read (a `.tar.gz` has no index to seek by).

use std::collections::BTreeSet;

use super::remote::RemoteFile;
use super::select::Release;
use super::{DistFile, Fetch, FetchError};
use crate::wheel::{WheelArchive, WheelError, read_central_directory};

/// Largest `METADATA` read (long descriptions make some large; the headers come first).
const METADATA_LIMIT: u64 = 16 << 20;

/// Why a release's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{filename}: {source}")]
    Fetch {
        filename: String,
        #[source]
        source: FetchError,
    },
    #[error("{filename}: {source}")]
    Wheel {
        filename: String,
        #[source]
        source: WheelError,
    },
    #[error("{filename}: no *.dist-info/METADATA member")]
    NoMetadata { filename: String },
}

/// The text of the release's core metadata; `Ok(None)` when it has no wheel to read it
/// from. `core_metadata` names the files the index serves PEP 658 metadata for.
pub fn read_text(
    fetch: &dyn Fetch,
    release: &Release,
    core_metadata: &BTreeSet<String>,
) -> Result<Option<String>, MetadataError> {
    let mut wheels: Vec<&DistFile> = release
        .wheels
        .iter()
        .map(|(_, f)| f)
        .filter(|f| f.yanked.is_none())
        .collect();
    if wheels.is_empty() {
        wheels = release.wheels.iter().map(|(_, f)| f).collect();
    }
    wheels.sort_by_key(|f| (f.size.unwrap_or(u64::MAX), f.filename.clone()));
    if let Some(file) = wheels.iter().find(|f| core_metadata.contains(&f.filename))
        && let Some(text) = pep658(fetch, file)?
    {
        return Ok(Some(text));
    }
    let Some(file) = wheels.first() else {
        return Ok(None);
    };
    from_wheel(fetch, file).map(Some)
}

/// The PEP 658 file next to `file`; `None` when the index does not have it after all.
fn pep658(fetch: &dyn Fetch, file: &DistFile) -> Result<Option<String>, MetadataError> {
    match fetch.get(&format!("{}.metadata", file.url)) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(FetchError::Status {
            status: 404 | 410, ..
        }) => Ok(None),
        Err(source) => Err(MetadataError::Fetch {
            filename: file.filename.clone(),
            source,
        }),
    }
}

/// `*.dist-info/METADATA` of a wheel, read by range requests.
fn from_wheel(fetch: &dyn Fetch, file: &DistFile) -> Result<String, MetadataError> {
    let filename = file.filename.clone();
    let fetch_err = |source| MetadataError::Fetch {
        filename: filename.clone(),
        source,
    };
    let wheel_err = |source| MetadataError::Wheel {
        filename: filename.clone(),
        source,
    };
    let mut remote = RemoteFile::open(fetch, &file.url).map_err(fetch_err)?;
    let (_, members) = read_central_directory(&mut remote, &file.filename).map_err(wheel_err)?;
    let project = file.filename.split('-').next().unwrap_or_default();
    let member = metadata_member(members.iter().map(|m| m.name.as_str()), project)
        .and_then(|name| members.iter().find(|m| m.name == name))
        .ok_or_else(|| MetadataError::NoMetadata {
            filename: file.filename.clone(),
        })?;
    // The local header and the compressed data, in one request when the tail did not hold them.
    remote
        .prefetch(&[member.span(member.compressed_size)])
        .map_err(fetch_err)?;
    let name = member.name.clone();
    let mut archive = WheelArchive::new(remote, &file.filename).map_err(wheel_err)?;
    let bytes = archive
        .read_member_limited(&name, METADATA_LIMIT)
        .map_err(wheel_err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The top-level `NAME-VERSION.dist-info/METADATA` among `names`, preferring the one whose
/// name matches the wheel's distribution.
fn metadata_member<'a>(names: impl Iterator<Item = &'a str>, distribution: &str) -> Option<String> {
    let candidates: Vec<&str> = names
        .filter(|n| {
            n.split_once('/')
                .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "METADATA")
        })
        .collect();
    let wanted = crate::wheel::normalize_name(distribution);
    candidates
        .iter()
        .find(|n| {
            let dir = n.split('/').next().unwrap_or_default();
            crate::wheel::normalize_name(dir.split('-').next().unwrap_or_default()) == wanted
        })
        .or_else(|| candidates.first())
        .map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_member_is_the_top_level_dist_info_one() {
        let names = [
            "pkg/__init__.py",
            "vendored/other-1.0.dist-info/METADATA",
            "other-1.0.dist-info/METADATA",
            "Pkg_Name-1.0.dist-info/METADATA",
            "Pkg_Name-1.0.dist-info/RECORD",
        ];
        assert_eq!(
            metadata_member(names.into_iter(), "pkg_name").as_deref(),
            Some("Pkg_Name-1.0.dist-info/METADATA")
        );
        assert_eq!(
            metadata_member(names.into_iter(), "else").as_deref(),
            Some("other-1.0.dist-info/METADATA")
        );
        assert_eq!(metadata_member(["a/b"].into_iter(), "a"), None);
    }
}
