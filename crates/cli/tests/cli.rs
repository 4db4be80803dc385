//! The `sandframe` binary end to end, in temporary homes: every command and every exit code,
//! real keys, real packages, real wasm, hostile packages through the real binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The look-alike characters, shared with the render crate's tests.
#[path = "../../render/tests/look_alike/mod.rs"]
mod look_alike;

/// A scratch directory with a home and a key pair made by the binary.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        let keys = s.path("keys");
        s.ok(&["keygen", "--out", keys.to_str().unwrap()]);
        s
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn p(&self, p: &str) -> String {
        self.path(p).to_str().unwrap().to_owned()
    }

    /// Quarantines `app` the way a monitor in another process does: a value committed to the
    /// home's sealed state, under the key derived from the anchor's root secret
    /// (docs/format.md), not a file anyone can write.
    fn quarantine(&self, app: &str, rule: &str) {
        use sandframe_gateway::{Anchor as _, FileAnchor, SealedState};
        let anchor =
            std::sync::Arc::new(FileAnchor::open(&self.path("home.audit-anchor")).unwrap());
        let key = *anchor
            .home_secret()
            .unwrap()
            .derive("sandframe 2026-12 home state MAC key");
        let home =
            cap_std::fs::Dir::open_ambient_dir(self.path("home"), cap_std::ambient_authority())
                .unwrap();
        let lock = sandframe_durable::HomeLock::open(&home, "home").unwrap();
        let state = SealedState::open(&home, anchor, key, lock).unwrap();
        let q = serde_json::json!({ "app": app, "rule": rule, "evidence": "x", "unix_ms": 1 });
        sandframe_core::HomeState::set(&state, "quarantine", app, Some(q.to_string().as_bytes()))
            .unwrap();
    }

    /// Runs `sandframe --home <dir>/home ARGS` with no stdin (as in CI).
    fn sf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sandframe"))
            .arg("--home")
            .arg(self.path("home"))
            .args(args)
            .stdin(Stdio::null())
            .env_remove("SANDFRAME_HOME")
            .output()
            .unwrap()
    }

    /// Runs it and expects `code`; returns stdout.
    fn code(&self, code: i32, args: &[&str]) -> String {
        let out = self.sf(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "sandframe {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    fn ok(&self, args: &[&str]) -> String {
        self.code(0, args)
    }

    /// Runs it with `--json`, expects `code`, returns the parsed object.
    fn json(&self, code: i32, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.code(code, &all);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["ok"], Value::Bool(code == 0), "{v}");
        if code != 0 {
            assert_eq!(v["exit"], Value::from(code), "{v}");
        }
        v
    }

    /// `pack SRC --key <the scratch key> --out <name>`.
    fn pack_args(&self, src: &Path, name: &str) -> Vec<String> {
        vec![
            "pack".into(),
            src.to_str().unwrap().into(),
            "--key".into(),
            self.p("keys/publisher.key"),
            "--out".into(),
            self.p(name),
        ]
    }

    /// Packs a source directory with the scratch key.
    fn pack(&self, src: &Path, name: &str) -> String {
        let args = self.pack_args(src, name);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        self.p(name)
    }

    /// The host layer's actions in `app`'s audit trail, oldest first (`sandframe audit`).
    fn host_actions(&self, app: &str) -> Vec<String> {
        let v = self.json(0, &["audit", app]);
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["layer"] == "host")
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect()
    }

    fn trust(&self) {
        self.ok(&[
            "trust",
            "add",
            &self.p("keys/publisher.pub"),
            "--name",
            "Tests",
        ]);
    }

    fn events(&self, name: &str, json: &str) -> String {
        std::fs::write(self.path(name), json).unwrap();
        self.p(name)
    }
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// A source directory with a one-button view and the given logic.
fn source(dir: &Path, id: &str, wat: &str) -> PathBuf {
    let src = dir.join(id);
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        format!(
            "id = \"{id}\"\nname = \"Hostile\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
             [limits]\nmemory_pages = 1\nfuel_per_event = 1000000\n"
        ),
    )
    .unwrap();
    std::fs::write(src.join("logic.wat"), wat).unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        "<view><button bind:tap=\"onTap\">Go</button></view>",
    )
    .unwrap();
    src
}

const SPINNER: &str = r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (loop $l (br $l)) i32.const 0))"#;

