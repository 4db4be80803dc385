//! # sandframe-runtime
//!
//! Runs a verified mini-app's logic module under wasmer 7.4.2 (Cranelift) behind host ABI v1
//! (`docs/abi.md`), handing every `call` to a [`sandframe_core::GatewaySession`].
//!
//! - [`Runtime::prepare`] takes only a [`VerifiedPackage`]: an unverified byte never reaches
//!   wasmer. Each module is compiled once, with a fresh compiler and `Metering` middleware, on
//!   an engine with sandframe's [`Tunables`](wasmer::sys::Tunables) and features; the artifact
//!   is kept in an [`ArtifactStore`] under a key that names everything baked into it, with a
//!   keyed blake3 MAC (host secret) checked before the `unsafe` deserialize. A tampered or
//!   foreign artifact is discarded and recompiled.
//! - [`AppInstance`] is one launched app: its own `Store` (not `Send`: it lives and dies on
//!   the thread that made it), fuel per event and per lifetime, a CPU-time deadline per event,
//!   memory and tables clamped by the tunables, a bounded wasm stack. A trap ends the
//!   instance, never the host.
//!
//! - [`LogicPool`]: a fixed pool of logic threads, each owning the stores of many apps; the
//!   host talks to an app by messages only, through its [`AppHandle`].
//!
//! - Stopping from outside: a [`Terminator`] stops an app at its next host call (`call` or
//!   `read` traps as [`TrapKind::Terminated`]), or, if it computes without host calls, at its
//!   next function entry or loop iteration: the runtime's deadline watchdog, which also ends
//!   an event past [`RuntimeConfig::event_deadline`] of CPU time
//!   ([`TrapKind::DeadlineExceeded`]), sets a stop switch the compiled code checks there. Host
//!   calls are priced in fuel ([`CALL_FUEL`], [`READ_FUEL`], one point per byte), so the event
//!   budget bounds a loop of host calls too. wasmer's `experimental-host-interrupt` is not
//!   used: see `docs/engine-notes.md`.

// wasmer requires `unsafe` for three things only: implementing `Tunables::create_vm_*`,
// deserializing an artifact, and writing an instance's stop switch from the watchdog thread
// (with the thread CPU clock it reads, through libc). Each block has a SAFETY comment.
#![allow(unsafe_code)]

pub mod js;
mod metering;
mod pool;
pub mod price;
mod tunables;
mod watchdog;

pub use pool::{AppHandle, LogicPool};
pub use price::{CALL_FUEL, HOST_POINTS_PER_MICROSECOND, READ_FUEL};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metering::Metering;
use sandframe_core::{
    ApiError, AppContext, ErrorCode, GatewaySession, Limits, MonitorEvent, TrapKind, Watch,
};
use sandframe_validate::VerifiedPackage;
use tunables::SandframeTunables;
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder, Features, NativeEngineExt};
use wasmer::{
    Engine, FunctionEnv, FunctionEnvMut, Global, Imports, Instance, Memory, Module, Store,
    TypedFunction,
};
use watchdog::{StopCell, Watchdog};

/// The wasmer version artifacts are compiled with (part of every cache key).
pub const WASMER_VERSION: &str = "7.4.2";
/// The version of the price table and the metering middleware (part of every cache key): bump
/// it whenever [`price`] or the metering code changes.
pub const COST_FUNCTION_VERSION: u32 = 4;
/// The fuel limit baked into every artifact; a call always sets its own budget first, so
/// anything that ran before that would trap at once.
pub const INITIAL_FUEL: u64 = 0;

/// Default fuel one event may burn: the work bound, beside the time bound
/// ([`DEFAULT_EVENT_DEADLINE`]). A plain `loop br` burns it in about 10 ms on the 2-core CI
/// machine, so the deadline stops such a runaway first; bulk operations, grows and host calls
/// are priced so that their runaways spend it sooner (`cargo xtask bench runaway`,
/// `docs/engine-notes.md`). It pays for a grow to the full 16 MiB memory (16.8M points) in one
/// event.
pub const DEFAULT_FUEL_PER_EVENT: u64 = 18_000_000;
/// Default fuel one instance may burn over its lifetime: about 8 minutes of guest code, or a
/// million durable storage writes (at 1M points each). An idle suspension or a relaunch
/// starts a new lifetime.
pub const DEFAULT_FUEL_PER_LIFETIME: u64 = 1_000_000_000_000;
/// Default CPU time one event (or `sf_init`) may use, host calls included: 9 ms in an
/// optimised build, so that with the watchdog's half-millisecond precision every runaway is
/// stopped within docs/targets.md's 10 ms, whatever its points cost in time (a loop of
/// cache-missing dependent loads spends 18M points in about 0.2 s; a plain loop in about
/// 10 ms, once it also checks the stop switch). 90 ms in a debug build of this crate, where
/// the host's side of every call runs many times slower, so that an embedder's debug
/// build runs the apps its release build runs.
pub const DEFAULT_EVENT_DEADLINE: std::time::Duration =
    std::time::Duration::from_millis(if cfg!(debug_assertions) { 90 } else { 9 });
