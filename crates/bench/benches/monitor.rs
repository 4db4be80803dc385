//! The monitor's cost and what it buys (issue #7, docs/targets.md's performance table):
//!
//! - **cost per observed event** (criterion): 1,000 events of one kind through a
//!   `SandframeMonitor` watch (rules set so that none fires), beside the same through a no-op
//!   `Watch::none()`: a call (the hot path), a refusal, an event end.
//! - **neighbour isolation** (printed after the criterion groups): a benign app's event
//!   latency alone (p50, p99 over 2,000 events) and while 100 apps each spin one event until
//!   their own fuel stops them, on the same host; every spinner must be stopped by its own
//!   budget (`FuelExhausted`, or `DeadlineExceeded` when a loaded machine reaches the CPU
//!   deadline first). docs/targets.md's target: p99 during the storm ≤ p99 alone + one
//!   default event budget. The same beside 10 JS spinners, each stopped by the JS budget
//!   (200M fuel or 40 ms, whichever comes first).
//!
//! The overhead monitoring adds to a mediated call is in `benches/runtime.rs` (the full
//! gateway with and without a monitor).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

mod common;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use sandframe_core::{Alert, AlertSink, AppId, DenyReason, Monitor, MonitorEvent, TrapKind, Watch};
use sandframe_gateway::Rate;
use sandframe_host::{HostError, Rules, SandframeMonitor};
use sandframe_runtime::RuntimeError;
use sandframe_testkit::{CLOCK_APP, manifest, sign};

fn quiet_rules() -> Rules {
    Rules {
        max_calls_per_window: u64::MAX,
        max_capability_denials_per_window: u64::MAX,
        max_denied_apis: u32::MAX,
        max_rate_denials_per_window: u64::MAX,
        max_malformed_per_window: u64::MAX,
        max_hot_events: u32::MAX,
        warmup_events: u64::MAX,
        ..Rules::default()
    }
}

fn observe(c: &mut Criterion) {
    let app: AppId = "com.example.bench".parse().unwrap();
    let monitor = SandframeMonitor::builder()
        .rules(quiet_rules())
        .build()
        .unwrap();
    let watched = Watch::new(monitor.watch(&app).unwrap());
    let none = Watch::none();
    let call = MonitorEvent::Call {
        api: "clock.now",
        latency_ns: 120,
        request_bytes: 0,
        response_bytes: 24,
    };
    let denial = MonitorEvent::Denied {
        api: "user.getProfile",
        reason: DenyReason::Capability,
    };
    let end = MonitorEvent::EventHandled {
        fuel_used: 10_000,
        fuel_budget: 30_000_000,
    };
    let mut g = c.benchmark_group("monitor_observe_x1000");
    for (name, event) in [("call", call), ("refusal", denial), ("event end", end)] {
        g.bench_function(format!("baseline: no-op watch, {name}"), |b| {
            b.iter(|| {
                for _ in 0..1000 {
                    std::hint::black_box(none.observe(std::hint::black_box(&event)));
                }
            })
        });
        g.bench_function(format!("SandframeMonitor, {name}"), |b| {
            b.iter(|| {
                for _ in 0..1000 {
                    std::hint::black_box(watched.observe(std::hint::black_box(&event)));
                }
            })
        });
    }
    g.finish();
}

/// Prints each alert (none is expected: each spinner is stopped by its fuel in its first
/// event, before any rule has a run of events to judge).
struct PrintAlerts;

impl AlertSink for PrintAlerts {
    fn alert(&self, a: &Alert<'_>) {
        eprintln!(
            "alert: {} {} {}: {}",
            a.app,
            a.rule,
            a.verdict.name(),
            a.evidence
        );
    }
}

/// Spins until its fuel runs out.
const SPINNER: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (loop $l (br $l)) i32.const 0))"#;

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), *v.last().unwrap())
}

