//! # sandframe-host
//!
//! The one crate an embedder needs: it composes the layers and re-exports every type its
//! signatures name. [`Host::builder`] takes a home directory, a trust store, caps and the
//! layer slots, and checks them once in [`HostBuilder::build`]; the host installs, launches,
//! dispatches to, terminates and uninstalls mini-apps. Errors are grouped by who must act
//! ([`HostError`]); replacing a layer's checks wholesale is behind [`danger`] and
//! [`HostBuilder::dangerous`].
//!
//! - `install(bytes)`: `validate::verify` (against the home's records: publisher pins,
//!   installed versions), then the package, its record and its install receipt are written,
//!   each durably (temp file, fsync, rename, directory fsync).
//! - `launch(app)`: reads the package and re-mints its `VerifiedPackage` from its install
//!   receipt (a keyed blake3 MAC under a key derived from the anchor's root secret, which
//!   lives outside the home; digests, install record and origin re-checked, the
//!   signature and static analysis not repeated), prepares it (the runtime's authenticated
//!   artifact cache lives under the home) and starts it on a logic thread.
//! - `dispatch`, `terminate`, `uninstall` (which keeps the app id's publisher pin as a
//!   tombstone, so no other publisher can take the id afterwards).
//!
//! The home is opened once, as a cap-std `Dir`; every path below it is built from validated
//! names (`AppId`s, hex cache keys), never from guest input.
//!
//! - The gateway is [`SandframeGateway`] (capabilities, policy, rate limits, audit) unless
//!   the builder swaps in another `Gateway`; grants persist in the home's sealed state.
//! - Install records (publisher pins, versions, tombstones), grants and quarantines live in
//!   `<home>/home.state`, a [`SealedState`] whose every change is MAC-chained and committed by
//!   one write of the anchor: a copy edited, removed or put back by hand is refused as a whole.
//! - The audit log is `<home>/audit.log`, MAC-chained under an [`Anchor`] kept *outside* the
//!   home (default: the file `<home>.audit-anchor` beside it, mode 0600). The host records
//!   install, launch, terminate and uninstall there; it flushes (fsync + anchor) after
//!   install, uninstall, on [`Host::flush_audit`] and when dropped, not on launch (an fsync
//!   would cost a warm launch ten times over).
//! - Storage is [`DiskStorage`] under `<home>/storage/` (master key derived from the anchor's
//!   root secret)
//!   unless the builder swaps in another `Storage`; apps reach it through `storage.*`, and
//!   uninstall wipes it.
//!
//! - The monitor is [`SandframeMonitor`] (its [`Rules`], alerts to [`TracingAlerts`] unless
//!   the builder sets an [`AlertSink`], verdicts audited, quarantines in the sealed state)
//!   unless the builder swaps in another `Monitor`. Every launched app
//!   gets a [`Watch`] that the gateway, the runtime and the storage APIs report to; the host
//!   applies its verdicts: a throttle swaps in the gateway's slower rate limits (until
//!   [`Host::throttle`] lifts it), a terminate stops the instance at its next host call (or
//!   when its event's fuel runs out), a quarantine also refuses every launch until
//!   [`Host::release`].
//!
//! - The render side is a [`RenderSide`] thread over an [`HtmlSurface`] (read with
//!   [`Host::html`]) unless the builder sets a surface: `launch` opens the app's entry view
//!   before `sf_init`, `ui.setData` reaches it through the gateway, and
//!   [`Host::surface_event`] routes taps and inputs to the bound handler.
//!
//! - Lifecycle: [`Host::show`] / [`Host::hide`] deliver `onShow` / `onHide`; an app idle past
//!   [`HostBuilder::idle_timeout`] is suspended (instance dropped, view and storage kept) and
//!   relaunched by its next event; an update stops the running old version (its next event
//!   runs the new one), keeps storage, and revokes leftover grants of the capabilities it adds,
//!   so consent is asked again.

mod apps;
mod audit_trail;
mod builder;
mod config;
pub mod danger;
mod error;
mod glue;
mod grants;
mod home;
mod install;
mod keys;
mod lifecycle;
mod revalidate;
mod storage_api;
mod typed;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cap_std::fs::Dir;
use sandframe_render::RenderSide;
use sandframe_runtime::{LogicPool, Runtime};