const ESCAPER: &str = r#"(module
  (import "env" "system" (func (param i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;

const HELLO: &str = "dev.sandframe.hello";

#[test]
fn a_mini_app_from_keygen_to_uninstall() {
    let s = Scratch::new();
    // A second keygen into the same directory would destroy the secret key: usage error.
    s.code(2, &["keygen", "--out", &s.p("keys")]);
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    let v = s.json(0, &["verify", &pkg, "--trust", &s.p("keys/publisher.pub")]);
    assert_eq!(v["app"], HELLO);

    // Not trusted yet: denied (5), and nothing is installed.
    let v = s.json(5, &["install", &pkg]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "SF-V003"),
        "{v}"
    );
    s.trust();
    let v = s.json(0, &["trust", "list"]);
    assert_eq!(v["publishers"][0]["name"], "Tests");

    let v = s.json(0, &["install", &pkg]);
    assert_eq!(
        (v["app"].as_str(), v["pin"].as_str()),
        (Some(HELLO), Some("new"))
    );
    // The same version again is a reinstall (storage kept), not an error.
    let v = s.json(0, &["install", &pkg]);
    assert_eq!(v["pin"], "same publisher");

    let v = s.json(0, &["list"]);
    assert_eq!(v["apps"][0]["app"], HELLO);
    assert_eq!(v["apps"][0]["state"], "stopped");
    let v = s.json(0, &["info", HELLO]);
    assert_eq!(v["info"]["capabilities"][0]["capability"], "ui:render");
    assert_eq!(v["info"]["name"], "Hello");

    // Two taps, scripted; the view is printed after each.
    let events = s.events(
        "taps.json",
        r#"[{"tap": "Tap me"}, {"tap": "2"}, {"lifecycle": "hide"}, {"lifecycle": "show"}]"#,
    );
    let text = s.ok(&["run", HELLO, "--events", &events]);
    assert!(text.contains("Taps: 2"), "{text}");
    let v = s.json(0, &["run", HELLO, "--events", &events]);
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 5);
    assert!(frames[0]["view"].as_str().unwrap().contains("Taps: 0"));
    assert!(frames[2]["view"].as_str().unwrap().contains("Taps: 2"));
    // Without --events and without a terminal, run shows the view and does not wait.
    let text = s.ok(&["run", HELLO]);
    assert!(text.contains("Hello from a sandboxed mini-app!") && text.contains("no terminal"));
    // A tap on nothing that exists is a usage error that names what there is.
    let bad = s.events("bad.json", r#"[{"tap": "Nope"}]"#);
    let out = s.sf(&["run", HELLO, "--events", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"Tap me\" (2)"));

    let v = s.json(0, &["grants", HELLO]);
    assert_eq!(
        v["grants"],
        Value::Array(vec![]),
        "ui:render is granted by policy, not stored"
    );
    let v = s.json(0, &["revoke", HELLO, "ui:render"]);
    assert_eq!(v["was_granted"], false);

    let actions = s.host_actions(HELLO);
    // Installed twice (the reinstall), then four runs, each launched and terminated.
    assert_eq!(
        actions[..4],
        ["install", "install", "launch", "terminate"],
        "{actions:?}"
    );
    assert_eq!(actions.iter().filter(|a| *a == "launch").count(), 4);
    let v = s.json(0, &["audit", "--verify"]);
    assert_eq!(v["verified"], true);
    assert!(v["valid_bytes"].as_u64().unwrap() > 0);

    s.json(0, &["uninstall", HELLO]);
    let v = s.json(0, &["list"]);
    assert_eq!(v["apps"], Value::Array(vec![]));
    let left = sandframe_testkit::tree(&s.path("home"));
    assert!(
        !left.iter().any(|f| f.contains(HELLO)),
        "nothing of the app stays in the home's files (its tombstone is sealed): {left:?}"
    );
    s.json(2, &["info", HELLO]);
    // The audit trail outlives the app, and still verifies.
    let v = s.json(0, &["audit", HELLO, "--verify"]);
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "uninstall")
    );

    let v = s.json(0, &["trust", "remove", &s.p("keys/publisher.pub")]);
    assert!(
        v["publisher"]
            .as_str()
            .unwrap()
            .starts_with("sandframe-public-key")
    );
    s.json(2, &["trust", "remove", &s.p("keys/publisher.pub")]);
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    s.code(2, &[]);
    s.code(2, &["frobnicate"]);
    s.code(2, &["list", "--no-such-flag"]);
    s.json(2, &["info", "Not An Id!"]);
    s.json(2, &["info", "com.example.absent"]);
    s.json(2, &["install", &s.p("missing.sfpkg")]);
    s.json(2, &["revoke", HELLO, "not a capability"]);
    s.json(2, &["run", "com.example.absent"]);
    s.code(0, &["--help"]);
    let help = s.ok(&["--help"]);
    assert!(
        help.contains("Exit codes") && help.contains("5  denied"),
        "{help}"
    );
}

/// Runs a failing command; returns its standard error, which must name `step`.
fn names_step(s: &Scratch, code: i32, args: &[&str], step: &str) -> String {
    let out = s.sf(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "sandframe {args:?}\n{stderr}"
    );
    assert!(
        stderr.starts_with("error: "),
        "sandframe {args:?}\n{stderr}"
    );
    assert!(
        stderr.contains(step),
        "sandframe {args:?} does not say {step:?}:\n{stderr}"
    );
    stderr
}

