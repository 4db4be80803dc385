//! # sandframe-host
//!
//! Thin composition of the layers: [`Host::builder`] takes a home directory, a trust store,
//! caps and the layer slots; the host installs, launches, dispatches to, terminates and
//! uninstalls mini-apps.
//!
//! - `install(bytes)`: `validate::verify` (against the home's records: publisher pins,
//!   installed versions), then the package, its record and its install receipt are written,
//!   each durably (temp file, fsync, rename, directory fsync).
//! - `launch(app)`: reads the package and re-mints its `VerifiedPackage` from its install
//!   receipt (a keyed blake3 MAC under the host secret; digests and origin re-checked, the
//!   signature and static analysis not repeated), prepares it (the runtime's authenticated
//!   artifact cache lives under the home) and starts it on a logic thread.
//! - `dispatch`, `terminate`, `uninstall` (which keeps the app id's publisher pin as a
//!   tombstone, so no other publisher can take the id afterwards).
//!
//! The home is opened once, as a cap-std `Dir`; every path below it is built from validated
//! names (`AppId`s, hex cache keys), never from guest input.
//!
//! - The gateway is [`SandframeGateway`] (capabilities, policy, rate limits, audit) unless
//!   the builder swaps in another `Gateway`; grants persist under `<home>/grants/`.
//! - The audit log is `<home>/audit.log`, MAC-chained under an [`Anchor`] kept *outside* the
//!   home (default: the file `<home>.audit-anchor` beside it, mode 0600). The host records
//!   install, launch, terminate and uninstall there; it flushes (fsync + anchor) after
//!   install, uninstall, on [`Host::flush_audit`] and when dropped, not on launch (an fsync
//!   would cost a warm launch ten times over).
//! - Storage is [`DiskStorage`] under `<home>/storage/` (master key `<home>/storage.key`)
//!   unless the builder swaps in another `Storage`; apps reach it through `storage.*`, and
//!   uninstall wipes it.
//!
//! - The monitor is [`SandframeMonitor`] (its [`Rules`], alerts to [`TracingAlerts`] unless
//!   the builder sets an [`AlertSink`], verdicts audited, quarantines under
//!   `<home>/quarantine/`) unless the builder swaps in another `Monitor`. Every launched app
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

mod storage_api;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use sandframe_core::{
    AlertSink, AppId, AppMonitor, AuditOutcome, AuditRecord, AuditSink, Capability, Consent,
    Gateway, Grant, Layer, Monitor, MonitorEvent, Storage, Surface, SurfaceEvent, Verdict, Watch,
};
use sandframe_gateway::{
    Anchor, Api, AuditLog, FileAnchor, GatewayBuilder, GatewayError, GrantStore, Policy,
    SandframeGateway,
};
pub use sandframe_monitor::{Rules, SandframeMonitor, TracingAlerts};
use sandframe_package::{Package, PublicKey, TrustStore};
use sandframe_render::{HtmlSurface, RenderSide};
use sandframe_runtime::{
    AppHandle, ArtifactStore, LogicPool, Runtime, RuntimeConfig, RuntimeError, Terminator,
};
use sandframe_storage::{DiskStorage, FileKeySource, StorageConfig};
use sandframe_validate::{Context, Installed, Pin, Registry, ValidateError, Validator};
use serde::{Deserialize, Serialize};

/// How long an app may go without an event before it is suspended, by default.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// The lifecycle event an app receives when it is shown (`{"handler":"onShow","detail":{}}`).
pub const ON_SHOW: &str = "onShow";
/// The lifecycle event an app receives when it is hidden.
pub const ON_HIDE: &str = "onHide";

