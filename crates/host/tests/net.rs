//! `net.fetch` through a real host: a real guest, the real gateway (capability, grant scope,
//! rate limits, audit), the real network door and a real HTTPS service on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sandframe_host::{AppId, Capability, Host, HostBuilder, NetConfig, StaticResolver};
use sandframe_testkit::https::LocalService;

const API: &str = "api.test.example";

/// A package for `app` declaring `ui:render` and `net:fetch` with `origins`.
fn package(app: &str, origins: &[String], wat: &str) -> Vec<u8> {
    package_at(app, "1.0.0", origins, wat)
}

/// [`package`] at `version`.
fn package_at(app: &str, version: &str, origins: &[String], wat: &str) -> Vec<u8> {
    let list = origins
        .iter()
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let manifest = sandframe_testkit::manifest(
        app,
        &format!(
            "[[capabilities]]\nname = \"ui:render\"\nreason = \"show it\"\n\n[[capabilities]]\nname = \"net:fetch\"\nreason = \"reach its service\"\norigins = [{list}]\n"
        ),
    )
    .replacen("version = \"1.0.0\"", &format!("version = \"{version}\""), 1);
    let mut c = sandframe_package::PackageContents::new(manifest.into_bytes());
    c.add_file("logic.wasm", wat::parse_str(wat).unwrap())
        .unwrap();
    c.add_file(
        "views/index.xml",
        b"<view><text>{{data}}</text><text>size={{size}}</text></view>".to_vec(),
    )
    .unwrap();
    c.sign(&sandframe_testkit::key()).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    service: LocalService,
    host: Host,
}

/// A host whose network door resolves `api.test.example` to 127.0.0.1 (allowed), trusting the
/// service's throwaway CA only; `tune` adds to the builder.
fn world(tune: impl FnOnce(HostBuilder) -> HostBuilder) -> World {
    let dir = tempfile::tempdir().unwrap();
    let service = LocalService::start(&[API]).unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let net = NetConfig::new()
        .without_public_roots()
        .trust_root(service.ca_der())
        .resolver(Arc::new(StaticResolver::new().with(API, [lo])))
        .allow_range("127.0.0.1/32".parse().unwrap())
        .timeout(Duration::from_secs(10));
    let host = tune(common::host_in(dir.path().join("home")).net(net))
        .build()
        .unwrap();
    World {
        _dir: dir,
        service,
        host,
    }
}

impl World {
    fn origin(&self) -> String {
        format!("https://{API}:{}", self.service.port())
    }

    fn request(&self, path: &str) -> String {
        serde_json::json!({"url": format!("{}{path}", self.origin())}).to_string()
    }

    /// Installs `app` fetching `path` at launch, with its origin declared.
    fn install(&self, app: &str, path: &str) -> AppId {
        let wat = sandframe_testkit::fetch_guest(&self.request(path), 0);
        self.host
            .install(&package(app, &[self.origin()], &wat))
            .unwrap()
            .app
    }

    fn html(&self, app: &AppId) -> String {
        self.host.html(app).unwrap().unwrap_or_default()
    }

    /// Waits up to 10 s for `what` to hold.
    fn until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn net_fetch() -> Capability {
    Capability::NET_FETCH.parse().unwrap()
}

#[test]
fn a_granted_app_fetches_its_origin_and_reads_the_answer() {
    let w = world(|b| b);
    let app = w.install("com.example.fetcher", "/hello?secret=query");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    // The answer event arrives by itself; the guest reads the body and shows it.
    let expected = base64::engine::general_purpose::STANDARD.encode("hello from the test service");
    w.until("the answer in the view", || {
        w.html(&app).contains(&expected)
    });
    assert!(w.html(&app).contains("size=27"), "{}", w.html(&app));
    assert_eq!(w.host.answers_held(&app), 0, "read to its end, it is freed");
    // The service was told which app called.
    let seen = w.service.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].headers["user-agent"].contains("com.example.fetcher/1.0.0"));
    // Audited: origin and path, never the query.
    w.host.flush_audit().unwrap();
    let fetches: Vec<_> = w
        .host
        .audit_records(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "fetch")
        .collect();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert_eq!(fetches[0].subject, format!("{}/hello", w.origin()));
    assert_eq!(fetches[0].detail, "GET 200");
    assert_eq!(fetches[0].outcome, "allowed");
    assert!(!format!("{fetches:?}").contains("secret"));
}

#[test]
fn without_a_grant_the_request_never_leaves() {
    let w = world(|b| b);
    let app = w.install("com.example.ungranted", "/hello");
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.service.connections(), 0);
    assert_eq!(w.host.requests_in_flight(&app), 0);
    w.host.flush_audit().unwrap();
    let denied = w
        .host
        .audit_records(None)
        .unwrap()
        .into_iter()
        .any(|r| r.subject == "net.fetch" && r.outcome == "denied");
    assert!(denied, "the refused call is audited");
}

