//! The network door against a real HTTPS service on 127.0.0.1 (rustls, a throwaway CA made
//! with rcgen): what is allowed works, and each attack named in the security notes is refused,
//! with the service's own count of what reached it as the witness.
//!
//! These tests drive the door's APIs as the gateway does, with the scope a grant would give;
//! the host's tests drive the same door through a real host and a real guest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test: failing loudly is the point

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sandframe_core::{
    Api, ApiError, AppContext, Declared, ErrorCode, EventSender, OriginPattern, Watch,
};
use sandframe_net::{Addresses, Net, NetConfig, Resolve, StaticResolver};
use sandframe_testkit::https::LocalService;
use serde_json::{Value, json};

const API: &str = "api.test.example";
const OTHER: &str = "other.test.example";

/// Events posted to one app, with a wait.
#[derive(Clone, Default)]
struct Inbox(Arc<(Mutex<Vec<Value>>, Condvar)>);

impl Inbox {
    fn sender(&self) -> EventSender {
        let me = self.clone();
        EventSender::new(move |bytes| {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let (list, cv) = &*me.0;
            list.lock().unwrap().push(v);
            cv.notify_all();
        })
    }

    /// The `sf.fetch` event for `id`, within 20 s.
    fn wait(&self, id: u64) -> Value {
        let (list, cv) = &*self.0;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut l = list.lock().unwrap();
        loop {
            if let Some(v) = l.iter().find(|v| v["detail"]["id"] == id) {
                assert_eq!(v["handler"], "sf.fetch");
                return v["detail"].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event for request {id}");
            l = cv.wait_timeout(l, left).unwrap().0;
        }
    }

    fn count(&self) -> usize {
        self.0.0.lock().unwrap().len()
    }
}

struct Door {
    service: LocalService,
    net: Net,
    fetch: Arc<dyn Api>,
    read: Arc<dyn Api>,
    close: Arc<dyn Api>,
    inbox: Inbox,
    ctx: AppContext,
    scope: Vec<OriginPattern>,
}

fn origin(name: &str, port: u16) -> OriginPattern {
    format!("https://{name}:{port}").parse().unwrap()
}

fn context(scope: &[OriginPattern]) -> AppContext {
    AppContext {
        app: "com.example.netapp".parse().unwrap(),
        name: "Net app".into(),
        version: "1.2.3".into(),
        declared: vec![Declared {
            capability: "net:fetch".parse().unwrap(),
            reason: "talk to its service".into(),
            scope: scope.to_vec(),
        }],
        limits: Default::default(),
        monitor: Watch::none(),
        sources: None,
        views: None,
    }
}

/// A door whose resolver answers both test names with 127.0.0.1, that range allowed, the
/// service's CA the only one trusted, and `tune` applied last.
fn door_with(tune: impl FnOnce(NetConfig, &LocalService) -> NetConfig) -> Door {
    let service = LocalService::start(&[API, OTHER]).unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let config = NetConfig::new()
        .without_public_roots()
        .trust_root(service.ca_der())
        .resolver(Arc::new(
            StaticResolver::new().with(API, [lo]).with(OTHER, [lo]),
        ))
        .allow_range("127.0.0.1/32".parse().unwrap())
        .timeout(Duration::from_secs(10));
    let config = tune(config, &service);
    let scope = vec![origin(API, service.port())];
    door_over(config, service, &scope)
}

/// A door over `config` for an app granted `scope`, beside `service`.
fn door_over(config: NetConfig, service: LocalService, scope: &[OriginPattern]) -> Door {
    let net = Net::new(config).unwrap();
    let scope = scope.to_vec();
    Door {
        fetch: net.fetch_api(),
        read: net.read_api(),
        close: net.close_api(),
        ctx: context(&scope),
        scope,
        net,
        service,
        inbox: Inbox::default(),
    }
}

fn door() -> Door {
    door_with(|c, _| c)
}

impl Door {
    fn url(&self, name: &str, path: &str) -> String {
        format!("https://{name}:{}{path}", self.service.port())
    }

