//! The sealed home state, attacked as SECURITY.md's attacker would (read and write anything in
//! the home, not the anchor) and crashed at every step of a change: an edited, truncated,
//! removed or rolled-back file is refused as a whole; a change whose anchor write never
//! happened did not happen; two processes see each other's changes; a process killed with
//! SIGKILL mid-change leaves the anchored state or exactly the next one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test: failing loudly is the point

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cap_std::fs::Dir;
use sandframe_core::HomeState;
use sandframe_durable::HomeLock;
use sandframe_gateway::{
    Anchor, FileAnchor, GatewayError, Head, HomeSecret, Migration, STATE_FILE, SealedState,
    StateHead,
};

const KEY: [u8; 32] = [3; 32];

fn dir(p: &Path) -> Dir {
    Dir::open_ambient_dir(p, cap_std::ambient_authority()).unwrap()
}

/// A home and its anchor file beside it, as a host lays them out.
struct Home {
    t: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("home")).unwrap();
        Home { t }
    }
    fn path(&self) -> std::path::PathBuf {
        self.t.path().join("home")
    }
    fn file(&self) -> std::path::PathBuf {
        self.path().join(STATE_FILE)
    }
    fn anchor(&self) -> Arc<FileAnchor> {
        Arc::new(FileAnchor::open(&self.t.path().join("anchor")).unwrap())
    }
    fn open_with(&self, anchor: Arc<dyn Anchor>) -> Result<SealedState, GatewayError> {
        let home = dir(&self.path());
        let lock = HomeLock::open(&home, "home").unwrap();
        SealedState::open(&home, anchor, KEY, lock)
    }
    fn open(&self) -> Result<SealedState, GatewayError> {
        self.open_with(self.anchor())
    }
}

fn refused(r: Result<SealedState, GatewayError>) -> String {
    match r {
        Err(GatewayError::StateTampered(why)) => why,
        Err(e) => panic!("expected a refused state, got {e}"),
        Ok(_) => panic!("expected a refused state, got one that opened"),
    }
}

#[test]
fn changes_persist_and_a_new_home_starts_empty() {
    let h = Home::new();
    let s = h.open().unwrap();
    assert!(s.names("grants").is_empty());
    s.set("grants", "com.example.a", Some(b"one")).unwrap();
    s.set("grants", "com.example.b", Some(b"two")).unwrap();
    s.set("grants", "com.example.a", None).unwrap();
    s.set_many(&[("record", "x", Some(b"r")), ("quarantine", "x", Some(b"q"))])
        .unwrap();
    drop(s);
    let s = h.open().unwrap();
    assert_eq!(s.names("grants"), ["com.example.b"]);
    assert_eq!(s.get("grants", "com.example.b").unwrap(), b"two");
    assert!(s.get("grants", "com.example.a").is_none());
    assert!(s.contains("record", "x") && s.contains("quarantine", "x"));
    assert_eq!(
        s.head().seq,
        4,
        "a batch is one change; unchanged values none"
    );
    s.set("record", "x", Some(b"r")).unwrap();
    assert_eq!(
        s.head().seq,
        4,
        "setting a value to what it is commits nothing"
    );
}

#[test]
fn every_edit_of_the_file_is_refused_as_a_whole() {
    let h = Home::new();
    let s = h.open().unwrap();
    s.set("quarantine", "com.example.bad", Some(b"{\"rule\":\"cpu\"}"))
        .unwrap();
    s.set("grants", "com.example.good", Some(b"[]")).unwrap();
    drop(s);
    let good = std::fs::read(h.file()).unwrap();
    // Every single byte flipped, one at a time.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        std::fs::write(h.file(), &bad).unwrap();
        let why = refused(h.open());
        assert!(why.contains(STATE_FILE), "{why}");
    }
    // Cut short anywhere before the last committed change.
    for len in 0..good.len() {
        std::fs::write(h.file(), &good[..len]).unwrap();
        refused(h.open());
    }
    // Replaced by a fresh state (what a deleted file would become): refused.
    std::fs::remove_file(h.file()).unwrap();
    assert!(refused(h.open()).contains("missing"));
    std::fs::write(h.file(), &good).unwrap();
    assert!(h.open().unwrap().contains("quarantine", "com.example.bad"));
}

#[test]
fn an_older_authentic_copy_is_refused() {
    let h = Home::new();
    let s = h.open().unwrap();
    s.set("quarantine", "com.example.bad", Some(b"q")).unwrap();
    let quarantined = std::fs::read(h.file()).unwrap();
    s.set("quarantine", "com.example.bad", None).unwrap();
    s.set("grants", "com.example.bad", Some(b"[\"net\"]"))
        .unwrap();
    let granted = std::fs::read(h.file()).unwrap();
    s.set("grants", "com.example.bad", None).unwrap();
    s.set("quarantine", "com.example.bad", Some(b"again"))
        .unwrap();
    drop(s);
    // Each once authentic, each older than the anchor: a release or a grant put back.
    for older in [&quarantined, &granted] {
        std::fs::write(h.file(), older).unwrap();
        assert!(refused(h.open()).contains("does not reach"));
    }
    // Nor does the state of another home (another key) open here.
    let other = Home::new();
    let o = other.open().unwrap();
    o.set("grants", "com.example.bad", Some(b"[\"net\"]"))
        .unwrap();
    drop(o);
    std::fs::copy(other.file(), h.file()).unwrap();
    refused(h.open());
}

