//! The simulator in a real browser: `sandframe dev` on an example, driven in headless
//! Chromium over WebDriver (Debian's `chromium` and `chromium-driver`; `.ci/run` installs
//! them), and its HTTP checks without one. Screenshots are kept under `target/tmp/browser/`
//! as test artifacts.
//!
//! A harness of its own (`harness = false`, libtest-mimic), so that a machine without
//! Chromium skips the browser tests *visibly*: the reason is printed, and the summary counts
//! them as ignored. `SANDFRAME_BROWSER_TESTS=require` (set by `.ci/run`) turns the skip into a
//! failure. Chromium and chromedriver are found through `SANDFRAME_CHROMIUM` and
//! `SANDFRAME_CHROMEDRIVER` (also `CHROMIUM`, `CHROMEDRIVER`), else on `PATH`; pointing an
//! override at a missing file simulates a machine without them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};

/// The browser tests, which need Chromium and chromedriver.
const BROWSER_TESTS: [(&str, fn()); 5] = [
    (
        "the_counter_counts_in_the_browser_and_the_consent_dialog_grants_the_profile",
        || block_on(the_counter_counts_in_the_browser_and_the_consent_dialog_grants_the_profile()),
    ),
    ("hostile_view_data_runs_nothing_and_loads_nothing", || {
        block_on(hostile_view_data_runs_nothing_and_loads_nothing())
    }),
    (
        "a_save_relaunches_and_a_broken_view_shows_its_finding_with_line_and_column",
        || block_on(a_save_relaunches_and_a_broken_view_shows_its_finding_with_line_and_column()),
    ),
    (
        "a_js_apps_proto_data_leaves_the_pages_object_prototype_alone",
        || block_on(a_js_apps_proto_data_leaves_the_pages_object_prototype_alone()),
    ),
    (
        "the_network_panel_lists_each_request_and_the_prompt_its_origins",
        || block_on(the_network_panel_lists_each_request_and_the_prompt_its_origins()),
    ),
];

/// The simulator's tests that need no browser: they always run.
const HTTP_TESTS: [(&str, fn()); 3] = [
    (
        "the_simulator_refuses_foreign_hosts_origins_and_missing_tokens",
        the_simulator_refuses_foreign_hosts_origins_and_missing_tokens,
    ),
    (
        "assets_script_and_style_need_the_pages_cookie_or_the_token",
        assets_script_and_style_need_the_pages_cookie_or_the_token,
    ),
    (
        "dev_with_json_prints_exactly_one_object",
        dev_with_json_prints_exactly_one_object,
    ),
];

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tools = browser_tools();
    let skip = match &tools {
        Ok(_) => false,
        Err(why) if std::env::var("SANDFRAME_BROWSER_TESTS").is_ok_and(|v| v == "require") => {
            eprintln!(
                "error: SANDFRAME_BROWSER_TESTS=require, but the {} browser tests cannot run: {why}",
                BROWSER_TESTS.len()
            );
            return std::process::ExitCode::FAILURE;
        }
        Err(why) => {
            eprintln!(
                "note: the {} browser tests are skipped (counted as ignored): {why}. Install \
                 Debian's chromium and chromium-driver (apt-get install chromium \
                 chromium-driver) to run them; SANDFRAME_BROWSER_TESTS=require makes this an \
                 error.",
                BROWSER_TESTS.len()
            );
            true
        }
    };
    let trial = |(name, test): (&str, fn()), ignored: bool| {
        Trial::test(name, move || {
            test();
            Ok(())
        })
        .with_ignored_flag(ignored)
    };
    let trials = BROWSER_TESTS
        .into_iter()
        .map(|t| trial(t, skip))
        .chain(HTTP_TESTS.into_iter().map(|t| trial(t, false)))
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs an async test on its own runtime, as `#[tokio::test(flavor = "multi_thread")]` would.
fn block_on(test: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// Chromium and chromedriver, or why the browser tests cannot run on this machine.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let find = |overrides: [&str; 2], names: &[&str]| -> Result<PathBuf, String> {
        for var in overrides {
            if let Some(path) = std::env::var_os(var) {
                let path = PathBuf::from(path);
                return if path.is_file() {
                    Ok(path)
                } else {
                    Err(format!("{var}={} is not a file", path.display()))
                };
            }
        }
        let dirs = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&dirs)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "no {} on PATH (or set {})",
                    names.join(" or "),
                    overrides[0]
                )
            })
    };
    Ok((
        find(
            ["SANDFRAME_CHROMIUM", "CHROMIUM"],
            &["chromium", "chromium-browser", "google-chrome"],
        )?,
        find(
            ["SANDFRAME_CHROMEDRIVER", "CHROMEDRIVER"],
            &["chromedriver"],
        )?,
    ))
}

