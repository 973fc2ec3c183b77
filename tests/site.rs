//! `gilfree site` over a synthetic store: every page is written, every internal link and
//! asset resolves to a written file (and fragment), JSON parses, badges and the Atom feed
//! are well-formed XML, markup from the store is escaped, and a small page is snapshotted.

mod site_fixture;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Every file under `dir`, relative, with `/` separators.
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

/// The values of `attr="…"` in `html`.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let end = rest.find('"').unwrap();
        out.push(rest[..end].replace("&amp;", "&"));
        rest = &rest[end..];
    }
    out
}

/// `base`'s folder joined with a relative `link`, `..` resolved; `None` if it leaves the root.
fn resolve(base: &str, link: &str) -> Option<String> {
    let mut parts: Vec<String> = base.split('/').map(String::from).collect();
    parts.pop();
    for c in Path::new(link).components() {
        match c {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Replaces RFC 3339 times (which change with every build) by `[time]`.
fn redact_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        let candidate = bytes.get(i..i + 20);
        let is_time = candidate.is_some_and(|c| {
            c.iter().enumerate().all(|(k, b)| match k {
                4 | 7 => *b == b'-',
                10 => *b == b'T',
                13 | 16 => *b == b':',
                19 => *b == b'Z',
                _ => b.is_ascii_digit(),
            })
        });
        if is_time {
            out.push_str("[time]");
            i += 20;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Every project and interpreter of a `projects.json` that names a first ready release while
/// its latest release is not ready (nor pure) for that interpreter on the main platforms.
fn contradictions(all: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in all["projects"].as_array().unwrap() {
        let Some(first) = p["first_ready"].as_object() else {
            continue;
        };
        for (py, v) in first {
            let r = &p["readiness"][py];
            if !v.is_null() && r != "ready" && r != "pure" {
                out.push(format!("{} {py}: {r} but first ready {v}", p["name"]));
            }
        }
    }
    out
}

fn site() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = site_fixture::build_site(dir.path());
    (dir, out)
}

#[test]
fn every_page_and_file_is_written() {
    let (_dir, out) = site();
    let written = files(&out);
    for f in [
        "index.html",
        "projects.html",
        "projects-others-1.html",
        "blockers.html",
        "newly-ready.html",
        "feed.xml",
        "assets/site.css",
        "assets/site.js",
        "api/projects.json",
    ] {
        assert!(written.contains(f), "{f} missing from {written:?}");
    }
    for p in ["fastlib", "slowext", "tiered"] {
        assert!(written.contains(&format!("projects/{p}.html")), "{p}");
        assert!(written.contains(&format!("api/projects/{p}.json")), "{p}");
        assert!(written.contains(&format!("badges/{p}-3.14t.svg")), "{p}");
    }
    // Projects without native code cost one page; their badges are shared.
    for p in ["purepkg", "broken"] {
        let own: Vec<&String> = written.iter().filter(|f| f.contains(p)).collect();
        assert_eq!(own, [&format!("projects/{p}.html")], "{p}");
    }
    assert!(written.contains("badges/_pure-3.14t.svg"));
    // The search across the projects tables' pages links to a page for every name.
    let names: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(out.join("api/names.json")).unwrap())
            .unwrap();
    assert_eq!(names.len(), 5, "{names:?}");
    for n in &names {
        assert!(written.contains(&format!("projects/{n}.html")), "{n}");
    }
}

#[test]
fn every_internal_link_and_asset_resolves() {
    let (_dir, out) = site();
    let written = files(&out);
    let mut checked = 0;
    for page in written
        .iter()
        .filter(|f| f.ends_with(".html") || f.ends_with(".xml"))
    {
        let text = std::fs::read_to_string(out.join(page)).unwrap();
        let ids: BTreeSet<String> = attr_values(&text, "id").into_iter().collect();
        let external = |link: &str| {
            link.starts_with("http:") || link.starts_with("https:") || link.starts_with("//")
        };
        // Nothing is loaded from elsewhere; the only links out are a project's own
        // repository and tracker, from its metadata, which are never followed for rank.
        let srcs = attr_values(&text, "src");
        for link in &srcs {
            assert!(!external(link), "{page}: external resource {link}");
        }
        for link in attr_values(&text, "href").into_iter().chain(srcs) {
            if external(&link) {
                let anchor = format!("<a href=\"{link}\" rel=\"nofollow noopener\">");
                assert!(text.contains(&anchor), "{page}: external reference {link}");
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            if path.is_empty() {
                assert!(ids.contains(fragment), "{page}: no id {fragment}");
            } else {
                let target =
                    resolve(page, path).unwrap_or_else(|| panic!("{page}: {link} leaves the site"));
                assert!(
                    written.contains(&target),
                    "{page}: {link} → {target} not written"
                );
                if !fragment.is_empty() {
                    let other = std::fs::read_to_string(out.join(&target)).unwrap();
                    assert!(
                        attr_values(&other, "id").iter().any(|i| i == fragment),
                        "{page}: {link}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} links checked");
}

#[test]
fn json_parses_and_tells_readiness() {
    let (_dir, out) = site();
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("api/projects.json")).unwrap())
            .unwrap();
    assert_eq!(all["schema"], 2);
    assert_eq!(all["pythons"], serde_json::json!(["3.14t", "3.15t"]));
    let projects = all["projects"].as_array().unwrap();
    let names: Vec<&str> = projects
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fastlib", "slowext", "purepkg", "broken", "tiered"]);
    assert_eq!(projects[0]["readiness"]["3.14t"], "ready");
    assert_eq!(projects[0]["readiness"]["3.15t"], "no-wheel");
    assert_eq!(projects[0]["first_ready"]["3.14t"], "2.0");
    assert_eq!(
        projects[0]["first_ready_proven"]["3.14t"], true,
        "fastlib 1.0 was crawled and blocked"
    );
    assert_eq!(
        projects[2]["first_ready_proven"]["3.14t"], false,
        "only one release of purepkg was crawled: its first ready release is not known"
    );
    assert_eq!(projects[1]["readiness"]["3.14t"], "gil-fallback");
    assert_eq!(projects[2]["readiness"]["3.14t"], "pure");
    assert_eq!(projects[3]["error"], "HTTP 404");
    // The headline is judged over the main platforms; the rest is said beside it.
    let tiered = &projects[4];
    assert_eq!(tiered["native"], true);
    assert_eq!(tiered["readiness"]["3.14t"], "ready");
    assert_eq!(
        tiered["also"]["3.14t"]["unknown"],
        serde_json::json!(["linux-armv7l"])
    );
    assert_eq!(
        tiered["also"]["3.14t"]["no-wheel"],
        serde_json::json!(["windows-amd64"])
    );
    assert_eq!(tiered["first_free_threaded_wheel"]["3.14t"], "1.0");
    assert_eq!(
        tiered["first_free_threaded_wheel"]["3.15t"],
        serde_json::Value::Null
    );
    assert_eq!(
        (
            &tiered["first_ready"]["3.14t"],
            &tiered["first_ready_proven"]["3.14t"]
        ),
        (&serde_json::json!("1.0"), &serde_json::json!(true)),
        "no release before 1.0 has a cp314t wheel"
    );
    assert_eq!(projects[2]["native"], false);
    assert_eq!(
        projects[1]["first_ready"]["3.14t"],
        serde_json::Value::Null,
        "slowext turns the GIL on: no first ready release"
    );
    assert_eq!(contradictions(&all), Vec::<String>::new());
    assert_eq!(projects[2]["json"], serde_json::Value::Null);
    assert_eq!(projects[2]["badges"]["3.14t"], "badges/_pure-3.14t.svg");
    for f in files(&out)
        .iter()
        .filter(|f| f.starts_with("api/projects/"))
    {
        let one: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(f)).unwrap()).unwrap();
        assert_eq!(one["schema"], 2, "{f}");
    }
    // Since when, from the crawl's searches: per main platform, and the headline the
    // newest of them.
    let fast: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("api/projects/fastlib.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(fast["since"]["linux-x86_64"]["3.14t"], "2.0");
    assert_eq!(fast["since"]["macos-arm64"]["3.14t"], "2.0");
    assert_eq!(fast["first_ready"]["3.14t"], "2.0");
    assert_eq!(fast["first_ready_proven"]["3.14t"], true);
    assert_eq!(fast["first_ready_note"]["3.14t"], serde_json::Value::Null);
    let slow: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("api/projects/slowext.json")).unwrap(),
    )
    .unwrap();
    let modules = slow["modules"].as_array().unwrap();
    assert!(
        modules
            .iter()
            .any(|m| m["verdict"] == "gil-used" && m["binder"] == "pybind11")
    );
    assert!(slow["disagreement"].as_str().unwrap().contains("claim"));
}

#[test]
fn badges_and_the_feed_are_well_formed_xml() {
    let (_dir, out) = site();
    for f in files(&out).iter().filter(|f| f.starts_with("badges/")) {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{f}");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg"),
            "{f}"
        );
        assert!(root.descendants().any(|n| n.has_tag_name("title")), "{f}");
    }
    let fast = std::fs::read_to_string(out.join("badges/fastlib-3.14t.svg")).unwrap();
    assert!(fast.contains("ready"), "{fast}");
    let feed = std::fs::read_to_string(out.join("feed.xml")).unwrap();
    let doc = roxmltree::Document::parse(&feed).unwrap();
    let atom = "http://www.w3.org/2005/Atom";
    assert_eq!(doc.root_element().tag_name().namespace(), Some(atom));
    let entries: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name((atom, "entry")))
        .collect();
    assert_eq!(entries.len(), 1, "{feed}");
    for child in ["id", "title", "updated", "link"] {
        assert!(
            entries[0].children().any(|n| n.has_tag_name((atom, child))),
            "{child}"
        );
    }
    // The charts inlined in the overview are well-formed SVG too.
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let charts: Vec<&str> = index
        .split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap())
        .collect();
    assert_eq!(charts.len(), 2, "native projects, trend");
    for c in charts {
        roxmltree::Document::parse(&format!("<svg{c}</svg>")).unwrap();
    }
}

