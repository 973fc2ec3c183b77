//! Installed environments: find the site-packages of a virtual environment (or take a
//! site-packages folder as given), list its distributions from their `*.dist-info`
//! (`METADATA`, `RECORD`), find every native file under it, classify it for a target, and
//! group it by the distribution whose `RECORD` lists it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::WheelError;
use super::members::{MemberKind, classify_members};
use super::metadata::{CoreMetadata, Record};
use super::tags::AbiTag;
use super::target::{Platform, PythonTarget};

/// A located Python environment: where its site-packages folders are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledEnv {
    /// The path as given.
    pub root: PathBuf,
    /// Its site-packages folders (usually one; a prefix may hold several versions).
    pub site_packages: Vec<PathBuf>,
    /// The `key = value` pairs of `pyvenv.cfg`, when the root is a virtual environment.
    pub pyvenv_cfg: Option<Vec<(String, String)>>,
}

/// A native file found under site-packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFile {
    /// Its full path.
    pub path: PathBuf,
    /// Its path relative to its site-packages folder, with `/` separators.
    pub relative: String,
    /// What it is for the target.
    pub kind: MemberKind,
    /// Set when another file of the same module is imported instead (relative path).
    pub shadowed_by: Option<String>,
}

/// One installed distribution (`*.dist-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDistribution {
    /// The `*.dist-info` folder.
    pub dist_info: PathBuf,
    /// `Name` from `METADATA` (or from the folder name when `METADATA` is unreadable).
    pub name: String,
    /// `Version` from `METADATA` (or from the folder name).
    pub version: String,
    /// The `RECORD` paths, normalized relative to site-packages (`/` separators; files
    /// outside it, such as `../../../bin/x`, keep a leading `../`).
    pub files: Vec<String>,
    /// The native files its `RECORD` lists, sorted by path.
    pub native: Vec<NativeFile>,
}

/// The result of scanning an environment for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledScan {
    /// Distributions, sorted by normalized name.
    pub distributions: Vec<InstalledDistribution>,
    /// Native files that no `RECORD` lists, sorted by path.
    pub unowned: Vec<NativeFile>,
    /// The interpreter tags of the version-specific extension suffixes found (for example
    /// `cpython-314t-x86_64-linux-gnu` or `cp314t-win_amd64`), most frequent first, with counts.
    pub interpreter_tags: Vec<(SoabiTag, usize)>,
    /// Problems that did not stop the scan (unreadable `METADATA` or `RECORD`, …).
    pub warnings: Vec<String>,
}

impl InstalledScan {
    /// The most frequent interpreter tag, if any extension carried one.
    pub fn dominant_interpreter(&self) -> Option<&SoabiTag> {
        self.interpreter_tags.first().map(|(t, _)| t)
    }

    /// Every native file, owned or not.
    pub fn native_files(&self) -> impl Iterator<Item = &NativeFile> {
        self.distributions
            .iter()
            .flat_map(|d| d.native.iter())
            .chain(self.unowned.iter())
    }
}

/// The interpreter part of a version-specific extension suffix: `cpython-314t-x86_64-linux-gnu`
/// (Linux, macOS) or `cp314t-win_amd64` (Windows).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SoabiTag {
    /// Major version (3).
    pub major: u32,
    /// Minor version (14).
    pub minor: u32,
    /// ABI flags (`t`, `td`, or empty for the GIL build).
    pub flags: String,
    /// Platform part (`x86_64-linux-gnu`, `darwin`, `win_amd64`), when present.
    pub platform: Option<String>,
    /// Whether it is the Windows `cpXY` form rather than `cpython-XY`.
    pub windows: bool,
}

impl SoabiTag {
    /// The interpreter part: `cpython-314t` (also for the Windows form).
    pub fn interpreter(&self) -> String {
        format!("cpython-{}{}{}", self.major, self.minor, self.flags)
    }

    /// The free-threaded target this tag is built for, when it is one gilfree supports.
    pub fn python_target(&self) -> Option<PythonTarget> {
        (self.major == 3 && self.flags == "t")
            .then(|| PythonTarget::from_minor(self.minor))
            .flatten()
    }

    /// The platform this tag is built for, when its platform part names exactly one.
    pub fn platform(&self) -> Option<Platform> {
        Platform::from_multiarch(self.platform.as_deref()?)
    }
}

impl fmt::Display for SoabiTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.windows {
            write!(f, "cp{}{}{}", self.major, self.minor, self.flags)?;
        } else {
            f.write_str(&self.interpreter())?;
        }
        if let Some(p) = &self.platform {
            write!(f, "-{p}")?;
        }
        Ok(())
    }
}