    /// Calls `net.fetch` with `request`; the pending id, or the error at once.
    fn start(&self, request: Value) -> Result<u64, ApiError> {
        let mut out = Vec::new();
        self.fetch.call_scoped(
            &self.ctx,
            &self.scope,
            request.to_string().as_bytes(),
            &mut out,
            &self.inbox.sender(),
        )?;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], "pending");
        Ok(v["id"].as_u64().unwrap())
    }

    /// Fetches and waits for the answer event.
    fn get(&self, request: Value) -> Value {
        let id = self.start(request).expect("accepted at once");
        self.inbox.wait(id)
    }

    fn api(&self, api: &Arc<dyn Api>, request: Value) -> Result<Value, ApiError> {
        let mut out = Vec::new();
        api.call(&self.ctx, request.to_string().as_bytes(), &mut out)?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    /// The whole body of answer `id`, read in chunks of `chunk`.
    fn body(&self, id: u64, chunk: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let r = self
                .api(
                    &self.read,
                    json!({"id": id, "offset": out.len(), "len": chunk}),
                )
                .unwrap();
            out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(r["data"].as_str().unwrap())
                    .unwrap(),
            );
            if r["eof"] == true {
                return out;
            }
        }
    }
}

fn code(detail: &Value) -> &str {
    detail["error"]["code"].as_str().unwrap_or("(no error)")
}

#[test]
fn an_allowed_origin_is_fetched_and_names_the_app() {
    let d = door();
    let a = d.get(json!({"url": d.url(API, "/hello?x=1#frag")}));
    assert_eq!(a["status"], 200, "{a}");
    let size = a["size"].as_u64().unwrap();
    let body = d.body(a["id"].as_u64().unwrap(), 7);
    assert_eq!(body, b"hello from the test service");
    assert_eq!(size, body.len() as u64);
    // Read to its end: nothing is held.
    assert_eq!(d.net.held(&d.ctx.app), 0);
    assert_eq!(d.net.buffered_bytes(), 0);
    let seen = d.service.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(
        h["user-agent"],
        format!(
            "sandframe/{} (com.example.netapp/1.2.3)",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        h["referer"],
        "https://apps.sandframe.invalid/com.example.netapp/1.2.3/"
    );
    // HTTP/1.1, settled by ALPN.
    assert_eq!(d.service.alpn(), vec![Some("http/1.1".to_owned())]);
    for never in [
        "traceparent",
        "tracestate",
        "cookie",
        "authorization",
        "x-forwarded-for",
    ] {
        assert!(!h.contains_key(never), "{never} was sent");
    }
}

#[test]
fn post_sends_the_body_and_the_app_headers() {
    let d = door();
    let a = d.get(json!({
        "url": d.url(API, "/echo"),
        "method": "POST",
        "headers": {"Content-Type": "application/json", "X-Note": "one"},
        "body": "{\"n\":1}",
    }));
    assert_eq!(a["status"], 200);
    let echo: Value = serde_json::from_slice(&d.body(a["id"].as_u64().unwrap(), 48 << 10)).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "{\"n\":1}");
    assert_eq!(echo["headers"]["x-note"], "one");
    assert_eq!(echo["headers"]["content-type"], "application/json");
}

#[test]
fn refused_origins_are_refused_at_once_and_reach_nothing() {
    let d = door();
    let port = d.service.port();
    let refused = [
        d.url(OTHER, "/hello"),                      // not declared
        format!("http://{API}:{port}/hello"),        // http
        format!("https://{API}:{}/hello", port + 1), // the wrong port
        format!("https://{API}/hello"),              // the default port
        format!("https://127.0.0.1:{port}/hello"),   // IP literals, every form
        format!("https://2130706433:{port}/hello"),
        format!("https://0x7f.1:{port}/hello"),
        format!("https://127.1:{port}/hello"),
        format!("https://0177.0.0.1:{port}/hello"),
        format!("https://%31%32%37.0.0.1:{port}/hello"),
        format!("https://[::1]:{port}/hello"),
        format!("https://[::ffff:127.0.0.1]:{port}/hello"),
        format!("https://user:pw@{API}:{port}/hello"), // userinfo
        format!("https://{API}.:{port}/hello"),        // a trailing dot: another name
        format!("https://x.{API}:{port}/hello"),       // a subdomain of an exact origin
        format!("https://\u{430}pi.test.example:{port}/"), // a homograph of the origin
        "file:///etc/passwd".to_owned(),
        "data:text/plain,hi".to_owned(),
    ];
    for url in refused {
        let e = d.start(json!({"url": url})).expect_err(&url);
        assert_eq!(e.code(), ErrorCode::Denied, "{url}: {e}");
    }
    assert_eq!(
        d.service.connections(),
        0,
        "a refused request reached the service"
    );
    assert_eq!(d.inbox.count(), 0, "a refused call has no event");
}

