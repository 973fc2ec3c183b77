//! Placeholder: the Mach-O loader is being written.
use super::model::{Arch, Binary, ModelError};

pub fn load(_data: &[u8], _prefer: Option<Arch>) -> Result<Binary<'_>, ModelError> {
    Err(ModelError::Unsupported(
        "Mach-O loader not written yet".into(),
    ))
}
