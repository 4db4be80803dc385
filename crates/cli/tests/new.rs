//! `sandframe new` for each template, then pack, install and run, through the real binary,
//! in a directory outside the checkout. The nested Rust build shares one `CARGO_TARGET_DIR`
//! (under cargo's own target directory), so a second run builds nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn sf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .args(args)
        .current_dir(dir)
        .env("SANDFRAME_HOME", dir.join("home"))
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-apps"),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sf(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sandframe {args:?}: {stderr}");
    // Piped: no spinner, no cursor movement, no colour.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "progress noise on a pipe: {stderr:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_template_packs_installs_and_runs_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["keygen", "--out", "keys"]);
    ok(dir, &["trust", "add", "keys/publisher.pub"]);
    for (name, template, tap, shows) in [
        ("my-app", "wat", "Tap me", "Taps: 1"),
        ("my-rust-app", "rust", "+1", "Count: 1"),
        ("my-js-app", "js", "+1", "Count: 1"),
    ] {
        let made = ok(dir, &["--json", "new", name, "--template", template]);
        let made: serde_json::Value = serde_json::from_str(&made).unwrap();
        let id = format!("com.example.{name}");
        assert_eq!(made["app"], id.as_str());
        for file in ["manifest.toml", "views/index.xml", "README.md"] {
            assert!(dir.join(name).join(file).is_file(), "{name}/{file}");
        }
        let readme = std::fs::read_to_string(dir.join(name).join("README.md")).unwrap();
        assert!(readme.contains(&id), "{readme}");
        if template == "js" {
            let logic = std::fs::read_to_string(dir.join(name).join("logic.js")).unwrap();
            assert!(logic.contains("Page({"), "{logic}");
            let manifest = std::fs::read_to_string(dir.join(name).join("manifest.toml")).unwrap();
            assert!(manifest.contains("runtime = \"js@1\""), "{manifest}");
        }
        if template == "rust" {
            let cargo = std::fs::read_to_string(dir.join(name).join("Cargo.toml")).unwrap();
            assert!(
                cargo.contains("path = \".sandframe/sdk/crates/sdk\""),
                "the SDK by path, never from a registry: {cargo}"
            );
            assert!(
                dir.join(name)
                    .join(".sandframe/sdk/crates/sdk/src/lib.rs")
                    .is_file()
            );
        }

        let pkg = format!("{name}.sfpkg");
        ok(
            dir,
            &["pack", name, "--key", "keys/publisher.key", "--out", &pkg],
        );
        ok(dir, &["install", &pkg]);
        let events = dir.join(format!("{name}.json"));
        std::fs::write(&events, format!(r#"[{{"tap": "{tap}"}}]"#)).unwrap();
        let shown = ok(dir, &["run", &id, "--events", events.to_str().unwrap()]);
        assert!(shown.contains(shows), "{name}: {shown}");
    }
    // A JS app whose script does not parse is refused at pack with its line and column, and
    // nothing is written.
    std::fs::write(
        dir.join("my-js-app/logic.js"),
        "Page({\n  onTap() {\n    let x = ;\n  },\n});\n",
    )
    .unwrap();
    let out = sf(
        dir,
        &[
            "pack",
            "my-js-app",
            "--key",
            "keys/publisher.key",
            "--out",
            "broken.sfpkg",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("logic.js:3:13: SyntaxError"), "{err}");
    assert!(!dir.join("broken.sfpkg").exists());
    // A second `new` of a name in use changes nothing and says so.
    let again = sf(dir, &["new", "my-app"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // A name that cannot be part of an app id is refused before anything is written.
    for bad in ["My App", "9lives", "a.b", "-x"] {
        let out = sf(dir, &["new", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(!dir.join(bad).exists(), "{bad}");
    }
    // A Rust keyword (as the crate's name, `-` read as `_`) or a crate every build has cannot
    // name the Rust template's crate: refused with a name that works, before anything is
    // written. The WAT template has no crate, so the same name is fine there.
    for bad in ["fn", "self", "std", "proc-macro", "sandframe-sdk"] {
        let out = sf(dir, &["new", bad, "--template", "rust"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(&format!("{bad}-app")), "{bad}: {stderr}");
        assert!(!dir.join(bad).exists(), "{bad}");
    }
    ok(dir, &["new", "fn", "--template", "wat"]);
    ok(
        dir,
        &[
            "pack",
            "fn",
            "--key",
            "keys/publisher.key",
            "--out",
            "fn.sfpkg",
        ],
    );
}

/// `command` run under `script`, which gives it a terminal; what the terminal showed.
fn on_a_terminal(dir: &Path, command: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env("SANDFRAME_HOME", dir.join("home"))
        .stdin(Stdio::null())
        .output()
        .expect("util-linux's `script` (an essential Debian package) gives the test a terminal");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_is_shown_the_step_in_progress_and_json_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["keygen", "--out", "keys"]);
    ok(dir, &["new", "shown"]);
    let sf = env!("CARGO_BIN_EXE_sandframe");
    let pack = |json: &str, out: &str| {
        on_a_terminal(
            dir,
            &format!("{sf} {json} pack shown --key keys/publisher.key --out {out}"),
        )
    };
    let text = pack("", "a.sfpkg");
    assert!(
        text.contains("packing shown"),
        "the step is named: {text:?}"
    );
    assert!(text.contains("packed com.example.shown"), "{text:?}");
    let json = pack("--json", "b.sfpkg");
    assert!(
        !json.contains("packing shown"),
        "no progress with --json: {json:?}"
    );
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["app"], "com.example.shown");
}
