//! The loopback web server: the page, its event stream, taps, consent answers, assets; and
//! the guard in front of all of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sandframe_host::{EventKind, SurfaceEvent};
use sandframe_host::{Host, HostError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Options, Parts, Shared, SimError, token, watch};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// Every response: scripts, styles and images from this server only, no framing, no
/// plugins, no remote anything.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The most requests the Network panel shows.
const NETWORK_SHOWN: usize = 50;
/// The most audit records the page shows.
const AUDIT_SHOWN: usize = 40;

/// The server's state: the shared simulator and the port it answers on.
#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    port: u16,
    /// The page's cookie: its name (one per port, so two simulators do not overwrite each
    /// other's) and its value, derived from the token (see [`page_cookie`]).
    cookie: Arc<(String, String)>,
    /// Becomes true when the server is asked to stop: open event streams end then.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Serves the simulator until the process is interrupted (Ctrl-C).
///
/// # Errors
/// [`SimError::Start`] if the port cannot be bound or the runtime does not start;
/// [`SimError::Watch`] if the source directory cannot be watched.
pub fn serve(host: Host, parts: Parts, mut options: Options) -> Result<(), SimError> {
    let shared = Arc::new(Shared {
        host,
        parts,
        app: std::sync::Mutex::new(options.app.clone()),
        status: std::sync::Mutex::new(String::new()),
        findings: std::sync::Mutex::new(Value::Array(Vec::new())),
        token: token()?,
    });
    let _watcher = match options.source.take() {
        Some((dir, key)) => {
            let source = watch::Source { dir, key };
            source.rebuild(&shared);
            Some(watch::start(source, Arc::clone(&shared))?)
        }
        None => {
            if let Some(app) = &options.app {
                shared.relaunch(app);
            }
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SimError::Start(e.to_string()))?;
    let serving = Arc::clone(&shared);
    runtime.block_on(async move {
        let shared = serving;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| SimError::Start(format!("127.0.0.1:{}: {e}", options.port)))?;
        let port = listener
            .local_addr()
            .map_err(|e| SimError::Start(e.to_string()))?
            .port();
        let url = format!("http://127.0.0.1:{port}/?t={}", shared.token);
        // The handlers go in before anyone is told the address: a SIGTERM sent the moment
        // the address is read must stop the server cleanly, not kill the process.
        let stop_signals = Signals::register();
        if let Some(ready) = options.on_ready.take() {
            ready(&url);
        }
        // What other processes on the home commit (a publisher removed, definitions that
        // block a digest, a quarantine) reaches the running app within a second.
        let following = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let s = Arc::clone(&following);
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = s.host.revalidate() {
                        tracing::warn!(error = %e, "revalidation failed");
                    }
                })
                .await;
            }
        });
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut stopping = stop.clone();
        let app = App {
            cookie: Arc::new(page_cookie(port, &shared.token)),
            shared: Arc::clone(&shared),
            port,
            stop,
        };
        let router = Router::new()
            .route("/", get(index))
            .route("/app.js", get(script))
            .route("/app.css", get(style))
            .route("/events", get(events))
            .route("/event", post(surface_event))
            .route("/consent", post(consent))
            .route("/lifecycle", post(lifecycle))
            .route("/assets/{*path}", get(asset))
            .layer(middleware::from_fn_with_state(app.clone(), guard))
            .with_state(app);
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            stop_signals.stopped().await;
            let _ = stop_tx.send(true);
        });
        // Open event streams end on the stop signal; whatever else is still open after a
        // few seconds does not keep the process (and a dev home) alive.
        tokio::select! {
            r = std::future::IntoFuture::into_future(server) => {
                r.map_err(|e| SimError::Start(e.to_string()))
            }
            () = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            } => Ok(()),
        }
    })?;
    if let Some(app) = shared.app() {
        let _ = shared.host.terminate(&app);
    }
    let _ = shared.host.flush_audit();
    Ok(())
}

