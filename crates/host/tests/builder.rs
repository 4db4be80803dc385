//! The builder checks its settings once, in `build`: a setting that would be ignored, or that
//! contradicts another, is refused with an error naming both; what weakens the sandbox is
//! reached only through `dangerous`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use std::sync::Arc;

use sandframe_host::danger::MinimalGateway;
use sandframe_host::{
    Caps, Host, HostBuilder, HostError, Misuse, Policy, Rules, SandframeMonitor, TracingAlerts,
    ValidateError, Validator,
};

fn builder(dir: &tempfile::TempDir) -> HostBuilder {
    Host::builder().home(dir.path().join("home")).threads(1)
}

/// The builder's refusal, which must name every one of `names`.
fn refused(b: HostBuilder, names: &[&str]) -> String {
    match b.build() {
        Err(HostError::Misuse(Misuse::Builder(why))) => {
            for name in names {
                assert!(why.contains(name), "{why:?} does not name {name}");
            }
            why
        }
        other => panic!("expected a builder refusal, got {other:?}"),
    }
}

#[test]
fn a_setting_a_swapped_in_layer_would_ignore_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let minimal = || builder(&dir).dangerous(|d| d.gateway(Arc::new(MinimalGateway)));
    refused(
        minimal().policy(Policy::default()),
        &["`policy`", "gateway"],
    );
    refused(
        minimal().configure_gateway(|g| g),
        &["`configure_gateway`", "gateway"],
    );
    // In either order: the check is in `build`, not in the setter.
    refused(
        builder(&dir)
            .policy(Policy::default())
            .dangerous(|d| d.gateway(Arc::new(MinimalGateway))),
        &["`policy`"],
    );
    let monitor = || Arc::new(SandframeMonitor::builder().build().unwrap());
    refused(
        builder(&dir).monitor(monitor()).rules(Rules::default()),
        &["`rules`", "`monitor`"],
    );
    refused(
        builder(&dir)
            .alerts(Arc::new(TracingAlerts))
            .monitor(monitor()),
        &["`alerts`", "`monitor`"],
    );
    refused(
        builder(&dir)
            .caps(Caps {
                memory_pages: 1,
                ..Caps::default()
            })
            .dangerous(|d| d.validator(Validator::new())),
        &["`caps`", "validator"],
    );
    // Each one alone builds: a dangerous gateway is the host's own business, and then the
    // host's grant operations say they cannot answer.
    let h = minimal().build().unwrap();
    let app = "com.example.any".parse().unwrap();
    assert!(matches!(
        h.grants(&app),
        Err(HostError::Misuse(Misuse::CustomGateway))
    ));
    drop(h);
    builder(&dir).monitor(monitor()).build().unwrap();
}

#[test]
fn caps_may_be_lowered_and_never_raised_without_dangerous() {
    let dir = tempfile::tempdir().unwrap();
    let lower = Caps {
        functions: 10,
        ..Caps::default()
    };
    builder(&dir).caps(lower).build().unwrap();
    let higher = Caps {
        memory_pages: Caps::default().memory_pages + 1,
        ..Caps::default()
    };
    refused(builder(&dir).caps(higher.clone()), &["above its default"]);
    // Raising takes a validator of one's own, behind `dangerous`.
    builder(&dir)
        .dangerous(|d| d.validator(Validator::new().with_caps(higher)))
        .build()
        .unwrap();
}

#[test]
fn a_missing_home_or_definitions_without_a_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    refused(Host::builder().threads(1), &["home"]);
    // `threads(0)` is one thread, as it always was (an embedder's `cpus - 1` on one core).
    builder(&dir).threads(0).build().unwrap();
    // Definitions without a key to check them: refused, and nothing is built.
    assert!(matches!(
        builder(&dir).definitions(b"anything".to_vec()).build(),
        Err(HostError::Misuse(Misuse::Validation(
            ValidateError::NoDefinitionsKey
        )))
    ));
}

/// A home-writer's key files, a dangling `host.key` symlink among them (which once sent the
/// host into a read-and-create loop until its stack overflowed), are never read: the keys
/// live outside the home.
#[test]
fn a_planted_host_key_is_never_read_not_even_a_dangling_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Planted in a new home (even before its first host): never read, left as evidence,
    // audited as tampering at every start. A new home has no old keys to move.
    std::os::unix::fs::symlink("nowhere", home.join("host.key")).unwrap();
    std::fs::write(home.join("storage.key"), [7u8; 32]).unwrap();
    drop(builder(&dir).build().unwrap());
    let h = builder(&dir).build().unwrap();
    let tampered = common::audited(&h, "tamper");
    assert_eq!(
        tampered,
        ["host.key", "storage.key", "host.key", "storage.key"],
        "once per start"
    );
    assert!(home.join("host.key").symlink_metadata().is_ok());
}
