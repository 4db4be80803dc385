//! `net.fetch`, `net.read` and `net.close`: the checks on a request, the client that runs it
//! off the logic thread, the redirect loop, the capped answer and the bodies held for reading.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sandframe_core::{
    Api, ApiError, AppContext, AppId, AuditOutcome, AuditRecord, Capability, ErrorCode,
    EventSender, Layer, MonitorEvent, OriginPattern, Watch, in_scope,
};
use serde::Deserialize;
use url::Url;

use crate::addr::AddressPolicy;
use crate::resolve::{AddressRefused, CheckedResolver};
use crate::{FETCH_EVENT, MAX_READ_BYTES, MAX_REDIRECTS, NetConfig, NetError};

/// Request headers an app may not send, whatever their case: those that steer the connection
/// or its framing (a request smuggled past a proxy), that name another origin or app
/// (`Origin`, `Referer`, `User-Agent`: the host sets the last two), that a proxy adds, and
/// ambient credentials (`Cookie`, unless the host allows cookies). A name ending in `*` is a
/// prefix.
pub const REFUSED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "transfer-encoding",
    "content-length",
    "te",
    "upgrade",
    "keep-alive",
    "expect",
    "trailer",
    "via",
    "forwarded",
    "x-forwarded-*",
    "origin",
    "proxy-*",
    "referer",
    "user-agent",
    "cookie",
];

/// Most headers one request may carry, and the bytes of one (name and value).
const MAX_REQUEST_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 8 << 10;
/// What a memory cap defaults to when the app's limits name none (the validator's cap).
const DEFAULT_MEMORY_BYTES: u64 = 256 * 65_536;

type HttpClient = Client<HttpsConnector<HttpConnector<CheckedResolver>>, Full<Bytes>>;

/// The shared state behind the three APIs and [`crate::Net`].
pub(crate) struct Inner {
    config: NetConfig,
    handle: tokio::runtime::Handle,
    roots: Arc<rustls::RootCertStore>,
    address: Arc<AddressPolicy>,
    apps: Mutex<HashMap<AppId, Arc<AppNet>>>,
    in_flight: Arc<AtomicUsize>,
    buffered: Arc<AtomicU64>,
    /// Each app's next request id: ids count from 1 per app (one app learns nothing of
    /// another's requests from them) and are not reused while the host runs, across
    /// cancels, until the app is forgotten.
    next_ids: Mutex<HashMap<AppId, u64>>,
    /// Bumped for an app by every `cancel`: a fetch that began before a cancel (its call
    /// already past the gateway when a grant was revoked) is refused where it would start.
    generations: Mutex<HashMap<AppId, u64>>,
}

/// One app's side: its own client (connection pool and TLS session cache), its requests in
/// flight and the answers it holds.
struct AppNet {
    client: HttpClient,
    in_flight: AtomicUsize,
    tasks: Mutex<HashMap<u64, Task>>,
    held: Mutex<HashMap<u64, Held>>,
    /// Set by `cancel` before it aborts the tasks: a fetch racing with it is refused, never
    /// left running where no cancel reaches it.
    closed: std::sync::atomic::AtomicBool,
    /// Request bodies being uploaded in chunks (`net.upload`), until a fetch sends one.
    uploads: Mutex<HashMap<u64, Upload>>,
    next_upload: AtomicU64,
}

/// A request body uploaded in chunks, counted against the host-wide bytes held.
struct Upload {
    bytes: Vec<u8>,
    held: Reservation,
}

/// A request's entry among its app's tasks, from before it is spawned until it has posted
/// its answer (or was aborted).
struct Task {
    /// Set once spawned.
    abort: Option<tokio::task::AbortHandle>,
    /// Set by `net.close` and `cancel`: the request must neither hold nor post an answer.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl Task {
    fn stop(self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(a) = self.abort {
            a.abort();
        }
    }
}

/// Removes a request's [`Task`] entry when the request ends, however it ends (its future
/// finished, or dropped by an abort, a runtime shut down, or a spawn on a closed runtime).
struct TaskEntry {
    app: Arc<AppNet>,
    id: u64,
}

impl Drop for TaskEntry {
    fn drop(&mut self) {
        lock(&self.app.tasks).remove(&self.id);
    }
}

/// An answer's body, held until the app reads it to its end, closes it or stops.
struct Held {
    body: Bytes,
    _bytes: Reservation,
}