/// The stop signals, registered at once: Ctrl-C (SIGINT) and, on Unix, SIGTERM. Either way
/// `serve` returns and the caller cleans up (a `dev` home is deleted).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves when one of them arrives.
    async fn stopped(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => {}
                () = next(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Equal in constant time (the token).
fn same(a: &str, b: &str) -> bool {
    blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

fn refuse(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, why).into_response()
}

/// The cookie the tokened page sets, as (name, value): `sandframe-PORT` (cookies do not keep
/// ports apart, so the name does) and a value derived from the token, not the token itself.
/// A cookie is sent to every port of 127.0.0.1, so another local server could read it: the
/// value lets it fetch what the page can (the script, the style, the assets, the event
/// stream), never a state-changing request, which needs the token itself.
fn page_cookie(port: u16, token: &str) -> (String, String) {
    let value = blake3::derive_key("sandframe simulator page cookie v1", token.as_bytes());
    (
        format!("sandframe-{port}"),
        blake3::Hash::from_bytes(value).to_hex().to_string(),
    )
}

/// Whether the request carries the token in its query (`t=`).
fn has_token(req: &Request, token: &str) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&')
            .filter_map(|kv| kv.strip_prefix("t="))
            .any(|t| same(t, token))
    })
}

/// Whether the request carries the page's cookie.
fn has_cookie(req: &Request, (name, value): &(String, String)) -> bool {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(name.as_str())?.strip_prefix('='))
        .any(|v| same(v, value))
}

/// The guard in front of every route: loopback Host only; the token on the page; the token
/// or the page's cookie on everything else it serves (script, style, event stream, assets,
/// and a 404 too); Origin and token on every state-changing request; security headers on
/// every response, and the cookie on the page's.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let hosts = [
        format!("127.0.0.1:{}", app.port),
        format!("localhost:{}", app.port),
    ];
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| hosts.iter().any(|ok| ok == h));
    if !host_ok {
        return refuse("foreign Host header: the simulator answers on 127.0.0.1 only");
    }
    let page = req.uri().path() == "/";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin_ok = headers
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|o| hosts.iter().any(|ok| o == format!("http://{ok}")));
        let token_ok = headers
            .get("x-sandframe-token")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| same(t, &app.shared.token));
        if !origin_ok || !token_ok {
            return refuse("a state-changing request needs the simulator page's origin and token");
        }
    } else {
        // The page itself only with the token: it is what sets the cookie.
        let ok = has_token(&req, &app.shared.token) || (!page && has_cookie(&req, &app.cookie));
        if !ok {
            return refuse("open the address the simulator printed (it carries the token)");
        }
    }
    let mut resp = next.run(req).await;
    let set_cookie = page && resp.status().is_success();
    let h = resp.headers_mut();
    if set_cookie {
        let (name, value) = &*app.cookie;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{name}={value}; HttpOnly; SameSite=Strict; Path=/"
        )) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No other site may even embed what the simulator serves (an asset in an <img>).
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn typed(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn index() -> Response {
    typed("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    typed("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    typed("text/css; charset=utf-8", STYLE)
}

/// Runs a host call off the async threads.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> T + Send + 'static,
) -> Option<T> {
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || f(&shared)).await.ok()
}

