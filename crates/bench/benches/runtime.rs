//! Runtime figures beside raw wasmer, in the same run:
//! - a mediated `clock.now` (guest → ABI `call` → bounds checks → `MinimalGateway` → pending
//!   response) beside a raw wasmer typed import call that returns a constant;
//! - how long a runaway loop runs before its default fuel budget stops it.
//!
//! Each guest makes 1,000 calls per event, so per-call figures are the event time / 1,000.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sandframe_core::Gateway;
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};
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
    let rt = Runtime::new(
        RuntimeConfig::default(),
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
        .launch(&prepared, MinimalGateway.open(prepared.context()).unwrap())
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
    g.finish();
}

fn runaway(c: &mut Criterion) {
    let rt = Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let pkg = verified(&abi_module("(loop $l (br $l)) i32.const 0"));
    let prepared = rt.prepare(&pkg).unwrap();
    let mut g = c.benchmark_group("runaway_loop");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("stopped by the default event fuel (30M)", |b| {
        b.iter_batched(
            || {
                rt.launch(&prepared, MinimalGateway.open(prepared.context()).unwrap())
                    .unwrap()
                    .0
            },
            |mut app| assert!(app.event(b"{}").is_err()),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, calls, runaway);
criterion_main!(benches);
