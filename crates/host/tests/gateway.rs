//! The gateway through a real host and real wasm: consent decided off the logic thread and
//! delivered as an event; a ten-million-call flood throttled while a neighbour is served;
//! grants gone at uninstall; an audit log that verifies, and a tampered one refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandframe_host::{
    Anchor, AppId, Consent, ConsentDecision, ConsentRequest, FileAnchor, GatewayError, HomeError,
    HostError, Rules, RuntimeConfig, StoredRecord, audit,
};
use sandframe_testkit::{manifest, sign};

/// Counts the consent events it receives; on a `tap` event asks for user:readProfile.
const CONSENT_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "capability.request")
  (data (i32.const 32) "{\"capability\":\"user:readProfile\"}")
  (global $consents (mut i32) (i32.const 0))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $read (i32.const 1024) (i32.const 1024)))
    ;; {"handler":"<name>": byte 12 is the name's first letter
    (if (i32.eq (i32.load8_u (i32.const 1036)) (i32.const 115)) ;; s: sf.consent
      (then (global.set $consents (i32.add (global.get $consents) (i32.const 1)))))
    (if (i32.eq (i32.load8_u (i32.const 1036)) (i32.const 116)) ;; t: tap
      (then (drop (call $call (i32.const 0) (i32.const 18) (i32.const 32) (i32.const 33)))))
    (global.get $consents)))"#;

const FLOOD_CALLS: i32 = 10_000_000;

/// Calls clock.now ten million times in one event; returns how many calls succeeded.
const FLOOD_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (local $i i32) (local $ok i32)
    (loop $l
      (if (i64.ge_s (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0))
                    (i64.const 0))
        (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10000000))))
    (local.get $ok)))"#;

use sandframe_testkit::CLOCK_APP;

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

fn package(app: &str, extra: &str, wat: &str) -> Vec<u8> {
    sign(&manifest(app, extra), wat::parse_str(wat).unwrap())
}

/// A consent that waits for the test's answer.
struct Person(Mutex<Receiver<ConsentDecision>>);

impl Consent for Person {
    fn decide(&self, _: &ConsentRequest) -> ConsentDecision {
        self.0
            .lock()
            .unwrap()
            .recv()
            .unwrap_or(ConsentDecision::Deny)
    }
}

fn person() -> (Arc<Person>, Sender<ConsentDecision>) {
    let (tx, rx) = channel();
    (Arc::new(Person(Mutex::new(rx))), tx)
}

/// Every record in the home's audit log, verified against the default anchor beside it.
fn records(dir: &std::path::Path) -> Vec<StoredRecord> {
    let anchor = FileAnchor::open(&dir.join("home.audit-anchor")).unwrap();
    let bytes = std::fs::read(dir.join("home/audit.log")).unwrap();
    audit::read(&bytes, &anchor.key(), &anchor.head()).unwrap()
}

#[test]
fn consent_arrives_as_an_event_and_the_grant_is_gone_after_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let (p, answer) = person();
    let h = common::host_in(dir.path().join("home"))
        .consent(p)
        .threads(1)
        .build()
        .unwrap();
    let app = id("com.example.asks");
    h.install(&package(
        app.as_str(),
        "[[capabilities]]\nname = \"user:readProfile\"\nreason = \"greet you by name\"\n",
        CONSENT_APP,
    ))
    .unwrap();
    h.launch(&app).unwrap();
    // The tap asks; the call answers "pending" at once and the event returns.
    assert_eq!(
        h.dispatch(&app, br#"{"handler":"tap","detail":{}}"#)
            .unwrap(),
        0
    );
    assert!(h.grants(&app).unwrap().is_empty());
    answer.send(ConsentDecision::Grant).unwrap();
    // The decision reaches the app as an event on its logic thread.
    let start = Instant::now();
    let mut seen = 0;
    while seen == 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
        seen = h.dispatch(&app, br#"{"handler":"probe"}"#).unwrap();
    }
    assert_eq!(seen, 1, "the consent event was delivered once");
    let grants = h.grants(&app).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].capability().as_str(), "user:readProfile");
    assert!(
        !dir.path().join("home/grants").exists(),
        "grants are sealed in the state, not kept as files"
    );

    h.uninstall(&app).unwrap();
    assert!(h.grants(&app).unwrap().is_empty());

    h.verify_audit().unwrap();
    let r = records(dir.path());
    let actions: Vec<&str> = r.iter().map(|r| r.action.as_str()).collect();
    for a in [
        "install",
        "launch",
        "call",
        "consent",
        "terminate",
        "uninstall",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let consent = r.iter().find(|r| r.action == "consent").unwrap();
    assert_eq!(
        (consent.app.as_str(), consent.outcome.as_str()),
        ("com.example.asks", "allowed")
    );
}

