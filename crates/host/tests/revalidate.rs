//! Continuous validation through real hosts sharing one home (each as a separate process
//! would be, with its own `HomeConfig`): a publisher removed, definitions that revoke a
//! publisher or block a package digest, or a quarantine, committed by another process, stop
//! the affected running apps of this one (at `revalidate`, or within a second through
//! `dispatch`), audited, and their next launch is refused with the reason; an app of another
//! publisher runs on. Definitions with a new byte pattern block the installed packages that
//! hold it, in every process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test: failing loudly is the point

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sandframe_host::{AppId, AppState, HomeConfig, Host, HostError, PublicKey, SecretKey};

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

const WAT: &str = r#"(module
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;

fn package_by(key: &SecretKey, app: &AppId) -> Vec<u8> {
    common::package_by(key, app.as_str(), WAT)
}

struct Home {
    t: tempfile::TempDir,
    ours: SecretKey,
    theirs: SecretKey,
}

impl Home {
    /// A home that trusts two publishers, with one app of each installed.
    fn new() -> Home {
        let h = Home {
            t: tempfile::tempdir().unwrap(),
            ours: SecretKey::from_seed(&[1; 32]),
            theirs: SecretKey::from_seed(&[2; 32]),
        };
        let config = h.config();
        config
            .change_trust(|t| {
                t.trust(h.ours.public_key(), "ours");
                t.trust(h.theirs.public_key(), "theirs");
            })
            .unwrap();
        let host = h.host();
        host.install(&package_by(&h.ours, &h.ours_app())).unwrap();
        host.install(&package_by(&h.theirs, &h.their_app()))
            .unwrap();
        h
    }
    fn path(&self) -> PathBuf {
        self.t.path().join("home")
    }
    /// The home's configuration, as another process opens it.
    fn config(&self) -> HomeConfig {
        HomeConfig::open(self.path()).unwrap()
    }
    /// A host that follows the home's configuration, as `sandframe dev` does.
    fn host(&self) -> Host {
        self.config().builder().unwrap().threads(1).build().unwrap()
    }
    fn ours_app(&self) -> AppId {
        id("com.example.ours")
    }
    fn their_app(&self) -> AppId {
        id("com.example.theirs")
    }
    /// Both apps running in `host`.
    fn launch_both(&self, host: &Host) {
        host.launch(&self.ours_app()).unwrap();
        host.launch(&self.their_app()).unwrap();
    }
    fn revalidations(&self, host: &Host) -> Vec<(String, String)> {
        host.audit_records(None)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "revalidate")
            .map(|r| (r.app, r.detail))
            .collect()
    }
}

fn definitions_key() -> SecretKey {
    SecretKey::from_seed(&[9; 32])
}

fn signed_definitions(version: u64, extra: &str) -> Vec<u8> {
    sandframe_validate::Definitions::from_toml(&format!("version = {version}\n{extra}"))
        .unwrap()
        .sign(&definitions_key())
        .unwrap()
}

fn publish_definitions(dir: &Path, version: u64, extra: &str) {
    let key: PublicKey = definitions_key().public_key();
    HomeConfig::open(dir)
        .unwrap()
        .update_definitions(
            &signed_definitions(version, extra),
            Some((key, key.to_file_text().as_bytes())),
        )
        .unwrap();
}

#[test]
fn a_publisher_removed_in_another_process_stops_its_running_apps() {
    let h = Home::new();
    let host = h.host();
    h.launch_both(&host);
    // Another process removes one publisher from the home's trust store.
    let ours = h.ours.public_key();
    h.config().change_trust(|t| t.remove(&ours)).unwrap();
    assert_eq!(host.revalidate().unwrap(), [h.ours_app()]);
    assert_eq!(host.state(&h.ours_app()), AppState::Stopped);
    assert_eq!(host.state(&h.their_app()), AppState::Running);
    assert_eq!(host.dispatch(&h.their_app(), b"{}").unwrap(), 0);
    let audited = h.revalidations(&host);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].0, h.ours_app().as_str());
    // The next launch is refused, naming why.
    match host.launch(&h.ours_app()) {
        Err(e @ HostError::Denied(_)) => {
            assert!(e.to_string().contains("trust"), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nothing more to do the second time.
    assert!(host.revalidate().unwrap().is_empty());
}

#[test]
fn within_a_second_through_dispatch_alone() {
    let h = Home::new();
    let host = h.host();
    h.launch_both(&host);
    let ours = h.ours.public_key();
    h.config().change_trust(|t| t.revoke(ours)).unwrap();
    // The host is only sent events for the other app; a second later the revoked one is
    // stopped.
    let start = std::time::Instant::now();
    while host.state(&h.ours_app()) != AppState::Stopped && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
        host.dispatch(&h.their_app(), b"{}").unwrap();
    }
    assert_eq!(host.state(&h.ours_app()), AppState::Stopped);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "stopped after {:?}",
        start.elapsed()
    );
}

