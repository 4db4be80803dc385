//! sandframe beside Extism 1.30 (wasmtime 43) and raw wasmer, in one run (issue #9,
//! docs/targets.md's table). Built only with `--features extism` (`cargo xtask bench extism`):
//! `cargo test`, clippy and CI never compile a second engine.
//!
//! Equivalent modules: an init / empty event, and an event that calls a no-op host function
//! 1,000 times (`clock.now` through sandframe's whole door; a host function returning 42
//! for Extism and raw wasmer).
//!
//! - **cold launch**: sandframe: a fresh home with the app installed and no cached artifact,
//!   `Host::launch` (metered compile, artifact stored, instantiate on a logic thread,
//!   `sf_init`). Extism: `PluginBuilder::…with_cache_disabled().build()` + the init call.
//! - **warm launch**: sandframe: a fresh `Host` over a home whose artifact is cached on disk
//!   (a restart): `launch`. Extism: `Plugin::new_from_compiled` + the init call.
//! - **event round trip**: sandframe: `Host::dispatch` of an empty event (across to the logic
//!   thread and back). Extism: `plugin.call` of an empty export (same thread).
//! - **mediated call** (per call, from a loop of 1,000 in one event): sandframe `clock.now`;
//!   Extism host function; raw wasmer typed import.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use extism::{CompiledPlugin, Plugin, PluginBuilder, UserData, Val, ValType};
use sandframe_core::AppId;
use sandframe_host::Host;
use sandframe_testkit::{manifest, sign};

const CALLS: u32 = 1000;

/// The sandframe app: `sf_init` and an empty `sf_event`, or one making 1,000 `clock.now` calls
/// when the event's first byte is `c`.
fn sandframe_app() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (local $i i32)
    (drop (call $read (i32.const 64) (i32.const 1)))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 99))
      (then (loop $l
        (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS}))))))
    i32.const 0))"#
    ))
    .unwrap()
}

/// The Extism plugin: the same shape against a host function in `extism:host/user`.
fn extism_module() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "extism:host/user" "now" (func $now (result i64)))
  (memory (export "memory") 1 1)
  (func (export "init") (result i32) i32.const 0)
  (func (export "noop") (result i32) i32.const 0)
  (func (export "calls") (result i32) (local $i i32)
    (loop $l (drop (call $now)) (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS})))) i32.const 0))"#
    ))
    .unwrap()
}

fn builder(wasm: &[u8]) -> PluginBuilder<'_> {
    PluginBuilder::new(extism::Manifest::new([extism::Wasm::data(wasm.to_vec())]))
        .with_wasi(false)
        .with_function(
            "now",
            [],
            [ValType::I64],
            UserData::new(()),
            |_, _, out: &mut [Val], _| {
                out[0] = Val::I64(42);
                Ok(())
            },
        )
}

fn host(home: &std::path::Path) -> Host {
    common::host_in(home)
        .threads(1)
        // A thousand calls an event, repeated for seconds: past the default rate limit, the
        // monitor's call-rate rule and the lifetime fuel the bench would measure refusals or a
        // stopped app, so those three are lifted (every check still runs).
        .configure_gateway(|g| g.default_rate(sandframe_gateway::Rate::unlimited()))
        .rules(sandframe_host::Rules {
            max_calls_per_window: u64::MAX,
            ..sandframe_host::Rules::default()
        })
        .runtime(sandframe_runtime::RuntimeConfig {
            fuel_per_lifetime: u64::MAX,
            ..sandframe_runtime::RuntimeConfig::default()
        })
        .build()
        .unwrap()
}

