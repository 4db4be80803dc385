//! # sandframe-net: the network door
//!
//! `net.fetch` and its companions (`net.read`, `net.close`), as [`Api`]s a host registers
//! with its gateway under capability `net:fetch`, as it registers `storage.*`. The gateway has
//! checked the capability, policy, rate and sizes before a call arrives here, and hands over
//! what the app's grant reaches: the origins granted that the manifest declares and policy
//! leaves. This crate keeps every request inside them.
//!
//! What a request passes, in order (`docs/abi.md` has the wire format):
//! 1. **Parse once.** The URL is parsed once with the WHATWG parser (`url`); the parsed value
//!    is what is checked and what the client is given. An IP address in any form, userinfo,
//!    and any scheme but https (http only for an origin the host names for development) are
//!    refused.
//! 2. **Scope.** The origin (scheme, host in A-labels, port) must be in the granted scope.
//! 3. **Headers.** CR, LF and NUL anywhere, and the headers that steer a connection, pose as
//!    another app or carry ambient credentials, are refused (see [`REFUSED_HEADERS`]). The
//!    host adds a `User-Agent` and a `Referer` naming the app and its version.
//! 4. **Limits.** At most 10 requests in flight per app (the 11th is `rate_limited`), host-wide
//!    caps on requests in flight and on bytes held, one timeout over connect, TLS, headers and
//!    body (60 s by default).
//! 5. **Addresses.** The host resolves the name itself and refuses it if any address is not
//!    globally reachable (the IANA special-purpose registries, as a table in the code), unless
//!    the host allows that range by name. The connection goes only to the addresses checked.
//! 6. **TLS** through rustls with the ring provider, verified against Mozilla's roots (compiled
//!    in) plus the CAs the embedder adds; HTTP/1.1 by ALPN; nothing an app can turn off.
//! 7. **Redirects** are never followed by the client: the host checks each hop again (scheme,
//!    never https to http, userinfo, scope, addresses), drops `Authorization` and `Cookie` on
//!    a hop to another origin, and stops after [`MAX_REDIRECTS`].
//! 8. **The answer** is capped (a quarter of the app's memory by default); a body past the cap
//!    is never read. It arrives as the event [`FETCH_EVENT`], and the body is read in chunks
//!    with `net.read`.
//!
//! Each app has its own connection pool and TLS session cache: no app rides a connection
//! another app's grant opened. No proxy from the environment is used, no body is decompressed,
//! no trace context is sent. Every request is audited (app, method, origin, path without the
//! query, status, bytes, duration, the reason of a refusal), never bodies, queries or header
//! values.
//!
//! **Not guaranteed:** what a granted service does with what it is sent; HTTP/2. A request
//! body larger than one call (64 KiB of JSON) goes up in chunks first (`net.upload`).

mod addr;
mod error;
mod fetch;
mod resolve;
#[cfg(feature = "service")]
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use rustls_pki_types::CertificateDer;
use sandframe_core::{Api, AppId, AuditSink, OriginPattern};

pub use error::NetError;
pub use fetch::REFUSED_HEADERS;
pub use resolve::{Addresses, Resolve, StaticResolver, SystemResolver};

/// The handler name of a fetch's answer event.
pub const FETCH_EVENT: &str = "sf.fetch";
/// Most redirects one fetch follows.
pub const MAX_REDIRECTS: usize = 5;
/// Most body bytes one `net.read` returns: their base64 (65,280 bytes) and the answer's JSON
/// around it fit the gateway's 65,536-byte answer cap.
pub const MAX_READ_BYTES: usize = 48_960;

/// How the host's network door is set up. Every default is the strict one.
#[derive(Clone)]
pub struct NetConfig {
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) public_roots: bool,
    pub(crate) allowed_ranges: Vec<IpNet>,
    pub(crate) dev_http: Vec<OriginPattern>,
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) timeout: Duration,
    pub(crate) in_flight_per_app: usize,
    pub(crate) in_flight_total: usize,
    pub(crate) held_per_app: usize,
    pub(crate) buffered_total: u64,
    pub(crate) response_cap: Option<u64>,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) cookies: bool,
    pub(crate) handle: Option<tokio::runtime::Handle>,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            roots: Vec::new(),
            public_roots: true,
            allowed_ranges: Vec::new(),
            dev_http: Vec::new(),
            resolver: Arc::new(SystemResolver),
            timeout: Duration::from_secs(60),
            in_flight_per_app: 10,
            in_flight_total: 1_024,
            held_per_app: 16,
            buffered_total: 256 << 20,
            response_cap: None,
            max_header_bytes: 16 << 10,
            max_headers: 100,
            cookies: false,
            handle: None,
            audit: None,
        }
    }
}