/// Bytes counted against the host-wide cap on bytes held, given back when dropped.
struct Reservation {
    counter: Arc<AtomicU64>,
    n: u64,
}

impl Reservation {
    fn new(counter: &Arc<AtomicU64>) -> Reservation {
        Reservation {
            counter: Arc::clone(counter),
            n: 0,
        }
    }

    /// Counts `more` bytes, if the total stays within `cap`.
    fn grow(&mut self, more: u64, cap: u64) -> bool {
        let before = self.counter.fetch_add(more, Ordering::AcqRel);
        if before.saturating_add(more) > cap {
            self.counter.fetch_sub(more, Ordering::AcqRel);
            return false;
        }
        self.n += more;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// A request in flight, counted per app and host-wide until dropped (answered, timed out,
/// cancelled, or the runtime shut down).
struct Flight {
    app: Arc<AppNet>,
    total: Arc<AtomicUsize>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.app.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A poisoned lock still guards plain maps: take it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Denied, message.into())
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message.into())
}

fn parse<'a, T: Deserialize<'a>>(request: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(request)
        .map_err(|e| bad_request(format!("the request does not fit this API: {e}")))
}

impl Inner {
    pub(crate) fn new(
        config: NetConfig,
        handle: tokio::runtime::Handle,
    ) -> Result<Inner, NetError> {
        let mut roots = rustls::RootCertStore::empty();
        if config.public_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for der in &config.roots {
            roots
                .add(der.clone())
                .map_err(|e| NetError::Config(format!("a CA certificate does not parse: {e}")))?;
        }
        if roots.is_empty() {
            return Err(NetError::Config(
                "no CA to verify servers with: keep the public roots or trust a CA".into(),
            ));
        }
        let address = Arc::new(AddressPolicy {
            allowed: config.allowed_ranges.clone(),
        });
        Ok(Inner {
            config,
            handle,
            roots: Arc::new(roots),
            address,
            apps: Mutex::new(HashMap::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            buffered: Arc::new(AtomicU64::new(0)),
            next_ids: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
        })
    }

    /// The app's side, made with its own client on first use.
    fn app(&self, app: &AppId) -> Result<Arc<AppNet>, ApiError> {
        let mut apps = lock(&self.apps);
        if let Some(a) = apps.get(app) {
            return Ok(Arc::clone(a));
        }
        let a = Arc::new(AppNet {
            client: self.client()?,
            in_flight: AtomicUsize::new(0),
            tasks: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            uploads: Mutex::new(HashMap::new()),
            next_upload: AtomicU64::new(1),
        });
        apps.insert(app.clone(), Arc::clone(&a));
        Ok(a)
    }

    fn existing(&self, app: &AppId) -> Option<Arc<AppNet>> {
        lock(&self.apps).get(app).cloned()
    }

    /// A client of its own for one app: its pool and its TLS session cache are nobody
    /// else's (a fresh `ClientConfig` gets a fresh session store).
    fn client(&self) -> Result<HttpClient, ApiError> {
        let internal = |e: rustls::Error| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the host could not set TLS up: {e}"),
            )
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(internal)?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_no_client_auth();
        let mut tls = tls;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut http = HttpConnector::new_with_resolver(CheckedResolver {
            resolver: Arc::clone(&self.config.resolver),
            policy: Arc::clone(&self.address),
        });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.config.timeout));
        // Built from the parts, so that ALPN offers http/1.1 (the builder offers nothing for
        // HTTP/1 alone). http is let through here only for the origins `check_url` allows.
        let https = HttpsConnector::from((http, tls));
        Ok(Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .retry_canceled_requests(false)
            .http1_max_buf_size(self.config.max_header_bytes.max(8_192))
            .http1_max_headers(self.config.max_headers)
            .build(https))
    }

    pub(crate) fn cancel(&self, app: &AppId) {
        *lock(&self.generations).entry(app.clone()).or_insert(0) += 1;
        let gone = {
            let mut apps = lock(&self.apps);
            let gone = apps.remove(app);
            if let Some(a) = &gone {
                a.closed.store(true, Ordering::SeqCst);
            }
            gone
        };
        if let Some(a) = gone {
            {
                // Stopped under the lock: a request delivering now either finishes first
                // (its answer is cleared below) or sees itself cancelled.
                let mut tasks = lock(&a.tasks);
                for (_, t) in tasks.drain() {
                    t.stop();
                }
            }
            lock(&a.held).clear();
            lock(&a.uploads).clear();
        }
    }

    /// The most body bytes an answer (or an upload) of `app` may have: a quarter of its
    /// memory cap, or the host's lower cap.
    fn body_cap(&self, app: &AppContext) -> u64 {
        let memory = app
            .limits
            .memory_pages
            .map_or(DEFAULT_MEMORY_BYTES, |p| u64::from(p) * 65_536);
        self.config
            .response_cap
            .map_or(memory / 4, |c| c.min(memory / 4))
    }

    pub(crate) fn in_flight_total(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(crate) fn forget(&self, app: &AppId) {
        self.cancel(app);
        lock(&self.next_ids).remove(app);
    }

    pub(crate) fn cancel_all(&self) {
        let apps: Vec<AppId> = lock(&self.apps).keys().cloned().collect();
        for app in apps {
            self.cancel(&app);
        }
    }

    /// Requests not yet answered: from `net.fetch` until their event is posted (or they
    /// are closed or cancelled).
    pub(crate) fn in_flight(&self, app: &AppId) -> usize {
        self.existing(app).map_or(0, |a| lock(&a.tasks).len())
    }

    pub(crate) fn held(&self, app: &AppId) -> usize {
        self.existing(app).map_or(0, |a| lock(&a.held).len())
    }

    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.buffered.load(Ordering::Acquire)
    }

    /// Writes one request's audit record (never a body, a query or a header value): `bytes_in`
    /// the request body the app sent, `bytes_out` the answer's body (the audit record's
    /// request and response sizes).
    #[allow(clippy::too_many_arguments)] // one audit record's fields
    fn audit(
        &self,
        app: &AppId,
        method: &str,
        url: &Url,
        outcome: AuditOutcome,
        what: &str,
        started: Instant,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let Some(audit) = &self.config.audit else {
            return;
        };
        let subject = where_of(url);
        let detail = format!("{method} {what}");
        let _ = audit.record(
            &AuditRecord::new(Layer::Net, "fetch", &subject, outcome)
                .app(Some(app))
                .capability(Capability::NET_FETCH)
                .detail(&detail)
                .latency_ns(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX))
                .bytes(
                    u32::try_from(bytes_in).unwrap_or(u32::MAX),
                    u32::try_from(bytes_out).unwrap_or(u32::MAX),
                ),
        );
    }

    /// `net.fetch`: every check that can be made at once, then the request is handed to the
    /// runtime and the call answers `pending`.
    fn fetch(
        self: &Arc<Self>,
        app: &AppContext,
        scope: &[OriginPattern],
        request: &[u8],
        response: &mut Vec<u8>,
        events: &EventSender,
    ) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            url: String,
            #[serde(default)]
            method: Option<String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
            #[serde(default)]
            body: Option<String>,
            #[serde(default)]
            body_base64: Option<String>,
            #[serde(default)]
            upload: Option<u64>,
        }
        let started = Instant::now();
        let generation = lock(&self.generations).get(&app.app).copied();
        let req: Req = parse(request)?;
        let method = match req.method.as_deref().unwrap_or("GET") {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            "PATCH" => Method::PATCH,
            "OPTIONS" => Method::OPTIONS,
            other => {
                return Err(bad_request(format!(
                    "method {:?} is not one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS",
                    clip(other)
                )));
            }
        };
        let url = self.check_url(&req.url, None, scope).inspect_err(|e| {
            if e.code() == ErrorCode::Denied {
                app.monitor.observe(&MonitorEvent::FetchRefused);
            }
            if let Ok(u) = Url::parse(&req.url) {
                let what = format!("refused: {}", e.message());
                self.audit(
                    &app.app,
                    method.as_str(),
                    &u,
                    AuditOutcome::Denied,
                    &what,
                    started,
                    0,
                    0,
                );
            }
        })?;
        let headers = self.check_headers(&req.headers)?;
        let net = self.app(&app.app)?;
        let body = match (req.body, req.body_base64, req.upload) {
            (Some(text), None, None) => Bytes::from(text),
            (None, Some(b64), None) => Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| bad_request(format!("body_base64 is not base64: {e}")))?,
            ),
            // A body uploaded in chunks: taken out of the uploads (sent once) when the request
            // passes every check below.
            (None, None, Some(u)) => {
                if !lock(&net.uploads).contains_key(&u) {
                    return Err(bad_request(format!(
                        "no upload {u} is open; make one with net.upload (each is sent once)"
                    )));
                }
                Bytes::new()
            }
            (None, None, None) => Bytes::new(),
            _ => {
                return Err(bad_request(
                    "give at most one of body, body_base64 and upload",
                ));
            }
        };
        // Counted before the checks, so that no two calls both pass them.
        let per_app = net.in_flight.fetch_add(1, Ordering::AcqRel);
        let total = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let id = {
            let mut ids = lock(&self.next_ids);
            let next = ids.entry(app.app.clone()).or_insert(1);
            let id = *next;
            *next += 1;
            id
        };
        let flight = Flight {
            app: Arc::clone(&net),
            total: Arc::clone(&self.in_flight),
        };
        if per_app >= self.config.in_flight_per_app {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "{} requests are in flight already; wait for their {FETCH_EVENT} events",
                    self.config.in_flight_per_app
                ),
            ));
        }
        if total >= self.config.in_flight_total {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "the host has as many requests in flight as it takes; retry later",
            ));
        }
        // Answers held and requests that will hold one, together: an app cannot pile up
        // more answers than this by fetching many at once.
        if lock(&net.held).len() + per_app >= self.config.held_per_app {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "{} answers are held unread or on their way; read them to their end or close them",
                    self.config.held_per_app
                ),
            ));
        }
        let cap = self.body_cap(app);
        // The manifest may lower the host's timeout, never raise it.
        let timeout = app
            .limits
            .fetch_timeout_ms
            .map_or(self.config.timeout, |ms| {
                self.config.timeout.min(Duration::from_millis(ms))
            });
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let mut tasks = lock(&net.tasks);
            if net.closed.load(Ordering::SeqCst)
                || lock(&self.generations).get(&app.app).copied() != generation
            {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the app is being stopped; its requests are cancelled",
                ));
            }
            tasks.insert(
                id,
                Task {
                    abort: None,
                    cancelled: Arc::clone(&cancelled),
                },
            );
        }
        let entry = TaskEntry {
            app: Arc::clone(&net),
            id,
        };
        // An uploaded body stays counted against the bytes held until the request ends.
        let (body, body_held) = match req.upload {
            Some(u) => match lock(&net.uploads).remove(&u) {
                Some(up) => (Bytes::from(up.bytes), Some(up.held)),
                None => return Err(bad_request(format!("upload {u} was sent already"))),
            },
            None => (body, None),
        };
        let started_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let job = Job {
            _body_held: body_held,
            cancelled,
            polled: Arc::clone(&started_flag),
            monitor: app.monitor.clone(),
            inner: Arc::clone(self),
            net: Arc::clone(&net),
            app: app.app.clone(),
            version: app.version.clone(),
            events: events.clone(),
            scope: scope.to_vec(),
            id,
            url,
            method,
            headers,
            body,
            cap,
            timeout,
            started,
        };
        // Spawned outside the lock: on a runtime that has shut down, `spawn` drops the
        // future at once, here, and its guards take the lock themselves.
        let task = self.handle.spawn(job.run(flight, entry));
        {
            let mut tasks = lock(&net.tasks);
            match tasks.get_mut(&id) {
                Some(t) => t.abort = Some(task.abort_handle()),
                // Ended already, or cancelled meanwhile: stop it (a no-op if it ended).
                None => task.abort(),
            }
        }
        if task.is_finished() && !started_flag.load(Ordering::SeqCst) {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                if net.closed.load(Ordering::SeqCst) {
                    "the app's requests were cancelled (it is being stopped)"
                } else {
                    "the network runtime has stopped; no request can be sent"
                },
            ));
        }
        app.monitor.observe(&MonitorEvent::FetchSent);
        serde_json::to_writer(
            response,
            &serde_json::json!({"status": "pending", "id": id}),
        )
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the answer did not encode"))
    }

    /// The URL, parsed once, if the app may reach it: https (or an http origin the host named
    /// for development), a name (no IP address in any form), no userinfo, inside `scope`;
    /// and, for a redirect `from` an https URL, https again.
    fn check_url(
        &self,
        text: &str,
        from: Option<&Url>,
        scope: &[OriginPattern],
    ) -> Result<Url, ApiError> {
        let mut url = match from {
            None => Url::parse(text),
            Some(base) => base.join(text),
        }
        .map_err(|e| bad_request(format!("the URL does not parse: {e}")))?;
        self.check_parsed(&mut url, from, scope)?;
        Ok(url)
    }

    fn check_parsed(
        &self,
        url: &mut Url,
        from: Option<&Url>,
        scope: &[OriginPattern],
    ) -> Result<(), ApiError> {
        match url.scheme() {
            "https" => {}
            "http" if from.is_some_and(|f| f.scheme() == "https") => {
                return Err(denied("a redirect from https to http is refused"));
            }
            "http" if self.config.dev_http.iter().any(|p| p.matches(url)) => {}
            "http" => {
                return Err(denied(format!(
                    "{} is plain http, which is refused; use https",
                    url.origin().ascii_serialization()
                )));
            }
            other => {
                return Err(denied(format!(
                    "scheme {:?} is refused; only https URLs are fetched",
                    clip(other)
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(denied(
                "a URL with userinfo (a name or password before '@') is refused",
            ));
        }
        match url.host() {
            Some(url::Host::Domain(_)) => {}
            Some(_) => {
                return Err(denied(
                    "an IP address is refused; use a name among the app's origins",
                ));
            }
            None => return Err(bad_request("the URL has no host")),
        }
        if !in_scope(scope, url) {
            return Err(denied(format!(
                "{} is not an origin granted to this app; list it in net:fetch's origins and ask with capability.request",
                url.origin().ascii_serialization()
            )));
        }
        url.set_fragment(None);
        Ok(())
    }

    fn check_headers(
        &self,
        headers: &BTreeMap<String, String>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ApiError> {
        if headers.len() > MAX_REQUEST_HEADERS {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("at most {MAX_REQUEST_HEADERS} headers may be sent"),
            ));
        }
        let mut out = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            if name.len() + value.len() > MAX_HEADER_BYTES {
                return Err(ApiError::new(
                    ErrorCode::TooLarge,
                    format!("a header is at most {MAX_HEADER_BYTES} bytes, name and value"),
                ));
            }
            if name.contains(['\r', '\n', '\0']) || value.contains(['\r', '\n', '\0']) {
                return Err(bad_request(format!(
                    "header {:?} has CR, LF or NUL in it, which is refused",
                    clip(name)
                )));
            }
            let lower = name.to_ascii_lowercase();
            let refused = REFUSED_HEADERS.iter().any(|r| match r.strip_suffix('*') {
                Some(prefix) => lower.starts_with(prefix),
                None => lower == *r && !(lower == "cookie" && self.config.cookies),
            });
            if refused {
                return Err(denied(format!(
                    "header {:?} is set by the host or refused (see REFUSED_HEADERS in docs/abi.md)",
                    clip(name)
                )));
            }
            let name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| bad_request(format!("{:?} is not a header name", clip(name))))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                bad_request(format!("the value of header {name} has control characters"))
            })?;
            out.push((name, value));
        }
        Ok(out)
    }
}

