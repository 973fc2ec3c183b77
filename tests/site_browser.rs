//! The site in a real headless browser (Debian's `chromium` driven by `chromedriver` over
//! the WebDriver protocol), served by a tiny local HTTP server: every page loads without a
//! console error and runs its script, typing in the search box filters the projects table,
//! clicking a readiness filter and a sort button do what they say.
//!
//! `.ci/run` installs chromium and chromium-driver. Run locally without `chromedriver` on
//! the PATH (or `$CHROMEDRIVER`), the test prints a notice and passes, except under `CI`.

mod site_fixture;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// WebDriver key codes.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const BACKSPACE: &str = "\u{E003}";
const ARROW_RIGHT: &str = "\u{E014}";

/// axe-core's browser build: `$AXE_CORE_JS`, or where `.ci/run` installs it.
fn find_axe() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AXE_CORE_JS") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/axe-core/node_modules/axe-core/axe.min.js");
    p.is_file().then_some(p)
}

/// The WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_chromedriver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
}

/// Serves `root` over HTTP on a free port until the process ends; returns the base URL.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &root);
            });
        }
    });
    base
}

fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let safe = !rel.split('/').any(|s| s == "..");
    let file = root.join(rel.trim_start_matches('/'));
    let (status, body, kind) = match std::fs::read(&file) {
        Ok(body) if safe => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("css") => "text/css",
                Some("js") => "text/javascript",
                Some("svg") => "image/svg+xml",
                Some("json") => "application/json",
                Some("xml") => "application/atom+xml",
                _ => "application/octet-stream",
            };
            ("200 OK", body, kind)
        }
        _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

/// A chromedriver process, ended (by its own handle) when dropped.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.url, self.session))
                .send();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .ok()
                .and_then(|r| r.text().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut options = json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"
        ]});
        if let Some(bin) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        {
            options["binary"] = json!(bin);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let session = driver.call("POST", "/session", Some(caps));
        driver.session = session["sessionId"].as_str().unwrap().to_string();
        driver
    }

    /// One WebDriver command; panics with the driver's message on an error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.url)
        } else {
            format!("{}/session/{}{path}", self.url, self.session)
        };
        let request = match method {
            "GET" => self.http.get(&url),
            _ => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let response = request.send().unwrap();
        let status = response.status();
        let value: Value = serde_json::from_str(&response.text().unwrap()).unwrap();
        assert!(status.is_success(), "{method} {path}: {value}");
        value["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), None);
    }

    /// The browser console's entries since the last call.
    fn console(&self) -> Vec<Value> {
        self.call("POST", "/se/log", Some(json!({"type": "browser"})))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Presses keys as a keyboard would (WebDriver key codes for Tab, Enter, arrows).
    fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Presses Tab until the focused element matches `css` (at most 60 times); panics
    /// when it is not reachable by keyboard.
    fn tab_to(&self, css: &str) {
        let check = format!(
            "return document.activeElement !== null && document.activeElement.matches({});",
            json!(css)
        );
        for _ in 0..60 {
            if self.script(&check) == json!(true) {
                return;
            }
            self.keys(TAB);
        }
        panic!("{css} is not reachable with Tab");
    }

    /// axe-core's serious and critical violations of the loaded page, and the others in
    /// words (axe's source is injected first).
    fn axe(&self, axe_source: &str) -> (Vec<String>, Vec<String>) {
        self.script(&format!("{axe_source}\n;return typeof axe;"));
        self.call("POST", "/timeouts", Some(json!({"script": 180_000})));
        let found = self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": "var done = arguments[arguments.length - 1];\
                axe.run(document, {resultTypes: ['violations']}).then(function (r) {\
                  done(r.violations.map(function (v) { return {id: v.id, impact: v.impact,\
                    help: v.help, nodes: v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); })}; }));\
                }, function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]); });",
                "args": []})),
        );
        let mut severe = Vec::new();
        let mut other = Vec::new();
        for v in found.as_array().cloned().unwrap_or_default() {
            let line = format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            );
            if v["impact"] == "serious" || v["impact"] == "critical" {
                severe.push(line);
            } else {
                other.push(line);
            }
        }
        (severe, other)
    }

    /// The `data-search` names of the visible project rows, in order.
    /// Waits up to ten seconds for `script` to return true.
    fn wait_for(&self, script: &str) {
        let start = Instant::now();
        while self.script(script) != Value::Bool(true) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "waited for {script}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn visible_projects(&self) -> Vec<String> {
        let v = self.script(
            "return Array.from(document.querySelectorAll('#projects tbody tr'))\
             .filter(r => !r.hidden && r.offsetParent !== null).map(r => r.dataset.search);",
        );
        serde_json::from_value(v).unwrap()
    }
}