#[test]
fn every_error_names_its_next_step() {
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    s.ok(&["install", &pkg]);

    // The home and the command line.
    names_step(
        &s,
        2,
        &["install", &s.p("missing.sfpkg")],
        "check that the path exists",
    );
    let help = names_step(
        &s,
        2,
        &["info", "com.example.absent"],
        "sandframe install PKG",
    );
    assert!(help.contains("\nhelp: "), "{help}");
    names_step(&s, 2, &["run", "com.example.absent"], "sandframe list");
    names_step(&s, 2, &["release", HELLO], "`sandframe list` shows which");
    names_step(
        &s,
        2,
        &["trust", "add", &s.p("keys/publisher.pub"), "--name", " "],
        "pass --name",
    );
    let other = s.path("other");
    s.ok(&["keygen", "--out", other.to_str().unwrap()]);
    let other_pub = other.join("publisher.pub");
    names_step(
        &s,
        2,
        &["trust", "remove", other_pub.to_str().unwrap()],
        "sandframe trust list",
    );
    names_step(&s, 2, &["dev", &s.p("nowhere")], "sandframe new NAME");

    // Files handed to `run`.
    std::fs::write(s.path("latin1.toml"), b"grant = [\"caf\xe9\"]").unwrap();
    names_step(
        &s,
        2,
        &["run", HELLO, "--policy", &s.p("latin1.toml")],
        "is TOML text",
    );
    std::fs::write(s.path("bad.toml"), "grant = [").unwrap();
    names_step(
        &s,
        2,
        &["run", HELLO, "--policy", &s.p("bad.toml")],
        "fix it at the position",
    );
    let events = s.events("events.json", "{\"tap\": \"Go\"}");
    names_step(&s, 2, &["run", HELLO, "--events", &events], "write it as [");

    // Keys and packages.
    names_step(
        &s,
        2,
        &[
            "pack",
            &example("hello").to_string_lossy(),
            "--key",
            &s.p("keys/publisher.pub"),
            "--out",
            &s.p("x.sfpkg"),
        ],
        "expected a file made by keygen",
    );
    let broken = source(s.dir.path(), "com.example.broken", SPINNER);
    std::fs::write(
        broken.join("manifest.toml"),
        "id = \"com.example.broken\"\n",
    )
    .unwrap();
    let args = s.pack_args(&broken, "broken.sfpkg");
    names_step(
        &s,
        3,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "docs/format.md",
    );
    std::fs::write(s.path("junk.sfpkg"), b"not a package").unwrap();
    names_step(
        &s,
        3,
        &["verify", &s.p("junk.sfpkg")],
        "pass a .sfpkg file made by `pack`",
    );

    // JSON carries the same step as its own field.
    let v = s.json(2, &["info", "com.example.absent"]);
    assert!(
        v["help"]
            .as_str()
            .unwrap()
            .contains("sandframe install PKG"),
        "{v}"
    );
}