#[test]
fn pages_say_what_the_store_holds_and_escape_it() {
    let (_dir, out) = site();
    let slow = std::fs::read_to_string(out.join("projects/slowext.html")).unwrap();
    assert!(!slow.contains("<script>alert"), "evidence must be escaped");
    assert!(slow.contains("slowext._ext") && slow.contains("its m_slots have no Py_mod_gil entry"));
    assert!(slow.contains("Classifier and wheels disagree"));
    let fast = std::fs::read_to_string(out.join("projects/fastlib.html")).unwrap();
    assert!(
        fast.contains("no free-threading classifier"),
        "ready without a claim"
    );
    let blockers = std::fs::read_to_string(out.join("blockers.html")).unwrap();
    assert!(blockers.contains("id=\"p-slowext\""), "{blockers}");
    // Targets as a compact set per interpreter, the reason in words.
    assert!(
        blockers.contains("3.14t: all 2; 3.15t: linux-x86_64"),
        "{blockers}"
    );
    assert!(blockers.contains("its m_slots have no Py_mod_gil entry"));
    assert!(blockers.contains("py::mod_gil_not_used()"));
    assert!(
        slow.contains("id=\"issue-text\""),
        "slowext has an issue text"
    );
    assert!(slow.contains("`slowext._ext` (pybind11), 3.14t: all 2; 3.15t: linux-x86_64"));
    assert!(!fast.contains("id=\"issue\""), "fastlib blocks nothing");
    assert!(
        !blockers.contains("fastlib._core"),
        "fastlib 2.0 no longer blocks"
    );
    let projects = std::fs::read_to_string(out.join("projects.html")).unwrap();
    for landmark in [
        "<header>",
        "<nav aria-label=\"Site\">",
        "<main id=\"main\"",
        "<footer>",
        "<label for=\"q\">",
    ] {
        assert!(projects.contains(landmark), "{landmark}");
    }
    assert!(projects.contains("<html lang=\"en\">"));
}