#[test]
fn a_wildcard_reaches_one_label_and_never_the_apex() {
    let service =
        LocalService::start(&["a.test.example", "test.example", "b.a.test.example"]).unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let net = Net::new(
        NetConfig::new()
            .without_public_roots()
            .trust_root(service.ca_der())
            .resolver(Arc::new(
                StaticResolver::new()
                    .with("a.test.example", [lo])
                    .with("test.example", [lo])
                    .with("b.a.test.example", [lo]),
            ))
            .allow_range("127.0.0.0/8".parse().unwrap()),
    )
    .unwrap();
    let port = service.port();
    let scope = vec![format!("https://*.test.example:{port}").parse().unwrap()];
    let ctx = context(&scope);
    let inbox = Inbox::default();
    let fetch = net.fetch_api();
    let call = |url: String| {
        let mut out = Vec::new();
        fetch
            .call_scoped(
                &ctx,
                &scope,
                json!({"url": url}).to_string().as_bytes(),
                &mut out,
                &inbox.sender(),
            )
            .map(|()| {
                serde_json::from_slice::<Value>(&out).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
    };
    let id = call(format!("https://a.test.example:{port}/hello")).unwrap();
    assert_eq!(inbox.wait(id)["status"], 200);
    for url in [
        format!("https://test.example:{port}/hello"),
        format!("https://b.a.test.example:{port}/hello"),
    ] {
        assert_eq!(
            call(url.clone()).unwrap_err().code(),
            ErrorCode::Denied,
            "{url}"
        );
    }
}

#[test]
fn a_name_resolving_to_a_refused_address_is_refused_before_any_connection() {
    // The resolver answers the granted name with 127.0.0.1, but that range is not allowed.
    let d = door_with(|_, s| {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        NetConfig::new()
            .without_public_roots()
            .trust_root(s.ca_der())
            .resolver(Arc::new(StaticResolver::new().with(API, [lo])))
    });
    let a = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(code(&a), "denied", "{a}");
    let message = a["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1") && message.contains("loopback"),
        "{message}"
    );
    assert_eq!(d.service.connections(), 0);
}

/// A resolver that answers from a script, one answer per lookup, and counts lookups.
struct Scripted {
    answers: Mutex<Vec<Vec<IpAddr>>>,
    lookups: AtomicUsize,
}

impl Resolve for Scripted {
    fn resolve(&self, _host: &str) -> Addresses {
        self.lookups.fetch_add(1, Ordering::AcqRel);
        let mut a = self.answers.lock().unwrap();
        let next = if a.len() > 1 {
            a.remove(0)
        } else {
            a[0].clone()
        };
        Box::pin(async move { Ok(next) })
    }
}

fn scripted_door(answers: Vec<Vec<&str>>) -> (Door, Arc<Scripted>) {
    let script = Arc::new(Scripted {
        answers: Mutex::new(
            answers
                .into_iter()
                .map(|a| a.into_iter().map(|s| s.parse().unwrap()).collect())
                .collect(),
        ),
        lookups: AtomicUsize::new(0),
    });
    let r = Arc::clone(&script);
    let d = door_with(move |c, _| c.resolver(r));
    (d, script)
}

#[test]
fn dns_rebinding_a_second_lookup_is_checked_and_refused() {
    // First lookup: the allowed test address; second: the cloud metadata address.
    let (d, script) = scripted_door(vec![vec!["127.0.0.1"], vec!["169.254.169.254"]]);
    let a = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(d.body(a["id"].as_u64().unwrap(), 1 << 10).len(), 27);
    // Drop the app's pool, so that the next request needs a new connection and a lookup.
    d.net.cancel(&d.ctx.app);
    let b = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(code(&b), "denied", "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("169.254.169.254")
    );
    // One lookup per connection: the name was never resolved again between check and use.
    assert_eq!(script.lookups.load(Ordering::Acquire), 2);
    assert_eq!(d.service.seen().len(), 1);
}

#[test]
fn dns_rebinding_a_forbidden_address_beside_an_allowed_one_refuses_the_name() {
    for answer in [
        vec!["127.0.0.1", "10.0.0.1"],
        vec!["10.0.0.1", "127.0.0.1"],
        vec!["127.0.0.1", "::1"],
    ] {
        let (d, _) = scripted_door(vec![answer.clone()]);
        let a = d.get(json!({"url": d.url(API, "/hello")}));
        assert_eq!(code(&a), "denied", "{answer:?}: {a}");
        assert_eq!(d.service.connections(), 0, "{answer:?}");
    }
}

#[test]
fn redirects_are_checked_hop_by_hop() {
    let d = door();
    let port = d.service.port();
    let to = |target: &str| {
        d.url(
            API,
            &format!(
                "/redirect?to={}",
                url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
            ),
        )
    };
    for (target, why) in [
        (d.url(OTHER, "/hello"), "an origin not granted"),
        (format!("http://{API}:{port}/hello"), "https to http"),
        ("data:text/plain,hi".to_owned(), "data:"),
        ("file:///etc/passwd".to_owned(), "file:"),
        (format!("https://user@{API}:{port}/hello"), "userinfo"),
        (format!("https://127.0.0.1:{port}/hello"), "an IP literal"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "cloud metadata",
        ),
    ] {
        let a = d.get(json!({"url": to(&target)}));
        assert_eq!(code(&a), "denied", "{why}: {a}");
        assert!(
            a["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("redirect refused"),
            "{a}"
        );
    }
    let a = d.get(json!({"url": d.url(API, "/loop")}));
    assert_eq!(code(&a), "denied", "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 5 redirects")
    );
    // The loop was followed 5 times, then stopped: 6 requests reached the service.
    let loops = d
        .service
        .seen()
        .iter()
        .filter(|s| s.path == "/loop")
        .count();
    assert_eq!(loops, 6);
    // Only the first hops of the refused redirects reached it.
    assert!(
        d.service
            .seen()
            .iter()
            .all(|s| s.path == "/loop" || s.path == "/redirect")
    );
}

#[test]
fn a_redirect_to_another_granted_origin_drops_authorization() {
    let mut d = door();
    let port = d.service.port();
    d.scope.push(origin(OTHER, port));
    let target =
        url::form_urlencoded::byte_serialize(d.url(OTHER, "/echo").as_bytes()).collect::<String>();
    let a = d.get(json!({
        "url": d.url(API, &format!("/redirect?to={target}&code=307")),
        "method": "POST",
        "headers": {"Authorization": "Bearer app-secret", "X-Keep": "yes"},
        "body": "payload",
    }));
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(a["url"], d.url(OTHER, "/echo"));
    let echo: Value = serde_json::from_slice(&d.body(a["id"].as_u64().unwrap(), 48 << 10)).unwrap();
    assert!(echo["headers"].get("authorization").is_none(), "{echo}");
    assert_eq!(echo["headers"]["x-keep"], "yes");
    // 307 keeps the method and the body.
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "payload");
    // Within one origin, Authorization stays.
    let same =
        url::form_urlencoded::byte_serialize(d.url(API, "/echo").as_bytes()).collect::<String>();
    let b = d.get(json!({
        "url": d.url(API, &format!("/redirect?to={same}&code=303")),
        "method": "POST",
        "headers": {"Authorization": "Bearer app-secret"},
        "body": "payload",
    }));
    let echo: Value = serde_json::from_slice(&d.body(b["id"].as_u64().unwrap(), 48 << 10)).unwrap();
    assert_eq!(echo["headers"]["authorization"], "Bearer app-secret");
    // 303 turns the request into a GET without a body.
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body"], "");
}

