//! The gateway's door, tried with hostile calls: each asserts the verdict and its audit record
//! (read back from a real `AuditLog` through `audit::read`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use sandframe_core::{
    ApiError, AppContext, AuditSink, Capability, Consent, ConsentDecision, ConsentRequest,
    Declared, ErrorCode, EventSender, Gateway, GatewaySession, HomeState as _,
};
use sandframe_gateway::{
    APIS, Api, AuditLog, GrantStore, MemoryAnchor, Policy, Rate, SandframeGateway, SealedState,
    StoredRecord, audit,
};

struct Fixture {
    home: tempfile::TempDir,
    anchor: Arc<MemoryAnchor>,
    log: Arc<AuditLog>,
    lock: sandframe_durable::HomeLock,
    state: Arc<SealedState>,
}

impl Fixture {
    fn new() -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let anchor = Arc::new(MemoryAnchor::new([9; 32]));
        let lock = sandframe_durable::HomeLock::open(&self_dir(&home), "home").unwrap();
        let log = Arc::new(
            AuditLog::open_locked(&self_dir(&home), anchor.clone(), lock.clone()).unwrap(),
        );
        let state = Arc::new(
            SealedState::open(&self_dir(&home), anchor.clone(), [5; 32], lock.clone()).unwrap(),
        );
        Fixture {
            home,
            anchor,
            log,
            lock,
            state,
        }
    }

    fn grants(&self) -> Arc<GrantStore> {
        Arc::new(GrantStore::open(self.state.clone()))
    }

    /// The sealed state read again from disk, as a restarted host would.
    fn reopened_state(&self) -> Arc<SealedState> {
        Arc::new(
            SealedState::open(
                &self_dir(&self.home),
                self.anchor.clone(),
                [5; 32],
                self.lock.clone(),
            )
            .unwrap(),
        )
    }

    /// Every record so far, after a flush, verified against the anchor.
    fn records(&self) -> Vec<StoredRecord> {
        self.log.flush().unwrap();
        let bytes = std::fs::read(self.home.path().join("audit.log")).unwrap();
        audit::read(
            &bytes,
            &[9; 32],
            &sandframe_gateway::Anchor::head(&*self.anchor),
        )
        .unwrap()
    }
}

fn self_dir(home: &tempfile::TempDir) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(home.path(), cap_std::ambient_authority()).unwrap()
}

fn context(declared: &[&str]) -> AppContext {
    AppContext {
        app: "com.example.door".parse().unwrap(),
        name: "Door".into(),
        version: "1.0.0".into(),
        declared: declared
            .iter()
            .map(|c| Declared {
                capability: c.parse().unwrap(),
                reason: format!("because {c}"),
                scope: Vec::new(),
            })
            .collect(),
        limits: Default::default(),
        monitor: Default::default(),
        sources: None,
        views: None,
    }
}

/// One call as one event: the session commits its audit batch when the event ends.
fn call(s: &mut Box<dyn GatewaySession>, api: &str, req: &[u8]) -> Result<String, ApiError> {
    let r = call_in_event(s, api, req);
    s.idle();
    r
}

/// One call inside a longer event (no commit).
fn call_in_event(
    s: &mut Box<dyn GatewaySession>,
    api: &str,
    req: &[u8],
) -> Result<String, ApiError> {
    let mut out = Vec::new();
    s.call(api.as_bytes(), req, &mut out)
        .map(|()| String::from_utf8(out).unwrap())
}

fn code(r: Result<String, ApiError>) -> ErrorCode {
    r.expect_err("expected an error").code()
}

/// A profile API the host registers for `user.getProfile`.
struct Profile;