/// Default wasm stack, in bytes (rustc's guests keep their own shadow stack in memory).
/// 4 MiB: the JS engine's deepest recursion (a deep `JSON.parse`) needs 1 to 2 MiB of it
/// before QuickJS's own stack check throws a `RangeError` (`js::JS_ENGINE`); stacks are
/// pooled per thread, not per app, and touched only as deep as a call goes.
pub const DEFAULT_STACK_BYTES: usize = 4 << 20;
/// Longest API name a guest may pass.
pub const MAX_API_BYTES: u32 = 64;
/// Largest request a guest may pass.
pub const MAX_REQUEST_BYTES: u32 = 64 << 10;

/// A stop switch for one launched app, shared with whoever may terminate it.
///
/// Once set, the app's next host call traps ([`TrapKind::Terminated`]) and it never runs
/// again. Setting it never blocks and may come from any thread.
#[derive(Clone, Debug, Default)]
pub struct Terminator(Arc<AtomicBool>);

impl Terminator {
    /// Stops the app at its next host call (or before its next event).
    pub fn terminate(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`Terminator::terminate`] was called.
    pub fn is_terminated(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Host caps and budgets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Most pages any memory may reach (a manifest may ask for less, never more).
    pub memory_pages: u32,
    /// Most elements any table may reach.
    pub table_elements: u32,
    /// Fuel per event (and per `sf_init`), unless the manifest asks for less.
    pub fuel_per_event: u64,
    /// Fuel per instance lifetime.
    pub fuel_per_lifetime: u64,
    /// Wasm stack size, in bytes.
    pub stack_bytes: usize,
    /// Fuel per event (and per `sf_init`) of a `runtime = "js@1"` app, unless its manifest
    /// asks for less ([`js::DEFAULT_JS_FUEL_PER_EVENT`]).
    pub js_fuel_per_event: u64,
    /// CPU time one event of a JS app may use ([`js::DEFAULT_JS_EVENT_DEADLINE`]).
    pub js_event_deadline: std::time::Duration,
    /// CPU time one event (and `sf_init`) may use on its logic thread, host calls included,
    /// before the app is stopped as [`TrapKind::DeadlineExceeded`]; wall time on platforms
    /// without a thread CPU clock (Linux has one). Checked by a watchdog thread to within
    /// about half a millisecond.
    pub event_deadline: std::time::Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_pages: sandframe_validate::DEFAULT_MEMORY_PAGES as u32,
            table_elements: sandframe_validate::DEFAULT_TABLE_ELEMENTS as u32,
            fuel_per_event: DEFAULT_FUEL_PER_EVENT,
            fuel_per_lifetime: DEFAULT_FUEL_PER_LIFETIME,
            stack_bytes: DEFAULT_STACK_BYTES,
            event_deadline: DEFAULT_EVENT_DEADLINE,
            js_fuel_per_event: js::DEFAULT_JS_FUEL_PER_EVENT,
            js_event_deadline: js::DEFAULT_JS_EVENT_DEADLINE,
        }
    }
}

/// Errors of the runtime layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// The module did not compile (it passed validation, so this is a host or engine limit).
    #[error("the logic module did not compile: {0}")]
    Compile(String),
    /// The module did not instantiate (e.g. its memory is over the host cap).
    #[error("the app could not start: {0}")]
    Instantiate(String),
    /// The guest trapped; the instance is gone.
    #[error("the app was stopped: {kind:?}: {message}")]
    Trapped {
        /// How it trapped.
        kind: TrapKind,
        /// wasmer's message.
        message: String,
    },
    /// The instance was stopped earlier and cannot run again; launch it anew.
    #[error("the app is stopped ({0:?}); launch it again")]
    Stopped(TrapKind),
    /// No running app has that handle (terminated, or never launched).
    #[error("the app is not running; launch it first")]
    NotRunning,
    /// A logic thread is gone (the system refused a thread, or the pool is shutting down).
    #[error("the app's logic thread is gone; restart the host")]
    LogicThreadGone,
    /// Something the runtime relies on in the engine broke: a bug in sandframe or wasmer.
    #[error("internal runtime error: {0}; please report it with the app that caused it")]
    Internal(String),
}

/// Where compiled artifacts are kept between launches (the host supplies an on-disk one).
///
/// Records are opaque bytes: the runtime MACs them itself, so a store needs no integrity of
/// its own, and anything it returns is authenticated before use.
pub trait ArtifactStore: Send + Sync {
    /// The record stored under `key`, if any, in an allocation of its own (the runtime hands
    /// it to wasmer without copying).
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `record` under `key` (best effort: a failed write only costs a recompile, and a
    /// torn one fails its MAC, so no fsync is needed).
    fn put(&self, key: &str, record: &[u8]);
    /// Removes the record under `key`.
    fn remove(&self, key: &str);
}

/// An [`ArtifactStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryArtifacts(Mutex<HashMap<String, Vec<u8>>>);

impl ArtifactStore for MemoryArtifacts {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.lock().ok()?.get(key).cloned()
    }
    fn put(&self, key: &str, record: &[u8]) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(key.to_owned(), record.to_vec());
        }
    }
    fn remove(&self, key: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(key);
        }
    }
}

/// sandframe's wasm features, mapped from `sandframe_validate::FEATURES` onto wasmer's.
fn features() -> Features {
    let mut f = Features::none();
    f.reference_types = true;
    f.bulk_memory = true;
    f.multi_value = true;
    f
}

