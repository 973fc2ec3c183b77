//! Decoding of one chained-fixup pointer (`DYLD_CHAINED_PTR_*` in Apple's public
//! `<mach-o/fixup-chains.h>`): each word in a chain packs either a rebase target or an import
//! ordinal, plus the distance to the next fixup of the chain.

use crate::inspect::model::ModelError;

const DYLD_CHAINED_PTR_ARM64E: u16 = 1;
const DYLD_CHAINED_PTR_64: u16 = 2;
const DYLD_CHAINED_PTR_32: u16 = 3;
const DYLD_CHAINED_PTR_64_OFFSET: u16 = 6;
const DYLD_CHAINED_PTR_ARM64E_USERLAND: u16 = 9;
const DYLD_CHAINED_PTR_ARM64E_USERLAND24: u16 = 12;

/// What one chain link holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fixup {
    /// The word becomes this address (link-time, high8 bits applied).
    Rebase(u64),
    /// The word becomes the address of entry `n` of the chained imports table.
    Bind(u32),
    /// 32-bit chains may run through plain integers (targets above `max_valid_pointer`).
    NotPointer,
}

/// A pointer format the loader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PtrFormat {
    id: u16,
    /// Bytes per fixup word.
    pub size: u8,
    /// Unit of the `next` field, in bytes.
    pub stride: u8,
}

impl PtrFormat {
    pub fn new(id: u16) -> Result<PtrFormat, ModelError> {
        let (size, stride) = match id {
            DYLD_CHAINED_PTR_ARM64E
            | DYLD_CHAINED_PTR_ARM64E_USERLAND
            | DYLD_CHAINED_PTR_ARM64E_USERLAND24 => (8, 8),
            DYLD_CHAINED_PTR_64 | DYLD_CHAINED_PTR_64_OFFSET => (8, 4),
            DYLD_CHAINED_PTR_32 => (4, 4),
            _ => {
                return Err(ModelError::Unsupported(format!(
                    "chained fixup pointer format {id} (kernel, firmware or shared cache only)"
                )));
            }
        };
        Ok(PtrFormat { id, size, stride })
    }

    /// Decode `raw`; returns the fixup and the `next` field (0 ends the chain). `base` is the
    /// image's base address, `max_valid` the segment's `max_valid_pointer` (32-bit only).
    pub fn decode(self, raw: u64, base: u64, max_valid: u32) -> (Fixup, u64) {
        match self.id {
            DYLD_CHAINED_PTR_64 | DYLD_CHAINED_PTR_64_OFFSET => self.decode_64(raw, base),
            DYLD_CHAINED_PTR_32 => decode_32(raw, max_valid),
            _ => self.decode_arm64e(raw, base),
        }
    }

    /// `dyld_chained_ptr_64_rebase` / `dyld_chained_ptr_64_bind`.
    fn decode_64(self, raw: u64, base: u64) -> (Fixup, u64) {
        let next = bits(raw, 51, 12);
        if bits(raw, 63, 1) == 1 {
            return (Fixup::Bind(bits(raw, 0, 24) as u32), next);
        }
        let target = bits(raw, 0, 36);
        let high8 = bits(raw, 36, 8) << 56;
        let addr = if self.id == DYLD_CHAINED_PTR_64 {
            target
        } else {
            base.wrapping_add(target)
        };
        (Fixup::Rebase(high8 | addr), next)
    }

    /// `dyld_chained_ptr_arm64e_*`: auth and plain variants of rebase and bind.
    fn decode_arm64e(self, raw: u64, base: u64) -> (Fixup, u64) {
        let next = bits(raw, 51, 11);
        let auth = bits(raw, 63, 1) == 1;
        if bits(raw, 62, 1) == 1 {
            let width = if self.id == DYLD_CHAINED_PTR_ARM64E_USERLAND24 {
                24
            } else {
                16
            };
            return (Fixup::Bind(bits(raw, 0, width) as u32), next);
        }
        if auth {
            // Authenticated rebases always hold an offset from the image base.
            return (Fixup::Rebase(base.wrapping_add(bits(raw, 0, 32))), next);
        }
        let target = bits(raw, 0, 43);
        let high8 = bits(raw, 43, 8) << 56;
        let addr = if self.id == DYLD_CHAINED_PTR_ARM64E {
            target
        } else {
            base.wrapping_add(target)
        };
        (Fixup::Rebase(high8 | addr), next)
    }
}

