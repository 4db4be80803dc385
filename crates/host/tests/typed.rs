//! `typed_api`: the request is parsed strictly into its type before the closure runs, a
//! request that does not fit is `bad_request` with the reason, and the answer is JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

mod common;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use sandframe_host::{
    ApiError, AppContext, AppId, ErrorCode, EventSender, Later, Watch, typed_api, typed_later_api,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    a: u32,
    b: u32,
}

fn context() -> AppContext {
    AppContext {
        app: "com.example.typed".parse().unwrap(),
        name: "Typed".into(),
        version: "1.0.0".into(),
        declared: Vec::new(),
        limits: Default::default(),
        monitor: Watch::none(),
        sources: None,
        views: None,
    }
}

#[test]
fn a_typed_api_parses_its_request_strictly_and_answers_json() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let api = typed_api(move |app: &AppContext, req: Add| {
        counted.fetch_add(1, Ordering::Relaxed);
        req.a
            .checked_add(req.b)
            .map(|sum| serde_json::json!({ "sum": sum, "app": app.app.as_str() }))
            .ok_or_else(|| ApiError::new(ErrorCode::TooLarge, "the sum overflows"))
    });
    let ctx = context();
    let mut out = Vec::new();
    api.call(&ctx, br#"{"a": 2, "b": 3}"#, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "sum": 5, "app": "com.example.typed" })
    );
    // The closure's own refusal reaches the guest with its code.
    out.clear();
    let e = api
        .call(&ctx, br#"{"a": 4294967295, "b": 1}"#, &mut out)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::TooLarge);
    assert_eq!(runs.load(Ordering::Relaxed), 2);
    // Requests that do not fit never reach it. (serde also reads a struct from an array of
    // its fields in order, `[2, 3]`: that is serde's rule, and fits.)
    for bad in [
        &br#"{"a": 1}"#[..],
        br#"{"a": 1, "b": 2, "c": 3}"#,
        br#"{"a": -1, "b": 2}"#,
        br#"{"a": 1, "b": "2"}"#,
        b"",
    ] {
        out.clear();
        let e = api.call(&ctx, bad, &mut out).unwrap_err();
        assert_eq!(
            e.code(),
            ErrorCode::BadRequest,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(e.message().contains("does not fit"), "{}", e.message());
    }
    assert_eq!(runs.load(Ordering::Relaxed), 2);
}

#[test]
fn an_empty_request_reads_as_null() {
    let api = typed_api(|_app: &AppContext, req: Option<Add>| {
        Ok::<_, ApiError>(serde_json::json!({ "given": req.is_some() }))
    });
    let mut out = Vec::new();
    api.call(&context(), b"  ", &mut out).unwrap();
    assert_eq!(out, br#"{"given":false}"#);
}

/// Calls `api` as the gateway would, with a sender that collects the posted events.
fn call_later(
    api: &Arc<dyn sandframe_host::Api>,
    request: &[u8],
) -> (
    Result<serde_json::Value, ApiError>,
    std::sync::mpsc::Receiver<serde_json::Value>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let events = EventSender::new(move |e| {
        let v = serde_json::from_slice(&e).unwrap();
        tx.lock().unwrap().send(v).unwrap();
    });
    let mut out = Vec::new();
    let answer = api
        .call_posting(&context(), request, &mut out, &events)
        .map(|()| serde_json::from_slice(&out).unwrap());
    (answer, rx)
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_later_api_answers_pending_and_posts_the_answer_once_from_another_thread() {
    let api = typed_later_api("sum.later", |_app, req: Add, later: Later<u32>| {
        if req.a == 0 {
            return Err(ApiError::new(ErrorCode::BadRequest, "a must not be 0"));
        }
        std::thread::spawn(move || {
            let answer = req
                .a
                .checked_add(req.b)
                .ok_or_else(|| ApiError::new(ErrorCode::TooLarge, "the sum overflows"));
            later.send(answer);
        });
        Ok(())
    });
    let (answer, events) = call_later(&api, br#"{"a": 2, "b": 3}"#);
    assert_eq!(
        answer.unwrap(),
        serde_json::json!({ "status": "pending", "id": 1 })
    );
    assert_eq!(
        events.recv_timeout(WAIT).unwrap(),
        serde_json::json!({ "handler": "sum.later", "detail": { "id": 1, "ok": 5 } })
    );
    assert!(
        events.recv_timeout(Duration::from_millis(100)).is_err(),
        "one answer only"
    );

    // The closure's later refusal arrives as an error event with its code.
    let (answer, events) = call_later(&api, br#"{"a": 4294967295, "b": 1}"#);
    assert_eq!(answer.unwrap()["id"], 2);
    let e = events.recv_timeout(WAIT).unwrap();
    assert_eq!(e["detail"]["id"], 2);
    assert_eq!(e["detail"]["error"]["code"], "too_large");
    assert!(e["detail"].get("ok").is_none());

    // A refusal at once fails the call, and no event follows.
    let (answer, events) = call_later(&api, br#"{"a": 0, "b": 1}"#);
    assert_eq!(answer.unwrap_err().code(), ErrorCode::BadRequest);
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());

    // A request that does not fit never reaches the closure.
    let (answer, events) = call_later(&api, br#"{"a": 1}"#);
    assert_eq!(answer.unwrap_err().code(), ErrorCode::BadRequest);
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn a_later_dropped_unanswered_answers_internal_exactly_once() {
    // Dropped inside the closure, before the call has answered pending.
    let api = typed_later_api("drop.inside", |_app, (): (), later: Later<()>| {
        drop(later);
        Ok(())
    });
    let (answer, events) = call_later(&api, b"");
    let id = answer.unwrap()["id"].clone();
    let e = events.recv_timeout(WAIT).unwrap();
    assert_eq!(e["detail"]["id"], id);
    assert_eq!(e["detail"]["error"]["code"], "internal");
    assert!(events.recv_timeout(Duration::from_millis(100)).is_err());

    // Dropped on another thread, racing the call's return.
    let api = typed_later_api("drop.thread", |_app, (): (), later: Later<()>| {
        std::thread::spawn(move || drop(later));
        Ok(())
    });
    for _ in 0..200 {
        let (answer, events) = call_later(&api, b"");
        assert!(answer.is_ok());
        let e = events.recv_timeout(WAIT).unwrap();
        assert_eq!(e["detail"]["error"]["code"], "internal");
        assert!(events.recv_timeout(Duration::from_millis(2)).is_err());
    }

    // Dropped by a closure that then refuses: the refusal is the only answer.
    let api = typed_later_api("drop.refuse", |_app, (): (), later: Later<()>| {
        drop(later);
        Err(ApiError::new(ErrorCode::Denied, "no"))
    });
    let (answer, events) = call_later(&api, b"");
    assert_eq!(answer.unwrap_err().code(), ErrorCode::Denied);
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

/// On a `tap` calls `echo.later`; counts the `echo.later` events it receives and answers
/// each event with that count.
const LATER_APP: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "echo.later")
  (data (i32.const 32) "\"hi\"")
  (global $answers (mut i32) (i32.const 0))
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (drop (call $read (i32.const 1024) (i32.const 1024)))
    ;; {"handler":"<name>": byte 12 is the name's first letter
    (if (i32.eq (i32.load8_u (i32.const 1036)) (i32.const 101)) ;; e: echo.later
      (then (global.set $answers (i32.add (global.get $answers) (i32.const 1)))))
    (if (i32.eq (i32.load8_u (i32.const 1036)) (i32.const 116)) ;; t: tap
      (then (drop (call $call (i32.const 0) (i32.const 10) (i32.const 32) (i32.const 4)))))
    (global.get $answers)))"#;

#[test]
fn a_later_answer_reaches_the_app_on_its_logic_thread_through_a_real_host() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let h = common::host_in(dir.path().join("home"))
        .api(
            "echo.later",
            None,
            typed_later_api("echo.later", move |_app, text: String, later| {
                record.lock().unwrap().push(text.clone());
                std::thread::spawn(move || later.send(Ok(text.to_uppercase())));
                Ok(())
            }),
        )
        .threads(1)
        .build()
        .unwrap();
    let app: AppId = "com.example.later".parse().unwrap();
    h.install(&sandframe_testkit::sign(
        &sandframe_testkit::manifest(app.as_str(), ""),
        wat::parse_str(LATER_APP).unwrap(),
    ))
    .unwrap();
    h.launch(&app).unwrap();
    assert_eq!(
        h.dispatch(&app, br#"{"handler":"tap","detail":{}}"#)
            .unwrap(),
        0
    );
    let start = std::time::Instant::now();
    let mut answers = 0;
    while answers == 0 && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(5));
        answers = h.dispatch(&app, br#"{"handler":"probe"}"#).unwrap();
    }
    assert_eq!(answers, 1, "the answer arrived once, as an event");
    assert_eq!(*seen.lock().unwrap(), vec!["hi".to_owned()]);
}