/// Errors of the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// The package was refused (the report says why) or definitions were refused.
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// The runtime failed (compile, start, a trap, a stopped app).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The home directory could not be read or written.
    #[error("host home: {what}: {source}")]
    Home {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record in the home is damaged.
    #[error("host home: {0} is damaged; restore it from a backup or uninstall the app")]
    Damaged(String),
    /// No app with that id is installed.
    #[error("{0} is not installed")]
    NotInstalled(AppId),
    /// The app is not running.
    #[error("{0} is not running; launch it first")]
    NotRunning(AppId),
    /// The app is already running.
    #[error("{0} is already running")]
    AlreadyRunning(AppId),
    /// The builder is missing something.
    #[error("host builder: {0}")]
    Builder(&'static str),
    /// The gateway layer failed (its configuration, grants or audit log).
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The operation needs sandframe's own gateway, and the builder swapped in another.
    #[error("this host runs a custom gateway, which manages its own grants")]
    CustomGateway,
    /// The monitor quarantined the app: it does not launch until the host releases it.
    #[error(
        "{0} is quarantined by the monitor (see its audit trail); release it with Host::release \
         once you trust it again"
    )]
    Quarantined(AppId),
    /// The monitor layer failed (its quarantine directory).
    #[error(transparent)]
    Monitor(#[from] sandframe_monitor::MonitorError),
    /// The render side failed (its thread, a view's template or data).
    #[error(transparent)]
    Render(#[from] sandframe_render::RenderError),
    /// The package is installed but its entry view does not parse (an older build's package).
    #[error(transparent)]
    Package(#[from] sandframe_package::PackageError),
}

fn home_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HostError {
    let what = what.into();
    move |source| HostError::Home { what, source }
}

/// What [`Host::install`] did.
#[derive(Clone, Debug)]
pub struct Installation {
    /// The app.
    pub app: AppId,
    /// Its version.
    pub version: semver::Version,
    /// How it stands to the app id's publisher pin.
    pub pin: Pin,
    /// Capabilities this version adds over the previous one (they start ungranted).
    pub added_capabilities: Vec<Capability>,
}

/// The per-app record kept in the home (`apps/<id>/record.toml`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    publisher: String,
    version: Option<String>,
    capabilities: Vec<String>,
}

/// Builds a [`Host`].
pub struct HostBuilder {
    home: Option<std::path::PathBuf>,
    trust: TrustStore,
    validator: Validator,
    runtime: RuntimeConfig,
    gateway: Option<Arc<dyn Gateway>>,
    configure: GatewayBuilder,
    anchor: Option<Arc<dyn Anchor>>,
    storage: Option<Arc<dyn Storage>>,
    monitor: Option<Arc<dyn Monitor>>,
    rules: Rules,
    alerts: Option<Arc<dyn AlertSink>>,
    surface: Option<SpawnRender>,
    threads: usize,
    idle: Option<Duration>,
}

/// Starts the render side over a surface the embedder chose.
type SpawnRender = Box<dyn FnOnce() -> Result<RenderSide, sandframe_render::RenderError> + Send>;

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl HostBuilder {
    /// The home directory (created if missing). Required.
    pub fn home(mut self, path: impl AsRef<Path>) -> Self {
        self.home = Some(path.as_ref().to_path_buf());
        self
    }
    /// The publishers this host trusts (default: none).
    pub fn trust(mut self, trust: TrustStore) -> Self {
        self.trust = trust;
        self
    }
    /// The validator (caps, known capabilities, definitions, host checks).
    pub fn validator(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }
    /// Runtime caps and budgets.
    pub fn runtime(mut self, config: RuntimeConfig) -> Self {
        self.runtime = config;
        self
    }
    /// Swaps in another gateway for [`SandframeGateway`] (the host's grant operations then
    /// answer [`HostError::CustomGateway`]).
    pub fn gateway(mut self, gateway: Arc<dyn Gateway>) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// The gateway's host policy (allow/deny lists, capabilities granted without asking).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.configure = self.configure.policy(policy);
        self
    }

    /// Who decides capability requests (default: refuse everything).
    pub fn consent(mut self, consent: Arc<dyn Consent>) -> Self {
        self.configure = self.configure.consent(consent);
        self
    }

    /// Registers a host API (see [`GatewayBuilder::api`]).
    pub fn api(mut self, name: &str, capability: Option<&str>, handler: Arc<dyn Api>) -> Self {
        self.configure = self.configure.api(name, capability, handler);
        self
    }

    /// Any other gateway setting (rates, …).
    pub fn configure_gateway(mut self, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        self.configure = f(self.configure);
        self
    }

    /// Swaps in another [`Storage`] for the default [`DiskStorage`] (under `<home>/storage/`,
    /// its master key in `<home>/storage.key`, mode 0600).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Swaps in another [`Monitor`] for the default [`SandframeMonitor`] (then
    /// [`HostBuilder::rules`] and [`HostBuilder::alerts`] are the swapped-in monitor's business).
    pub fn monitor(mut self, monitor: Arc<dyn Monitor>) -> Self {
        self.monitor = Some(monitor);
        self
    }

    /// Sends every app's view patches to `surface` (default: an [`HtmlSurface`], read with
    /// [`Host::html`]). The render thread holds the surface and nothing else.
    pub fn surface<S: Surface + 'static>(mut self, surface: Arc<Mutex<S>>) -> Self {
        self.surface = Some(Box::new(move || RenderSide::spawn(surface)));
        self
    }

    /// The default monitor's rule thresholds (default: [`Rules::default`]).
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Where the default monitor's alerts go (default: [`TracingAlerts`]).
    pub fn alerts(mut self, alerts: Arc<dyn AlertSink>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Where the audit log's key and head live (default: a [`FileAnchor`] beside the home,
    /// `<home>.audit-anchor`). It must be out of reach of whoever can write the home.
    pub fn anchor(mut self, anchor: Arc<dyn Anchor>) -> Self {
        self.anchor = Some(anchor);
        self
    }
    /// Logic threads (default: one per core).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Suspends an app that has had no event for `idle` (default: 5 minutes): its instance
    /// is dropped, its view and storage kept, and its next event relaunches it. `None`:
    /// never suspend. Sweeps run at most once a second, on [`Host::dispatch`] and
    /// [`Host::suspend_idle`].
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    /// Opens the home and starts the logic threads.
    ///
    /// # Errors
    /// [`HostError::Builder`] without a home; [`HostError::Home`] if it cannot be opened.
    pub fn build(self) -> Result<Host, HostError> {
        let path = self
            .home
            .ok_or(HostError::Builder("set a home directory"))?;
        std::fs::create_dir_all(&path).map_err(home_err("create the home"))?;
        let home = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(home_err("open the home"))?;
        for d in ["apps", "artifacts", "grants", "storage"] {
            home.create_dir_all(d)
                .map_err(home_err(format!("create {d}/")))?;
        }
        let secret = host_secret(&home)?;
        let open = |d: &str| home.open_dir(d).map_err(home_err(format!("open {d}/")));
        let runtime = Arc::new(Runtime::new(
            self.runtime,
            secret,
            Arc::new(DiskArtifacts(open("artifacts")?)),
        ));
        let anchor = match self.anchor {
            Some(a) => a,
            None => Arc::new(FileAnchor::open(&default_anchor(&path))?),
        };
        let audit = Arc::new(AuditLog::open(&home, Arc::clone(&anchor))?);
        // The render side: its own thread, holding the surface and nothing else.
        let (render, html) = match self.surface {
            Some(spawn) => (Arc::new(spawn()?), None),
            None => {
                let html = Arc::new(Mutex::new(HtmlSurface::new("assets/")));
                (Arc::new(RenderSide::spawn(Arc::clone(&html))?), Some(html))
            }
        };
        let storage: Arc<dyn Storage> = match self.storage {
            Some(s) => s,
            None => Arc::new(DiskStorage::new(
                open("storage")?,
                Arc::new(FileKeySource::new(
                    home.try_clone().map_err(home_err("open the home"))?,
                    "storage.key",
                )),
                StorageConfig::default(),
            )),
        };
        let (gateway, sandframe): (Arc<dyn Gateway>, _) = match self.gateway {
            Some(g) => (g, None),
            None => {
                let mut configure = self.configure.api(
                    "ui.setData",
                    Some("ui:render"),
                    Arc::new(UiApi {
                        render: Arc::clone(&render),
                    }),
                );
                for (name, capability, op) in storage_api::OPS {
                    configure = configure.api(
                        name,
                        Some(capability),
                        Arc::new(storage_api::StorageApi {
                            storage: Arc::clone(&storage),
                            op,
                        }),
                    );
                }
                let g = configure
                    .audit(audit.clone())
                    .grants(Arc::new(GrantStore::open(open("grants")?)))
                    .build()?;
                (Arc::new(g.clone()), Some(g))
            }
        };
        let monitor: Arc<dyn Monitor> = match self.monitor {
            Some(m) => m,
            None => {
                let mut m = SandframeMonitor::builder()
                    .rules(self.rules)
                    .audit(audit.clone())
                    .quarantine_dir(&path.join("quarantine"))?;
                if let Some(alerts) = self.alerts {
                    m = m.alerts(alerts);
                }
                Arc::new(m.build()?)
            }
        };
        let pool = LogicPool::new(Arc::clone(&runtime), self.threads)?;
        Ok(Host {
            apps: open("apps")?,
            artifacts: open("artifacts")?,
            home,
            secret,
            trust: self.trust,
            validator: self.validator,
            runtime,
            gateway,
            sandframe,
            audit,
            anchor,
            storage,
            monitor,
            render,
            html,
            pool,
            live: Mutex::new(Live::default()),
            idle: self.idle,
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        })
    }
}

