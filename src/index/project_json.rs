//! The project JSON endpoint (`/pypi/NAME/json`): every release with its files, and which
//! version is the latest; and the release JSON endpoint (`/pypi/NAME/VERSION/json`): the
//! files of one release, a few KB where a busy project's page is megabytes. Mirrors often
//! lack both, and nothing depends on them.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::DistFile;
use super::simple_json::{Yanked, resolve, sha256};

/// What `/pypi/NAME/json` says about a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectJson {
    /// The project's name as its authors spell it (not normalized).
    pub name: String,
    /// The latest release, as the index sees it.
    pub version: Option<String>,
    /// The latest release's `requires-python`.
    pub requires_python: Option<String>,
    /// Files of every release, by version string (in string order, not PEP 440 order).
    pub releases: BTreeMap<String, Vec<DistFile>>,
}

#[derive(Deserialize)]
struct Document {
    info: Info,
    #[serde(default)]
    releases: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
struct Info {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    requires_python: Option<String>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    digests: BTreeMap<String, String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<Yanked>,
    #[serde(default)]
    yanked_reason: Option<String>,
    #[serde(default)]
    upload_time_iso_8601: Option<String>,
}

/// One release's document: its files are under `urls`.
#[derive(Deserialize)]
struct ReleaseDocument {
    info: Info,
    urls: Vec<File>,
}

/// Reads a release JSON document (`/pypi/NAME/VERSION/json`): the version it is about and
/// its files; relative file URLs are resolved against `url`.
pub(crate) fn parse_release(json: &str, url: &Url) -> Result<(String, Vec<DistFile>), String> {
    let document: ReleaseDocument =
        serde_json::from_str(json).map_err(|err| format!("not release JSON: {err}"))?;
    let version = document
        .info
        .version
        .filter(|v| !v.is_empty())
        .ok_or("release JSON without `info.version`")?;
    Ok((version, dist_files(document.urls, url)?))
}

/// Reads a project JSON document; relative file URLs are resolved against `url`. `Err`
/// says what is wrong with it.
pub(crate) fn parse(json: &str, url: &Url) -> Result<ProjectJson, String> {
    let document: Document =
        serde_json::from_str(json).map_err(|err| format!("not project JSON: {err}"))?;
    let releases = document
        .releases
        .into_iter()
        .map(|(version, files)| Ok((version, dist_files(files, url)?)))
        .collect::<Result<_, String>>()?;
    Ok(ProjectJson {
        name: document.info.name,
        version: document.info.version.filter(|v| !v.is_empty()),
        requires_python: non_empty(document.info.requires_python),
        releases,
    })
}

fn dist_files(files: Vec<File>, base: &Url) -> Result<Vec<DistFile>, String> {
    files
        .into_iter()
        .map(|file| dist_file(file, base))
        .collect()
}

fn dist_file(file: File, base: &Url) -> Result<DistFile, String> {
    let url = resolve(base, &file.url).map_err(|err| format!("file {:?}: {err}", file.filename))?;
    let yanked = file.yanked.and_then(Yanked::reason).map(|flagged| {
        // The reason sits beside the flag here, not in it.
        file.yanked_reason
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or(flagged)
    });
    Ok(DistFile {
        sha256: sha256(&file.digests),
        url,
        size: file.size,
        requires_python: non_empty(file.requires_python),
        yanked,
        upload_time: file.upload_time_iso_8601,
        filename: file.filename,
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn url() -> Url {
        Url::parse("https://pypi.example.org/pypi/markupsafe/json").unwrap()
    }

    #[test]
    fn reads_one_release() {
        let json = format!(
            r#"{{"info": {{"name": "MarkupSafe", "version": "3.0.3"}}, "last_serial": 1,
              "urls": [{{"filename": "markupsafe-3.0.3-cp314-cp314t-win_amd64.whl",
                "url": "../../../packages/m.whl", "digests": {{"sha256": "{SHA}"}}, "size": 15000}}]}}"#
        );
        let url = Url::parse("https://pypi.example.org/pypi/markupsafe/3.0.3/json").unwrap();
        let (version, files) = parse_release(&json, &url).unwrap();
        assert_eq!(version, "3.0.3");
        assert_eq!(files[0].url, "https://pypi.example.org/packages/m.whl");
        assert_eq!(files[0].sha256.as_deref(), Some(SHA));
        assert_eq!(files[0].size, Some(15000));
        let err = parse_release(r#"{"info": {"name": "x"}, "urls": []}"#, &url).unwrap_err();
        assert!(err.contains("info.version"), "{err}");
        assert!(parse_release("[]", &url).is_err());
    }

    #[test]
    fn reads_releases_and_the_latest_version() {
        let json = format!(
            r#"{{"info": {{"name": "MarkupSafe", "version": "3.0.3", "requires_python": ">=3.9",
                "summary": "Safely add untrusted strings to HTML/XML markup."}},
              "last_serial": 1,
              "releases": {{
                "3.0.3": [{{"filename": "markupsafe-3.0.3-cp314-cp314t-win_amd64.whl",
                  "url": "https://files.example.org/packages/markupsafe-3.0.3-cp314-cp314t-win_amd64.whl",
                  "digests": {{"blake2b_256": "ff", "md5": "00", "sha256": "{SHA}"}}, "size": 15000,
                  "requires_python": ">=3.9", "yanked": false, "yanked_reason": null,
                  "upload_time_iso_8601": "2025-09-27T18:37:36.123456Z", "packagetype": "bdist_wheel"}}],
                "2.0.0": [{{"filename": "MarkupSafe-2.0.0.tar.gz", "url": "../../packages/MarkupSafe-2.0.0.tar.gz",
                  "digests": {{"sha256": "{SHA}"}}, "requires_python": "", "yanked": true,
                  "yanked_reason": "broken"}}],
                "1.0": [{{"filename": "MarkupSafe-1.0.tar.gz", "url": "/f/MarkupSafe-1.0.tar.gz",
                  "yanked": true, "yanked_reason": null}}],
                "0.1": []
              }},
              "urls": []}}"#
        );
        let project = parse(&json, &url()).unwrap();
        assert_eq!(project.name, "MarkupSafe");
        assert_eq!(project.version.as_deref(), Some("3.0.3"));
        assert_eq!(project.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(
            project.releases.keys().collect::<Vec<_>>(),
            ["0.1", "1.0", "2.0.0", "3.0.3"]
        );
        let wheel = &project.releases["3.0.3"][0];
        assert_eq!(wheel.sha256.as_deref(), Some(SHA));
        assert_eq!(wheel.size, Some(15000));
        assert_eq!(wheel.yanked, None);
        assert_eq!(
            wheel.upload_time.as_deref(),
            Some("2025-09-27T18:37:36.123456Z")
        );
        let sdist = &project.releases["2.0.0"][0];
        assert_eq!(
            sdist.url,
            "https://pypi.example.org/packages/MarkupSafe-2.0.0.tar.gz"
        );
        assert_eq!(sdist.yanked.as_deref(), Some("broken"));
        assert_eq!(sdist.requires_python, None);
        let old = &project.releases["1.0"][0];
        assert_eq!(old.url, "https://pypi.example.org/f/MarkupSafe-1.0.tar.gz");
        assert_eq!(old.yanked.as_deref(), Some(""));
        assert_eq!(old.sha256, None);
    }

    #[test]
    fn says_what_is_wrong() {
        let cases = [
            ("[]", "not project JSON"),
            (r#"{"releases": {}}"#, "missing field `info`"),
            (
                r#"{"info": {"name": "p"}, "releases": {"1": [{"filename": "p-1.whl", "url": "http://[x"}]}}"#,
                "file \"p-1.whl\": bad URL",
            ),
        ];
        for (json, want) in cases {
            let err = parse(json, &url()).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
