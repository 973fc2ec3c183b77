//! `gilfree audit` end to end against the local test index: a requirements file with pinned,
//! unpinned, marker-guarded and non-index requirements; readiness per dependency, the exit
//! code and `--fail-on`, and the JSON document.

mod common;
mod support;

use serde_json::Value;

use common::{LRU, Run, TIME_MACHINE};
use support::{FileSpec, ProjectSpec, TestIndex};

fn audit(index: &TestIndex, args: &[&str]) -> Run {
    let url = index.index_url();
    let mut all = vec![
        "audit",
        "--index-url",
        &url,
        "--no-store",
        "--platform",
        "linux-x86_64",
    ];
    all.extend_from_slice(args);
    common::gilfree_on_loopback(&all)
}

/// The audit JSON's package named `name`.
fn package<'d>(doc: &'d Value, name: &str) -> &'d Value {
    doc["packages"]
        .as_array()
        .expect("packages is an array")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {doc}"))
}

fn served() -> TestIndex {
    let index = TestIndex::start();
    for (name, wheel) in [("lru-dict", LRU), ("time-machine", TIME_MACHINE)] {
        index.add_project(
            ProjectSpec::new(name).file(FileSpec::new(wheel, support::fixture_wheel(wheel))),
        );
    }
    index
}

const REQUIREMENTS: &str = "\
# the project's pins
lru-dict==1.4.1 \\
    --hash=sha256:b21d06dec64fb1952385262d9fcefaec147921dc0b55210007091a79da440d93
time-machine
pywin32==311 ; sys_platform == \"win32\"
black @ git+https://github.com/psf/black.git
";

#[test]
fn a_requirements_file_gets_one_answer_per_dependency() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, REQUIREMENTS).unwrap();
    let file = file.to_str().unwrap();

    let run = audit(&index, &["--format", "json", file]);
    assert_eq!(run.code, 1, "lru-dict turns the GIL on: {run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["schema"], 2);
    assert_eq!(doc["target"]["platform"][0], "linux-x86_64");
    assert_eq!(doc["target"]["origin"]["platform"], "--platform");
    assert_eq!(doc["fails"], true);
    let packages = doc["packages"].as_array().unwrap();
    let get = |name: &str| package(&doc, name);
    assert_eq!(packages.len(), 3, "pywin32 does not apply on linux: {doc}");
    assert_eq!(get("lru-dict")["readiness"], "gil-fallback");
    assert_eq!(get("lru-dict")["source"], format!("{file}:2"));
    assert_eq!(get("lru-dict")["modules"][0]["module"], "lru._lru");
    assert_eq!(
        get("lru-dict")["modules"][0]["targets"][0],
        "3.14t linux-x86_64"
    );
    assert_eq!(get("lru-dict")["targets"][0]["readiness"], "gil-fallback");
    assert_eq!(get("lru-dict")["fails"], true);
    assert!(
        get("lru-dict")["suggestion"]
            .as_str()
            .unwrap()
            .contains("PyUnstable_Module_SetGIL")
    );
    assert_eq!(get("time-machine")["readiness"], "ready");
    assert_eq!(get("time-machine")["version"], "3.6.0");
    assert!(
        get("time-machine")["note"]
            .as_str()
            .unwrap()
            .contains("not pinned")
    );
    // A VCS requirement is built from source: it fails only when asked.
    assert_eq!(get("black")["readiness"], "source-only");
    assert_eq!(get("black")["fails"], false);
    assert!(
        get("black")["note"]
            .as_str()
            .unwrap()
            .contains("built from source (a version-control checkout"),
        "{doc}"
    );
    assert_eq!(audit(&index, &["--fail-on", "source-only", file]).code, 1);
    // Only no-wheel fails: nothing does.
    let run = audit(&index, &["--fail-on", "no-wheel", file]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("TURNS THE GIL ON"),
        "the targets, then blockers first: {}",
        run.stdout
    );
    assert_eq!(audit(&index, &["--fail-on", "none", file]).code, 0);
}

#[test]
fn a_broken_input_is_one_line_naming_the_file_and_line() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, "lru-dict==1.4.1\nthis is not a requirement ===\n").unwrap();
    let run = audit(&index, &[file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("requirements.txt:2"), "{}", run.stderr);
}