#[test]
fn hostile_packages_through_the_real_binary() {
    let s = Scratch::new();
    s.trust();
    // Rejected at install (3), with the finding and its location, in text and in JSON.
    let escaper = s.pack(
        &source(s.dir.path(), "com.example.escaper", ESCAPER),
        "e.sfpkg",
    );
    let out = s.sf(&["install", &escaper]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SF-V102") && stderr.contains("env.system"),
        "{stderr}"
    );
    // Each finding once (the error's own text used to repeat the first).
    assert_eq!(stderr.matches("SF-V102").count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: the package was rejected:\n"),
        "{stderr}"
    );
    let v = s.json(3, &["install", &escaper]);
    assert_eq!(v["findings"][0]["location"]["file"], "logic.wasm");
    s.json(2, &["info", "com.example.escaper"]);

    // Terminated at run (4): its event's fuel (or, on a slow or busy machine, its CPU
    // deadline, which a plain loop reaches at about the same time) runs out; the view is
    // printed first.
    let spinner = s.pack(
        &source(s.dir.path(), "com.example.spinner", SPINNER),
        "s.sfpkg",
    );
    s.json(0, &["install", &spinner]);
    let events = s.events("go.json", r#"[{"tap": "Go"}]"#);
    let v = s.json(4, &["run", "com.example.spinner", "--events", &events]);
    assert!(
        ["FuelExhausted", "DeadlineExceeded"]
            .iter()
            .any(|k| v["error"].as_str().unwrap().contains(k)),
        "{v}"
    );
    assert_eq!(v["frames"].as_array().unwrap().len(), 2);

    // Signed by a key this home does not trust: denied (5).
    let other = s.path("other");
    s.ok(&["keygen", "--out", other.to_str().unwrap()]);
    let foreign = s.p("foreign.sfpkg");
    s.ok(&[
        "pack",
        example("hello").to_str().unwrap(),
        "--key",
        other.join("publisher.key").to_str().unwrap(),
        "--out",
        &foreign,
    ]);
    s.json(5, &["install", &foreign]);
    // A package cut short is rejected, not a crash.
    let bytes = std::fs::read(&foreign).unwrap();
    std::fs::write(s.path("cut.sfpkg"), &bytes[..bytes.len() / 2]).unwrap();
    s.json(3, &["install", &s.p("cut.sfpkg")]);
    s.json(
        3,
        &[
            "verify",
            &s.p("cut.sfpkg"),
            "--trust",
            &s.p("keys/publisher.pub"),
        ],
    );
}

#[test]
fn consent_without_a_terminal_is_answered_by_flags_or_policy_and_says_which() {
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("profile"), "profile.sfpkg");
    s.ok(&["install", &pkg]);
    let app = "dev.sandframe.profile";
    let ask = s.events("ask.json", r#"[{"tap": "Ask for my profile"}]"#);
    let consent = |v: &Value| v["frames"][1]["consents"][0].clone();

    // Nobody to ask: refused, and it says so.
    let v = s.json(0, &["run", app, "--events", &ask]);
    assert_eq!(consent(&v)["granted"], false);
    assert!(
        consent(&v)["answered_by"]
            .as_str()
            .unwrap()
            .contains("no terminal")
    );
    assert!(v["frames"][1]["view"].as_str().unwrap().contains("Denied"));

    // A policy file that says no.
    std::fs::write(s.path("no.toml"), "deny = [\"user:readProfile\"]\n").unwrap();
    let v = s.json(
        0,
        &["run", app, "--events", &ask, "--policy", &s.p("no.toml")],
    );
    assert_eq!(consent(&v)["answered_by"], "the policy file");
    assert_eq!(consent(&v)["granted"], false);
    std::fs::write(s.path("typo.toml"), "grnat = []\n").unwrap();
    s.json(
        2,
        &["run", app, "--events", &ask, "--policy", &s.p("typo.toml")],
    );

    // --grant says yes; the grant is stored.
    let text = s.ok(&[
        "run",
        app,
        "--events",
        &ask,
        "--grant",
        "user:readProfile",
        "--profile-name",
        "Ada",
    ]);
    assert!(text.contains("granted (answered by --grant)"), "{text}");
    assert!(text.contains("Hello, Ada!"), "{text}");
    let v = s.json(0, &["grants", app]);
    assert_eq!(v["grants"][0]["capability"], "user:readProfile");
    assert_eq!(v["grants"][0]["source"], "consent");

    // Revoked, the next run asks again; --deny-all refuses.
    let v = s.json(0, &["revoke", app, "user:readProfile"]);
    assert_eq!(v["was_granted"], true);
    let v = s.json(0, &["run", app, "--events", &ask, "--deny-all"]);
    assert_eq!(consent(&v)["answered_by"], "--deny-all");
    s.json(0, &["uninstall", app]);
}

#[test]
fn definitions_updates_are_signed_and_never_roll_back() {
    use sandframe_package::SecretKey;
    use sandframe_validate::Definitions;
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    let digest = blake3::hash(&std::fs::read(&pkg).unwrap())
        .to_hex()
        .to_string();
    let signer = SecretKey::generate().unwrap();
    let signed = |version: u64, key: &SecretKey, name: &str| {
        let defs = Definitions::from_toml(&format!(
            "version = {version}\nblocked_digests = [\"{digest}\"]\n"
        ))
        .unwrap();
        std::fs::write(s.path(name), defs.sign(key).unwrap()).unwrap();
        s.p(name)
    };
    sandframe_package::write_key_pair(&s.path("defs"), &signer, false).unwrap();
    let v1 = signed(1, &signer, "v1.defs");
    // No signer configured yet: denied.
    s.json(5, &["defs", "update", &v1]);
    let v = s.json(
        0,
        &["defs", "update", &v1, "--key", &s.p("defs/publisher.pub")],
    );
    assert_eq!(v["version"], 1);
    // The same version again: refused (no rollback); another signer: denied.
    s.json(3, &["defs", "update", &v1]);
    let stranger = signed(2, &SecretKey::generate().unwrap(), "v2.defs");
    s.json(5, &["defs", "update", &stranger]);
    // The definitions apply to every install: hello's digest is blocked.
    let v = s.json(3, &["install", &pkg]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "SF-V005"),
        "{v}"
    );
}

/// Definitions with a new byte pattern scan the installed packages at once: `defs update`
/// lists what they block, and the blocked app no longer runs (denied, 5), naming why.
#[test]
fn definitions_with_a_new_pattern_block_an_installed_app_at_once() {
    use sandframe_package::SecretKey;
    use sandframe_validate::Definitions;
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    s.ok(&["install", &pkg]);
    s.ok(&["run", HELLO]);
    let signer = SecretKey::generate().unwrap();
    sandframe_package::write_key_pair(&s.path("defs"), &signer, false).unwrap();
    // hello's data holds the bytes `{"taps":`.
    let defs =
        Definitions::from_toml("version = 1\nblocked_patterns = [\"{\\\"taps\\\":\"]\n").unwrap();
    std::fs::write(s.path("v1.defs"), defs.sign(&signer).unwrap()).unwrap();
    let v = s.json(
        0,
        &[
            "defs",
            "update",
            &s.p("v1.defs"),
            "--key",
            &s.p("defs/publisher.pub"),
        ],
    );
    assert_eq!(v["blocked"], serde_json::json!([HELLO]), "{v}");
    let v = s.json(5, &["run", HELLO]);
    assert!(
        v["error"].as_str().unwrap().contains("no longer passes"),
        "{v}"
    );
}

#[test]
fn the_demo_runs_end_to_end_and_cleans_up() {
    let out = Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .arg("demo")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for seen in [
        "Count: 3",
        "Count: 2",
        "js@1",
        "granted (answered by the policy file)",
        "Hello, Ada!",
        "1 note on the service",
        "is not an origin granted to this app",
        "POST 201",
        "SF-V102",
        "terminated by the sandbox",
        "verified:",
        "removed the temporary home",
    ] {
        assert!(
            text.contains(seen),
            "{seen:?} missing from the demo:\n{text}"
        );
    }
    let at = text.rfind("removed the temporary home ").unwrap();
    let tmp = text[at + 27..].split_whitespace().next().unwrap();
    assert!(!Path::new(tmp).exists(), "{tmp} was left behind");
}

