//! The mini-program lifecycle through a real host: show and hide, idle suspension and the
//! relaunch on the next event, updates that keep storage and ask consent again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use std::time::Duration;

use sandframe_host::{AppId, AppState, Capability, Host};
use sandframe_testkit::{CLOCK_APP, example, manifest, sign, tap};

/// A host on `<dir>/home` trusting the testkit key, suspending apps idle for `idle`.
fn host(dir: &std::path::Path, idle: Option<Duration>) -> Host {
    common::host_in(dir.join("home"))
        .idle_timeout(idle)
        .build()
        .unwrap()
}

fn state(h: &Host, app: &AppId) -> AppState {
    h.list()
        .unwrap()
        .into_iter()
        .find(|s| &s.app == app)
        .map(|s| s.state)
        .unwrap()
}

fn count(h: &Host, app: &AppId) -> String {
    let html = h.html(app).unwrap().unwrap();
    let at = html.find("Count: ").unwrap_or_else(|| panic!("{html}"));
    html[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

#[test]
fn an_idle_app_is_suspended_and_its_next_tap_relaunches_it_with_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), Some(Duration::from_millis(50)));
    let app = h.install(&example("counter")).unwrap().app;
    h.launch(&app).unwrap();
    for _ in 0..2 {
        assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), Some(0));
    }
    assert_eq!(state(&h, &app), AppState::Running);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(h.suspend_idle().unwrap(), std::slice::from_ref(&app));
    assert_eq!(state(&h, &app), AppState::Suspended);
    // Its last view is kept for the person to see; the instance is gone.
    assert_eq!(count(&h, &app), "2");
    // The next tap relaunches it (sf_init reads the count back from storage) and lands.
    assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), Some(0));
    assert_eq!(count(&h, &app), "3");
    assert_eq!(state(&h, &app), AppState::Running);
    let actions: Vec<String> = h
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .filter(|r| r.layer == "host")
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["install", "launch", "suspend", "launch"]);
    // An explicit terminate is not a suspension: no event brings the app back.
    h.terminate(&app).unwrap();
    assert_eq!(state(&h, &app), AppState::Stopped);
    assert!(h.surface_event(tap(&app, vec![1])).is_err());
    // Stopped, nothing of its view stays on the surface (nor after an uninstall).
    assert_eq!(h.html(&app).unwrap(), None);
    h.launch(&app).unwrap();
    assert_eq!(count(&h, &app), "3");
    h.uninstall(&app).unwrap();
    assert_eq!(h.html(&app).unwrap(), None);
}

#[test]
fn show_and_hide_reach_the_app_and_a_missing_handler_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), None);
    let app = h.install(&example("counter")).unwrap().app;
    h.launch(&app).unwrap();
    // The counter has no onHide / onShow handler: the SDK answers bad_request (4).
    assert_eq!(h.hide(&app).unwrap(), 4);
    assert_eq!(state(&h, &app), AppState::Hidden);
    assert_eq!(h.show(&app).unwrap(), 4);
    assert_eq!(state(&h, &app), AppState::Running);
    // Never suspended without an idle timeout.
    assert!(h.suspend_idle().unwrap().is_empty());
    let failed = h
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .filter(|r| r.outcome == "failed")
        .count();
    assert_eq!(
        failed, 0,
        "a lifecycle event with no handler is not audited as failed"
    );
    // Hiding a stopped app does nothing.
    h.terminate(&app).unwrap();
    assert_eq!(h.hide(&app).unwrap(), 0);
}

#[test]
fn an_update_keeps_storage_restarts_the_app_and_asks_consent_again_for_what_it_adds() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), Some(sandframe_host::DEFAULT_IDLE));
    let id = "com.example.update";
    let profile = "[[capabilities]]\nname = \"user:readProfile\"\nreason = \"Greet you\"\n";
    let storage = "[[capabilities]]\nname = \"storage:local\"\nreason = \"Remember\"\n";
    let version = |v: &str, extra: &str| {
        sign(
            &manifest(id, extra).replace("1.0.0", v),
            wat::parse_str(CLOCK_APP).unwrap(),
        )
    };
    let app: AppId = id.parse().unwrap();
    let cap: Capability = "user:readProfile".parse().unwrap();
    h.install(&version("1.0.0", &format!("{storage}{profile}")))
        .unwrap();
    h.grant(&app, &cap).unwrap();
    h.storage().set(&app, "k", b"kept").unwrap();
    h.launch(&app).unwrap();

    // 2.0.0 drops the profile: the running 1.0.0 stops, the next event runs 2.0.0.
    let two = h.install(&version("2.0.0", storage)).unwrap();
    assert!(two.added_capabilities.is_empty());
    assert_eq!(state(&h, &app), AppState::Suspended);
    assert_eq!(h.dispatch(&app, b"{}").unwrap(), i32::from(b'{'));
    assert_eq!(h.info(&app).unwrap().summary.version, "2.0.0");
    assert_eq!(state(&h, &app), AppState::Running);

    // 3.0.0 adds it back: the grant given to 1.0.0 does not carry over.
    let three = h
        .install(&version("3.0.0", &format!("{storage}{profile}")))
        .unwrap();
    assert_eq!(three.added_capabilities, std::slice::from_ref(&cap));
    assert!(
        h.grants(&app)
            .unwrap()
            .iter()
            .all(|g| g.capability() != &cap),
        "consent is asked again for an added capability"
    );
    // Storage survived both updates.
    assert_eq!(h.storage().get(&app, "k").unwrap().unwrap(), b"kept");
    let info = h.info(&app).unwrap();
    assert_eq!(info.summary.version, "3.0.0");
    assert_eq!(info.capabilities.len(), 2);
    assert_eq!(info.grants.as_deref(), Some(&[][..]));
}

#[test]
fn assets_are_served_from_assets_only_and_no_path_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), Some(sandframe_host::DEFAULT_IDLE));
    let mut c =
        sandframe_package::PackageContents::new(manifest("com.example.assets", "").into_bytes());
    c.add_file("logic.wasm", wat::parse_str(CLOCK_APP).unwrap())
        .unwrap();
    c.add_file("views/index.xml", b"<view/>".to_vec()).unwrap();
    c.add_file("assets/img/dot.png", b"png!".to_vec()).unwrap();
    let app = h
        .install(&c.sign(&sandframe_testkit::key()).unwrap())
        .unwrap()
        .app;
    assert_eq!(
        h.asset(&app, "img/dot.png").unwrap().as_deref(),
        Some(&b"png!"[..])
    );
    for escape in [
        "../logic.wasm",
        "../manifest.toml",
        "../views/index.xml",
        "img/../../logic.wasm",
        "img/../dot.png",
        "/etc/passwd",
        "",
        "img",
    ] {
        assert_eq!(h.asset(&app, escape).unwrap(), None, "{escape:?}");
    }
    let other: AppId = "com.example.absent".parse().unwrap();
    assert!(h.asset(&other, "img/dot.png").is_err());
}

#[test]
fn two_events_at_a_suspended_app_relaunch_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), None);
    let app = h.install(&example("counter")).unwrap().app;
    h.launch(&app).unwrap();
    assert!(h.suspend(&app).unwrap());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert_eq!(h.surface_event(tap(&app, vec![1])).unwrap(), Some(0)));
        }
    });
    // Both taps landed on one relaunched instance, and its view kept both.
    assert_eq!(count(&h, &app), "2");
    let launches = h
        .audit_records(Some(&app))
        .unwrap()
        .into_iter()
        .filter(|r| r.layer == "host" && r.action == "launch")
        .count();
    assert_eq!(launches, 2, "the first launch and one relaunch");
}
