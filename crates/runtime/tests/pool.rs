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

    // The spinner is stopped by its budget (fuel or CPU deadline); the others go on.
    std::thread::scope(|s| {
        let spinning = s.spawn(|| pool.dispatch(spin, b"{}".to_vec()));
        assert_eq!(pool.dispatch(a, b"{}".to_vec()).unwrap(), 3);
        match spinning.join().unwrap() {
            Err(RuntimeError::Trapped { kind, .. }) => assert!(
                matches!(kind, TrapKind::FuelExhausted | TrapKind::DeadlineExceeded),
                "{kind:?}"
            ),
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

/// One logic thread, busy with a spinner's event while five more spinner events and one
/// event of a cheap app queue up behind it: the cheap app's event runs next, not last.
#[test]
fn a_cheap_apps_event_overtakes_expensive_ones_queued_on_its_thread() {
    let rt = Arc::new(Runtime::new(
        RuntimeConfig {
            // Each spinner event runs for a quarter of a second or so: time to queue the others
            // even on a loaded machine.
            fuel_per_event: 1_000_000_000,
            ..RuntimeConfig::default()
        },
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    ));
    let pool = LogicPool::new(Arc::clone(&rt), 1).unwrap();
    let prepare = |id: &str, event: &str| rt.prepare(&verified(id, &module(event))).unwrap();
    let cheap = prepare(
        "com.example.cheap",
        "(global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)",
    );
    let (cheap, _) = pool
        .launch(cheap.clone(), |e| MinimalGateway.open(cheap.context(), e))
        .unwrap();
    // A history of cheap events.
    for i in 1..=40 {
        assert_eq!(pool.dispatch(cheap, b"{}".to_vec()).unwrap(), i);
    }
    // Spinner 0 calls the host once as it starts (so the test knows it is running), then spins.
    let (signal, running) = sandframe_testkit::SignalSession::new();
    let mut signal = Some(signal);
    let spinners: Vec<_> = (0..6)
        .map(|i| {
            let p = prepare(
                &format!("com.example.spin{i}"),
                "(drop (call $call (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))) \
                 (loop $l (br $l)) i32.const 0",
            );
            match signal.take() {
                Some(session) => pool.launch(p.clone(), |_| Ok(Box::new(session))),
                None => pool.launch(p.clone(), |e| MinimalGateway.open(p.context(), e)),
            }
            .unwrap()
            .0
        })
        .collect();
    let order = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let (pool, order) = (&pool, &order);
        let first = spinners[0];
        s.spawn(move || {
            let r = pool.dispatch(first, b"{}".to_vec());
            order.lock().unwrap().push("spinner 0");
            r
        });
        // Spinner 0 is running: everything sent from here on queues behind it.
        running.recv().unwrap();
        for (i, &spinner) in spinners.iter().enumerate().skip(1) {
            s.spawn(move || {
                let _ = pool.dispatch(spinner, b"{}".to_vec());
                order
                    .lock()
                    .unwrap()
                    .push(["", "s1", "s2", "s3", "s4", "s5"][i]);
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.spawn(move || {
            assert_eq!(pool.dispatch(cheap, b"{}".to_vec()).unwrap(), 41);
            order.lock().unwrap().push("cheap");
        });
    });
    let order = order.into_inner().unwrap();
    assert_eq!(order.len(), 7);
    // Spinner 0 ran first and the cheap event right after it, before every queued spinner.
    // (The two threads that record those first two race to the lock once their answers are
    // in, so their order in the list says nothing.)
    let mut first_two = order[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(first_two, ["cheap", "spinner 0"], "{order:?}");
}
