//! A `net.fetch` round trip through the network door beside the same request made directly by
//! the same client stack (hyper-util's pooled client, hyper-rustls, rustls with ring) in the
//! same run, against a real HTTPS service on 127.0.0.1: on a pooled connection, and with a
//! cold TLS handshake on both sides. Target (DESIGN.md): at most 1.2× the direct figure plus
//! 50 µs.
//!
//! The door's round trip is what an app pays: `net.fetch` answers `pending` on the caller's
//! thread, the request runs on the door's runtime thread, the answer comes back as an event,
//! and the body is read with `net.read`. The direct one runs on the caller's thread, with no
//! checks, no hop and no event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use sandframe_core::{Api, AppContext, Declared, EventSender, OriginPattern, Watch};
use sandframe_net::{Net, NetConfig, StaticResolver};
use sandframe_testkit::https::LocalService;

const HOST: &str = "bench.sandframe.test";

/// The direct client's resolver: the test name is 127.0.0.1, nothing checked.
#[derive(Clone)]
struct Loopback;

impl tower_service::Service<Name> for Loopback {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter()))
    }
}

type Direct = Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, Empty<Bytes>>;

fn direct_client(ca: &[u8]) -> Direct {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.to_vec().into()).unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut http = HttpConnector::new_with_resolver(Loopback);
    http.enforce_http(false);
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(hyper_rustls::HttpsConnector::from((http, tls)))
}

fn context(app: &str, scope: &[OriginPattern]) -> AppContext {
    AppContext {
        app: app.parse().unwrap(),
        name: "Bench".into(),
        version: "1.0.0".into(),
        declared: vec![Declared {
            capability: "net:fetch".parse().unwrap(),
            reason: "bench".into(),
            scope: scope.to_vec(),
        }],
        limits: Default::default(),
        monitor: Watch::none(),
        sources: None,
        views: None,
    }
}

/// One round trip through the door: fetch, wait for the event, read the body.
fn through_door(
    net: &Net,
    fetch: &dyn Api,
    read: &dyn Api,
    ctx: &AppContext,
    scope: &[OriginPattern],
    url: &str,
    events: &(EventSender, Receiver<Vec<u8>>),
) -> usize {
    let _ = net;
    let mut out = Vec::new();
    let request = format!(r#"{{"url":"{url}"}}"#);
    fetch
        .call_scoped(ctx, scope, request.as_bytes(), &mut out, &events.0)
        .unwrap();
    let event = events.1.recv_timeout(Duration::from_secs(10)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&event).unwrap();
    let id = v["detail"]["id"].as_u64().unwrap();
    out.clear();
    read.call(ctx, format!(r#"{{"id":{id}}}"#).as_bytes(), &mut out)
        .unwrap();
    out.len()
}

fn fetch(c: &mut Criterion) {
    let service = LocalService::start(&[HOST]).unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let net = Net::new(
        NetConfig::new()
            .without_public_roots()
            .trust_root(service.ca_der())
            .resolver(Arc::new(StaticResolver::new().with(HOST, [lo])))
            .allow_range("127.0.0.1/32".parse().unwrap()),
    )
    .unwrap();
    let (fetch_api, read_api) = (net.fetch_api(), net.read_api());
    let url = format!("https://{HOST}:{}/hello", service.port());
    let scope: Vec<OriginPattern> = vec![
        format!("https://{HOST}:{}", service.port())
            .parse()
            .unwrap(),
    ];
    let ctx = context("com.example.bench", &scope);
    let (tx, rx) = channel();
    let tx = std::sync::Mutex::new(tx);
    let events = (
        EventSender::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        }),
        rx,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri: hyper::Uri = url.parse().unwrap();
    let direct_once = |client: &Direct| {
        rt.block_on(async {
            let r = client.get(uri.clone()).await.unwrap();
            r.into_body().collect().await.unwrap().to_bytes().len()
        })
    };

    let mut g = c.benchmark_group("fetch/pooled");
    g.sample_size(50).measurement_time(Duration::from_secs(8));
    let client = direct_client(&service.ca_der());
    direct_once(&client);
    g.bench_function("direct client", |b| b.iter(|| direct_once(&client)));
    through_door(&net, &*fetch_api, &*read_api, &ctx, &scope, &url, &events);
    g.bench_function("through the door", |b| {
        b.iter(|| through_door(&net, &*fetch_api, &*read_api, &ctx, &scope, &url, &events));
    });
    g.finish();

    let mut g = c.benchmark_group("fetch/cold TLS");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("direct client", |b| {
        b.iter(|| direct_once(&direct_client(&service.ca_der())));
    });
    g.bench_function("through the door", |b| {
        b.iter(|| {
            // A cancel drops the app's client: the next request opens a new connection with
            // a full TLS handshake (its session cache is gone with it).
            net.cancel(&ctx.app);
            through_door(&net, &*fetch_api, &*read_api, &ctx, &scope, &url, &events)
        });
    });
    g.finish();
}

criterion_group!(benches, fetch);
criterion_main!(benches);