#[test]
fn a_quarantined_app_is_denied_and_a_tampered_home_is_an_internal_error() {
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    s.ok(&["install", &pkg]);
    // A trust file edited by hand trusts no one new: the sealed store is in force, and the
    // person is told the file was not read.
    let trust_file = s.path("home/trust.toml");
    let mut text = std::fs::read_to_string(&trust_file).unwrap();
    text.push_str("# edited by hand\n");
    std::fs::write(&trust_file, text).unwrap();
    let out = s.sf(&["--json", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("trust.toml") && stderr.contains("not read"),
        "{stderr}"
    );
    s.trust(); // a change through the command writes the view again
    // A quarantine file planted in the home quarantines nothing (and lifts nothing): it is
    // reported as planted and never read.
    let dir = s.path("home/quarantine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{HELLO}.json")), "{}").unwrap();
    let out = s.sf(&["--json", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("planted") && stderr.contains("quarantine"),
        "{stderr}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["apps"][0]["quarantined"], false, "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
    // A quarantine a monitor committed in an earlier process survives into this one: denied.
    s.quarantine(HELLO, "traps.repeat");
    let v = s.json(5, &["run", HELLO]);
    assert!(v["error"].as_str().unwrap().contains("quarantined"), "{v}");
    let release = format!("sandframe release {HELLO}");
    assert!(v["help"].as_str().unwrap().contains(&release), "{v}");
    let v = s.json(0, &["list"]);
    assert_eq!(v["apps"][0]["quarantined"], true);
    // The step it names works: released, audited, and the app runs again.
    let v = s.json(0, &["release", HELLO]);
    assert_eq!(v["app"], HELLO);
    let v = s.json(0, &["list"]);
    assert_eq!(v["apps"][0]["quarantined"], false);
    let v = s.json(0, &["audit", HELLO]);
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "release"),
        "{v}"
    );
    s.ok(&["run", HELLO]);

    // A sealed state changed behind the host's back: every command refuses to go on (1),
    // naming the file; put back as it was, the home works again.
    let state = s.path("home/home.state");
    let sealed = std::fs::read(&state).unwrap();
    let mut bytes = sealed.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&state, &bytes).unwrap();
    let out = s.sf(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("home.state"), "{stderr}");
    std::fs::write(&state, &sealed).unwrap();
    s.ok(&["list"]);

    // An audit log changed behind the host's back: every command refuses to go on (1).
    let log = s.path("home/audit.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&log, bytes).unwrap();
    let out = s.sf(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("audit"), "{stderr}");
    assert!(
        stderr.contains("help: ") && stderr.contains("restore it from a backup"),
        "{stderr}"
    );
}

#[test]
fn a_new_definitions_signer_replaces_the_old_only_once_its_file_is_accepted() {
    use sandframe_package::SecretKey;
    use sandframe_validate::Definitions;
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    let signed = |version: u64, key: &SecretKey, name: &str| {
        let defs = Definitions::from_toml(&format!("version = {version}\n")).unwrap();
        std::fs::write(s.path(name), defs.sign(key).unwrap()).unwrap();
        s.p(name)
    };
    let (a, b) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    sandframe_package::write_key_pair(&s.path("a"), &a, false).unwrap();
    sandframe_package::write_key_pair(&s.path("b"), &b, false).unwrap();
    let a5 = signed(5, &a, "a5.defs");
    s.json(
        0,
        &["defs", "update", &a5, "--key", &s.p("a/publisher.pub")],
    );
    // A file the new key did not sign: refused, and the old signer stays.
    s.json(
        5,
        &["defs", "update", &a5, "--key", &s.p("b/publisher.pub")],
    );
    let a6 = signed(6, &a, "a6.defs");
    s.json(0, &["defs", "update", &a6]);
    // The new signer's first set starts afresh (its version 1 is not a rollback of a's 6);
    // from then on only b's sets are accepted, and the home keeps working.
    let b1 = signed(1, &b, "b1.defs");
    let v = s.json(
        0,
        &["defs", "update", &b1, "--key", &s.p("b/publisher.pub")],
    );
    assert_eq!(v["version"], 1);
    s.json(5, &["defs", "update", &signed(7, &a, "a7.defs")]);
    s.json(0, &["install", &pkg]);
    s.json(0, &["list"]);
}