#[test]
fn a_host_without_a_network_door_refuses_net_fetch_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let host = common::host_in(dir.path().join("home")).build().unwrap();
    let wat = sandframe_testkit::fetch_guest("", 0);
    let err = host
        .install(&package(
            "com.example.nonet",
            &["https://api.example.com".into()],
            &wat,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("SF-V201"), "{err}");
}

#[test]
fn terminate_and_uninstall_cancel_requests_in_flight_and_leave_nothing() {
    let w = world(|b| b);
    let app = w.install("com.example.slow", "/slow?ms=4000");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    assert!(w.host.terminate(&app).unwrap());
    w.until("the request cancelled", || {
        w.host.requests_in_flight(&app) == 0
    });
    // Launched again it asks again; uninstalled, nothing is left in flight or held.
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the second request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    w.host.uninstall(&app).unwrap();
    w.until("the second request cancelled", || {
        w.host.requests_in_flight(&app) == 0
    });
    assert_eq!(w.host.answers_held(&app), 0);
}

#[test]
fn an_app_waiting_for_an_answer_is_not_suspended_as_idle() {
    let w = world(|b| b.idle_timeout(Some(Duration::from_millis(50))));
    let app = w.install("com.example.patient", "/slow?ms=1500");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        w.host.suspend_idle().unwrap().is_empty(),
        "suspended while waiting"
    );
    w.until("the answer", || w.html(&app).contains("size=4"));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(w.host.suspend_idle().unwrap(), vec![app]);
}

#[test]
fn an_update_that_adds_an_origin_gets_it_ungranted() {
    let w = world(|b| b);
    let origin = w.origin();
    let app = w.install("com.example.grows", "/hello");
    w.host.grant(&app, &net_fetch()).unwrap();
    let granted = w.host.grants(&app).unwrap();
    assert_eq!(granted[0].scope().len(), 1);
    assert_eq!(granted[0].scope()[0].to_string(), origin);
    // Version 2 also declares eu.api.test.example: the stored grant does not reach it.
    let wat = sandframe_testkit::fetch_guest(&w.request("/hello"), 0);
    let v2 = package_at(
        "com.example.grows",
        "2.0.0",
        &[
            origin.clone(),
            format!("https://eu.{API}:{}", w.service.port()),
        ],
        &wat,
    );
    let installed = w.host.install(&v2).unwrap();
    assert!(
        installed.added_capabilities.is_empty(),
        "net:fetch itself is not new"
    );
    // The grant still reaches only the first origin.
    let granted = w.host.grants(&app).unwrap();
    assert_eq!(granted[0].scope().len(), 1);
    // Granting again reaches both.
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.grants(&app).unwrap()[0].scope().len(), 2);
}

#[test]
fn a_fetch_flood_is_stopped_by_the_monitor_while_a_neighbour_is_served() {
    // The monitor's rate-denial rule, lowered so that the flood trips it well inside one
    // event's fuel, even when parallel tests slow the host down (each call's measured host
    // time is priced in fuel).
    let rules = sandframe_host::Rules {
        max_rate_denials_per_window: 60,
        ..sandframe_host::Rules::default()
    };
    let w = world(|b| b.rules(rules));
    let flood = sandframe_testkit::fetch_guest(&w.request("/hello"), 2_000);
    let flooder = w
        .host
        .install(&package("com.example.flood", &[w.origin()], &flood))
        .unwrap()
        .app;
    let neighbour = w.install("com.example.neighbour", "/hello");
    for app in [&flooder, &neighbour] {
        w.host.grant(app, &net_fetch()).unwrap();
    }
    assert_eq!(w.host.launch(&flooder).unwrap(), 0);
    assert_eq!(w.host.launch(&neighbour).unwrap(), 0);
    // The flood: one event calling net.fetch 2,000 times. The caps on requests in flight and
    // answers held refuse all but a few, and the monitor stops the app.
    let r = w
        .host
        .dispatch(&flooder, br#"{"handler":"go","detail":{}}"#);
    let e = r.expect_err("the flooding event ran to its end");
    assert!(
        e.to_string().contains("Terminated"),
        "stopped by the monitor, not fuel: {e}"
    );
    w.host.flush_audit().unwrap();
    let verdicts: Vec<_> = w
        .host
        .audit_records(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.layer == "monitor" && r.app == flooder.as_str())
        .map(|r| format!("{} {} {}", r.action, r.subject, r.detail))
        .collect();
    assert!(
        verdicts.iter().any(|v| v.contains("rate")),
        "no rate verdict: {verdicts:?}"
    );
    // At most 10 in flight, and 16 answers held and in flight together (an answer held
    // until the flooder reads it, which it never does): the flooder's 16 and the neighbour's
    // one, however fast the service answers.
    assert!(
        w.service.seen().len() <= 17,
        "{} requests reached the service",
        w.service.seen().len()
    );
    // The neighbour was served all the same.
    let expected = base64::engine::general_purpose::STANDARD.encode("hello from the test service");
    w.until("the neighbour's answer", || {
        w.html(&neighbour).contains(&expected)
    });
    w.until("the flooder's requests cancelled", || {
        w.host.requests_in_flight(&flooder) == 0
    });
}

#[test]
fn a_large_answer_is_read_through_the_real_gateway_chunk_by_chunk() {
    let w = world(|b| b);
    // Larger than one read: the first chunk's answer fits the gateway's cap.
    let app = w.install("com.example.large", "/big?n=200000");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the first chunk in the view", || {
        w.html(&app).contains("size=200000")
    });
    let first =
        base64::engine::general_purpose::STANDARD.encode(vec![b'x'; sandframe_net::MAX_READ_BYTES]);
    assert!(
        w.html(&app).contains(&first),
        "the first chunk is not in the view"
    );
    // Not read to its end: still held.
    assert_eq!(w.host.answers_held(&app), 1);
}