#[test]
fn header_injection_and_refused_headers_are_refused_at_once() {
    let d = door();
    let url = d.url(API, "/echo");
    for (name, value) in [
        ("X-A", "one\r\nHost: evil.example"),
        ("X-A", "one\nX-B: two"),
        ("X-A", "nul\u{0}"),
        ("X-A\r\nX-B", "two"),
    ] {
        let e = d
            .start(json!({"url": url, "headers": {name: value}}))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest, "{name:?}: {e}");
    }
    for name in [
        "Host",
        "connection",
        "Transfer-Encoding",
        "Content-Length",
        "TE",
        "Upgrade",
        "Keep-Alive",
        "Expect",
        "Trailer",
        "Via",
        "Forwarded",
        "X-Forwarded-For",
        "x-forwarded-host",
        "Origin",
        "Proxy-Authorization",
        "Referer",
        "User-Agent",
        "Cookie",
    ] {
        let e = d
            .start(json!({"url": url, "headers": {name: "x"}}))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Denied, "{name}: {e}");
    }
    for method in ["CONNECT", "TRACE", "get", "X"] {
        let e = d.start(json!({"url": url, "method": method})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest, "{method}");
    }
    assert_eq!(d.service.connections(), 0);
}

#[test]
fn a_header_bomb_is_cut_off_at_its_cap() {
    let d = door();
    let a = d.get(json!({"url": d.url(API, "/bomb?n=1000")}));
    assert_eq!(code(&a), "too_large", "{a}");
    // Below the cap, headers come through.
    let b = d.get(json!({"url": d.url(API, "/bomb?n=20")}));
    assert_eq!(b["status"], 200, "{b}");
    assert_eq!(b["headers"]["x-bomb-19"].as_str().unwrap().len(), 90);
}