fn launches(c: &mut Criterion) {
    let app: AppId = "com.example.peer".parse().unwrap();
    let package = sign(&manifest(app.as_str(), ""), sandframe_app());
    let wasm = extism_module();
    let mut g = c.benchmark_group("peer_launch");
    g.sample_size(20);
    g.bench_function(
        "cold: sandframe Host::launch (compile, store, instantiate, sf_init)",
        |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let h = host(&dir.path().join("home"));
                    h.install(&package).unwrap();
                    (dir, h)
                },
                |(dir, h)| {
                    h.launch(&app).unwrap();
                    (dir, h)
                },
                BatchSize::PerIteration,
            )
        },
    );
    g.bench_function("cold: Extism Plugin (cache off) + init call", |b| {
        b.iter(|| {
            let mut p = builder(&wasm).with_cache_disabled().build().unwrap();
            p.call::<&[u8], &[u8]>("init", b"").unwrap();
        })
    });
    // A home whose artifact is cached on disk.
    let warm = tempfile::tempdir().unwrap();
    {
        let h = host(&warm.path().join("home"));
        h.install(&package).unwrap();
        h.launch(&app).unwrap();
    }
    g.bench_function(
        "warm: sandframe Host::launch (fresh host, cached artifact)",
        |b| {
            b.iter_batched(
                || host(&warm.path().join("home")),
                |h| {
                    h.launch(&app).unwrap();
                    h
                },
                BatchSize::PerIteration,
            )
        },
    );
    let compiled: CompiledPlugin = builder(&wasm).compile().unwrap();
    g.bench_function("warm: Extism Plugin::new_from_compiled + init call", |b| {
        b.iter(|| {
            let mut p = Plugin::new_from_compiled(&compiled).unwrap();
            p.call::<&[u8], &[u8]>("init", b"").unwrap();
        })
    });
    g.finish();
}

fn calls(c: &mut Criterion) {
    let app: AppId = "com.example.peer".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let h = host(&dir.path().join("home"));
    h.install(&sign(&manifest(app.as_str(), ""), sandframe_app()))
        .unwrap();
    h.launch(&app).unwrap();
    let wasm = extism_module();
    let mut plugin = builder(&wasm).build().unwrap();

    let mut g = c.benchmark_group("peer_event_round_trip");
    g.bench_function(
        "sandframe Host::dispatch (empty event, across threads)",
        |b| b.iter(|| assert_eq!(h.dispatch(&app, b"{}").unwrap(), 0)),
    );
    g.bench_function("Extism plugin.call (empty export, same thread)", |b| {
        b.iter(|| {
            plugin.call::<&[u8], &[u8]>("noop", b"").unwrap();
        })
    });
    g.finish();

    // Raw wasmer: the same loop against a plain typed import.
    let mut store = wasmer::Store::default();
    let module = wasmer::Module::new(
        &store,
        wat::parse_str(format!(
            r#"(module (import "env" "now" (func $now (result i64))) (memory 1 1)
  (func (export "run") (result i32) (local $i i32)
    (loop $l (drop (call $now)) (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS})))) i32.const 0))"#
        ))
        .unwrap(),
    )
    .unwrap();
    let now = wasmer::Function::new_typed(&mut store, || -> i64 { 42 });
    let instance = wasmer::Instance::new(
        &mut store,
        &module,
        &wasmer::imports! { "env" => { "now" => now } },
    )
    .unwrap();
    let run: wasmer::TypedFunction<(), i32> =
        instance.exports.get_typed_function(&store, "run").unwrap();

    let mut g = c.benchmark_group("peer_host_call_x1000");
    g.bench_function("baseline: raw wasmer typed import", |b| {
        b.iter(|| run.call(&mut store).unwrap())
    });
    g.bench_function(
        "sandframe: mediated clock.now (whole door, one event)",
        |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    assert_eq!(h.dispatch(&app, br#"c"#).unwrap(), 0);
                }
                start.elapsed()
            })
        },
    );
    g.bench_function("Extism: no-op host function", |b| {
        b.iter(|| {
            plugin.call::<&[u8], &[u8]>("calls", b"").unwrap();
        })
    });
    g.measurement_time(Duration::from_secs(5));
    g.finish();
}

criterion_group!(benches, launches, calls);
criterion_main!(benches);
