//! Where a project lives, from the `Project-URL`s of its latest release: its source
//! repository and its issue tracker, by the labels projects use for them (compared as
//! PEP 753 normalizes labels: lower case, punctuation and spaces removed). A URL that is not
//! `http://` or `https://` is never linked; nothing is guessed (a GitHub repository does not
//! imply that its issues are open).

use serde::Serialize;

/// The links a blocker needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProjectLinks {
    pub repository: Option<String>,
    pub issues: Option<String>,
}

/// Labels of a source repository, normalized.
const REPOSITORY: [&str; 8] = [
    "source",
    "sourcecode",
    "repository",
    "code",
    "github",
    "gitlab",
    "git",
    "sourcerepository",
];

/// Labels of an issue tracker, normalized.
const ISSUES: [&str; 8] = [
    "issues",
    "issuetracker",
    "bugtracker",
    "bugs",
    "tracker",
    "bugreports",
    "githubissues",
    "reportbugs",
];

/// A label as PEP 753 compares them.
fn normalize(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a URL may be linked.
fn linkable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether the URL is a repository on a forge (`https://github.com/OWNER/REPO`).
fn forge_repository(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or("");
    let mut parts = rest.trim_end_matches('/').split('/');
    let host = parts.next().unwrap_or("").to_ascii_lowercase();
    let path: Vec<&str> = parts.collect();
    matches!(
        host.as_str(),
        "github.com" | "gitlab.com" | "codeberg.org" | "bitbucket.org"
    ) && path.len() == 2
        && path.iter().all(|p| !p.is_empty())
}

/// The repository and issue tracker among `(label, url)` pairs, first match of each; the
/// homepage (or any URL) counts as the repository when it is one on a known forge.
pub fn project_links(urls: &[(String, String)]) -> ProjectLinks {
    let find = |labels: &[&str]| {
        urls.iter()
            .find(|(label, url)| labels.contains(&normalize(label).as_str()) && linkable(url))
            .map(|(_, url)| url.clone())
    };
    let repository = find(&REPOSITORY).or_else(|| {
        urls.iter()
            .find(|(_, url)| linkable(url) && forge_repository(url))
            .map(|(_, url)| url.clone())
    });
    ProjectLinks {
        repository,
        issues: find(&ISSUES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(l, u)| (l.to_string(), u.to_string()))
            .collect()
    }

    /// URLs given, repository and tracker expected.
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>);

    #[test]
    fn labels_are_compared_as_pep_753_normalizes_them() {
        let table: [Case; 6] = [
            (
                &[
                    ("Homepage", "https://numpy.org"),
                    ("Source Code", "https://github.com/numpy/numpy"),
                    ("Bug Tracker", "https://github.com/numpy/numpy/issues"),
                ],
                Some("https://github.com/numpy/numpy"),
                Some("https://github.com/numpy/numpy/issues"),
            ),
            (
                &[
                    ("Repository", "https://g.example/r"),
                    ("Issues", "https://g.example/r/i"),
                ],
                Some("https://g.example/r"),
                Some("https://g.example/r/i"),
            ),
            // A homepage on a forge is the repository; the tracker is not guessed.
            (
                &[("Homepage", "https://github.com/o/r/")],
                Some("https://github.com/o/r/"),
                None,
            ),
            (&[("Homepage", "https://github.com/o")], None, None),
            // Only http(s) is linked.
            (
                &[
                    ("Source", "javascript:alert(1)"),
                    ("Issues", "ftp://x.example/i"),
                ],
                None,
                None,
            ),
            (
                &[("Bug-Reports", "https://x.example/bugs")],
                None,
                Some("https://x.example/bugs"),
            ),
        ];
        for (pairs, repository, issues) in table {
            let got = project_links(&urls(pairs));
            assert_eq!(got.repository.as_deref(), repository, "{pairs:?}");
            assert_eq!(got.issues.as_deref(), issues, "{pairs:?}");
        }
    }
}
