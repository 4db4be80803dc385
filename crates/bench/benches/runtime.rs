//! Runtime figures beside raw wasmer, in the same run:
//! - a mediated `clock.now` (guest → ABI `call` → bounds checks and fuel → gateway → pending
//!   response), through `MinimalGateway` and through the full `SandframeGateway` (capability,
//!   policy, rate limit, audit log), beside a raw wasmer typed import that returns a constant;
//! - terminate latency: from `LogicPool::terminate` to the store gone, for an app calling the
//!   host in a loop (stopped at its next call) and for one spinning without host calls
//!   (stopped by the deadline watchdog, which checks armed calls for a terminate every
//!   millisecond and zeroes the fuel of a terminated one).
//!
//! How long runaways run before they are stopped is the `runaway` bench.
//!
//! Each guest makes 1,000 calls per event, so per-call figures are the event time / 1,000.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sandframe_core::{EventSender, Gateway, Monitor, Watch};
use sandframe_gateway::{AuditLog, MemoryAnchor, MinimalGateway, Rate, SandframeGateway};
use sandframe_monitor::SandframeMonitor;
use sandframe_runtime::{LogicPool, MemoryArtifacts, Runtime, RuntimeConfig};
use wasmer::{Function, Instance, Module, Store, TypedFunction, imports};

const CALLS: u32 = 1_000;

fn verified(wat: &str) -> sandframe_validate::VerifiedPackage {
    sandframe_testkit::verified("com.example.bench", wat)
}

fn abi_module(event: &str) -> String {
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (local $i i32) {event}))"#
    )
}

fn calls(c: &mut Criterion) {
    // Hundreds of thousands of events on one instance: lift the lifetime budget.
    let rt = Runtime::new(
        RuntimeConfig {
            fuel_per_lifetime: u64::MAX,
            ..RuntimeConfig::default()
        },
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let mediated = abi_module(&format!(
        "(loop $l (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS})))) i32.const 0"
    ));
    let pkg = verified(&mediated);
    let prepared = rt.prepare(&pkg).unwrap();
    let (mut app, _) = rt
        .launch(
            &prepared,
            MinimalGateway
                .open(prepared.context(), sandframe_core::EventSender::none())
                .unwrap(),
        )
        .unwrap();

    // Raw: the same loop against a plain typed import on a plain engine.
    let raw_wat = format!(
        r#"(module (import "env" "now" (func $now (result i64))) (memory 1 1)
  (func (export "run") (result i32) (local $i i32)
    (loop $l (drop (call $now)) (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS})))) i32.const 0))"#
    );
    let mut store = Store::default();
    let module = Module::new(&store, wat::parse_str(&raw_wat).unwrap()).unwrap();
    let now = Function::new_typed(&mut store, || -> i64 { 42 });
    let instance =
        Instance::new(&mut store, &module, &imports! { "env" => { "now" => now } }).unwrap();
    let run: TypedFunction<(), i32> = instance.exports.get_typed_function(&store, "run").unwrap();

    let mut g = c.benchmark_group("host_call_x1000");
    g.bench_function("baseline: raw wasmer typed import", |b| {
        b.iter(|| run.call(&mut store).unwrap())
    });
    g.bench_function(
        "sandframe: mediated clock.now (ABI + MinimalGateway)",
        |b| b.iter(|| assert_eq!(app.event(b"{}").unwrap(), 0)),
    );
    // The full door: capability, policy, rate limit (a real governor check; the quota is set
    // high so every call is allowed), the call, and a record appended to a real AuditLog;
    // then the same with a SandframeMonitor watching every call (its rules at their defaults:
    // none fires at this rate within one event). The log grows about 8 bytes a call, so every
    // 100 events get a fresh log (made outside the timed part).
    for (name, watched) in [
        (
            "sandframe: mediated clock.now (SandframeGateway: capability, policy, rate, audit log)",
            false,
        ),
        (
            "sandframe: mediated clock.now (SandframeGateway + SandframeMonitor)",
            true,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(100);
                    left -= n;
                    let dir = tempfile::tempdir().unwrap();
                    let home = cap_std::fs::Dir::open_ambient_dir(
                        dir.path(),
                        cap_std::ambient_authority(),
                    )
                    .unwrap();
                    let log = Arc::new(
                        AuditLog::open(&home, Arc::new(MemoryAnchor::new([1; 32]))).unwrap(),
                    );
                    let gw = SandframeGateway::builder()
                        .audit(log)
                        .default_rate(Rate::unlimited())
                        .build()
                        .unwrap();
                    let mut prepared = rt.prepare(&pkg).unwrap();
                    if watched {
                        let monitor = SandframeMonitor::builder().build().unwrap();
                        prepared.set_monitor(Watch::new(
                            monitor.watch(&prepared.context().app).unwrap(),
                        ));
                    }
                    let (mut full, _) = rt
                        .launch(
                            &prepared,
                            gw.open(prepared.context(), EventSender::none()).unwrap(),
                        )
                        .unwrap();
                    let start = Instant::now();
                    for _ in 0..n {
                        assert_eq!(full.event(b"{}").unwrap(), 0);
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn terminate(c: &mut Criterion) {
    let rt = Arc::new(Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    ));
    let pool = LogicPool::new(Arc::clone(&rt), 1).unwrap();
    let call = "(drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))";
    // The caller loops on host calls; the spinner makes one call (to signal) then spins.
    let caller = rt
        .prepare(&verified(&abi_module(&format!(
            "(loop $l {call} (br $l)) i32.const 0"
        ))))
        .unwrap();
    let spinner = rt
        .prepare(&sandframe_testkit::verified(
            "com.example.spin",
            &abi_module(&format!("{call} (loop $l (br $l)) i32.const 0")),
        ))
        .unwrap();
    let mut g = c.benchmark_group("terminate");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for (name, prepared) in [
        ("app calling the host: stopped at its next call", &caller),
        ("app spinning: stopped by the deadline watchdog", &spinner),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (signal, rx) = sandframe_testkit::SignalSession::new();
                    let (app, _) = pool
                        .launch(prepared.clone(), |_| Ok(Box::new(signal)))
                        .unwrap();
                    std::thread::scope(|s| {
                        let running = s.spawn(|| pool.dispatch(app, b"{}".to_vec()));
                        rx.recv().unwrap();
                        let start = Instant::now();
                        assert!(pool.terminate(app).unwrap());
                        total += start.elapsed();
                        assert!(running.join().unwrap().is_err());
                    });
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, calls, terminate);
criterion_main!(benches);