/// An anchor that refuses the state's commit, as a crash before the anchor write would.
struct Failing {
    inner: Arc<FileAnchor>,
    fail: AtomicBool,
}

impl Anchor for Failing {
    fn key(&self) -> [u8; 32] {
        self.inner.key()
    }
    fn head(&self) -> Head {
        self.inner.head()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        self.inner.advance(head)
    }
    fn reload(&self) -> Result<Head, GatewayError> {
        self.inner.reload()
    }
    fn home_secret(&self) -> Result<HomeSecret, GatewayError> {
        self.inner.home_secret()
    }
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError> {
        self.inner.set_migration(migration)
    }
    fn state_head(&self) -> Result<StateHead, GatewayError> {
        self.inner.state_head()
    }
    fn advance_state(&self, head: &StateHead) -> Result<(), GatewayError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(GatewayError::Damaged(
                "the anchor write did not happen".into(),
            ));
        }
        self.inner.advance_state(head)
    }
}

#[test]
fn a_change_short_of_its_anchor_write_did_not_happen() {
    let h = Home::new();
    let anchor = Arc::new(Failing {
        inner: h.anchor(),
        fail: AtomicBool::new(false),
    });
    let s = h.open_with(anchor.clone()).unwrap();
    s.set("quarantine", "com.example.bad", Some(b"q")).unwrap();
    let committed = std::fs::read(h.file()).unwrap();
    // Appended and synced, then the anchor write fails (a crash at that step).
    anchor.fail.store(true, Ordering::SeqCst);
    assert!(s.set("quarantine", "com.example.bad", None).is_err());
    let appended = std::fs::read(h.file()).unwrap();
    assert!(appended.len() > committed.len(), "the change was appended");
    drop(s);
    // Opened again: the release did not happen, and the uncommitted frame is cut off.
    let s = h.open().unwrap();
    assert!(s.contains("quarantine", "com.example.bad"));
    assert_eq!(std::fs::read(h.file()).unwrap(), committed);
    // A torn frame (a crash mid-append) is cut off the same way.
    drop(s);
    std::fs::write(h.file(), &appended[..committed.len() + 7]).unwrap();
    let s = h.open().unwrap();
    assert!(s.contains("quarantine", "com.example.bad"));
    // And the chain goes on from the committed change.
    s.set("quarantine", "com.example.bad", None).unwrap();
    drop(s);
    assert!(!h.open().unwrap().contains("quarantine", "com.example.bad"));
}

#[test]
fn two_processes_see_each_others_changes_and_rewrites() {
    let h = Home::new();
    let a = h.open().unwrap();
    let b = h.open().unwrap();
    a.set("grants", "com.example.x", Some(b"from a")).unwrap();
    assert!(b.get("grants", "com.example.x").is_none(), "not yet read");
    b.refresh().unwrap();
    assert_eq!(b.get("grants", "com.example.x").unwrap(), b"from a");
    // b's change continues the chain a extended, without a refresh of its own first.
    b.set("grants", "com.example.y", Some(b"from b")).unwrap();
    a.refresh().unwrap();
    assert_eq!(a.get("grants", "com.example.y").unwrap(), b"from b");
    // Enough changes from a that it rewrites the file as one snapshot; b follows.
    for i in 0..600u32 {
        a.set("record", "com.example.x", Some(&i.to_le_bytes()))
            .unwrap();
    }
    let len = std::fs::metadata(h.file()).unwrap().len();
    assert!(len < 600 * 40, "the file was rewritten ({len} bytes)");
    b.refresh().unwrap();
    assert_eq!(
        b.get("record", "com.example.x").unwrap(),
        599u32.to_le_bytes()
    );
    b.set("record", "com.example.x", None).unwrap();
    drop((a, b));
    let s = h.open().unwrap();
    assert!(s.get("record", "com.example.x").is_none());
    assert_eq!(s.names("grants").len(), 2);
}

const CHILD_HOME: &str = "SANDFRAME_STATE_TEST_HOME";