/// The fixture site built, served and opened in a browser: its folder, its base URL and
/// the driver; `None` (after a notice) where chromedriver is missing, except under `CI`.
fn fixture_site_in_browser(test: &str) -> Option<(tempfile::TempDir, String, Driver)> {
    let Some(binary) = find_chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromedriver (.ci/run installs chromium-driver)"
        );
        eprintln!("NOTICE: chromedriver not found; skipping {test} of the site");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = serve(site_fixture::build_site(dir.path()));
    let driver = Driver::start(&binary);
    Some((dir, base, driver))
}

#[test]
fn pages_load_cleanly_and_search_filters_and_sorting_work() {
    let Some((_dir, base, driver)) = fixture_site_in_browser("the headless-browser test") else {
        return;
    };

    for page in [
        "index.html",
        "projects.html",
        "projects-others-1.html",
        "blockers.html",
        "newly-ready.html",
        "projects/fastlib.html",
        "projects/purepkg.html",
        "projects/slowext.html",
        "projects/broken.html",
    ] {
        driver.go(&format!("{base}{page}"));
        let js = driver.script("return document.documentElement.getAttribute('data-js');");
        assert_eq!(js, "ready", "{page}: the script did not run");
        let errors: Vec<Value> = driver
            .console()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "{page}: console errors {errors:?}");
        let broken_images = driver.script(
            "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);",
        );
        assert_eq!(broken_images, json!([]), "{page}");
    }

    driver.go(&format!("{base}projects.html"));
    assert_eq!(driver.visible_projects(), ["fastlib", "slowext", "tiered"]);
    let search = driver.element("#q");
    driver.call(
        "POST",
        &format!("/element/{search}/value"),
        Some(json!({"text": "slow"})),
    );
    assert_eq!(driver.visible_projects(), ["slowext"]);
    let status = driver.script("return document.querySelector('.status').textContent;");
    assert_eq!(status, "1 of 3 shown");
    driver.call("POST", &format!("/element/{search}/clear"), None);
    // `clear` fires no input event in every driver: fire one as a user's edit would.
    driver
        .script("document.querySelector('#q').dispatchEvent(new Event('input', {bubbles: true}));");
    assert_eq!(driver.visible_projects().len(), 3);

    driver.click("input[name=readiness][value=gil-fallback]");
    assert_eq!(driver.visible_projects(), ["slowext"]);
    driver.click("input[name=readiness][value=ready]");
    assert_eq!(driver.visible_projects(), ["fastlib", "tiered"]);
    driver.click("input[name=readiness][value='']");

    // Sorting by name, by keyboard-reachable buttons in the headers.
    driver.click("#projects thead th:nth-child(2) button");
    assert_eq!(driver.visible_projects(), ["fastlib", "slowext", "tiered"]);
    driver.click("#projects thead th:nth-child(2) button");
    assert_eq!(driver.visible_projects(), ["tiered", "slowext", "fastlib"]);

    // The projects without native code are one page away.
    driver.go(&format!("{base}projects-others-1.html"));
    assert_eq!(driver.visible_projects(), ["purepkg", "broken"]);

    // The blockers page filters its sections.
    driver.go(&format!("{base}blockers.html"));
    let search = driver.element("#q");
    driver.call(
        "POST",
        &format!("/element/{search}/value"),
        Some(json!({"text": "nothing-matches"})),
    );
    let visible = driver.script(
        "return Array.from(document.querySelectorAll('#blockers section')).filter(s => !s.hidden).length;",
    );
    assert_eq!(visible, 0);
}

