//! The monitor through a real host and real wasm: a call flood, a capability prober, a fuel
//! burner, a memory creeper and a storage writer are each stopped by the right rule, with the
//! verdict audited and alerted, while a neighbour app completes every one of its events; an
//! app that keeps trapping is quarantined across a host restart until released; and a long
//! session of normal use raises no alert.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sandframe_host::{
    Anchor, AppId, Denied, FileAnchor, Host, HostError, Misuse, Rules, RuntimeError,
    SandframeMonitor, StoredRecord, TrapKind, Verdict, audit, rule,
};
use sandframe_testkit::{CLOCK_APP, manifest, sign};

const HEADER: &str = r#"(import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (func (export "sf_init") (result i32) i32.const 0)"#;

/// 20,000 `clock.now` calls an event (10M fuel of its 18M budget).
fn flood() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_event") (param i32) (result i32) (local $i i32)
    (loop $l
      (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))
    i32.const 0))"#
    )
}

/// Tries five APIs whose capabilities it never declared, every event.
fn prober() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (data (i32.const 0) "user.getProfile")
  (data (i32.const 32) "storage.get")
  (data (i32.const 64) "storage.share")
  (data (i32.const 96) "ui.setData")
  (data (i32.const 128) "storage.listShares")
  (data (i32.const 256) "{{}}")
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $call (i32.const 0) (i32.const 15) (i32.const 256) (i32.const 2)))
    (drop (call $call (i32.const 32) (i32.const 11) (i32.const 256) (i32.const 2)))
    (drop (call $call (i32.const 64) (i32.const 13) (i32.const 256) (i32.const 2)))
    (drop (call $call (i32.const 96) (i32.const 10) (i32.const 256) (i32.const 2)))
    (drop (call $call (i32.const 128) (i32.const 18) (i32.const 256) (i32.const 2)))
    i32.const 0))"#
    )
}

/// Spins for about 92% of a 1M-fuel event (8 operators an iteration), every event.
fn burner() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (func (export "sf_event") (param i32) (result i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 115000))))
    i32.const 0))"#
    )
}

/// Grows its memory by one page every event.
fn creeper() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 256)
  (func (export "sf_event") (param i32) (result i32)
    (drop (memory.grow (i32.const 1)))
    i32.const 0))"#
    )
}

/// Ten `storage.set`s of a 100-byte value every event.
fn writer() -> String {
    let value = "x".repeat(100);
    let body = format!(r#"{{"key":"k","value":"{value}"}}"#);
    let escaped = body.replace('"', "\\\"");
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (data (i32.const 0) "storage.set")
  (data (i32.const 32) "{escaped}")
  (func (export "sf_event") (param i32) (result i32) (local $i i32)
    (loop $l
      (drop (call $call (i32.const 0) (i32.const 11) (i32.const 32) (i32.const {len})))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    i32.const 0))"#,
        len = body.len()
    )
}

/// Traps (`unreachable`) in every event.
fn trapper() -> String {
    format!(
        r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (func (export "sf_event") (param i32) (result i32) unreachable))"#
    )
}

type Alerts = sandframe_testkit::RecordingAlerts;

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

fn host(dir: &std::path::Path, alerts: Arc<Alerts>, rules: Rules) -> Host {
    common::host_in(dir.join("home"))
        .rules(rules)
        .alerts(alerts)
        // The monitor's rules are under test, not the CPU deadline: the flood's 20,000 host
        // calls an event take longer than the default 9 ms in a debug build.
        .runtime(sandframe_runtime::RuntimeConfig {
            event_deadline: std::time::Duration::from_secs(5),
            ..sandframe_runtime::RuntimeConfig::default()
        })
        .build()
        .unwrap()
}

fn install(host: &Host, app: &str, extra: &str, wat: &str) {
    host.install(&sign(&manifest(app, extra), wat::parse_str(wat).unwrap()))
        .unwrap();
}

fn records(dir: &std::path::Path) -> Vec<StoredRecord> {
    let anchor = FileAnchor::open(&dir.join("home.audit-anchor")).unwrap();
    let bytes = std::fs::read(dir.join("home/audit.log")).unwrap();
    audit::read(&bytes, &anchor.key(), &anchor.head()).unwrap()
}

/// The monitor's verdicts in the audit log for `app`: (rule, verdict name).
fn verdicts(dir: &std::path::Path, app: &str) -> Vec<(String, String)> {
    records(dir)
        .into_iter()
        .filter(|r| r.app == app && r.layer == "monitor" && r.action == "verdict")
        .map(|r| {
            let verdict = r.detail.split(':').next().unwrap().to_owned();
            (r.subject, verdict)
        })
        .collect()
}

