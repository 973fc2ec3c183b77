//! Placeholder for the poetry parser.

use std::path::Path;

use super::{LockError, Parsed};

/// Not written yet.
pub fn parse_str(path: &Path, _text: &str) -> Result<Parsed, LockError> {
    Err(LockError::UnknownFormat {
        file: path.to_path_buf(),
    })
}