/// `<home>.audit-anchor`, beside the home.
fn default_anchor(home: &Path) -> std::path::PathBuf {
    let mut name = home
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| "home".into());
    name.push(".audit-anchor");
    home.with_file_name(name)
}

/// The host secret (`host.key`, 32 random bytes, mode 0600), created on first use.
fn host_secret(home: &Dir) -> Result<[u8; 32], HostError> {
    match home.read("host.key") {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| HostError::Damaged("host.key".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| HostError::Home {
                what: "generate the host secret".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
            let mut options = OpenOptions::new();
            options.write(true).create_new(true).mode(0o600);
            let mut f = home
                .open_with("host.key", &options)
                .map_err(home_err("create host.key"))?;
            f.write_all(&key).map_err(home_err("write host.key"))?;
            f.sync_all().map_err(home_err("sync host.key"))?;
            Ok(key)
        }
        Err(e) => Err(home_err("read host.key")(e)),
    }
}

/// Writes `bytes` to `name` in `dir` durably: temp file, fsync, rename, directory fsync.
fn write_durably(dir: &Dir, name: &str, bytes: &[u8]) -> Result<(), HostError> {
    let tmp = format!("{name}.tmp");
    let mut f = dir
        .create(&tmp)
        .map_err(home_err(format!("create {tmp}")))?;
    f.write_all(bytes)
        .map_err(home_err(format!("write {tmp}")))?;
    f.sync_all().map_err(home_err(format!("sync {tmp}")))?;
    drop(f);
    dir.rename(&tmp, dir, name)
        .map_err(home_err(format!("rename {tmp}")))?;
    dir.open(".")
        .and_then(|d| d.sync_all())
        .map_err(home_err("sync a directory"))
}

/// The runtime's artifact cache under `artifacts/` (records are MAC'd by the runtime).
struct DiskArtifacts(Dir);

impl ArtifactStore for DiskArtifacts {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.read(key).ok()
    }
    fn put(&self, key: &str, record: &[u8]) {
        // A cache: no fsync (a torn or lost record fails its MAC and is recompiled); the
        // rename keeps a reader from seeing a half-written file.
        let tmp = format!("{key}.tmp");
        let written = self
            .0
            .write(&tmp, record)
            .and_then(|()| self.0.rename(&tmp, &self.0, key));
        if written.is_err() {
            let _ = self.0.remove_file(&tmp);
        }
    }
    fn remove(&self, key: &str) {
        let _ = self.0.remove_file(key);
    }
}

/// A sandframe host.
pub struct Host {
    apps: Dir,
    artifacts: Dir,
    home: Dir,
    secret: [u8; 32],
    trust: TrustStore,
    validator: Validator,
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
}

/// The apps this host runs, and those it suspended.
#[derive(Default)]
struct Live {
    running: HashMap<AppId, Running>,
    /// Suspended (idle, or updated while running): relaunched by their next event.
    suspended: HashSet<AppId>,
    /// Being launched right now.
    launching: HashSet<AppId>,
}

/// Ends a launch's claim on its app, however the launch ends.
struct Launching<'a> {
    host: &'a Host,
    app: &'a AppId,
}

impl Drop for Launching<'_> {
    fn drop(&mut self) {
        if let Ok(mut live) = self.host.live.lock() {
            live.launching.remove(self.app);
        }
    }
}

/// A running app.
struct Running {
    handle: AppHandle,
    /// Its last event (or its launch).
    last: Instant,
    /// Shown (`onShow`) rather than hidden (`onHide`).
    shown: bool,
}

/// An installed app, as [`Host::list`] shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppSummary {
    /// The app.
    pub app: AppId,
    /// Its installed version.
    pub version: String,
    /// Its publisher's key.
    pub publisher: String,
    /// Whether it runs.
    pub state: AppState,
    /// Whether the monitor quarantined it.
    pub quarantined: bool,
}

/// What an installed app is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    /// Not running.
    Stopped,
    /// Running, shown.
    Running,
    /// Running, hidden (`onHide`).
    Hidden,
    /// Suspended: its instance was dropped (idle, or updated); its next event relaunches it.
    Suspended,
}

/// An installed app's details, as [`Host::info`] shows them (the manifest's text is the
/// publisher's: escape it before showing it).
#[derive(Clone, Debug, Serialize)]
pub struct AppInfo {
    /// Id, version, publisher, state.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// Its display name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its views; the first is the entry view.
    pub views: Vec<String>,
    /// The capabilities it declares, each with the manifest's reason.
    pub capabilities: Vec<DeclaredInfo>,
    /// Its stored grants (`None` with a custom gateway).
    pub grants: Option<Vec<String>>,
    /// Storage used, in bytes.
    pub storage_bytes: Option<u64>,
    /// Its storage quota, in bytes.
    pub storage_quota_bytes: Option<u64>,
}

/// A declared capability and the publisher's reason for it.
#[derive(Clone, Debug, Serialize)]
pub struct DeclaredInfo {
    /// The capability.
    pub capability: String,
    /// Why the app wants it (publisher text).
    pub reason: String,
}

/// `ui.setData`: the request (a JSON object of `path: value`) goes to the render side as
/// bytes; the logic thread does not wait for rendering.
struct UiApi {
    render: Arc<RenderSide>,
}