#[test]
fn cookies_are_neither_sent_nor_seen() {
    let d = door();
    let a = d.get(json!({"url": d.url(API, "/cookie")}));
    assert_eq!(a["status"], 200);
    assert!(a["headers"].get("set-cookie").is_none(), "{a}");
}

#[test]
fn a_slow_drip_is_cut_off_at_the_timeout() {
    let d = door_with(|c, _| c.timeout(Duration::from_secs(1)));
    let started = Instant::now();
    let a = d.get(json!({"url": d.url(API, "/drip")}));
    assert_eq!(code(&a), "unavailable", "{a}");
    assert!(a["error"]["message"].as_str().unwrap().contains("cut off"));
    // Cut off near the timeout, not after the drip's minute.
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(d.net.in_flight(&d.ctx.app), 0);
}

#[test]
fn a_manifest_may_lower_the_timeout_and_never_raise_it() {
    // The host allows 10 s; the app's manifest asks for 700 ms: the drip is cut off then.
    let mut d = door();
    d.ctx.limits.fetch_timeout_ms = Some(700);
    let started = Instant::now();
    let a = d.get(json!({"url": d.url(API, "/drip")}));
    assert_eq!(code(&a), "unavailable", "{a}");
    assert!(
        a["error"]["message"].as_str().unwrap().contains("700 ms"),
        "{a}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    // Asking for more than the host's timeout gets the host's.
    let mut d = door_with(|c, _| c.timeout(Duration::from_millis(800)));
    d.ctx.limits.fetch_timeout_ms = Some(600_000);
    let b = d.get(json!({"url": d.url(API, "/drip")}));
    assert!(
        b["error"]["message"].as_str().unwrap().contains("800 ms"),
        "{b}"
    );
}

#[test]
fn an_http_origin_the_host_names_is_reached_and_no_other() {
    let service = LocalService::start_plain(&[API]).unwrap();
    let port = service.port();
    let dev: OriginPattern = format!("http://{API}:{port}").parse().unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let base = || {
        NetConfig::new()
            .resolver(Arc::new(StaticResolver::new().with(API, [lo])))
            .allow_range("127.0.0.1/32".parse().unwrap())
            .timeout(Duration::from_secs(10))
    };
    // The host named it: the app that declares it reaches it over http.
    let d = door_over(
        base().allow_http(dev.clone()),
        service,
        std::slice::from_ref(&dev),
    );
    let a = d.get(json!({"url": format!("http://{API}:{port}/hello")}));
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(
        d.body(a["id"].as_u64().unwrap(), 1024),
        b"hello from the test service"
    );
    // Another port on the same name is not the origin the host named.
    let b = d
        .start(json!({"url": format!("http://{API}:{}/hello", port + 1)}))
        .unwrap_err();
    assert_eq!(b.code(), ErrorCode::Denied, "{b}");
    // Declared by the app but not named by the host: refused before it leaves.
    let service = LocalService::start_plain(&[API]).unwrap();
    let port = service.port();
    let dev: OriginPattern = format!("http://{API}:{port}").parse().unwrap();
    let d = door_over(base(), service, &[dev]);
    let c = d
        .start(json!({"url": format!("http://{API}:{port}/hello")}))
        .unwrap_err();
    assert_eq!(c.code(), ErrorCode::Denied, "{c}");
    assert!(c.to_string().contains("plain http"), "{c}");
    assert_eq!(d.service.connections(), 0);
}

#[test]
fn an_answer_is_never_decompressed() {
    let d = door();
    // The app may ask for gzip; the host hands over the bytes as they came.
    let a = d.get(json!({"url": d.url(API, "/gzip"), "headers": {"accept-encoding": "gzip"}}));
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(a["headers"]["content-encoding"], "gzip", "{a}");
    assert_eq!(d.body(a["id"].as_u64().unwrap(), 1024), b"not really gzip");
    // And without asking, nothing asks for it on the app's behalf.
    let e = d.get(json!({"url": d.url(API, "/echo")}));
    let echo: Value = serde_json::from_slice(&d.body(e["id"].as_u64().unwrap(), 48 << 10)).unwrap();
    assert!(echo["headers"].get("accept-encoding").is_none(), "{echo}");
}

#[test]
fn an_oversized_answer_is_refused_without_being_read() {
    let d = door_with(|c, _| c.max_response_bytes(64 << 10));
    // Announced by Content-Length: refused on the headers.
    let a = d.get(json!({"url": d.url(API, "/big?n=5000000")}));
    assert_eq!(code(&a), "too_large", "{a}");
    // Streamed without a length: refused at the cap, the rest never read.
    let b = d.get(json!({"url": d.url(API, "/stream?n=50000000")}));
    assert_eq!(code(&b), "too_large", "{b}");
    std::thread::sleep(Duration::from_millis(300));
    let sent = d.service.streamed();
    assert!(
        sent < 4 << 20,
        "the service sent {sent} bytes of a 50 MB answer"
    );
    assert_eq!(d.net.buffered_bytes(), 0);
    // Under the cap, it is served.
    let c = d.get(json!({"url": d.url(API, "/big?n=60000")}));
    assert_eq!(c["status"], 200);
    assert_eq!(d.body(c["id"].as_u64().unwrap(), 48 << 10).len(), 60_000);
}

#[test]
fn the_default_answer_cap_is_a_quarter_of_the_app_memory() {
    let mut d = door();
    d.ctx.limits.memory_pages = Some(2); // 128 KiB of memory: answers up to 32 KiB
    let a = d.get(json!({"url": d.url(API, "/big?n=40000")}));
    assert_eq!(code(&a), "too_large", "{a}");
    let b = d.get(json!({"url": d.url(API, "/big?n=30000")}));
    assert_eq!(b["status"], 200, "{b}");
}

#[test]
fn the_host_wide_byte_cap_holds_across_apps() {
    let d = door_with(|c, _| c.max_buffered_bytes(50_000));
    let a = d.get(json!({"url": d.url(API, "/big?n=40000")}));
    assert_eq!(a["status"], 200);
    // 40,000 held: another 40,000 does not fit, for any app.
    let mut other = door_with(|c, _| c);
    other.ctx.app = "com.example.neighbour".parse().unwrap();
    let b = d.get(json!({"url": d.url(API, "/big?n=40000")}));
    assert_eq!(code(&b), "unavailable", "{b}");
    // Reading the first answer to its end frees its bytes.
    d.body(a["id"].as_u64().unwrap(), 48 << 10);
    assert_eq!(d.net.buffered_bytes(), 0);
    let c = d.get(json!({"url": d.url(API, "/big?n=40000")}));
    assert_eq!(c["status"], 200);
    drop(other);
}

#[test]
fn the_eleventh_concurrent_request_is_refused() {
    let d = door();
    let ids: Vec<u64> = (0..10)
        .map(|_| {
            d.start(json!({"url": d.url(API, "/slow?ms=1500")}))
                .unwrap()
        })
        .collect();
    let e = d
        .start(json!({"url": d.url(API, "/slow?ms=10")}))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
    assert_eq!(d.net.in_flight(&d.ctx.app), 10);
    for id in ids {
        assert_eq!(d.inbox.wait(id)["status"], 200);
    }
    // Once they are answered, there is room again.
    let a = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(a["status"], 200);
}

#[test]
fn cancel_stops_requests_in_flight_and_leaves_nothing() {
    let d = door();
    let held = d.get(json!({"url": d.url(API, "/big?n=1000")}));
    assert_eq!(held["status"], 200);
    for _ in 0..3 {
        d.start(json!({"url": d.url(API, "/slow?ms=3000")}))
            .unwrap();
    }
    assert_eq!(d.net.in_flight(&d.ctx.app), 3);
    assert_eq!(d.net.held(&d.ctx.app), 1);
    let before = d.inbox.count();
    d.net.cancel(&d.ctx.app);
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.net.in_flight(&d.ctx.app) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(d.net.in_flight(&d.ctx.app), 0);
    while d.net.in_flight_total() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(d.net.in_flight_total(), 0, "the cancelled tasks wound down");
    assert_eq!(d.net.held(&d.ctx.app), 0);
    assert_eq!(d.net.buffered_bytes(), 0);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(d.inbox.count(), before, "a cancelled request answered");
    // net.read of the dropped answer is refused.
    let e = d.api(&d.read, json!({"id": held["id"]})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
}

#[test]
fn close_frees_an_answer_and_read_checks_its_bounds() {
    let d = door();
    let a = d.get(json!({"url": d.url(API, "/big?n=100000")}));
    let id = a["id"].as_u64().unwrap();
    let r = d.api(&d.read, json!({"id": id, "offset": 99_990})).unwrap();
    assert_eq!(r["eof"], true);
    assert_eq!(r["size"], 100_000);
    let a = d.get(json!({"url": d.url(API, "/big?n=100000")}));
    let id = a["id"].as_u64().unwrap();
    let e = d
        .api(&d.read, json!({"id": id, "offset": 100_001}))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let r = d.api(&d.read, json!({"id": id, "len": 1_000_000})).unwrap();
    let n = base64::engine::general_purpose::STANDARD
        .decode(r["data"].as_str().unwrap())
        .unwrap()
        .len();
    assert_eq!(n, sandframe_net::MAX_READ_BYTES, "a read is capped");
    assert_eq!(d.api(&d.close, json!({"id": id})).unwrap()["closed"], true);
    assert_eq!(d.api(&d.close, json!({"id": id})).unwrap()["closed"], false);
    assert_eq!(d.net.held(&d.ctx.app), 0);
    // Another app cannot read this app's answers.
    let b = d.get(json!({"url": d.url(API, "/hello")}));
    let mut stranger = d.ctx.clone();
    stranger.app = "com.example.stranger".parse().unwrap();
    let mut out = Vec::new();
    let e = d
        .read
        .call(
            &stranger,
            json!({"id": b["id"]}).to_string().as_bytes(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
}

#[test]
fn a_server_with_an_untrusted_certificate_is_refused() {
    // The door trusts another CA than the service's.
    let stranger = LocalService::start(&[API]).unwrap();
    let d = door_with(move |_, _| {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        NetConfig::new()
            .without_public_roots()
            .trust_root(stranger.ca_der())
            .resolver(Arc::new(StaticResolver::new().with(API, [lo])))
            .allow_range("127.0.0.1/32".parse().unwrap())
    });
    let a = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(code(&a), "unavailable", "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{a}"
    );
    assert!(d.service.seen().is_empty());
}

#[test]
fn without_a_grant_scope_nothing_is_reached() {
    let d = door();
    // `call` and `call_posting` carry no scope: everything is refused.
    let mut out = Vec::new();
    let e = d
        .fetch
        .call(
            &d.ctx,
            json!({"url": d.url(API, "/hello")}).to_string().as_bytes(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Denied);
}

#[test]
fn dropping_the_door_inside_an_embedder_runtime_does_not_panic() {
    let d = door();
    d.start(json!({"url": d.url(API, "/slow?ms=2000")}))
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        drop(d);
    });
}

#[test]
fn the_embedder_runtime_can_run_the_requests() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handle = rt.handle().clone();
    let d = door_with(move |c, _| c.runtime(handle));
    let a = d.get(json!({"url": d.url(API, "/hello")}));
    assert_eq!(a["status"], 200);
    drop(d);
    drop(rt);
}

/// Run in a child process with a proxy in the environment (a test cannot set the variables
/// of its own process safely): the request goes to the service directly, never to the proxy.
#[test]
fn a_proxy_in_the_environment_is_not_used() {
    if std::env::var_os("SANDFRAME_PROXY_CHILD").is_some() {
        let d = door();
        let a = d.get(json!({"url": d.url(API, "/hello")}));
        assert_eq!(a["status"], 200, "{a}");
        assert_eq!(d.service.seen().len(), 1);
        return;
    }
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let at = format!("http://{}", proxy.local_addr().unwrap());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_proxy_in_the_environment_is_not_used",
            "--nocapture",
        ])
        .env("SANDFRAME_PROXY_CHILD", "1")
        .env("HTTPS_PROXY", &at)
        .env("https_proxy", &at)
        .env("HTTP_PROXY", &at)
        .env("ALL_PROXY", &at)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    assert!(proxy.accept().is_err(), "the proxy was contacted");
}