/// The engine: compiles, caches and loads artifacts; makes instances.
pub struct Runtime {
    config: RuntimeConfig,
    engine: Engine,
    secret: [u8; 32],
    artifacts: Arc<dyn ArtifactStore>,
    compiles: std::sync::atomic::AtomicU64,
    /// Modules already loaded into `engine`, by cache key. wasmer frees compiled code only
    /// when its engine is dropped, so loading the same artifact at every launch would leak
    /// code mappings until the process hits `vm.max_map_count`: load each one once.
    loaded: Mutex<HashMap<String, Module>>,
    clock: quanta::Clock,
    watchdog: Arc<Watchdog>,
    /// Whether [`js::JS_ENGINE`] matched its pinned digest (hashed at the first JS app).
    engine_checked: std::sync::OnceLock<bool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A compiled module ready to instantiate, for one verified package.
#[derive(Clone)]
pub struct Prepared {
    module: Module,
    context: AppContext,
    fuel_per_event: u64,
    deadline: std::time::Duration,
}

impl Prepared {
    /// What the gateway is told about the app (id, name, declared capabilities, limits).
    pub fn context(&self) -> &AppContext {
        &self.context
    }

    /// Sets where the launched app's runtime events (fuel per event, memory growth, traps,
    /// app errors) and its gateway calls are reported: the context's
    /// [`monitor`](AppContext::monitor).
    pub fn set_monitor(&mut self, watch: Watch) {
        self.context.monitor = watch;
    }
}

impl Runtime {
    /// A runtime with `config`, artifacts MAC'd under `secret` (a key kept where whoever can
    /// write the artifact store cannot read it: the host derives it from its anchor) and kept in
    /// `artifacts`.
    pub fn new(
        config: RuntimeConfig,
        secret: [u8; 32],
        artifacts: Arc<dyn ArtifactStore>,
    ) -> Runtime {
        let mut engine = Engine::headless();
        engine.set_tunables(SandframeTunables::new(
            config.memory_pages,
            config.table_elements,
            config.stack_bytes,
        ));
        Runtime {
            config,
            engine,
            secret,
            artifacts,
            compiles: std::sync::atomic::AtomicU64::new(0),
            loaded: Mutex::new(HashMap::new()),
            clock: quanta::Clock::new(),
            watchdog: Arc::new(Watchdog::default()),
            engine_checked: std::sync::OnceLock::new(),
        }
    }