#[test]
fn search_filters_and_sorting_work_from_the_keyboard() {
    let Some((_dir, base, driver)) = fixture_site_in_browser("the keyboard test") else {
        return;
    };
    driver.go(&format!("{base}projects.html"));
    // The skip link comes first and leads to the content.
    driver.keys(TAB);
    assert_eq!(
        driver.script("return document.activeElement.className;"),
        "skip"
    );
    driver.tab_to("#q");
    driver.keys("slow");
    assert_eq!(driver.visible_projects(), ["slowext"]);
    driver.keys(&BACKSPACE.repeat(4));
    assert_eq!(driver.visible_projects().len(), 3);
    // A project on another page of the table is offered as a link.
    driver.keys("pure");
    assert_eq!(driver.visible_projects(), Vec::<String>::new());
    driver.wait_for("return document.querySelector('.elsewhere a') !== null;");
    assert_eq!(
        driver.script("return document.querySelector('.elsewhere a').getAttribute('href');"),
        "projects/purepkg.html"
    );
    driver.keys(&BACKSPACE.repeat(4));
    assert_eq!(
        driver.script("return document.querySelector('.elsewhere').textContent;"),
        ""
    );
    // The readiness radios: Tab reaches the checked one, an arrow key picks the next.
    driver.tab_to("input[name=readiness]");
    driver.keys(ARROW_RIGHT);
    assert_eq!(
        driver.script("return document.querySelector('input[name=readiness]:checked').value;"),
        "ready"
    );
    assert_eq!(driver.visible_projects(), ["fastlib", "tiered"]);
    // A sort button, pressed with Enter, reverses the rank order.
    driver.tab_to("#projects thead th:first-child button");
    driver.keys(ENTER);
    assert_eq!(driver.visible_projects(), ["tiered", "fastlib"]);
    assert_eq!(
        driver.script("return document.querySelector('#projects thead th:first-child').getAttribute('aria-sort');"),
        "descending"
    );

    driver.go(&format!("{base}blockers.html"));
    driver.tab_to("#q");
    driver.keys("nothing-matches");
    let visible = driver.script(
        "return Array.from(document.querySelectorAll('#blockers section')).filter(s => !s.hidden).length;",
    );
    assert_eq!(visible, 0);
}