#[test]
fn a_ten_million_call_flood_is_throttled_while_a_neighbour_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .runtime(RuntimeConfig {
            // Room for ten million priced calls in one event, each also paying its host time
            // (about 1 µs, 4,000 points, in a test build): only the gateway holds it back.
            fuel_per_event: u64::MAX / 4,
            fuel_per_lifetime: u64::MAX,
            // The flood runs for seconds of CPU time, past the default 10 ms deadline.
            event_deadline: Duration::from_secs(3600),
            ..RuntimeConfig::default()
        })
        // The gateway alone is under test: the monitor would (rightly) stop this flood, as
        // `tests/monitor.rs` shows.
        .rules(Rules {
            max_rate_denials_per_window: u64::MAX,
            ..Rules::default()
        })
        .threads(2)
        .build()
        .unwrap();
    let (flood, ok) = (id("com.example.flood"), id("com.example.calm"));
    h.install(&package(flood.as_str(), "", FLOOD_APP)).unwrap();
    h.install(&package(ok.as_str(), "", CLOCK_APP)).unwrap();
    h.launch(&flood).unwrap(); // logic thread 0
    h.launch(&ok).unwrap(); // logic thread 1

    let done = AtomicBool::new(false);
    let (allowed, elapsed, served_during) = std::thread::scope(|s| {
        let flooding = s.spawn(|| {
            let start = Instant::now();
            let n = h.dispatch(&flood, b"{}");
            // Set before unwrapping: a failed flood must not leave the loop below waiting.
            done.store(true, Ordering::SeqCst);
            (n.unwrap(), start.elapsed())
        });
        let mut served_during = 0;
        while !done.load(Ordering::SeqCst) {
            assert_eq!(h.dispatch(&ok, b"{}").unwrap(), i32::from(b'{'));
            if !done.load(Ordering::SeqCst) {
                served_during += 1;
            }
            // A user's pace, not a second flood: leave the cores to the flood.
            std::thread::sleep(Duration::from_millis(2));
        }
        let (n, elapsed) = flooding.join().unwrap();
        (n, elapsed, served_during)
    });
    assert!(
        served_during > 0,
        "the neighbour was served while the flood ran"
    );
    // The default rate: a burst of 1,000, then 10,000 a second.
    let bound = 1_000 + (elapsed.as_secs_f64() * 10_000.0) as i32 + 10;
    assert!(
        (1_000..=bound).contains(&allowed),
        "{allowed} calls got through in {elapsed:?}"
    );

    // Every call is accounted for in the audit log, denials folded.
    h.flush_audit().unwrap();
    let mut allowed_records = 0i64;
    let mut denied = 0i64;
    let mut n_records = 0;
    for r in records(dir.path())
        .iter()
        .filter(|r| r.app == flood.as_str() && r.action == "call")
    {
        n_records += 1;
        match r.outcome.as_str() {
            "allowed" => allowed_records += 1,
            "denied" => {
                denied += match r.detail.split_once(" more calls refused") {
                    Some((n, _)) => n.parse::<i64>().unwrap(),
                    None => 1,
                }
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(allowed_records, i64::from(allowed));
    assert_eq!(allowed_records + denied, i64::from(FLOOD_CALLS));
    assert!(
        n_records < 2 * allowed + 100,
        "{n_records} records for {FLOOD_CALLS} calls: denials must be folded"
    );
}

#[test]
fn a_tampered_audit_log_stops_the_host_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let build = || common::host_in(dir.path().join("home")).threads(1).build();
    let h = build().unwrap();
    h.install(&package("com.example.audited", "", CLOCK_APP))
        .unwrap();
    h.verify_audit().unwrap();
    drop(h);
    let path = dir.path().join("home/audit.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    match build() {
        Err(HostError::Home(HomeError::Gateway(GatewayError::Tampered(t)))) => {
            assert!(t.to_string().contains("fails its MAC"), "{t}")
        }
        other => panic!("expected a tampered log to be refused: {other:?}"),
    }
}

#[test]
fn an_update_gets_no_grant_for_its_new_capabilities_and_traps_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .threads(1)
        .build()
        .unwrap();
    let app = id("com.example.grows");
    let caps = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("[[capabilities]]\nname = \"{n}\"\nreason = \"needed\"\n"))
            .collect::<String>()
    };
    h.install(&package(
        app.as_str(),
        &caps(&["user:readProfile"]),
        CLOCK_APP,
    ))
    .unwrap();
    h.grant(&app, &"user:readProfile".parse().unwrap()).unwrap();
    let update = sign(
        &manifest(app.as_str(), &caps(&["user:readProfile", "storage:share"]))
            .replace("1.0.0", "1.1.0"),
        wat::parse_str(SPIN).unwrap(),
    );
    let done = h.install(&update).unwrap();
    assert_eq!(done.added_capabilities.len(), 1);
    let grants: Vec<String> = h
        .grants(&app)
        .unwrap()
        .iter()
        .map(|g| g.capability().to_string())
        .collect();
    assert_eq!(
        grants,
        ["user:readProfile"],
        "the new capability starts ungranted"
    );

    // The update spins: its trap is audited by the runtime layer.
    h.launch(&app).unwrap();
    assert!(h.dispatch(&app, b"{}").is_err());
    h.flush_audit().unwrap();
    let r = records(dir.path());
    let trap = r.iter().find(|r| r.layer == "runtime").unwrap();
    assert_eq!(
        (trap.action.as_str(), trap.outcome.as_str()),
        ("event", "failed")
    );
    assert!(
        ["FuelExhausted", "DeadlineExceeded"]
            .iter()
            .any(|k| trap.detail.contains(k)),
        "{}",
        trap.detail
    );
}

const SPIN: &str = r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (loop $l (br $l)) i32.const 0))"#;