    /// How many modules this runtime has compiled (cache misses), for tests and metrics.
    pub fn compiles(&self) -> u64 {
        self.compiles.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cache key of a logic module: everything baked into its artifact.
    pub fn artifact_key(&self, logic_wasm: &[u8]) -> String {
        let logic_digest = blake3::hash(logic_wasm);
        let mut h = blake3::Hasher::new_derive_key("sandframe artifact cache key v1");
        h.update(logic_digest.as_bytes());
        h.update(WASMER_VERSION.as_bytes());
        h.update(format!("{:?}", features()).as_bytes());
        h.update(format!("{:?}", tunables::MEMORY_STYLE).as_bytes());
        h.update(&self.config.memory_pages.to_le_bytes());
        h.update(&self.config.table_elements.to_le_bytes());
        h.update(&COST_FUNCTION_VERSION.to_le_bytes());
        // The pricing code itself, so that no change to it can reuse an older artifact.
        h.update(include_bytes!("price.rs"));
        h.update(include_bytes!("metering.rs"));
        h.update(&INITIAL_FUEL.to_le_bytes());
        h.update(std::env::consts::ARCH.as_bytes());
        h.finalize().to_hex().to_string()
    }

    fn mac(&self, key: &str, artifact: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        h.update(key.as_bytes());
        h.update(&(artifact.len() as u64).to_le_bytes());
        h.update(artifact);
        h.finalize()
    }

    /// The compiled module of `logic`: memoised, or loaded from an authenticated artifact, or
    /// compiled (and its artifact stored).
    fn module(&self, logic: &[u8]) -> Result<Module, RuntimeError> {
        let key = self.artifact_key(logic);
        let memo = self.loaded.lock().ok().and_then(|m| m.get(&key).cloned());
        let module = match memo.or_else(|| self.load(&key)) {
            Some(module) => module,
            None => {
                let mut record = self.compile(logic)?;
                let mac = self.mac(&key, &record);
                record.extend_from_slice(mac.as_bytes());
                self.artifacts.put(&key, &record);
                record.truncate(record.len().saturating_sub(32));
                // SAFETY: `record` is the artifact this runtime serialized a moment ago, in this
                // process, from a verified module; it never left memory.
                unsafe { Module::deserialize(&self.engine, record) }.map_err(|e| {
                    RuntimeError::Compile(format!("a fresh artifact did not load: {e}"))
                })?
            }
        };
        if let Ok(mut m) = self.loaded.lock() {
            m.entry(key).or_insert_with(|| module.clone());
        }
        Ok(module)
    }

    /// Checks a JavaScript app's script the way the engine will read it, without a package
    /// or a host: the engine parses and evaluates it (inside the sandbox, under a JS app's
    /// fuel) with every API but the clock, randomness and `log` unavailable (`onLaunch` and
    /// `onLoad` run against them; no event is sent). A syntax error comes back with its line and column; a script whose
    /// evaluation the sandbox stopped (a loop at its top level, say) as
    /// [`js::ScriptProblem::Stopped`]. Errors a script throws once running (an API it calls
    /// at launch being unavailable here) are not problems of the script's form.
    ///
    /// # Errors
    /// [`RuntimeError`] when the engine itself cannot run (it does not compile, or is not
    /// the pinned one).
    pub fn check_script(
        &self,
        source: &str,
    ) -> Result<Result<(), js::ScriptProblem>, RuntimeError> {
        if !*self.engine_checked.get_or_init(js::engine_is_pinned) {
            return Err(RuntimeError::Internal(
                "the JS engine this build carries is not the pinned one; rebuild sandframe-runtime from a clean checkout".into(),
            ));
        }
        let module = self.module(js::JS_ENGINE)?;
        let mut sources = sandframe_core::Sources::new();
        sources.insert("logic.js".to_owned(), Arc::from(source));
        let context = AppContext {
            app: js::CHECK_APP
                .parse()
                .map_err(|e| RuntimeError::Internal(format!("the check's app id: {e}")))?,
            name: "script check".into(),
            version: "0.0.0".into(),
            declared: Vec::new(),
            limits: Limits {
                memory_pages: Some(self.config.memory_pages),
                fuel_per_event: Some(self.config.js_fuel_per_event),
                storage_quota_bytes: None,
                fetch_timeout_ms: None,
            },
            monitor: sandframe_core::Watch::none(),
            sources: Some(Arc::new(sources)),
            views: None,
        };
        let prepared = Prepared {
            module,
            fuel_per_event: self.config.js_fuel_per_event,
            deadline: self.config.js_event_deadline,
            context: context.clone(),
        };
        let logged = Arc::new(Mutex::new(Vec::new()));
        let session = js::CheckSession::new(context, Arc::clone(&logged));
        let outcome = self.launch(&prepared, Box::new(session));
        let logged = logged.lock().map(|l| l.clone()).unwrap_or_default();
        Ok(js::judge(outcome.map(|_| ()), &logged))
    }

    /// Compiles (or loads from the artifact store) the package's logic module.
    ///
    /// # Errors
    /// [`RuntimeError::Compile`] if the module does not compile.
    pub fn prepare(&self, package: &VerifiedPackage) -> Result<Prepared, RuntimeError> {
        let manifest = package.package().manifest();
        let js = manifest.runtime() == sandframe_package::AppRuntime::Js1;
        let logic = if js {
            // Checked once per runtime: the pinned engine or nothing.
            if !*self.engine_checked.get_or_init(js::engine_is_pinned) {
                return Err(RuntimeError::Internal(format!(
                    "the JS engine this build carries is not the pinned one (blake3 {}); rebuild sandframe-runtime from a clean checkout",
                    js::JS_ENGINE_DIGEST
                )));
            }
            js::JS_ENGINE
        } else {
            package.package().logic()
        };
        let module = self.module(logic)?;
        let (fuel_cap, deadline) = if js {
            (self.config.js_fuel_per_event, self.config.js_event_deadline)
        } else {
            (self.config.fuel_per_event, self.config.event_deadline)
        };
        let sources = js.then(|| {
            let mut files = sandframe_core::Sources::new();
            if let Some(script) = package.package().script() {
                files.insert(
                    sandframe_package::PackagePath::LOGIC_JS.to_owned(),
                    Arc::from(script),
                );
            }
            Arc::new(files)
        });
        // Every view's template text, entry first (validated UTF-8 XML at install): what
        // `ui.showView` switches between.
        let views: sandframe_core::Views = manifest
            .views()
            .iter()
            .filter_map(|name| {
                let text = std::str::from_utf8(package.package().view(name)?).ok()?;
                Some((name.clone(), Arc::from(text)))
            })
            .collect();
        let caps = Limits {
            memory_pages: Some(self.config.memory_pages),
            fuel_per_event: Some(fuel_cap),
            storage_quota_bytes: None,
            fetch_timeout_ms: None,
        };
        let limits = manifest.limits().clamp_to(&caps);
        Ok(Prepared {
            module,
            fuel_per_event: limits.fuel_per_event.unwrap_or(fuel_cap),
            deadline,
            context: AppContext {
                app: manifest.id().clone(),
                name: manifest.name().to_owned(),
                version: manifest.version().to_string(),
                declared: manifest
                    .capabilities()
                    .iter()
                    .map(|d| sandframe_core::Declared {
                        capability: d.capability().clone(),
                        reason: d.reason().to_owned(),
                        scope: d.scope().to_vec(),
                    })
                    .collect(),
                limits,
                monitor: sandframe_core::Watch::none(),
                sources,
                views: Some(Arc::new(views)),
            },
        })
    }

    /// Loads an authenticated artifact, or `None` (discarding a record that fails its MAC).
    ///
    /// A record is the artifact followed by its 32-byte MAC: the artifact then starts at the
    /// start of the record's own allocation (wasmer wants it 8-byte aligned) and is passed on
    /// without a copy.
    fn load(&self, key: &str) -> Option<Module> {
        let mut bytes = self.artifacts.get(key)?;
        let at = bytes.len().checked_sub(32)?;
        let mac = blake3::Hash::from_slice(bytes.get(at..)?).ok()?;
        bytes.truncate(at);
        // blake3::Hash compares in constant time.
        if mac != self.mac(key, &bytes) {
            self.artifacts.remove(key);
            return None;
        }
        // SAFETY: `bytes` is an artifact this runtime serialized itself, for exactly this cache
        // key (module digest, wasmer version, features, memory style, caps, cost function,
        // initial fuel, architecture), authenticated just above with the host secret, so it is
        // not attacker-controlled; the engine's tunables refuse any other memory style.
        match unsafe { Module::deserialize(&self.engine, bytes) } {
            Ok(module) => Some(module),
            Err(_) => {
                self.artifacts.remove(key);
                None
            }
        }
    }

    /// Compiles with a fresh Cranelift and metering middleware (one middleware value per
    /// module), pricing bulk operations against this runtime's caps.
    fn compile(&self, wasm: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.compiles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut compiler = Cranelift::default();
        compiler.push_middleware(Arc::new(Metering::new(
            INITIAL_FUEL,
            u64::from(self.config.memory_pages),
            u64::from(self.config.table_elements),
        )));
        let mut engine: Engine = EngineBuilder::new(compiler)
            .set_features(Some(features()))
            .into();
        engine.set_tunables(SandframeTunables::new(
            self.config.memory_pages,
            self.config.table_elements,
            self.config.stack_bytes,
        ));
        let module =
            Module::new(&engine, wasm).map_err(|e| RuntimeError::Compile(e.to_string()))?;
        let bytes = module
            .serialize()
            .map_err(|e| RuntimeError::Compile(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Instantiates a prepared module with its gateway session and runs `sf_init`.
    ///
    /// # Errors
    /// [`RuntimeError::Instantiate`], or the errors of [`AppInstance::event`] from `sf_init`.
    pub fn launch(
        &self,
        prepared: &Prepared,
        gateway: Box<dyn GatewaySession>,
    ) -> Result<(AppInstance, i32), RuntimeError> {
        self.launch_with(prepared, gateway, Terminator::default())
    }

    /// [`Runtime::launch`] with a [`Terminator`] the caller keeps, to stop the app from
    /// another thread (even during `sf_init`).
    ///
    /// # Errors
    /// As [`Runtime::launch`].
    pub fn launch_with(
        &self,
        prepared: &Prepared,
        gateway: Box<dyn GatewaySession>,
        terminator: Terminator,
    ) -> Result<(AppInstance, i32), RuntimeError> {
        let mut store = Store::new(self.engine.clone());
        let env = FunctionEnv::new(
            &mut store,
            AbiEnv {
                memory: None,
                pending: Vec::new(),
                read_at: 0,
                request: Vec::new(),
                response: Vec::new(),
                gateway,
                terminator: terminator.clone(),
                fuel: None,
                clock: self.clock.clone(),
            },
        );
        let mut imports = Imports::new();
        imports.define(
            "sandframe_v1",
            "call",
            wasmer::Function::new_typed_with_env(&mut store, &env, abi_call),
        );
        imports.define(
            "sandframe_v1",
            "read",
            wasmer::Function::new_typed_with_env(&mut store, &env, abi_read),
        );
        let instance = Instance::new(&mut store, &prepared.module, &imports)
            .map_err(|e| RuntimeError::Instantiate(e.to_string()))?;
        let missing = |e: wasmer::ExportError| RuntimeError::Instantiate(e.to_string());
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(missing)?
            .clone();
        let init: TypedFunction<(), i32> = instance
            .exports
            .get_typed_function(&store, "sf_init")
            .map_err(missing)?;
        let event: TypedFunction<i32, i32> = instance
            .exports
            .get_typed_function(&store, "sf_event")
            .map_err(missing)?;
        let global =
            |name: &str| {
                instance.exports.get_global(name).cloned().map_err(|e| {
                    RuntimeError::Instantiate(format!("the artifact is not metered: {e}"))
                })
            };
        let stop = StopCell::of(&mut store, &global(metering::STOP)?).ok_or_else(|| {
            RuntimeError::Internal(
                "the artifact's stop switch is not a mutable i32 of its own".into(),
            )
        })?;
        let fuel = Fuel {
            remaining: global(metering::REMAINING)?,
            exhausted: global(metering::EXHAUSTED)?,
            stop,
        };
        let data = env.as_mut(&mut store);
        data.memory = Some(memory.clone());
        data.fuel = Some(fuel.clone());
        let pages = memory.view(&store).size().0;
        let mut app = AppInstance {
            fuel,
            watch: prepared.context.monitor.clone(),
            pages,
            store,
            instance,
            memory,
            env,
            event,
            fuel_per_event: prepared.fuel_per_event,
            fuel_left: self.config.fuel_per_lifetime,
            stopped: None,
            terminator,
            watchdog: Arc::clone(&self.watchdog),
            deadline: prepared.deadline,
        };
        // An initial memory beyond the first MiB is touched now, so the kernel's zeroing of
        // its pages happens here, at launch, and is paid from sf_init's budget at the grow
        // rate, instead of landing unpriced in whichever event touches it first.
        // A budget that cannot pay is not given the work: sf_init then traps at once.
        let past = app
            .memory_bytes()
            .saturating_sub(price::FREE_INITIAL_MEMORY);
        let (per_page, shift) = price::bulk(price::Bulk::MemoryGrow { mem: 0 });
        let charge = (past / wasmer::WASM_PAGE_SIZE as u64).saturating_mul(per_page) >> shift;
        if charge < app.fuel_per_event.min(app.fuel_left) {
            prefault(&app.memory, &app.store);
        }
        let code = app.run_charged(charge, |store, _| init.call(store))?;
        Ok((app, code))
    }
}

/// Rewrites one byte of every 4 KiB page of `memory` past [`price::FREE_INITIAL_MEMORY`] with
/// its own value (data segments may live there; the write faults the page in), before the
/// guest runs.
fn prefault(memory: &Memory, store: &Store) {
    let view = memory.view(store);
    let size = view.data_size();
    let mut at = price::FREE_INITIAL_MEMORY;
    while at < size {
        let rewritten = view.read_u8(at).and_then(|byte| view.write_u8(at, byte));
        if rewritten.is_err() {
            break;
        }
        at += 4096;
    }
}

/// The metering globals of one instance.
///
/// The points and the exhausted flag are written only on the instance's thread, through
/// wasmer; the stop switch also by the deadline watchdog, through its [`StopCell`].
#[derive(Clone)]
struct Fuel {
    remaining: Global,
    exhausted: Global,
    stop: StopCell,
}

impl Fuel {
    /// Sets the remaining points and clears the exhausted flag and the stop switch.
    fn set(&self, store: &mut impl wasmer::AsStoreMut, points: u64) -> Result<(), RuntimeError> {
        self.stop.clear();
        self.remaining
            .set(store, wasmer::Value::I64(points as i64))
            .and_then(|()| self.exhausted.set(store, wasmer::Value::I32(0)))
            .map_err(|e| RuntimeError::Internal(format!("the fuel meter is broken: {e}")))
    }

    /// The remaining points, and whether they ran out.
    fn get(&self, store: &mut impl wasmer::AsStoreMut) -> (u64, bool) {
        let exhausted = !matches!(self.exhausted.get(store), wasmer::Value::I32(0));
        match self.remaining.get(store) {
            wasmer::Value::I64(left) if !exhausted => (left as u64, false),
            _ => (0, true),
        }
    }
}

/// The state ABI v1's host functions work on.
struct AbiEnv {
    memory: Option<Memory>,
    pending: Vec<u8>,
    read_at: usize,
    request: Vec<u8>,
    response: Vec<u8>,
    gateway: Box<dyn GatewaySession>,
    terminator: Terminator,
    fuel: Option<Fuel>,
    /// Times host calls, to price them (a TSC read is about 8 ns).
    clock: quanta::Clock,
}

/// Before a host call does anything: traps if the app was terminated, and burns `points` of
/// the event's fuel (see [`burn`]).
fn admit(
    terminator: &Terminator,
    fuel: Option<&Fuel>,
    store: &mut wasmer::StoreMut<'_>,
    points: u64,
) -> Result<(), wasmer::RuntimeError> {
    if terminator.is_terminated() {
        return Err(wasmer::RuntimeError::new(
            "the app was terminated by the host",
        ));
    }
    burn(fuel, store, points)
}

/// Burns `points` of the event's fuel, trapping as exhausted (the flag the runtime reads after
/// the call) if there are not enough.
fn burn(
    fuel: Option<&Fuel>,
    store: &mut wasmer::StoreMut<'_>,
    points: u64,
) -> Result<(), wasmer::RuntimeError> {
    let Some(fuel) = fuel else {
        return Err(wasmer::RuntimeError::new(
            "the app's fuel meter is not ready",
        ));
    };
    let left = match fuel.remaining.get(store) {
        wasmer::Value::I64(left) => left as u64,
        _ => 0,
    };
    // Past the deadline (the watchdog set the switch): out, like an empty budget.
    let (left, out) = match left.checked_sub(points) {
        Some(left) if !fuel.stop.is_set() => (left, false),
        _ => (0, true),
    };
    let set = fuel
        .remaining
        .set(store, wasmer::Value::I64(left as i64))
        .and_then(|()| {
            fuel.exhausted
                .set(store, wasmer::Value::I32(i32::from(out)))
        });
    if set.is_err() || out {
        return Err(wasmer::RuntimeError::new(
            "the event's fuel ran out in a host call",
        ));
    }
    Ok(())
}

impl AbiEnv {
    /// Makes `error` the pending bytes and returns its negated code.
    fn fail(&mut self, error: &ApiError) -> i64 {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        self.pending.clear();
        self.read_at = 0;
        // Serializing into a Vec cannot fail; no allocation beyond the reused buffer.
        let _ = serde_json::to_writer(
            &mut self.pending,
            &Body {
                code: error.code().name(),
                message: error.message(),
            },
        );
        -i64::from(error.code().number())
    }
}

/// `ptr..ptr+len` as u64 bounds inside a memory of `size` bytes, or `None`.
fn range(ptr: i32, len: i32, size: u64) -> Option<(u64, usize)> {
    let (ptr, len) = (u64::from(ptr as u32), u64::from(len as u32));
    let end = ptr.checked_add(len)?;
    (end <= size).then_some((ptr, usize::try_from(len).ok()?))
}

fn abi_call(
    mut env: FunctionEnvMut<'_, AbiEnv>,
    api_ptr: i32,
    api_len: i32,
    req_ptr: i32,
    req_len: i32,
) -> Result<i64, wasmer::RuntimeError> {
    let (data, mut store) = env.data_and_store_mut();
    // Only bytes the call may actually copy are priced: an oversized length is refused below
    // as a bad request, not charged.
    let bytes = u64::from((api_len as u32).min(MAX_API_BYTES))
        + u64::from((req_len as u32).min(MAX_REQUEST_BYTES));
    admit(
        &data.terminator,
        data.fuel.as_ref(),
        &mut store,
        CALL_FUEL.saturating_add(bytes),
    )?;
    call_gateway(data, &mut store, api_ptr, api_len, req_ptr, req_len)
}

/// Reads the call's name and request, pays the API's price ([`price::host_call`]) and runs
/// it; traps only if the price cannot be paid.
fn call_gateway(
    data: &mut AbiEnv,
    store: &mut wasmer::StoreMut<'_>,
    api_ptr: i32,
    api_len: i32,
    req_ptr: i32,
    req_len: i32,
) -> Result<i64, wasmer::RuntimeError> {
    let Some(memory) = data.memory.clone() else {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::Internal,
            "the app's memory is not ready",
        )));
    };
    if api_len as u32 > MAX_API_BYTES || api_len == 0 {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::BadRequest,
            "API names are 1..=64 bytes",
        )));
    }
    if req_len as u32 > MAX_REQUEST_BYTES {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::TooLarge,
            "requests are at most 65536 bytes",
        )));
    }
    let view = memory.view(&*store);
    let size = view.data_size();
    let (Some((api_at, api_n)), Some((req_at, req_n))) =
        (range(api_ptr, api_len, size), range(req_ptr, req_len, size))
    else {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::BadRequest,
            "a pointer/length pair is outside the app's memory",
        )));
    };
    let mut api = [0u8; MAX_API_BYTES as usize];
    let Some(api) = api.get_mut(..api_n) else {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::BadRequest,
            "API names are 1..=64 bytes",
        )));
    };
    data.request.resize(req_n, 0);
    if view.read(api_at, api).is_err() || view.read(req_at, &mut data.request).is_err() {
        return Ok(data.fail(&ApiError::new(
            ErrorCode::BadRequest,
            "a pointer/length pair is outside the app's memory",
        )));
    }
    let (prepaid, measured) = match price::host_call(api) {
        price::HostPrice::Fixed(points) => (points, false),
        price::HostPrice::AtLeast(points) => (points, true),
        _ => (0, true),
    };
    burn(data.fuel.as_ref(), store, prepaid)?;
    let start = measured.then(|| data.clock.raw());
    let AbiEnv {
        gateway,
        request,
        response,
        ..
    } = data;
    let answer = match gateway.call(api, request, response) {
        Ok(()) => {
            std::mem::swap(&mut data.pending, &mut data.response);
            data.read_at = 0;
            data.pending.len() as i64
        }
        Err(e) => data.fail(&e),
    };
    if let Some(start) = start {
        // An API the table does not know (an embedder's), or one whose work grows with what
        // is stored: its host time, capped, at the table's rate, beyond what it prepaid, so a
        // loop of slow calls still ends within the event budget.
        let nanos = data.clock.delta_as_nanos(start, data.clock.raw());
        let host = nanos
            .min(price::HOST_CHARGE_CAP_MICROSECONDS * 1_000)
            .saturating_mul(HOST_POINTS_PER_MICROSECOND)
            / 1_000;
        burn(data.fuel.as_ref(), store, host.saturating_sub(prepaid))?;
    }
    Ok(answer)
}