#[test]
fn axe_core_finds_no_serious_or_critical_violation() {
    let (Some(binary), Some(axe)) = (find_chromedriver(), find_axe()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromedriver and axe-core (.ci/run installs both)"
        );
        eprintln!("NOTICE: chromedriver or axe-core not found; skipping the axe-core check");
        return;
    };
    let source = std::fs::read_to_string(&axe).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = site_fixture::build_site(dir.path());
    let base = serve(out);
    let driver = Driver::start(&binary);
    // A phone's width, where the wide tables scroll sideways.
    driver.call(
        "POST",
        "/window/rect",
        Some(json!({"width": 420, "height": 900})),
    );
    let mut failures = Vec::new();
    for page in [
        "index.html",
        "projects.html",
        "projects-others-1.html",
        "blockers.html",
        "newly-ready.html",
        "projects/slowext.html",
        "projects/tiered.html",
        "projects/purepkg.html",
    ] {
        driver.go(&format!("{base}{page}"));
        // With the details open, their content is checked too.
        driver.script("document.querySelectorAll('details').forEach(d => d.open = true);");
        let (severe, other) = driver.axe(&source);
        for o in other {
            eprintln!("NOTICE: {page}: {o}");
        }
        failures.extend(severe.into_iter().map(|s| format!("{page}: {s}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // The check itself can fail: an image without a text alternative is critical to axe.
    driver.go(&format!("{base}index.html"));
    driver.script(
        "var i = document.createElement('img'); i.src = 'assets/favicon.svg'; document.querySelector('main').appendChild(i);",
    );
    let (severe, _) = driver.axe(&source);
    assert!(
        severe.iter().any(|s| s.contains("image-alt")),
        "axe-core did not run: {severe:?}"
    );
}

/// Opt-in: axe-core over a site built from a real crawl (overview, projects, blockers and
/// the project pages named in `GILFREE_AXE_PROJECTS`, default numpy and lxml).
#[test]
#[ignore = "needs a site built from a real crawl in GILFREE_SITE_DIR"]
fn axe_core_on_a_real_site() {
    let dir = PathBuf::from(std::env::var_os("GILFREE_SITE_DIR").expect("GILFREE_SITE_DIR"));
    let binary = find_chromedriver().expect("chromedriver");
    let source = std::fs::read_to_string(find_axe().expect("axe-core")).unwrap();
    let names = std::env::var("GILFREE_AXE_PROJECTS").unwrap_or_else(|_| "numpy lxml".into());
    let mut pages: Vec<String> = ["index.html", "projects.html", "blockers.html"]
        .map(String::from)
        .to_vec();
    pages.extend(
        names
            .split_whitespace()
            .map(|n| format!("projects/{n}.html")),
    );
    let base = serve(dir);
    let driver = Driver::start(&binary);
    let mut failures = Vec::new();
    for page in &pages {
        driver.go(&format!("{base}{page}"));
        driver.script("document.querySelectorAll('details').forEach(d => d.open = true);");
        let (severe, other) = driver.axe(&source);
        eprintln!(
            "{page}: {} serious or critical, {} other",
            severe.len(),
            other.len()
        );
        for o in other {
            eprintln!("  {o}");
        }
        failures.extend(severe.into_iter().map(|s| format!("{page}: {s}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Opt-in: the same checks on a site built from a real crawl.
/// `GILFREE_SITE_DIR=/tmp/site cargo test --test site_browser -- --ignored`
#[test]
#[ignore = "needs a site built from a real crawl in GILFREE_SITE_DIR"]
fn a_site_built_from_a_real_crawl_loads_cleanly_and_searches() {
    let dir = PathBuf::from(std::env::var_os("GILFREE_SITE_DIR").expect("GILFREE_SITE_DIR"));
    let binary = find_chromedriver().expect("chromedriver");
    let mut pages: Vec<String> = [
        "index.html",
        "projects.html",
        "blockers.html",
        "newly-ready.html",
    ]
    .map(String::from)
    .to_vec();
    let mut projects: Vec<String> = std::fs::read_dir(dir.join("projects"))
        .unwrap()
        .map(|e| format!("projects/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    projects.sort();
    // Every 50th project page, and the first.
    pages.extend(projects.iter().step_by(50).cloned());
    let base = serve(dir);
    let driver = Driver::start(&binary);
    for page in &pages {
        driver.go(&format!("{base}{page}"));
        let errors: Vec<Value> = driver
            .console()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "{page}: console errors {errors:?}");
        let broken_images = driver.script(
            "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);",
        );
        assert_eq!(broken_images, json!([]), "{page}");
    }
    driver.go(&format!("{base}projects.html"));
    let all = driver.visible_projects().len();
    assert!(all >= 100, "{all} projects shown");
    let search = driver.element("#q");
    driver.call(
        "POST",
        &format!("/element/{search}/value"),
        Some(json!({"text": "numpy"})),
    );
    let shown = driver.visible_projects();
    assert!(shown.iter().any(|p| p == "numpy"), "{shown:?}");
    assert!(shown.len() < all, "search filters");
    eprintln!(
        "checked {} pages; search 'numpy' shows {shown:?} of {all}",
        pages.len()
    );
}
