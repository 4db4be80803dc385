//! Several `sandframe` processes on one home at once, round after round: installs,
//! uninstalls and runs racing each other. Each may lose its race honestly (an app that is
//! not installed any more is a usage error, exit 2), but none may fail inside (exit 1), and
//! after every round the home verifies: one audit chain, anchored, nothing torn.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const HELLO: &str = "dev.sandframe.hello";
/// Rounds of four racing processes. Before the home lock, three processes corrupted the
/// audit log within about 40 rounds; with four, this test failed within its first 15.
const ROUNDS: usize = 40;

fn sf(home: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_sandframe"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("SANDFRAME_HOME")
        .spawn()
        .unwrap()
}

fn done(args: &[&str], child: std::process::Child) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some(),
        "sandframe {args:?} was killed by a signal"
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(home: &Path, args: &[&str]) -> Output {
    let out = done(args, sf(home, args));
    assert_eq!(
        out.status.code(),
        Some(0),
        "sandframe {args:?}\n{}",
        text(&out)
    );
    out
}

#[test]
fn racing_processes_never_break_a_shared_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let keys = dir.path().join("keys");
    let key_dir = keys.to_str().unwrap();
    ok(&home, &["keygen", "--out", key_dir]);
    let pkg: PathBuf = dir.path().join("hello.sfpkg");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    ok(
        &home,
        &[
            "pack",
            example.to_str().unwrap(),
            "--key",
            keys.join("publisher.key").to_str().unwrap(),
            "--out",
            pkg.to_str().unwrap(),
        ],
    );
    let public = keys.join("publisher.pub");
    ok(
        &home,
        &["trust", "add", public.to_str().unwrap(), "--name", "Tests"],
    );
    let events = dir.path().join("events.json");
    std::fs::write(&events, r#"[{"handler": "onTap"}]"#).unwrap();
    let pkg = pkg.to_str().unwrap();
    let events = events.to_str().unwrap();
    let jobs: [&[&str]; 4] = [
        &["install", pkg],
        &["uninstall", HELLO],
        &["run", HELLO, "--events", events],
        &["install", pkg],
    ];
    let mut succeeded = [0usize; 4];
    for round in 0..ROUNDS {
        let running: Vec<_> = jobs.iter().map(|args| (args, sf(&home, args))).collect();
        for (job, (args, child)) in running.into_iter().enumerate() {
            let out = done(args, child);
            let code = out.status.code();
            if code == Some(0) {
                succeeded[job] += 1;
            }
            // 0: done; 2: the app was not installed when this one looked (it lost a race).
            assert!(
                code == Some(0) || code == Some(2),
                "round {round}: sandframe {args:?} exited {code:?}\n{}",
                text(&out)
            );
        }
        let out = ok(&home, &["--json", "audit", "--verify"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ok"], true, "round {round}: {v}");
        ok(&home, &["list"]);
    }
    // The races were real: each kind of job both ran through and (but installs) lost.
    assert!(succeeded.iter().all(|&n| n > 0), "{succeeded:?}");
    // Every install, uninstall and launch that reported success is in the one chain.
    let out = ok(&home, &["--json", "audit", HELLO]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = v["records"].as_array().unwrap();
    let installs = records
        .iter()
        .filter(|r| r["layer"] == "host" && r["action"] == "install" && r["outcome"] == "allowed")
        .count();
    assert!(
        installs >= ROUNDS,
        "{installs} installs recorded over {ROUNDS} rounds"
    );
}