#[test]
fn definitions_that_block_a_digest_or_revoke_a_publisher_stop_the_running_apps() {
    let h = Home::new();
    publish_definitions(&h.path(), 1, "");
    let host = h.host();
    h.launch_both(&host);
    // Another process accepts definitions that block one app's package digest.
    let bytes = std::fs::read(h.path().join("apps/com.example.ours/package.sfpkg")).unwrap();
    let digest = sandframe_package::Package::parse(&bytes).unwrap().digest();
    publish_definitions(
        &h.path(),
        2,
        &format!("blocked_digests = [\"{}\"]", digest.to_hex()),
    );
    assert_eq!(host.revalidate().unwrap(), [h.ours_app()]);
    assert_eq!(host.state(&h.their_app()), AppState::Running);
    assert!(host.launch(&h.ours_app()).is_err());
    // Then definitions that revoke the other publisher.
    publish_definitions(
        &h.path(),
        3,
        &format!("revoked_publishers = [\"{}\"]", h.theirs.public_key()),
    );
    assert_eq!(host.revalidate().unwrap(), [h.their_app()]);
    let audited = h.revalidations(&host);
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited[1].1.contains("revoked"), "{audited:?}");
}

#[test]
fn a_quarantine_committed_by_another_process_stops_the_running_app() {
    let h = Home::new();
    let host = h.host();
    h.launch_both(&host);
    // The other process's monitor quarantines the app: a value in the sealed state.
    let q = br#"{"app":"com.example.ours","rule":"fuel.burn","evidence":"x","unix_ms":1}"#;
    sandframe_core::HomeState::set(
        &common::sealed_state(h.t.path()),
        "quarantine",
        "com.example.ours",
        Some(q),
    )
    .unwrap();
    assert_eq!(host.revalidate().unwrap(), [h.ours_app()]);
    assert!(host.is_quarantined(&h.ours_app()));
    assert_eq!(host.state(&h.their_app()), AppState::Running);
}

#[test]
fn grants_changed_by_another_process_reach_the_running_app() {
    let h = Home::new();
    let host = h.host();
    h.launch_both(&host);
    let app = h.ours_app();
    let cap: sandframe_host::Capability = "user:readProfile".parse().unwrap();
    let other = h.host();
    other.grant(&app, &cap).unwrap();
    assert!(host.grants(&app).unwrap().is_empty(), "not read yet");
    assert!(host.revalidate().unwrap().is_empty());
    assert_eq!(host.grants(&app).unwrap().len(), 1);
    assert!(other.revoke(&app, &cap).unwrap());
    host.revalidate().unwrap();
    assert!(
        host.grants(&app).unwrap().is_empty(),
        "the revocation reached it"
    );
}