fn abi_read(
    mut env: FunctionEnvMut<'_, AbiEnv>,
    dst_ptr: i32,
    dst_len: i32,
) -> Result<i32, wasmer::RuntimeError> {
    let (data, mut store) = env.data_and_store_mut();
    let rest = data.pending.len().saturating_sub(data.read_at);
    let copied = rest.min(dst_len as u32 as usize) as u64;
    admit(
        &data.terminator,
        data.fuel.as_ref(),
        &mut store,
        READ_FUEL.saturating_add(copied),
    )?;
    let bad = -ErrorCode::BadRequest.number();
    let Some(memory) = data.memory.clone() else {
        return Ok(-ErrorCode::Internal.number());
    };
    let view = memory.view(&store);
    let Some((dst, room)) = range(dst_ptr, dst_len, view.data_size()) else {
        return Ok(bad);
    };
    let rest = data.pending.get(data.read_at..).unwrap_or_default();
    let chunk = rest.get(..room.min(rest.len())).unwrap_or_default();
    if view.write(dst, chunk).is_err() {
        return Ok(bad);
    }
    data.read_at += chunk.len();
    // chunk.len() <= room <= u32::MAX, and room came from an i32 that was non-negative or
    // treated as unsigned; clamp to i32 for the return value.
    Ok(i32::try_from(chunk.len()).unwrap_or(i32::MAX))
}