impl Api for Profile {
    fn call(&self, _: &AppContext, _: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        response.extend_from_slice(br#"{"name":"Ada"}"#);
        Ok(())
    }
}

/// A consent that blocks until the test answers, counting how often it was asked.
struct Person {
    answers: Mutex<Receiver<ConsentDecision>>,
    asked: AtomicUsize,
}

impl Consent for Person {
    fn decide(&self, _: &ConsentRequest) -> ConsentDecision {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.answers
            .lock()
            .unwrap()
            .recv()
            .unwrap_or(ConsentDecision::Deny)
    }
}

fn person() -> (Arc<Person>, Sender<ConsentDecision>) {
    let (tx, rx) = channel();
    (
        Arc::new(Person {
            answers: Mutex::new(rx),
            asked: AtomicUsize::new(0),
        }),
        tx,
    )
}

#[test]
fn every_capability_api_is_denied_without_a_grant_and_audited() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .api(
            "user.getProfile",
            Some("user:readProfile"),
            Arc::new(Profile),
        )
        .build()
        .unwrap();
    // Undeclared: every capability API is denied, whatever the policy.
    let mut bare = gw.open(&context(&[]), EventSender::none()).unwrap();
    // Declared but not granted (user:readProfile and storage:share need consent).
    let mut asked = gw
        .open(
            &context(&["user:readProfile", "storage:share"]),
            EventSender::none(),
        )
        .unwrap();
    let mut expected = Vec::new();
    for spec in APIS {
        let Some(cap) = spec.capability else { continue };
        let e = call(&mut bare, spec.name, b"{}").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Denied, "{}", spec.name);
        assert!(e.message().contains("does not declare"), "{}", e.message());
        expected.push((spec.name, cap, "does not declare"));
        if matches!(cap, "user:readProfile" | "storage:share") {
            let e = call(&mut asked, spec.name, b"{}").unwrap_err();
            assert_eq!(e.code(), ErrorCode::Denied, "{}", spec.name);
            assert!(e.message().contains("not granted"), "{}", e.message());
            expected.push((spec.name, cap, "not granted"));
        }
    }
    let records = f.records();
    assert_eq!(records.len(), expected.len());
    for (r, (api, cap, why)) in records.iter().zip(&expected) {
        assert_eq!(
            (r.action.as_str(), r.subject.as_str(), r.capability.as_str()),
            ("call", *api, *cap)
        );
        assert_eq!(r.outcome, "denied");
        assert!(r.detail.contains(why), "{}", r.detail);
        assert_eq!(r.app, "com.example.door");
    }
    // Sequence numbers are dense from 0.
    assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64));
}

