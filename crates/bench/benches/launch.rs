//! Warm and cold launch through a real host, beside raw wasmer in the same run
//! (docs/targets.md's performance table):
//!
//! - **warm**: a fresh `Host` over a home where the app is installed and its artifact cached
//!   (as after a restart): `launch` reads the package and receipt, re-mints the
//!   `VerifiedPackage` (`Validator::reinstate`), reads and authenticates the artifact,
//!   deserializes it, instantiates on a logic thread and runs `sf_init`. Baseline: wasmer
//!   `Module::deserialize` of bytes in memory + `Instance::new` + the same `sf_init`.
//! - **cold**: the same with the artifact cache empty: metered compile, artifact stored
//!   durably, then the warm path. Baseline: unmetered `Module::new` + `Instance::new` +
//!   `sf_init`.
//!
//! Each iteration gets a fresh host (or, for the baselines, a fresh engine) made outside the
//! timed section: wasmer frees compiled code only with its engine, so reusing one engine
//! would measure a process that keeps every module it ever loaded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sandframe_bench::{Shape, Style, abi_module};
use sandframe_core::AppId;
use sandframe_host::Host;
use wasmer::sys::NativeEngineExt;
use wasmer::{Engine, Function, Instance, Module, Store, TypedFunction, imports};

struct Case {
    name: &'static str,
    wasm: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let hello = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello/logic.wat"
    ))
    .unwrap();
    vec![
        Case {
            name: "hello (1 KiB)",
            wasm: wat::parse_str(hello).unwrap(),
        },
        Case {
            name: "generated (256 KiB of code)",
            wasm: abi_module(Shape {
                functions: 256,
                body_bytes: 1024,
                style: Style::Chain,
                ..Shape::default()
            }),
        },
    ]
}

/// A host over `<dir>/home` (the testkit's trust store, one logic thread; the audit anchor
/// beside the home, inside `dir`).
fn host(dir: &std::path::Path) -> Host {
    common::host_in(dir.join("home"))
        .threads(1)
        .build()
        .unwrap()
}

/// Raw wasmer: instantiate `module` with constant imports and run `sf_init`.
fn raw_instantiate(engine: &Engine, module: &Module) -> (Store, Instance) {
    let mut store = Store::new(engine.clone());
    let call = Function::new_typed(&mut store, |_: i32, _: i32, _: i32, _: i32| -> i64 { 0 });
    let read = Function::new_typed(&mut store, |_: i32, _: i32| -> i32 { 0 });
    let imports = imports! { "sandframe_v1" => { "call" => call, "read" => read } };
    let instance = Instance::new(&mut store, module, &imports).unwrap();
    let init: TypedFunction<(), i32> = instance
        .exports
        .get_typed_function(&store, "sf_init")
        .unwrap();
    init.call(&mut store).unwrap();
    (store, instance)
}

fn launch(c: &mut Criterion) {
    for case in cases() {
        let home = tempfile::tempdir().unwrap();
        let id: AppId = "com.example.launch".parse().unwrap();
        {
            let h = host(home.path());
            let manifest = sandframe_testkit::manifest(id.as_str(), "");
            h.install(&sandframe_testkit::sign(&manifest, case.wasm.clone()))
                .unwrap();
            h.launch(&id).unwrap(); // compiles and caches the artifact
        }
        let artifacts = home.path().join("home/artifacts");
        let serialized = {
            let engine = Engine::default();
            Module::new(&engine, &case.wasm)
                .unwrap()
                .serialize()
                .unwrap()
        };

        let mut g = c.benchmark_group(format!("launch/{}", case.name));
        g.sample_size(20).measurement_time(Duration::from_secs(8));
        g.bench_function(
            "warm baseline: wasmer deserialize + instantiate + sf_init",
            |b| {
                b.iter_batched(
                    Engine::headless,
                    |engine| {
                        // SAFETY: bytes this process serialized just above with the same wasmer.
                        #[allow(unsafe_code)]
                        let module =
                            unsafe { Module::deserialize(&engine, serialized.clone()) }.unwrap();
                        (raw_instantiate(&engine, &module), engine)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        g.bench_function(
            "warm sandframe: host.launch (receipt, cached artifact)",
            |b| {
                b.iter_batched(
                    || host(home.path()),
                    |h| {
                        h.launch(&id).unwrap();
                        h
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        g.bench_function(
            "cold baseline: wasmer Module::new + instantiate + sf_init",
            |b| {
                b.iter_batched(
                    Engine::default,
                    |engine| {
                        let module = Module::new(&engine, &case.wasm).unwrap();
                        (raw_instantiate(&engine, &module), engine)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        g.bench_function(
            "cold sandframe: host.launch (metered compile, stored)",
            |b| {
                b.iter_batched(
                    || {
                        for entry in std::fs::read_dir(&artifacts).unwrap() {
                            std::fs::remove_file(entry.unwrap().path()).unwrap();
                        }
                        host(home.path())
                    },
                    |h| {
                        h.launch(&id).unwrap();
                        h
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        g.finish();
    }
}

criterion_group!(benches, launch);
criterion_main!(benches);