/// Kills a child process when dropped.
struct Kill(Child);

impl Kill {
    /// SIGTERM, then waits up to `within` for the process to exit; its status if it did.
    fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.0.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        // SIGTERM first: `sandframe dev` then deletes its temporary home.
        if self.terminate(Duration::from_secs(5)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, and a headless Chromium session through it.
struct Browser {
    client: Client,
    _driver: Kill,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let (chromium, driver) = browser_tools().unwrap_or_else(|why| panic!("{why}"));
        let port = free_port();
        let driver = Kill(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Waits until `script` (returning a value) returns `want`; panics with what it saw.
    async fn until(&self, what: &str, script: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.client.execute(script, vec![]).await.unwrap();
            if want(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "waited for {what}; last saw {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The phone screen's text.
    async fn screen_text(&self, what: &str, contains: &str) -> String {
        let want = contains.to_owned();
        self.until(
            what,
            "return document.getElementById('screen').textContent",
            move |v| v.as_str().is_some_and(|t| t.contains(&want)),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
    }

    /// Clicks the button of the phone screen whose text is `label` (a live view replaces
    /// its elements as patches arrive: a stale one is looked up again).
    async fn tap(&self, label: &str) {
        // XPath 1 has no escapes: quote with whichever quote the label does not hold.
        let quoted = if label.contains('\'') {
            format!("\"{label}\"")
        } else {
            format!("'{label}'")
        };
        let xpath = format!("//div[@id='screen']//button[normalize-space(.)={quoted}]");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let clicked = match self
                .client
                .wait()
                .at_most(Duration::from_secs(30))
                .for_element(Locator::XPath(&xpath))
                .await
            {
                Ok(e) => e.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot tap {label:?}: {e}"),
            }
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// `sandframe dev SRC --port 0`; returns the process and the page's address.
fn dev(src: &Path) -> (Kill, String) {
    let (sim, url, _) = dev_with(src, &[]);
    (sim, url)
}

/// [`dev`] with `extra` arguments first; also returns the rest of its standard output.
fn dev_with(src: &Path, extra: &[&str]) -> (Kill, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .args(extra)
        .args([
            "dev",
            src.to_str().unwrap(),
            "--port",
            "0",
            "--profile-name",
            "Ada",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split(|c: char| c.is_whitespace() || c == '"')
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (Kill(child), url, stdout)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

async fn the_counter_counts_in_the_browser_and_the_consent_dialog_grants_the_profile() {
    let b = Browser::start().await;

    let (_sim, url) = dev(&example("counter"));
    b.client.goto(&url).await.unwrap();
    b.screen_text("the counter's first view", "Count: 0").await;
    b.tap("+1").await;
    b.tap("+1").await;
    b.screen_text("two taps counted", "Count: 2").await;
    // The data panel shows the view data; the audit panel, the storage calls.
    b.until(
        "the data panel",
        "return document.getElementById('data').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("\"count\": 2")),
    )
    .await;
    b.until(
        "the audit panel",
        "return document.getElementById('audit').textContent",
        |v| v.as_str().is_some_and(|t| t.contains("storage.set")),
    )
    .await;
    let shot = b.screenshot("counter.png").await;
    eprintln!("screenshot: {}", shot.display());

    let (_sim2, url) = dev(&example("profile"));
    b.client.goto(&url).await.unwrap();
    b.screen_text("the profile's first view", "Tap to ask")
        .await;
    b.tap("Ask for my profile").await;
    // The capability prompt is a dialog in the page; the app waits for the answer.
    b.until(
        "the consent dialog",
        "const d = document.getElementById('consent'); return d.open ? d.textContent : null",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("user:readProfile") && t.contains("Greet you by name"))
        },
    )
    .await;
    b.screenshot("consent.png").await;
    b.client
        .find(Locator::Id("consent-allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.screen_text("the profile granted", "Hello, Ada!").await;
    b.until(
        "the grant in the capabilities panel",
        "return document.getElementById('caps').textContent",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("user:readProfile  granted"))
        },
    )
    .await;
    // Stopped while the page is still open (its event stream too), it exits at once.
    let mut sim2 = _sim2;
    let status = sim2.terminate(Duration::from_secs(2));
    assert!(
        status.is_some_and(|s| s.success()),
        "sandframe dev did not stop promptly with its page open: {status:?}"
    );
    b.client.close().await.unwrap();
}

/// A 1×1 PNG.
const DOT_PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0d\x49\x44\x41\x54\x78\xda\x63\x64\x60\xf8\x5f\x0f\x00\x02\x87\x01\x80\xeb\x47\xba\x92\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/// A mini-app whose view data is hostile: markup, an attribute break-out, a script URL.
/// A JS app whose data carries `__proto__` and `constructor` keys at every level, sent with
/// `sf.call` past `setData`'s own refusal (a hostile app would): the render side and the
/// simulator page get them as plain keys.
async fn a_js_apps_proto_data_leaves_the_pages_object_prototype_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("proto");
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        "id = \"com.example.proto\"\nname = \"Proto\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
         runtime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"Show things\"\n",
    )
    .unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        "<view><text>shown: {{label}}</text>\
         <button bind:tap=\"onTap\">Again</button></view>",
    )
    .unwrap();
    std::fs::write(
        src.join("logic.js"),
        r#"
        const hostile = () => JSON.parse('{"label": "proto data", "nested": {"__proto__": {"polluted": "p1"}, "constructor": {"prototype": {"polluted": "p2"}}}, "list": [{"__proto__": {"polluted": "p3"}}]}');
        Page({
          onLoad() {
            sf.call('ui.setData', hostile());
            try { sf.call('ui.setData', JSON.parse('{"__proto__": {"polluted": "p4"}}')); } catch (e) {}
            try { sf.call('ui.setData', JSON.parse('{"constructor.prototype.polluted": "p5"}')); } catch (e) {}
          },
          onTap() { sf.call('ui.setData', hostile()); },
        });
        "#,
    )
    .unwrap();
    let b = Browser::start().await;
    let (_sim, url) = dev(&src);
    b.client.goto(&url).await.unwrap();
    b.screen_text("the proto app's view", "shown: proto data")
        .await;
    b.tap("Again").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let clean = b
        .client
        .execute(
            "return [({}).polluted, Object.prototype.polluted, [].polluted, Object.keys(Object.prototype).length, typeof Object.prototype.constructor]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        clean,
        json!([null, null, null, 0, "function"]),
        "the page's Object.prototype changed"
    );
    b.client.close().await.unwrap();
}

fn hostile_source(dir: &Path) -> PathBuf {
    let src = dir.join("hostile");
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        "id = \"com.example.hostile\"\nname = \"Hostile\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
         [[capabilities]]\nname = \"ui:render\"\nreason = \"Show things\"\n\
         [limits]\nmemory_pages = 1\n",
    )
    .unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        "<view><text>{{a}}</text><text class=\"{{b}}\">{{c}}</text>\
         <image src=\"assets/dot.png\" alt=\"{{b}}\"/><button bind:tap=\"onTap\">{{a}}</button></view>",
    )
    .unwrap();
    // The template grammar has no bound image source (a `javascript:` URL cannot get there):
    // images come from the package's assets.
    std::fs::create_dir_all(src.join("assets")).unwrap();
    std::fs::write(src.join("assets/dot.png"), DOT_PNG).unwrap();
    let data = json!({
        "a": "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">",
        "b": "\" onload=\"window.__pwned=3\" x=\"",
        "c": "javascript:window.__pwned=4",
    })
    .to_string();
    let escaped: String = data.bytes().map(|b| format!("\\{b:02x}")).collect();
    let wat = format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "ui.setData")
  (data (i32.const 64) "{escaped}")
  (func (export "sf_init") (result i32)
    (drop (call $call (i32.const 0) (i32.const 10) (i32.const 64) (i32.const {len})))
    i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#,
        len = data.len()
    );
    std::fs::write(src.join("logic.wat"), wat).unwrap();
    src
}

async fn hostile_view_data_runs_nothing_and_loads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = hostile_source(tmp.path());
    let b = Browser::start().await;
    let (_sim, url) = dev(&src);
    let origin = url.split("/?").next().unwrap().to_owned();
    b.client.goto(&url).await.unwrap();
    // The markup arrives as text.
    b.screen_text(
        "the hostile data, as text",
        "<script>window.__pwned=1</script>",
    )
    .await;
    b.tap("<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pwned = b
        .client
        .execute("return window.__pwned === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(pwned, Value::Bool(true), "a payload ran");
    assert!(b.client.get_alert_text().await.is_err(), "no dialog opened");
    let scripts = b
        .client
        .execute(
            "return [document.scripts.length, document.querySelectorAll('#screen script, #screen [onerror], #screen [onload]').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, json!([1, 0]), "only the simulator's own script");
    // Every request the page made went to the simulator itself; none to a script URL.
    let requests = b
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    for r in requests.as_array().unwrap() {
        let r = r.as_str().unwrap();
        assert!(
            r.starts_with(&format!("{origin}/")),
            "a request left the simulator: {r}"
        );
    }
    let img = b
        .client
        .execute(
            "const i = document.querySelector('#screen img'); return i ? i.getAttribute('src') : null",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        img, "/assets/dot.png",
        "an image loads from the package's assets only"
    );
    let loaded = b
        .client
        .execute(
            "const i = document.querySelector('#screen img'); return i.complete && i.naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(1), "the asset was served and decoded");
    b.screenshot("hostile.png").await;
    b.client.close().await.unwrap();
}

async fn a_save_relaunches_and_a_broken_view_shows_its_finding_with_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hello");
    std::fs::create_dir_all(src.join("views")).unwrap();
    for f in ["manifest.toml", "logic.wat", "views/index.xml"] {
        std::fs::copy(example("hello").join(f), src.join(f)).unwrap();
    }
    let b = Browser::start().await;
    let (_sim, url) = dev(&src);
    b.client.goto(&url).await.unwrap();
    b.screen_text("hello", "Hello from a sandboxed mini-app!")
        .await;
    std::fs::write(
        src.join("views/index.xml"),
        "<view>\n  <text>Taps: {{taps}}</txet>\n</view>\n",
    )
    .unwrap();
    let findings = b
        .until(
            "the finding in the page",
            "const f = document.getElementById('findings'); return f.hidden ? null : f.textContent",
            |v| v.as_str().is_some_and(|t| t.contains("views/index.xml:2:")),
        )
        .await;
    eprintln!("findings shown: {findings}");
    b.screenshot("findings.png").await;
    std::fs::write(
        src.join("views/index.xml"),
        "<view><text>Edited! Taps: {{taps}}</text><button bind:tap=\"onTap\">Tap me</button></view>",
    )
    .unwrap();
    b.screen_text("the edited view, relaunched", "Edited! Taps: 0")
        .await;
    b.until(
        "the findings gone",
        "return document.getElementById('findings').hidden",
        |v| v == &Value::Bool(true),
    )
    .await;
    b.tap("Tap me").await;
    b.screen_text("a tap after the reload", "Edited! Taps: 1")
        .await;
    b.client.close().await.unwrap();
}

/// The simulator at `url` (the address it printed), spoken to in raw HTTP/1.1: no browser.
struct Raw {
    port: u16,
    origin: String,
    token: String,
    host: String,
}

impl Raw {
    fn new(url: &str) -> Raw {
        let origin = url.split("/?").next().unwrap().to_owned();
        let port: u16 = origin.rsplit(':').next().unwrap().parse().unwrap();
        Raw {
            port,
            token: url.split("t=").nth(1).unwrap().to_owned(),
            host: format!("127.0.0.1:{port}"),
            origin,
        }
    }

    /// One request; returns the status code and the whole response (headers and body, lossy).
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        let resp = String::from_utf8_lossy(&bytes).into_owned();
        let code = resp
            .split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        (code, resp)
    }

    /// A GET with the right Host and, if given, a `Cookie` header.
    fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String) {
        let mut headers = vec![("Host", self.host.as_str())];
        if let Some(c) = cookie {
            headers.push(("Cookie", c));
        }
        self.http("GET", path, &headers, "")
    }

    /// The page (with the token), and the `Set-Cookie` header it answered with.
    fn page_cookie(&self) -> String {
        let (code, resp) = self.get(&format!("/?t={}", self.token), None);
        assert_eq!(code, 200, "{resp}");
        let head = resp.split("\r\n\r\n").next().unwrap();
        let cookies: Vec<&str> = head
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("set-cookie").then(|| v.trim())
            })
            .collect();
        assert_eq!(cookies.len(), 1, "{head}");
        cookies[0].to_owned()
    }
}