#[test]
fn requesting_an_undeclared_capability_is_denied_outright() {
    let f = Fixture::new();
    let (p, _answers) = person();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .consent(p.clone())
        .build()
        .unwrap();
    let mut s = gw.open(&context(&[]), EventSender::none()).unwrap();
    let e = call(
        &mut s,
        "capability.request",
        br#"{"capability":"user:readProfile"}"#,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Denied);
    assert_eq!(p.asked.load(Ordering::SeqCst), 0, "no one was asked");
    let r = &f.records()[0];
    assert_eq!(
        (r.subject.as_str(), r.outcome.as_str()),
        ("capability.request", "denied")
    );
}

#[test]
fn consent_is_asked_off_thread_and_the_decision_arrives_as_an_event() {
    let f = Fixture::new();
    let grants = f.grants();
    let (p, answers) = person();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(grants.clone())
        .consent(p.clone())
        .api(
            "user.getProfile",
            Some("user:readProfile"),
            Arc::new(Profile),
        )
        .build()
        .unwrap();
    let (events_tx, events) = channel();
    let events_tx = Mutex::new(events_tx);
    let sender = EventSender::new(move |e| {
        let _ = events_tx.lock().unwrap().send(e);
    });
    let ctx = context(&["user:readProfile", "ui:render"]);
    let mut s = gw.open(&ctx, sender).unwrap();

    // Policy answers ui:render at once; user:readProfile waits for a person.
    let ui = call(
        &mut s,
        "capability.request",
        br#"{"capability":"ui:render"}"#,
    )
    .unwrap();
    assert!(ui.contains(r#""status":"granted""#), "{ui}");
    let req = br#"{"capability":"user:readProfile"}"#;
    let first = call(&mut s, "capability.request", req).unwrap();
    assert!(first.contains(r#""status":"pending""#), "{first}");
    // The person has not answered, yet the logic thread is free: calls go on.
    assert!(call(&mut s, "clock.now", b"").is_ok());
    let again = call(&mut s, "capability.request", req).unwrap();
    assert!(again.contains("pending"), "{again}");
    assert_eq!(
        code(call(&mut s, "user.getProfile", b"{}")),
        ErrorCode::Denied
    );

    answers.send(ConsentDecision::Grant).unwrap();
    let event: serde_json::Value = serde_json::from_slice(&events.recv().unwrap()).unwrap();
    assert_eq!(event["handler"], "sf.consent");
    assert_eq!(event["detail"]["capability"], "user:readProfile");
    assert_eq!(event["detail"]["granted"], true);
    assert_eq!(
        p.asked.load(Ordering::SeqCst),
        1,
        "asked once for two requests"
    );

    // Granted: the API now answers, and the grant is stored and listed.
    assert_eq!(
        call(&mut s, "user.getProfile", b"{}").unwrap(),
        r#"{"name":"Ada"}"#
    );
    let list: serde_json::Value =
        serde_json::from_str(&call(&mut s, "capability.list", b"").unwrap()).unwrap();
    assert_eq!(
        list["granted"],
        serde_json::json!(["user:readProfile", "ui:render"])
    );
    let reopened = GrantStore::open(f.reopened_state());
    let stored = reopened.list(&ctx.app).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].capability().as_str(), "user:readProfile");

    let records = f.records();
    let consent = records.iter().find(|r| r.action == "consent").unwrap();
    assert_eq!(
        (consent.subject.as_str(), consent.outcome.as_str()),
        ("user:readProfile", "allowed")
    );
}

#[test]
fn a_refusal_arrives_as_an_event_and_grants_nothing() {
    let f = Fixture::new();
    let (p, answers) = person();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .consent(p)
        .build()
        .unwrap();
    let (tx, events) = channel();
    let tx = Mutex::new(tx);
    let mut s = gw
        .open(
            &context(&["user:readProfile"]),
            EventSender::new(move |e| {
                let _ = tx.lock().unwrap().send(e);
            }),
        )
        .unwrap();
    call(
        &mut s,
        "capability.request",
        br#"{"capability":"user:readProfile"}"#,
    )
    .unwrap();
    answers.send(ConsentDecision::Deny).unwrap();
    let event: serde_json::Value = serde_json::from_slice(&events.recv().unwrap()).unwrap();
    assert_eq!(event["detail"]["granted"], false);
    assert_eq!(
        code(call(&mut s, "user.getProfile", b"{}")),
        ErrorCode::Denied
    );
    let consent = f
        .records()
        .into_iter()
        .find(|r| r.action == "consent")
        .unwrap();
    assert_eq!(consent.outcome, "denied");
}

#[test]
fn a_grant_revoked_mid_run_is_gone_at_the_next_call() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(f.grants())
        .api(
            "user.getProfile",
            Some("user:readProfile"),
            Arc::new(Profile),
        )
        .build()
        .unwrap();
    let ctx = context(&["user:readProfile"]);
    let cap: Capability = "user:readProfile".parse().unwrap();
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    assert_eq!(
        code(call(&mut s, "user.getProfile", b"")),
        ErrorCode::Denied
    );
    gw.grant(&ctx.app, &cap).unwrap();
    assert!(
        call(&mut s, "user.getProfile", b"").is_ok(),
        "granted mid-run"
    );
    assert!(gw.revoke(&ctx.app, &cap).unwrap());
    let e = call(&mut s, "user.getProfile", b"").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Denied);
    assert!(gw.grants(&ctx.app).unwrap().is_empty());
    let outcomes: Vec<(String, String)> = f
        .records()
        .into_iter()
        .map(|r| (r.action, r.outcome))
        .collect();
    let want = [
        ("call", "denied"),
        ("grant", "allowed"),
        ("call", "allowed"),
        ("revoke", "allowed"),
        ("call", "denied"),
    ];
    assert_eq!(
        outcomes,
        want.map(|(a, o)| (a.to_owned(), o.to_owned())).to_vec()
    );
}

#[test]
fn policy_lists_deny_host_wide_and_per_app() {
    let f = Fixture::new();
    let ctx = context(&[]);
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .policy(
            Policy::new()
                .deny_api("random.bytes")
                .deny_api_for(&ctx.app, "log"),
        )
        .build()
        .unwrap();
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    let e = call(&mut s, "random.bytes", br#"{"len":4}"#).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Denied);
    assert!(e.message().contains("policy"), "{}", e.message());
    assert_eq!(
        code(call(&mut s, "log", br#"{"message":"hi"}"#)),
        ErrorCode::Denied
    );
    assert!(call(&mut s, "clock.now", b"").is_ok());
    // Another app is not under the per-app list.
    let mut other = gw
        .open(
            &AppContext {
                app: "com.example.other".parse().unwrap(),
                ..context(&[])
            },
            EventSender::none(),
        )
        .unwrap();
    assert!(call(&mut other, "log", br#"{"message":"hi"}"#).is_ok());
    let records = f.records();
    assert_eq!(records[0].subject, "random.bytes");
    assert!(records[0].detail.contains("policy"));
    assert_eq!(records[1].outcome, "denied");
    assert_eq!(records[2].outcome, "allowed");
}

#[test]
fn huge_and_malformed_requests_are_refused_and_audited() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .build()
        .unwrap();
    let mut s = gw.open(&context(&[]), EventSender::none()).unwrap();
    let huge = vec![b' '; 100 << 20];
    assert_eq!(code(call(&mut s, "log", &huge)), ErrorCode::TooLarge);
    assert_eq!(
        code(call(&mut s, "log", b"{\"message\": ")),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(call(&mut s, "log", b"\xff\xfe")),
        ErrorCode::BadRequest
    );
    let mut out = Vec::new();
    let e = s.call(b"\xffnot utf8", b"", &mut out).unwrap_err();
    s.idle();
    assert_eq!(e.code(), ErrorCode::BadRequest);
    assert_eq!(
        code(call(&mut s, "no.such.api", b"")),
        ErrorCode::UnknownApi
    );
    let records = f.records();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].bytes_in, 100 << 20);
    assert!(records.iter().all(|r| r.outcome == "denied"));
    assert_eq!(records[3].subject, "(not UTF-8)");
    assert_eq!(records[4].subject, "no.such.api");
}

#[test]
fn a_call_flood_is_rate_limited_folded_in_the_audit_and_throttle_slows_it() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .rate(
            "clock.now",
            Rate {
                burst: 100,
                period: std::time::Duration::from_secs(3600),
            },
        )
        .build()
        .unwrap();
    let ctx = context(&[]);
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..1_000_000 {
        match call_in_event(&mut s, "clock.now", b"") {
            Ok(_) => ok += 1,
            Err(e) if e.code() == ErrorCode::RateLimited => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 100, "exactly the burst gets through");
    assert_eq!(limited, 999_900);
    // Another API is limited separately.
    assert!(call(&mut s, "random.bytes", br#"{"len":1}"#).is_ok());
    let records = f.records();
    // 100 allowed, the first denial, the random.bytes call, then (at the event's end) one
    // folded record for the other 999,899 denials.
    assert_eq!(records.len(), 103, "{:?}", &records[99..]);
    assert_eq!(records[100].outcome, "denied");
    assert_eq!(records[101].subject, "random.bytes");
    assert!(
        records[102]
            .detail
            .starts_with("999899 more calls refused with rate_limited"),
        "{}",
        records[102].detail
    );

    // A throttle verdict swaps in the slow rate (burst 10).
    gw.throttle(&ctx.app, true);
    let mut s2 = gw.open(&ctx, EventSender::none()).unwrap();
    let passed = (0..100)
        .filter(|_| call(&mut s2, "log", br#"{"message":"x"}"#).is_ok())
        .count();
    assert_eq!(passed, 10);
}

#[test]
fn a_registered_api_cannot_replace_a_builtin_or_change_a_capability() {
    let f = Fixture::new();
    let b = || SandframeGateway::builder().audit(f.log.clone());
    assert!(
        b().api("clock.now", None, Arc::new(Profile))
            .build()
            .is_err()
    );
    assert!(
        b().api("user.getProfile", None, Arc::new(Profile))
            .build()
            .is_err()
    );
    assert!(
        b().api("Bad Name", None, Arc::new(Profile))
            .build()
            .is_err()
    );
    assert!(
        SandframeGateway::builder().build().is_err(),
        "an audit sink is required"
    );
    let gw = b()
        .api("host.weather", Some("host:weather"), Arc::new(Profile))
        .build()
        .unwrap();
    let mut s = gw
        .open(&context(&["host:weather"]), EventSender::none())
        .unwrap();
    assert_eq!(code(call(&mut s, "host.weather", b"")), ErrorCode::Denied);
}

#[test]
fn an_unusable_audit_sink_means_no_answer() {
    struct Broken;
    impl AuditSink for Broken {
        fn record(&self, _: &sandframe_core::AuditRecord<'_>) -> Result<(), sandframe_core::Error> {
            Err(sandframe_core::Error::Unavailable("disk full".into()))
        }
        fn flush(&self) -> Result<(), sandframe_core::Error> {
            Ok(())
        }
    }
    let gw = SandframeGateway::builder()
        .audit(Arc::new(Broken))
        .build()
        .unwrap();
    let mut s = gw.open(&context(&[]), EventSender::none()).unwrap();
    let mut out = Vec::new();
    let e = s.call(b"clock.now", b"", &mut out).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Internal);
    assert!(out.is_empty(), "no response leaks out unaudited");
}

#[test]
fn a_consent_answered_after_uninstall_grants_nothing() {
    let f = Fixture::new();
    let grants = f.grants();
    let (p, answers) = person();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(grants.clone())
        .consent(p)
        .build()
        .unwrap();
    let (tx, events) = channel();
    let tx = Mutex::new(tx);
    let ctx = context(&["user:readProfile"]);
    let mut s = gw
        .open(
            &ctx,
            EventSender::new(move |e| {
                let _ = tx.lock().unwrap().send(e);
            }),
        )
        .unwrap();
    call(
        &mut s,
        "capability.request",
        br#"{"capability":"user:readProfile"}"#,
    )
    .unwrap();
    gw.forget(&ctx.app).unwrap(); // uninstalled while the person thinks
    answers.send(ConsentDecision::Grant).unwrap();
    let event: serde_json::Value = serde_json::from_slice(&events.recv().unwrap()).unwrap();
    assert_eq!(event["detail"]["granted"], false);
    assert!(grants.list(&ctx.app).unwrap().is_empty());
    assert!(
        !f.reopened_state()
            .contains(sandframe_gateway::GRANTS_KIND, "com.example.door")
    );
}

#[test]
fn a_flood_of_refused_calls_of_any_kind_is_folded_per_event() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .build()
        .unwrap();
    let mut s = gw.open(&context(&[]), EventSender::none()).unwrap();
    // Undeclared capabilities, unknown names and bad requests, interleaved, 30,000 times.
    for i in 0..10_000 {
        assert!(call_in_event(&mut s, "user.getProfile", b"").is_err());
        assert!(call_in_event(&mut s, &format!("no.such{}", i % 7), b"").is_err());
        assert!(call_in_event(&mut s, "log", b"not json").is_err());
    }
    s.idle();
    let records = f.records();
    // One record per kind when first seen, one folded record per kind at the event's end.
    // The kinds: undeclared (denied), no such API, not JSON (bad_request), and, once `log`
    // passes its burst, rate_limited.
    assert!(records.len() <= 8, "{records:?}");
    let folded: u64 = records
        .iter()
        .filter_map(|r| r.detail.split_once(" more calls refused"))
        .map(|(n, _)| n.parse::<u64>().unwrap())
        .sum();
    let firsts = records
        .iter()
        .filter(|r| !r.detail.contains("(folded)"))
        .count() as u64;
    assert_eq!(
        folded + firsts,
        30_000,
        "every refused call is accounted for"
    );
}

/// Records what the gateway reports to the app's monitor.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<String>>);

impl sandframe_core::AppMonitor for Seen {
    fn observe(&self, e: &sandframe_core::MonitorEvent<'_>) -> sandframe_core::Verdict {
        let line = match e {
            sandframe_core::MonitorEvent::Call { api, .. } => format!("call {api}"),
            sandframe_core::MonitorEvent::Denied { api, reason } => {
                format!("denied {api} {reason:?}")
            }
            other => format!("{other:?}"),
        };
        self.0.lock().unwrap().push(line);
        sandframe_core::Verdict::Allow
    }
}

/// The monitor sees every call and every refusal by the gateway's own checks, with the
/// reason; an API's own "no" (here a host API refusing) is its answer, not a refusal to
/// count against the app, but asking for an undeclared capability is.
#[test]
fn the_monitor_sees_calls_and_the_gateways_refusals_not_an_apis_own_answers() {
    struct No;
    impl Api for No {
        fn call(&self, _: &AppContext, _: &[u8], _: &mut Vec<u8>) -> Result<(), ApiError> {
            Err(ApiError::new(
                ErrorCode::Denied,
                "the owner has not shared it",
            ))
        }
    }
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .api("host.shared", None, Arc::new(No))
        .policy(Policy::new().deny_api("random.bytes"))
        .build()
        .unwrap();
    let seen = Arc::new(Seen::default());
    let ctx = AppContext {
        monitor: sandframe_core::Watch::new(seen.clone()),
        sources: None,
        views: None,
        ..context(&[])
    };
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    assert!(call(&mut s, "clock.now", b"").is_ok());
    for _ in 0..3 {
        assert_eq!(code(call(&mut s, "host.shared", b"")), ErrorCode::Denied);
    }
    assert_eq!(
        code(call(&mut s, "user.getProfile", b"")),
        ErrorCode::Denied
    );
    assert_eq!(
        code(call(&mut s, "random.bytes", br#"{"n":4}"#)),
        ErrorCode::Denied
    );
    assert_eq!(
        code(call(
            &mut s,
            "capability.request",
            br#"{"capability":"user:readProfile"}"#
        )),
        ErrorCode::Denied
    );
    assert_eq!(code(call(&mut s, "no.such", b"")), ErrorCode::UnknownApi);
    assert_eq!(code(call(&mut s, "clock.now", b"{")), ErrorCode::BadRequest);
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            "call clock.now",
            "denied user.getProfile Capability",
            "denied random.bytes Policy",
            "denied capability.request Capability",
            "denied no.such Malformed",
            "denied clock.now Malformed",
        ]
    );
}

/// A host API that answers later: it answers "pending" at once, and what it posts through
/// `call_posting`'s sender reaches the app's own event sender (the one its session was
/// opened with), as `net.fetch` will.
struct Later;

impl Api for Later {
    fn call(&self, _: &AppContext, _: &[u8], _: &mut Vec<u8>) -> Result<(), ApiError> {
        Err(ApiError::new(
            ErrorCode::Internal,
            "the gateway must call call_posting",
        ))
    }

    fn call_posting(
        &self,
        _: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
        events: &EventSender,
    ) -> Result<(), ApiError> {
        let mut event = br#"{"handler":"later","detail":"#.to_vec();
        event.extend_from_slice(request);
        event.push(b'}');
        events.post(event);
        response.extend_from_slice(br#"{"status":"pending"}"#);
        Ok(())
    }
}

#[test]
fn a_host_api_posts_its_answer_as_an_event_of_the_calling_app() {
    let f = Fixture::new();
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .api("host.later", None, Arc::new(Later))
        .build()
        .unwrap();
    let posted = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let sink = Arc::clone(&posted);
    let mut s = gw
        .open(
            &context(&[]),
            EventSender::new(move |e| sink.lock().unwrap().push(e)),
        )
        .unwrap();
    assert_eq!(
        call(&mut s, "host.later", br#"{"n":7}"#).unwrap(),
        r#"{"status":"pending"}"#
    );
    assert_eq!(
        posted.lock().unwrap().as_slice(),
        [br#"{"handler":"later","detail":{"n":7}}"#.to_vec()]
    );
    // A session opened without a sender drops what the API posts, and still answers.
    let mut quiet = gw.open(&context(&[]), EventSender::none()).unwrap();
    assert_eq!(
        call(&mut quiet, "host.later", b"{}").unwrap(),
        r#"{"status":"pending"}"#
    );
    assert_eq!(posted.lock().unwrap().len(), 1);
}

/// Answers with the scope the gateway handed it, so a test can see what a grant reaches.
struct ScopeSpy;

impl Api for ScopeSpy {
    fn call(&self, _: &AppContext, _: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        response.extend_from_slice(b"\"unscoped\"");
        Ok(())
    }

    fn call_scoped(
        &self,
        _: &AppContext,
        scope: &[sandframe_core::OriginPattern],
        _: &[u8],
        response: &mut Vec<u8>,
        _: &EventSender,
    ) -> Result<(), ApiError> {
        serde_json::to_writer(response, scope).unwrap();
        Ok(())
    }
}

/// A consent that grants, and keeps every question it was asked.
#[derive(Default)]
struct Recorder(Mutex<Vec<ConsentRequest>>);

impl Consent for Recorder {
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        self.0.lock().unwrap().push(request.clone());
        ConsentDecision::Grant
    }
}

fn net_context(origins: &[&str]) -> AppContext {
    let mut ctx = context(&[]);
    ctx.declared.push(Declared {
        capability: "net:fetch".parse().unwrap(),
        reason: "sync".into(),
        scope: origins.iter().map(|o| o.parse().unwrap()).collect(),
    });
    ctx
}

/// The `sf.consent` event, then the scope `net.fetch` is handed.
fn consent_then_scope(
    s: &mut Box<dyn GatewaySession>,
    events: &Receiver<Vec<u8>>,
) -> serde_json::Value {
    let asked = call(s, "capability.request", br#"{"capability":"net:fetch"}"#).unwrap();
    assert!(asked.contains("pending"), "{asked}");
    let event: serde_json::Value = serde_json::from_slice(
        &events
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(event["detail"]["granted"], true, "{event}");
    serde_json::from_str(&call(s, "net.fetch", b"{}").unwrap()).unwrap()
}

#[test]
fn a_net_grant_carries_its_origins_and_an_update_asks_again_for_new_ones() {
    let f = Fixture::new();
    let grants = f.grants();
    let person = Arc::new(Recorder::default());
    let policy = Policy::new().deny_origin("https://evil.cdn.example.com".parse().unwrap());
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(grants.clone())
        .consent(person.clone())
        .policy(policy)
        .api("net.fetch", Some("net:fetch"), Arc::new(ScopeSpy))
        .build()
        .unwrap();
    let (tx, events) = channel();
    let tx = Mutex::new(tx);
    let sender = EventSender::new(move |e| {
        let _ = tx.lock().unwrap().send(e);
    });

    // Version 1 declares an exact origin and a wildcard that policy's deny overlaps.
    let v1 = net_context(&["https://api.example.com", "https://*.cdn.example.com"]);
    let mut s = gw.open(&v1, sender.clone()).unwrap();
    assert_eq!(code(call(&mut s, "net.fetch", b"{}")), ErrorCode::Denied);
    let scope = consent_then_scope(&mut s, &events);
    assert_eq!(scope, serde_json::json!(["https://api.example.com"]));
    // The person was shown exactly what is granted: the wildcard policy denies is not in it.
    let asked = person.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].scope,
        vec!["https://api.example.com".parse().unwrap()]
    );
    // Asking again with nothing new is answered at once.
    let again = call(
        &mut s,
        "capability.request",
        br#"{"capability":"net:fetch"}"#,
    )
    .unwrap();
    assert!(again.contains("granted"), "{again}");
    let list: serde_json::Value =
        serde_json::from_str(&call(&mut s, "capability.list", b"").unwrap()).unwrap();
    assert_eq!(
        list["origins"],
        serde_json::json!(["https://api.example.com"])
    );
    assert_eq!(
        list["declared"][0]["origins"],
        serde_json::json!(["https://api.example.com", "https://*.cdn.example.com"])
    );
    drop(s);
    // The grant is stored with its scope.
    let stored = GrantStore::open(f.reopened_state()).list(&v1.app).unwrap();
    assert_eq!(
        stored[0].scope(),
        &["https://api.example.com".parse().unwrap()][..]
    );

    // Version 2 adds an origin: it starts ungranted, and asking asks again for the list.
    let v2 = net_context(&["https://api.example.com", "https://eu.api.example.com"]);
    let mut s = gw.open(&v2, sender.clone()).unwrap();
    let before: serde_json::Value =
        serde_json::from_str(&call(&mut s, "net.fetch", b"{}").unwrap()).unwrap();
    assert_eq!(before, serde_json::json!(["https://api.example.com"]));
    let after = consent_then_scope(&mut s, &events);
    assert_eq!(
        after,
        serde_json::json!(["https://api.example.com", "https://eu.api.example.com"])
    );
    assert_eq!(person.0.lock().unwrap().len(), 2);
    drop(s);

    // Version 3 drops the first origin: the grant no longer reaches it.
    let v3 = net_context(&["https://eu.api.example.com"]);
    let mut s = gw.open(&v3, sender).unwrap();
    let scope: serde_json::Value =
        serde_json::from_str(&call(&mut s, "net.fetch", b"{}").unwrap()).unwrap();
    assert_eq!(scope, serde_json::json!(["https://eu.api.example.com"]));
}

#[test]
fn policy_that_leaves_no_origin_denies_the_request_and_allow_lists_narrow() {
    let f = Fixture::new();
    let app: sandframe_core::AppId = "com.example.door".parse().unwrap();
    let policy = Policy::new()
        .grant_without_asking("net:fetch".parse().unwrap())
        .allow_only_origins_for(&app, ["https://*.example.com".parse().unwrap()]);
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(f.grants())
        .policy(policy)
        .api("net.fetch", Some("net:fetch"), Arc::new(ScopeSpy))
        .build()
        .unwrap();
    let ctx = net_context(&[
        "https://api.example.com",
        "https://api.example.org",
        "https://example.com",
    ]);
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    let scope: serde_json::Value =
        serde_json::from_str(&call(&mut s, "net.fetch", b"{}").unwrap()).unwrap();
    // Granted by policy: what the allow list leaves (one label under example.com).
    assert_eq!(scope, serde_json::json!(["https://api.example.com"]));
    drop(s);
    let gw = SandframeGateway::builder()
        .audit(f.log.clone())
        .grants(f.grants())
        .policy(Policy::new().allow_only_origins(["https://other.example.net".parse().unwrap()]))
        .api("net.fetch", Some("net:fetch"), Arc::new(ScopeSpy))
        .build()
        .unwrap();
    let mut s = gw.open(&ctx, EventSender::none()).unwrap();
    let r = call(
        &mut s,
        "capability.request",
        br#"{"capability":"net:fetch"}"#,
    )
    .unwrap();
    assert!(r.contains(r#""status":"denied""#), "{r}");
}
