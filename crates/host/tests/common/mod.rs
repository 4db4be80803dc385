//! What the host's tests start from: a builder over a home at `home`, trusting the test
//! publisher (`sandframe_testkit::trust`). Each test adds the settings it is about.

#![allow(clippy::unwrap_used)] // a test helper: failing loudly is the point
use std::path::Path;

use sandframe_host::{Host, HostBuilder};

/// `Host::builder()` with `home` and the test publisher's trust store.
#[allow(dead_code)] // not every test file builds its host from here
pub(crate) fn host_in(home: impl AsRef<Path>) -> HostBuilder {
    Host::builder().home(home).trust(sandframe_testkit::trust())
}

/// The subjects of `host`'s audit records with `action`, oldest first.
#[allow(dead_code)] // not every test file that starts from this module audits
pub(crate) fn audited(host: &Host, action: &str) -> Vec<String> {
    host.audit_records(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.subject)
        .collect()
}

/// The sealed state of the home at `<dir>/home` (its anchor beside it), opened as a host in
/// another process would, the key derived from the anchor's root secret (docs/format.md).
#[allow(dead_code)] // not every test file opens the state itself
pub(crate) fn sealed_state(dir: &Path) -> sandframe_gateway::SealedState {
    use sandframe_gateway::Anchor as _;
    let anchor = std::sync::Arc::new(
        sandframe_gateway::FileAnchor::open(&dir.join("home.audit-anchor")).unwrap(),
    );
    let key = *anchor
        .home_secret()
        .unwrap()
        .derive("sandframe 2026-12 home state MAC key");
    let home =
        cap_std::fs::Dir::open_ambient_dir(dir.join("home"), cap_std::ambient_authority()).unwrap();
    let lock = sandframe_durable::HomeLock::open(&home, "home").unwrap();
    sandframe_gateway::SealedState::open(&home, anchor, key, lock).unwrap()
}

/// A package of the testkit's manifest for `app` with the module `wat`, signed by `key`.
#[allow(dead_code)] // not every test file signs with another key
pub(crate) fn package_by(key: &sandframe_host::SecretKey, app: &str, wat: &str) -> Vec<u8> {
    let mut c =
        sandframe_package::PackageContents::new(sandframe_testkit::manifest(app, "").into_bytes());
    c.add_file("logic.wasm", wat::parse_str(wat).unwrap())
        .unwrap();
    c.add_file("views/index.xml", b"<view/>".to_vec()).unwrap();
    c.sign(key).unwrap()
}