fn the_simulator_refuses_foreign_hosts_origins_and_missing_tokens() {
    let (_sim, url) = dev(&example("hello"));
    let raw = Raw::new(&url);
    let http = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        raw.http(method, path, headers, body)
    };
    let (origin, port, token, host) = (
        raw.origin.clone(),
        raw.port,
        raw.token.as_str(),
        raw.host.clone(),
    );
    let page = format!("/?t={token}");
    let (code, resp) = http("GET", &page, &[("Host", &host)], "");
    assert_eq!(code, 200);
    let lower = resp.to_ascii_lowercase();
    assert!(lower.contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert!(lower.contains("cross-origin-resource-policy: same-origin"));
    assert!(lower.contains("x-frame-options: deny"));
    // DNS rebinding: a name that resolves to 127.0.0.1 is still refused.
    assert_eq!(
        http(
            "GET",
            &page,
            &[("Host", &format!("evil.example:{port}"))],
            ""
        )
        .0,
        403
    );
    // No token, a wrong token: no page, no event stream.
    assert_eq!(http("GET", "/", &[("Host", &host)], "").0, 403);
    assert_eq!(http("GET", "/events?t=00", &[("Host", &host)], "").0, 403);
    // A tap from another page: refused without the origin or the token.
    let tap = r#"{"path":"2","kind":"tap"}"#;
    let json = ("Content-Type", "application/json");
    assert_eq!(
        http(
            "POST",
            "/event",
            &[
                ("Host", &host),
                json,
                ("Origin", "http://evil.example"),
                ("x-sandframe-token", token)
            ],
            tap
        )
        .0,
        403
    );
    assert_eq!(
        http(
            "POST",
            "/event",
            &[("Host", &host), json, ("Origin", &origin)],
            tap
        )
        .0,
        403
    );
    assert_eq!(
        http(
            "POST",
            "/event",
            &[
                ("Host", &host),
                json,
                ("Origin", &origin),
                ("x-sandframe-token", "x")
            ],
            tap
        )
        .0,
        403
    );
    let (code, resp) = http(
        "POST",
        "/event",
        &[
            ("Host", &host),
            json,
            ("Origin", &origin),
            ("x-sandframe-token", token),
        ],
        tap,
    );
    assert_eq!(code, 200, "{resp}");
    assert!(resp.contains("\"answer\":0"), "{resp}");
    // Only images are served from assets/ (what else the package holds is refused by
    // Host::asset itself: see the host's tests), and only to the page.
    let cookie = raw.page_cookie();
    let cookie = cookie.split(';').next().unwrap();
    assert_eq!(raw.get("/assets/manifest.toml", Some(cookie)).0, 404);
    assert_eq!(raw.get("/assets/none.png", Some(cookie)).0, 404);
}

