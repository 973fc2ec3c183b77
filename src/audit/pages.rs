//! One audit asks for a project's page from several places (choosing a version, following
//! dependencies, planning the scan, searching upgrades): [`Remembered`] asks the index once
//! per project and answers the rest from memory, for the audit's duration.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::index::{Fetch, NetStats, ProjectPage};
use crate::scan::Index;

/// An [`Index`] that remembers every project page (or error) it was given.
pub(super) struct Remembered<'i> {
    inner: &'i dyn Index,
    pages: Mutex<HashMap<String, Result<ProjectPage, String>>>,
}

impl<'i> Remembered<'i> {
    pub(super) fn new(inner: &'i dyn Index) -> Self {
        Remembered {
            inner,
            pages: Mutex::new(HashMap::new()),
        }
    }
}

impl Index for Remembered<'_> {
    fn project(&self, name: &str) -> Result<ProjectPage, String> {
        if let Some(known) = self
            .pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return known.clone();
        }
        // Not held while asking: other workers go on. Two asking at once both fetch, once.
        let page = self.inner.project(name);
        self.pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), page.clone());
        page
    }
    fn fetch(&self) -> &dyn Fetch {
        self.inner.fetch()
    }
    fn stats(&self) -> NetStats {
        self.inner.stats()
    }
    fn down(&self) -> Option<String> {
        self.inner.down()
    }
}