#[test]
fn the_newly_ready_page_matches_its_snapshot() {
    let (_dir, out) = site();
    let page = std::fs::read_to_string(out.join("newly-ready.html")).unwrap();
    insta::assert_snapshot!(redact_times(&page));
}

/// The content of `<main>` (the frame is the same on every page), with the times and the
/// dates of the crawl runs (the day the test runs) redacted.
fn main_of(page: &str) -> String {
    let start = page.find("<main").unwrap();
    let end = page.find("</main>").unwrap();
    let text = redact_times(&page[start..end + 7]);
    let today = &gilfree::site::data::rfc3339(std::time::SystemTime::now())[..10];
    text.replace(today, "[day]")
}

#[test]
fn the_overview_matches_its_snapshot() {
    let (_dir, out) = site();
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    insta::assert_snapshot!(main_of(&page));
}

#[test]
fn the_blockers_page_matches_its_snapshot() {
    let (_dir, out) = site();
    let page = std::fs::read_to_string(out.join("blockers.html")).unwrap();
    insta::assert_snapshot!(main_of(&page));
}

#[test]
fn project_pages_match_their_snapshots() {
    let (_dir, out) = site();
    for name in ["slowext", "tiered", "purepkg"] {
        let page = std::fs::read_to_string(out.join(format!("projects/{name}.html"))).unwrap();
        insta::assert_snapshot!(format!("project_{name}"), main_of(&page));
    }
}

