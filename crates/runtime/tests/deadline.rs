//! The event deadline through the real engine: a guest with fuel to spare is stopped once its
//! event has used `RuntimeConfig::event_deadline` of CPU time, and a terminate stops a guest
//! that computes without host calls. Each test gives the guest fuel for minutes, so only the
//! watchdog can end the event; none asserts a wall time (the stop times are in
//! `cargo xtask bench runaway`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;
use std::time::Duration;

use sandframe_core::{ApiError, Gateway, GatewaySession, TrapKind};
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{AppInstance, MemoryArtifacts, Runtime, RuntimeConfig, RuntimeError};
use sandframe_testkit::runaway;
use sandframe_testkit::{CLOCK_APP, verified};

/// Fuel for about eight minutes of a plain loop: fuel never ends these events.
const FUEL: u64 = 1_000_000_000_000;

fn runtime(event_deadline: Duration) -> Runtime {
    Runtime::new(
        RuntimeConfig {
            fuel_per_event: FUEL,
            fuel_per_lifetime: FUEL,
            event_deadline,
            ..RuntimeConfig::default()
        },
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    )
}

fn launch_session(
    rt: &Runtime,
    id: &str,
    wat: &str,
    session: Option<Box<dyn GatewaySession>>,
) -> AppInstance {
    let prepared = rt.prepare(&verified(id, wat)).unwrap();
    let session = session.unwrap_or_else(|| {
        MinimalGateway
            .open(prepared.context(), sandframe_core::EventSender::none())
            .unwrap()
    });
    let (app, code) = rt.launch(&prepared, session).unwrap();
    assert_eq!(code, 0, "sf_init failed");
    app
}

fn launch(rt: &Runtime, id: &str, wat: &str) -> AppInstance {
    launch_session(rt, id, wat, None)
}

fn trapped(r: Result<i32, RuntimeError>) -> TrapKind {
    match r {
        Err(RuntimeError::Trapped { kind, .. }) => kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn every_runaway_with_fuel_to_spare_is_stopped_by_its_deadline_while_a_neighbour_is_served() {
    let rt = runtime(Duration::from_millis(20));
    let mut neighbour = launch(&rt, "com.example.neighbour", CLOCK_APP);
    for case in runaway::runaways() {
        let mut app = launch(&rt, &case.id(), &case.wat);
        let r = app.event(b"{}");
        assert_eq!(trapped(r), TrapKind::DeadlineExceeded, "{}", case.name);
        // The event's budget here is all the instance had left.
        assert_eq!(
            app.fuel_left(),
            0,
            "{}: a late event is charged its whole budget",
            case.name
        );
        assert!(
            matches!(
                app.event(b"{}"),
                Err(RuntimeError::Stopped(TrapKind::DeadlineExceeded))
            ),
            "{}: stays stopped",
            case.name
        );
        assert_eq!(
            neighbour.event(b"{}").unwrap(),
            i32::from(b'{'),
            "{}: the neighbour was not served, or was stopped by its neighbour's deadline",
            case.name
        );
    }
}

#[test]
fn the_deadline_is_per_event_and_a_short_event_is_never_stopped() {
    let rt = runtime(Duration::from_millis(20));
    let mut app = launch(&rt, "com.example.clock", CLOCK_APP);
    // Two thousand short events take far more than 20 ms together; each is within its own.
    for _ in 0..2_000 {
        assert_eq!(app.event(b"{}").unwrap(), i32::from(b'{'));
    }
}

/// A session whose every call blocks without using CPU time.
struct Sleepy;

impl GatewaySession for Sleepy {
    fn call(&mut self, _api: &[u8], _req: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        std::thread::sleep(Duration::from_millis(25));
        response.clear();
        response.extend_from_slice(b"{}");
        Ok(())
    }
}

#[test]
fn the_deadline_counts_cpu_time_not_time_spent_waiting_in_the_host() {
    // Four host calls of 25 ms each: 100 ms of wall time against a 20 ms deadline.
    let wat = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    i32.const 0))"#;
    let rt = runtime(Duration::from_millis(20));
    let mut app = launch_session(&rt, "com.example.sleepy", wat, Some(Box::new(Sleepy)));
    assert_eq!(app.event(b"{}").unwrap(), 0);
    assert_eq!(app.stopped(), None);
}

#[test]
fn a_terminate_stops_an_app_computing_without_host_calls() {
    // A deadline of an hour: only the terminate can end this loop.
    let rt = runtime(Duration::from_secs(3600));
    let loop_ = &runaway::runaways()[0];
    assert_eq!(loop_.name, "loop");
    let mut app = launch(&rt, &loop_.id(), &loop_.wat);
    let terminator = app.terminator();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        terminator.terminate();
    });
    assert_eq!(trapped(app.event(b"{}")), TrapKind::Terminated);
    stopper.join().unwrap();
    assert!(matches!(
        app.event(b"{}"),
        Err(RuntimeError::Stopped(TrapKind::Terminated))
    ));
}