/// Runs `attacker`'s events until the sandbox stops it (at most `max`), while a neighbour
/// app on the same host runs 200 events; returns how many attacker events completed and
/// the error that stopped it. Asserts the neighbour completed every event.
fn attack(host: &Host, attacker: &AppId, max: usize) -> (usize, HostError) {
    let neighbour = id("com.example.neighbour");
    host.launch(&neighbour).unwrap();
    let done = AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let n = s.spawn(|| {
            let mut ok = 0;
            while !done.load(Ordering::Relaxed) || ok < 200 {
                assert_eq!(host.dispatch(&neighbour, b"{}").unwrap(), 123);
                ok += 1;
                // A benign app's pace, under the gateway's default 10,000 calls a second:
                // unpaced, its own `clock.now` calls outran the limit while a slow attacker
                // ran, and the monitor rightly stopped it for its refusals.
                std::thread::sleep(Duration::from_micros(200));
            }
            ok
        });
        // Set when this closure ends, even by a failed assertion: the neighbour must not spin on.
        let _stop = SetOnDrop(&done);
        let mut completed = 0;
        let stopped = loop {
            match host.dispatch(attacker, br#"{"handler":"go"}"#) {
                Ok(_) => completed += 1,
                Err(e) => break e,
            }
            assert!(completed < max, "the attacker was never stopped");
        };
        drop(_stop);
        assert!(n.join().unwrap() >= 200);
        (completed, stopped)
    });
    host.terminate(&neighbour).unwrap();
    outcome
}

struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn terminated(e: &HostError) -> bool {
    matches!(
        e,
        HostError::Stopped(
            RuntimeError::Trapped {
                kind: TrapKind::Terminated,
                ..
            } | RuntimeError::Stopped(TrapKind::Terminated)
        )
    )
}

/// One host, five attackers in turn, each beside the neighbour.
#[test]
fn each_attack_is_stopped_by_its_rule_and_the_neighbour_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let h = host(
        dir.path(),
        alerts.clone(),
        Rules {
            // The storage writer is judged on a tighter budget than the default 200 writes a
            // second, over a longer window, so that a slow CI disk still sees a flood.
            max_writes_per_window: 30,
            window: Duration::from_secs(10),
            ..Rules::default()
        },
    );
    install(&h, "com.example.neighbour", "", CLOCK_APP);
    let storage = "[[capabilities]]\nname = \"storage:local\"\nreason = \"test\"\n";
    let cases: [(&str, &str, String, &str, &str); 5] = [
        (
            "com.example.flood",
            "",
            flood(),
            rule::RATE_HITS,
            "terminate",
        ),
        (
            "com.example.prober",
            "",
            prober(),
            rule::CAPABILITY_PROBE,
            "terminate",
        ),
        (
            "com.example.burner",
            "[limits]\nfuel_per_event = 1000000\n",
            burner(),
            rule::FUEL_BURN,
            "terminate",
        ),
        (
            "com.example.creeper",
            "[limits]\nmemory_pages = 256\n",
            creeper(),
            rule::MEMORY_CREEP,
            "terminate",
        ),
        (
            "com.example.writer",
            storage,
            writer(),
            rule::STORAGE_FLOOD,
            "terminate",
        ),
    ];
    for (app, extra, wat, expected_rule, expected_verdict) in cases {
        install(&h, app, extra, &wat);
        let attacker = id(app);
        h.launch(&attacker).unwrap();
        let (completed, stopped) = attack(&h, &attacker, 1_000);
        assert!(terminated(&stopped), "{app}: stopped by {stopped}");
        h.flush_audit().unwrap();
        let audited = verdicts(dir.path(), app);
        assert_eq!(
            audited.last().unwrap(),
            &(expected_rule.to_owned(), expected_verdict.to_owned()),
            "{app} after {completed} events: {audited:?}"
        );
        let alerted = alerts.of(app);
        assert_eq!(alerted.last().unwrap().0, expected_rule, "{app}");
        assert_eq!(alerted.len(), audited.len(), "{app}");
        // A stopped app is no longer running, and may be launched again.
        assert!(matches!(
            h.dispatch(&attacker, b"{}"),
            Err(HostError::Misuse(Misuse::NotRunning(_)))
        ));
        eprintln!("{app}: stopped after {completed} events by {audited:?}");
    }
    // The flood was throttled before it was terminated.
    assert_eq!(
        verdicts(dir.path(), "com.example.flood")[0],
        (rule::RATE_HITS.to_owned(), "throttle".to_owned())
    );
    // The neighbour raised nothing, and the log still verifies.
    assert!(alerts.of("com.example.neighbour").is_empty());
    h.verify_audit().unwrap();
}