#[test]
fn a_missing_store_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let result = std::process::Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(["site", "--db"])
        .arg(dir.path().join("none.sqlite3"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("no such store"));
}

#[test]
fn an_empty_store_still_builds_a_site() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.sqlite3");
    drop(gilfree::store::Store::open(&db).unwrap());
    let out = dir.path().join("out");
    let store = gilfree::store::Store::open(&db).unwrap();
    let summary = gilfree::site::build(&store, &out).unwrap();
    assert_eq!(summary.projects, 0);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("No crawl has been recorded yet."));
}

/// Opt-in: the contradiction check over a site built from a real crawl.
/// `GILFREE_SITE_DIR=/path/to/site cargo test --test site -- --ignored`
#[test]
#[ignore = "needs a site built from a real crawl in GILFREE_SITE_DIR"]
fn a_real_site_has_no_first_ready_release_beside_a_not_ready_latest() {
    let dir = PathBuf::from(std::env::var_os("GILFREE_SITE_DIR").expect("GILFREE_SITE_DIR"));
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("api/projects.json")).unwrap())
            .unwrap();
    let projects = all["projects"].as_array().unwrap().len();
    let found = contradictions(&all);
    let with_first: usize = all["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["first_ready"]
                .as_object()
                .map_or(0, |m| m.values().filter(|v| !v.is_null()).count())
        })
        .sum();
    eprintln!(
        "{projects} projects, {with_first} first-ready claims, {} contradictions",
        found.len()
    );
    assert!(projects > 0 && with_first > 0);
    assert_eq!(found, Vec::<String>::new());
}

/// Builds the fixture's store into `out` with `gilfree site` and extra arguments.
fn build_into(dir: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let db = dir.join("store.sqlite3");
    if !db.exists() {
        site_fixture::fill(&db);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_gilfree"))
        .args(["site", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_base_url_makes_feed_badge_and_json_links_absolute() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    let result = build_into(dir.path(), &out, &["--base-url", "https://ft.example/site"]);
    assert!(result.status.success(), "{result:?}");
    let feed = std::fs::read_to_string(out.join("feed.xml")).unwrap();
    assert!(
        feed.contains("href=\"https://ft.example/site/feed.xml\""),
        "{feed}"
    );
    assert!(
        feed.contains("href=\"https://ft.example/site/projects/fastlib.html\""),
        "{feed}"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("href=\"https://ft.example/site/feed.xml\""));
    let page = std::fs::read_to_string(out.join("projects/tiered.html")).unwrap();
    assert!(
        page.contains("[![free-threaded 3.14t](https://ft.example/site/badges/tiered-3.14t.svg)](https://ft.example/site/projects/tiered.html)"),
        "{page}"
    );
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("api/projects.json")).unwrap())
            .unwrap();
    assert_eq!(all["base_url"], "https://ft.example/site/");
    assert_eq!(
        all["projects"][0]["badges"]["3.14t"],
        "https://ft.example/site/badges/fastlib-3.14t.svg"
    );

    let bad = build_into(
        dir.path(),
        &dir.path().join("other"),
        &["--base-url", "ft.example"],
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--base-url ft.example"), "{stderr}");
}

#[test]
fn files_of_an_earlier_build_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("site");
    assert!(build_into(dir.path(), &out, &[]).status.success());
    // Files the site wrote earlier that this build will not write again, and a user's own.
    std::fs::write(out.join("projects/gone.html"), "old").unwrap();
    std::fs::create_dir_all(out.join("api/old")).unwrap();
    std::fs::write(out.join("api/old/x.json"), "{}").unwrap();
    std::fs::write(out.join("CNAME"), "ft.example").unwrap();
    std::fs::write(out.join("projects/mine.html"), "mine").unwrap();
    let manifest = out.join(gilfree::site::MANIFEST);
    let mut listed = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        listed.lines().any(|l| l == "projects/tiered.html"),
        "{listed}"
    );
    listed.push_str("projects/gone.html\napi/old/x.json\n../outside.txt\n/etc/hostname\n");
    std::fs::write(&manifest, listed).unwrap();
    std::fs::write(dir.path().join("outside.txt"), "keep").unwrap();

    let result = build_into(dir.path(), &out, &[]);
    assert!(result.status.success(), "{result:?}");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("removed 2 files"), "{stderr}");
    assert!(!out.join("projects/gone.html").exists());
    assert!(!out.join("api/old").exists(), "an emptied folder goes too");
    assert!(out.join("CNAME").exists() && out.join("projects/mine.html").exists());
    assert!(dir.path().join("outside.txt").exists());
    assert!(out.join("projects/tiered.html").exists());
}
