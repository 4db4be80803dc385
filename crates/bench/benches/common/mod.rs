//! What the benches and the instruction counter start from: a builder over a home at `home`, trusting the test
//! publisher (`sandframe_testkit::trust`). Each test adds the settings it is about.

use std::path::Path;

use sandframe_host::{Host, HostBuilder};

/// `Host::builder()` with `home` and the test publisher's trust store.
pub(crate) fn host_in(home: impl AsRef<Path>) -> HostBuilder {
    Host::builder().home(home).trust(sandframe_testkit::trust())
}
