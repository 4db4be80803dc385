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
