//! `AuditRecord::new` and its setters: each sets its own field and no other, and the
//! defaults are the empty values a sink expects (no app, nothing measured, stamped by it).

#![allow(clippy::unwrap_used)] // a test: failing loudly is the point

use sandframe_core::{AppId, AuditOutcome, AuditRecord, Layer};

#[test]
fn each_setter_sets_its_field_and_the_rest_stay_empty() {
    let bare = AuditRecord::new(
        Layer::Host,
        "install",
        "com.example.a",
        AuditOutcome::Allowed,
    );
    assert!(bare.app.is_none());
    assert_eq!(
        (
            bare.capability,
            bare.detail,
            bare.latency_ns,
            bare.bytes_in,
            bare.bytes_out,
            bare.unix_ms
        ),
        ("", "", 0, 0, 0, 0)
    );
    let app: AppId = "com.example.a".parse().unwrap();
    let full = bare
        .app(Some(&app))
        .capability("storage:local")
        .detail("why")
        .latency_ns(7)
        .bytes(3, 4)
        .at(99);
    assert_eq!(full.app, Some(&app));
    assert_eq!(
        (full.layer, full.action, full.subject),
        (Layer::Host, "install", "com.example.a")
    );
    assert_eq!(full.outcome, AuditOutcome::Allowed);
    assert_eq!(
        (
            full.capability,
            full.detail,
            full.latency_ns,
            full.bytes_in,
            full.bytes_out,
            full.unix_ms
        ),
        ("storage:local", "why", 7, 3, 4, 99)
    );
}
