//! Every rule against a stream of events shaped like an attack, and a benign stream that must
//! raise nothing. (The same attacks run as real wasm through a real host in
//! `crates/host/tests/monitor.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandframe_core::{
    AppId, AppMonitor, AuditRecord, AuditSink, DenyReason, Error, Monitor, MonitorEvent, TrapKind,
    Verdict,
};
use sandframe_monitor::{Rules, SandframeMonitor, rule};

type Alerts = sandframe_testkit::RecordingAlerts;

#[derive(Default)]
struct Audit(Mutex<Vec<(String, String, String)>>);

impl AuditSink for Audit {
    fn record(&self, r: &AuditRecord<'_>) -> Result<(), Error> {
        self.0.lock().unwrap().push((
            r.action.to_owned(),
            r.subject.to_owned(),
            r.detail.to_owned(),
        ));
        Ok(())
    }
    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
}

struct Fixture {
    monitor: SandframeMonitor,
    alerts: Arc<Alerts>,
    audit: Arc<Audit>,
}

fn fixture(rules: Rules) -> Fixture {
    let alerts = Arc::new(Alerts::default());
    let audit = Arc::new(Audit::default());
    let monitor = SandframeMonitor::builder()
        .rules(rules)
        .alerts(alerts.clone())
        .audit(audit.clone())
        .build()
        .unwrap();
    Fixture {
        monitor,
        alerts,
        audit,
    }
}

fn app() -> AppId {
    "com.example.watched".parse().unwrap()
}

const CALL: MonitorEvent<'static> = MonitorEvent::Call {
    api: "clock.now",
    latency_ns: 100,
    request_bytes: 0,
    response_bytes: 24,
};

fn event_end(used: u64) -> MonitorEvent<'static> {
    MonitorEvent::EventHandled {
        fuel_used: used,
        fuel_budget: 1_000_000,
    }
}

/// Feeds `events` and returns every verdict other than Allow, in order.
fn feed<'a>(
    w: &dyn AppMonitor,
    events: impl IntoIterator<Item = MonitorEvent<'a>>,
) -> Vec<Verdict> {
    events
        .into_iter()
        .map(|e| w.observe(&e))
        .filter(|v| *v != Verdict::Allow)
        .collect()
}

#[test]
fn a_call_flood_is_throttled_then_terminated() {
    let f = fixture(Rules {
        max_calls_per_window: 5_000,
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    // Under the limit: nothing.
    assert!(feed(&*w, std::iter::repeat_n(CALL, 4_000)).is_empty());
    // Over it: throttle once (seen at the next 1,024-call check), then terminate on the next
    // window's worth.
    let verdicts = feed(&*w, std::iter::repeat_n(CALL, 20_000));
    assert_eq!(verdicts, [Verdict::Throttle, Verdict::Terminate]);
    assert_eq!(
        f.alerts.rules(),
        [
            (rule::CALL_RATE.into(), Verdict::Throttle),
            (rule::CALL_RATE.into(), Verdict::Terminate)
        ]
    );
    // Every verdict is audited with its rule and evidence.
    let audit = f.audit.0.lock().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].0, "verdict");
    assert_eq!(audit[1].1, rule::CALL_RATE);
    assert!(audit[1].2.starts_with("terminate: "), "{}", audit[1].2);
    // Nothing further once terminated.
    drop(audit);
    assert!(feed(&*w, std::iter::repeat_n(CALL, 20_000)).is_empty());
}