/// One launched app: its store, instance and budgets. Not `Send`: it stays on its thread.
pub struct AppInstance {
    fuel: Fuel,
    store: Store,
    instance: Instance,
    memory: Memory,
    env: FunctionEnv<AbiEnv>,
    event: TypedFunction<i32, i32>,
    fuel_per_event: u64,
    fuel_left: u64,
    stopped: Option<TrapKind>,
    terminator: Terminator,
    watch: Watch,
    /// Memory size after the last event, in pages.
    pages: u32,
    watchdog: Arc<Watchdog>,
    deadline: std::time::Duration,
}

impl AppInstance {
    /// Delivers one event (`{"handler", "detail"}` JSON) to `sf_event`; returns its code
    /// (non-zero: an app error).
    ///
    /// # Errors
    /// [`RuntimeError::Trapped`] if the guest trapped (fuel, stack, bounds, unreachable): the
    /// instance is stopped for good; [`RuntimeError::Stopped`] if it already was.
    pub fn event(&mut self, json: &[u8]) -> Result<i32, RuntimeError> {
        let len = i32::try_from(json.len()).map_err(|_| {
            RuntimeError::Core(sandframe_core::Error::Limit("event too large".into()))
        })?;
        let data = self.env.as_mut(&mut self.store);
        data.pending.clear();
        data.pending.extend_from_slice(json);
        data.read_at = 0;
        let event = self.event.clone();
        self.run(|store, _| event.call(store, len))
    }