/// What the page shows, read from the host.
fn snapshot(s: &Shared, with_audit: bool) -> (String, Value) {
    let app = s.app();
    let view = app
        .as_ref()
        .and_then(|a| s.parts.surface.lock().ok().map(|l| l.html(a)))
        .unwrap_or_default();
    let host: &Host = &s.host;
    let mut state = serde_json::Map::new();
    state.insert(
        "app".into(),
        json!(app.as_ref().map(|a| a.as_str().to_owned())),
    );
    state.insert(
        "status".into(),
        json!(s.status.lock().map(|x| x.clone()).unwrap_or_default()),
    );
    state.insert("alerts".into(), json!(s.parts.alerts.snapshot()));
    if let Some(app) = &app {
        state.insert(
            "data".into(),
            host.view_data(app).ok().flatten().unwrap_or(Value::Null),
        );
        state.insert(
            "info".into(),
            host.info(app)
                .ok()
                .and_then(|i| serde_json::to_value(i).ok())
                .unwrap_or(Value::Null),
        );
        if with_audit {
            let audit = match host.audit_records(Some(app)) {
                Ok(records) => {
                    // The Network panel: the app's last requests, from their audit records
                    // (time, method, origin and path, status or refusal, bytes, duration).
                    let fetches: Vec<&sandframe_host::StoredRecord> = records
                        .iter()
                        .filter(|r| r.layer == "net" && r.action == "fetch")
                        .collect();
                    let from_net = fetches.len().saturating_sub(NETWORK_SHOWN);
                    let network: Vec<Value> = fetches
                        .get(from_net..)
                        .unwrap_or_default()
                        .iter()
                        .map(|r| network_row(r))
                        .collect();
                    state.insert("network".into(), Value::Array(network));
                    let from = records.len().saturating_sub(AUDIT_SHOWN);
                    serde_json::to_value(records.get(from..).unwrap_or_default())
                        .unwrap_or(Value::Null)
                }
                // A log that fails verification is news, not an empty panel.
                Err(e) => json!([{
                    "layer": "audit", "action": "verify", "subject": "", "outcome": "failed",
                    "detail": e.to_string(),
                }]),
            };
            state.insert("audit".into(), audit);
        }
    }
    (view, Value::Object(state))
}

/// One row of the Network panel from a `net` `fetch` audit record, whose detail is
/// `METHOD STATUS` or `METHOD refused: REASON` / `METHOD failed: REASON`.
fn network_row(r: &sandframe_host::StoredRecord) -> Value {
    let (method, rest) = r.detail.split_once(' ').unwrap_or((r.detail.as_str(), ""));
    let (status, reason) = match rest.parse::<u16>() {
        Ok(code) => (json!(code), Value::Null),
        Err(_) => (Value::Null, json!(rest)),
    };
    json!({
        "unix_ms": r.unix_ms,
        "method": method,
        "url": r.subject,
        "status": status,
        "reason": reason,
        "outcome": r.outcome,
        "bytes_in": r.bytes_in,
        "bytes_out": r.bytes_out,
        "ms": r.latency_ns as f64 / 1e6,
    })
}