#[test]
fn a_short_flood_is_caught_when_its_event_ends() {
    let f = fixture(Rules {
        max_calls_per_window: 500,
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    // 600 calls: fewer than the 1,024 between hot-path checks.
    let mut events = vec![CALL; 600];
    events.push(event_end(1_000));
    assert_eq!(feed(&*w, events), [Verdict::Throttle]);
}

#[test]
fn capability_probing_is_terminated() {
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    let probe = |api| MonitorEvent::Denied {
        api,
        reason: DenyReason::Capability,
    };
    let apis = [
        "user.getProfile",
        "storage.get",
        "camera.take",
        "location.get",
    ];
    let verdicts = feed(&*w, apis.iter().cycle().take(40).map(|a| probe(a)));
    assert_eq!(verdicts, [Verdict::Terminate]);
    assert_eq!(
        f.alerts.rules(),
        [(rule::CAPABILITY_PROBE.into(), Verdict::Terminate)]
    );
}

#[test]
fn slow_probing_is_caught_over_the_launch() {
    let f = fixture(Rules {
        window: Duration::ZERO, // every window ends at once: only the launch total can fire
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("secret.api{i}")).collect();
    let mut verdicts = Vec::new();
    for name in &names {
        verdicts.extend(feed(
            &*w,
            [
                MonitorEvent::Denied {
                    api: name,
                    reason: DenyReason::Policy,
                },
                event_end(1_000),
            ],
        ));
    }
    assert_eq!(verdicts, [Verdict::Terminate]);
    // Retrying one refused API, however often, is not probing.
    let f = fixture(Rules {
        window: Duration::ZERO,
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    for _ in 0..1_000 {
        let retry = MonitorEvent::Denied {
            api: "user.getProfile",
            reason: DenyReason::Capability,
        };
        assert!(feed(&*w, [retry, event_end(1_000)]).is_empty());
    }
}

#[test]
fn rate_limit_hits_and_malformed_calls_are_stopped() {
    let f = fixture(Rules {
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    let hit = MonitorEvent::Denied {
        api: "clock.now",
        reason: DenyReason::RateLimit,
    };
    assert_eq!(
        feed(&*w, std::iter::repeat_n(hit, 25_000)),
        [Verdict::Throttle, Verdict::Terminate]
    );
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    let bad = MonitorEvent::Denied {
        api: "\u{0}",
        reason: DenyReason::Malformed,
    };
    assert_eq!(
        feed(&*w, std::iter::repeat_n(bad, 1_000)),
        [Verdict::Terminate]
    );
}

#[test]
fn an_app_burning_its_fuel_every_event_is_terminated() {
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    // Seven hot events, one cool one: the run starts again.
    assert!(feed(&*w, std::iter::repeat_n(event_end(950_000), 7)).is_empty());
    assert!(feed(&*w, [event_end(10_000)]).is_empty());
    let verdicts = feed(&*w, std::iter::repeat_n(event_end(999_999), 8));
    assert_eq!(verdicts, [Verdict::Terminate]);
    assert_eq!(
        f.alerts.rules(),
        [(rule::FUEL_BURN.into(), Verdict::Terminate)]
    );
}

#[test]
fn memory_growing_every_event_is_terminated_past_the_floor() {
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    let mut verdicts = Vec::new();
    let mut at = 0;
    for pages in 17..200u32 {
        let v = feed(&*w, [MonitorEvent::MemoryGrown { pages }, event_end(1_000)]);
        if !v.is_empty() && at == 0 {
            at = pages;
        }
        verdicts.extend(v);
    }
    assert_eq!(verdicts, [Verdict::Terminate]);
    // Fired as soon as the run was long enough and memory past the 64-page floor.
    assert_eq!(at, 64);
    // Growth with quiet events between is a normal app's: nothing.
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    for pages in 17..200u32 {
        assert!(feed(&*w, [MonitorEvent::MemoryGrown { pages }, event_end(1_000)]).is_empty());
        assert!(feed(&*w, [event_end(1_000)]).is_empty());
    }
}

#[test]
fn a_storage_write_flood_and_quota_hammering_are_stopped() {
    let f = fixture(Rules {
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    let write = MonitorEvent::StorageWrite { bytes: 100 };
    assert_eq!(
        feed(&*w, std::iter::repeat_n(write, 500)),
        [Verdict::Terminate]
    );
    // Bytes count as well as writes.
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    assert_eq!(
        feed(&*w, [MonitorEvent::StorageWrite { bytes: 5 << 20 }]),
        [Verdict::Terminate]
    );
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    assert_eq!(
        feed(&*w, std::iter::repeat_n(MonitorEvent::QuotaHit, 20)),
        [Verdict::Terminate]
    );
    assert_eq!(
        f.alerts.rules(),
        [(rule::STORAGE_QUOTA.into(), Verdict::Terminate)]
    );
}

#[test]
fn repeated_terminations_become_a_quarantine_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        // The host's own sealed state, over a real home and anchor file.
        let home =
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let anchor =
            Arc::new(sandframe_gateway::FileAnchor::open(&dir.path().join("anchor")).unwrap());
        let lock = sandframe_durable::HomeLock::open(&home, "home").unwrap();
        let state = sandframe_gateway::SealedState::open(&home, anchor, [7; 32], lock).unwrap();
        let alerts = Arc::new(Alerts::default());
        let m = SandframeMonitor::builder()
            .alerts(alerts.clone())
            .quarantine_state(Arc::new(state))
            .build()
            .unwrap();
        (m, alerts)
    };
    let (m, alerts) = build();
    let burn = std::iter::repeat_n(event_end(1_000_000), 8);
    for _ in 0..2 {
        let w = m.watch(&app()).unwrap();
        assert_eq!(feed(&*w, burn.clone()), [Verdict::Terminate]);
    }
    let w = m.watch(&app()).unwrap();
    assert_eq!(feed(&*w, burn.clone()), [Verdict::Quarantine]);
    assert!(m.is_quarantined(&app()));
    assert!(matches!(m.watch(&app()), Err(Error::Denied(_))));
    assert_eq!(alerts.rules().last().unwrap().1, Verdict::Quarantine);
    // Another app is not touched.
    let other: AppId = "com.example.other".parse().unwrap();
    assert!(m.watch(&other).is_ok());
    drop(m);
    // A new monitor over the same state (a host restart) still refuses it.
    let (m, _) = build();
    assert!(m.is_quarantined(&app()));
    assert!(m.watch(&app()).is_err());
    assert!(!m.is_quarantined(&other));
    // Until the host releases it.
    m.release(&app()).unwrap();
    assert!(!m.is_quarantined(&app()));
    assert!(m.watch(&app()).is_ok());
    let (m, _) = build();
    assert!(m.watch(&app()).is_ok());
}

#[test]
fn traps_in_a_row_across_relaunches_quarantine_but_terminations_do_not_count() {
    let f = fixture(Rules::default());
    let trap = |kind| {
        [
            MonitorEvent::Trap { kind },
            MonitorEvent::EventHandled {
                fuel_used: 10,
                fuel_budget: 1_000_000,
            },
        ]
    };
    // Traps the host caused (terminate verdicts) are not the app's fault.
    for _ in 0..5 {
        let w = f.monitor.watch(&app()).unwrap();
        assert!(feed(&*w, trap(TrapKind::Terminated)).is_empty());
    }
    // A clean event between traps resets the run.
    for _ in 0..2 {
        let w = f.monitor.watch(&app()).unwrap();
        assert!(feed(&*w, trap(TrapKind::StackOverflow)).is_empty());
    }
    let w = f.monitor.watch(&app()).unwrap();
    assert!(feed(&*w, [event_end(10), event_end(10)]).is_empty());
    // A clean sf_init (a watch's first event) does not: an app whose every event traps is
    // in a run, however often it is relaunched.
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let w = f.monitor.watch(&app()).unwrap();
        verdicts.extend(feed(&*w, [event_end(10)]));
        verdicts.extend(feed(&*w, trap(TrapKind::OutOfBounds)));
    }
    assert_eq!(verdicts, [Verdict::Quarantine]);
    assert_eq!(
        f.alerts.rules(),
        [(rule::TRAPS.into(), Verdict::Quarantine)]
    );
}

#[test]
fn anomalies_against_the_apps_own_baseline_warn() {
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    // A steady app: 100 calls and 200k fuel an event.
    for _ in 0..100 {
        let mut events = vec![CALL; 100];
        events.push(event_end(200_000));
        assert!(feed(&*w, events).is_empty());
    }
    // One event with 60x the calls and 50x the fuel.
    let mut events = vec![CALL; 6_000];
    events.push(MonitorEvent::EventHandled {
        fuel_used: 10_000_000,
        fuel_budget: 30_000_000,
    });
    // Both rules fire on that event (the strongest verdict is returned once).
    assert_eq!(feed(&*w, events), [Verdict::Warn]);
    let mut rules = f.alerts.rules();
    rules.sort();
    assert_eq!(
        rules,
        [
            (rule::CALL_ANOMALY.into(), Verdict::Warn),
            (rule::FUEL_ANOMALY.into(), Verdict::Warn)
        ]
    );
}

/// A long session of normal use (calls, some refusals, storage writes, memory growing now
/// and then, events of varied weight) raises no alert at all.
#[test]
fn normal_use_raises_nothing() {
    // Simulated time: a person triggers an event every 100 ms.
    let (clock, time) = quanta::Clock::mock();
    let alerts = Arc::new(Alerts::default());
    let audit = Arc::new(Audit::default());
    let monitor = SandframeMonitor::builder()
        .clock(clock)
        .alerts(alerts.clone())
        .audit(audit.clone())
        .build()
        .unwrap();
    let f = Fixture {
        monitor,
        alerts,
        audit,
    };
    let w = f.monitor.watch(&app()).unwrap();
    let mut pages = 17;
    for i in 0..5_000u64 {
        let mut events = vec![CALL; (i % 37) as usize];
        if i % 50 == 0 {
            // Asks for a capability before it is granted, now and then.
            events.push(MonitorEvent::Denied {
                api: "user.getProfile",
                reason: DenyReason::Capability,
            });
        }
        if i % 3 == 0 {
            events.push(MonitorEvent::StorageWrite { bytes: 300 });
        }
        if i % 200 == 0 {
            pages += 1;
            events.push(MonitorEvent::MemoryGrown { pages });
        }
        events.push(event_end(20_000 + (i % 13) * 10_000));
        assert!(
            feed(&*w, events).is_empty(),
            "event {i}: {:?}",
            f.alerts.rules()
        );
        time.increment(Duration::from_millis(100));
    }
    assert!(f.alerts.rules().is_empty());
    assert!(f.audit.0.lock().unwrap().is_empty());
}

/// The rule enum and the stable ids agree: each rule's id is its own, in `ALL`'s order, and
/// no two rules share an id (a fired rule counts against itself alone).
#[test]
fn every_rule_has_its_own_stable_id() {
    use sandframe_monitor::rule::{self, Rule};
    assert_eq!(Rule::EVERY.len(), rule::ALL.len());
    for (i, r) in Rule::EVERY.iter().enumerate() {
        assert_eq!(*r as usize, i, "{r:?} is out of order");
        assert_eq!(r.id(), rule::ALL[i]);
    }
    let ids: std::collections::BTreeSet<&str> = Rule::EVERY.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), rule::ALL.len(), "two rules share an id");
    assert_eq!(Rule::CallRate.id(), rule::CALL_RATE);
    assert_eq!(Rule::StorageQuota.id(), rule::STORAGE_QUOTA);
}

/// A state that takes no change (a home made read-only, or full).
struct Unwritable;

impl sandframe_core::HomeState for Unwritable {
    fn get(&self, _: &str, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn names(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn set(&self, _: &str, _: &str, _: Option<&[u8]>) -> Result<(), Error> {
        Err(Error::Unavailable("the home is read-only".into()))
    }
}

#[test]
fn an_unwritable_state_does_not_let_an_app_escape_its_quarantine() {
    let m = SandframeMonitor::builder()
        .alerts(Arc::new(Alerts::default()))
        .quarantine_state(Arc::new(Unwritable))
        .build()
        .unwrap();
    let burn = std::iter::repeat_n(event_end(1_000_000), 8);
    for _ in 0..2 {
        let w = m.watch(&app()).unwrap();
        assert_eq!(feed(&*w, burn.clone()), [Verdict::Terminate]);
    }
    // Counted in memory when the state refuses them: the third still quarantines.
    let w = m.watch(&app()).unwrap();
    assert_eq!(feed(&*w, burn.clone()), [Verdict::Quarantine]);
    assert!(m.is_quarantined(&app()));
    assert!(m.watch(&app()).is_err());
}

#[test]
fn network_probing_and_a_fetch_flood_are_stopped() {
    // Refused destinations: the ninth in a window terminates.
    let f = fixture(Rules {
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    assert_eq!(
        feed(&*w, std::iter::repeat_n(MonitorEvent::FetchRefused, 20)),
        [Verdict::Terminate]
    );
    assert_eq!(
        f.alerts.rules(),
        [(rule::NET_PROBE.into(), Verdict::Terminate)]
    );
    // Requests sent: past 100 in a window, throttled; again, terminated.
    let f = fixture(Rules {
        window: Duration::from_secs(3600),
        ..Rules::default()
    });
    let w = f.monitor.watch(&app()).unwrap();
    let verdicts = feed(&*w, std::iter::repeat_n(MonitorEvent::FetchSent, 250));
    assert_eq!(verdicts, [Verdict::Throttle, Verdict::Terminate]);
    // Answer bytes count as well.
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    assert_eq!(
        feed(&*w, [MonitorEvent::FetchBytes { bytes: 65 << 20 }]),
        [Verdict::Throttle]
    );
    assert_eq!(f.alerts.rules()[0].0, rule::NET_FLOOD);
    // An app that fetches a little, and is refused once or twice, is left alone.
    let f = fixture(Rules::default());
    let w = f.monitor.watch(&app()).unwrap();
    let mut quiet = Vec::new();
    for _ in 0..20 {
        quiet.push(MonitorEvent::FetchSent);
        quiet.push(MonitorEvent::FetchBytes { bytes: 10_000 });
    }
    quiet.push(MonitorEvent::FetchRefused);
    quiet.push(MonitorEvent::FetchRefused);
    assert!(feed(&*w, quiet).is_empty());
}
