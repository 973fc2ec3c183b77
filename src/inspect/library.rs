//! The libraries of one wheel (or one installed distribution) that init hooks hand off to,
//! parsed once and kept with their code index: jaxlib's dozens of 3-KB stub modules all hand
//! off to one 329 MB library, which is inflated, parsed and indexed once for all of them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use self_cell::self_cell;

use super::code::{Code, CodeIndex};
use super::model::{Arch, Binary};

/// What is built from a library's bytes: its model (or why it has none) and, on first use,
/// its code index.
struct Parsed<'a> {
    bin: Result<Binary<'a>, String>,
    index: OnceLock<CodeIndex>,
}

self_cell!(
    struct Cell {
        owner: Vec<u8>,
        #[covariant]
        dependent: Parsed,
    }
);

/// A library member with its bytes, parsed once.
pub struct Library {
    member: String,
    cell: Cell,
}

impl Library {
    /// Parse `data` (the member `member`), picking `arch` from a fat Mach-O file.
    pub fn parse(member: String, data: Vec<u8>, arch: Option<Arch>) -> Library {
        let cell = Cell::new(data, |d| Parsed {
            bin: Binary::parse(d, arch).map_err(|e| e.to_string()),
            index: OnceLock::new(),
        });
        Library { member, cell }
    }

    /// The member (or path) the library was read from.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// Its bytes.
    pub fn data(&self) -> &[u8] {
        self.cell.borrow_owner()
    }

    /// Its model, or why the file could not be parsed.
    pub fn binary(&self) -> Result<&Binary<'_>, &str> {
        self.cell
            .borrow_dependent()
            .bin
            .as_ref()
            .map_err(String::as_str)
    }

    /// Whether it exports `symbol`.
    pub fn exports(&self, symbol: &str) -> bool {
        self.binary().is_ok_and(|b| b.exports.contains_key(symbol))
    }

    /// Run `f` over its model and a code reader whose index (import stubs, call sites found)
    /// is kept for the next caller. Fails with the parse error.
    pub fn with_code<T>(&self, f: impl FnOnce(&Binary, &Code) -> T) -> Result<T, &str> {
        let parsed = self.cell.borrow_dependent();
        let bin = parsed.bin.as_ref().map_err(String::as_str)?;
        let index = parsed.index.get_or_init(|| CodeIndex::new(bin));
        Ok(f(bin, &Code::with_index(bin, index)))
    }
}

/// What is known of one library so far.
enum Known {
    /// Read once and found to export none of the names asked for then: only its export
    /// names are kept, not its bytes.
    Exports(HashSet<String>),
    /// Handed off to: kept whole for the rest of the wheel.
    Kept(Arc<Library>),
}

/// The libraries a set of modules may hand off to, by member name, each read and parsed at
/// most once for the names it does not export and once more (then kept) when it exports one.
pub struct LibrarySet {
    members: Vec<String>,
    arch: Option<Arch>,
    known: Mutex<HashMap<String, Known>>,
}

impl LibrarySet {
    /// `members` are the candidates (wheel member names or paths); `arch` picks from fat files.
    pub fn new(members: Vec<String>, arch: Option<Arch>) -> Self {
        LibrarySet {
            members,
            arch,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The library among those the module links against (`needed`, compared by file name
    /// without case, the way the loader resolves them) that exports `symbol`, reading members
    /// with `read` when their exports are not known yet.
    pub fn exporting(
        &self,
        symbol: &str,
        needed: &[String],
        read: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Option<Arc<Library>> {
        let needed: Vec<String> = needed.iter().map(|n| file_name(n)).collect();
        for member in self
            .members
            .iter()
            .filter(|m| needed.contains(&file_name(m)))
        {
            let mut known = self.known.lock().ok()?;
            match known.get(member) {
                Some(Known::Kept(lib)) if lib.exports(symbol) => return Some(lib.clone()),
                Some(Known::Kept(_)) => continue,
                Some(Known::Exports(names)) if !names.contains(symbol) => continue,
                _ => {}
            }
            let Some(data) = read(member) else {
                known.insert(member.clone(), Known::Exports(HashSet::new()));
                continue;
            };
            let lib = Library::parse(member.clone(), data, self.arch);
            if lib.exports(symbol) {
                let lib = Arc::new(lib);
                known.insert(member.clone(), Known::Kept(lib.clone()));
                return Some(lib);
            }
            let names = lib
                .binary()
                .map(|b| b.exports.keys().cloned().collect())
                .unwrap_or_default();
            known.insert(member.clone(), Known::Exports(names));
        }
        None
    }
}

/// The file name of a member or path, lower-cased.
fn file_name(path: &str) -> String {
    path.rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell as Counter;

    /// A real module (tornado's speedups, x86-64 Mach-O) standing in for a library.
    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/macho/tornado_speedups_x86_64.so"
        ))
        .expect("fixture is in the repository")
    }

    #[test]
    fn a_library_is_read_once_however_many_modules_hand_off_to_it() {
        let set = LibrarySet::new(vec!["pkg/sub/speedups.so".into()], None);
        let reads = Counter::new(0);
        let read = |m: &str| {
            assert_eq!(m, "pkg/sub/speedups.so");
            reads.set(reads.get() + 1);
            Some(fixture())
        };
        let needed = ["@rpath/Speedups.so".to_string()];
        let first = set
            .exporting("PyInit_speedups", &needed, read)
            .expect("exported");
        let second = set
            .exporting("PyInit_speedups", &needed, read)
            .expect("exported");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(reads.get(), 1);
        assert_eq!(first.member(), "pkg/sub/speedups.so");
        assert_eq!(first.data().len(), fixture().len());
        // The code reader over the kept model knows the loader's stubs.
        fn stubs(lib: &Library) -> usize {
            lib.with_code(|bin, code| {
                bin.stubs
                    .iter()
                    .filter(|(a, _)| code.stub_import(*a).is_some())
                    .count()
            })
            .expect("parsed")
        }
        assert!(stubs(&first) > 0);
        assert_eq!(stubs(&first), stubs(&second));
    }

    #[test]
    fn a_name_not_exported_keeps_only_the_export_names() {
        let set = LibrarySet::new(vec!["speedups.so".into()], None);
        let reads = Counter::new(0);
        let read = |_: &str| {
            reads.set(reads.get() + 1);
            Some(fixture())
        };
        let needed = ["speedups.so".to_string()];
        assert!(set.exporting("strncmp", &needed, read).is_none());
        assert!(set.exporting("strncmp", &needed, read).is_none());
        assert_eq!(
            reads.get(),
            1,
            "its export names answer the second question"
        );
        // A name it does export: read again, and kept from then on.
        assert!(set.exporting("PyInit_speedups", &needed, read).is_some());
        assert!(set.exporting("PyInit_speedups", &needed, read).is_some());
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn unreadable_and_unparsable_members_export_nothing_and_are_not_read_again() {
        let set = LibrarySet::new(vec!["pkg/libfoo.so".into()], None);
        let reads = Counter::new(0);
        let read = |_: &str| {
            reads.set(reads.get() + 1);
            Some(b"not a binary".to_vec())
        };
        let needed = ["libfoo.so".to_string()];
        assert!(set.exporting("foo_init", &needed, read).is_none());
        assert!(set.exporting("foo_init", &needed, read).is_none());
        assert_eq!(reads.get(), 1);
        // Not linked against: never read.
        assert!(
            set.exporting("foo_init", &["libbar.so".into()], read)
                .is_none()
        );
        assert_eq!(reads.get(), 1);
    }
}