    /// Runs one guest call under the event's fuel budget.
    fn run(
        &mut self,
        call: impl FnOnce(&mut Store, &Instance) -> Result<i32, wasmer::RuntimeError>,
    ) -> Result<i32, RuntimeError> {
        self.run_charged(0, call)
    }

    /// [`AppInstance::run`] with `charge` points taken from the budget before the call (a
    /// budget that cannot pay it leaves nothing, so the call traps at once as exhausted).
    fn run_charged(
        &mut self,
        charge: u64,
        call: impl FnOnce(&mut Store, &Instance) -> Result<i32, wasmer::RuntimeError>,
    ) -> Result<i32, RuntimeError> {
        if self.stopped.is_none() && self.terminator.is_terminated() {
            self.stopped = Some(TrapKind::Terminated);
        }
        if let Some(kind) = self.stopped {
            return Err(RuntimeError::Stopped(kind));
        }
        let budget = self.fuel_per_event.min(self.fuel_left);
        self.fuel
            .set(&mut self.store, budget.saturating_sub(charge))?;
        // Armed from here to the call's return: the instance (and so the cell) outlives it.
        let armed = self
            .watchdog
            .arm(self.fuel.stop, &self.terminator, self.deadline);
        let result = call(&mut self.store, &self.instance);
        let late = armed.disarm();
        self.env.as_mut(&mut self.store).gateway.idle();
        let (remaining, exhausted) = self.fuel.get(&mut self.store);
        let used = budget.saturating_sub(remaining);
        self.fuel_left = self.fuel_left.saturating_sub(used);
        // What the event did, for the monitor; its verdicts are applied by whoever set the
        // watch (the host), through the terminator and the gateway.
        let pages = self.memory.view(&self.store).size().0;
        if pages > self.pages {
            self.pages = pages;
            self.watch.observe(&MonitorEvent::MemoryGrown { pages });
        }
        let result = self.classify(result, exhausted, late);
        match &result {
            Ok(0) => {}
            Ok(code) => {
                self.watch.observe(&MonitorEvent::AppError { code: *code });
            }
            Err(RuntimeError::Trapped { kind, .. }) => {
                self.watch.observe(&MonitorEvent::Trap { kind: *kind });
            }
            Err(_) => {}
        }
        self.watch.observe(&MonitorEvent::EventHandled {
            fuel_used: used,
            fuel_budget: budget,
        });
        result
    }

