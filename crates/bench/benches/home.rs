//! The home's sealed state at 1 and at 10,000 installed apps: `Host::install` of an update and
//! a warm launch (a fresh host over a cached artifact), each beside its baseline in the same
//! run (the validator's `verify` of the same package, and the launch at one app). The target
//! (issue 20): a warm launch at 10,000 apps adds at most 5 µs at the median, and an install
//! costs what it costs at one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: failing loudly is the point

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sandframe_host::{AppId, Host};
use sandframe_validate::{Context, Installed, Validator};

const WAT: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 1))"#;

fn package(id: &AppId, version: &str) -> Vec<u8> {
    sandframe_testkit::sign(
        &sandframe_testkit::manifest(id.as_str(), "").replace("1.0.0", version),
        wat::parse_str(WAT).unwrap(),
    )
}

fn host(dir: &std::path::Path) -> Host {
    common::host_in(dir.join("home"))
        .threads(1)
        .build()
        .unwrap()
}

/// A home with `id` installed (and launched once, so its artifact is cached) and `apps - 1`
/// more install records beside it, committed as 9,999 installs would leave them.
fn home(id: &AppId, apps: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = host(dir.path());
        h.install(&package(id, "1.0.0")).unwrap();
        h.launch(id).unwrap();
    }
    common::seed_records(dir.path(), id, apps);
    dir
}

fn bench(c: &mut Criterion) {
    let id: AppId = "com.example.home".parse().unwrap();
    let homes = [(1usize, home(&id, 1)), (10_000, home(&id, 10_000))];
    let mut g = c.benchmark_group("home");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    // The validator's part of an install, alone: what the host adds is the home's writes.
    let update = package(&id, "1.0.1");
    let trust = sandframe_testkit::trust();
    let none: BTreeMap<AppId, Installed> = BTreeMap::new();
    let validator = Validator::new();
    g.bench_function("baseline: Validator::verify of the update", |b| {
        b.iter(|| {
            validator
                .verify(&update, &Context::new(&trust, &none))
                .unwrap()
        })
    });
    for (apps, dir) in &homes {
        let h = host(dir.path());
        // Alternating versions: each iteration is an update (newer than the one before).
        let mut n = 1u64;
        g.bench_function(
            format!("Host::install of an update, {apps} apps installed"),
            |b| {
                b.iter_batched(
                    || {
                        n += 1;
                        package(&id, &format!("1.0.{n}"))
                    },
                    |bytes| h.install(&bytes).unwrap(),
                    BatchSize::PerIteration,
                )
            },
        );
        drop(h);
        // Let the last update be compiled and cached before the warm launches.
        host(dir.path()).launch(&id).unwrap();
        g.bench_function(
            format!("warm launch (fresh host, cached artifact), {apps} apps installed"),
            |b| {
                b.iter_batched(
                    || host(dir.path()),
                    |h| {
                        h.launch(&id).unwrap();
                        h
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
