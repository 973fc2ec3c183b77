//! `gilfree audit` out of the box, against the local test index: the platform gilfree runs
//! on by default, `[tool.gilfree]` and the environment, the file found without being named,
//! lines that are not index releases, extra indexes, colour and `-o`, and the exit code and
//! the one line of every bad input.

mod common;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{LRU, Run, TIME_MACHINE};
use support::{Fault, FileSpec, ProjectSpec, Scope, TestIndex, Times};

/// time-machine: ready on Linux (a real cp314t wheel), and only a cp313t wheel for Windows
/// (never read); lru-dict turns the GIL on.
fn served() -> TestIndex {
    let index = TestIndex::start();
    index.add_project(
        ProjectSpec::new("time-machine")
            .file(FileSpec::new(
                TIME_MACHINE,
                support::fixture_wheel(TIME_MACHINE),
            ))
            .file(FileSpec::new(
                "time_machine-3.6.0-cp313-cp313t-win_amd64.whl",
                b"never read".to_vec(),
            )),
    );
    index.add_project(
        ProjectSpec::new("lru-dict").file(FileSpec::new(LRU, support::fixture_wheel(LRU))),
    );
    index
}

fn audit_in(dir: &Path, index: &TestIndex, env: &[(&str, &str)], args: &[&str]) -> Run {
    let url = index.index_url();
    let mut all = vec!["audit", "--index-url", &url, "--no-store", "--no-progress"];
    all.extend_from_slice(args);
    common::gilfree_on_loopback_with(dir, env, &all)
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    tmp
}

#[test]
fn without_a_platform_the_audit_is_for_the_platform_gilfree_runs_on() {
    let index = served();
    let tmp = project(&[("requirements.txt", "time-machine==3.6.0\n")]);
    let host = gilfree::wheel::Platform::host().unwrap().to_string();

    let run = audit_in(
        tmp.path(),
        &index,
        &[],
        &["--format", "json", "requirements.txt"],
    );
    let doc = run.json();
    assert_eq!(doc["target"]["platform"][0].as_str(), Some(host.as_str()));
    assert_eq!(
        doc["target"]["origin"]["platform"],
        "the platform gilfree runs on"
    );
    if host == "linux-x86_64" {
        assert_eq!(run.code, 0, "ready where it runs: {run:?}");
        let text = audit_in(tmp.path(), &index, &[], &["requirements.txt"]);
        assert!(
            text.stdout.starts_with(
                "Audited requirements.txt for 3.14t on linux-x86_64 (the platform gilfree runs on; --platform all for every platform)\n"
            ),
            "{}",
            text.stdout
        );
    }

    // `all`: Windows has no free-threaded wheel, and that fails.
    let all = audit_in(
        tmp.path(),
        &index,
        &[],
        &["--platform", "all", "--format", "json", "requirements.txt"],
    );
    assert_eq!(all.code, 1, "{all:?}");
    let doc = all.json();
    assert_eq!(doc["target"]["platform"], Value::Array(Vec::new()));
    let targets = doc["packages"][0]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{doc}");

    // A wheel platform tag names its platform.
    let tag = audit_in(
        tmp.path(),
        &index,
        &[],
        &["--platform", "win_amd64", "requirements.txt"],
    );
    assert_eq!(tag.code, 1, "{tag:?}");
    assert!(
        tag.stdout
            .contains("for 3.14t on windows-amd64 (platform from --platform)"),
        "{}",
        tag.stdout
    );
}

