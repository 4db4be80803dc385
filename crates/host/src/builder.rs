//! [`HostBuilder`]: the home, the trust store and the layer slots, checked once in `build`.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cap_std::fs::Dir;
use sandframe_core::{AlertSink, Capability, Consent, Gateway, Monitor, Storage, Surface};
use sandframe_gateway::{
    Anchor, Api, AuditLog, FileAnchor, GatewayBuilder, GrantStore, Policy, SandframeGateway,
};
use sandframe_monitor::{Rules, SandframeMonitor};
use sandframe_package::{PublicKey, TrustStore};
use sandframe_render::{HtmlSurface, RenderSide};
use sandframe_runtime::{LogicPool, Runtime, RuntimeConfig};
use sandframe_storage::{DiskStorage, MemoryKeySource, StorageConfig};
use sandframe_validate::{Caps, Check, Validator};

use crate::error::{HostError, Misuse, home_err};
use crate::glue::{ShowViewApi, UiApi};
use crate::home::DiskArtifacts;
use crate::keys::HomeKeys;
use crate::lifecycle::Live;
use crate::{DEFAULT_IDLE, Host, storage_api};

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
    net: Option<sandframe_net::NetConfig>,
    /// The settings made, by name, for `build` to check against each other.
    set: Vec<&'static str>,
    /// Definitions updates to apply to the validator at `build`.
    definitions: Vec<Vec<u8>>,
    /// The sealed configuration to follow (set by `HomeConfig::builder`).
    pub(crate) followed: Option<crate::revalidate::Followed>,
}