/// Run as a child by the test below (it does nothing on its own): counts up in the state
/// of the home it is given, printing each value once committed, until it is killed.
#[test]
fn state_writer_child() {
    let Some(home) = std::env::var_os(CHILD_HOME) else {
        return;
    };
    let root = Path::new(&home);
    let anchor = Arc::new(FileAnchor::open(&root.join("anchor")).unwrap());
    let home = dir(&root.join("home"));
    let lock = HomeLock::open(&home, "home").unwrap();
    let s = SealedState::open(&home, anchor, KEY, lock).unwrap();
    let mut n = s
        .get("count", "n")
        .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
    loop {
        n += 1;
        // A second value in the same change: a batch is all or nothing.
        s.set_many(&[
            ("count", "n", Some(&n.to_le_bytes())),
            ("count", "m", Some(&n.to_le_bytes())),
        ])
        .unwrap();
        println!("{n}");
    }
}

#[test]
fn a_writer_killed_with_sigkill_at_any_step_leaves_the_anchored_state_or_the_next() {
    let h = Home::new();
    drop(h.open().unwrap());
    let mut last = 0u64;
    for round in 0..12u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "state_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_HOME, h.t.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        // Let it commit a few hundred changes (so rewrites happen too), then kill it
        // wherever it is.
        let target = 50 + round * 37;
        let mut printed = last;
        let mut line = String::new();
        while printed < last + target {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the child ended");
            if let Ok(n) = line.trim().parse::<u64>() {
                printed = n;
            }
        }
        std::thread::sleep(Duration::from_micros(round * 311 % 2000));
        child.kill().unwrap();
        child.wait().unwrap();
        let s = h.open().expect("a crash never looks like tampering");
        let n = u64::from_le_bytes(s.get("count", "n").unwrap().try_into().unwrap());
        let m = u64::from_le_bytes(s.get("count", "m").unwrap().try_into().unwrap());
        assert_eq!(n, m, "a change is all or nothing");
        assert!(n >= printed, "a committed change was lost: {n} < {printed}");
        last = n;
    }
}

#[test]
fn a_new_anchor_cannot_vouch_for_an_old_state_nor_one_put_back_behind_it() {
    let h = Home::new();
    let s = h.open().unwrap();
    s.set("quarantine", "com.example.bad", Some(b"q")).unwrap();
    s.set("record", "com.example.bad", Some(b"pinned")).unwrap();
    drop(s);
    // A new anchor (the way to start a new audit log) beside the same home: refused, not
    // read as a fresh state with everything after its snapshot cut off.
    let fresh = Arc::new(FileAnchor::open(&h.t.path().join("another-anchor")).unwrap());
    refused(h.open_with(fresh));
    // The anchor's state head put back by two changes (what an older build writing the
    // first anchor format would do): refused too.
    let path = h.t.path().join("anchor");
    let mut a = std::fs::read(&path).unwrap();
    a[88..128].fill(0);
    std::fs::write(&path, &a).unwrap();
    assert!(refused(h.open()).contains("more changes than its anchor"));
}

#[test]
fn a_grant_from_a_stale_copy_never_undoes_another_processs_revocation() {
    use sandframe_core::{AppId, Capability, GrantSource};
    use sandframe_gateway::GrantStore;
    let h = Home::new();
    let app: AppId = "com.example.x".parse().unwrap();
    let cam: Capability = "camera:use".parse().unwrap();
    let mic: Capability = "mic:use".parse().unwrap();
    let a = GrantStore::open(Arc::new(h.open().unwrap()));
    let b = GrantStore::open(Arc::new(h.open().unwrap()));
    a.grant(&app, &cam, GrantSource::Consent).unwrap();
    assert_eq!(a.list(&app).unwrap().len(), 1); // a holds [cam] in memory
    assert!(b.revoke(&app, &cam).unwrap(), "b sees a's grant as stored");
    // a, still holding its copy, grants another capability: the revocation stands.
    a.grant(&app, &mic, GrantSource::Consent).unwrap();
    let held: Vec<String> = a
        .list(&app)
        .unwrap()
        .iter()
        .map(|g| g.capability().to_string())
        .collect();
    assert_eq!(held, ["mic:use"]);
    let c = GrantStore::open(Arc::new(h.open().unwrap()));
    assert_eq!(c.list(&app).unwrap().len(), 1);
}

#[test]
fn a_fifo_or_a_symlink_in_place_of_the_file_is_refused_without_waiting() {
    let h = Home::new();
    let s = h.open().unwrap();
    s.set("quarantine", "com.example.bad", Some(b"q")).unwrap();
    drop(s);
    let real = h.t.path().join("real.state");
    std::fs::rename(h.file(), &real).unwrap();
    // A symlink to the real file: not followed.
    std::os::unix::fs::symlink(&real, h.file()).unwrap();
    assert!(refused(h.open()).contains("not a regular file"));
    std::fs::remove_file(h.file()).unwrap();
    // A FIFO: opening it must not wait for a writer (the home lock is held meanwhile).
    let status = std::process::Command::new("mkfifo")
        .arg(h.file())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(refused(h.open()).contains("not a regular file"));
    std::fs::remove_file(h.file()).unwrap();
    std::fs::rename(&real, h.file()).unwrap();
    assert!(h.open().unwrap().contains("quarantine", "com.example.bad"));
}