/// Runs `sandframe ARGS` under `script`, so that its standard input is a terminal, typing
/// `input`; returns what it printed.
fn at_a_terminal(s: &Scratch, args: &str, input: &str) -> String {
    use std::io::Write as _;
    let cmd = format!(
        "{} --home {} {args}",
        env!("CARGO_BIN_EXE_sandframe"),
        s.path("home").display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs a command at a terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

#[test]
fn a_person_at_a_terminal_taps_and_answers_the_prompt() {
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("profile"), "profile.sfpkg");
    s.ok(&["install", &pkg]);
    // Tap choice 1, answer the prompt yes, quit.
    let text = at_a_terminal(
        &s,
        "run dev.sandframe.profile --profile-name Grace",
        "1\ny\nq\n",
    );
    assert!(text.contains("[1] tap \"Ask for my profile\""), "{text}");
    assert!(
        text.contains("asks for user:readProfile: \"Greet you by name\""),
        "{text}"
    );
    assert!(text.contains("granted (answered by you)"), "{text}");
    assert!(text.contains("Hello, Grace!"), "{text}");
    // A flag answers before the person is asked.
    s.ok(&["revoke", "dev.sandframe.profile", "user:readProfile"]);
    let text = at_a_terminal(&s, "run dev.sandframe.profile --deny-all", "1\nq\n");
    assert!(text.contains("denied (answered by --deny-all)"), "{text}");
    assert!(!text.contains("Allow?"), "{text}");
}

#[test]
fn run_serve_shows_an_installed_app_and_refuses_a_quarantined_one() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let s = Scratch::new();
    s.trust();
    let pkg = s.pack(&example("hello"), "hello.sfpkg");
    s.ok(&["install", &pkg]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .arg("--home")
        .arg(s.path("home"))
        .args(["--json", "run", HELLO, "--serve", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["ok"], true);
    let url = v["serving"].as_str().unwrap().to_owned();
    let hostport = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path = &url[url.find("/?").unwrap()..];
    let mut conn = std::net::TcpStream::connect(&hostport).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    conn.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("sandframe simulator"), "{page}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    // The audit trail shows it was launched from the real home, and stopped.
    let actions = s.host_actions(HELLO);
    assert_eq!(actions, ["install", "launch", "terminate"]);

    s.quarantine(HELLO, "fuel.burn");
    s.json(5, &["run", HELLO, "--serve", "--port", "0"]);
}

/// `pack` never follows a symbolic link: a linked top-level `assets/` would pull the author's
/// private files into a signed package. Refused as a rejected package (3), naming the link,
/// and nothing is written.
#[cfg(unix)]
#[test]
fn pack_refuses_a_symlinked_assets_directory() {
    let s = Scratch::new();
    let private = s.path("private");
    std::fs::create_dir_all(&private).unwrap();
    std::fs::write(private.join("id_ed25519"), "secret").unwrap();
    let src = source(s.dir.path(), "com.example.linked", SPINNER);
    std::os::unix::fs::symlink(&private, src.join("assets")).unwrap();
    let args = s.pack_args(&src, "linked.sfpkg");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.sf(&args);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is a symbolic link",
            src.join("assets").display()
        )) && stderr.contains("copy the file in instead"),
        "{stderr}"
    );
    assert!(!s.path("linked.sfpkg").exists());
    let v = s.json(3, &args);
    assert!(
        v["error"].as_str().unwrap().contains("symbolic link"),
        "{v}"
    );
}

/// `chars` as the CLI must show them: each as `\u{…}`, a backslash as `\\`, a `"` as `\"`.
fn escaped(chars: &str) -> String {
    chars
        .chars()
        .map(|c| match c {
            '\\' => "\\\\".to_owned(),
            '"' => "\\\"".to_owned(),
            c if c.is_ascii_graphic() || c == ' ' => c.to_string(),
            c => format!("\\u{{{:x}}}", u32::from(c)),
        })
        .collect()
}

/// A TOML basic string holding `s`, every non-ASCII character as `\UXXXXXXXX`.
fn toml_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\U{:08X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// An app that asks for `user:readProfile` at its first event, and whose name, description and
/// reason are look-alike text; its view keeps joiners that Persian and emoji need.
fn look_alike_source(dir: &Path, name: &str, description: &str, reason: &str) -> PathBuf {
    let src = dir.join("lookalike");
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        format!(
            "id = \"com.example.lookalike\"\nname = {}\nversion = \"1.0.0\"\n\
             description = {}\nviews = [\"index\"]\n\
             [[capabilities]]\nname = \"user:readProfile\"\nreason = {}\n\
             [limits]\nmemory_pages = 1\nfuel_per_event = 1000000\n",
            toml_string(name),
            toml_string(description),
            toml_string(reason)
        ),
    )
    .unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        format!("<view><text>{VIEW_WORDS}</text><button bind:tap=\"onAsk\">Ask</button></view>"),
    )
    .unwrap();
    let request = r#"{"capability":"user:readProfile"}"#;
    let escaped: String = request.bytes().map(|b| format!("\\{b:02x}")).collect();
    std::fs::write(
        src.join("logic.wat"),
        format!(
            r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "capability.request")
  (data (i32.const 32) "{escaped}")
  (global $asked (mut i32) (i32.const 0))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (if (i32.eqz (global.get $asked))
      (then
        (global.set $asked (i32.const 1))
        (drop (call $call (i32.const 0) (i32.const 18) (i32.const 32) (i32.const {len})))))
    i32.const 0))"#,
            len = request.len()
        ),
    )
    .unwrap();
    src
}

/// View content with the joiners scripts and emoji need: ZWNJ in Persian, ZWJ in an emoji
/// sequence, VS16.
const VIEW_WORDS: &str = "می\u{200c}خواهم 👩\u{200d}💻 ❤\u{fe0f}";

