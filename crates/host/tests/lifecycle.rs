//! The first host end to end: install through `validate::verify`, launch on a logic thread,
//! dispatch, terminate, uninstall, a fresh host on the same home; and the attacks on it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use sandframe_host::{
    AppId, Denied, HomeError, Host, HostError, Misuse, Pin, Rejected, RuntimeError, SecretKey,
    TrapKind, ValidateError, codes,
};
use sandframe_package::PackageContents;
use sandframe_testkit::{manifest, sign};

use sandframe_testkit::CLOCK_APP;

const SPINNER: &str = r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (loop $l (br $l)) i32.const 0))"#;

fn package(id: &str, version: &str, wat: &str) -> Vec<u8> {
    sign(
        &manifest(id, "").replace("1.0.0", version),
        wat::parse_str(wat).unwrap(),
    )
}

/// A host whose home is `<dir>/home` (its audit anchor goes beside it, inside `dir`).
fn host(dir: &std::path::Path) -> Host {
    let home = dir.join("home");
    let mut trust = sandframe_testkit::trust();
    trust.trust(SecretKey::from_seed(&[2; 32]).public_key(), "Two");
    Host::builder()
        .home(&home)
        .trust(trust)
        .threads(2)
        .build()
        .unwrap()
}

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

#[test]
fn install_launch_dispatch_terminate_uninstall() {
    let home = tempfile::tempdir().unwrap();
    let h = host(home.path());
    let app = id("com.example.clock");
    let done = h
        .install(&package("com.example.clock", "1.0.0", CLOCK_APP))
        .unwrap();
    assert_eq!(done.pin, Pin::New);
    assert_eq!(h.launch(&app).unwrap(), 0);
    assert!(matches!(
        h.launch(&app),
        Err(HostError::Misuse(Misuse::AlreadyRunning(_)))
    ));
    assert_eq!(h.dispatch(&app, b"{}").unwrap(), i32::from(b'{'));
    assert!(h.terminate(&app).unwrap());
    assert!(matches!(
        h.dispatch(&app, b"{}"),
        Err(HostError::Misuse(Misuse::NotRunning(_)))
    ));
    // Launch again: the artifact now comes from the home's cache.
    assert_eq!(h.launch(&app).unwrap(), 0);
    assert_eq!(h.dispatch(&app, b"{}").unwrap(), i32::from(b'{'));
    let artifacts = || {
        std::fs::read_dir(home.path().join("home/artifacts"))
            .unwrap()
            .count()
    };
    assert_eq!(artifacts(), 1);

    h.uninstall(&app).unwrap();
    assert!(matches!(
        h.dispatch(&app, b"{}"),
        Err(HostError::Misuse(Misuse::NotRunning(_)))
    ));
    let dir = home.path().join("home/apps/com.example.clock");
    assert!(
        !dir.exists(),
        "nothing of the app stays in apps/ (its tombstone is sealed in the state)"
    );
    assert_eq!(artifacts(), 0, "the cached artifact is gone");
    assert!(matches!(
        h.launch(&app),
        Err(HostError::Misuse(Misuse::NotInstalled(_)))
    ));
}

#[test]
fn the_pin_survives_uninstall_and_a_host_restart() {
    let home = tempfile::tempdir().unwrap();
    {
        let h = host(home.path());
        h.install(&package("com.example.pinned", "1.0.0", CLOCK_APP))
            .unwrap();
        h.uninstall(&id("com.example.pinned")).unwrap();
    }
    let h = host(home.path());
    // Another trusted publisher cannot take the id.
    let mut c = PackageContents::new(
        manifest("com.example.pinned", "")
            .replace("1.0.0", "2.0.0")
            .into_bytes(),
    );
    c.add_file("logic.wasm", wat::parse_str(CLOCK_APP).unwrap())
        .unwrap();
    c.add_file("views/index.xml", b"<view/>".to_vec()).unwrap();
    let by_two = c.sign(&SecretKey::from_seed(&[2; 32])).unwrap();
    match h.install(&by_two) {
        Err(HostError::Denied(Denied::Origin(ValidateError::Rejected(r)))) => {
            assert!(r.has(codes::PINNED_ELSEWHERE), "{r}")
        }
        other => panic!("{other:?}"),
    }
    // The original publisher can come back.
    assert_eq!(
        h.install(&package("com.example.pinned", "1.1.0", CLOCK_APP))
            .unwrap()
            .pin,
        Pin::Same
    );
}