#[test]
fn definitions_with_a_new_pattern_rescan_the_installed_packages() {
    let h = Home::new();
    let miner = id("com.example.miner");
    let wat = r#"(module
  (memory (export "memory") 1 1)
  (data (i32.const 0) "pool.example-miner.test:3333")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;
    let host = h.host();
    host.install(&common::package_by(&h.ours, miner.as_str(), wat))
        .unwrap();
    host.launch(&miner).unwrap();
    h.launch_both(&host);
    // Another process accepts definitions with a byte pattern the miner's data holds.
    publish_definitions(&h.path(), 1, "blocked_patterns = [\"example-miner.test\"]");
    assert_eq!(host.revalidate().unwrap(), std::slice::from_ref(&miner));
    assert_eq!(host.state(&h.ours_app()), AppState::Running);
    assert_eq!(host.state(&h.their_app()), AppState::Running);
    let blocked = |r: Result<i32, HostError>| match r {
        Err(HostError::Denied(sandframe_host::Denied::Blocked { app, reason })) => {
            assert_eq!(app.as_str(), "com.example.miner");
            assert!(reason.contains("example-miner.test"), "{reason}");
        }
        other => panic!("expected the miner blocked, got {other:?}"),
    };
    blocked(host.launch(&miner));
    // Another process sees it blocked without scanning again.
    let other = h.host();
    blocked(other.launch(&miner));
    let scans = other
        .audit_records(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "rescan")
        .count();
    assert_eq!(scans, 1, "the block is recorded once");
    // A version without the pattern, verified in full at install, runs again.
    let fixed = WAT;
    let mut c =
        sandframe_package::PackageContents::new(manifest_for(miner.as_str(), "1.0.1").into_bytes());
    c.add_file("logic.wasm", wat::parse_str(fixed).unwrap())
        .unwrap();
    c.add_file("views/index.xml", b"<view/>".to_vec()).unwrap();
    other.install(&c.sign(&h.ours).unwrap()).unwrap();
    other.launch(&miner).unwrap();
}

fn manifest_for(app: &str, version: &str) -> String {
    sandframe_testkit::manifest(app, "").replace("1.0.0", version)
}

#[test]
fn a_new_definitions_signer_does_not_turn_revalidation_off() {
    let h = Home::new();
    publish_definitions(&h.path(), 7, "");
    let host = h.host();
    h.launch_both(&host);
    // Another process moves to a new signer, whose first set is version 1.
    let next = SecretKey::from_seed(&[10; 32]);
    let signed = sandframe_validate::Definitions::from_toml("version = 1\n")
        .unwrap()
        .sign(&next)
        .unwrap();
    let key = next.public_key();
    h.config()
        .update_definitions(&signed, Some((key, key.to_file_text().as_bytes())))
        .unwrap();
    assert!(host.revalidate().unwrap().is_empty());
    // A revocation after it still reaches the running app.
    let ours = h.ours.public_key();
    h.config().change_trust(|t| t.revoke(ours)).unwrap();
    assert_eq!(host.revalidate().unwrap(), [h.ours_app()]);
}

#[test]
fn a_sealed_state_that_stops_verifying_stops_every_app() {
    let h = Home::new();
    let host = h.host();
    h.launch_both(&host);
    // Another process commits a change; a home-writer then flips a byte of the file.
    let cap: sandframe_host::Capability = "user:readProfile".parse().unwrap();
    h.host().grant(&h.ours_app(), &cap).unwrap();
    let file = h.path().join(sandframe_host::STATE_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The next event sees it: nothing runs on a state that cannot be trusted.
    assert!(host.dispatch(&h.their_app(), b"{}").is_err());
    assert_eq!(host.state(&h.ours_app()), AppState::Stopped);
    assert_eq!(host.state(&h.their_app()), AppState::Stopped);
}

#[test]
fn a_fifo_planted_as_a_package_neither_hangs_the_scan_nor_passes_it() {
    let h = Home::new();
    let host = h.host();
    let app = h.ours_app();
    drop(host);
    let package = h.path().join("apps/com.example.ours/package.sfpkg");
    let original = std::fs::read(&package).unwrap();
    std::fs::remove_file(&package).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&package)
        .status()
        .unwrap();
    assert!(status.success());
    // New definitions: the next host start scans every installed package, and must not
    // wait on the FIFO while it holds the home lock.
    publish_definitions(&h.path(), 1, "blocked_patterns = [\"never-seen-bytes\"]");
    let host = h.host();
    // The package put back once the scan is past: it is blocked, not waved through.
    std::fs::remove_file(&package).unwrap();
    std::fs::write(&package, &original).unwrap();
    match host.launch(&app) {
        Err(HostError::Denied(sandframe_host::Denied::Blocked { reason, .. })) => {
            assert!(reason.contains("could not be read"), "{reason}");
        }
        other => panic!("expected the app blocked, got {other:?}"),
    }
    host.launch(&h.their_app()).unwrap();
}