#[test]
fn an_app_that_keeps_trapping_is_quarantined_across_a_restart_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let app = id("com.example.trapper");
    {
        let h = host(dir.path(), alerts.clone(), Rules::default());
        install(&h, app.as_str(), "", &trapper());
        for _ in 0..3 {
            h.launch(&app).unwrap();
            assert!(matches!(
                h.dispatch(&app, b"{}"),
                Err(HostError::Stopped(RuntimeError::Trapped {
                    kind: TrapKind::Unreachable,
                    ..
                }))
            ));
        }
        assert!(h.is_quarantined(&app));
        assert!(matches!(
            h.launch(&app),
            Err(HostError::Denied(Denied::Quarantined(_)))
        ));
        assert_eq!(
            alerts.of(app.as_str()),
            [(rule::TRAPS.to_owned(), Verdict::Quarantine)]
        );
    }
    // A restarted host (same home) still refuses it.
    let h = host(dir.path(), alerts.clone(), Rules::default());
    assert!(h.is_quarantined(&app));
    assert!(matches!(
        h.launch(&app),
        Err(HostError::Denied(Denied::Quarantined(_)))
    ));
    // Released by the host: it launches again, and the release is audited.
    h.release(&app).unwrap();
    h.launch(&app).unwrap();
    let trail: Vec<_> = records(dir.path())
        .into_iter()
        .filter(|r| r.app == app.as_str() && r.layer == "monitor")
        .map(|r| (r.action, r.subject))
        .collect();
    assert_eq!(
        trail,
        [
            ("verdict".to_owned(), rule::TRAPS.to_owned()),
            ("release".to_owned(), app.to_string())
        ]
    );
    // Uninstall leaves no quarantine file behind either.
    let h2 = h;
    h2.terminate(&app).unwrap();
    h2.install(&sign(
        &manifest(app.as_str(), "").replace("1.0.0", "1.0.1"),
        wat::parse_str(trapper()).unwrap(),
    ))
    .unwrap();
    for _ in 0..3 {
        h2.launch(&app).unwrap();
        assert!(h2.dispatch(&app, b"{}").is_err());
    }
    assert!(h2.is_quarantined(&app));
    h2.uninstall(&app).unwrap();
    assert!(!h2.is_quarantined(&app));
    assert!(
        sandframe_testkit::tree(&dir.path().join("home/quarantine")).is_empty(),
        "{:?}",
        sandframe_testkit::tree(&dir.path().join("home/quarantine"))
    );
}

/// The bundled example (taps counted and shown) and an app using the clock, storage and a
/// capability it was refused, driven through a long scripted session at a person's pace (a
/// simulated clock moves 100 ms an event): no alert, no verdict.
#[test]
fn a_long_session_of_normal_use_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let (clock, time) = quanta::Clock::mock();
    let home = dir.path().join("home");
    let audit_sink = Arc::new(Verdicts::default());
    let monitor = SandframeMonitor::builder()
        .clock(clock)
        .alerts(alerts.clone())
        .audit(audit_sink.clone())
        .build()
        .unwrap();
    let h = common::host_in(&home)
        .monitor(Arc::new(monitor))
        .build()
        .unwrap();
    // The bundled example, packed from its source directory.
    let hello = sandframe_testkit::example("hello");
    h.install(&hello).unwrap();
    let hello_id = id("dev.sandframe.hello");
    let busy = id("com.example.busy");
    install(
        &h,
        busy.as_str(),
        "[[capabilities]]\nname = \"storage:local\"\nreason = \"test\"\n\
         [[capabilities]]\nname = \"user:readProfile\"\nreason = \"test\"\n",
        &format!(
            r#"(module {HEADER}
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (data (i32.const 16) "storage.set")
  (data (i32.const 32) "user.getProfile")
  (data (i32.const 64) "{{\"key\":\"last\",\"value\":42}}")
  (data (i32.const 128) "{{}}")
  (global $n (mut i32) (i32.const 0))
  (func (export "sf_event") (param i32) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
    ;; saves every 3rd event; asks for the profile (never granted) every 50th
    (if (i32.eqz (i32.rem_u (global.get $n) (i32.const 3)))
      (then (drop (call $call (i32.const 16) (i32.const 11) (i32.const 64) (i32.const 26)))))
    (if (i32.eqz (i32.rem_u (global.get $n) (i32.const 50)))
      (then (drop (call $call (i32.const 32) (i32.const 15) (i32.const 128) (i32.const 2)))))
    i32.const 0))"#
        ),
    );
    h.launch(&hello_id).unwrap();
    h.launch(&busy).unwrap();
    for i in 0..3_000u32 {
        // (Its code is 1 while ui.setData has no render side to serve it.)
        h.dispatch(&hello_id, br#"{"handler":"tap"}"#).unwrap();
        assert_eq!(h.dispatch(&busy, b"{}").unwrap(), 0, "event {i}");
        time.increment(Duration::from_millis(100));
    }
    assert!(alerts.0.lock().unwrap().is_empty(), "{:?}", alerts.0.lock());
    assert_eq!(audit_sink.0.load(Ordering::Relaxed), 0);
}