/// The page's event stream: one `update` event (JSON: `view`, `state`, `findings`,
/// `consent`, each only when it changed) whenever something changed, and at least every
/// second for the audit trail.
async fn events(
    State(app): State<App>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    struct Seen {
        rx: tokio::sync::watch::Receiver<u64>,
        view: Option<String>,
        state: Option<Value>,
        findings: Option<Value>,
        consent: Option<Value>,
        audit: Value,
        first: bool,
        stop: tokio::sync::watch::Receiver<bool>,
    }
    let seen = Seen {
        stop: app.stop.clone(),
        rx: app.shared.parts.changed.subscribe(),
        view: None,
        state: None,
        findings: None,
        consent: None,
        audit: Value::Null,
        first: true,
    };
    let shared = Arc::clone(&app.shared);
    let stream = futures_util::stream::unfold(seen, move |mut seen| {
        let shared = Arc::clone(&shared);
        async move {
            loop {
                if *seen.stop.borrow() {
                    return None;
                }
                if !seen.first {
                    // Wake on a change, or after a second (the audit trail grows quietly);
                    // end when the server stops.
                    tokio::select! {
                        _ = tokio::time::timeout(Duration::from_secs(1), seen.rx.changed()) => {}
                        _ = seen.stop.changed() => return None,
                    }
                }
                seen.first = false;
                seen.rx.mark_unchanged();
                let (view, mut state) = blocking(&shared, |s| snapshot(s, true)).await?;
                let audit = state
                    .get_mut("audit")
                    .map(Value::take)
                    .unwrap_or(Value::Null);
                let findings = shared
                    .findings
                    .lock()
                    .map(|f| f.clone())
                    .unwrap_or_default();
                let consent = shared.parts.consent.current();
                let mut update = serde_json::Map::new();
                if seen.view.as_ref() != Some(&view) {
                    update.insert("view".into(), Value::String(view.clone()));
                    seen.view = Some(view);
                }
                if seen.state.as_ref() != Some(&state) || seen.audit != audit {
                    let mut full = state.clone();
                    if let Value::Object(m) = &mut full {
                        m.insert("audit".into(), audit.clone());
                    }
                    update.insert("state".into(), full);
                    seen.state = Some(state);
                    seen.audit = audit;
                }
                if seen.findings.as_ref() != Some(&findings) {
                    update.insert("findings".into(), findings.clone());
                    seen.findings = Some(findings);
                }
                if seen.consent.as_ref() != Some(&consent) {
                    update.insert("consent".into(), consent.clone());
                    seen.consent = Some(consent);
                }
                if !update.is_empty() {
                    let event = Event::default()
                        .event("update")
                        .data(Value::Object(update).to_string());
                    return Some((Ok(event), seen));
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A tap or an input from the page.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageEvent {
    path: String,
    kind: String,
    value: Option<String>,
}

fn bad(why: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, why.into()).into_response()
}

async fn surface_event(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let Ok(e) = serde_json::from_slice::<PageEvent>(&body) else {
        return bad("expected {\"path\", \"kind\", \"value\"}");
    };
    let target: Option<Vec<u32>> = if e.path.is_empty() {
        Some(Vec::new())
    } else {
        e.path.split('.').map(|p| p.parse().ok()).collect()
    };
    let (Some(target), Some(kind)) = (
        target,
        match e.kind.as_str() {
            "tap" => Some(EventKind::Tap),
            "input" => Some(EventKind::Input),
            _ => None,
        },
    ) else {
        return bad("a path is dot-separated numbers; a kind is tap or input");
    };
    let answer = blocking(&app.shared, move |s| {
        let app = s.app()?;
        let result = s.host.surface_event(SurfaceEvent {
            app: app.clone(),
            target,
            kind,
            value: e.value,
        });
        Some(match result {
            Ok(Some(code)) => json!({ "answer": code }),
            Ok(None) => json!({ "dropped": "no handler is bound there" }),
            Err(err) => {
                let stopped = matches!(err, HostError::Stopped(_));
                let message = err.to_string();
                if stopped {
                    s.set_status(format!("terminated by the sandbox: {message}"));
                }
                json!({ "error": message })
            }
        })
    })
    .await
    .flatten();
    match answer {
        Some(v) => axum::Json(v).into_response(),
        None => bad("no app is running"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    id: u64,
    granted: bool,
}

async fn consent(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let Ok(a) = serde_json::from_slice::<Answer>(&body) else {
        return bad("expected {\"id\", \"granted\"}");
    };
    let done = app.shared.parts.consent.answer(a.id, a.granted);
    axum::Json(json!({ "answered": done })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifecycle {
    show: bool,
}

async fn lifecycle(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let Ok(l) = serde_json::from_slice::<Lifecycle>(&body) else {
        return bad("expected {\"show\": true|false}");
    };
    let r = blocking(&app.shared, move |s| {
        let app = s.app()?;
        let r = if l.show {
            s.host.show(&app)
        } else {
            s.host.hide(&app)
        };
        Some(r.map_err(|e| e.to_string()))
    })
    .await
    .flatten();
    match r {
        Some(Ok(code)) => axum::Json(json!({ "answer": code })).into_response(),
        Some(Err(e)) => axum::Json(json!({ "error": e })).into_response(),
        None => bad("no app is running"),
    }
}

/// An image from the package's `assets/`; nothing else of the package is served.
async fn asset(State(app): State<App>, Path(path): Path<String>) -> Response {
    let content_type = match path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "png" => "image/png",
        Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
        Some(e) if e == "gif" => "image/gif",
        Some(e) if e == "webp" => "image/webp",
        Some(e) if e == "svg" => "image/svg+xml",
        _ => return (StatusCode::NOT_FOUND, "only images are served").into_response(),
    };
    let bytes = blocking(&app.shared, move |s| {
        let app = s.app()?;
        s.host.asset(&app, &path).ok().flatten()
    })
    .await
    .flatten();
    match bytes {
        Some(b) => (
            [
                (header::CONTENT_TYPE, content_type),
                // An SVG opened on its own is a document: it gets no script and no origin.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                ),
            ],
            b,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