impl std::fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetConfig")
            .field("extra_roots", &self.roots.len())
            .field("public_roots", &self.public_roots)
            .field("allowed_ranges", &self.allowed_ranges)
            .field("dev_http", &self.dev_http)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NetConfig {
    /// The strict defaults: public roots, no private range, https only, 60 s, 10 requests in
    /// flight per app and 1,024 in all, 16 answers held per app and 256 MiB held in all,
    /// answers capped at a quarter of the app's memory, response headers at 16 KiB and 100
    /// fields, no cookies, the host's own runtime thread, the system resolver.
    #[must_use]
    pub fn new() -> Self {
        NetConfig::default()
    }

    /// Also trusts the CA certificate `der` (an intranet's CA, a test CA).
    #[must_use]
    pub fn trust_root(mut self, der: Vec<u8>) -> Self {
        self.roots.push(CertificateDer::from(der));
        self
    }

    /// Also trusts the CA certificates in `bytes`: PEM (one or more `CERTIFICATE` blocks) or
    /// one DER certificate.
    ///
    /// # Errors
    /// [`NetError::Config`] if `bytes` hold no certificate.
    pub fn trust_pem_or_der(mut self, bytes: &[u8]) -> Result<Self, NetError> {
        use rustls_pki_types::pem::PemObject as _;
        let is_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
        let certs: Vec<CertificateDer<'static>> = if is_pem {
            CertificateDer::pem_slice_iter(bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| NetError::Config(format!("a PEM block does not read: {e}")))?
        } else {
            vec![CertificateDer::from(bytes.to_vec())]
        };
        if certs.is_empty() {
            return Err(NetError::Config(
                "no certificate in it: give a PEM file (-----BEGIN CERTIFICATE-----) or one DER certificate".into(),
            ));
        }
        // Each one checked as a trust anchor now, so that a key or a garbled file is named
        // here rather than when the host is built.
        for c in &certs {
            rustls::RootCertStore::empty()
                .add(c.clone())
                .map_err(|e| NetError::Config(format!("not a CA certificate: {e}")))?;
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Trusts only the CAs given with [`NetConfig::trust_root`], not Mozilla's public roots.
    #[must_use]
    pub fn without_public_roots(mut self) -> Self {
        self.public_roots = false;
        self
    }

    /// Lets apps reach the addresses in `range`, though the special-purpose registries mark
    /// them not globally reachable (a test server on 127.0.0.1, an intranet). Origins are
    /// still checked: only a granted origin that resolves into `range` reaches it.
    #[must_use]
    pub fn allow_range(mut self, range: IpNet) -> Self {
        self.allowed_ranges.push(range);
        self
    }

    /// Lets apps reach `origin` over plain http, for development (refused unless it is an
    /// `http://` origin). A consent prompt shows the `http://` origin as it is.
    #[must_use]
    pub fn allow_http(mut self, origin: OriginPattern) -> Self {
        if !origin.is_https() {
            self.dev_http.push(origin);
        }
        self
    }

    /// Resolves names with `resolver` instead of the system's ([`StaticResolver`] for a
    /// development host's names). Every address it returns is still checked.
    #[must_use]
    pub fn resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// One fetch's time for connect, TLS, headers, redirects and body together (default 60 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requests one app may have in flight (default 10).
    #[must_use]
    pub fn max_in_flight_per_app(mut self, n: usize) -> Self {
        self.in_flight_per_app = n;
        self
    }

    /// Requests all apps together may have in flight (default 1,024).
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.in_flight_total = n;
        self
    }

    /// Answers one app may hold (not yet read to their end) and have in flight, together
    /// (default 16).
    #[must_use]
    pub fn max_held_per_app(mut self, n: usize) -> Self {
        self.held_per_app = n;
        self
    }

    /// Body bytes the host holds for all apps together, read or not yet read (default
    /// 256 MiB): past it, an answer fails `unavailable` until apps read theirs.
    #[must_use]
    pub fn max_buffered_bytes(mut self, n: u64) -> Self {
        self.buffered_total = n;
        self
    }

    /// Caps every answer's body at `n` bytes (default: a quarter of the app's memory cap;
    /// the lower of the two applies).
    #[must_use]
    pub fn max_response_bytes(mut self, n: u64) -> Self {
        self.response_cap = Some(n);
        self
    }

    /// Caps an answer's header block (bytes, at least 8,192) and its fields (defaults 16 KiB,
    /// 100).
    #[must_use]
    pub fn max_response_headers(mut self, bytes: usize, fields: usize) -> Self {
        self.max_header_bytes = bytes.max(8_192);
        self.max_headers = fields.max(1);
        self
    }

    /// Lets apps send `Cookie` and see `Set-Cookie` (default: both refused).
    #[must_use]
    pub fn allow_cookies(mut self, on: bool) -> Self {
        self.cookies = on;
        self
    }

    /// Runs requests on the embedder's tokio runtime instead of a thread of the host's own.
    #[must_use]
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Where each request's audit record goes (the host passes its audit log).
    #[must_use]
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }
}