/// Reads the interpreter tag out of an extension file name
/// (`x.cpython-314t-x86_64-linux-gnu.so`, `x.cp314t-win_amd64.pyd`); `None` for untagged,
/// `abi3`/`abi3t` and other implementations' names.
pub fn parse_soabi(file_name: &str) -> Option<SoabiTag> {
    let dot = file_name.find('.')?;
    let suffix = &file_name[dot + 1..];
    let (inner, windows) = if let Some(inner) = suffix.strip_suffix(".so") {
        (inner.strip_prefix("cpython-")?, false)
    } else if let Some(inner) = suffix
        .strip_suffix(".pyd")
        .or_else(|| suffix.strip_suffix(".PYD"))
    {
        (inner.strip_prefix("cp")?, true)
    } else {
        return None;
    };
    let (version, platform) = match inner.split_once('-') {
        Some((v, p)) => (v, Some(p.to_string())),
        None => (inner, None),
    };
    let AbiTag::CPython {
        major,
        minor,
        flags,
    } = AbiTag::parse(&format!("cp{version}"))
    else {
        return None;
    };
    Some(SoabiTag {
        major,
        minor,
        flags,
        platform,
        windows,
    })
}

impl InstalledEnv {
    /// Locates the site-packages of `path`: a virtual environment (has `pyvenv.cfg`), an
    /// installation prefix (has `lib/python3.*/site-packages` or `Lib/site-packages`), or a
    /// site-packages folder itself (named `site-packages`/`dist-packages`, or holding
    /// `*.dist-info` folders).
    pub fn locate(path: &Path) -> Result<InstalledEnv, WheelError> {
        let meta = fs::metadata(path).map_err(|source| WheelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(WheelError::NotAnEnvironment {
                path: path.to_path_buf(),
                reason: "it is not a folder".to_string(),
            });
        }
        let cfg_path = path.join("pyvenv.cfg");
        let pyvenv_cfg = match fs::read_to_string(&cfg_path) {
            Ok(text) => Some(parse_pyvenv_cfg(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(WheelError::Io {
                    path: cfg_path,
                    source,
                });
            }
        };
        let mut site_packages = prefix_site_packages(path)?;
        if site_packages.is_empty() {
            if pyvenv_cfg.is_some() {
                return Err(WheelError::NotAnEnvironment {
                    path: path.to_path_buf(),
                    reason:
                        "it has pyvenv.cfg but no lib/python3.*/site-packages or Lib/site-packages"
                            .to_string(),
                });
            }
            let named = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "site-packages" || n == "dist-packages");
            if named || has_dist_info(path)? {
                site_packages.push(path.to_path_buf());
            } else {
                return Err(WheelError::NotAnEnvironment {
                    path: path.to_path_buf(),
                    reason: "no pyvenv.cfg, no lib/python3.*/site-packages and no *.dist-info"
                        .to_string(),
                });
            }
        }
        Ok(InstalledEnv {
            root: path.to_path_buf(),
            site_packages,
            pyvenv_cfg,
        })
    }