/// Counts the monitor's audit records.
#[derive(Default)]
struct Verdicts(AtomicU64);

impl sandframe_core::AuditSink for Verdicts {
    fn record(&self, _: &sandframe_core::AuditRecord<'_>) -> Result<(), sandframe_core::Error> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn flush(&self) -> Result<(), sandframe_core::Error> {
        Ok(())
    }
}

/// An app stopped by a verdict during `sf_init` (its 17th refused probe, the last thing its
/// `sf_init` does) is not left running: `launch` says it was terminated, and the launch is
/// audited as denied.
#[test]
fn an_app_stopped_during_sf_init_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let h = host(dir.path(), alerts.clone(), Rules::default());
    let app = id("com.example.initprober");
    install(
        &h,
        app.as_str(),
        "",
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "user.getProfile")
  (data (i32.const 32) "{}")
  (func (export "sf_init") (result i32) (local $i i32)
    (loop $l
      (drop (call $call (i32.const 0) (i32.const 15) (i32.const 32) (i32.const 2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 17))))
    i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#,
    );
    let e = h.launch(&app).unwrap_err();
    assert!(terminated(&e), "{e}");
    assert!(matches!(
        h.dispatch(&app, b"{}"),
        Err(HostError::Misuse(Misuse::NotRunning(_)))
    ));
    assert_eq!(
        alerts.of(app.as_str()),
        [(rule::CAPABILITY_PROBE.to_owned(), Verdict::Terminate)]
    );
    h.flush_audit().unwrap();
    let launch = records(dir.path())
        .into_iter()
        .filter(|r| r.app == app.as_str() && r.action == "launch")
        .map(|r| r.outcome)
        .collect::<Vec<_>>();
    assert_eq!(launch, ["denied"]);
}

/// Terminate verdicts count across host processes on one home (each `sandframe run` is one),
/// within their window, and only the monitor's own: the host's terminations never count.
#[test]
fn terminations_count_across_host_processes_within_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let app = id("com.example.prober");
    // One verdict in each of three hosts in a row (three processes): the third quarantines.
    for round in 0..3 {
        let h = host(dir.path(), alerts.clone(), Rules::default());
        if round == 0 {
            install(&h, "com.example.neighbour", "", CLOCK_APP);
            install(&h, app.as_str(), "", &prober());
        }
        h.launch(&app).unwrap();
        let (_, stopped) = attack(&h, &app, 1_000);
        assert!(terminated(&stopped), "round {round}: {stopped}");
        assert_eq!(h.is_quarantined(&app), round == 2, "round {round}");
    }
    assert_eq!(
        alerts.of(app.as_str()).last().unwrap().1,
        Verdict::Quarantine
    );
    // Spread wider than the window, they never add up.
    let spread = id("com.example.spread");
    let rules = Rules {
        quarantine_window: Duration::from_millis(1),
        ..Rules::default()
    };
    for round in 0..4 {
        let h = host(dir.path(), alerts.clone(), rules.clone());
        if round == 0 {
            install(&h, spread.as_str(), "", &prober());
        }
        std::thread::sleep(Duration::from_millis(5));
        h.launch(&spread).unwrap();
        let (_, stopped) = attack(&h, &spread, 1_000);
        assert!(terminated(&stopped), "round {round}: {stopped}");
        assert!(!h.is_quarantined(&spread), "round {round}");
    }
    // The host's own terminations are not verdicts.
    let h = host(dir.path(), alerts, Rules::default());
    for _ in 0..4 {
        h.launch(&spread).unwrap();
        h.terminate(&spread).unwrap();
    }
    assert!(!h.is_quarantined(&spread));
}

/// Traps in a row count across host processes too: one trap in each of three hosts
/// quarantines; a clean event in between starts the run again.
#[test]
fn traps_in_a_row_count_across_host_processes() {
    let dir = tempfile::tempdir().unwrap();
    let alerts = Arc::new(Alerts::default());
    let app = id("com.example.trapper");
    for round in 0..3 {
        let h = host(dir.path(), alerts.clone(), Rules::default());
        if round == 0 {
            install(&h, app.as_str(), "", &trapper());
        }
        h.launch(&app).unwrap();
        assert!(h.dispatch(&app, b"{}").is_err());
        assert_eq!(h.is_quarantined(&app), round == 2, "round {round}");
    }
    assert_eq!(
        alerts.of(app.as_str()),
        [(rule::TRAPS.to_owned(), Verdict::Quarantine)]
    );
}
