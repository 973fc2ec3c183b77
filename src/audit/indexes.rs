//! `--extra-index-url`, as pip reads it: a project's files are those of every index that
//! has it, the main index's first; an extra index that does not answer is a warning, and
//! the audit goes on with the others.

use std::sync::Mutex;

use crate::index::{Fetch, IndexClient, IndexError, NetStats, ProjectPage};
use crate::scan::Index;

/// The main index and the extra ones, seen as one.
pub(super) struct WithExtras<'i> {
    main: &'i dyn Index,
    extras: Vec<IndexClient>,
    warnings: Mutex<Vec<String>>,
}

impl<'i> WithExtras<'i> {
    pub(super) fn new(main: &'i dyn Index, extras: Vec<IndexClient>) -> Self {
        WithExtras {
            main,
            extras,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// What went wrong with the extra indexes, once per index.
    pub(super) fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn warn(&self, message: String) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !warnings.contains(&message) {
            warnings.push(message);
        }
    }
}

impl Index for WithExtras<'_> {
    fn project(&self, name: &str) -> Result<ProjectPage, String> {
        let main = self.main.project(name);
        let mut page = main.as_ref().ok().cloned();
        for extra in &self.extras {
            match extra.project(name) {
                Ok(found) => match page.as_mut() {
                    Some(page) => merge(page, found),
                    None => page = Some(found),
                },
                Err(IndexError::NoSuchProject(_)) => {}
                Err(IndexError::Unreachable { index, cause }) => self.warn(format!(
                    "extra index {index} does not answer ({cause}): skipped"
                )),
                Err(e) => self.warn(format!("extra index {}: {e}", extra.index_url())),
            }
        }
        page.ok_or_else(|| main.err().unwrap_or_default())
    }
    fn fetch(&self) -> &dyn Fetch {
        self.main.fetch()
    }
    fn stats(&self) -> NetStats {
        let mut total = self.main.stats();
        for extra in &self.extras {
            let s = extra.stats();
            total.requests += s.requests;
            total.bytes += s.bytes;
        }
        total
    }
    fn down(&self) -> Option<String> {
        self.main.down()
    }
}

/// Adds the files of `other` that `page` does not list by name.
fn merge(page: &mut ProjectPage, other: ProjectPage) {
    for file in other.files {
        if !page.files.iter().any(|f| f.filename == file.filename) {
            page.files.push(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::DistFile;

    #[test]
    fn files_of_every_index_are_merged_by_name_the_main_one_first() {
        let mut page = ProjectPage {
            name: "p".into(),
            files: vec![DistFile::new("p-1.0.tar.gz", "https://main/p-1.0.tar.gz")],
        };
        let other = ProjectPage {
            name: "p".into(),
            files: vec![
                DistFile::new("p-1.0.tar.gz", "https://extra/p-1.0.tar.gz"),
                DistFile::new("p-1.1.tar.gz", "https://extra/p-1.1.tar.gz"),
            ],
        };
        merge(&mut page, other);
        let urls: Vec<&str> = page.files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            ["https://main/p-1.0.tar.gz", "https://extra/p-1.1.tar.gz"]
        );
    }
}