#[test]
fn head_and_bodiless_answers_are_not_refused_for_their_length() {
    let d = door_with(|c, _| c.max_response_bytes(1_000));
    // HEAD of a large resource: the length it announces is not a body.
    let a = d.get(json!({"url": d.url(API, "/big?n=5000000"), "method": "HEAD"}));
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(a["size"], 0);
    assert_eq!(a["headers"]["content-length"], "5000000");
    let b = d.get(json!({"url": d.url(API, "/status/204")}));
    assert_eq!(b["status"], 204, "{b}");
}

#[test]
fn answers_held_and_on_their_way_count_against_the_cap_together() {
    let d = door_with(|c, _| c.max_held_per_app(3));
    let ids: Vec<u64> = (0..3)
        .map(|_| d.start(json!({"url": d.url(API, "/hello")})).unwrap())
        .collect();
    // Three on their way (or held): a fourth is refused, whichever they are now.
    let e = d.start(json!({"url": d.url(API, "/hello")})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
    for id in &ids {
        assert_eq!(d.inbox.wait(*id)["status"], 200);
    }
    assert_eq!(d.net.held(&d.ctx.app), 3);
    let e = d.start(json!({"url": d.url(API, "/hello")})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::RateLimited, "{e}");
    // Closing one makes room for one.
    assert_eq!(
        d.api(&d.close, json!({"id": ids[0]})).unwrap()["closed"],
        true
    );
    assert!(d.start(json!({"url": d.url(API, "/hello")})).is_ok());
}

#[test]
fn a_fetch_on_a_runtime_that_has_shut_down_answers_at_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handle = rt.handle().clone();
    let d = door_with(move |c, _| c.runtime(handle));
    drop(rt);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = tx.send(d.start(json!({"url": d.url(API, "/hello")})));
        });
        let answer = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("net.fetch hung on a runtime that has shut down");
        assert_eq!(answer.unwrap_err().code(), ErrorCode::Unavailable);
    });
    assert_eq!(d.net.in_flight(&d.ctx.app), 0);
    assert_eq!(d.net.in_flight_total(), 0);
}