/// Everything the simulator serves needs the token or the cookie the tokened page set:
/// another page in the browser (which has neither) cannot read the app's assets, and the
/// cookie is one that script cannot read and that no other site's request carries.
fn assets_script_and_style_need_the_pages_cookie_or_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (_sim, url) = dev(&hostile_source(tmp.path()));
    let raw = Raw::new(&url);
    let set_cookie = raw.page_cookie();
    let mut parts = set_cookie.split(';').map(str::trim);
    let pair = parts.next().unwrap();
    let attrs: Vec<&str> = parts.collect();
    for want in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            attrs.iter().any(|a| a.eq_ignore_ascii_case(want)),
            "{want} missing: {set_cookie}"
        );
    }
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, format!("sandframe-{}", raw.port), "one name per port");
    assert!(
        !value.is_empty() && value != raw.token,
        "the cookie holds a value derived from the token, not the token: {set_cookie}"
    );
    let wrong = format!("{name}={}", "0".repeat(value.len()));
    let other_port = format!("sandframe-{}={value}", raw.port.wrapping_add(1));

    for path in [
        "/assets/dot.png",
        "/app.js",
        "/app.css",
        "/events",
        "/no-such-route",
    ] {
        for cookie in [None, Some(wrong.as_str()), Some(other_port.as_str())] {
            let (code, resp) = raw.get(path, cookie);
            assert_eq!(code, 403, "{path} with {cookie:?}: {resp}");
            assert!(!resp.contains("PNG"), "{resp}");
        }
    }
    // With the cookie (what the browser sends for the page's own <img>, script and style).
    let (code, resp) = raw.get("/assets/dot.png", Some(&format!("other=1; {pair}")));
    assert_eq!(code, 200, "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("content-type: image/png"),
        "{resp}"
    );
    assert!(resp.contains("PNG"), "the image itself: {resp}");
    for (path, kind) in [("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let (code, resp) = raw.get(path, Some(pair));
        assert_eq!(code, 200, "{path}: {resp}");
        assert!(resp.to_ascii_lowercase().contains(kind), "{resp}");
    }
    assert_eq!(raw.get("/no-such-route", Some(pair)).0, 404);
    // Or with the token itself; the page never takes the cookie in place of the token.
    let (code, _) = raw.get(&format!("/assets/dot.png?t={}", raw.token), None);
    assert_eq!(code, 200);
    assert_eq!(raw.get("/", Some(pair)).0, 403);
}