#[test]
fn a_blocked_pin_is_told_the_earliest_release_that_is_ready() {
    let index = served_with_blockers();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, "time-machine==3.5.0\nlru-dict==1.4.1\n").unwrap();
    let run = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let get = |name: &str| package(&doc, name);
    assert_eq!(get("time-machine")["readiness"], "no-wheel");
    assert_eq!(
        get("time-machine")["suggestion"],
        "upgrade to 3.6.0, whose wheels keep the GIL off"
    );
    let lru = get("lru-dict")["suggestion"].as_str().unwrap();
    assert!(
        lru.starts_with("no newer release keeps the GIL off (latest: 1.4.1)"),
        "{lru}"
    );
}

#[test]
fn markdown_and_github_annotations_name_the_blockers_and_their_lines() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, "time-machine==3.6.0\nlru-dict==1.4.1\n").unwrap();
    let file = file.to_str().unwrap();

    let md = audit(&index, &["--format", "markdown", file]);
    assert_eq!(md.code, 1);
    assert!(
        md.stdout.starts_with("### Free-threaded Python readiness"),
        "{}",
        md.stdout
    );
    let row = md
        .stdout
        .lines()
        .find(|l| l.starts_with("| `lru-dict==1.4.1`"))
        .expect(&md.stdout);
    assert!(
        row.contains("| **gil-fallback** |")
            && row.contains("lru._lru  turns the GIL on: single-phase init"),
        "{row}"
    );
    assert!(
        !md.stdout.contains("time-machine"),
        "ready dependencies stay out of the table"
    );

    let gh = audit(&index, &["--format", "github", file]);
    assert_eq!(gh.code, 1);
    let lines: Vec<&str> = gh.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", gh.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "::error file={file},line=2,title=gilfree::lru-dict==1.4.1: gil-fallback (lru._lru  turns the GIL on: single-phase init"
        )),
        "{}",
        lines[0]
    );
}

#[test]
fn a_project_pinned_and_unpinned_in_two_places_gets_two_answers() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, "time-machine==3.6.0\ntime-machine\n").unwrap();
    let run = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "{doc}");
    assert!(
        packages
            .iter()
            .all(|p| p["readiness"] == "ready" && p["version"] == "3.6.0"),
        "{doc}"
    );
}

/// An index with one dependency of each kind: a module that turns the GIL on (lru-dict), a
/// ready one (time-machine 3.6.0), a release without a free-threaded wheel (time-machine
/// 3.5.0) and a release with only an sdist.
fn served_with_blockers() -> TestIndex {
    let index = served();
    let old = "time_machine-3.5.0-cp313-cp313t-manylinux_2_17_x86_64.whl";
    index.add_project(
        ProjectSpec::new("time-machine")
            .file(FileSpec::new(old, b"never read".to_vec()))
            .file(FileSpec::new(
                TIME_MACHINE,
                support::fixture_wheel(TIME_MACHINE),
            )),
    );
    index.add_project(
        ProjectSpec::new("oldpkg").file(FileSpec::new("oldpkg-1.0.tar.gz", b"sdist".to_vec())),
    );
    index
}

#[test]
fn every_format_says_the_same_thing() {
    let index = served_with_blockers();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(
        &file,
        "lru-dict==1.4.1\ntime-machine==3.5.0\noldpkg==1.0\ntime-machine==3.6.0\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    for format in ["text", "json", "markdown", "github", "sarif"] {
        let run = audit(&index, &["--format", format, file]);
        assert_eq!(run.code, 1, "{format}: {run:?}");
        let out = if format == "json" {
            let doc = common::redact(serde_json::from_str(&run.stdout).unwrap(), &[tmp.path()]);
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            common::redact_text(&run.stdout, &[tmp.path()])
        };
        insta::assert_snapshot!(format!("audit_{format}"), out);
    }
}