#[test]
fn a_closed_request_neither_holds_nor_posts() {
    let d = door();
    let id = d.start(json!({"url": d.url(API, "/slow?ms=500")})).unwrap();
    assert_eq!(d.api(&d.close, json!({"id": id})).unwrap()["closed"], true);
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(d.inbox.count(), 0, "a closed request answered");
    assert_eq!(d.net.held(&d.ctx.app), 0);
    assert_eq!(d.net.in_flight_total(), 0);
}

#[test]
fn a_body_larger_than_one_call_goes_up_in_chunks() {
    let d = door();
    let upload = |req: Value| d.api(&d.net.upload_api(), req);
    let chunk = "z".repeat(40_000);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&chunk);
    let first = upload(json!({"data": b64})).unwrap();
    let u = first["upload"].as_u64().unwrap();
    for _ in 0..4 {
        upload(json!({"data": b64, "upload": u})).unwrap();
    }
    let a = d.get(json!({"url": d.url(API, "/echo"), "method": "POST", "upload": u}));
    assert_eq!(a["status"], 200, "{a}");
    let echo: Value = serde_json::from_slice(&d.body(a["id"].as_u64().unwrap(), 48 << 10)).unwrap();
    assert_eq!(echo["body"].as_str().unwrap().len(), 200_000);
    // Sent once: gone.
    let e = d
        .start(json!({"url": d.url(API, "/echo"), "method": "POST", "upload": u}))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
    // Capped at a quarter of the app's memory (4 MiB by default): past it, dropped.
    let mut small = d.ctx.clone();
    small.limits.memory_pages = Some(2); // 32 KiB of body at most
    let mut out = Vec::new();
    let e = d
        .net
        .upload_api()
        .call(
            &small,
            json!({"data": b64}).to_string().as_bytes(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::TooLarge, "{e}");
    // At most four open at once; a cancel drops them and gives their bytes back.
    for _ in 0..4 {
        upload(json!({"data": "eHg="})).unwrap();
    }
    assert_eq!(
        upload(json!({"data": "eHg="})).unwrap_err().code(),
        ErrorCode::RateLimited
    );
    assert!(d.net.buffered_bytes() > 0);
    d.net.cancel(&d.ctx.app);
    assert_eq!(d.net.buffered_bytes(), 0);
}
