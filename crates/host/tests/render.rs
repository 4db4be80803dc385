//! The render side through a real host: the bundled example's view opens at launch, its
//! `ui.setData` reaches the HTML surface, a tap on its button goes through the render side to
//! its handler, an event on an element with no handler is dropped and audited, hostile view
//! data stays text, and a setData flood meets the rate limit like any call.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use sandframe_host::{Anchor, AppId, FileAnchor, Host, HostError, Misuse, audit};
use sandframe_testkit::{manifest, sign, tap};

fn host(dir: &std::path::Path) -> Host {
    common::host_in(dir.join("home")).build().unwrap()
}

#[test]
fn the_hello_example_renders_and_a_tap_reaches_its_handler() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path());
    let bytes = sandframe_testkit::example("hello");
    h.install(&bytes).unwrap();
    let app: AppId = "dev.sandframe.hello".parse().unwrap();
    assert_eq!(h.launch(&app).unwrap(), 0, "ui.setData is served now");
    let html = h.html(&app).unwrap().unwrap();
    assert!(html.contains("Taps: 0"), "{html}");
    assert!(
        html.contains("data-sf-path=\"2\" data-sf-events=\"tap\""),
        "{html}"
    );
    for n in 1..=3 {
        assert_eq!(h.surface_event(tap(&app, vec![2])).unwrap(), Some(0));
        let html = h.html(&app).unwrap().unwrap();
        assert!(html.contains(&format!("Taps: {n}")), "{html}");
    }
    // The text has no handler: dropped, audited, the count unchanged.
    assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), None);
    assert_eq!(h.surface_event(tap(&app, vec![7, 7])).unwrap(), None);
    assert!(h.html(&app).unwrap().unwrap().contains("Taps: 3"));
    h.flush_audit().unwrap();
    let anchor = FileAnchor::open(&dir.path().join("home.audit-anchor")).unwrap();
    let log = std::fs::read(dir.path().join("home/audit.log")).unwrap();
    let dropped = audit::read(&log, &anchor.key(), &anchor.head())
        .unwrap()
        .into_iter()
        .filter(|r| r.layer == "render" && r.action == "event" && r.outcome == "denied")
        .count();
    assert_eq!(dropped, 2);
    // A stopped app's view is gone with it.
    h.terminate(&app).unwrap();
    assert!(matches!(
        h.surface_event(tap(&app, vec![2])),
        Err(HostError::Misuse(Misuse::NotRunning(_)))
    ));
}

const UI: &str = "[[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n";

#[test]
fn hostile_view_data_stays_text_and_a_set_data_flood_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path());
    // Sets {"a": "<script>…"} at init; every event calls ui.setData 5,000 times and returns
    // how many calls were answered.
    let data = r#"{"a":"<script>alert(1)</script>\" onload=\"x"}"#;
    let escaped = data.replace('\\', "\\\\").replace('"', "\\\"");
    let wat = format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "ui.setData")
  (data (i32.const 32) "{escaped}")
  (func (export "sf_init") (result i32)
    (drop (call $call (i32.const 0) (i32.const 10) (i32.const 32) (i32.const {len})))
    i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (local $i i32) (local $ok i32)
    (loop $l
      (if (i64.ge_s (call $call (i32.const 0) (i32.const 10) (i32.const 32) (i32.const {len}))
                    (i64.const 0))
        (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))
    (local.get $ok)))"#,
        len = data.len()
    );
    let app: AppId = "com.example.hostile".parse().unwrap();
    let template = r#"<view class="{{a}}"><text>{{a}}</text></view>"#;
    let mut c = sandframe_package::PackageContents::new(manifest(app.as_str(), UI).into_bytes());
    c.add_file("logic.wasm", wat::parse_str(&wat).unwrap())
        .unwrap();
    c.add_file("views/index.xml", template.as_bytes().to_vec())
        .unwrap();
    h.install(&c.sign(&sandframe_testkit::key()).unwrap())
        .unwrap();
    h.launch(&app).unwrap();
    let html = h.html(&app).unwrap().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("\" onload"), "{html}");
    // The default rate: a burst of 1,000, then 10,000 a second; 5,000 calls in one event
    // take well under the 0.4 s it would need to earn the rest.
    let start = std::time::Instant::now();
    let answered = h.dispatch(&app, b"{}").unwrap();
    let bound = 1_000 + (start.elapsed().as_secs_f64() * 10_000.0) as i32 + 10;
    assert!(
        (1_000..=bound).contains(&answered),
        "{answered} answered, at most {bound} allowed"
    );

    // Without ui:render declared, every ui.setData is refused: the same loop is then 5,000
    // refused calls for a capability it never declared, which the monitor stops as probing.
    let bare: AppId = "com.example.bare".parse().unwrap();
    h.install(&sign(
        &manifest(bare.as_str(), ""),
        wat::parse_str(&wat).unwrap(),
    ))
    .unwrap();
    h.launch(&bare).unwrap();
    assert!(
        matches!(
            h.dispatch(&bare, b"{}"),
            Err(HostError::Stopped(
                sandframe_runtime::RuntimeError::Trapped {
                    kind: sandframe_core::TrapKind::Terminated,
                    ..
                }
            ))
        ),
        "refused ui.setData calls are refusals like any other"
    );
}