impl Api for UiApi {
    fn call(
        &self,
        app: &sandframe_core::AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_core::ApiError> {
        let is_object = request.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !is_object {
            return Err(sandframe_core::ApiError::new(
                sandframe_core::ErrorCode::BadRequest,
                "ui.setData takes an object of path: value, e.g. {\"count\": 1}",
            ));
        }
        self.render
            .set_data(&app.app, request.to_vec())
            .map_err(|e| {
                let code = match e {
                    sandframe_render::RenderError::TooLarge(_) => {
                        sandframe_core::ErrorCode::TooLarge
                    }
                    sandframe_render::RenderError::Busy => sandframe_core::ErrorCode::RateLimited,
                    _ => sandframe_core::ErrorCode::Unavailable,
                };
                sandframe_core::ApiError::new(code, e.to_string())
            })?;
        response.extend_from_slice(b"{}");
        Ok(())
    }
}

/// An app's watch as the host hands it to the layers: the monitor decides, this applies.
struct Enforcer {
    inner: Arc<dyn AppMonitor>,
    app: AppId,
    terminator: Terminator,
    gateway: Arc<dyn Gateway>,
}

impl AppMonitor for Enforcer {
    #[inline]
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        let verdict = self.inner.observe(event);
        match verdict {
            Verdict::Allow | Verdict::Warn => {}
            Verdict::Throttle => self.gateway.throttle(&self.app, true),
            Verdict::Terminate | Verdict::Quarantine => self.terminator.terminate(),
        }
        verdict
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// The home's records, as `validate::verify` reads them.
struct HomeRegistry<'a>(&'a Dir);

impl Registry for HomeRegistry<'_> {
    fn installed(&self, app: &AppId) -> Option<Installed> {
        let text = self.0.read_to_string(format!("{app}/record.toml")).ok()?;
        let r: Record = toml::from_str(&text).ok()?;
        Some(Installed {
            publisher: r.publisher.parse::<PublicKey>().ok()?,
            version: r.version.and_then(|v| v.parse().ok()),
            capabilities: r
                .capabilities
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        })
    }
}

impl Host {
    /// A builder with no home, an empty trust store, the default validator, runtime and
    /// gateway, and one logic thread per core.
    pub fn builder() -> HostBuilder {
        HostBuilder {
            home: None,
            trust: TrustStore::new(),
            validator: Validator::new(),
            runtime: RuntimeConfig::default(),
            gateway: None,
            configure: SandframeGateway::builder(),
            anchor: None,
            storage: None,
            monitor: None,
            rules: Rules::default(),
            alerts: None,
            surface: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            idle: Some(DEFAULT_IDLE),
        }
    }

    /// Verifies and installs a package.
    ///
    /// # Errors
    /// [`HostError::Validate`] with the report if it is refused; [`HostError::Home`] on I/O.
    pub fn install(&self, bytes: &[u8]) -> Result<Installation, HostError> {
        let registry = HomeRegistry(&self.apps);
        let verified = match self
            .validator
            .verify(bytes, &Context::new(&self.trust, &registry))
        {
            Ok(v) => v,
            Err(e) => {
                // The id is not trusted until verified: the record names the package digest.
                let digest = blake3::hash(bytes).to_hex();
                self.record(
                    None,
                    "install",
                    &digest,
                    AuditOutcome::Denied,
                    &e.to_string(),
                )?;
                // The refusal is what the caller needs to see; a failed flush shows at the
                // next one.
                let _ = self.flush_audit();
                return Err(e.into());
            }
        };
        let package = verified.package();
        let manifest = package.manifest();
        let id = manifest.id();
        self.apps
            .create_dir_all(id.as_str())
            .map_err(home_err(format!("create apps/{id}")))?;
        let dir = self
            .apps
            .open_dir(id.as_str())
            .map_err(home_err(format!("open apps/{id}")))?;
        // An update: a grant of a capability this version adds is a leftover of an older
        // version that dropped it (the person agreed to that version's reason, not this
        // one's): it goes, so consent is asked again. Before the record changes, so that a
        // failure here leaves an install that computes the same additions when retried.
        if let Some(g) = &self.sandframe {
            let held = g.grants(id)?;
            for added in verified.added_capabilities() {
                if held.iter().any(|g| g.capability() == added) {
                    g.revoke(id, added)?;
                }
            }
        }
        write_durably(&dir, "package.sfpkg", bytes)?;
        write_durably(&dir, "receipt", &verified.receipt(&self.secret))?;
        let record = Record {
            publisher: package.publisher().to_string(),
            version: Some(manifest.version().to_string()),
            capabilities: manifest
                .capabilities()
                .iter()
                .map(|d| d.capability().to_string())
                .collect(),
        };
        let text = toml::to_string(&record).map_err(|e| HostError::Damaged(e.to_string()))?;
        write_durably(&dir, "record.toml", text.as_bytes())?;
        // A running instance of the old version stops; its next event relaunches this one.
        let restarted = self.suspend(id)?;
        let version = manifest.version().to_string();
        let detail = if restarted {
            "the running instance of the old version was stopped"
        } else {
            ""
        };
        self.record(Some(id), "install", &version, AuditOutcome::Allowed, detail)?;
        self.flush_audit()?;
        Ok(Installation {
            app: id.clone(),
            version: manifest.version().clone(),
            pin: verified.pin().clone(),
            added_capabilities: verified.added_capabilities().to_vec(),
        })
    }

    /// Starts an installed app on a logic thread; returns what its `sf_init` returned.
    ///
    /// # Errors
    /// [`HostError::NotInstalled`], [`HostError::AlreadyRunning`], [`HostError::Damaged`] if
    /// the package no longer matches its receipt, or a validation or runtime error.
    pub fn launch(&self, app: &AppId) -> Result<i32, HostError> {
        // The lock guards the table only: verifying and compiling (up to seconds) happen
        // outside it, so a launch never stalls dispatches to running apps. One launch of an
        // app at a time: a second one (e.g. two events at a suspended app) would open the
        // view again over the first one's data.
        {
            let mut live = self.lock_live()?;
            if live.running.contains_key(app) || !live.launching.insert(app.clone()) {
                return Err(HostError::AlreadyRunning(app.clone()));
            }
        }
        let _launching = Launching { host: self, app };
        if self.monitor.is_quarantined(app) {
            return Err(HostError::Quarantined(app.clone()));
        }
        let verified = self.installed_package(app)?;
        let prepared = self.runtime.prepare(&verified)?;
        self.launch_verified(app, &verified, prepared)
    }