/// Starts the render side over a surface the embedder chose.
pub(crate) type SpawnRender =
    Box<dyn FnOnce() -> Result<RenderSide, sandframe_render::RenderError> + Send>;

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
    /// The key that signs security definitions updates (see [`HostBuilder::definitions`]).
    pub fn definitions_key(mut self, key: PublicKey) -> Self {
        self.validator = self.validator.with_definitions_key(key);
        self.set.push("definitions_key");
        self
    }

    /// A signed security definitions update, applied at [`HostBuilder::build`] (which
    /// refuses it if it is not signed by the definitions key or not newer than the current
    /// set). Call it again for each newer set.
    pub fn definitions(mut self, signed: Vec<u8>) -> Self {
        self.definitions.push(signed);
        self.set.push("definitions");
        self
    }

    /// A host check, run after the validator's own at every install (it can only add
    /// findings).
    pub fn check(mut self, check: Box<dyn Check>) -> Self {
        self.validator = self.validator.with_check(check);
        self.set.push("check");
        self
    }

    /// A capability the host knows, for the apps of its own APIs to declare.
    pub fn capability(mut self, capability: Capability) -> Self {
        self.validator = self.validator.with_capability(capability);
        self.set.push("capability");
        self
    }

    /// Lowers the validator's caps (default: [`Caps::default`]). A cap above the default is
    /// refused at [`HostBuilder::build`]: raising one lengthens the worst-case compile time of
    /// a hostile module (`crate::danger::DangerousHostBuilder::validator` can).
    pub fn caps(mut self, caps: Caps) -> Self {
        self.validator = self.validator.with_caps(caps);
        self.set.push("caps");
        self
    }
    /// Runtime caps and budgets.
    pub fn runtime(mut self, config: RuntimeConfig) -> Self {
        self.runtime = config;
        self
    }
    /// Settings that weaken the sandbox, behind one name ([`crate::danger`]).
    pub fn dangerous(
        self,
        f: impl FnOnce(DangerousHostBuilder) -> DangerousHostBuilder,
    ) -> HostBuilder {
        f(DangerousHostBuilder(self)).0
    }

    /// The gateway's host policy (allow/deny lists, capabilities granted without asking).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.set.push("policy");
        self.configure = self.configure.policy(policy);
        self
    }

    /// Who decides capability requests (default: refuse everything).
    pub fn consent(mut self, consent: Arc<dyn Consent>) -> Self {
        self.set.push("consent");
        self.configure = self.configure.consent(consent);
        self
    }

    /// Registers a host API (see [`GatewayBuilder::api`]).
    pub fn api(mut self, name: &str, capability: Option<&str>, handler: Arc<dyn Api>) -> Self {
        self.set.push("api");
        self.configure = self.configure.api(name, capability, handler);
        self
    }

    /// Any other gateway setting (rates, …).
    pub fn configure_gateway(mut self, f: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        self.set.push("configure_gateway");
        self.configure = f(self.configure);
        self
    }

    /// Swaps in another [`Storage`] for the default [`DiskStorage`] (under `<home>/storage/`,
    /// its master key derived from the anchor's root secret, outside the home).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.set.push("storage");
        self.storage = Some(storage);
        self
    }

    /// Swaps in another [`Monitor`] for the default [`SandframeMonitor`] (then
    /// [`HostBuilder::rules`] and [`HostBuilder::alerts`] are the swapped-in monitor's business).
    pub fn monitor(mut self, monitor: Arc<dyn Monitor>) -> Self {
        self.set.push("monitor");
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
        self.set.push("rules");
        self.rules = rules;
        self
    }

    /// Where the default monitor's alerts go (default: [`TracingAlerts`](crate::TracingAlerts)).
    pub fn alerts(mut self, alerts: Arc<dyn AlertSink>) -> Self {
        self.set.push("alerts");
        self.alerts = Some(alerts);
        self
    }

    /// Where the audit log's key and head live (default: a [`FileAnchor`] beside the home,
    /// `<home>.audit-anchor`). It must be out of reach of whoever can write the home.
    pub fn anchor(mut self, anchor: Arc<dyn Anchor>) -> Self {
        self.set.push("anchor");
        self.anchor = Some(anchor);
        self
    }
    /// Logic threads (default: one per core; 0 is taken as 1).
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

    /// Opens the network door: registers `net.fetch`, `net.read`, `net.close` and
    /// `net.upload` under
    /// capability `net:fetch`, so that an app can reach the origins its manifest declares and
    /// its grant covers (see `sandframe_net` for every check). Without it, apps have no
    /// network and a package that declares `net:fetch` is refused at install (SF-V201).
    ///
    /// `net.fetch` is rate limited apart from the other APIs: a burst of 50, then 20 a second.
    pub fn net(mut self, config: sandframe_net::NetConfig) -> Self {
        self.set.push("net");
        if let Ok(c) = Capability::parse(Capability::NET_FETCH) {
            self.validator = self.validator.with_capability(c);
        }
        self.net = Some(config);
        self
    }

    /// Refuses settings that would be ignored or that contradict each other, naming them
    /// (as wasmtime's `Config::validate` does), so that nothing is dropped without a word.
    fn validate(&self) -> Result<(), HostError> {
        let conflict = |a: &str, b: &str, why: &str| {
            Err(HostError::from(Misuse::Builder(format!(
                "`{a}` and `{b}` conflict: {why}"
            ))))
        };
        let set = |name: &str| self.set.contains(&name);
        if self.set.contains(&"danger: gateway") {
            for name in ["policy", "consent", "api", "configure_gateway", "net"] {
                if set(name) {
                    return conflict(
                        name,
                        "dangerous gateway",
                        "the host's gateway settings configure SandframeGateway, which a \
                         swapped-in gateway replaces; configure that gateway itself",
                    );
                }
            }
        }
        if set("monitor") {
            for name in ["rules", "alerts"] {
                if set(name) {
                    return conflict(
                        name,
                        "monitor",
                        "they configure SandframeMonitor, which a swapped-in monitor replaces; \
                         configure that monitor itself",
                    );
                }
            }
        }
        if self.set.contains(&"danger: validator") {
            for name in [
                "definitions_key",
                "definitions",
                "check",
                "capability",
                "caps",
            ] {
                if set(name) {
                    return conflict(
                        name,
                        "dangerous validator",
                        "the swapped-in validator replaces the one this setting changed; set \
                         it on that validator",
                    );
                }
            }
        } else if !self.validator.caps().within(&Caps::default()) {
            return Err(HostError::from(Misuse::Builder(
                "a cap passed to `caps` is above its default, which lengthens the worst-case \
                 compile time of a hostile module; lower it, or raise it through `dangerous` \
                 with a validator of your own"
                    .into(),
            )));
        }
        Ok(())
    }

    /// Opens the home and starts the logic threads.
    ///
    /// # Errors
    /// [`Misuse::Builder`] without a home or with settings that conflict (each named);
    /// [`HostError::Home`] if the home cannot be opened; a definitions update's refusal.
    pub fn build(mut self) -> Result<Host, HostError> {
        self.validate()?;
        for signed in std::mem::take(&mut self.definitions) {
            self.validator.update_definitions(&signed)?;
        }
        let path = self.home.ok_or(HostError::from(Misuse::Builder(
            "set a home directory".into(),
        )))?;
        std::fs::create_dir_all(&path).map_err(home_err("create the home"))?;
        let home = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(home_err("open the home"))?;
        for d in ["apps", "artifacts", "storage"] {
            home.create_dir_all(d)
                .map_err(home_err(format!("create {d}/")))?;
        }
        let lock = sandframe_durable::HomeLock::open(&home, path.display().to_string())
            .map_err(home_err("open the home for its lock"))?;
        if lock.on_network_filesystem() {
            tracing::warn!(
                home = %path.display(),
                "the home is on a network filesystem: its lock may not keep out a process on another machine; keep each home on one machine"
            );
        }
        let anchor = match self.anchor {
            Some(a) => a,
            None => Arc::new(FileAnchor::open(&default_anchor(&path))?),
        };
        // Every key comes from the anchor's root secret, outside the home; made under the
        // lock, so two processes starting on a new home agree on one.
        let keys = {
            let _held = crate::error::hold(&lock)?;
            HomeKeys::derive(&anchor.home_secret()?)
        };
        let open = |d: &str| home.open_dir(d).map_err(home_err(format!("open {d}/")));
        let runtime = Arc::new(Runtime::new(
            self.runtime,
            keys.artifacts,
            Arc::new(DiskArtifacts(open("artifacts")?)),
        ));
        let audit = Arc::new(AuditLog::open_locked(
            &home,
            Arc::clone(&anchor),
            lock.clone(),
        )?);
        // Install records, grants and quarantines: sealed, their head in the anchor.
        let state = Arc::new(crate::home::open_state(
            &home,
            &anchor,
            keys.state,
            &lock,
            Some(&audit),
        )?);
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
                Arc::new(MemoryKeySource::new(*keys.storage)),
                StorageConfig::default(),
            )),
        };
        let mut net = None;
        let (gateway, sandframe): (Arc<dyn Gateway>, _) = match self.gateway {
            Some(g) => (g, None),
            None => {
                let mut configure = self
                    .configure
                    .api(
                        "ui.setData",
                        Some("ui:render"),
                        Arc::new(UiApi {
                            render: Arc::clone(&render),
                        }),
                    )
                    .api(
                        "ui.showView",
                        Some("ui:render"),
                        Arc::new(ShowViewApi {
                            render: Arc::clone(&render),
                        }),
                    );
                if let Some(config) = self.net.take() {
                    let door = sandframe_net::Net::new(config.audit(audit.clone()))?;
                    for (name, api) in [
                        ("net.fetch", door.fetch_api()),
                        ("net.read", door.read_api()),
                        ("net.close", door.close_api()),
                        ("net.upload", door.upload_api()),
                    ] {
                        configure = configure.api(name, Some(Capability::NET_FETCH), api);
                    }
                    configure =
                        configure.rate("net.fetch", sandframe_gateway::Rate::per_second(50, 20));
                    net = Some(Arc::new(door));
                }
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
                    .grants(Arc::new(GrantStore::open(state.clone())))
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
                    .quarantine_state(state.clone());
                if let Some(alerts) = self.alerts {
                    m = m.alerts(alerts);
                }
                Arc::new(m.build()?)
            }
        };
        let pool = LogicPool::new(Arc::clone(&runtime), self.threads)?;
        let host = Host {
            lock,
            apps: open("apps")?,
            artifacts: open("artifacts")?,
            home,
            receipts: keys.receipts,
            state,
            storage_key: keys.storage,
            trust: std::sync::RwLock::new(self.trust),
            // Every host carries the JS engine its runtime runs js@1 apps on.
            validator: std::sync::RwLock::new(
                self.validator
                    .with_js_engine(sandframe_runtime::js::JS_ENGINE),
            ),
            followed: self.followed.map(Mutex::new),
            applied: Mutex::new(sandframe_gateway::StateHead::default()),
            last_revalidate_ms: AtomicU64::new(0),
            generation: AtomicU64::new(0),
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
            net,
        };
        host.settle_home()?;
        // Definitions another process accepted since the installed packages were last
        // scanned (new byte patterns, exports): scanned again now, once across the home.
        if host.rescan()? {
            host.flush_audit()?;
        }
        Ok(host)
    }
}

