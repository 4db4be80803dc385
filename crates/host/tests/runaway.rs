//! Invariant 11 through the real host: every runaway (`sandframe_testkit::runaway`, plus a loop
//! of `storage.set` against real files) is installed, launched on a logic thread and stopped
//! by its own event budget (its fuel, or its CPU deadline where a point costs more time than
//! the price table assumes: the dependent loads), while a neighbour on the same host is
//! served between them and after. No wall time is asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;
use sandframe_host::{AppId, Host, HostError, RuntimeError, TrapKind};
use sandframe_testkit::runaway::{STORAGE_CAPABILITY, STORAGE_FLOOD, runaways};
use sandframe_testkit::{CLOCK_APP, manifest, sign};

fn id(s: &str) -> AppId {
    s.parse().unwrap()
}

fn install(h: &Host, app: &str, extra: &str, wat: &str) -> AppId {
    h.install(&sign(&manifest(app, extra), wat::parse_str(wat).unwrap()))
        .unwrap();
    let app = id(app);
    assert_eq!(h.launch(&app).unwrap(), 0, "{app}: sf_init");
    app
}

fn stopped_by_budget(r: &Result<i32, HostError>) -> bool {
    matches!(
        r,
        Err(HostError::Stopped(RuntimeError::Trapped {
            kind: TrapKind::FuelExhausted | TrapKind::DeadlineExceeded,
            ..
        }))
    )
}

#[test]
fn every_runaway_is_stopped_by_its_budget_and_the_neighbour_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::host_in(dir.path().join("home"))
        .threads(2)
        .build()
        .unwrap();
    let neighbour = install(&h, "com.example.neighbour", "", CLOCK_APP);
    let mut apps: Vec<(String, AppId)> = runaways()
        .into_iter()
        .map(|case| (case.name.to_owned(), install(&h, &case.id(), "", &case.wat)))
        .collect();
    apps.push((
        "storage.set".into(),
        install(
            &h,
            "com.example.runaway.storage",
            STORAGE_CAPABILITY,
            STORAGE_FLOOD,
        ),
    ));
    for (name, app) in &apps {
        let r = h.dispatch(app, b"{\"handler\":\"x\",\"detail\":{}}");
        assert!(
            stopped_by_budget(&r),
            "{name}: not stopped by its budget: {r:?}"
        );
        assert_eq!(
            h.dispatch(&neighbour, b"{}").unwrap(),
            i32::from(b'{'),
            "{name}: the neighbour was not served"
        );
    }
    // The storage flood made real, durable writes, and no more than its fuel paid for: each
    // write has a fixed price (an fsync's worth), paid before it runs.
    let storage = id("com.example.runaway.storage");
    assert_eq!(h.storage().get(&storage, "k").unwrap().unwrap(), b"1");
    let records = h.audit_records(Some(&storage)).unwrap();
    let sets = records
        .iter()
        .filter(|r| r.action == "call" && r.subject == "storage.set" && r.outcome == "allowed")
        .count() as u64;
    let paid = sandframe_runtime::DEFAULT_FUEL_PER_EVENT / sandframe_runtime::price::STORAGE_WRITE;
    assert!(
        sets >= 1 && sets <= paid,
        "{sets} storage.set calls in one event, {paid} paid for"
    );
}