/// Look-alike text in an app's identity reaches the terminal only escaped: `info` (name,
/// description, reason), `list`, and the consent prompt a person answers; the backslash is
/// escaped so an app cannot spell out a fake escape, and nothing is escaped twice. The view's
/// own text keeps its joiners.
#[test]
fn identity_text_is_shown_with_every_invisible_character_escaped() {
    let s = Scratch::new();
    s.trust();
    let ends: String = look_alike::named().into_iter().collect();
    // A right-to-left override as well: `info` once escaped it twice (`\\u{202e}`).
    let name = format!("Bank\u{202e}{ends}\\u{{200b}}\"Co");
    assert!(
        name.chars().count() <= 64,
        "a manifest name is at most 64 characters"
    );
    let all: String = look_alike::all().into_iter().collect();
    let description = format!("About{all}\\");
    let reason = format!("Greet\u{202e}{ends}you\\");
    let src = look_alike_source(s.dir.path(), &name, &description, &reason);
    let pkg = s.pack(&src, "lookalike.sfpkg");
    s.ok(&["install", &pkg]);
    let app = "com.example.lookalike";
    let raw_in = |text: &str| -> Vec<char> {
        look_alike::all()
            .into_iter()
            .filter(|c| text.contains(*c))
            .collect()
    };

    let info = s.ok(&["info", app]);
    assert_eq!(raw_in(&info), Vec::<char>::new(), "raw in info:\n{info}");
    assert!(
        info.contains(&format!("\"{}\"", escaped(&name))),
        "the name, escaped once:\n{info}"
    );
    assert!(!info.contains("\\\\u{202e}"), "escaped twice:\n{info}");
    assert!(info.contains(&escaped(&description)), "{info}");
    assert!(info.contains(&escaped(&reason)), "{info}");
    // The data itself is intact in JSON (escaped by JSON itself).
    let v = s.json(0, &["info", app]);
    assert_eq!(v["info"]["name"], name.as_str());
    assert_eq!(v["info"]["capabilities"][0]["reason"], reason.as_str());
    let list = s.ok(&["list"]);
    assert!(list.contains(app), "{list}");
    assert_eq!(raw_in(&list), Vec::<char>::new(), "raw in list:\n{list}");

    // The view keeps its joiners (view content, not identity text).
    let view = s.ok(&["run", app]);
    assert!(view.contains(VIEW_WORDS), "{view}");

    // The consent prompt a person answers.
    let text = at_a_terminal(&s, &format!("run {app}"), "1\nn\nq\n");
    let prompt = text
        .lines()
        .find(|l| l.contains("asks for user:readProfile"))
        .unwrap_or_else(|| panic!("no prompt in:\n{text}"));
    assert_eq!(
        raw_in(prompt),
        Vec::<char>::new(),
        "raw in the prompt: {prompt}"
    );
    assert!(
        prompt.contains(&format!(
            "\"{}\" ({app}) asks for user:readProfile: \"{}\"",
            escaped(&name),
            escaped(&reason)
        )),
        "{prompt}"
    );
    assert!(text.contains("denied (answered by you)"), "{text}");
}

/// Messages: a rejected install prints each finding once (see also
/// `hostile_packages_through_the_real_binary`), a finding about the whole package has no empty
/// "()", and a template error gives one position, the right one.
#[test]
fn findings_are_printed_once_with_one_position_and_no_empty_location() {
    let s = Scratch::new();
    // Untrusted: a finding with no location.
    let hello = s.pack(&example("hello"), "hello.sfpkg");
    let out = s.sf(&["install", &hello]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("SF-V003").count(), 1, "{stderr}");
    assert!(!stderr.contains("()"), "{stderr}");

    // A template that closes the wrong element: reported where the wrong close tag starts.
    let src = source(s.dir.path(), "com.example.broken", SPINNER);
    std::fs::write(src.join("views/index.xml"), "<view><text>a</view>").unwrap();
    let args = s.pack_args(&src, "broken.sfpkg");
    let out = s.sf(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("views/index.xml: line 1, column 14: "),
        "{stderr}"
    );
    assert!(!stderr.contains(" at 1:"), "a second position: {stderr}");
}

/// A key file planted in a home whose keys live outside it is never read, and the person
/// hears of it on standard error at every command, with `--json` too (stdout stays one
/// object).
#[test]
fn a_key_planted_in_the_home_is_reported_on_stderr_and_never_read() {
    let s = Scratch::new();
    s.ok(&["list"]);
    std::fs::write(s.path("home/host.key"), [7u8; 32]).unwrap();
    for args in [&["list"][..], &["--json", "list"]] {
        let out = s.sf(args);
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("ERROR"), "{stderr}");
        assert!(stderr.contains("never read"), "{stderr}");
        assert!(
            !stderr.contains('\u{1b}'),
            "no colour codes off a terminal: {stderr:?}"
        );
    }
    let v = s.json(0, &["audit"]);
    let tampers = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "tamper" && r["subject"] == "host.key")
        .count();
    assert!(tampers >= 2, "audited at every start: {v}");
}

/// A command that finds the home locked by another process waits, says so on standard
/// error after a second, and goes on once the lock is released (here a plain `flock` on the
/// home directory, as another sandframe process would hold it).
#[test]
fn a_command_waits_for_another_process_holding_the_home_and_says_so() {
    let s = Scratch::new();
    s.ok(&["list"]);
    let holder = std::fs::File::open(s.path("home")).unwrap();
    holder.lock().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .arg("--home")
        .arg(s.path("home"))
        .arg("list")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("SANDFRAME_HOME")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    holder.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("waiting for another process"), "{stderr}");
}