/// Origin and path of `url`, its query left out: what an audit record names.
fn where_of(url: &Url) -> String {
    // A URL that is not http(s) (`data:`, `mailto:`) carries its content in its path: only
    // its scheme is named.
    if !matches!(url.scheme(), "http" | "https") {
        return format!("{}:", url.scheme());
    }
    let mut s = url.origin().ascii_serialization();
    let path = url.path();
    s.push_str(path.get(..path.len().min(256)).unwrap_or("/"));
    s
}

/// At most 64 characters of guest text, for a message.
fn clip(s: &str) -> String {
    s.chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

/// One fetch, moved to the runtime.
struct Job {
    /// The bytes of an uploaded body, counted until the request ends.
    _body_held: Option<Reservation>,
    /// Set by `net.close` or `cancel`: neither hold nor post.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    /// Set when the runtime first polls the request (a runtime that has shut down never does).
    polled: Arc<std::sync::atomic::AtomicBool>,
    /// The app's monitor: requests, refusals and answer bytes count toward its net rules.
    monitor: Watch,
    inner: Arc<Inner>,
    net: Arc<AppNet>,
    app: AppId,
    version: String,
    events: EventSender,
    scope: Vec<OriginPattern>,
    id: u64,
    url: Url,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    cap: u64,
    /// The host's timeout, or the manifest's when lower.
    timeout: Duration,
    started: Instant,
}

/// A fetch's answer before it is handed to the app.
struct Answer {
    status: StatusCode,
    headers: BTreeMap<String, String>,
    body: Bytes,
    bytes: Reservation,
    url: Url,
}

impl Job {
    /// Runs the fetch and posts its answer. `flight` is given back before the event is
    /// posted: an app that has its answer has room for its next request.
    async fn run(self, flight: Flight, entry: TaskEntry) {
        self.polled.store(true, Ordering::SeqCst);
        let timeout = self.timeout;
        let outcome = match tokio::time::timeout(timeout, self.attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "no whole answer within {} ms; the request was cut off",
                    timeout.as_millis()
                ),
            )),
        };
        let method = self.method.as_str();
        let sent = self.body.len() as u64;
        match outcome {
            Ok(answer) => {
                let size = answer.body.len() as u64;
                let status = answer.status.as_u16();
                self.monitor
                    .observe(&MonitorEvent::FetchBytes { bytes: size });
                self.inner.audit(
                    &self.app,
                    method,
                    &answer.url,
                    AuditOutcome::Allowed,
                    &status.to_string(),
                    self.started,
                    sent,
                    size,
                );
                let detail = serde_json::json!({
                    "id": self.id,
                    "status": status,
                    "headers": answer.headers,
                    "size": size,
                    "url": answer.url.as_str(),
                });
                let held = (size > 0).then_some(Held {
                    body: answer.body,
                    _bytes: answer.bytes,
                });
                self.deliver(held, &detail, flight);
            }
            Err(e) => {
                let outcome = if e.code() == ErrorCode::Denied {
                    AuditOutcome::Denied
                } else {
                    AuditOutcome::Failed
                };
                let what = if outcome == AuditOutcome::Denied {
                    self.monitor.observe(&MonitorEvent::FetchRefused);
                    format!("refused: {}", e.message())
                } else {
                    format!("failed: {}", e.message())
                };
                self.inner.audit(
                    &self.app,
                    method,
                    &self.url,
                    outcome,
                    &what,
                    self.started,
                    sent,
                    0,
                );
                let detail = serde_json::json!({
                    "id": self.id,
                    "error": {"code": e.code().name(), "message": e.message()},
                });
                self.deliver(None, &detail, flight);
            }
        }
        drop(entry);
    }

    /// Holds the answer's body (before the event, so that a `net.read` the event prompts
    /// finds it) and posts the event, unless the request was closed or cancelled: checked
    /// under the app's task lock, which `net.close` and `cancel` take to stop a request, so
    /// a stopped request never holds or posts afterwards.
    ///
    /// `flight` is given back here, once the body is held: the request counts against the
    /// app's cap of answers held and on their way at every moment, and an app that has its
    /// answer has room for its next request.
    ///
    /// The request stops being in flight here too, under the same lock and before the event
    /// is posted: whoever sees its event never sees it in flight.
    fn deliver(&self, held: Option<Held>, detail: &serde_json::Value, flight: Flight) {
        let mut tasks = lock(&self.net.tasks);
        if self.cancelled.load(Ordering::SeqCst) || tasks.remove(&self.id).is_none() {
            return;
        }
        if let Some(h) = held {
            lock(&self.net.held).insert(self.id, h);
        }
        drop(flight);
        post(&self.events, detail);
        drop(tasks);
    }

    /// The request and its redirects, each hop checked as the first was.
    async fn attempt(&self) -> Result<Answer, ApiError> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        let mut headers = self.headers.clone();
        for hop in 0..=MAX_REDIRECTS {
            let request = self.request(&url, &method, &headers, &body)?;
            let response = self
                .net
                .client
                .request(request)
                .await
                .map_err(|e| failure(&e))?;
            let status = response.status();
            let location = response.headers().get(header::LOCATION).cloned();
            let Some(location) = location.filter(|_| is_redirect(status)) else {
                return self.answer(response, url).await;
            };
            drop(response);
            if hop == MAX_REDIRECTS {
                return Err(denied(format!(
                    "more than {MAX_REDIRECTS} redirects; the last pointed on again"
                )));
            }
            let location = location.to_str().map_err(|_| {
                ApiError::new(ErrorCode::Unavailable, "a redirect's Location is not text")
            })?;
            let next = self
                .inner
                .check_url(location, Some(&url), &self.scope)
                .map_err(|e| {
                    ApiError::new(e.code(), format!("redirect refused: {}", e.message()))
                })?;
            if next.origin() != url.origin() {
                headers.retain(|(n, _)| n != header::AUTHORIZATION && n != header::COOKIE);
            }
            let to_get = status == StatusCode::SEE_OTHER
                || (method == Method::POST
                    && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND));
            if to_get && method != Method::HEAD {
                method = Method::GET;
                body = Bytes::new();
                headers.retain(|(n, _)| n != header::CONTENT_TYPE);
            }
            url = next;
        }
        Err(denied("too many redirects"))
    }

    fn request(
        &self,
        url: &Url,
        method: &Method,
        headers: &[(HeaderName, HeaderValue)],
        body: &Bytes,
    ) -> Result<Request<Full<Bytes>>, ApiError> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|_| bad_request("the URL cannot be sent"))?;
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri;
        let h = request.headers_mut();
        for (name, value) in headers {
            h.append(name.clone(), value.clone());
        }
        // The app's id and version are checked names: these always encode.
        let agent = format!(
            "sandframe/{} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            self.app,
            self.version
        );
        let referer = format!(
            "https://apps.sandframe.invalid/{}/{}/",
            self.app, self.version
        );
        if let (Ok(agent), Ok(referer)) = (
            HeaderValue::from_str(&agent),
            HeaderValue::from_str(&referer),
        ) {
            h.insert(header::USER_AGENT, agent);
            h.insert(header::REFERER, referer);
        }
        Ok(request)
    }

    /// The answer, its body read up to the app's cap and the host's: past either, the rest
    /// is never read (the connection is dropped, not pooled).
    async fn answer(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
        url: Url,
    ) -> Result<Answer, ApiError> {
        let cap = self.cap;
        let too_large = |what: String| {
            ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "{what}; this app's answers are at most {cap} bytes, and the rest was not read"
                ),
            )
        };
        let status = response.status();
        let bodiless = self.method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        if !bodiless
            && let Some(len) = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            && len > cap
        {
            return Err(too_large(format!("the answer says it is {len} bytes")));
        }
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in response.headers() {
            if name == header::SET_COOKIE && !self.inner.config.cookies {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let mut body = response.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut bytes = Reservation::new(&self.inner.buffered);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| failure(&e))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let more = data.len() as u64;
            if buf.len() as u64 + more > cap {
                return Err(too_large("the answer is larger".into()));
            }
            if !bytes.grow(more, self.inner.config.buffered_total) {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "the host holds as many answers as it takes; retry later",
                ));
            }
            buf.extend_from_slice(&data);
        }
        Ok(Answer {
            status,
            headers,
            body: Bytes::from(buf),
            bytes,
            url,
        })
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// What the app is told of a failed request: a refused address is `denied` and names it; a
/// header block over its cap is `too_large`; anything else (no route, refused connection, a
/// certificate that does not verify, a server that is not HTTP) is `unavailable`, with the
/// cause.
fn failure(e: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut words = Vec::new();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && let Some(refused) = io
                .get_ref()
                .and_then(|r| r.downcast_ref::<AddressRefused>())
        {
            return denied(refused.to_string());
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>()
            // `is_parse_too_large` exists only with hyper's server side: a head over the
            // buffer or the field cap is the parse error hyper names "too large".
            && h.is_parse()
            && h.to_string().contains("too large")
        {
            return ApiError::new(
                ErrorCode::TooLarge,
                "the answer's headers are over the host's cap (bytes or fields); they were not read on",
            );
        }
        let text = c.to_string();
        if words.last() != Some(&text) {
            words.push(text);
        }
        cause = c.source();
    }
    ApiError::new(
        ErrorCode::Unavailable,
        format!("the request failed: {}", words.join(": ")),
    )
}

