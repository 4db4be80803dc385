//! The home lock between real processes: a holder killed with SIGKILL releases it (the
//! kernel does, with no lock file to delete), and while it lives, another process waits and
//! then fails with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use cap_std::fs::Dir;
use sandframe_durable::HomeLock;

const CHILD_HOME: &str = "SANDFRAME_LOCK_TEST_HOME";

fn open(path: &std::path::Path) -> Dir {
    Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
}

/// Run as a child by the test below (it does nothing on its own): takes the lock on the
/// home it is given, says so, and sleeps until it is killed.
#[test]
fn lock_holder_child() {
    let Some(home) = std::env::var_os(CHILD_HOME) else {
        return;
    };
    let lock = HomeLock::open(&open(home.as_ref()), "child").unwrap();
    let _held = lock.hold().unwrap();
    println!("held");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_holder_killed_with_sigkill_releases_the_lock() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_HOME, home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("held") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    let lock = HomeLock::open(&open(home.path()), "the shared home")
        .unwrap()
        .with_wait(Duration::from_millis(300));
    let e = lock.hold().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert!(e.to_string().contains("the shared home"), "{e}");

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let lock = lock.with_wait(Duration::from_secs(10));
    drop(lock.hold().expect("a killed holder's lock is released"));
    // Nothing was left in the home to unlock it.
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}
