//! Placeholder: the elf loader is being written.
use super::model::{Binary, ModelError};

pub fn load(_data: &[u8]) -> Result<Binary<'_>, ModelError> {
    Err(ModelError::Unsupported("elf loader not written yet".into()))
}
