//! A real HTTPS service on 127.0.0.1 for the demo, development, the network tests and the
//! benchmarks (feature `service`): a throwaway CA made with rcgen, a certificate for the names
//! it is asked for, rustls with the ring provider and hyper. It is never in a host's request
//! path: the door above is the client side. It serves a few routes that behave as honest and as hostile
//! services do, counts what reaches it, and stops when dropped (or by itself after five
//! minutes, so that nothing is left listening). [`LocalService::start_plain`] serves the same
//! over plain http, for a development origin.
//!
//! Routes:
//! - `/hello`: 200, a short text;
//! - `/echo`: 200, JSON of the method, path, query, headers and body it received;
//! - `/status/<n>`: status n, no body;
//! - `/redirect?to=<url>&code=<3xx>`: a redirect to `to` (code 302 unless given);
//! - `/loop`: a redirect to itself;
//! - `/big?n=<bytes>`: n bytes with a `Content-Length`;
//! - `/stream?n=<bytes>`: n bytes in 16 KiB chunks, no length given ([`LocalService::streamed`]
//!   counts what was sent);
//! - `/drip`: one byte every 100 ms, for a minute;
//! - `/slow?ms=<n>`: 200 after n ms;
//! - `/bomb?n=<count>`: n headers of 100 bytes each;
//! - `/cookie`: a `Set-Cookie` header;
//! - `/gzip`: `Content-Encoding: gzip` over bytes that are not gzip;
//! - `/notes`: a notes service in memory: GET answers `{"notes": [..]}`, POST of
//!   `{"text": ".."}` adds one (at most 100 notes of 200 characters) and answers the list.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::NetError;

/// One request as the service saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The headers, names in lower case (repeated ones joined with ", ").
    pub headers: BTreeMap<String, String>,
}

/// The running service (see the module documentation).
pub struct LocalService {
    addr: SocketAddr,
    ca_der: Vec<u8>,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    streamed: Arc<AtomicU64>,
    alpn: Arc<Mutex<Vec<Option<String>>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LocalService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalService")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    streamed: Arc<AtomicU64>,
    notes: Arc<Mutex<Vec<String>>>,
}

impl LocalService {
    /// Starts the service on 127.0.0.1 (a free port), with a certificate for `names`, signed
    /// by a CA made for this service alone (its key is never written anywhere).
    ///
    /// # Errors
    /// [`NetError::Config`] if a name cannot be put in a certificate; [`NetError::Runtime`] if
    /// 127.0.0.1 cannot be bound.
    pub fn start(names: &[&str]) -> Result<LocalService, NetError> {
        Self::start_with(names, true)
    }

    /// Starts the same service over plain http on 127.0.0.1, for the development origins a
    /// host allows over http ([`crate::NetConfig::allow_http`]). It has a CA all the same
    /// (never used).
    ///
    /// # Errors
    /// As [`LocalService::start`].
    pub fn start_plain(names: &[&str]) -> Result<LocalService, NetError> {
        Self::start_with(names, false)
    }