/// `<home>.audit-anchor`, beside the home.
pub(crate) fn default_anchor(home: &Path) -> std::path::PathBuf {
    let mut name = home
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_else(|| "home".into());
    name.push(".audit-anchor");
    home.with_file_name(name)
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
            net: None,
            set: Vec::new(),
            definitions: Vec::new(),
            followed: None,
        }
    }
}

/// The builder's settings that weaken the sandbox ([`HostBuilder::dangerous`]).
pub struct DangerousHostBuilder(HostBuilder);

impl std::fmt::Debug for DangerousHostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DangerousHostBuilder")
            .field(&self.0)
            .finish()
    }
}

impl DangerousHostBuilder {
    /// Swaps in another gateway for [`SandframeGateway`]: every capability check, policy,
    /// rate limit and audit record of guest calls is then that gateway's (the host's grant
    /// operations answer [`Misuse::CustomGateway`], and its gateway settings are refused).
    /// [`crate::danger::MinimalGateway`] checks nothing.
    pub fn gateway(mut self, gateway: Arc<dyn Gateway>) -> Self {
        self.0.gateway = Some(gateway);
        self.0.set.push("danger: gateway");
        self
    }

    /// Swaps in another validator wholesale: its caps may be above the defaults, and it
    /// decides what installs (the signature, trust and pin checks stay; see
    /// `sandframe_validate`). The builder's own validator settings are then refused.
    pub fn validator(mut self, validator: Validator) -> Self {
        self.0.validator = validator;
        self.0.set.push("danger: validator");
        self
    }
}