pub use apps::{AppInfo, AppState, AppSummary, DeclaredInfo};
pub use builder::HostBuilder;
pub use config::{DEFINITIONS_FILE, DEFINITIONS_KEY_FILE, HomeConfig, TRUST_FILE};
pub use error::{Denied, HomeError, HostError, LayerError, Misuse, Rejected};
pub use install::Installation;
/// The error every core contract returns (a layer behind one of the traits above).
pub use sandframe_core::Error as CoreError;
pub use sandframe_core::{
    Alert, AlertSink, Api, ApiError, ApiName, AppContext, AppId, AppMonitor, AuditOutcome,
    AuditRecord, Capability, Consent, ConsentDecision, ConsentRequest, DenyAll, ErrorCode,
    EventKind, EventSender, Gateway, Grant, GrantSource, Layer, Monitor, MonitorEvent,
    OriginPattern, Storage, Surface, SurfaceEvent, TrapKind, Verdict, ViewNode, ViewPatch, Watch,
};
pub use sandframe_gateway::audit;
pub use sandframe_gateway::audit::{StoredRecord, Verified};
pub use sandframe_gateway::{
    Anchor, AuditLog, FileAnchor, GatewayBuilder, GatewayError, Policy, Rate, STATE_FILE,
    SandframeGateway, SealedState, StateHead,
};
pub use sandframe_monitor::{AlertLog, MonitorError, rule};
pub use sandframe_monitor::{Rules, SandframeMonitor, TracingAlerts};
pub use sandframe_net::{NetConfig, NetError, Resolve, StaticResolver, SystemResolver};
pub use sandframe_package::{PackageError, PublicKey, SecretKey, TrustStore};
pub use sandframe_render::{
    HtmlSurface, RecordingSurface, RenderError, TextSurface, identity_text, terminal_text,
};
pub use sandframe_runtime::{
    RuntimeConfig, RuntimeError,
    js::{JS_ENGINE, ScriptProblem},
};

/// Checks a JavaScript app's script as the engine reads it, on a runtime of its own
/// ([`sandframe_runtime::Runtime::check_script`]: parsed and evaluated inside the sandbox,
/// no API but the clock, randomness and `log`). Compiling the engine for it takes about a
/// second and a half, every call.
///
/// # Errors
/// [`HostError`] when the engine cannot run at all; the script's own problem is the inner
/// `Err`.
pub fn check_script(source: &str) -> Result<Result<(), ScriptProblem>, HostError> {
    // The artifacts stay in this process's memory and die with the runtime, so the key
    // that authenticates them needs no secrecy.
    let runtime = sandframe_runtime::Runtime::new(
        RuntimeConfig::default(),
        [0; 32],
        std::sync::Arc::new(sandframe_runtime::MemoryArtifacts::default()),
    );
    Ok(runtime.check_script(source)?)
}
pub use sandframe_storage::{
    DiskStorage, FileKeySource, KeySource, MemoryKeySource, Resealed, StorageConfig,
};
pub use sandframe_validate::{
    Caps, Check, Finding, Pin, Report, Severity, ValidateError, Validator, codes,
};
pub use typed::{Later, typed_api, typed_later_api};

use lifecycle::Live;

/// How long an app may go without an event before it is suspended, by default.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// The lifecycle event an app receives when it is shown (`{"handler":"onShow","detail":{}}`).
pub const ON_SHOW: &str = "onShow";
/// The lifecycle event an app receives when it is hidden.
pub const ON_HIDE: &str = "onHide";

/// A sandframe host.
pub struct Host {
    /// The home's lock: held around every write to the home and every read that must not
    /// see another process's half-done install.
    lock: sandframe_durable::HomeLock,
    apps: Dir,
    artifacts: Dir,
    home: Dir,
    /// MACs install receipts (derived from the anchor's root secret, see `keys`).
    receipts: [u8; 32],
    /// Install records, grants and quarantines, sealed (see `sandframe_gateway::SealedState`).
    state: Arc<sandframe_gateway::SealedState>,
    /// The default storage's master key (derived likewise), for the move of an old home.
    storage_key: zeroize::Zeroizing<[u8; 32]>,
    /// The trusted publishers (changed at run time when the host follows a `HomeConfig`).
    trust: std::sync::RwLock<TrustStore>,
    validator: std::sync::RwLock<Validator>,
    /// The sealed configuration this host follows, if it was built from a `HomeConfig`.
    followed: Option<Mutex<revalidate::Followed>>,
    /// The sealed state's head as last applied to the running apps.
    applied: Mutex<sandframe_gateway::StateHead>,
    /// When revalidation last ran from `dispatch`, in milliseconds since `started`.
    last_revalidate_ms: AtomicU64,
    /// Bumped each time a new state is applied: a launch that verified before checks again.
    generation: AtomicU64,
    runtime: Arc<Runtime>,
    gateway: Arc<dyn Gateway>,
    sandframe: Option<SandframeGateway>,
    audit: Arc<AuditLog>,
    anchor: Arc<dyn Anchor>,
    storage: Arc<dyn Storage>,
    monitor: Arc<dyn Monitor>,
    render: Arc<RenderSide>,
    /// The default surface, when the builder set none.
    html: Option<Arc<Mutex<HtmlSurface>>>,
    pool: LogicPool,
    live: Mutex<Live>,
    /// Apps idle this long are suspended (`None`: never).
    idle: Option<Duration>,
    started: Instant,
    /// When the last idle sweep ran, in milliseconds since `started`.
    last_sweep_ms: AtomicU64,
    /// The network door, if the builder opened one (`HostBuilder::net`).
    net: Option<Arc<sandframe_net::Net>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// [`check_script`] on this host's runtime: the engine it compiled for its JS apps is
    /// reused (from the second check on, no compile), under this host's JS budget.
    ///
    /// # Errors
    /// As [`check_script`].
    pub fn check_script(&self, source: &str) -> Result<Result<(), ScriptProblem>, HostError> {
        Ok(self.runtime.check_script(source)?)
    }

    /// The storage layer (for the embedder: apps reach it only through `storage.*`).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }
}
