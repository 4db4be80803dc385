//! Storage through a real host and real wasm: `storage.*` behind the gateway, the manifest's
//! quota, and an uninstall that leaves nothing of the app but its host-level record.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use sandframe_host::AppId;
use sandframe_testkit::{manifest, sign};

/// On each event: storage.set {"key":"count","value":42}, then storage.get of it; returns the
/// get's result (the response length, or a negated error code).
const STORE_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "storage.set")
  (data (i32.const 16) "storage.get")
  (data (i32.const 32) "{\"key\":\"count\",\"value\":42}")
  (data (i32.const 64) "{\"key\":\"count\"}")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $call (i32.const 0) (i32.const 11) (i32.const 32) (i32.const 26)))
    (i32.wrap_i64 (call $call (i32.const 16) (i32.const 11) (i32.const 64) (i32.const 15)))))"#;

#[test]
fn an_app_stores_through_the_gateway_and_uninstall_leaves_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let h = common::host_in(&home).threads(1).build().unwrap();
    let app: AppId = "com.example.store".parse().unwrap();
    // Make the host-level files exist first (the storage master key appears on first use).
    h.storage()
        .set(&"com.example.warmup".parse().unwrap(), "k", b"1")
        .unwrap();
    h.storage()
        .wipe(&"com.example.warmup".parse().unwrap())
        .unwrap();
    let before = sandframe_testkit::tree(&home);

    h.install(&sign(
        &manifest(
            app.as_str(),
            "[[capabilities]]\nname = \"storage:local\"\nreason = \"Count taps\"\n",
        ),
        wat::parse_str(STORE_APP).unwrap(),
    ))
    .unwrap();
    h.launch(&app).unwrap();
    assert_eq!(
        h.dispatch(&app, b"{}").unwrap(),
        r#"{"value":42}"#.len() as i32
    );
    assert_eq!(h.storage().get(&app, "count").unwrap().unwrap(), b"42");
    assert!(home.join("storage/com.example.store/salt").exists());

    h.uninstall(&app).unwrap();
    let after = sandframe_testkit::tree(&home);
    let extra: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    // Nothing: the tombstone with the publisher pin lives in the sealed state (which, like
    // the audit log, existed before and grew).
    assert!(extra.is_empty(), "{after:?}");
    assert!(before.iter().all(|f| after.contains(f)));
    assert_eq!(h.storage().get(&app, "count").unwrap(), None);
}

#[test]
fn storage_without_the_capability_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .threads(1)
        .build()
        .unwrap();
    let app: AppId = "com.example.nostore".parse().unwrap();
    h.install(&sign(
        &manifest(app.as_str(), ""),
        wat::parse_str(STORE_APP).unwrap(),
    ))
    .unwrap();
    h.launch(&app).unwrap();
    assert_eq!(
        h.dispatch(&app, b"{}").unwrap(),
        -sandframe_core::ErrorCode::Denied.number()
    );
    assert_eq!(h.storage().list(&app).unwrap(), Vec::<String>::new());
}

/// On each event: storage.listShares; returns the result (response length or negated code)
/// and leaves the response at 512.
const SHARES_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "storage.listShares")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (i32.wrap_i64 (call $call (i32.const 0) (i32.const 18) (i32.const 0) (i32.const 0)))))"#;

#[test]
fn shares_are_listed_from_both_sides_once_the_capability_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .threads(1)
        .build()
        .unwrap();
    let (owner, reader): (AppId, AppId) = (
        "com.example.giver".parse().unwrap(),
        "com.example.taker".parse().unwrap(),
    );
    let extra = "[[capabilities]]\nname = \"storage:share\"\nreason = \"Share a list\"\n";
    h.install(&sign(
        &manifest(reader.as_str(), extra),
        wat::parse_str(SHARES_APP).unwrap(),
    ))
    .unwrap();
    h.launch(&reader).unwrap();
    // Declared but not granted: storage:share needs consent (or the host).
    assert_eq!(
        h.dispatch(&reader, b"{}").unwrap(),
        -sandframe_core::ErrorCode::Denied.number()
    );
    h.grant(&reader, &"storage:share".parse().unwrap()).unwrap();
    h.storage().set(&owner, "list", b"[1,2]").unwrap();
    h.storage().share(&owner, "list", &reader).unwrap();
    let expected = r#"{"given":[],"received":[{"key":"list","owner":"com.example.giver"}]}"#;
    assert_eq!(h.dispatch(&reader, b"{}").unwrap(), expected.len() as i32);
}
