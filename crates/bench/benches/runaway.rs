//! Runaways stopped (docs/targets.md: "runaway loop stopped after its fuel budget ≤ 10 ms"): for
//! every case of `sandframe_testkit::runaway` (each bulk operation in a tight loop at its
//! maximum length, a grow loop, random and dependent loads over the full memory, a
//! `call_indirect` loop over a full table, a division chain) and a `storage.set` loop through a
//! real host, the time from the event's start until its default event fuel (18M points) stops
//! it, beside the plain `loop br` in the same run.
//!
//! Each iteration launches a fresh instance outside the timed part (a trapped instance never
//! runs again, and a grow loop needs a small memory to start from) and frees it outside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sandframe_core::{AppId, Gateway};
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};
use sandframe_testkit::runaway::{STORAGE_CAPABILITY, STORAGE_FLOOD, runaways};
use sandframe_testkit::{manifest, sign, verified};

fn stopped(c: &mut Criterion) {
    let rt = Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let mut g = c.benchmark_group("runaway_stopped");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for case in runaways() {
        let prepared = rt.prepare(&verified(&case.id(), &case.wat)).unwrap();
        let name = if case.name == "loop" {
            "baseline: loop br".to_owned()
        } else {
            case.name.to_owned()
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    rt.launch(
                        &prepared,
                        MinimalGateway
                            .open(prepared.context(), sandframe_core::EventSender::none())
                            .unwrap(),
                    )
                    .unwrap()
                    .0
                },
                // The instance is returned so that criterion frees it (unmapping its memory)
                // outside the timed part: this is the time until the app is stopped.
                |mut app| {
                    assert!(app.event(b"{}").is_err(), "{} was not stopped", case.name);
                    app
                },
                BatchSize::PerIteration,
            )
        });
    }

    // storage.set through a real host on a real home: each call an fsync or more.
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .rules(sandframe_testkit::quiet_rules())
        .threads(1)
        .build()
        .unwrap();
    let app: AppId = "com.example.runaway.storage".parse().unwrap();
    h.install(&sign(
        &manifest(app.as_str(), STORAGE_CAPABILITY),
        wat::parse_str(STORAGE_FLOOD).unwrap(),
    ))
    .unwrap();
    g.bench_function("storage.set through a host", |b| {
        b.iter_batched(
            || assert_eq!(h.launch(&app).unwrap(), 0),
            |()| {
                assert!(
                    h.dispatch(&app, b"{}").is_err(),
                    "storage.set loop not stopped"
                )
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, stopped);
criterion_main!(benches);
