//! What the benches and the instruction counter start from: a builder over a home at `home`, trusting the test
//! publisher (`sandframe_testkit::trust`). Each test adds the settings it is about.

use std::path::Path;

use sandframe_host::{Host, HostBuilder};

/// `Host::builder()` with `home` and the test publisher's trust store.
pub(crate) fn host_in(home: impl AsRef<Path>) -> HostBuilder {
    Host::builder().home(home).trust(sandframe_testkit::trust())
}

/// Adds `apps - 1` install records beside `id`'s in the sealed state of the home at
/// `<dir>/home` (anchor beside it), committed as that many installs would leave them: a
/// home with `apps` apps installed, for the figures at scale.
#[allow(dead_code)] // not every bench measures at scale
pub(crate) fn seed_records(dir: &Path, id: &sandframe_host::AppId, apps: usize) {
    use sandframe_gateway::Anchor as _;
    if apps < 2 {
        return;
    }
    let anchor = std::sync::Arc::new(
        sandframe_gateway::FileAnchor::open(&dir.join("home.audit-anchor")).unwrap(),
    );
    let key = *anchor
        .home_secret()
        .unwrap()
        .derive("sandframe 2026-12 home state MAC key");
    let root =
        cap_std::fs::Dir::open_ambient_dir(dir.join("home"), cap_std::ambient_authority()).unwrap();
    let lock = sandframe_durable::HomeLock::open(&root, "home").unwrap();
    let state = sandframe_gateway::SealedState::open(&root, anchor, key, lock).unwrap();
    let record = sandframe_core::HomeState::get(&state, "record", id.as_str()).unwrap();
    let names: Vec<String> = (1..apps).map(|i| format!("com.example.app{i}")).collect();
    let items: Vec<(&str, &str, Option<&[u8]>)> = names
        .iter()
        .map(|n| ("record", n.as_str(), Some(record.as_slice())))
        .collect();
    state.set_many(&items).unwrap();
}