/// Posts `{"handler":"sf.fetch","detail":…}`, handler first as every event is written.
fn post(events: &EventSender, detail: &serde_json::Value) {
    if let Ok(detail) = serde_json::to_string(detail) {
        events.post(format!(r#"{{"handler":"{FETCH_EVENT}","detail":{detail}}}"#).into_bytes());
    }
}

/// `net.fetch`.
pub(crate) struct FetchApi(pub(crate) Arc<Inner>);

impl Api for FetchApi {
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        self.call_scoped(app, &[], request, response, &EventSender::none())
    }

    fn call_posting(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
        events: &EventSender,
    ) -> Result<(), ApiError> {
        self.call_scoped(app, &[], request, response, events)
    }

    fn call_scoped(
        &self,
        app: &AppContext,
        scope: &[OriginPattern],
        request: &[u8],
        response: &mut Vec<u8>,
        events: &EventSender,
    ) -> Result<(), ApiError> {
        self.0.fetch(app, scope, request, response, events)
    }
}

/// `net.read`.
pub(crate) struct ReadApi(pub(crate) Arc<Inner>);

impl Api for ReadApi {
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            id: u64,
            #[serde(default)]
            offset: u64,
            #[serde(default)]
            len: Option<u64>,
        }
        let req: Req = parse(request)?;
        let none = || {
            bad_request(format!(
                "no answer {} is held; read after its {FETCH_EVENT} event, before reading to its end or closing it",
                req.id
            ))
        };
        let net = self.0.existing(&app.app).ok_or_else(none)?;
        let mut held = lock(&net.held);
        let body = &held.get(&req.id).ok_or_else(none)?.body;
        let size = body.len() as u64;
        if req.offset > size {
            return Err(bad_request(format!(
                "offset {} is past the answer's {size} bytes",
                req.offset
            )));
        }
        let len = req
            .len
            .unwrap_or(MAX_READ_BYTES as u64)
            .min(MAX_READ_BYTES as u64);
        let end = req.offset.saturating_add(len).min(size);
        let chunk = body
            .get(
                usize::try_from(req.offset).unwrap_or(usize::MAX)
                    ..usize::try_from(end).unwrap_or(usize::MAX),
            )
            .unwrap_or_default();
        let eof = end == size;
        serde_json::to_writer(
            &mut *response,
            &serde_json::json!({
                "data": base64::engine::general_purpose::STANDARD.encode(chunk),
                "offset": req.offset,
                "size": size,
                "eof": eof,
            }),
        )
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the answer did not encode"))?;
        if eof {
            held.remove(&req.id);
        }
        Ok(())
    }
}