/// `dyld_chained_ptr_32_rebase` / `dyld_chained_ptr_32_bind`.
fn decode_32(raw: u64, max_valid: u32) -> (Fixup, u64) {
    let next = bits(raw, 26, 5);
    if bits(raw, 31, 1) == 1 {
        return (Fixup::Bind(bits(raw, 0, 20) as u32), next);
    }
    let target = bits(raw, 0, 26);
    if target > u64::from(max_valid) {
        return (Fixup::NotPointer, next);
    }
    (Fixup::Rebase(target), next)
}

/// `width` bits of `raw` starting at bit `lo`.
fn bits(raw: u64, lo: u32, width: u32) -> u64 {
    (raw >> lo) & ((1u64 << width) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptr_64_rebase_and_bind() {
        let f = PtrFormat::new(DYLD_CHAINED_PTR_64).unwrap();
        // target 0x8078, next 2 (8 bytes)
        assert_eq!(
            f.decode(0x8078 | (2 << 51), 0x1000, 0),
            (Fixup::Rebase(0x8078), 2)
        );
        let tagged = 0x4000 | (0xab << 36);
        assert_eq!(
            f.decode(tagged, 0, 0),
            (Fixup::Rebase(0xab00_0000_0000_4000), 0)
        );
        assert_eq!(
            f.decode((1 << 63) | (1 << 51) | 7, 0, 0),
            (Fixup::Bind(7), 1)
        );
    }

    #[test]
    fn ptr_64_offset_adds_base() {
        let f = PtrFormat::new(DYLD_CHAINED_PTR_64_OFFSET).unwrap();
        assert_eq!(
            f.decode(0x438, 0x1_0000_0000, 0),
            (Fixup::Rebase(0x1_0000_0438), 0)
        );
    }

    #[test]
    fn arm64e_variants() {
        let e = PtrFormat::new(DYLD_CHAINED_PTR_ARM64E).unwrap();
        let u = PtrFormat::new(DYLD_CHAINED_PTR_ARM64E_USERLAND).unwrap();
        let u24 = PtrFormat::new(DYLD_CHAINED_PTR_ARM64E_USERLAND24).unwrap();
        assert_eq!((e.size, e.stride), (8, 8));
        let plain = 0x4010 | (3 << 51);
        assert_eq!(e.decode(plain, 0x100, 0), (Fixup::Rebase(0x4010), 3));
        assert_eq!(u.decode(plain, 0x100, 0), (Fixup::Rebase(0x4110), 3));
        let auth = (1 << 63) | (0x1234 << 32) | 0x20;
        assert_eq!(e.decode(auth, 0x100, 0), (Fixup::Rebase(0x120), 0));
        let bind = (1 << 62) | 0x12_3456;
        assert_eq!(u.decode(bind, 0, 0), (Fixup::Bind(0x3456), 0));
        assert_eq!(u24.decode(bind, 0, 0), (Fixup::Bind(0x12_3456), 0));
        assert_eq!(
            u24.decode(bind | (1 << 63), 0, 0),
            (Fixup::Bind(0x12_3456), 0)
        );
    }

    #[test]
    fn ptr_32_skips_non_pointers() {
        let f = PtrFormat::new(DYLD_CHAINED_PTR_32).unwrap();
        assert_eq!(
            f.decode(0x3000 | (1 << 26), 0, 0x10_0000),
            (Fixup::Rebase(0x3000), 1)
        );
        assert_eq!(f.decode(0x20_0000, 0, 0x10_0000), (Fixup::NotPointer, 0));
        assert_eq!(f.decode((1 << 31) | 5, 0, 0), (Fixup::Bind(5), 0));
    }

    #[test]
    fn kernel_formats_are_unsupported() {
        for id in [0, 4, 5, 7, 8, 10, 11, 13, 14, 0xffff] {
            assert!(
                matches!(PtrFormat::new(id), Err(ModelError::Unsupported(_))),
                "{id}"
            );
        }
    }
}
