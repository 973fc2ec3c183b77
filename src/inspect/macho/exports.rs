//! The export trie (`LC_DYLD_INFO` `export_off` or `LC_DYLD_EXPORTS_TRIE`): a prefix tree of
//! exported symbol names whose terminal nodes hold each symbol's offset from the image base.
//! goblin's walker recurses without remembering visited nodes, so a trie with a cycle would
//! overflow the stack; this one walks iteratively and refuses to visit a node twice.

use super::bytes::{Cursor, malformed};
use crate::inspect::model::ModelError;

const EXPORT_SYMBOL_FLAGS_KIND_MASK: u64 = 0x03;
const EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE: u64 = 0x02;
const EXPORT_SYMBOL_FLAGS_REEXPORT: u64 = 0x08;

/// Longest symbol name accepted (real C++ names stay far below).
const MAX_NAME: usize = 64 * 1024;

/// Every symbol the trie defines in this image (re-exports of other libraries' symbols are
/// skipped), as `(name as in the file, address)`.
pub(super) fn export_trie(trie: &[u8], base: u64) -> Result<Vec<(Vec<u8>, u64)>, ModelError> {
    let mut out = Vec::new();
    if trie.is_empty() {
        return Ok(out);
    }
    let mut visited = vec![false; trie.len()];
    // Budget for the bytes of all names: generous for real tries, finite for hostile ones.
    let mut name_budget = trie.len().saturating_mul(64).saturating_add(1 << 20);
    // Each edge takes at least two bytes of the trie (label NUL, child offset).
    let mut edges_left = trie.len() / 2;
    let mut name: Vec<u8> = Vec::new();
    // Nodes to visit: (node offset, length of the parent's name, edge label).
    let mut stack: Vec<(usize, usize, &[u8])> = vec![(0, 0, &[])];
    while let Some((node, parent_len, edge)) = stack.pop() {
        let seen = visited.get_mut(node).ok_or_else(|| {
            malformed(format!(
                "export trie node offset {node:#x} is outside the trie"
            ))
        })?;
        if std::mem::replace(seen, true) {
            return Err(malformed(format!(
                "export trie node {node:#x} is reached twice"
            )));
        }
        name.truncate(parent_len);
        name.extend_from_slice(edge);
        if name.len() > MAX_NAME {
            return Err(malformed(
                "export trie spells a symbol name longer than 64 KiB",
            ));
        }
        let mut c = Cursor::at(trie, node, "export trie");
        let info_len = usize::try_from(c.uleb()?).unwrap_or(usize::MAX);
        let children_at = c.pos().saturating_add(info_len);
        if info_len > 0
            && let Some(addr) = terminal(&mut c, base)?
        {
            name_budget = name_budget
                .checked_sub(name.len())
                .ok_or_else(|| malformed("export trie names exceed what the trie can hold"))?;
            out.push((name.clone(), addr));
        }
        let mut c = Cursor::at(trie, children_at, "export trie");
        let count = c.u8()?;
        for _ in 0..count {
            edges_left = edges_left
                .checked_sub(1)
                .ok_or_else(|| malformed("export trie has more edges than its size allows"))?;
            let label = c.c_str()?;
            let child = usize::try_from(c.uleb()?).unwrap_or(usize::MAX);
            stack.push((child, name.len(), label));
        }
    }
    Ok(out)
}

/// The address a terminal node gives its symbol, `None` for a re-export.
fn terminal(c: &mut Cursor<'_>, base: u64) -> Result<Option<u64>, ModelError> {
    let flags = c.uleb()?;
    if flags & EXPORT_SYMBOL_FLAGS_REEXPORT != 0 {
        return Ok(None);
    }
    // For stub-and-resolver symbols this first value is the stub, which callers reach.
    let offset = c.uleb()?;
    if flags & EXPORT_SYMBOL_FLAGS_KIND_MASK == EXPORT_SYMBOL_FLAGS_KIND_ABSOLUTE {
        return Ok(Some(offset));
    }
    Ok(Some(base.wrapping_add(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trie for `_a` at 0x10 and `_ab` at 0x20 and a re-export `_c`.
    fn sample() -> Vec<u8> {
        vec![
            0x00, 0x02, b'_', b'a', 0, 0x0a, b'_', b'c', 0,
            0x15, // root: "_a" -> 10, "_c" -> 21
            0x02, 0x00, 0x10, 0x01, b'b', 0, 0x11, // node 10: terminal 0x10, child "b" -> 17
            0x02, 0x00, 0x20, 0x00, // node 17: terminal 0x20
            0x04, 0x08, 0x01, b'x', 0, 0x00, // node 21: re-export of "x" from library 1
        ]
    }

    #[test]
    fn walks_names_and_addresses() {
        let mut got = export_trie(&sample(), 0x1000).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![(b"_a".to_vec(), 0x1010), (b"_ab".to_vec(), 0x1020)]
        );
    }

    #[test]
    fn refuses_cycles_and_bad_offsets() {
        let mut t = sample();
        t[16] = 0x0a; // node 10's child points back at node 10
        assert!(export_trie(&t, 0).is_err());
        let mut t = sample();
        t[16] = 0x7f; // child beyond the trie
        assert!(export_trie(&t, 0).is_err());
        for n in 0..sample().len() {
            let _ = export_trie(&sample()[..n], 0);
        }
    }
}
