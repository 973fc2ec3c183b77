//! An installed environment as an audit input: every distribution installed in a virtualenv,
//! a prefix or a site-packages folder becomes a pinned requirement, sourced at the `Version`
//! line of its `METADATA`.
//!
//! Distributions installed from somewhere other than an index (PEP 610 `direct_url.json`:
//! editable checkouts, VCS, local paths, archive URLs) are marked as such. Whether the
//! installed binaries themselves can answer for a target is the audit's decision
//! ([`Parsed::environment`] keeps the folder for it).

use std::path::{Path, PathBuf};

use super::{Kind, LockError, Parsed, Requirement, Source};
use crate::wheel::{InstalledEnv, Platform, PythonTarget};

/// Reads the distributions installed under `path`.
pub fn parse(path: &Path) -> Result<Parsed, LockError> {
    let fail = |message: String| LockError::Environment {
        file: path.to_path_buf(),
        message,
    };
    let env = InstalledEnv::locate(path).map_err(|e| fail(e.to_string()))?;
    // The distributions do not depend on the target; any target lists them.
    let scan = env
        .scan(PythonTarget::Py314t, Platform::LinuxX86_64)
        .map_err(|e| fail(e.to_string()))?;
    let mut parsed = Parsed::new(super::Format::Environment);
    parsed.environment = Some(path.to_path_buf());
    for dist in &scan.distributions {
        let metadata = dist.dist_info.join("METADATA");
        let line = version_line(&metadata).unwrap_or(1);
        let mut req = Requirement::new(&dist.name, Source::new(metadata, line));
        req.version = Some(dist.version.clone());
        req.kind = direct_url_kind(&dist.dist_info);
        parsed.requirements.push(req);
    }
    Ok(parsed)
}

/// The 1-based line of the `Version:` header in a `METADATA` file.
fn version_line(metadata: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(metadata).ok()?;
    text.lines()
        .take_while(|l| !l.is_empty())
        .position(|l| l.starts_with("Version:"))
        .map(|i| i + 1)
}

/// Where a distribution came from, by its PEP 610 `direct_url.json` (absent: an index).
fn direct_url_kind(dist_info: &Path) -> Kind {
    let Ok(text) = std::fs::read_to_string(dist_info.join("direct_url.json")) else {
        return Kind::Index;
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Kind::Url(format!(
            "unreadable {}",
            path_text(dist_info, "direct_url.json")
        ));
    };
    let url = doc["url"].as_str().unwrap_or("an unknown URL").to_string();
    if doc["dir_info"]["editable"].as_bool() == Some(true) {
        Kind::Editable(url)
    } else if doc.get("vcs_info").is_some() {
        Kind::Vcs(url)
    } else if url.starts_with("file:") {
        Kind::Path(url)
    } else {
        Kind::Url(url)
    }
}

fn path_text(dir: &Path, file: &str) -> String {
    PathBuf::from(dir).join(file).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(site: &Path, name: &str, version: &str, direct_url: Option<&str>) {
        let info = site.join(format!("{name}-{version}.dist-info"));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nlong text\nVersion: 0\n"
            ),
        )
        .unwrap();
        std::fs::write(
            info.join("RECORD"),
            format!("{name}-{version}.dist-info/METADATA,,\n"),
        )
        .unwrap();
        if let Some(d) = direct_url {
            std::fs::write(info.join("direct_url.json"), d).unwrap();
        }
    }

    #[test]
    fn every_installed_distribution_is_a_pinned_requirement() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("lib/python3.14t/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(tmp.path().join("pyvenv.cfg"), "version = 3.14.0\n").unwrap();
        dist(&site, "Markup_Safe", "3.0.3", None);
        dist(
            &site,
            "mine",
            "0.1",
            Some(r#"{"url": "file:///src/mine", "dir_info": {"editable": true}}"#),
        );
        dist(
            &site,
            "black",
            "24.1",
            Some(
                r#"{"url": "https://github.com/psf/black", "vcs_info": {"vcs": "git", "commit_id": "abc"}}"#,
            ),
        );
        dist(
            &site,
            "local",
            "1.0",
            Some(r#"{"url": "file:///w/local-1.0.whl", "archive_info": {}}"#),
        );
        dist(&site, "broken", "1.0", Some("{"));

        let parsed = parse(tmp.path()).unwrap();
        assert_eq!(parsed.format, super::super::Format::Environment);
        assert_eq!(parsed.environment.as_deref(), Some(tmp.path()));
        let got: Vec<(&str, &str, bool, usize)> = parsed
            .requirements
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.version.as_deref().unwrap(),
                    r.kind.is_auditable(),
                    r.source.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("black", "24.1", false, 3),
                ("broken", "1.0", false, 3),
                ("local", "1.0", false, 3),
                ("markup-safe", "3.0.3", true, 3),
                ("mine", "0.1", false, 3),
            ]
        );
        let mine = parsed
            .requirements
            .iter()
            .find(|r| r.name == "mine")
            .unwrap();
        assert_eq!(mine.kind, Kind::Editable("file:///src/mine".into()));
        assert!(mine.source.file.ends_with("mine-0.1.dist-info/METADATA"));
    }

    #[test]
    fn a_folder_that_is_no_environment_is_one_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = parse(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not an installed environment"), "{err}");
        assert!(err.starts_with(&tmp.path().display().to_string()), "{err}");
    }
}