    /// A `pyvenv.cfg` value (`version`, `home`, …), when the root is a virtual environment.
    pub fn pyvenv_value(&self, key: &str) -> Option<&str> {
        self.pyvenv_cfg
            .as_ref()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The free-threaded target named by a site-packages path (`lib/python3.14t/…`), if any.
    pub fn target_from_layout(&self) -> Option<PythonTarget> {
        self.site_packages.iter().find_map(|sp| {
            let dir = sp.parent()?.file_name()?.to_str()?;
            dir.strip_prefix("python")?.parse().ok()
        })
    }

    /// Finds every distribution and native file under the site-packages folders and
    /// classifies the native files for `target` on `platform`.
    pub fn scan(
        &self,
        target: PythonTarget,
        platform: Platform,
    ) -> Result<InstalledScan, WheelError> {
        let mut scan = InstalledScan {
            distributions: Vec::new(),
            unowned: Vec::new(),
            interpreter_tags: Vec::new(),
            warnings: Vec::new(),
        };
        let mut tag_counts: BTreeMap<SoabiTag, usize> = BTreeMap::new();
        for site in &self.site_packages {
            let mut files = Vec::new();
            walk(site, site, &mut files, &mut scan.warnings)?;
            files.sort();
            for f in &files {
                let name = f.rsplit('/').next().unwrap_or(f);
                if let Some(tag) = parse_soabi(name) {
                    *tag_counts.entry(tag).or_default() += 1;
                }
            }
            let classified = classify_members(files.iter().map(String::as_str), target, platform);
            let mut dists = read_distributions(site, &mut scan.warnings)?;
            let mut owner: HashMap<&str, usize> = HashMap::new();
            for (i, d) in dists.iter().enumerate() {
                for f in &d.files {
                    owner.entry(f.as_str()).or_insert(i);
                }
            }
            let mut owned: Vec<(usize, NativeFile)> = Vec::new();
            for m in classified {
                let file = NativeFile {
                    path: site.join(&m.path),
                    relative: m.path,
                    kind: m.kind,
                    shadowed_by: m.shadowed_by,
                };
                match owner.get(file.relative.as_str()) {
                    Some(&i) => owned.push((i, file)),
                    None => scan.unowned.push(file),
                }
            }
            for (i, file) in owned {
                dists[i].native.push(file);
            }
            scan.distributions.extend(dists);
        }
        scan.distributions
            .sort_by_key(|d| (super::normalize_name(&d.name), d.dist_info.clone()));
        let mut tags: Vec<(SoabiTag, usize)> = tag_counts.into_iter().collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scan.interpreter_tags = tags;
        Ok(scan)
    }
}

fn parse_pyvenv_cfg(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .filter(|(k, _)| !k.is_empty() && !k.starts_with('#'))
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WheelError + '_ {
    move |source| WheelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `lib/python3.*/site-packages`, `lib64/…` and `Lib/site-packages` under a prefix,
/// without duplicates (`lib64` is often a link to `lib`).
fn prefix_site_packages(root: &Path) -> Result<Vec<PathBuf>, WheelError> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        let canonical = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if !seen.contains(&canonical) {
            seen.push(canonical);
            found.push(p);
        }
    };
    for lib in ["lib", "lib64"] {
        let dir = root.join(lib);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.starts_with("python3"))
            .collect();
        names.sort();
        for n in names {
            let sp = dir.join(n).join("site-packages");
            if sp.is_dir() {
                push(sp);
            }
        }
    }
    for sp in [
        root.join("Lib/site-packages"),
        root.join("lib/site-packages"),
    ] {
        if sp.is_dir() {
            push(sp);
        }
    }
    Ok(found)
}

fn has_dist_info(dir: &Path) -> Result<bool, WheelError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.file_name().to_string_lossy().ends_with(".dist-info") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a file name may be native code (an extension module or a shared library).
fn looks_native(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".so")
        || lower.ends_with(".pyd")
        || lower.ends_with(".dylib")
        || lower.ends_with(".dll")
        || lower.contains(".so.")
}

/// Collects the `/`-separated relative paths of candidate native files under `dir`. Symbolic
/// links to folders are not followed; `__pycache__` is skipped.
fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), WheelError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if dir != root => {
            warnings.push(format!("cannot read {}: {e}", dir.display()));
            return Ok(());
        }
        Err(source) => {
            return Err(WheelError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            warnings.push(format!("skipped non-UTF-8 name {}", path.display()));
            continue;
        };
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if name != "__pycache__" {
                walk(root, &path, out, warnings)?;
            }
        } else if looks_native(&name)
            && path.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(rel.join("/"));
        }
    }
    Ok(())
}

/// Normalizes a `RECORD` path relative to site-packages: `\` → `/`, `.` dropped, `..`
/// applied lexically. Paths that leave site-packages keep their leading `../`.
fn normalize_record_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let mut above = 0usize;
    let unified = path.replace('\\', "/");
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    above += 1;
                }
            }
            p => parts.push(p),
        }
    }
    let mut out = "../".repeat(above);
    out.push_str(&parts.join("/"));
    out
}