#[test]
fn sarif_results_point_at_the_requirement_lines() {
    let index = served_with_blockers();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("requirements.txt"),
        "# pins\ntime-machine==3.6.0\nlru-dict==1.4.1\noldpkg==1.0\n",
    )
    .unwrap();
    // Run from the project folder with a relative path, as a CI job does.
    let url = index.index_url();
    let run = common::gilfree_on_loopback_in(
        tmp.path(),
        &[
            "audit",
            "--index-url",
            &url,
            "--no-store",
            "--platform",
            "linux-x86_64",
            "--format",
            "sarif",
            "--fail-on",
            "gil-fallback",
            "requirements.txt",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let lines: Vec<(&str, &str, u64)> = results
        .iter()
        .map(|r| {
            let place = &r["locations"][0]["physicalLocation"];
            assert_eq!(place["artifactLocation"]["uri"], "requirements.txt");
            (
                r["ruleId"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
                place["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [("gil-fallback", "error", 3), ("source-only", "warning", 4)]
    );
}

#[test]
fn a_lock_that_lists_its_files_is_read_from_them_without_the_index_page() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let sha = support::FileSpec::new(TIME_MACHINE, support::fixture_wheel(TIME_MACHINE)).sha256();
    let lock = format!(
        r#"version = 1
revision = 3
requires-python = ">=3.14"

[[package]]
name = "app"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "time-machine" }},
]

[[package]]
name = "time-machine"
version = "3.6.0"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "{}", hash = "sha256:{sha}" }},
]
"#,
        index.file_url(TIME_MACHINE)
    );
    let file = tmp.path().join("uv.lock");
    std::fs::write(&file, lock).unwrap();
    let run = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["packages"][0]["readiness"], "ready", "{doc}");
    assert!(
        index.requests_to("/simple/time-machine/").is_empty(),
        "the lock's own file list is used"
    );
}

/// A virtual environment for `python` (`3.14t`, `3.11`) with the given wheels installed.
fn venv(root: &std::path::Path, python: &str, wheels: &[&str]) -> std::path::PathBuf {
    let site = root.join(format!("lib/python{python}/site-packages"));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(root.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    for w in wheels {
        common::install(&common::wheel_path(w), &site);
    }
    site
}

#[test]
fn an_installed_free_threaded_environment_is_answered_from_its_files() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join(".venv");
    let site = venv(&env, "3.14t", &[LRU, TIME_MACHINE]);
    let info = site.join("mine-0.1.dist-info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: mine\nVersion: 0.1\n",
    )
    .unwrap();
    std::fs::write(info.join("RECORD"), "mine-0.1.dist-info/METADATA,,\n").unwrap();
    std::fs::write(
        info.join("direct_url.json"),
        r#"{"url": "file:///src/mine", "dir_info": {"editable": true}}"#,
    )
    .unwrap();

    let run = audit(&index, &["--format", "json", env.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let get = |name: &str| package(&doc, name);
    assert_eq!(get("lru-dict")["readiness"], "gil-fallback");
    assert_eq!(get("lru-dict")["modules"][0]["module"], "lru._lru");
    assert!(
        get("lru-dict")["source"]
            .as_str()
            .unwrap()
            .ends_with("lru_dict-1.4.1.dist-info/METADATA:3"),
        "{doc}"
    );
    assert_eq!(get("time-machine")["readiness"], "ready");
    assert_eq!(
        get("mine")["readiness"],
        "pure",
        "an editable install without modules"
    );
    let wheel_requests = index
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(".whl"))
        .count();
    assert_eq!(
        wheel_requests, 0,
        "installed files answer, not the index's wheels"
    );
}

#[test]
fn an_environment_for_another_interpreter_is_audited_by_its_versions() {
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("venv311");
    let site = venv(&env, "3.11", &[]);
    for (name, version) in [("lru_dict", "1.4.1"), ("time_machine", "3.6.0")] {
        let info = site.join(format!("{name}-{version}.dist-info"));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        )
        .unwrap();
        std::fs::write(info.join("RECORD"), "").unwrap();
    }
    let run = audit(&index, &["--format", "json", env.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("auditing its installed versions from the index"),
        "{}",
        run.stderr
    );
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        common::readiness_of(&doc),
        [
            ("lru-dict".into(), "gil-fallback".into()),
            ("time-machine".into(), "ready".into())
        ]
    );
}

