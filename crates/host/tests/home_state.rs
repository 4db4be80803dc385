//! The home grants no authority no one granted, attacked as SECURITY.md's attacker would (read
//! and write anything in the home, not the anchor), through a real host: a grant written into
//! the home by hand is never read; a quarantine is not lifted, nor an uninstalled app's pin
//! dropped, by putting back an older copy of the sealed state or of the whole home; and a
//! change at 10,000 installed apps writes what it writes at one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test: failing loudly is the point

mod common;

use std::path::{Path, PathBuf};

use sandframe_gateway::{Anchor as _, FileAnchor, SealedState};
use sandframe_host::{
    AppId, Capability, Denied, GatewayError, Grant, GrantSource, HomeError, Host, HostError,
    STATE_FILE, audit,
};
use sandframe_testkit::{manifest, sign};

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

const HEADER: &str = r#"(import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (func (export "sf_init") (result i32) i32.const 0)"#;

fn quiet() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (func (export "sf_event") (param i32) (result i32) i32.const 1))"#
    )
}

fn trapper() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (func (export "sf_event") (param i32) (result i32) unreachable))"#
    )
}

fn package(app: &str, version: &str, extra: &str, wat: &str) -> Vec<u8> {
    sign(
        &manifest(app, extra).replace("1.0.0", version),
        wat::parse_str(wat).unwrap(),
    )
}

struct Home {
    t: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            t: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> PathBuf {
        self.t.path().join("home")
    }
    fn state_file(&self) -> PathBuf {
        self.path().join(STATE_FILE)
    }
    fn build(&self) -> Result<Host, HostError> {
        common::host_in(self.path()).threads(1).build()
    }
    fn host(&self) -> Host {
        self.build().unwrap()
    }
    /// The audit log's host records with `action`, read and verified from the files.
    fn audited(&self, action: &str) -> Vec<String> {
        let anchor = FileAnchor::open(&self.t.path().join("home.audit-anchor")).unwrap();
        let bytes = std::fs::read(self.path().join("audit.log")).unwrap();
        audit::read(&bytes, &anchor.key(), &anchor.head())
            .unwrap()
            .into_iter()
            .filter(|r| r.action == action)
            .map(|r| r.subject)
            .collect()
    }
    /// The home's sealed state, opened as a host in another process would.
    fn state(&self) -> SealedState {
        common::sealed_state(self.t.path())
    }
}

fn refused_state(r: Result<Host, HostError>) -> String {
    match r {
        Err(HostError::Home(HomeError::Gateway(GatewayError::StateTampered(why)))) => why,
        Err(e) => panic!("expected the sealed state refused, got {e}"),
        Ok(_) => panic!("expected the sealed state refused, but the host started"),
    }
}

#[test]
fn a_grant_written_into_the_home_by_hand_is_never_read() {
    let h = Home::new();
    let app = id("com.example.wants");
    let extra = "[[capabilities]]\nname = \"user:readProfile\"\nreason = \"to greet you\"\n";
    h.host()
        .install(&package(app.as_str(), "1.0.0", extra, &quiet()))
        .unwrap();
    // The grants file an older home kept, written by hand: it says the person consented.
    let grant = Grant::new(
        app.clone(),
        "user:readProfile".parse::<Capability>().unwrap(),
        GrantSource::Consent,
        1,
    );
    std::fs::create_dir_all(h.path().join("grants")).unwrap();
    std::fs::write(
        h.path().join(format!("grants/{app}.json")),
        serde_json::to_vec(&vec![grant]).unwrap(),
    )
    .unwrap();
    let host = h.host();
    assert!(host.grants(&app).unwrap().is_empty(), "no grant was read");
    host.launch(&app).unwrap();
    drop(host);
    assert_eq!(
        h.audited("tamper"),
        ["grants"],
        "the planted directory is reported"
    );
    // A grant the host gives is sealed, and survives a restart.
    let host = h.host();
    host.grant(&app, &"user:readProfile".parse().unwrap())
        .unwrap();
    drop(host);
    assert_eq!(h.host().grants(&app).unwrap().len(), 1);
}