    fn start_with(names: &[&str], tls: bool) -> Result<LocalService, NetError> {
        let cert = |e: rcgen::Error| NetError::Config(format!("the service's certificate: {e}"));
        let tls_err = |e: rustls::Error| NetError::Config(format!("the service's TLS: {e}"));
        let ca_key = rcgen::KeyPair::generate().map_err(cert)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(cert)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sandframe throwaway test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(cert)?;
        let leaf_key = rcgen::KeyPair::generate().map_err(cert)?;
        let leaf_params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .map_err(cert)?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(cert)?;
        let ca_der = ca.der().to_vec();
        let chain = vec![leaf.der().clone()];
        let key = rustls_pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| NetError::Config(format!("the service's key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(tls_err)?;
        tls_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tls.then(|| tokio_rustls::TlsAcceptor::from(Arc::new(tls_config)));

        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(NetError::Runtime)?;
        std_listener
            .set_nonblocking(true)
            .map_err(NetError::Runtime)?;
        let addr = std_listener.local_addr().map_err(NetError::Runtime)?;
        let shared = Shared {
            seen: Arc::new(Mutex::new(Vec::new())),
            streamed: Arc::new(AtomicU64::new(0)),
            notes: Arc::new(Mutex::new(Vec::new())),
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let alpn = Arc::new(Mutex::new(Vec::new()));
        let alpn_seen = Arc::clone(&alpn);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (s, c) = (shared.clone(), Arc::clone(&connections));
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let deadline = tokio::time::sleep(Duration::from_secs(300));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        () = &mut deadline => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            // Each TLS flight at once (Nagle would hold it for the peer's
                            // delayed ACK).
                            let _ = tcp.set_nodelay(true);
                            c.fetch_add(1, Ordering::AcqRel);
                            let acceptor = acceptor.clone();
                            let s = s.clone();
                            let alpn_seen = Arc::clone(&alpn_seen);
                            tokio::spawn(async move {
                                let Some(acceptor) = acceptor else {
                                    serve(tcp, s).await;
                                    return;
                                };
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let proto = tls.get_ref().1.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                                if let Ok(mut a) = alpn_seen.lock() {
                                    a.push(proto);
                                }
                                serve(tls, s).await;
                            });
                        }
                    }
                }
            });
            rt.shutdown_background();
        });
        Ok(LocalService {
            addr,
            ca_der,
            seen: shared.seen,
            connections,
            streamed: shared.streamed,
            alpn,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port it listens on (127.0.0.1).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate (DER) its certificate is signed by: trust it, and only there.
    #[must_use]
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    /// Every request that reached it, in order.
    #[must_use]
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// TCP connections accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// The protocol ALPN settled on, per TLS connection accepted (`None`: the client offered
    /// none).
    #[must_use]
    pub fn alpn(&self) -> Vec<Option<String>> {
        self.alpn.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Body bytes `/stream` has sent so far.
    #[must_use]
    pub fn streamed(&self) -> u64 {
        self.streamed.load(Ordering::Acquire)
    }
}

impl Drop for LocalService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves HTTP/1.1 on one connection, plain or TLS.
async fn serve<T>(io: T, s: Shared)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let s = s.clone();
        async move { Ok::<_, Infallible>(route(req, s).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn reply(status: u16, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r
}

/// A body of `chunks` sent by a task, each after `gap`.
fn streamed(chunks: Vec<Bytes>, gap: Duration, sent: Option<Arc<AtomicU64>>) -> Body {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(1);
    tokio::spawn(async move {
        for c in chunks {
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let n = c.len() as u64;
            if tx.send(Frame::data(c)).await.is_err() {
                return;
            }
            if let Some(s) = &sent {
                s.fetch_add(n, Ordering::AcqRel);
            }
        }
    });
    body.boxed()
}

/// The in-memory notes service.
async fn notes(req: Request<Incoming>, s: &Shared) -> Response<Body> {
    let post = req.method() == hyper::Method::POST;
    if post {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_owned));
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return reply(400, full(r#"{"error":"send {\"text\": \"...\"}"}"#));
        };
        if let Ok(mut n) = s.notes.lock() {
            if n.len() >= 100 {
                n.remove(0);
            }
            n.push(text.chars().take(200).collect());
        }
    }
    let list = s.notes.lock().map(|n| n.clone()).unwrap_or_default();
    let mut r = reply(
        if post { 201 } else { 200 },
        full(serde_json::json!({ "notes": list }).to_string()),
    );
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn route(req: Request<Incoming>, s: Shared) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut headers = BTreeMap::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|old: &mut String| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    if let Ok(mut seen) = s.seen.lock() {
        seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
        });
    }
    let n = |key: &str, default: u64| {
        query
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    match path.as_str() {
        "/hello" => reply(200, full("hello from the test service")),
        "/notes" => notes(req, &s).await,
        "/echo" => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = serde_json::json!({
                "method": method,
                "path": path,
                "query": query,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            reply(200, full(text.to_string()))
        }
        "/redirect" => {
            let mut r = reply(
                u16::try_from(n("code", 302)).unwrap_or(302),
                full(Bytes::new()),
            );
            if let Some(to) = query.get("to").and_then(|t| t.parse().ok()) {
                r.headers_mut().insert(hyper::header::LOCATION, to);
            }
            r
        }
        "/loop" => {
            let mut r = reply(302, full(Bytes::new()));
            r.headers_mut().insert(
                hyper::header::LOCATION,
                hyper::header::HeaderValue::from_static("/loop"),
            );
            r
        }
        "/big" => {
            let len = usize::try_from(n("n", 1024)).unwrap_or(0);
            reply(200, full(vec![b'x'; len]))
        }
        "/stream" => {
            let total = n("n", 1024);
            let mut chunks = Vec::new();
            let mut left = total;
            while left > 0 {
                let c = left.min(16 << 10);
                chunks.push(Bytes::from(vec![b'y'; usize::try_from(c).unwrap_or(0)]));
                left -= c;
            }
            reply(200, streamed(chunks, Duration::ZERO, Some(s.streamed)))
        }
        "/drip" => {
            let chunks = (0..600).map(|_| Bytes::from_static(b".")).collect();
            reply(200, streamed(chunks, Duration::from_millis(100), None))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(n("ms", 1000))).await;
            reply(200, full("slow"))
        }
        "/bomb" => {
            let mut r = reply(200, full("bomb"));
            for i in 0..n("n", 1000) {
                if let (Ok(k), Ok(v)) = (
                    hyper::header::HeaderName::from_bytes(format!("x-bomb-{i}").as_bytes()),
                    hyper::header::HeaderValue::from_str(&"b".repeat(90)),
                ) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
        "/gzip" => {
            // Announced as gzip; the bytes are not gzip at all: a client that decompressed
            // would fail, one that does not hands them over as they are.
            let mut r = reply(200, full(&b"not really gzip"[..]));
            r.headers_mut().insert(
                hyper::header::CONTENT_ENCODING,
                hyper::header::HeaderValue::from_static("gzip"),
            );
            r
        }
        "/cookie" => {
            let mut r = reply(200, full("cookie"));
            r.headers_mut().insert(
                hyper::header::SET_COOKIE,
                hyper::header::HeaderValue::from_static("session=secret"),
            );
            r
        }
        p if p.starts_with("/status/") => {
            let code = p.trim_start_matches("/status/").parse().unwrap_or(500);
            reply(code, full(Bytes::new()))
        }
        _ => reply(404, full("no such route")),
    }
}