    /// The installed package of `app`, re-minted from its install receipt.
    fn installed_package(
        &self,
        app: &AppId,
    ) -> Result<sandframe_validate::VerifiedPackage, HostError> {
        let dir = self
            .apps
            .open_dir(app.as_str())
            .map_err(|_| HostError::NotInstalled(app.clone()))?;
        let bytes = dir
            .read("package.sfpkg")
            .map_err(|_| HostError::NotInstalled(app.clone()))?;
        let receipt = dir
            .read("receipt")
            .map_err(|_| HostError::Damaged(format!("apps/{app}/receipt")))?;
        // A warm launch: the receipt re-mints the VerifiedPackage (digests, receipt MAC, and
        // the cheap origin checks again) without re-running signature and static analysis.
        let verified = match self
            .validator
            .reinstate(&bytes, &receipt, &self.secret, &self.trust)
        {
            Err(ValidateError::BadReceipt) => {
                return Err(HostError::Damaged(format!(
                    "apps/{app} (package and receipt disagree)"
                )));
            }
            other => other?,
        };
        if verified.package().manifest().id() != app {
            return Err(HostError::Damaged(format!(
                "apps/{app} holds another app's package"
            )));
        }
        Ok(verified)
    }

    /// Launch, with the package read and authenticated.
    fn launch_verified(
        &self,
        app: &AppId,
        verified: &sandframe_validate::VerifiedPackage,
        prepared: sandframe_runtime::Prepared,
    ) -> Result<i32, HostError> {
        if let Some(quota) = prepared.context().limits.storage_quota_bytes {
            self.storage.limit(app, quota);
        }
        // The view opens before sf_init runs, so its first ui.setData has somewhere to go.
        let entry = verified
            .package()
            .manifest()
            .views()
            .first()
            .cloned()
            .unwrap_or_default();
        let template = verified
            .package()
            .template(&entry)
            .ok_or_else(|| HostError::Damaged(format!("apps/{app} (no entry view)")))??;
        self.render.open(app, template)?;
        let launched = self.start(app, prepared);
        // A failed launch closes the view it opened (no other launch of the app can be under
        // way: `launch` holds its claim).
        if launched.is_err() {
            self.render.close(app);
        }
        launched
    }