/// A JS app whose tap spins until its budget (fuel or CPU deadline) stops it.
fn js_spinner(id: &str) -> Vec<u8> {
    let manifest = manifest(
        id,
        "runtime = \"js@1\"\n[[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n",
    );
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file(
        "logic.js",
        b"Page({ onTap() { while (true) {} } });".to_vec(),
    )
    .unwrap();
    c.add_file("views/index.xml", b"<view/>".to_vec()).unwrap();
    c.sign(&sandframe_testkit::key()).unwrap()
}

/// The neighbour-isolation figures (not criterion groups: they report percentiles): the
/// wasm spinners of docs/targets.md, then JS spinners (their own, larger budget).
fn storms() {
    let wasm = |wat: &str| wat::parse_str(wat).unwrap();
    storm(
        "100 wasm spinners, default event budget 18M fuel",
        100,
        &|id| sign(&manifest(id, ""), wasm(SPINNER)),
        b"{}",
        &[TrapKind::FuelExhausted, TrapKind::DeadlineExceeded],
    );
    storm(
        "10 JS spinners, JS event budget 200M fuel or 40 ms",
        10,
        &js_spinner,
        br#"{"handler":"onTap","detail":{}}"#,
        &[TrapKind::FuelExhausted, TrapKind::DeadlineExceeded],
    );
}

/// A benign app's event latency alone and while `count` spinners (packages from `package`)
/// each spin one `event` until their budget stops them (`stops`), on 2 logic threads.
fn storm(
    label: &str,
    count: usize,
    package: &dyn Fn(&str) -> Vec<u8>,
    event: &'static [u8],
    stops: &[TrapKind],
) {
    let dir = tempfile::tempdir().unwrap();
    let host = common::host_in(dir.path().join("home"))
        .alerts(Arc::new(PrintAlerts))
        // The benign app is dispatched at machine speed, not a person's: past the default
        // rate limit its calls would be refused and the monitor would (rightly) stop it.
        .configure_gateway(|g| g.default_rate(Rate::unlimited()))
        .build()
        .unwrap();
    host.install(&sign(
        &manifest("com.example.benign", ""),
        wat::parse_str(CLOCK_APP).unwrap(),
    ))
    .unwrap();
    let benign: AppId = "com.example.benign".parse().unwrap();
    let spinners: Vec<AppId> = (0..count)
        .map(|i| {
            let id = format!("com.example.spin{i}");
            host.install(&package(&id)).unwrap();
            id.parse().unwrap()
        })
        .collect();
    host.launch(&benign).unwrap();
    for s in &spinners {
        host.launch(s).unwrap();
    }
    let once = || {
        let t = Instant::now();
        assert_eq!(host.dispatch(&benign, b"{}").unwrap(), 123);
        t.elapsed()
    };
    for _ in 0..200 {
        once();
    }
    let alone: Vec<Duration> = (0..2000).map(|_| once()).collect();
    let (mut during, stopped) = std::thread::scope(|s| {
        let storm_started = Instant::now();
        let handles: Vec<_> = spinners
            .iter()
            .map(|app| {
                let host = &host;
                s.spawn(move || host.dispatch(app, event))
            })
            .collect();
        let mut during = Vec::new();
        while handles.iter().any(|h| !h.is_finished()) {
            during.push(once());
        }
        let stopped = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|r| {
                matches!(
                    r,
                    Err(HostError::Stopped(RuntimeError::Trapped { kind, .. })) if stops.contains(kind)
                )
            })
            .count();
        eprintln!("storm lasted {:?}", storm_started.elapsed());
        (during, stopped)
    });
    if during.is_empty() {
        during.push(once());
    }
    let (a50, a99, amax) = percentiles(alone);
    let n = during.len();
    let (d50, d99, dmax) = percentiles(during);
    println!(
        "neighbour isolation (2 logic threads, {label}):\n  \
         benign event alone:        p50 {a50:?}  p99 {a99:?}  max {amax:?}\n  \
         benign event during storm: p50 {d50:?}  p99 {d99:?}  max {dmax:?}  ({n} events)\n  \
         spinners stopped by their own budget: {stopped}/{count}"
    );
    assert_eq!(stopped, count, "every spinner is stopped by its own budget");
}

criterion_group!(benches, observe);

fn main() {
    benches();
    storms();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