#[test]
fn settings_come_from_pyproject_then_the_environment_then_the_command_line() {
    let index = served();
    let pyproject = "[project]\nname = \"app\"\nversion = \"1\"\n\n[tool.gilfree]\nplatform = \"all\"\nignore = [{ name = \"lru_dict\", reason = \"only the benchmarks import it\" }]\n";
    let tmp = project(&[
        ("pyproject.toml", pyproject),
        ("requirements.txt", "time-machine==3.6.0\nlru-dict==1.4.1\n"),
    ]);
    // The file: every platform (Windows fails), lru-dict ignored.
    let run = audit_in(tmp.path(), &index, &[], &["requirements.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("(platform from [tool.gilfree] in "),
        "{}",
        run.stdout
    );
    let lru = run
        .stdout
        .lines()
        .find(|l| l.contains("lru-dict==1.4.1"))
        .unwrap();
    assert!(
        lru.ends_with("(ignored: only the benchmarks import it)"),
        "{lru}"
    );
    // The environment over the file.
    let env = audit_in(
        tmp.path(),
        &index,
        &[("GILFREE_PLATFORM", "linux-x86_64")],
        &["requirements.txt"],
    );
    assert_eq!(env.code, 0, "time-machine ready, lru-dict ignored: {env:?}");
    assert!(
        env.stdout.contains("(platform from $GILFREE_PLATFORM)"),
        "{}",
        env.stdout
    );
    // The command line over both.
    let cli = audit_in(
        tmp.path(),
        &index,
        &[("GILFREE_PLATFORM", "linux-x86_64")],
        &[
            "--platform",
            "windows-amd64",
            "--fail-on",
            "gil-fallback",
            "requirements.txt",
        ],
    );
    assert_eq!(
        cli.code, 0,
        "no-wheel does not fail with --fail-on gil-fallback: {cli:?}"
    );
    // A bad value names its source, in one line.
    let bad = audit_in(
        tmp.path(),
        &index,
        &[("GILFREE_FAIL_ON", "gil-falback")],
        &["requirements.txt"],
    );
    assert_eq!(bad.code, 2);
    assert_eq!(bad.stdout, "");
    assert_eq!(bad.stderr_lines().len(), 1, "{}", bad.stderr);
    assert!(
        bad.stderr
            .starts_with("error: $GILFREE_FAIL_ON: unknown readiness"),
        "{}",
        bad.stderr
    );
}

#[test]
fn with_no_file_the_projects_dependency_file_is_found_and_named() {
    let index = served();
    let tmp = project(&[
        (
            "pyproject.toml",
            "[project]\nname = \"app\"\nversion = \"1\"\ndependencies = [\"lru-dict\"]\n",
        ),
        ("requirements.txt", "time-machine==3.6.0\n"),
    ]);
    let run = audit_in(tmp.path(), &index, &[], &["--platform", "linux-x86_64"]);
    assert_eq!(
        run.code, 0,
        "requirements.txt comes before pyproject.toml: {run:?}"
    );
    assert_eq!(
        run.stderr_lines(),
        ["Auditing requirements.txt (found in the current folder)"]
    );
    assert!(
        run.stdout.starts_with("Audited requirements.txt for"),
        "{}",
        run.stdout
    );
}

#[test]
fn lines_that_are_not_index_releases_are_read_for_what_they_are() {
    let index = served();
    let tmp = project(&[(
        "pyproject.toml",
        "[project]\nname = \"app\"\nversion = \"1\"\n",
    )]);
    let wheel_url = index.file_url(LRU);
    let text = format!(
        "-e .\n./libs/helper\nlru-dict @ {wheel_url}\nblack @ git+https://github.com/psf/black.git\nsdistpkg @ https://example.invalid/sdistpkg-1.0.tar.gz\n"
    );
    std::fs::create_dir_all(tmp.path().join("libs/helper")).unwrap();
    std::fs::write(
        tmp.path().join("libs/helper/pyproject.toml"),
        "[project]\nname = \"helper\"\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("requirements.txt"), text).unwrap();

    let run = audit_in(
        tmp.path(),
        &index,
        &[],
        &[
            "--platform",
            "linux-x86_64",
            "--format",
            "json",
            "requirements.txt",
        ],
    );
    assert_eq!(
        run.code, 1,
        "the wheel at its URL turns the GIL on: {run:?}"
    );
    let doc = run.json();
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(skipped[0]["reason"], "the project itself, not audited");
    assert!(
        skipped[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("a local project at ./libs/helper")
    );
    let get = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(get("lru-dict")["readiness"], "gil-fallback");
    assert_eq!(get("lru-dict")["version"], "1.4.1");
    assert!(
        get("lru-dict")["note"]
            .as_str()
            .unwrap()
            .starts_with("a direct URL: read at http://127.0.0.1")
    );
    for name in ["black", "sdistpkg"] {
        assert_eq!(get(name)["readiness"], "source-only", "{name}");
        assert_eq!(
            get(name)["fails"],
            false,
            "{name}: blocking only when asked"
        );
    }
    // Only the wheel at its URL, and lru-dict's page for an upgrade, were asked for (the
    // sdist's host is never contacted).
    assert!(
        index
            .requests()
            .iter()
            .all(|r| r.path.contains("lru_dict") || r.path == "/simple/lru-dict/"),
        "{:?}",
        index.requests()
    );

    let text = audit_in(
        tmp.path(),
        &index,
        &[],
        &["--platform", "linux-x86_64", "requirements.txt"],
    );
    assert!(
        text.stdout.lines().any(
            |l| l.starts_with("NOT AUDITED") && l.contains("(the project itself, not audited)")
        ),
        "{}",
        text.stdout
    );
}

#[test]
fn extra_indexes_are_searched_as_pip_does() {
    let main = TestIndex::start();
    main.add_project(ProjectSpec::new("time-machine").file(FileSpec::new(
        TIME_MACHINE,
        support::fixture_wheel(TIME_MACHINE),
    )));
    let extra = TestIndex::start();
    extra.add_project(
        ProjectSpec::new("lru-dict").file(FileSpec::new(LRU, support::fixture_wheel(LRU))),
    );
    let file = format!(
        "--extra-index-url {}\ntime-machine==3.6.0\nlru-dict==1.4.1\n",
        extra.index_url()
    );
    let tmp = project(&[("requirements.txt", &file)]);
    let run = audit_in(
        tmp.path(),
        &main,
        &[],
        &[
            "--platform",
            "linux-x86_64",
            "--format",
            "json",
            "requirements.txt",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(
        common::readiness_of(&doc),
        [
            ("lru-dict".into(), "gil-fallback".into()),
            ("time-machine".into(), "ready".into())
        ]
    );

    // The same from the command line; an extra index that does not answer is a warning.
    let tmp = project(&[("requirements.txt", "time-machine==3.6.0\n")]);
    let run = audit_in(
        tmp.path(),
        &main,
        &[],
        &[
            "--platform",
            "linux-x86_64",
            "--extra-index-url",
            "http://127.0.0.1:9/simple/",
            "--timeout",
            "2",
            "requirements.txt",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: extra index http://127.0.0.1:9/simple/ does not answer"),
        "{}",
        run.stderr
    );
}

#[test]
fn colour_and_output_files() {
    let index = served();
    let tmp = project(&[("requirements.txt", "lru-dict==1.4.1\n")]);
    let plain = audit_in(
        tmp.path(),
        &index,
        &[],
        &["--platform", "linux-x86_64", "requirements.txt"],
    );
    assert!(!plain.stdout.contains('\u{1b}'), "no colour off a terminal");
    let forced = audit_in(
        tmp.path(),
        &index,
        &[],
        &[
            "--platform",
            "linux-x86_64",
            "--color",
            "always",
            "requirements.txt",
        ],
    );
    assert!(
        forced
            .stdout
            .contains("\u{1b}[1m\u{1b}[31mTURNS THE GIL ON"),
        "{:?}",
        forced.stdout
    );
    let env = audit_in(
        tmp.path(),
        &index,
        &[("FORCE_COLOR", "1")],
        &["--platform", "linux-x86_64", "requirements.txt"],
    );
    assert!(env.stdout.contains('\u{1b}'));
    let never = audit_in(
        tmp.path(),
        &index,
        &[("FORCE_COLOR", "1")],
        &[
            "--platform",
            "linux-x86_64",
            "--color",
            "never",
            "requirements.txt",
        ],
    );
    assert_eq!(never.stdout, plain.stdout);

    for format in ["text", "json", "markdown", "github", "sarif"] {
        let out = tmp.path().join(format!("report.{format}"));
        let run = audit_in(
            tmp.path(),
            &index,
            &[],
            &[
                "--platform",
                "linux-x86_64",
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
                "requirements.txt",
            ],
        );
        assert_eq!(run.code, 1, "{format}: {run:?}");
        assert_eq!(run.stdout, "", "{format}: the report went to the file");
        let written = std::fs::read_to_string(&out).unwrap();
        assert!(written.contains("lru-dict"), "{format}: {written}");
    }
}

#[test]
fn verbose_text_shows_the_evidence_per_target() {
    let index = served();
    let tmp = project(&[("requirements.txt", "lru-dict==1.4.1\ntime-machine==3.6.0\n")]);
    let run = audit_in(
        tmp.path(),
        &index,
        &[],
        &["-v", "--platform", "linux-x86_64", "requirements.txt"],
    );
    insta::assert_snapshot!("audit_verbose_text", run.stdout);
}

#[test]
fn an_index_that_does_not_answer_is_one_line_within_about_the_timeout() {
    let index = served();
    index.inject(
        Scope::All,
        Fault::Delay(Duration::from_secs(30)),
        Times::Always,
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let text: String = names.iter().map(|n| format!("{n}==1.0\n")).collect();
    let tmp = project(&[("requirements.txt", &text)]);
    let started = Instant::now();
    let run = audit_in(
        tmp.path(),
        &index,
        &[],
        &[
            "--platform",
            "linux-x86_64",
            "--timeout",
            "2",
            "requirements.txt",
        ],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "", "no report after a fatal error");
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: the package index at http://127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert!(
        took < Duration::from_secs(12),
        "took {took:?} for a 2 s timeout"
    );
}

/// Every bad input: its exit code and its one line (the table of the documentation).
#[test]
fn bad_inputs_exit_2_with_one_line_and_nothing_on_stdout() {
    let index = served();
    let tmp = project(&[
        ("empty.txt", "# nothing here\n"),
        (
            "broken.txt",
            "lru-dict==1.4.1\nthis is not a requirement ===\n",
        ),
        ("uv.lock", "version = 1\n[[package]\nname = 'x'\n"),
    ]);
    let empty_dir = tempfile::tempdir().unwrap();
    let cases: [(&Path, &[&str], &str); 5] = [
        (
            tmp.path(),
            &["empty.txt"],
            "error: empty.txt: lists no dependencies",
        ),
        (tmp.path(), &["broken.txt"], "error: broken.txt:2: "),
        (tmp.path(), &["uv.lock"], "error: uv.lock"),
        (tmp.path(), &["missing.txt"], "error: missing.txt: "),
        (empty_dir.path(), &[], "error: no dependency file in "),
    ];
    for (dir, args, want) in cases {
        let mut all = vec!["--platform", "linux-x86_64"];
        all.extend_from_slice(args);
        let run = audit_in(dir, &index, &[], &all);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert_eq!(run.stderr_lines().len(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with(want), "{args:?}: {}", run.stderr);
    }
}
