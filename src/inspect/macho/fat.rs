//! Fat (universal, universal2) containers: a table of per-architecture slices, each a whole
//! Mach-O image. The loader models one slice; this picks it.

use super::arch_of;
use super::bytes::{malformed, range, u32_at};
use crate::inspect::model::{Arch, ModelError};

const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_CIGAM: u32 = 0xbeba_feca;
const SIZEOF_FAT_HEADER: usize = 8;
const SIZEOF_FAT_ARCH: usize = 20;
/// Java class files share the fat magic; their next word (the class version) is at least 45,
/// where a real fat header counts a handful of slices.
const JAVA_CLASS_MIN_VERSION: u32 = 45;

/// One entry of the fat table.
#[derive(Debug, Clone, Copy)]
struct FatArch {
    cputype: u32,
    offset: u32,
    size: u32,
}

/// True when `data` starts with a fat header (either byte order).
pub(super) fn is_fat(data: &[u8]) -> bool {
    matches!(u32_at(data, 0, false), Some(FAT_MAGIC | FAT_CIGAM))
}

/// The bytes of the slice to model: the one for `prefer`, else arm64, else x86_64, else the
/// first. The slice must itself be a thin Mach-O image.
pub(super) fn select(data: &[u8], prefer: Option<Arch>) -> Result<&[u8], ModelError> {
    let arches = table(data)?;
    let pick = |want: Arch| arches.iter().position(|a| arch_of(a.cputype) == want);
    let index = prefer
        .and_then(pick)
        .or_else(|| pick(Arch::Aarch64))
        .or_else(|| pick(Arch::X86_64))
        .unwrap_or(0);
    let a = *arches
        .get(index)
        .ok_or_else(|| malformed("fat header lists no slices"))?;
    let slice = range(data, u64::from(a.offset), u64::from(a.size)).ok_or_else(|| {
        malformed(format!(
            "fat slice {index} ({}) at {:#x}, {:#x} bytes, runs past the end of the file ({:#x})",
            arch_of(a.cputype).name(),
            a.offset,
            a.size,
            data.len()
        ))
    })?;
    if is_fat(slice) {
        return Err(malformed(format!("fat slice {index} is itself a fat file")));
    }
    Ok(slice)
}

/// The fat table.
fn table(data: &[u8]) -> Result<Vec<FatArch>, ModelError> {
    let le = u32_at(data, 0, false) == Some(FAT_CIGAM);
    let count = u32_at(data, 4, le).ok_or_else(|| malformed("fat header cut short"))?;
    if count >= JAVA_CLASS_MIN_VERSION {
        return Err(ModelError::NotABinary);
    }
    (0..count as usize)
        .map(|i| {
            let at = SIZEOF_FAT_HEADER + i * SIZEOF_FAT_ARCH;
            let word = |k: usize| u32_at(data, at + 4 * k, le);
            match (word(0), word(2), word(3)) {
                (Some(cputype), Some(offset), Some(size)) => Ok(FatArch {
                    cputype,
                    offset,
                    size,
                }),
                _ => Err(malformed(format!(
                    "fat header cut short in the entry for slice {i}"
                ))),
            }
        })
        .collect()
}