    /// Turns a guest call's outcome into the instance's: a trap stops it for good.
    fn classify(
        &mut self,
        result: Result<i32, wasmer::RuntimeError>,
        exhausted: bool,
        late: bool,
    ) -> Result<i32, RuntimeError> {
        match result {
            Ok(code) => Ok(code),
            Err(e) => {
                let kind = if self.terminator.is_terminated() {
                    TrapKind::Terminated
                } else if late && exhausted {
                    TrapKind::DeadlineExceeded
                } else if exhausted {
                    TrapKind::FuelExhausted
                } else {
                    match e.clone().to_trap() {
                        Some(wasmer::sys::vm::TrapCode::StackOverflow) => TrapKind::StackOverflow,
                        Some(
                            wasmer::sys::vm::TrapCode::HeapAccessOutOfBounds
                            | wasmer::sys::vm::TrapCode::TableAccessOutOfBounds,
                        ) => TrapKind::OutOfBounds,
                        Some(wasmer::sys::vm::TrapCode::UnreachableCodeReached) => {
                            TrapKind::Unreachable
                        }
                        _ => TrapKind::Other,
                    }
                };
                self.stopped = Some(kind);
                Err(RuntimeError::Trapped {
                    kind,
                    message: e.message(),
                })
            }
        }
    }

    /// Fuel one event may burn (the manifest's limit within the host's cap).
    pub fn fuel_per_event(&self) -> u64 {
        self.fuel_per_event
    }

    /// Fuel left for the rest of this instance's life.
    pub fn fuel_left(&self) -> u64 {
        self.fuel_left
    }

    /// The guest memory's current size, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory.view(&self.store).data_size()
    }

    /// The switch that stops this instance from another thread.
    pub fn terminator(&self) -> Terminator {
        self.terminator.clone()
    }

    /// Whether the instance was stopped, and why.
    pub fn stopped(&self) -> Option<TrapKind> {
        self.stopped
    }
}
