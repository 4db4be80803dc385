//! Logic threads: apps live on their threads and are reached by messages; a spinning app on
//! one thread does not stop another thread's apps; terminate frees the app.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_core::{Gateway, TrapKind};
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{LogicPool, MemoryArtifacts, Runtime, RuntimeConfig, RuntimeError};
use sandframe_testkit::verified;

fn module(event: &str) -> String {
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) {event}))"#
    )
}

#[test]
fn apps_on_two_threads_are_served_and_terminated() {
    let rt = Arc::new(Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    ));
    let pool = LogicPool::new(Arc::clone(&rt), 2).unwrap();
    assert_eq!(pool.threads(), 2);
    let counter = rt
        .prepare(&verified(
            "com.example.counter",
            &module("(global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)"),
        ))
        .unwrap();
    let spinner = rt
        .prepare(&verified(
            "com.example.spinner",
            &module("(loop $l (br $l)) i32.const 0"),
        ))
        .unwrap();

    // Round robin: the spinner lands on thread 0, two counters on threads 1 and 0.
    let (spin, _) = pool
        .launch(spinner.clone(), |e| {
            MinimalGateway.open(spinner.context(), e)
        })
        .unwrap();
    let (a, _) = pool
        .launch(counter.clone(), |e| {
            MinimalGateway.open(counter.context(), e)
        })
        .unwrap();
    let (b, _) = pool
        .launch(counter.clone(), |e| {
            MinimalGateway.open(counter.context(), e)
        })
        .unwrap();

    // Each counter keeps its own state: instances share no memory.
    assert_eq!(pool.dispatch(a, b"{}".to_vec()).unwrap(), 1);
    assert_eq!(pool.dispatch(a, b"{}".to_vec()).unwrap(), 2);
    assert_eq!(pool.dispatch(b, b"{}".to_vec()).unwrap(), 1);

    // The spinner is stopped by its fuel; the others go on.
    std::thread::scope(|s| {
        let spinning = s.spawn(|| pool.dispatch(spin, b"{}".to_vec()));
        assert_eq!(pool.dispatch(a, b"{}".to_vec()).unwrap(), 3);
        match spinning.join().unwrap() {
            Err(RuntimeError::Trapped { kind, .. }) => assert_eq!(kind, TrapKind::FuelExhausted),
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(pool.dispatch(b, b"{}".to_vec()).unwrap(), 2);

    // Terminate: the app is gone, its neighbours are not.
    assert!(pool.terminate(a).unwrap());
    assert!(!pool.terminate(a).unwrap());
    assert!(matches!(
        pool.dispatch(a, b"{}".to_vec()),
        Err(RuntimeError::NotRunning)
    ));
    assert_eq!(pool.dispatch(b, b"{}".to_vec()).unwrap(), 3);
}

#[test]
fn terminate_stops_an_app_mid_event_at_its_next_host_call() {
    // A budget so large the loop would run for minutes: only the terminate verdict ends it.
    let rt = Arc::new(Runtime::new(
        RuntimeConfig {
            fuel_per_event: u64::MAX / 2,
            ..RuntimeConfig::default()
        },
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    ));
    let pool = LogicPool::new(Arc::clone(&rt), 1).unwrap();
    let caller = rt
        .prepare(&verified(
            "com.example.caller",
            &module(
                "(loop $l (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0))) (br $l)) i32.const 0",
            ),
        ))
        .unwrap();
    let (signal, rx) = sandframe_testkit::SignalSession::new();
    let (app, _) = pool.launch(caller, |_| Ok(Box::new(signal))).unwrap();
    std::thread::scope(|s| {
        let running = s.spawn(|| pool.dispatch(app, b"{}".to_vec()));
        rx.recv().unwrap(); // the guest is inside its event, calling
        assert!(pool.terminate(app).unwrap());
        match running.join().unwrap() {
            Err(RuntimeError::Trapped { kind, .. }) => assert_eq!(kind, TrapKind::Terminated),
            other => panic!("{other:?}"),
        }
    });
    assert!(matches!(
        pool.dispatch(app, b"{}".to_vec()),
        Err(RuntimeError::NotRunning)
    ));
}