    /// The rest of [`Host::launch`], once the view is open.
    fn start(
        &self,
        app: &AppId,
        mut prepared: sandframe_runtime::Prepared,
    ) -> Result<i32, HostError> {
        let watched = match self.monitor.watch(app) {
            Ok(w) => w,
            Err(sandframe_core::Error::Denied(_)) => {
                return Err(HostError::Quarantined(app.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let terminator = Terminator::default();
        prepared.set_monitor(Watch::new(Arc::new(Enforcer {
            inner: watched,
            app: app.clone(),
            terminator: terminator.clone(),
            gateway: Arc::clone(&self.gateway),
        })));
        let context = prepared.context().clone();
        let gateway = Arc::clone(&self.gateway);
        let stop = terminator.clone();
        let (handle, code) = self.pool.launch_with(prepared, terminator, move |events| {
            gateway.open(&context, events)
        })?;
        if stop.is_terminated() {
            // The monitor stopped it during sf_init: it is not running.
            self.pool.terminate(handle)?;
            self.record(
                Some(app),
                "launch",
                app.as_str(),
                AuditOutcome::Denied,
                "stopped by a monitor verdict during sf_init",
            )?;
            return Err(if self.monitor.is_quarantined(app) {
                HostError::Quarantined(app.clone())
            } else {
                HostError::Runtime(RuntimeError::Stopped(sandframe_core::TrapKind::Terminated))
            });
        }
        // `launch` holds the app's `launching` claim: no other launch can have won a race.
        let mut live = self.lock_live()?;
        live.running.insert(
            app.clone(),
            Running {
                handle,
                last: Instant::now(),
                shown: true,
            },
        );
        live.suspended.remove(app);
        drop(live);
        let detail = if code == 0 {
            String::new()
        } else {
            format!("the app's sf_init returned {code}")
        };
        if let Err(e) = self.record(
            Some(app),
            "launch",
            app.as_str(),
            AuditOutcome::Allowed,
            &detail,
        ) {
            // No app runs unaudited.
            let _ = self.terminate(app);
            return Err(e);
        }
        Ok(code)
    }

    fn lock_live(&self) -> Result<std::sync::MutexGuard<'_, Live>, HostError> {
        self.live
            .lock()
            .map_err(|_| HostError::Builder("a host lock is poisoned"))
    }

    /// Delivers an event (`{"handler", "detail"}` JSON) to a running app; a suspended app
    /// is relaunched first.
    ///
    /// # Errors
    /// [`HostError::NotRunning`], or the runtime's error: a trap stops the instance for good and
    /// frees it (the app is then not running; `launch` starts it afresh, unless quarantined).
    pub fn dispatch(&self, app: &AppId, event: &[u8]) -> Result<i32, HostError> {
        self.deliver(app, event, true)
    }

    /// [`Host::dispatch`]; `audit_refusal`: whether an app's non-zero answer is audited (a
    /// lifecycle event the app has no handler for is not a failure).
    fn deliver(&self, app: &AppId, event: &[u8], audit_refusal: bool) -> Result<i32, HostError> {
        let now = Instant::now();
        self.sweep_now_and_then(now);
        let handle = self.resume(app, now)?;
        let result = self.pool.dispatch(handle, event.to_vec());
        // An app error (non-zero) or a trap is audited; the event cannot be undone, so a
        // record that cannot be kept does not change the answer.
        let failure = match &result {
            Ok(0) => None,
            Ok(_) if !audit_refusal => None,
            Ok(code) => Some(format!("the app's sf_event returned {code}")),
            Err(e) => Some(e.to_string()),
        };
        self.free_if_stopped(app, handle, result.as_ref().err());
        if let Some(detail) = failure {
            let _ = self.audit.record(&AuditRecord {
                app: Some(app),
                layer: Layer::Runtime,
                action: "event",
                subject: app.as_str(),
                capability: "",
                outcome: AuditOutcome::Failed,
                detail: &detail,
                latency_ns: 0,
                bytes_in: u32::try_from(event.len()).unwrap_or(u32::MAX),
                bytes_out: 0,
                unix_ms: 0,
            });
        }
        Ok(result?)
    }

    /// A trapped or stopped instance never runs again: frees it, so the app can be
    /// relaunched. Only this instance: another dispatch may already have freed it and a
    /// launch started a new one under the same id.
    fn free_if_stopped(&self, app: &AppId, handle: AppHandle, error: Option<&RuntimeError>) {
        if !matches!(
            error,
            Some(RuntimeError::Trapped { .. } | RuntimeError::Stopped(_))
        ) {
            return;
        }
        let freed = self.live.lock().ok().and_then(|mut live| {
            (live.running.get(app).map(|r| r.handle) == Some(handle))
                .then(|| live.running.remove(app))
                .flatten()
        });
        if let Some(r) = freed {
            let _ = self.pool.terminate(r.handle);
            self.render.close(app);
        }
    }

    /// The running app's handle (its last event is `now`); a suspended app is relaunched.
    fn resume(&self, app: &AppId, now: Instant) -> Result<AppHandle, HostError> {
        let suspended = {
            let mut live = self.lock_live()?;
            if let Some(r) = live.running.get_mut(app) {
                r.last = now;
                return Ok(r.handle);
            }
            live.suspended.contains(app)
        };
        if !suspended {
            return Err(HostError::NotRunning(app.clone()));
        }
        match self.launch(app) {
            Ok(_) => self.handle(app),
            // Another event is relaunching it: wait for that launch to end.
            Err(HostError::AlreadyRunning(_)) => loop {
                {
                    let live = self.lock_live()?;
                    if let Some(r) = live.running.get(app) {
                        return Ok(r.handle);
                    }
                    if !live.launching.contains(app) {
                        return Err(HostError::NotRunning(app.clone()));
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            },
            Err(e) => Err(e),
        }
    }

    fn handle(&self, app: &AppId) -> Result<AppHandle, HostError> {
        self.lock_live()?
            .running
            .get(app)
            .map(|r| r.handle)
            .ok_or_else(|| HostError::NotRunning(app.clone()))
    }

    /// Waits until the app has handled every event queued for it so far, including the
    /// answers to consent questions still being decided (so this waits for a person asked),
    /// and until the render side has applied every patch those events sent.
    ///
    /// # Errors
    /// [`HostError::NotRunning`]; the runtime's error if one of those events stopped the app
    /// (its instance is then freed, as [`Host::dispatch`] does).
    pub fn settle(&self, app: &AppId) -> Result<(), HostError> {
        loop {
            while self
                .sandframe
                .as_ref()
                .is_some_and(|g| g.consents_in_flight(app) > 0)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            let handle = self.handle(app)?;
            if let Err(e) = self.pool.settle(handle) {
                self.free_if_stopped(app, handle, Some(&e));
                return Err(e.into());
            }
            // An answer's handler may have asked again.
            if self
                .sandframe
                .as_ref()
                .is_none_or(|g| g.consents_in_flight(app) == 0)
            {
                break;
            }
        }
        Ok(self.render.sync()?)
    }

    /// Tells a running app it is shown (`onShow`); a suspended app is relaunched first.
    /// Returns the app's answer (an app with no `onShow` handler answers non-zero, which is
    /// not audited as a failure).
    ///
    /// # Errors
    /// As [`Host::dispatch`].
    pub fn show(&self, app: &AppId) -> Result<i32, HostError> {
        self.lifecycle(app, ON_SHOW, true)
    }

    /// Tells a running app it is hidden (`onHide`); a suspended or stopped app is left
    /// alone (`Ok(0)`).
    ///
    /// # Errors
    /// As [`Host::dispatch`].
    pub fn hide(&self, app: &AppId) -> Result<i32, HostError> {
        if !self.lock_live()?.running.contains_key(app) {
            return Ok(0);
        }
        self.lifecycle(app, ON_HIDE, false)
    }

    fn lifecycle(&self, app: &AppId, handler: &str, shown: bool) -> Result<i32, HostError> {
        let event = format!(r#"{{"handler":"{handler}","detail":{{}}}}"#);
        let code = self.deliver(app, event.as_bytes(), false)?;
        if let Some(r) = self.lock_live()?.running.get_mut(app) {
            r.shown = shown;
        }
        Ok(code)
    }

    /// Suspends one running app: its instance is dropped (memory freed), its view and
    /// storage kept; its next event (or [`Host::show`]) relaunches it. Returns whether it
    /// was running.
    ///
    /// # Errors
    /// [`HostError::Runtime`] if its logic thread is gone.
    pub fn suspend(&self, app: &AppId) -> Result<bool, HostError> {
        self.suspend_if(app, None)
    }

    /// Suspends `app` if it runs and, with `idle`, has had no event for that long (checked
    /// under the lock, so an event that has just begun is not cut short).
    fn suspend_if(&self, app: &AppId, idle: Option<Duration>) -> Result<bool, HostError> {
        let removed = {
            let mut live = self.lock_live()?;
            let still_idle = live
                .running
                .get(app)
                .is_some_and(|r| idle.is_none_or(|idle| r.last.elapsed() >= idle));
            if !still_idle {
                return Ok(false);
            }
            let r = live.running.remove(app);
            if r.is_some() {
                live.suspended.insert(app.clone());
            }
            r
        };
        let Some(r) = removed else {
            return Ok(false);
        };
        self.pool.terminate(r.handle)?;
        self.record(
            Some(app),
            "suspend",
            app.as_str(),
            AuditOutcome::Allowed,
            "",
        )?;
        Ok(true)
    }

    /// Suspends every app idle past the builder's [`HostBuilder::idle_timeout`]; returns
    /// them. An embedder calls this from a timer; dispatches call it at most once a second.
    ///
    /// # Errors
    /// As [`Host::suspend`].
    pub fn suspend_idle(&self) -> Result<Vec<AppId>, HostError> {
        let Some(idle) = self.idle else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        let idle_apps: Vec<AppId> = self
            .lock_live()?
            .running
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.last) >= idle)
            .map(|(app, _)| app.clone())
            .collect();
        let mut done = Vec::new();
        for app in idle_apps {
            if self.suspend_if(&app, Some(idle))? {
                done.push(app);
            }
        }
        Ok(done)
    }

    /// Runs [`Host::suspend_idle`] if a second has passed since it last ran.
    fn sweep_now_and_then(&self, now: Instant) {
        if self.idle.is_none() {
            return;
        }
        let now = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1000
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.suspend_idle() {
            tracing::warn!(target: "sandframe::host", error = %e, "an idle sweep failed");
        }
    }

    /// What an installed app is doing.
    fn state(&self, app: &AppId) -> AppState {
        let Ok(live) = self.live.lock() else {
            return AppState::Stopped;
        };
        match live.running.get(app) {
            Some(r) if r.shown => AppState::Running,
            Some(_) => AppState::Hidden,
            None if live.suspended.contains(app) => AppState::Suspended,
            None => AppState::Stopped,
        }
    }

    /// Whether `app` is installed (its record has a version: not uninstalled), read from the
    /// home's records alone (no trust or package check).
    pub fn is_installed(&self, app: &AppId) -> bool {
        HomeRegistry(&self.apps)
            .installed(app)
            .is_some_and(|i| i.version.is_some())
    }

    /// The installed apps (not uninstalled ones), sorted by id.
    ///
    /// # Errors
    /// [`HostError::Home`] if the home cannot be listed.
    pub fn list(&self) -> Result<Vec<AppSummary>, HostError> {
        let registry = HomeRegistry(&self.apps);
        let mut out = Vec::new();
        for entry in self.apps.entries().map_err(home_err("list apps/"))? {
            let entry = entry.map_err(home_err("list apps/"))?;
            let Some(app) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<AppId>().ok())
            else {
                continue;
            };
            let Some(installed) = registry.installed(&app) else {
                continue;
            };
            let Some(version) = installed.version else {
                continue; // a tombstone: uninstalled
            };
            out.push(AppSummary {
                state: self.state(&app),
                quarantined: self.monitor.is_quarantined(&app),
                version: version.to_string(),
                publisher: installed.publisher.to_string(),
                app,
            });
        }
        out.sort_by(|a, b| a.app.cmp(&b.app));
        Ok(out)
    }

    /// An installed app's details, read from its package (authenticated against its install
    /// receipt first).
    ///
    /// # Errors
    /// [`HostError::NotInstalled`], [`HostError::Damaged`].
    pub fn info(&self, app: &AppId) -> Result<AppInfo, HostError> {
        let verified = self.installed_package(app)?;
        let package = verified.package();
        let manifest = package.manifest();
        let usage = self.storage.usage(app).ok();
        Ok(AppInfo {
            summary: AppSummary {
                app: app.clone(),
                version: manifest.version().to_string(),
                publisher: package.publisher().to_string(),
                state: self.state(app),
                quarantined: self.monitor.is_quarantined(app),
            },
            name: manifest.name().to_owned(),
            description: manifest.description().map(str::to_owned),
            views: manifest.views().to_vec(),
            capabilities: manifest
                .capabilities()
                .iter()
                .map(|d| DeclaredInfo {
                    capability: d.capability().to_string(),
                    reason: d.reason().to_owned(),
                })
                .collect(),
            grants: self.sandframe.as_ref().and_then(|g| {
                g.grants(app).ok().map(|gs| {
                    gs.iter()
                        .map(|g| g.capability().as_str().to_owned())
                        .collect()
                })
            }),
            storage_bytes: usage.map(|u| u.bytes),
            storage_quota_bytes: usage.map(|u| u.quota_bytes),
        })
    }

    /// Stops a running app and frees its instance; returns whether it was running.
    ///
    /// # Errors
    /// [`HostError::Runtime`] if its logic thread is gone.
    pub fn terminate(&self, app: &AppId) -> Result<bool, HostError> {
        let (handle, suspended) = {
            let mut live = self.lock_live()?;
            (live.running.remove(app), live.suspended.remove(app))
        };
        if suspended {
            // Its view was kept for its relaunch; stopped, it goes.
            self.render.close(app);
            self.record(
                Some(app),
                "terminate",
                app.as_str(),
                AuditOutcome::Allowed,
                "it was suspended",
            )?;
        }
        match handle {
            Some(r) => {
                let was = self.pool.terminate(r.handle)?;
                self.render.close(app);
                self.record(
                    Some(app),
                    "terminate",
                    app.as_str(),
                    AuditOutcome::Allowed,
                    "",
                )?;
                Ok(was)
            }
            None => Ok(false),
        }
    }

    /// Uninstalls an app: stops it, removes its package, receipt and cached artifact, and
    /// keeps only its record as a tombstone (publisher pin, no version).
    ///
    /// # Errors
    /// [`HostError::NotInstalled`], or I/O errors (uninstall is safe to retry).
    pub fn uninstall(&self, app: &AppId) -> Result<(), HostError> {
        self.terminate(app)?;
        let dir = self
            .apps
            .open_dir(app.as_str())
            .map_err(|_| HostError::NotInstalled(app.clone()))?;
        let installed = HomeRegistry(&self.apps)
            .installed(app)
            .ok_or_else(|| HostError::NotInstalled(app.clone()))?;
        if let Ok(bytes) = dir.read("package.sfpkg")
            && let Ok(package) = Package::parse(&bytes)
        {
            let key = self.runtime.artifact_key(package.logic());
            for name in [format!("{key}.tmp"), key] {
                match self.artifacts.remove_file(&name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(home_err("remove a cached artifact")(e)),
                }
            }
        }
        let tombstone = Record {
            publisher: installed.publisher.to_string(),
            version: None,
            capabilities: Vec::new(),
        };
        let text = toml::to_string(&tombstone).map_err(|e| HostError::Damaged(e.to_string()))?;
        write_durably(&dir, "record.toml", text.as_bytes())?;
        for f in ["package.sfpkg", "receipt"] {
            match dir.remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(home_err(format!("remove apps/{app}/{f}"))(e)),
            }
        }
        self.storage.wipe(app)?;
        if let Some(g) = &self.sandframe {
            g.forget(app)?;
        }
        // The app is gone: so is its quarantine (a reinstall is a host decision too).
        self.monitor.release(app)?;
        self.record(
            Some(app),
            "uninstall",
            app.as_str(),
            AuditOutcome::Allowed,
            "",
        )?;
        self.flush_audit()?;
        Ok(())
    }

    /// Writes one host record to the audit log.
    fn record(
        &self,
        app: Option<&AppId>,
        action: &str,
        subject: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) -> Result<(), HostError> {
        Ok(self.audit.record(&AuditRecord {
            app,
            layer: Layer::Host,
            action,
            subject,
            capability: "",
            outcome,
            detail,
            latency_ns: 0,
            bytes_in: 0,
            bytes_out: 0,
            unix_ms: 0,
        })?)
    }

    fn sandframe(&self) -> Result<&SandframeGateway, HostError> {
        self.sandframe.as_ref().ok_or(HostError::CustomGateway)
    }

    /// The app's stored grants.
    ///
    /// # Errors
    /// [`HostError::CustomGateway`], or if its grants file is damaged.
    pub fn grants(&self, app: &AppId) -> Result<Vec<Grant>, HostError> {
        Ok(self.sandframe()?.grants(app)?)
    }

    /// Grants `capability` to `app` on the host's authority (audited); it takes effect at the
    /// app's next call, and only if its manifest declares the capability.
    ///
    /// # Errors
    /// [`HostError::CustomGateway`], or if the grant cannot be stored.
    pub fn grant(&self, app: &AppId, capability: &Capability) -> Result<(), HostError> {
        Ok(self.sandframe()?.grant(app, capability)?)
    }

    /// Revokes a grant (audited); a running app loses it at its next call.
    ///
    /// # Errors
    /// [`HostError::CustomGateway`], or if the change cannot be stored.
    pub fn revoke(&self, app: &AppId, capability: &Capability) -> Result<bool, HostError> {
        Ok(self.sandframe()?.revoke(app, capability)?)
    }

    /// Puts an app under (or out of) a throttle verdict: its calls meet the slow rates.
    ///
    /// # Errors
    /// [`HostError::CustomGateway`].
    pub fn throttle(&self, app: &AppId, on: bool) -> Result<(), HostError> {
        self.sandframe()?.throttle(app, on);
        Ok(())
    }

    /// The app's view as HTML, as the default [`HtmlSurface`] has it once every patch sent so
    /// far has arrived (`None` with a surface of the embedder's, or before the app's first
    /// launch).
    ///
    /// # Errors
    /// [`HostError::Render`] if the render thread has stopped.
    pub fn html(&self, app: &AppId) -> Result<Option<String>, HostError> {
        let Some(html) = &self.html else {
            return Ok(None);
        };
        self.render.sync()?;
        let surface = html
            .lock()
            .map_err(|_| HostError::Builder("the surface lock is poisoned"))?;
        let out = surface.html(app);
        Ok((!out.is_empty()).then_some(out))
    }

    /// Delivers a surface event (a tap, an input) through the render side: if the element
    /// it targets binds a handler to it, the app receives `{"handler", "detail"}` and its
    /// answer is returned; if not, the event is dropped, audited, and `Ok(None)` returned.
    ///
    /// # Errors
    /// [`HostError::NotRunning`], [`HostError::Render`], or what [`Host::dispatch`] returns.
    pub fn surface_event(&self, event: SurfaceEvent) -> Result<Option<i32>, HostError> {
        let app = event.app.clone();
        {
            let live = self.lock_live()?;
            if !live.running.contains_key(&app) && !live.suspended.contains(&app) {
                return Err(HostError::NotRunning(app));
            }
        }
        match self.render.event(event.clone())? {
            Some(json) => self.dispatch(&app, &json).map(Some),
            None => {
                let target: Vec<String> = event.target.iter().map(u32::to_string).collect();
                let _ = self.audit.record(&AuditRecord {
                    app: Some(&app),
                    layer: Layer::Render,
                    action: "event",
                    subject: &target.join("."),
                    capability: "",
                    outcome: AuditOutcome::Denied,
                    detail: &format!("dropped: no handler is bound to {:?} there", event.kind),
                    latency_ns: 0,
                    bytes_in: 0,
                    bytes_out: 0,
                    unix_ms: 0,
                });
                Ok(None)
            }
        }
    }

    /// A copy of the app's view data, as the render side holds it once every patch sent so
    /// far has been applied (`None` if its view is not open).
    ///
    /// # Errors
    /// [`HostError::Render`] if the render thread has stopped.
    pub fn view_data(&self, app: &AppId) -> Result<Option<serde_json::Value>, HostError> {
        Ok(self.render.data(app)?)
    }

    /// A file of the installed package under `assets/` (`path` relative to it), for a
    /// surface that shows the app's images; `None` if there is no such asset. Only assets
    /// are served: never the logic module, the manifest or a view.
    ///
    /// # Errors
    /// [`HostError::NotInstalled`], [`HostError::Damaged`].
    pub fn asset(&self, app: &AppId, path: &str) -> Result<Option<Vec<u8>>, HostError> {
        let verified = self.installed_package(app)?;
        Ok(verified
            .package()
            .file(&format!("assets/{path}"))
            .map(<[u8]>::to_vec))
    }

    /// Whether the monitor has quarantined the app (it then does not launch).
    pub fn is_quarantined(&self, app: &AppId) -> bool {
        self.monitor.is_quarantined(app)
    }

    /// Lifts a quarantine (an explicit, audited host decision): the app may launch again.
    ///
    /// # Errors
    /// If the quarantine record cannot be removed or the release not audited.
    pub fn release(&self, app: &AppId) -> Result<(), HostError> {
        self.monitor.release(app)?;
        self.flush_audit()
    }

    /// Makes every audit record so far durable and anchored.
    ///
    /// # Errors
    /// If the log or the anchor cannot be written.
    pub fn flush_audit(&self) -> Result<(), HostError> {
        Ok(self.audit.flush()?)
    }

    /// The storage layer (for the embedder: apps reach it only through `storage.*`).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The audit log (for the embedder's own records: every layer writes through it).
    pub fn audit(&self) -> Arc<AuditLog> {
        Arc::clone(&self.audit)
    }

    /// Flushes the audit log, verifies it on disk against its anchor, and returns its
    /// records (those of `app` alone, if given), oldest first.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] (inside [`HostError::Gateway`]) with what was found.
    pub fn audit_records(
        &self,
        app: Option<&AppId>,
    ) -> Result<Vec<sandframe_gateway::audit::StoredRecord>, HostError> {
        self.flush_audit()?;
        let mut records = AuditLog::read_file(&self.home, &*self.anchor)?;
        if let Some(app) = app {
            records.retain(|r| r.app == app.as_str());
        }
        Ok(records)
    }

    /// Flushes the audit log and verifies it on disk against its anchor.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] (inside [`HostError::Gateway`]) with what was found.
    pub fn verify_audit(&self) -> Result<sandframe_gateway::audit::Verified, HostError> {
        self.flush_audit()?;
        Ok(AuditLog::verify_file(&self.home, &*self.anchor)?)
    }
}
