//! The hello example, packed from its source directory, verified and run on the real engine.
//! Its only API is `ui.setData`, whose render layer has not landed: the gateway answers
//! `unavailable` (never a fake success), so `sf_init` and each tap report an app error (1).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::collections::BTreeMap;
use std::sync::Arc;

use sandframe_core::Gateway;
use sandframe_gateway::MinimalGateway;
use sandframe_package::{SecretKey, TrustStore, source};
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};
use sandframe_validate::{Context, Installed, Validator};

#[test]
fn hello_runs_and_meets_an_honest_unavailable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let key = SecretKey::from_seed(&[1; 32]);
    let bytes = source::read_dir(&dir).unwrap().sign(&key).unwrap();
    let mut trust = TrustStore::new();
    trust.trust(key.public_key(), "t");
    let none: BTreeMap<_, Installed> = BTreeMap::new();
    let pkg = Validator::new()
        .verify(&bytes, &Context::new(&trust, &none))
        .unwrap();
    let rt = Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let prepared = rt.prepare(&pkg).unwrap();
    let session = MinimalGateway.open(prepared.context()).unwrap();
    let (mut app, init) = rt.launch(&prepared, session).unwrap();
    assert_eq!(
        init, 1,
        "ui.setData is unavailable until the render layer lands"
    );
    for _ in 0..3 {
        assert_eq!(app.event(br#"{"handler":"onTap","detail":{}}"#).unwrap(), 1);
    }
    assert!(app.stopped().is_none());
}