/// The network door: owns the runtime requests run on (unless the embedder passed one), each
/// app's connection pool, the requests in flight and the answers held.
///
/// Dropping it stops every request (the runtime is shut down in the background: dropping a
/// `Net` inside an embedder's tokio context does not panic).
pub struct Net {
    inner: Arc<fetch::Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("own_runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Net {
    /// Sets the door up.
    ///
    /// # Errors
    /// [`NetError::Config`] for a CA that does not parse or a setting out of range;
    /// [`NetError::Runtime`] if the runtime thread cannot start.
    pub fn new(config: NetConfig) -> Result<Net, NetError> {
        if config.in_flight_per_app == 0 || config.in_flight_total == 0 {
            return Err(NetError::Config(
                "requests in flight must be allowed (at least 1)".into(),
            ));
        }
        let (runtime, handle) = match &config.handle {
            Some(h) => (None, h.clone()),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("sandframe-net")
                    .enable_all()
                    .build()
                    .map_err(NetError::Runtime)?;
                let h = rt.handle().clone();
                (Some(rt), h)
            }
        };
        let inner = fetch::Inner::new(config, handle)?;
        Ok(Net {
            inner: Arc::new(inner),
            runtime,
        })
    }

    /// `net.fetch`: register it under capability `net:fetch`.
    #[must_use]
    pub fn fetch_api(&self) -> Arc<dyn Api> {
        Arc::new(fetch::FetchApi(Arc::clone(&self.inner)))
    }

    /// `net.read`: register it under capability `net:fetch`.
    #[must_use]
    pub fn read_api(&self) -> Arc<dyn Api> {
        Arc::new(fetch::ReadApi(Arc::clone(&self.inner)))
    }

    /// `net.upload`: register it under capability `net:fetch`.
    #[must_use]
    pub fn upload_api(&self) -> Arc<dyn Api> {
        Arc::new(fetch::UploadApi(Arc::clone(&self.inner)))
    }

    /// `net.close`: register it under capability `net:fetch`.
    #[must_use]
    pub fn close_api(&self) -> Arc<dyn Api> {
        Arc::new(fetch::CloseApi(Arc::clone(&self.inner)))
    }

    /// Stops `app`'s requests in flight (no event follows), drops the answers it holds and its
    /// connections: the host calls it when the app is terminated, updated or uninstalled.
    pub fn cancel(&self, app: &AppId) {
        self.inner.cancel(app);
    }

    /// [`Net::cancel`], and forgets the app's request ids (the host calls it at uninstall):
    /// a reinstalled app's ids count from 1 again.
    pub fn forget(&self, app: &AppId) {
        self.inner.forget(app);
    }

    /// Requests `app` has in flight: sent and not yet answered (their event not yet posted).
    /// An app with any is not idle.
    #[must_use]
    pub fn in_flight(&self, app: &AppId) -> usize {
        self.inner.in_flight(app)
    }

    /// Answers `app` holds, not yet read to their end or closed.
    #[must_use]
    pub fn held(&self, app: &AppId) -> usize {
        self.inner.held(app)
    }

    /// Requests in flight for all apps (counting those cancelled whose tasks have not yet
    /// wound down).
    #[must_use]
    pub fn in_flight_total(&self) -> usize {
        self.inner.in_flight_total()
    }

    /// Body bytes the host holds for all apps.
    #[must_use]
    pub fn buffered_bytes(&self) -> u64 {
        self.inner.buffered_bytes()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.inner.cancel_all();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
