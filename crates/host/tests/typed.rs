//! `typed_api`: the request is parsed strictly into its type before the closure runs, a
//! request that does not fit is `bad_request` with the reason, and the answer is JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sandframe_host::{ApiError, AppContext, ErrorCode, Watch, typed_api};

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
        declared: Vec::new(),
        limits: Default::default(),
        monitor: Watch::none(),
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