#[test]
fn a_refused_data_url_is_audited_by_its_scheme_alone() {
    let w = world(|b| b);
    let wat = sandframe_testkit::fetch_guest(r#"{"url":"data:text/plain,the-secret-body"}"#, 0);
    let app = w
        .host
        .install(&package("com.example.dataurl", &[w.origin()], &wat))
        .unwrap()
        .app;
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.host.flush_audit().unwrap();
    let records = w.host.audit_records(None).unwrap();
    let fetch = records.iter().find(|r| r.action == "fetch").unwrap();
    assert_eq!(fetch.subject, "data:");
    assert_eq!(fetch.outcome, "denied");
    assert!(!format!("{records:?}").contains("the-secret-body"));
}

#[test]
fn revoking_the_grant_stops_requests_in_flight() {
    let w = world(|b| b);
    let app = w.install("com.example.revoked", "/slow?ms=4000");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    assert!(w.host.revoke(&app, &net_fetch()).unwrap());
    w.until("the request cancelled", || {
        w.host.requests_in_flight(&app) == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!w.html(&app).contains("size=4"), "{}", w.html(&app));
}

#[test]
fn probing_origins_the_app_was_not_granted_is_stopped_by_the_monitor() {
    let w = world(|b| b);
    let probe = serde_json::json!({"url": "https://metadata.example.net/latest"}).to_string();
    let app = w
        .host
        .install(&package(
            "com.example.prober",
            &[w.origin()],
            &sandframe_testkit::fetch_guest(&probe, 20),
        ))
        .unwrap()
        .app;
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    let e = w
        .host
        .dispatch(&app, br#"{"handler":"go","detail":{}}"#)
        .expect_err("the prober ran on");
    assert!(e.to_string().contains("Terminated"), "{e}");
    w.host.flush_audit().unwrap();
    let verdict = w
        .host
        .audit_records(None)
        .unwrap()
        .into_iter()
        .any(|r| r.layer == "monitor" && r.subject == "net.probe");
    assert!(verdict, "no net.probe verdict");
    assert_eq!(w.service.connections(), 0);
}

#[test]
fn a_host_dropped_inside_an_embedders_tokio_runtime_does_not_panic() {
    let w = world(|b| b);
    let app = w.install("com.example.dropped", "/slow?ms=3000");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move { drop(w) });
}

#[test]
fn an_update_cancels_the_old_versions_requests_in_flight() {
    let w = world(|b| b);
    // Version 1 waits 30 s for its answer; version 2 asks for nothing.
    let app = w.install("com.example.updated", "/slow?ms=30000");
    w.host.grant(&app, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&app).unwrap(), 0);
    w.until("the request in flight", || {
        w.host.requests_in_flight(&app) == 1
    });
    let v2 = package_at(
        "com.example.updated",
        "2.0.0",
        &[w.origin()],
        &sandframe_testkit::fetch_guest("", 0),
    );
    w.host.install(&v2).unwrap();
    // Cancelled well before the service would have answered, and no answer is held for v2.
    w.until("the old request cancelled", || {
        w.host.requests_in_flight(&app) == 0
    });
    assert_eq!(w.host.answers_held(&app), 0);
}

#[test]
fn two_apps_never_share_a_pooled_connection() {
    let w = world(|b| b);
    // The first app fetches once; its connection then sits idle in a pool.
    let first = w.install("com.example.first", "/hello");
    w.host.grant(&first, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&first).unwrap(), 0);
    w.until("the first app's answer", || {
        w.html(&first).contains("size=27")
    });
    assert_eq!(w.service.connections(), 1);
    // The second app's every answer makes it fetch again: a chain, one request at a time.
    let chain = sandframe_testkit::fetch_guest(&w.request("/hello"), 1);
    let second = w
        .host
        .install(&package("com.example.second", &[w.origin()], &chain))
        .unwrap()
        .app;
    w.host.grant(&second, &net_fetch()).unwrap();
    assert_eq!(w.host.launch(&second).unwrap(), 0);
    w.until("several requests from the second app", || {
        w.service
            .seen()
            .iter()
            .filter(|s| s.headers["user-agent"].contains("com.example.second"))
            .count()
            >= 4
    });
    w.host.terminate(&second).unwrap();
    // The second app never took the first's idle connection, and one connection carried
    // its whole chain.
    assert_eq!(
        w.service.connections(),
        2,
        "{} requests over {} connections",
        w.service.seen().len(),
        w.service.connections()
    );
}