#[test]
fn a_lock_without_a_wheel_for_the_target_is_audited_from_the_index() {
    // `pip lock` on a GIL interpreter keeps only that interpreter's wheel; uv drops wheels
    // outside requires-python. The release may still have one for the target.
    let index = served();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("pylock.toml");
    std::fs::write(
        &file,
        format!(
            r#"lock-version = "1.0"
created-by = "pip"

[[packages]]
name = "time-machine"
version = "3.6.0"

[[packages.wheels]]
name = "time_machine-3.6.0-cp314-cp314-manylinux_2_17_x86_64.whl"
url = "{}"
hashes = {{ sha256 = "{}" }}
"#,
            index.url("/files/time_machine-3.6.0-cp314-cp314-manylinux_2_17_x86_64.whl"),
            "1".repeat(64)
        ),
    )
    .unwrap();
    let run = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let p = &doc["packages"][0];
    assert_eq!(p["readiness"], "ready", "{doc}");
    assert!(
        p["note"]
            .as_str()
            .unwrap()
            .starts_with("the lock lists no wheel for this target"),
        "{doc}"
    );
}

#[test]
fn an_unpinned_requirement_is_audited_at_the_newest_release_its_specifier_admits() {
    let index = served_with_blockers();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.txt");
    std::fs::write(&file, "time-machine>=3.0,<3.6\n").unwrap();
    let run = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let p = &doc["packages"][0];
    assert_eq!(p["version"], "3.5.0", "{doc}");
    assert_eq!(p["readiness"], "no-wheel", "{doc}");
    let note = p["note"].as_str().unwrap();
    assert!(
        note.starts_with("not pinned: audited the newest release matching"),
        "{note}"
    );
    assert_eq!(
        p["suggestion"], "upgrade to 3.6.0, whose wheels keep the GIL off",
        "{doc}"
    );
    assert_eq!(
        index.requests_to("/simple/time-machine/").len(),
        1,
        "choosing the version, scanning it and searching an upgrade share one page request"
    );
}

/// A pure wheel whose metadata names its dependencies.
fn pure_wheel(name: &str, version: &str, requires: &[&str]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    let info = format!("{name}-{version}.dist-info");
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        metadata.push_str(&format!("Requires-Dist: {r}\n"));
    }
    metadata.push_str("\nA long description.\nRequires-Dist: not-a-header\n");
    for (file, body) in [
        (format!("{name}/__init__.py"), String::new()),
        (format!("{info}/METADATA"), metadata),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_string(),
        ),
    ] {
        zip.start_file(file, opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn deps_follows_what_unpinned_requirements_need_and_says_it_is_approximate() {
    let index = served();
    index.add_project(ProjectSpec::new("app").file(FileSpec::new(
        "app-1.0-py3-none-any.whl",
        pure_wheel(
            "app",
            "1.0",
            &[
                "lru-dict>=1.0",
                "pywin32>=300; sys_platform == 'win32'",
                "time-machine; extra == 'time'",
            ],
        ),
    )));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("requirements.in");
    let names = |run: &Run| -> Vec<String> {
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let mut names: Vec<String> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["name"].as_str().unwrap(),
                    p["readiness"].as_str().unwrap()
                )
            })
            .collect();
        names.sort();
        names
    };

    std::fs::write(&file, "app\n").unwrap();
    let without = audit(&index, &["--format", "json", file.to_str().unwrap()]);
    assert_eq!(names(&without), ["app pure"], "{without:?}");

    let run = audit(
        &index,
        &["--deps", "--format", "json", file.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "lru-dict turns the GIL on: {run:?}");
    assert_eq!(names(&run), ["app pure", "lru-dict gil-fallback"]);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let lru = package(&doc, "lru-dict");
    assert!(
        lru["note"]
            .as_str()
            .unwrap()
            .starts_with("approximate: a dependency of app==1.0 (>=1.0)"),
        "{lru}"
    );
    assert_eq!(lru["source"], format!("{}:1", file.display()));

    // The extra brings its dependency in.
    std::fs::write(&file, "app[time]\n").unwrap();
    let run = audit(
        &index,
        &["--deps", "--format", "json", file.to_str().unwrap()],
    );
    assert_eq!(
        names(&run),
        ["app pure", "lru-dict gil-fallback", "time-machine ready"]
    );
}
