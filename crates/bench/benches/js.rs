//! JavaScript apps (`runtime = "js@1"`) beside the Rust counter, through a real host, in the
//! same run:
//!
//! - **warm launch**: a fresh `Host` over a home where the app is installed and the engine's
//!   artifact cached (as after a restart): the JS counter beside the Rust one;
//! - **relaunch in a running host** (terminate, launch: the engine's module memoised, so
//!   what is left is instantiate + `sf_init`, which for JS evaluates the prelude and the
//!   script);
//! - **round trip**: a tap on "+1" through the surface to the handler, its `storage.set` and
//!   `setData`, and the patch applied on the render side (both counters write storage); and
//!   the same without storage: the hello example (WebAssembly text) beside its JS twin;
//! - **the engine's one-time compile**: a cold launch of the JS counter, artifact store
//!   emptied.
//!
//! Each iteration that needs a fresh host gets one made outside the timed section.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sandframe_core::AppId;
use sandframe_host::Host;

/// A host over `<dir>/home` (one logic thread).
fn host(dir: &std::path::Path) -> Host {
    common::host_in(dir.join("home"))
        .threads(1)
        .build()
        .unwrap()
}

/// A home with `example` installed and launched once (its artifact cached); its app id.
fn installed(dir: &std::path::Path, example: &str) -> AppId {
    let h = host(dir);
    let app = h.install(&sandframe_testkit::example(example)).unwrap().app;
    h.launch(&app).unwrap();
    app
}

fn js(c: &mut Criterion) {
    let examples = ["counter", "counter-js"];
    let homes: Vec<(tempfile::TempDir, AppId)> = examples
        .iter()
        .map(|e| {
            let dir = tempfile::tempdir().unwrap();
            let app = installed(dir.path(), e);
            (dir, app)
        })
        .collect();

    let mut g = c.benchmark_group("js/warm launch (fresh host, cached artifact)");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    for (example, (dir, app)) in examples.iter().zip(&homes) {
        g.bench_function(*example, |b| {
            b.iter_batched(
                || host(dir.path()),
                |h| {
                    h.launch(app).unwrap();
                    h
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("js/relaunch in a running host (module memoised)");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    for (example, (dir, app)) in examples.iter().zip(&homes) {
        let h = host(dir.path());
        h.launch(app).unwrap();
        g.bench_function(*example, |b| {
            b.iter(|| {
                h.terminate(app).unwrap();
                h.launch(app).unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("js/round trip (tap, handler, storage.set, setData, patch)");
    g.sample_size(50).measurement_time(Duration::from_secs(8));
    for (example, (dir, app)) in examples.iter().zip(&homes) {
        // Thousands of taps a second write storage past the monitor's write-flood rule,
        // which is not what this measures.
        let rules = sandframe_host::Rules {
            max_writes_per_window: u64::MAX,
            ..sandframe_host::Rules::default()
        };
        let h = common::host_in(dir.path().join("home"))
            .threads(1)
            .rules(rules)
            .build()
            .unwrap();
        h.launch(app).unwrap();
        g.bench_function(*example, |b| {
            b.iter(|| {
                let code = h
                    .surface_event(sandframe_testkit::tap(app, vec![1]))
                    .unwrap();
                assert_eq!(code, Some(0));
            })
        });
    }
    g.finish();

    // Without storage: the hello example (WebAssembly text) beside the same app in JS.
    let mut g = c.benchmark_group("js/round trip (tap, handler, setData, patch)");
    g.sample_size(50).measurement_time(Duration::from_secs(8));
    for (name, package) in [
        ("hello (wat)", sandframe_testkit::example("hello")),
        ("hello-js", hello_js()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Taps back to back pass the default rate of ui.setData (10,000 a second), which is
        // not what this measures.
        let h = common::host_in(dir.path().join("home"))
            .threads(1)
            .configure_gateway(|g| {
                g.default_rate(sandframe_host::Rate {
                    burst: u32::MAX,
                    period: Duration::from_nanos(1),
                })
            })
            .build()
            .unwrap();
        let app = h.install(&package).unwrap().app;
        h.launch(&app).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let code = h
                    .surface_event(sandframe_testkit::tap(&app, vec![2]))
                    .unwrap();
                assert_eq!(code, Some(0), "{name}: {:?}", h.html(&app));
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("js/the engine's compile (cold launch, no artifact)");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    let (dir, app) = &homes[1];
    let artifacts = dir.path().join("home/artifacts");
    g.bench_function("counter-js", |b| {
        b.iter_batched(
            || {
                for entry in std::fs::read_dir(&artifacts).unwrap() {
                    std::fs::remove_file(entry.unwrap().path()).unwrap();
                }
                host(dir.path())
            },
            |h| {
                h.launch(app).unwrap();
                h
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The hello example's twin in JavaScript: its view, a tap counted in memory.
fn hello_js() -> Vec<u8> {
    let manifest = sandframe_testkit::manifest(
        "dev.sandframe.hello-js",
        "runtime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"r\"\n",
    );
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file(
        "logic.js",
        b"Page({ data: { taps: 0 }, onTap() { this.setData({ taps: this.data.taps + 1 }); } });"
            .to_vec(),
    )
    .unwrap();
    c.add_file(
        "views/index.xml",
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/hello/views/index.xml"
        ))
        .unwrap(),
    )
    .unwrap();
    c.sign(&sandframe_testkit::key()).unwrap()
}

criterion_group!(benches, js);
criterion_main!(benches);