fn read_distributions(
    site: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<InstalledDistribution>, WheelError> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(site)
        .map_err(io_err(site))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".dist-info"))
        })
        .collect();
    dirs.sort();
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let dir_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .trim_end_matches(".dist-info")
            .to_string();
        let (fallback_name, fallback_version) = match dir_name.split_once('-') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (dir_name.clone(), String::new()),
        };
        let meta_path = dir.join("METADATA");
        let (name, version) = match fs::read_to_string(&meta_path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                CoreMetadata::parse(&t, &meta_path.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(meta) => (meta.name, meta.version),
            Err(e) => {
                warnings.push(format!("{}: {e}", meta_path.display()));
                (fallback_name, fallback_version)
            }
        };
        let record_path = dir.join("RECORD");
        let files = match fs::read_to_string(&record_path)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                Record::parse(&t, &record_path.display().to_string()).map_err(|e| e.to_string())
            }) {
            Ok(record) => record
                .entries
                .iter()
                .map(|e| normalize_record_path(&e.path))
                .collect(),
            Err(e) => {
                warnings.push(format!("{}: {e}", record_path.display()));
                Vec::new()
            }
        };
        out.push(InstalledDistribution {
            dist_info: dir,
            name,
            version,
            files,
            native: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, data: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data).unwrap();
    }

    fn venv() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "pyvenv.cfg",
            "home = /usr/bin\nversion = 3.14.7\nimplementation = CPython\n",
        );
        let sp = "lib/python3.14t/site-packages";
        let files = [
            "markupsafe/__init__.py",
            "markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so",
            "lxml/etree.cpython-314t-x86_64-linux-gnu.so",
            "lxml/objectify.cpython-314t-x86_64-linux-gnu.so",
            "lxml/old.cpython-314-x86_64-linux-gnu.so",
            "numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so",
            "numpy.libs/libscipy_openblas64_-ff651d7f.so",
            "numpy.libs/libgfortran-040039e1.so.5.0.0",
            "stray/_ext.cpython-314t-x86_64-linux-gnu.so",
            "stray/__pycache__/x.cpython-314t-x86_64-linux-gnu.so",
        ];
        for f in files {
            write(root, &format!("{sp}/{f}"), "");
        }
        write(
            root,
            &format!("{sp}/MarkupSafe-3.0.4.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: MarkupSafe\nVersion: 3.0.4\n",
        );
        write(
            root,
            &format!("{sp}/MarkupSafe-3.0.4.dist-info/RECORD"),
            "markupsafe/__init__.py,sha256=x,1\nmarkupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so,sha256=y,2\nMarkupSafe-3.0.4.dist-info/RECORD,,\n",
        );
        write(
            root,
            &format!("{sp}/lxml-6.1.3.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: lxml\nVersion: 6.1.3\n",
        );
        // `..` and `./` in RECORD, as some installers write them.
        write(
            root,
            &format!("{sp}/lxml-6.1.3.dist-info/RECORD"),
            "lxml/etree.cpython-314t-x86_64-linux-gnu.so,,\n./lxml/objectify.cpython-314t-x86_64-linux-gnu.so,,\nlxml/sub/../old.cpython-314-x86_64-linux-gnu.so,,\n../../../bin/xslt,,\n",
        );
        write(
            root,
            &format!("{sp}/numpy-2.5.5.dist-info/METADATA"),
            "Name: numpy\nVersion: 2.5.5\n",
        );
        write(
            root,
            &format!("{sp}/numpy-2.5.5.dist-info/RECORD"),
            "numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so,,\nnumpy.libs/libscipy_openblas64_-ff651d7f.so,,\nnumpy.libs/libgfortran-040039e1.so.5.0.0,,\n",
        );
        // A broken dist-info: no METADATA, bad RECORD.
        write(
            root,
            &format!("{sp}/broken-0.1.dist-info/RECORD"),
            "\"unterminated\n",
        );
        tmp
    }

    #[test]
    fn scans_a_virtualenv() {
        let tmp = venv();
        let env = InstalledEnv::locate(tmp.path()).unwrap();
        assert_eq!(env.site_packages.len(), 1);
        assert!(env.site_packages[0].ends_with("lib/python3.14t/site-packages"));
        assert_eq!(env.pyvenv_value("version"), Some("3.14.7"));
        assert_eq!(env.target_from_layout(), Some(PythonTarget::Py314t));

        let scan = env
            .scan(PythonTarget::Py314t, Platform::LinuxX86_64)
            .unwrap();
        let names: Vec<(&str, &str)> = scan
            .distributions
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("broken", "0.1"),
                ("lxml", "6.1.3"),
                ("MarkupSafe", "3.0.4"),
                ("numpy", "2.5.5")
            ]
        );
        assert_eq!(scan.warnings.len(), 2, "{:?}", scan.warnings);

        let lxml = &scan.distributions[1];
        assert!(lxml.files.contains(&"../../../bin/xslt".to_string()));
        let lxml_native: Vec<(&str, bool)> = lxml
            .native
            .iter()
            .map(|f| {
                (
                    f.relative.as_str(),
                    matches!(f.kind, MemberKind::Extension(_)),
                )
            })
            .collect();
        assert_eq!(
            lxml_native,
            [
                ("lxml/etree.cpython-314t-x86_64-linux-gnu.so", true),
                ("lxml/objectify.cpython-314t-x86_64-linux-gnu.so", true),
                ("lxml/old.cpython-314-x86_64-linux-gnu.so", false),
            ]
        );
        assert!(matches!(
            lxml.native[2].kind,
            MemberKind::ForeignExtension(ref f) if f.reason == super::super::ForeignReason::GilBuild
        ));

        let numpy = &scan.distributions[3];
        assert_eq!(numpy.native.len(), 3);
        let libs = numpy
            .native
            .iter()
            .filter(|f| matches!(f.kind, MemberKind::SharedLibrary(_)))
            .count();
        assert_eq!(libs, 2);
        assert!(numpy.native.iter().any(|f| {
            f.path
                .ends_with("numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so")
                && f.path.is_absolute()
        }));

        let unowned: Vec<&str> = scan.unowned.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(unowned, ["stray/_ext.cpython-314t-x86_64-linux-gnu.so"]);
        assert_eq!(scan.native_files().count(), 1 + 1 + 3 + 3);

        let top = scan.dominant_interpreter().unwrap();
        assert_eq!(top.to_string(), "cpython-314t-x86_64-linux-gnu");
        assert_eq!(top.interpreter(), "cpython-314t");
        assert_eq!(top.python_target(), Some(PythonTarget::Py314t));
        assert_eq!(top.platform(), Some(Platform::LinuxX86_64));
        assert_eq!(scan.interpreter_tags[0].1, 5);
        assert_eq!(scan.interpreter_tags[1].0.interpreter(), "cpython-314");
    }

    #[test]
    fn site_packages_given_directly_and_windows_layout() {
        let tmp = venv();
        let sp = tmp.path().join("lib/python3.14t/site-packages");
        let env = InstalledEnv::locate(&sp).unwrap();
        assert_eq!(env.site_packages, std::slice::from_ref(&sp));
        assert!(env.pyvenv_cfg.is_none());
        let scan = env
            .scan(PythonTarget::Py314t, Platform::LinuxX86_64)
            .unwrap();
        assert_eq!(scan.distributions.len(), 4);

        let win = tempfile::tempdir().unwrap();
        write(win.path(), "pyvenv.cfg", "version = 3.14.0\n");
        write(
            win.path(),
            "Lib/site-packages/foo/_x.cp314t-win_amd64.pyd",
            "",
        );
        write(win.path(), "Lib/site-packages/foo/vcruntime140.dll", "");
        let env = InstalledEnv::locate(win.path()).unwrap();
        let scan = env
            .scan(PythonTarget::Py314t, Platform::WindowsAmd64)
            .unwrap();
        assert_eq!(scan.unowned.len(), 2);
        let top = scan.dominant_interpreter().unwrap();
        assert_eq!(top.to_string(), "cp314t-win_amd64");
        assert_eq!(top.platform(), Some(Platform::WindowsAmd64));
    }

    #[test]
    fn not_an_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let err = InstalledEnv::locate(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        write(tmp.path(), "pyvenv.cfg", "version = 3.14\n");
        let err = InstalledEnv::locate(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("pyvenv.cfg"), "{err}");
        let file = tmp.path().join("pyvenv.cfg");
        assert!(InstalledEnv::locate(&file).is_err());
        let missing = tmp.path().join("nope");
        let err = InstalledEnv::locate(&missing).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn record_paths_normalize() {
        let cases = [
            ("a/b.so", "a/b.so"),
            ("./a/b.so", "a/b.so"),
            ("a/c/../b.so", "a/b.so"),
            ("../../../bin/x", "../../../bin/x"),
            ("a\\b.pyd", "a/b.pyd"),
            ("a//b.so", "a/b.so"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_record_path(input), want, "{input}");
        }
    }

    #[test]
    fn soabi_tags() {
        let t = parse_soabi("x.cpython-315t-aarch64-linux-musl.so").unwrap();
        assert_eq!(t.python_target(), Some(PythonTarget::Py315t));
        assert_eq!(t.platform(), Some(Platform::MusllinuxAarch64));
        let t = parse_soabi("x.cpython-314t-darwin.so").unwrap();
        assert_eq!(t.platform(), None);
        assert_eq!(t.platform.as_deref(), Some("darwin"));
        let t = parse_soabi("x.cpython-314td-x86_64-linux-gnu.so").unwrap();
        assert_eq!(t.python_target(), None);
        assert_eq!(parse_soabi("x.abi3.so"), None);
        assert_eq!(parse_soabi("x.so"), None);
        assert_eq!(parse_soabi("x.pyd"), None);
        assert_eq!(parse_soabi("x.pypy310-pp73-x86_64-linux-gnu.so"), None);
        assert_eq!(parse_soabi("x.cpython-3x.so"), None);
    }
}