#[test]
fn a_fresh_host_on_the_same_home_runs_installed_apps() {
    let home = tempfile::tempdir().unwrap();
    host(home.path())
        .install(&package("com.example.persist", "1.0.0", CLOCK_APP))
        .unwrap();
    // No key in the home: the keys come from the secret beside the anchor (mode 0600),
    // which a second host reads as it is.
    let anchor = home.path().join("home.audit-anchor.secret");
    let root_before = std::fs::read(&anchor).unwrap();
    let h = host(home.path());
    assert!(!home.path().join("home/host.key").exists());
    assert!(!home.path().join("home/storage.key").exists());
    assert_eq!(std::fs::read(&anchor).unwrap(), root_before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&anchor).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let app = id("com.example.persist");
    assert_eq!(h.launch(&app).unwrap(), 0);
    assert_eq!(h.dispatch(&app, b"{}").unwrap(), i32::from(b'{'));
}

#[test]
fn a_downgrade_is_refused_at_install() {
    let home = tempfile::tempdir().unwrap();
    let h = host(home.path());
    h.install(&package("com.example.ver", "2.0.0", CLOCK_APP))
        .unwrap();
    match h.install(&package("com.example.ver", "1.0.0", CLOCK_APP)) {
        Err(HostError::Rejected(Rejected::Validation(ValidateError::Rejected(r)))) => {
            assert!(r.has(codes::DOWNGRADE))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_package_changed_in_the_home_does_not_launch() {
    let home = tempfile::tempdir().unwrap();
    let h = host(home.path());
    h.install(&package("com.example.tamper", "1.0.0", CLOCK_APP))
        .unwrap();
    let path = home
        .path()
        .join("home/apps/com.example.tamper/package.sfpkg");
    // Swap in another validly signed version without going through install.
    std::fs::write(&path, package("com.example.tamper", "1.0.1", CLOCK_APP)).unwrap();
    assert!(matches!(
        h.launch(&id("com.example.tamper")),
        Err(HostError::Home(HomeError::Damaged(_)))
    ));
}

#[test]
fn a_spinning_app_is_stopped_and_its_neighbour_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let h = host(home.path());
    h.install(&package("com.example.spin", "1.0.0", SPINNER))
        .unwrap();
    h.install(&package("com.example.ok", "1.0.0", CLOCK_APP))
        .unwrap();
    let (spin, ok) = (id("com.example.spin"), id("com.example.ok"));
    h.launch(&spin).unwrap();
    h.launch(&ok).unwrap();
    match h.dispatch(&spin, b"{}") {
        Err(HostError::Stopped(RuntimeError::Trapped { kind, .. })) => {
            assert!(
                matches!(kind, TrapKind::FuelExhausted | TrapKind::DeadlineExceeded),
                "{kind:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.dispatch(&ok, b"{}").unwrap(), i32::from(b'{'));
}

#[test]
fn a_publisher_revoked_after_install_does_not_launch() {
    let home = tempfile::tempdir().unwrap();
    host(home.path())
        .install(&package("com.example.revoked", "1.0.0", CLOCK_APP))
        .unwrap();
    let mut trust = sandframe_testkit::trust();
    trust.revoke(sandframe_testkit::key().public_key());
    let h = Host::builder()
        .home(home.path().join("home"))
        .trust(trust)
        .threads(1)
        .build()
        .unwrap();
    match h.launch(&id("com.example.revoked")) {
        Err(HostError::Denied(Denied::Origin(ValidateError::Rejected(r)))) => {
            assert!(r.has(codes::REVOKED), "{r}")
        }
        other => panic!("{other:?}"),
    }
}
