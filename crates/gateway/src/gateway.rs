//! [`SandframeGateway`]: the gateway hosts use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use sandframe_core::{
    ApiError, ApiName, AppContext, AppId, AuditBatch, AuditOutcome, AuditRecord, AuditSink,
    Capability, Consent, ConsentDecision, ConsentRequest, DenyAll, DenyReason, Error, ErrorCode,
    EventSender, Gateway, GatewaySession, Grant, GrantSource, Layer, MonitorEvent, OriginPattern,
};
use serde::Deserialize;

use crate::GatewayError;
use crate::apis::{APIS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, builtin, json};
use crate::grants::{AppGrants, GrantStore};
use crate::policy::{CONSENT_RATE, DEFAULT_RATE, DEFAULT_SLOW_RATE, Policy, Rate};
use sandframe_core::Api;

/// Most consent requests one app may have waiting at once.
pub const MAX_PENDING_CONSENT: usize = 4;
/// Refused calls folded into one audit record per kind (API and error code) and event: the
/// first is recorded alone, the rest as one record with their count, written when the event
/// ends, when the session ends, or when the count reaches this many. Allowed calls are
/// recorded one by one.
pub const FOLD_MAX: u64 = 1 << 20;
/// The handler name of the event that brings a consent decision to the app.
pub const CONSENT_EVENT: &str = "sf.consent";

enum Handler {
    Builtin,
    Request,
    List,
    Host(Arc<dyn Api>),
    Unavailable,
}

struct Entry {
    name: String,
    capability: Option<Capability>,
    handler: Handler,
    rate: Rate,
    slow: Rate,
}

#[derive(Debug, Default)]
struct AppShared {
    throttled: AtomicBool,
    pending: Mutex<BTreeSet<String>>,
    /// Consent questions asked and not yet delivered back as events.
    asking: AtomicUsize,
}

struct Inner {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    policy: Policy,
    grants: Arc<GrantStore>,
    consent: Arc<dyn Consent>,
    audit: Arc<dyn AuditSink>,
    apps: Mutex<HashMap<AppId, Arc<AppShared>>>,
    /// Sessions' clock (calibrated once per process, when the first gateway is built).
    tsc: quanta::Clock,
}

