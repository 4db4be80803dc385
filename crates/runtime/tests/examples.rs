//! The hello example, packed from its source directory, verified and run on the real engine.
//! Its only API is `ui.setData`, whose render layer has not landed: the gateway answers
//! `unavailable` (never a fake success), so `sf_init` and each tap report an app error (1).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_core::Gateway;
use sandframe_gateway::MinimalGateway;
use sandframe_package::source;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};
use sandframe_validate::Validator;

#[test]
fn hello_runs_and_meets_an_honest_unavailable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let bytes = source::read_dir(&dir)
        .unwrap()
        .sign(&sandframe_testkit::key())
        .unwrap();
    let pkg = sandframe_testkit::verify(&Validator::new(), &bytes).unwrap();
    let rt = Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let prepared = rt.prepare(&pkg).unwrap();
    let session = MinimalGateway
        .open(prepared.context(), sandframe_core::EventSender::none())
        .unwrap();
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