/// `net.close`.
pub(crate) struct CloseApi(pub(crate) Arc<Inner>);

impl Api for CloseApi {
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            id: u64,
        }
        let req: Req = parse(request)?;
        let closed = self.0.existing(&app.app).is_some_and(|net| {
            // The request first (under its lock it can no longer hold or post), then what it
            // may have held just before.
            let running = {
                let mut tasks = lock(&net.tasks);
                // Stopped under the lock `deliver` checks under: no event after this.
                tasks.remove(&req.id).map(Task::stop).is_some()
            };
            let held = lock(&net.held).remove(&req.id).is_some();
            held || running
        });
        serde_json::to_writer(&mut *response, &serde_json::json!({ "closed": closed }))
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the answer did not encode"))
    }
}

/// Uploads one app may have open at once.
const MAX_UPLOADS: usize = 4;

/// `net.upload`: a request body larger than one call, sent up in chunks.
pub(crate) struct UploadApi(pub(crate) Arc<Inner>);

impl Api for UploadApi {
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            data: String,
            #[serde(default)]
            upload: Option<u64>,
        }
        let req: Req = parse(request)?;
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(&req.data)
            .map_err(|e| bad_request(format!("data is not base64: {e}")))?;
        let inner = &self.0;
        let net = inner.app(&app.app)?;
        // An upload is at most what an answer may be.
        let cap = inner.body_cap(app);
        let mut uploads = lock(&net.uploads);
        let id = match req.upload {
            Some(u) => u,
            None => {
                if uploads.len() >= MAX_UPLOADS {
                    return Err(ApiError::new(
                        ErrorCode::RateLimited,
                        format!("{MAX_UPLOADS} uploads are open; send them with net.fetch first"),
                    ));
                }
                let u = net.next_upload.fetch_add(1, Ordering::Relaxed);
                uploads.insert(
                    u,
                    Upload {
                        bytes: Vec::new(),
                        held: Reservation::new(&inner.buffered),
                    },
                );
                u
            }
        };
        let Some(up) = uploads.get_mut(&id) else {
            return Err(bad_request(format!(
                "no upload {id} is open; start one by leaving out \"upload\""
            )));
        };
        let more = chunk.len() as u64;
        if up.bytes.len() as u64 + more > cap {
            uploads.remove(&id);
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "a request body is at most {cap} bytes for this app; the upload was dropped"
                ),
            ));
        }
        if !up.held.grow(more, inner.config.buffered_total) {
            uploads.remove(&id);
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "the host holds as many bytes as it takes; retry later",
            ));
        }
        up.bytes.extend_from_slice(&chunk);
        let size = up.bytes.len();
        serde_json::to_writer(
            &mut *response,
            &serde_json::json!({ "upload": id, "size": size }),
        )
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the answer did not encode"))
    }
}