/// The gateway layer: per call, in this order, capability granted → policy allows → rate
/// limit → size caps → JSON → the API → audit record (see the crate documentation).
#[derive(Clone)]
pub struct SandframeGateway {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SandframeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandframeGateway")
            .field("apis", &self.inner.entries.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SandframeGateway`].
pub struct GatewayBuilder {
    policy: Policy,
    grants: Option<Arc<GrantStore>>,
    consent: Arc<dyn Consent>,
    audit: Option<Arc<dyn AuditSink>>,
    default_rate: Rate,
    default_slow: Rate,
    rates: BTreeMap<String, Rate>,
    slow_rates: BTreeMap<String, Rate>,
    apis: Vec<(String, Option<String>, Arc<dyn Api>)>,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder").finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    /// Host policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// Where grants persist (default: memory only).
    pub fn grants(mut self, grants: Arc<GrantStore>) -> Self {
        self.grants = Some(grants);
        self
    }
    /// Who decides capability requests (default: [`DenyAll`]).
    pub fn consent(mut self, consent: Arc<dyn Consent>) -> Self {
        self.consent = consent;
        self
    }
    /// Where audit records go (required).
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }
    /// The rate of every API without its own (default [`DEFAULT_RATE`]).
    pub fn default_rate(mut self, rate: Rate) -> Self {
        self.default_rate = rate;
        self
    }
    /// The rate under a throttle verdict of every API without its own (default
    /// [`DEFAULT_SLOW_RATE`]).
    pub fn default_slow_rate(mut self, rate: Rate) -> Self {
        self.default_slow = rate;
        self
    }
    /// The rate of one API.
    pub fn rate(mut self, api: &str, rate: Rate) -> Self {
        self.rates.insert(api.to_owned(), rate);
        self
    }
    /// The rate of one API under a throttle verdict.
    pub fn slow_rate(mut self, api: &str, rate: Rate) -> Self {
        self.slow_rates.insert(api.to_owned(), rate);
        self
    }
    /// Registers `handler` for API `name`: either a table API whose layer the host supplies
    /// (`storage.get`, `ui.setData`, `user.getProfile`, …; `capability` must then be the
    /// table's), or a new API needing `capability` (`None`: any app may call it).
    pub fn api(mut self, name: &str, capability: Option<&str>, handler: Arc<dyn Api>) -> Self {
        self.apis
            .push((name.to_owned(), capability.map(str::to_owned), handler));
        self
    }

    /// Builds the gateway.
    ///
    /// # Errors
    /// [`GatewayError::Config`] without an audit sink, or for a registered API with a bad
    /// name or capability, one that replaces a built-in, or one whose capability disagrees
    /// with the table.
    pub fn build(self) -> Result<SandframeGateway, GatewayError> {
        let audit = self.audit.ok_or_else(|| {
            GatewayError::Config("set an audit sink: every call must be audited".into())
        })?;
        let rate_of = |name: &str, dflt: Rate| -> Rate {
            if name == "capability.request" {
                return self.rates.get(name).copied().unwrap_or(CONSENT_RATE);
            }
            self.rates.get(name).copied().unwrap_or(dflt)
        };
        let mut entries = Vec::new();
        for spec in APIS {
            let capability = match spec.capability {
                Some(c) => {
                    Some(Capability::parse(c).map_err(|e| GatewayError::Config(e.to_string()))?)
                }
                None => None,
            };
            let handler = match spec.name {
                "clock.now" | "random.bytes" | "log" | "app.limits" | "app.source"
                | "app.views" => Handler::Builtin,
                "capability.request" => Handler::Request,
                "capability.list" => Handler::List,
                _ => Handler::Unavailable,
            };
            entries.push(Entry {
                name: spec.name.to_owned(),
                capability,
                handler,
                rate: rate_of(spec.name, self.default_rate),
                slow: self
                    .slow_rates
                    .get(spec.name)
                    .copied()
                    .unwrap_or(self.default_slow),
            });
        }
        for (name, capability, handler) in self.apis {
            ApiName::parse(&name).map_err(|e| GatewayError::Config(e.to_string()))?;
            let capability = match capability {
                Some(c) => {
                    Some(Capability::parse(&c).map_err(|e| GatewayError::Config(e.to_string()))?)
                }
                None => None,
            };
            match entries.iter_mut().find(|e| e.name == name) {
                Some(e) if matches!(e.handler, Handler::Unavailable) => {
                    if e.capability != capability {
                        return Err(GatewayError::Config(format!(
                            "{name} needs capability {:?} in ABI v1; register it with that one",
                            e.capability.as_ref().map(Capability::as_str)
                        )));
                    }
                    e.handler = Handler::Host(handler);
                }
                Some(_) => {
                    return Err(GatewayError::Config(format!(
                        "{name} is built in and cannot be replaced; register it under another name"
                    )));
                }
                None => entries.push(Entry {
                    rate: self.rates.get(&name).copied().unwrap_or(self.default_rate),
                    slow: self
                        .slow_rates
                        .get(&name)
                        .copied()
                        .unwrap_or(self.default_slow),
                    name,
                    capability,
                    handler: Handler::Host(handler),
                }),
            }
        }
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(SandframeGateway {
            inner: Arc::new(Inner {
                entries,
                index,
                policy: self.policy,
                grants: self
                    .grants
                    .unwrap_or_else(|| Arc::new(GrantStore::in_memory())),
                consent: self.consent,
                audit,
                apps: Mutex::new(HashMap::new()),
                tsc: quanta::Clock::new(),
            }),
        })
    }
}

impl SandframeGateway {
    /// A builder with the defaults (an audit sink must be set).
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            policy: Policy::default(),
            grants: None,
            consent: Arc::new(DenyAll),
            audit: None,
            default_rate: DEFAULT_RATE,
            default_slow: DEFAULT_SLOW_RATE,
            rates: BTreeMap::new(),
            slow_rates: BTreeMap::new(),
            apis: Vec::new(),
        }
    }

    fn shared(&self, app: &AppId) -> Arc<AppShared> {
        match self.inner.apps.lock() {
            Ok(mut apps) => Arc::clone(apps.entry(app.clone()).or_default()),
            Err(_) => Arc::new(AppShared::default()),
        }
    }

    fn audit_host(
        &self,
        app: &AppId,
        action: &str,
        capability: &Capability,
        outcome: AuditOutcome,
    ) {
        let _ = self.inner.audit.record(
            &AuditRecord::new(Layer::Gateway, action, capability.as_str(), outcome)
                .app(Some(app))
                .capability(capability.as_str())
                .detail("by the host"),
        );
    }

    /// The app's stored grants (policy grants are not stored: see [`Policy`]).
    ///
    /// # Errors
    /// If its grants file is damaged or unreadable.
    pub fn grants(&self, app: &AppId) -> Result<Vec<Grant>, GatewayError> {
        self.inner.grants.list(app)
    }

    /// Grants `capability` to `app` on the host's authority (audited). The app can use it
    /// only if its manifest declares it.
    ///
    /// # Errors
    /// If the grant cannot be stored.
    pub fn grant(&self, app: &AppId, capability: &Capability) -> Result<(), GatewayError> {
        self.inner
            .grants
            .grant(app, capability, GrantSource::Host)?;
        self.audit_host(app, "grant", capability, AuditOutcome::Allowed);
        Ok(())
    }

    /// Grants a scoped `capability` (`net:fetch`) to `app` on the host's authority, reaching
    /// `scope` (audited, with the origins). A running session reaches, of these, only what its
    /// manifest declares and policy leaves.
    ///
    /// # Errors
    /// If the grant cannot be stored.
    pub fn grant_scoped(
        &self,
        app: &AppId,
        capability: &Capability,
        scope: &[OriginPattern],
    ) -> Result<(), GatewayError> {
        self.inner
            .grants
            .grant_scoped(app, capability, scope, GrantSource::Host)?;
        self.audit_host(app, "grant", capability, AuditOutcome::Allowed);
        Ok(())
    }

    /// Revokes a stored grant (audited); a running app loses it at its next call. Returns
    /// whether it was held.
    ///
    /// # Errors
    /// If the change cannot be stored.
    pub fn revoke(&self, app: &AppId, capability: &Capability) -> Result<bool, GatewayError> {
        let held = self.inner.grants.revoke(app, capability)?;
        self.audit_host(app, "revoke", capability, AuditOutcome::Allowed);
        Ok(held)
    }

    /// Puts `app` under (or takes it out of) a throttle verdict: its calls then meet the
    /// slow rates.
    pub fn throttle(&self, app: &AppId, on: bool) {
        self.shared(app).throttled.store(on, Ordering::Release);
    }

    /// Consent questions of `app`'s still in flight: asked, and their answer not yet posted
    /// to the app as an event. Once this is 0, every answer is in the app's event queue.
    pub fn consents_in_flight(&self, app: &AppId) -> usize {
        self.inner
            .apps
            .lock()
            .ok()
            .and_then(|apps| apps.get(app).map(|s| s.asking.load(Ordering::Acquire)))
            .unwrap_or(0)
    }

    /// Reads `app`'s stored grants again (another process sharing the home may have changed
    /// them); a running session sees the difference at its next call.
    ///
    /// # Errors
    /// If the stored grants do not parse.
    pub fn reload_grants(&self, app: &AppId) -> Result<(), GatewayError> {
        self.inner.grants.reload(app)
    }

    /// Forgets everything the gateway holds for `app` (uninstall): its grants and state.
    ///
    /// # Errors
    /// If the change to the stored grants cannot be committed.
    pub fn forget(&self, app: &AppId) -> Result<(), GatewayError> {
        // Under the apps lock, so a consent decision still in flight cannot grant after this
        // (it checks, under the same lock, that its app was not forgotten).
        let mut apps = self
            .inner
            .apps
            .lock()
            .map_err(|_| GatewayError::Damaged("a gateway lock is poisoned".into()))?;
        apps.remove(app);
        self.inner.grants.forget(app)
    }

    /// The audit sink every call is recorded in.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.inner.audit
    }
}

impl Gateway for SandframeGateway {
    fn open(
        &self,
        app: &AppContext,
        events: EventSender,
    ) -> Result<Box<dyn GatewaySession>, Error> {
        let grants = self
            .inner
            .grants
            .app(&app.app)
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let n = self.inner.entries.len();
        let mut session = Session {
            inner: Arc::clone(&self.inner),
            app: app.clone(),
            events,
            shared: self.shared(&app.app),
            epoch: grants.epoch(),
            grants,
            gates: vec![Gate::Open; n],
            limiters: (0..n).map(|_| None).collect(),
            slow: (0..n).map(|_| None).collect(),
            folds: Vec::new(),
            last: 0,
            clock: CallClock::default(),
            origin: self.inner.tsc.raw(),
            base: Base::now(&self.inner.tsc),
            tsc: self.inner.tsc.clone(),
            now_ms: 0,
            batch: self.inner.audit.batch(),
            refused_by: Refuser::Gateway,
            net_scope: Vec::new(),
        };
        session.compute_gates();
        Ok(Box::new(session))
    }

    fn throttle(&self, app: &AppId, on: bool) {
        SandframeGateway::throttle(self, app, on);
    }
}

/// The rate limiters' clock: the time the session read at the start of the current call, so
/// a call reads the clock once for its latency, its limiter and its audit record.
#[derive(Clone, Debug, Default)]
struct CallClock(Arc<AtomicU64>);

impl Clock for CallClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.load(Ordering::Relaxed))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, CallClock, NoOpMiddleware<Nanos>>;

/// Wall-clock time derived from the monotonic clock: a base re-read when an event ends.
#[derive(Clone, Copy, Debug)]
struct Base {
    unix_ms: u64,
    /// The TSC clock's raw reading at `unix_ms`.
    at: u64,
}

impl Base {
    fn now(tsc: &quanta::Clock) -> Base {
        Base {
            unix_ms: crate::apis::unix_ms(),
            at: tsc.raw(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    Open,
    Undeclared,
    Ungranted,
    PolicyDenied,
}

/// Repeats of one kind of refused call within an event: the API (`None`: a name that is no
/// API, or not UTF-8) and the error code.
struct Fold {
    entry: Option<usize>,
    code: ErrorCode,
    count: u64,
}

struct Session {
    inner: Arc<Inner>,
    app: AppContext,
    events: EventSender,
    shared: Arc<AppShared>,
    grants: Arc<AppGrants>,
    epoch: u64,
    gates: Vec<Gate>,
    limiters: Vec<Option<Limiter>>,
    slow: Vec<Option<Limiter>>,
    folds: Vec<Fold>,
    last: usize,
    clock: CallClock,
    /// The limiter clock's zero (a raw TSC reading).
    origin: u64,
    /// The monotonic clock of latencies and limiters: the CPU's time-stamp counter where it
    /// is stable (calibrated once per process), else the OS's monotonic clock.
    tsc: quanta::Clock,
    base: Base,
    /// The wall clock at the start of the current call.
    now_ms: u64,
    /// The audit sink's batch, committed when each event ends.
    batch: Option<Box<dyn AuditBatch>>,
    /// Who refused the current call, if it was refused.
    refused_by: Refuser,
    /// What the app's `net:fetch` reaches now: the granted origins that the manifest declares
    /// and policy leaves (computed with the gates).
    net_scope: Vec<OriginPattern>,
}

/// Writes one call's audit record: into the session's batch when the sink offers one (one
/// lock per event instead of one per call), else straight to the sink; and to `tracing`.
#[allow(clippy::too_many_arguments)] // one audit record's fields
fn emit(
    batch: &mut Option<Box<dyn AuditBatch>>,
    audit: &dyn AuditSink,
    app: &AppId,
    subject: &str,
    capability: &str,
    outcome: AuditOutcome,
    detail: &str,
    (latency_ns, unix_ms): (u64, u64),
    (bytes_in, bytes_out): (usize, usize),
) -> Result<(), Error> {
    tracing::trace!(
        target: "sandframe::audit",
        app = app.as_str(),
        api = subject,
        capability,
        outcome = crate::audit::outcome_name(outcome),
        latency_ns,
        bytes_in,
        bytes_out,
        "call"
    );
    let record = AuditRecord::new(Layer::Gateway, "call", subject, outcome)
        .app(Some(app))
        .capability(capability)
        .detail(detail)
        .latency_ns(latency_ns)
        .bytes(
            u32::try_from(bytes_in).unwrap_or(u32::MAX),
            u32::try_from(bytes_out).unwrap_or(u32::MAX),
        )
        .at(unix_ms);
    match batch {
        Some(b) => b.record(&record),
        None => audit.record(&record),
    }
}

fn quota(rate: Rate) -> Quota {
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(rate.period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// Who refused a call: the gateway's own checks, `capability.request`, or the API itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refuser {
    Gateway,
    Request,
    Api,
}

/// How the monitor sees a refusal (`None`: not the gateway's refusal, but an API's own answer
/// or a failure of the host).
fn deny_reason(code: ErrorCode, gate: Option<Gate>, by: Refuser) -> Option<DenyReason> {
    Some(match (by, code) {
        (Refuser::Api, _) => return None,
        (Refuser::Request, ErrorCode::Denied) => DenyReason::Capability,
        (Refuser::Request, _) => return None,
        (_, ErrorCode::Denied) if gate == Some(Gate::PolicyDenied) => DenyReason::Policy,
        (_, ErrorCode::Denied) => DenyReason::Capability,
        (_, ErrorCode::RateLimited) => DenyReason::RateLimit,
        (_, ErrorCode::TooLarge) => DenyReason::TooLarge,
        (_, ErrorCode::BadRequest | ErrorCode::UnknownApi) => DenyReason::Malformed,
        _ => return None,
    })
}

fn denied(message: String) -> ApiError {
    ApiError::new(ErrorCode::Denied, message)
}

impl Session {
    /// The entry named `name`: the last one called is tried first (apps repeat themselves),
    /// then the index.
    fn lookup(&mut self, name: &str) -> Option<usize> {
        if let Some(e) = self.inner.entries.get(self.last)
            && e.name == name
        {
            return Some(self.last);
        }
        let i = self.inner.index.get(name).copied()?;
        self.last = i;
        Some(i)
    }

    fn declares(&self, capability: &str) -> bool {
        self.app
            .declared
            .iter()
            .any(|d| d.capability.as_str() == capability)
    }

    fn granted(&self, capability: &str) -> bool {
        let policy = &self.inner.policy;
        !policy.never_grants(capability)
            && (policy.auto_grants(capability) || self.grants.has(capability))
    }

    /// The origins of `capability` the manifest declares and policy leaves: what a grant of
    /// it may reach at most (and what consent is asked for).
    fn wanted_scope(&self, capability: &str) -> Vec<OriginPattern> {
        self.app
            .declared
            .iter()
            .find(|d| d.capability.as_str() == capability)
            .map(|d| self.inner.policy.narrow_origins(&self.app.app, &d.scope))
            .unwrap_or_default()
    }

    /// What the app's grant of `capability` reaches now: all of [`Session::wanted_scope`]
    /// when policy grants it without asking, else the stored grant's origins that lie inside
    /// it (an origin the manifest dropped, or policy denies, is never reached).
    fn granted_scope(&self, capability: &str) -> Vec<OriginPattern> {
        let wanted = self.wanted_scope(capability);
        if self.inner.policy.auto_grants(capability) {
            return wanted;
        }
        let mut stored = self.grants.scope(capability).unwrap_or_default();
        stored.retain(|g| wanted.iter().any(|w| g.within(w)));
        stored
    }

    fn compute_gates(&mut self) {
        self.net_scope = if self.granted(Capability::NET_FETCH) {
            self.granted_scope(Capability::NET_FETCH)
        } else {
            Vec::new()
        };
        for (i, e) in self.inner.entries.iter().enumerate() {
            let gate = match &e.capability {
                Some(c) if !self.declares(c.as_str()) => Gate::Undeclared,
                Some(c) if !self.granted(c.as_str()) => Gate::Ungranted,
                _ if !self.inner.policy.allows(&self.app.app, &e.name) => Gate::PolicyDenied,
                _ => Gate::Open,
            };
            if let Some(g) = self.gates.get_mut(i) {
                *g = gate;
            }
        }
    }

    /// Steps 1 to 5 and the call itself.
    fn serve(&mut self, i: usize, request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        let epoch = self.grants.epoch();
        if epoch != self.epoch {
            self.epoch = epoch;
            self.compute_gates();
        }
        let inner = &*self.inner;
        let Some(entry) = inner.entries.get(i) else {
            return Err(ApiError::new(ErrorCode::Internal, "the API table changed"));
        };
        let cap = entry.capability.as_ref().map_or("", Capability::as_str);
        // 1. capability, 2. policy
        match self.gates.get(i).copied().unwrap_or(Gate::PolicyDenied) {
            Gate::Open => {}
            Gate::Undeclared => {
                return Err(denied(format!(
                    "{} needs capability {cap}, which the app's manifest does not declare",
                    entry.name
                )));
            }
            Gate::Ungranted => {
                return Err(denied(format!(
                    "{} needs capability {cap}, which is not granted; ask with capability.request",
                    entry.name
                )));
            }
            Gate::PolicyDenied => {
                return Err(denied(format!(
                    "the host's policy does not allow {} for this app",
                    entry.name
                )));
            }
        }
        // 3. rate
        let throttled = self.shared.throttled.load(Ordering::Acquire);
        let (slot, rate) = if throttled {
            (self.slow.get_mut(i), entry.slow)
        } else {
            (self.limiters.get_mut(i), entry.rate)
        };
        let Some(slot) = slot else {
            return Err(ApiError::new(ErrorCode::Internal, "the API table changed"));
        };
        let clock = &self.clock;
        let limiter =
            slot.get_or_insert_with(|| RateLimiter::direct_with_clock(quota(rate), clock.clone()));
        if limiter.check().is_err() {
            // Static messages: a flood of denials allocates nothing.
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                if throttled {
                    "this API is over its rate limit (the app is throttled); slow down and retry later"
                } else {
                    "this API is over its rate limit; slow down and retry later"
                },
            ));
        }
        // 4. sizes and shape
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("requests are at most {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        if !request.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(request).is_err()
        {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "the request is not JSON",
            ));
        }
        // 5. the call
        let from_request = matches!(entry.handler, Handler::Request);
        let result = match &entry.handler {
            Handler::Builtin => builtin(&entry.name, &self.app, request, response, self.now_ms)
                .unwrap_or_else(|| Err(ApiError::new(ErrorCode::Internal, "no such built-in"))),
            Handler::Request => self.request(request, response),
            Handler::List => self.list(response),
            Handler::Host(api) => {
                let scope = match &entry.capability {
                    Some(c) if c.as_str() == Capability::NET_FETCH => &self.net_scope[..],
                    _ => &[],
                };
                api.call_scoped(&self.app, scope, request, response, &self.events)
            }
            Handler::Unavailable => Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "{} is not available in this host (its layer is not installed)",
                    entry.name
                ),
            )),
        };
        // An API's own refusal (a key not shared, a value not found) is the API's answer, not
        // the gateway's: the monitor sees only asking for an undeclared capability.
        self.refused_by = match &result {
            Err(_) if from_request => Refuser::Request,
            Err(_) => Refuser::Api,
            Ok(()) => Refuser::Gateway,
        };
        if result.is_ok() && response.len() > MAX_RESPONSE_BYTES {
            response.clear();
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("the response is over {MAX_RESPONSE_BYTES} bytes; ask for less"),
            ));
        }
        result
    }

    fn request(&mut self, request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            capability: String,
        }
        let req: Req = json(request)?;
        let Some(declared) = self
            .app
            .declared
            .iter()
            .find(|d| d.capability.as_str() == req.capability)
        else {
            return Err(denied(format!(
                "capability {:?} is not declared in the app's manifest; declare it with a reason to ask for it",
                req.capability.escape_debug().to_string()
            )));
        };
        let capability = declared.capability.clone();
        let policy = &self.inner.policy;
        let scoped = !declared.scope.is_empty();
        let wanted = if scoped {
            self.wanted_scope(capability.as_str())
        } else {
            Vec::new()
        };
        // A scoped grant is complete when it reaches everything the app may be granted; an
        // update that declares more origins asks again for the whole list.
        let complete = || {
            !scoped
                || policy.auto_grants(capability.as_str())
                || self
                    .grants
                    .scope(capability.as_str())
                    .is_some_and(|have| wanted.iter().all(|w| have.iter().any(|h| w.within(h))))
        };
        let status = if policy.never_grants(capability.as_str()) || (scoped && wanted.is_empty()) {
            "denied"
        } else if self.granted(capability.as_str()) && complete() {
            "granted"
        } else {
            let mut pending =
                self.shared.pending.lock().map_err(|_| {
                    ApiError::new(ErrorCode::Internal, "a gateway lock is poisoned")
                })?;
            if pending.contains(capability.as_str()) {
                "pending"
            } else if pending.len() >= MAX_PENDING_CONSENT {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "{MAX_PENDING_CONSENT} consent requests are already waiting; wait for their events"
                    ),
                ));
            } else {
                pending.insert(capability.as_str().to_owned());
                drop(pending);
                self.ask(ConsentRequest {
                    app: self.app.app.clone(),
                    app_name: self.app.name.clone(),
                    capability: capability.clone(),
                    reason: declared.reason.clone(),
                    scope: wanted.clone(),
                })?;
                "pending"
            }
        };
        serde_json::to_writer(
            &mut *response,
            &serde_json::json!({"capability": capability.as_str(), "status": status}),
        )
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the response did not encode"))
    }

    /// Asks the embedder's [`Consent`] on a thread of its own; the decision comes back to
    /// the app as a [`CONSENT_EVENT`] event.
    fn ask(&self, request: ConsentRequest) -> Result<(), ApiError> {
        let inner = Arc::clone(&self.inner);
        let shared = Arc::clone(&self.shared);
        let events = self.events.clone();
        let capability = request.capability.as_str().to_owned();
        self.shared.asking.fetch_add(1, Ordering::AcqRel);
        let spawned = std::thread::Builder::new()
            .name("sandframe-consent".into())
            .spawn(move || {
                let decision = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    inner.consent.decide(&request)
                }))
                .unwrap_or(ConsentDecision::Deny);
                let (granted, detail) = match decision {
                    ConsentDecision::Grant => {
                        // Grant only if the app was not uninstalled meanwhile (`forget` holds
                        // the same lock).
                        let apps = inner.apps.lock();
                        let current = apps.as_ref().is_ok_and(|a| {
                            a.get(&request.app).is_some_and(|s| Arc::ptr_eq(s, &shared))
                        });
                        if !current {
                            (false, "granted by consent after the app was uninstalled: dropped")
                        } else {
                            let stored = if request.scope.is_empty() {
                                inner.grants.grant(
                                    &request.app,
                                    &request.capability,
                                    GrantSource::Consent,
                                )
                            } else {
                                inner.grants.grant_scoped(
                                    &request.app,
                                    &request.capability,
                                    &request.scope,
                                    GrantSource::Consent,
                                )
                            };
                            match stored {
                                Ok(()) => (true, "granted by consent"),
                                Err(_) => (
                                    false,
                                    "granted by consent, but the grant could not be stored",
                                ),
                            }
                        }
                    }
                    ConsentDecision::Deny => (false, "refused by consent"),
                };
                let outcome = if granted {
                    AuditOutcome::Allowed
                } else {
                    AuditOutcome::Denied
                };
                let capability = request.capability.as_str();
                let _ = inner.audit.record(
                    &AuditRecord::new(Layer::Gateway, "consent", capability, outcome)
                        .app(Some(&request.app))
                        .capability(capability)
                        .detail(detail),
                );
                if let Ok(mut p) = shared.pending.lock() {
                    p.remove(request.capability.as_str());
                }
                // Handler first, for guests that look at it without a JSON parser; a
                // capability name needs no escaping.
                let event = format!(
                    r#"{{"handler":"{CONSENT_EVENT}","detail":{{"capability":"{}","granted":{granted}}}}}"#,
                    request.capability.as_str()
                );
                events.post(event.into_bytes());
                shared.asking.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            self.shared.asking.fetch_sub(1, Ordering::AcqRel);
            if let Ok(mut p) = self.shared.pending.lock() {
                p.remove(&capability);
            }
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "consent cannot be asked now; retry later",
            ));
        }
        Ok(())
    }

    fn list(&self, response: &mut Vec<u8>) -> Result<(), ApiError> {
        let declared: Vec<_> = self
            .app
            .declared
            .iter()
            .map(|d| {
                if d.scope.is_empty() {
                    serde_json::json!({"capability": d.capability.as_str(), "reason": d.reason})
                } else {
                    serde_json::json!({
                        "capability": d.capability.as_str(),
                        "reason": d.reason,
                        "origins": d.scope,
                    })
                }
            })
            .collect();
        let granted: Vec<&str> = self
            .app
            .declared
            .iter()
            .map(|d| d.capability.as_str())
            .filter(|c| self.granted(c))
            .collect();
        serde_json::to_writer(
            &mut *response,
            &serde_json::json!({"declared": declared, "granted": granted, "origins": self.net_scope}),
        )
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the response did not encode"))
    }

    /// Writes one record per kind of refused call repeated during the event, with its count.
    fn unfold(&mut self) -> Result<(), Error> {
        let inner = Arc::clone(&self.inner);
        let mut result = Ok(());
        for fold in std::mem::take(&mut self.folds) {
            if fold.count == 0 {
                continue;
            }
            let entry = fold.entry.and_then(|i| inner.entries.get(i));
            let subject = entry.map_or("(not an API)", |e| e.name.as_str());
            let cap = entry
                .and_then(|e| e.capability.as_ref())
                .map_or("", Capability::as_str);
            let detail = format!(
                "{} more calls refused with {} (folded)",
                fold.count,
                fold.code.name()
            );
            let outcome = match fold.code {
                ErrorCode::Internal | ErrorCode::Unavailable => AuditOutcome::Failed,
                _ => AuditOutcome::Denied,
            };
            let emitted = emit(
                &mut self.batch,
                &*inner.audit,
                &self.app.app,
                subject,
                cap,
                outcome,
                &detail,
                (0, 0),
                (0, 0),
            );
            if result.is_ok() {
                result = emitted;
            }
        }
        result
    }
}

impl GatewaySession for Session {
    fn call(&mut self, api: &[u8], request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        // One clock read serves the limiter, the latency and the record's time.
        let start = self.tsc.raw();
        self.clock.0.store(
            self.tsc.delta_as_nanos(self.origin, start),
            Ordering::Relaxed,
        );
        self.now_ms = self
            .base
            .unix_ms
            .saturating_add(self.tsc.delta_as_nanos(self.base.at, start) / 1_000_000);
        response.clear();
        self.refused_by = Refuser::Gateway;
        let name = std::str::from_utf8(api);
        let (index, result) = match name {
            Err(_) => (
                None,
                Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "the API name is not UTF-8",
                )),
            ),
            Ok(name) => match self.lookup(name) {
                None => (
                    None,
                    Err(ApiError::new(
                        ErrorCode::UnknownApi,
                        format!("no API is named {:?}", name.escape_debug().to_string()),
                    )),
                ),
                Some(i) => (Some(i), self.serve(i, request, response)),
            },
        };
        if let Err(e) = &result
            && let Some(reason) = deny_reason(
                e.code(),
                index.and_then(|i| self.gates.get(i)).copied(),
                self.refused_by,
            )
        {
            // Every refusal reaches the monitor, folded or not.
            self.app.monitor.observe(&MonitorEvent::Denied {
                api: name.unwrap_or("(not UTF-8)"),
                reason,
            });
        }
        // A refused call of a kind already seen in this event (same API, or no API, and same
        // code) is counted, not recorded: its record is written, with the count, when the
        // event ends. So an app cannot flood the log, whatever it calls.
        let mut folded = Ok(());
        if let Err(e) = &result {
            let code = e.code();
            match self
                .folds
                .iter_mut()
                .find(|f| f.entry == index && f.code == code)
            {
                Some(fold) if fold.count + 1 < FOLD_MAX => {
                    fold.count += 1;
                    return result;
                }
                // A full fold: write it out; this call is recorded alone and starts anew.
                Some(_) => {
                    folded = self.unfold();
                    self.folds.push(Fold {
                        entry: index,
                        code,
                        count: 0,
                    });
                }
                None => self.folds.push(Fold {
                    entry: index,
                    code,
                    count: 0,
                }),
            }
        }
        let inner = &*self.inner;
        let entry = index.and_then(|i| inner.entries.get(i));
        let subject = match (entry, name) {
            (Some(e), _) => e.name.as_str(),
            (None, Ok(name)) => name,
            (None, Err(_)) => "(not UTF-8)",
        };
        let cap = entry
            .and_then(|e| e.capability.as_ref())
            .map_or("", Capability::as_str);
        // An app's error log is kept with its text (a JS engine logs an uncaught exception
        // there, with where it was thrown): escaped, and cut.
        let logged = match (&result, subject) {
            (Ok(()), "log") => crate::apis::error_text(request),
            _ => None,
        };
        let (outcome, detail) = match &result {
            Ok(()) => (AuditOutcome::Allowed, logged.as_deref().unwrap_or("")),
            Err(e) => match e.code() {
                ErrorCode::Internal | ErrorCode::Unavailable => (AuditOutcome::Failed, e.message()),
                _ => (AuditOutcome::Denied, e.message()),
            },
        };
        let latency = self.tsc.delta_as_nanos(start, self.tsc.raw());
        let unix_ms = self.now_ms;
        if result.is_ok() {
            self.app.monitor.observe(&MonitorEvent::Call {
                api: subject,
                latency_ns: latency,
                request_bytes: u32::try_from(request.len()).unwrap_or(u32::MAX),
                response_bytes: u32::try_from(response.len()).unwrap_or(u32::MAX),
            });
        }
        let recorded = folded.and_then(|()| {
            emit(
                &mut self.batch,
                &*inner.audit,
                &self.app.app,
                subject,
                cap,
                outcome,
                detail,
                (latency, unix_ms),
                (request.len(), response.len()),
            )
        });
        if recorded.is_err() {
            // Never answer a call whose record could not be kept.
            response.clear();
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the audit log is unavailable, so the call was not answered; tell the host's operator",
            ));
        }
        result
    }

    fn idle(&mut self) {
        self.idle_unfold();
        // Re-read the wall clock once an event, so records follow any adjustment of it.
        self.base = Base::now(&self.tsc);
    }
}

impl Session {
    /// Writes out what the event left: folded denials, then the batch.
    fn idle_unfold(&mut self) {
        let committed = self
            .unfold()
            .and_then(|()| self.batch.as_mut().map_or(Ok(()), |b| b.commit()));
        if committed.is_err() {
            tracing::error!(
                target: "sandframe::audit",
                app = self.app.app.as_str(),
                "an event's audit records could not be appended to the log"
            );
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.idle_unfold();
    }
}