/// `run` with the development network flags: a service on 127.0.0.1 with its own CA is
/// reached only with --allow-private, --resolve and --trust-ca all given, and --deny-origin
/// closes it again; each refusal is in the audit trail with its reason.
#[test]
fn run_reaches_a_local_service_only_with_the_development_flags() {
    let service = sandframe_testkit::https::LocalService::start(&["api.sandframe.test"]).unwrap();
    let origin = format!("https://api.sandframe.test:{}", service.port());
    let s = Scratch::new();
    s.trust();
    let id = "com.example.fetcher";
    let src = s.path(id);
    std::fs::create_dir_all(src.join("views")).unwrap();
    std::fs::write(
        src.join("manifest.toml"),
        format!(
            "id = \"{id}\"\nname = \"Fetcher\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n\
             [[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n\
             [[capabilities]]\nname = \"net:fetch\"\nreason = \"its service\"\norigins = [\"{origin}\"]\n"
        ),
    )
    .unwrap();
    let request = serde_json::json!({ "url": format!("{origin}/hello") }).to_string();
    std::fs::write(
        src.join("logic.wat"),
        sandframe_testkit::fetch_guest(&request, 0),
    )
    .unwrap();
    std::fs::write(
        src.join("views/index.xml"),
        "<view><text>[{{data}}]</text><button bind:tap=\"onTap\">Go</button></view>",
    )
    .unwrap();
    let pkg = s.pack(&src, "fetcher.sfpkg");
    // `verify` knows net:fetch, as the `sandframe` host does.
    s.ok(&["verify", &pkg, "--trust", &s.p("keys/publisher.pub")]);
    s.ok(&["verify", &pkg]);
    s.ok(&["install", &pkg]);
    let ca = s.path("ca.der");
    std::fs::write(&ca, service.ca_der()).unwrap();
    let ca = ca.to_str().unwrap().to_owned();
    let resolve = "api.sandframe.test=127.0.0.1".to_owned();
    let events = s.path("none.json");
    std::fs::write(&events, "[]").unwrap();
    let events = events.to_str().unwrap().to_owned();
    let base = ["run", id, "--grant", "net:fetch", "--events", &events];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let out = s.sf(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = "aGVsbG8gZnJvbSB0aGUgdGVzdCBzZXJ2aWNl"; // base64 of the service's hello
    let flags = [
        "--allow-private",
        "127.0.0.1/32",
        "--resolve",
        &resolve,
        "--trust-ca",
        &ca,
    ];
    let reached = run(&flags);
    assert!(reached.contains(answer), "{reached}");
    // Each development flag is needed: without the range allowed, the loopback address is
    // refused; without the name, it does not resolve; without the CA, TLS fails.
    for (without, kept) in [
        ("--allow-private", flags[2..].to_vec()),
        ("--resolve", [&flags[..2], &flags[4..]].concat()),
        ("--trust-ca", flags[..4].to_vec()),
    ] {
        let refused = run(&kept);
        assert!(
            !refused.contains(answer),
            "reached without {without}: {refused}"
        );
    }
    // With the origin denied: refused before any lookup.
    let mut denied = flags.to_vec();
    denied.extend_from_slice(&["--deny-origin", &origin]);
    assert!(!run(&denied).contains(answer));
    assert_eq!(
        service.seen().len(),
        1,
        "only the allowed run reached the service"
    );
    let audit = s.ok(&["audit", id]);
    assert!(audit.contains("loopback"), "{audit}");
    assert!(
        audit.contains("is not an origin granted to this app"),
        "{audit}"
    );
    // A bad flag is a usage error naming the way to write it.
    for (bad, says) in [
        (["--resolve", "nonsense"], "NAME=ADDR"),
        (["--resolve", "=127.0.0.1"], "NAME=ADDR"),
        (["--allow-private", "0.0.0.0/0"], "opens every address"),
        (["--allow-private", "not-a-range"], "not an address range"),
        (["--trust-ca", pkg.as_str()], "--trust-ca"),
        (["--deny-origin", "https://*.com"], "public suffix"),
    ] {
        let out = s.sf(&["run", id, bad[0], bad[1]]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad:?}: {err}");
    }
    // Brackets, upper case and a trailing dot are the same name and address.
    let resolve_again = "API.sandframe.test.=[127.0.0.1]".to_owned();
    let same = run(&[
        "--allow-private",
        "127.0.0.1",
        "--resolve",
        &resolve_again,
        "--trust-ca",
        &ca,
    ]);
    assert!(same.contains(answer), "{same}");
    // The stored grant names the origins it reaches, in text and JSON.
    let text = s.ok(&["grants", id]);
    assert!(text.contains(&format!("net:fetch for {origin}")), "{text}");
    let v = s.json(0, &["grants", id]);
    assert_eq!(v["grants"][0]["origins"], serde_json::json!([origin]));
    // A person asked again is shown each origin, one a line, before answering.
    s.ok(&["revoke", id, "net:fetch"]);
    let args = format!("run {id} {}", flags.join(" "));
    let text = at_a_terminal(&s, &args, "y\nq\n");
    assert!(
        text.contains(&format!("It would reach only:\r\n  {origin}"))
            || text.contains(&format!("It would reach only:\n  {origin}")),
        "{text}"
    );
    assert!(text.contains("granted (answered by you)"), "{text}");
}