fn dev_with_json_prints_exactly_one_object() {
    let (mut sim, url, mut stdout) = dev_with(&example("hello"), &["--json"]);
    assert!(url.contains("/?t="), "{url}");
    let status = sim.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "nothing after the serving line");
}

/// `sandframe dev` of an app that fetches from a local HTTPS service: the consent dialog names
/// the origin a grant reaches, and the Network panel lists the request (method, origin and
/// path, status, bytes, duration).
async fn the_network_panel_lists_each_request_and_the_prompt_its_origins() {
    let service = sandframe_testkit::https::LocalService::start(&["api.sandframe.test"]).unwrap();
    let origin = format!("https://api.sandframe.test:{}", service.port());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fetcher");
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        format!(
            "id = \"com.example.fetcher\"\nname = \"Fetcher\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
             [[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n\
             [[capabilities]]\nname = \"net:fetch\"\nreason = \"reach its service\"\norigins = [\"{origin}\"]\n"
        ),
    )
    .unwrap();
    let request = json!({ "url": format!("{origin}/hello") }).to_string();
    std::fs::write(
        src.join("logic.wat"),
        sandframe_testkit::fetch_guest(&request, 0),
    )
    .unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        "<view><text>size {{size}}</text></view>",
    )
    .unwrap();
    let ca = dir.path().join("ca.der");
    std::fs::write(&ca, service.ca_der()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .args(["dev", src.to_str().unwrap(), "--port", "0"])
        .args(["--allow-private", "127.0.0.1/32"])
        .args(["--resolve", "api.sandframe.test=127.0.0.1"])
        .args(["--trust-ca", ca.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _sim = Kill(child);
    let url = line
        .split(|c: char| c.is_whitespace() || c == '"')
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let b = Browser::start().await;
    b.client.goto(&url).await.unwrap();
    let reach = format!("reaches {origin}");
    b.until(
        "the consent dialog with the origin",
        "const d = document.getElementById('consent'); return d.open ? d.textContent : null",
        move |v| {
            v.as_str()
                .is_some_and(|t| t.contains("net:fetch") && t.contains(&reach))
        },
    )
    .await;
    b.client
        .find(Locator::Id("consent-allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.screen_text("the answer's size", "size 27").await;
    let row = format!("GET {origin}/hello  200  ↓27 B ↑0 B");
    b.until(
        "the request in the Network panel",
        "return document.getElementById('network').textContent",
        move |v| v.as_str().is_some_and(|t| t.contains(&row)),
    )
    .await;
    b.screenshot("network.png").await;
    assert_eq!(service.seen().len(), 1);
    b.client.close().await.unwrap();
}