#[test]
fn a_quarantine_is_not_lifted_by_putting_back_an_older_state() {
    let h = Home::new();
    let app = id("com.example.trapper");
    let host = h.host();
    host.install(&package(app.as_str(), "1.0.0", "", &trapper()))
        .unwrap();
    let before = std::fs::read(h.state_file()).unwrap();
    for _ in 0..3 {
        host.launch(&app).unwrap();
        assert!(host.dispatch(&app, b"{}").is_err());
    }
    assert!(host.is_quarantined(&app));
    drop(host);
    let quarantined = std::fs::read(h.state_file()).unwrap();
    // The state from before the quarantine, once authentic, put back: the host does not
    // start, says why and how to recover, and audits it.
    std::fs::write(h.state_file(), &before).unwrap();
    let why = refused_state(h.build());
    assert!(why.contains(STATE_FILE) && why.contains("backup"), "{why}");
    assert_eq!(h.audited("tamper"), [STATE_FILE]);
    // Removed: refused the same way.
    std::fs::remove_file(h.state_file()).unwrap();
    refused_state(h.build());
    // The current one restored: still quarantined.
    std::fs::write(h.state_file(), &quarantined).unwrap();
    let host = h.host();
    assert!(matches!(
        host.launch(&app),
        Err(HostError::Denied(Denied::Quarantined(_)))
    ));
}

/// A copy of every file under `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn an_uninstalled_apps_pin_survives_an_older_home_put_back() {
    let h = Home::new();
    let app = id("com.example.pinned");
    let host = h.host();
    let before_install = std::fs::read(h.state_file()).unwrap();
    host.install(&package(app.as_str(), "2.0.0", "", &quiet()))
        .unwrap();
    drop(host);
    let installed = h.t.path().join("installed");
    copy_tree(&h.path(), &installed);
    let host = h.host();
    assert!(
        host.install(&package(app.as_str(), "1.0.0", "", &quiet()))
            .is_err(),
        "a downgrade below the installed version, after a restart"
    );
    host.uninstall(&app).unwrap();
    drop(host);
    let current = h.t.path().join("current");
    copy_tree(&h.path(), &current);
    let put_back = |from: &Path| {
        std::fs::remove_dir_all(h.path()).unwrap();
        copy_tree(from, &h.path());
    };
    // The state from before the app was ever installed (no pin, no version): refused.
    std::fs::write(h.state_file(), &before_install).unwrap();
    refused_state(h.build());
    // (Each refusal was audited: the log has grown since the copy.)
    let log = std::fs::read(h.path().join("audit.log")).unwrap();
    // The whole home as it was while the app was installed: refused too.
    put_back(&installed);
    assert!(h.build().is_err(), "a whole home put back is refused");
    // The home as it is: the tombstone pins the id to its publisher.
    put_back(&current);
    std::fs::write(h.path().join("audit.log"), &log).unwrap();
    let host = h.host();
    let other = sandframe_host::SecretKey::from_seed(&[7; 32]);
    let foreign = common::package_by(&other, app.as_str(), &quiet());
    let mut trust = sandframe_testkit::trust();
    trust.trust(other.public_key(), "another publisher");
    drop(host);
    let host = common::host_in(h.path())
        .trust(trust)
        .threads(1)
        .build()
        .unwrap();
    assert!(
        host.install(&foreign).is_err(),
        "another publisher's package for the id"
    );
    host.install(&package(app.as_str(), "2.0.1", "", &quiet()))
        .unwrap();
}

/// The bytes one install of an update and one uninstall add to the sealed state of `h`.
fn growth(h: &Home, app: &AppId) -> (u64, u64) {
    let host = h.host();
    let len = || std::fs::metadata(h.state_file()).unwrap().len();
    let start = len();
    host.install(&package(app.as_str(), "1.0.1", "", &quiet()))
        .unwrap();
    let installed = len();
    host.uninstall(app).unwrap();
    (installed - start, len() - installed)
}

#[test]
fn at_10000_installed_apps_a_change_writes_what_it_writes_at_one() {
    let app = id("com.example.measured");
    let one = Home::new();
    one.host()
        .install(&package(app.as_str(), "1.0.0", "", &quiet()))
        .unwrap();
    let many = Home::new();
    many.host()
        .install(&package(app.as_str(), "1.0.0", "", &quiet()))
        .unwrap();
    // 9,999 more install records, as 9,999 installs would leave them, in one commit.
    {
        let state = many.state();
        let record = sandframe_core::HomeState::get(&state, "record", app.as_str()).unwrap();
        let names: Vec<String> = (0..9_999).map(|i| format!("com.example.app{i}")).collect();
        let items: Vec<(&str, &str, Option<&[u8]>)> = names
            .iter()
            .map(|n| ("record", n.as_str(), Some(record.as_slice())))
            .collect();
        state.set_many(&items).unwrap();
    }
    assert_eq!(many.host().list().unwrap().len(), 10_000);
    let (install_1, uninstall_1) = growth(&one, &app);
    let (install_n, uninstall_n) = growth(&many, &app);
    assert_eq!(
        (install_n, uninstall_n),
        (install_1, uninstall_1),
        "one change appends the same frame whatever else the state holds"
    );
    assert!(
        install_1 < 1024 && uninstall_1 < 1024,
        "{install_1} {uninstall_1}"
    );
}
