//! # sandframe-monitor
//!
//! The monitoring layer: [`SandframeMonitor`], the default [`Monitor`]. It keeps counters and
//! baselines per app, runs [`Rules`] (each with a stable id, see [`rule`]) over what the
//! gateway, the runtime and storage report, and reaches verdicts: warn, throttle, terminate,
//! quarantine. Every verdict goes to the embedder's [`AlertSink`] (default:
//! [`TracingAlerts`]) and to the [`AuditSink`]; a quarantine is written to disk and survives
//! a host restart.
//!
//! The monitor *decides*; whoever set up the app's [`Watch`](sandframe_core::Watch) (the
//! host) *applies*: a throttle swaps the gateway's rate limits, a terminate stops the instance
//! at its next host call (or when its event's fuel runs out, if it computes without calling
//! the host), a quarantine also refuses every later launch until [`Monitor::release`].
//!
//! ## Cost
//! A call (the hot path, from the app's logic thread) is one relaxed counter update; every
//! 1,024th call also checks the call-rate window. Other events take one uncontended lock.
//! Nothing allocates unless a rule fires. `cargo xtask bench monitor` measures it.
//!
//! ## What it does not do
//! It sees what the layers report and nothing else: time an app spends computing is seen as
//! fuel per event, not as it burns. Its windows are checked when events arrive, so a window's
//! counts may span a little more than the window (at most one event more).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cap_std::fs::Dir;
use sandframe_core::{
    Alert, AlertSink, AppId, AppMonitor, AuditOutcome, AuditRecord, AuditSink, DenyReason, Error,
    Layer, MonitorEvent, TrapKind, Verdict,
};
pub use sandframe_core::{Monitor, Watch};
use serde::{Deserialize, Serialize};

use crate::rule::Rule;

/// The rules' stable ids (they appear in alerts, audit records and quarantine files).
pub mod rule {
    /// Too many allowed calls in one window: throttle, then terminate.
    pub const CALL_RATE: &str = "calls.rate";
    /// Calls in one event far above the app's own moving average: warn.
    pub const CALL_ANOMALY: &str = "calls.anomaly";
    /// Too many calls refused for a missing capability or by policy (probing): terminate.
    pub const CAPABILITY_PROBE: &str = "denials.capability";
    /// Too many calls refused by rate limits in one window: throttle, then terminate.
    pub const RATE_HITS: &str = "denials.rate";
    /// Too many malformed or oversized calls in one window: terminate.
    pub const MALFORMED: &str = "denials.malformed";
    /// Nearly the whole fuel budget burnt in too many events in a row: terminate.
    pub const FUEL_BURN: &str = "fuel.burn";
    /// Fuel in one event far above the app's own moving average: warn.
    pub const FUEL_ANOMALY: &str = "fuel.anomaly";
    /// Memory grown in too many events in a row, past a floor: terminate.
    pub const MEMORY_CREEP: &str = "memory.creep";
    /// Traps in too many launches or events in a row: quarantine.
    pub const TRAPS: &str = "traps.repeat";
    /// Too many storage writes or bytes written in one window: terminate (a throttled writer
    /// would go on wearing the disk at the slow rate).
    pub const STORAGE_FLOOD: &str = "storage.flood";
    /// Too many writes refused by the storage quota in one window: terminate.
    pub const STORAGE_QUOTA: &str = "storage.quota";
    /// A rule, as the monitor's code names it: every place a rule fires names one of these,
    /// so a mistyped id is a compile error, never a count against another rule.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Rule {
        /// [`CALL_RATE`].
        CallRate,
        /// [`CALL_ANOMALY`].
        CallAnomaly,
        /// [`CAPABILITY_PROBE`].
        CapabilityProbe,
        /// [`RATE_HITS`].
        RateHits,
        /// [`MALFORMED`].
        Malformed,
        /// [`FUEL_BURN`].
        FuelBurn,
        /// [`FUEL_ANOMALY`].
        FuelAnomaly,
        /// [`MEMORY_CREEP`].
        MemoryCreep,
        /// [`TRAPS`].
        Traps,
        /// [`STORAGE_FLOOD`].
        StorageFlood,
        /// [`STORAGE_QUOTA`].
        StorageQuota,
    }

    impl Rule {
        /// Every rule, in the order of [`ALL`].
        pub const EVERY: [Rule; 11] = [
            Rule::CallRate,
            Rule::CallAnomaly,
            Rule::CapabilityProbe,
            Rule::RateHits,
            Rule::Malformed,
            Rule::FuelBurn,
            Rule::FuelAnomaly,
            Rule::MemoryCreep,
            Rule::Traps,
            Rule::StorageFlood,
            Rule::StorageQuota,
        ];

        /// Its stable id (as in alerts, audit records and quarantine files).
        pub const fn id(self) -> &'static str {
            match self {
                Rule::CallRate => CALL_RATE,
                Rule::CallAnomaly => CALL_ANOMALY,
                Rule::CapabilityProbe => CAPABILITY_PROBE,
                Rule::RateHits => RATE_HITS,
                Rule::Malformed => MALFORMED,
                Rule::FuelBurn => FUEL_BURN,
                Rule::FuelAnomaly => FUEL_ANOMALY,
                Rule::MemoryCreep => MEMORY_CREEP,
                Rule::Traps => TRAPS,
                Rule::StorageFlood => STORAGE_FLOOD,
                Rule::StorageQuota => STORAGE_QUOTA,
            }
        }
    }

    /// Every rule id, in order.
    pub const ALL: [&str; 11] = [
        CALL_RATE,
        CALL_ANOMALY,
        CAPABILITY_PROBE,
        RATE_HITS,
        MALFORMED,
        FUEL_BURN,
        FUEL_ANOMALY,
        MEMORY_CREEP,
        TRAPS,
        STORAGE_FLOOD,
        STORAGE_QUOTA,
    ];
}

/// The thresholds of every rule; [`Rules::default`] holds the sensible defaults (each field
/// says its own). A limit of `u64::MAX` (or `u32::MAX`) turns its rule off.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// The window that rate-type counts are kept over. Default 1 s.
    pub window: Duration,
    /// `calls.rate`: allowed calls per window. Default 100,000.
    pub max_calls_per_window: u64,
    /// `denials.capability`: capability or policy refusals per window. Default 16.
    pub max_capability_denials_per_window: u64,
    /// `denials.capability`: distinct APIs refused for a missing capability or by policy over
    /// one launch (an app retrying one API is not probing; one trying many is). Default 8.
    pub max_denied_apis: u32,
    /// `denials.rate`: rate-limit refusals per window. Default 10,000.
    pub max_rate_denials_per_window: u64,
    /// `denials.malformed`: malformed or oversized calls per window. Default 256.
    pub max_malformed_per_window: u64,
    /// `fuel.burn`: an event that burns at least this share of its budget, in percent, is hot.
    /// Default 90.
    pub hot_fuel_percent: u64,
    /// `fuel.burn`: hot events in a row. Default 8.
    pub max_hot_events: u32,
    /// `memory.creep`: events in a row that grew memory. Default 8.
    pub max_growth_events: u32,
    /// `memory.creep`: the rule fires only once memory is at least this many pages. Default 64
    /// (4 MiB).
    pub creep_floor_pages: u32,
    /// `traps.repeat`: traps (not counting those a terminate verdict caused) with no clean event
    /// between (a launch's `sf_init` does not count as one), across relaunches. Default 3.
    pub max_traps_in_a_row: u32,
    /// `storage.flood`: acknowledged writes per window. Default 200.
    pub max_writes_per_window: u64,
    /// `storage.flood`: bytes written per window. Default 4 MiB.
    pub max_write_bytes_per_window: u64,
    /// `storage.quota`: quota refusals per window. Default 8.
    pub max_quota_hits_per_window: u64,
    /// `calls.anomaly` and `fuel.anomaly`: events seen before the app's baseline is trusted.
    /// Default 32.
    pub warmup_events: u64,
    /// `calls.anomaly` and `fuel.anomaly`: how many times its moving average an event must
    /// exceed. Default 20.
    pub anomaly_factor: u64,
    /// `calls.anomaly`: calls in one event below this never count as anomalous. Default 5,000.
    pub anomaly_min_calls: u64,
    /// `fuel.anomaly`: fuel in one event below this never counts as anomalous. Default 5,000,000.
    pub anomaly_min_fuel: u64,
    /// Terminations (by any rule, over the host process's life) after which a terminate
    /// verdict becomes a quarantine. Default 3.
    pub quarantine_after: u32,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            window: Duration::from_secs(1),
            max_calls_per_window: 100_000,
            max_capability_denials_per_window: 16,
            max_denied_apis: 8,
            max_rate_denials_per_window: 10_000,
            max_malformed_per_window: 256,
            hot_fuel_percent: 90,
            max_hot_events: 8,
            max_growth_events: 8,
            creep_floor_pages: 64,
            max_traps_in_a_row: 3,
            max_writes_per_window: 200,
            max_write_bytes_per_window: 4 << 20,
            max_quota_hits_per_window: 8,
            warmup_events: 32,
            anomaly_factor: 20,
            anomaly_min_calls: 5_000,
            anomaly_min_fuel: 5_000_000,
            quarantine_after: 3,
        }
    }
}

/// Errors of the monitor layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// The quarantine directory could not be read or written.
    #[error("cannot {what} in the quarantine directory: {source}; check its permissions")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl From<MonitorError> for Error {
    fn from(e: MonitorError) -> Error {
        match e {
            MonitorError::Core(e) => e,
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// The default [`AlertSink`]: each alert is a `tracing` event at warn level (target
/// `sandframe::monitor`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAlerts;

impl AlertSink for TracingAlerts {
    fn alert(&self, alert: &Alert<'_>) {
        tracing::warn!(
            target: "sandframe::monitor",
            app = alert.app.as_str(),
            rule = alert.rule,
            verdict = alert.verdict.name(),
            evidence = alert.evidence,
            "monitor alert"
        );
    }
}

/// One alert as [`AlertLog`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    /// The app.
    pub app: String,
    /// The rule's stable id.
    pub rule: String,
    /// The verdict's name (`warn`, `throttle`, `terminate`, `quarantine`).
    pub verdict: String,
    /// What was seen (numbers, never guest text).
    pub evidence: String,
}

/// An [`AlertSink`] that keeps the latest alerts (at most [`AlertLog::KEEP`]) for a front
/// end to show: a terminal session, a simulator's alerts panel.
#[derive(Debug, Default)]
pub struct AlertLog(std::sync::Mutex<std::collections::VecDeque<AlertRecord>>);

impl AlertLog {
    /// How many alerts are kept; older ones are dropped first.
    pub const KEEP: usize = 256;

    /// The alerts kept, oldest first, and forgets them.
    pub fn take(&self) -> Vec<AlertRecord> {
        self.0
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default()
    }

    /// The alerts kept, oldest first.
    pub fn snapshot(&self) -> Vec<AlertRecord> {
        self.0
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl AlertSink for AlertLog {
    fn alert(&self, alert: &Alert<'_>) {
        if let Ok(mut l) = self.0.lock() {
            if l.len() == AlertLog::KEEP {
                l.pop_front();
            }
            l.push_back(AlertRecord {
                app: alert.app.to_string(),
                rule: alert.rule.to_owned(),
                verdict: alert.verdict.name().to_owned(),
                evidence: alert.evidence.to_owned(),
            });
        }
    }
}

/// A quarantine as stored (`<dir>/<app id>.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The app.
    pub app: String,
    /// The rule that quarantined it.
    pub rule: String,
    /// What the rule saw.
    pub evidence: String,
    /// When, in Unix milliseconds.
    pub unix_ms: u64,
}

/// Where quarantines are kept: a directory (survives restarts) or memory (tests).
struct QuarantineStore {
    dir: Option<Dir>,
    apps: Mutex<HashSet<AppId>>,
}

impl QuarantineStore {
    fn file(app: &AppId) -> String {
        format!("{}.json", app.as_str())
    }

    fn load(dir: Option<Dir>) -> Result<QuarantineStore, MonitorError> {
        let io = |what| move |source| MonitorError::Io { what, source };
        let mut apps = HashSet::new();
        if let Some(d) = &dir {
            for entry in d.entries().map_err(io("list quarantines"))? {
                let entry = entry.map_err(io("list quarantines"))?;
                let name = entry.file_name();
                // Only `<valid app id>.json` counts; temp files and strays are ignored.
                if let Some(app) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|n| n.parse::<AppId>().ok())
                {
                    apps.insert(app);
                }
            }
        }
        Ok(QuarantineStore {
            dir,
            apps: Mutex::new(apps),
        })
    }

    fn contains(&self, app: &AppId) -> bool {
        self.apps.lock().is_ok_and(|a| a.contains(app))
    }

    /// Records a quarantine: in memory first (so it holds in this process whatever the disk
    /// says), then durably (temp file, fsync, rename, directory fsync).
    fn add(&self, record: &Quarantined, app: &AppId) -> Result<(), MonitorError> {
        if let Ok(mut a) = self.apps.lock() {
            a.insert(app.clone());
        }
        if let Some(d) = &self.dir {
            let io = |what| move |source| MonitorError::Io { what, source };
            let bytes = serde_json::to_vec_pretty(record).map_err(|e| MonitorError::Io {
                what: "encode a quarantine",
                source: std::io::Error::other(e),
            })?;
            sandframe_durable::replace(d, &Self::file(app), &bytes, 0o600)
                .map_err(io("write a quarantine file"))?;
        }
        Ok(())
    }

    /// Lifts a quarantine: the file first (so a failure leaves it in force everywhere), then
    /// memory.
    fn remove(&self, app: &AppId) -> Result<bool, MonitorError> {
        let mut was = false;
        if let Some(d) = &self.dir {
            match d.remove_file(Self::file(app)) {
                Ok(()) => was = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(MonitorError::Io {
                        what: "remove a quarantine file",
                        source,
                    });
                }
            }
        }
        if self.apps.lock().is_ok_and(|mut a| a.remove(app)) {
            was = true;
        }
        Ok(was)
    }
}

/// Builds a [`SandframeMonitor`].
pub struct MonitorBuilder {
    clock: Clock,
    rules: Rules,
    alerts: Arc<dyn AlertSink>,
    audit: Option<Arc<dyn AuditSink>>,
    quarantine: Option<Dir>,
}

impl std::fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl MonitorBuilder {
    /// The rules' thresholds (default: [`Rules::default`]).
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// The time source of the rules' windows (default: `quanta::Clock::new()`); a test can
    /// drive time itself with `quanta::Clock::mock()`.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Where alerts go (default: [`TracingAlerts`]).
    pub fn alerts(mut self, alerts: Arc<dyn AlertSink>) -> Self {
        self.alerts = alerts;
        self
    }

    /// Where verdicts and releases are audited (default: nowhere but the alert sink).
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Keeps quarantines as files in `dir` (created if missing), so they survive a restart.
    /// Without one, quarantines last as long as the monitor.
    ///
    /// # Errors
    /// [`MonitorError::Io`] if the directory cannot be created or opened.
    pub fn quarantine_dir(mut self, dir: &Path) -> Result<Self, MonitorError> {
        let io = |what| move |source| MonitorError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io("create the directory"))?;
        self.quarantine = Some(
            Dir::open_ambient_dir(dir, cap_std::ambient_authority())
                .map_err(io("open the directory"))?,
        );
        Ok(self)
    }

    /// Builds the monitor, reading the quarantines already on disk.
    ///
    /// # Errors
    /// [`MonitorError::Io`] if the quarantine directory cannot be listed.
    pub fn build(self) -> Result<SandframeMonitor, MonitorError> {
        Ok(SandframeMonitor {
            shared: Arc::new(Shared {
                clock: self.clock,
                rules: self.rules,
                alerts: self.alerts,
                audit: self.audit,
                quarantine: QuarantineStore::load(self.quarantine)?,
                apps: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// The monitor's time source: the CPU's time-stamp counter where it is stable (quanta; about
/// 10 ns a read here against 19 ns for `std::time::Instant`), or a mock in tests
/// (`quanta::Clock::mock`).
pub use quanta::Clock;

struct Shared {
    clock: Clock,
    rules: Rules,
    alerts: Arc<dyn AlertSink>,
    audit: Option<Arc<dyn AuditSink>>,
    quarantine: QuarantineStore,
    apps: Mutex<HashMap<AppId, Arc<History>>>,
}

/// What the monitor remembers of an app across its launches (within one host process).
#[derive(Default)]
struct History {
    terminations: AtomicU32,
    traps_in_a_row: AtomicU32,
}

/// The default [`Monitor`] (see the crate documentation).
#[derive(Clone)]
pub struct SandframeMonitor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SandframeMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandframeMonitor")
            .field("rules", &self.shared.rules)
            .finish_non_exhaustive()
    }
}

impl SandframeMonitor {
    /// A builder with the defaults.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder {
            clock: Clock::new(),
            rules: Rules::default(),
            alerts: Arc::new(TracingAlerts),
            audit: None,
            quarantine: None,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.shared.rules
    }

    /// Forgets what the monitor remembers of `app` (uninstall). A quarantine is kept: it is
    /// lifted only by [`Monitor::release`].
    pub fn forget(&self, app: &AppId) {
        if let Ok(mut apps) = self.shared.apps.lock() {
            apps.remove(app);
        }
    }
}

impl Monitor for SandframeMonitor {
    fn watch(&self, app: &AppId) -> Result<Arc<dyn AppMonitor>, Error> {
        if self.shared.quarantine.contains(app) {
            return Err(Error::Denied(format!(
                "{app} is quarantined by the monitor; the host must release it before it runs again"
            )));
        }
        let history = self
            .shared
            .apps
            .lock()
            .map_err(|_| Error::Unavailable("the monitor's lock is poisoned".into()))?
            .entry(app.clone())
            .or_default()
            .clone();
        Ok(Arc::new(AppWatch {
            shared: Arc::clone(&self.shared),
            app: app.clone(),
            history,
            calls: AtomicU64::new(0),
            standing: AtomicU8::new(Standing::ALLOW),
            slow: Mutex::new(Slow::new(self.shared.clock.raw())),
        }))
    }

    fn is_quarantined(&self, app: &AppId) -> bool {
        self.shared.quarantine.contains(app)
    }

    fn release(&self, app: &AppId) -> Result<(), Error> {
        let was = self.shared.quarantine.remove(app)?;
        if let Some(h) = self
            .shared
            .apps
            .lock()
            .ok()
            .and_then(|a| a.get(app).cloned())
        {
            h.terminations.store(0, Ordering::Relaxed);
            h.traps_in_a_row.store(0, Ordering::Relaxed);
        }
        if was && let Some(audit) = &self.shared.audit {
            audit.record(
                &AuditRecord::new(
                    Layer::Monitor,
                    "release",
                    app.as_str(),
                    AuditOutcome::Allowed,
                )
                .app(Some(app))
                .detail("the host lifted the quarantine"),
            )?;
        }
        Ok(())
    }
}

/// The most severe verdict an instance has reached, as a byte.
struct Standing;

impl Standing {
    const ALLOW: u8 = 0;
    const THROTTLE: u8 = 2;
    const TERMINATE: u8 = 3;

    fn of(v: Verdict) -> u8 {
        match v {
            Verdict::Allow => 0,
            Verdict::Warn => 1,
            Verdict::Throttle => 2,
            Verdict::Terminate => 3,
            Verdict::Quarantine => 4,
        }
    }
}

/// Checks the call-rate window every this many calls.
const CHECK_EVERY: u64 = 1024;

/// One launched app's watch.
struct AppWatch {
    shared: Arc<Shared>,
    app: AppId,
    history: Arc<History>,
    /// Allowed calls since launch. Written by the app's logic thread only (load and store,
    /// no read-modify-write): a call from another thread could at worst lose a count.
    calls: AtomicU64,
    standing: AtomicU8,
    slow: Mutex<Slow>,
}

/// Everything but the call counter: touched once per event, denial or storage write.
struct Slow {
    /// A raw reading of the monitor's clock.
    window_start: u64,
    window_calls_at: u64,
    window_capability: u64,
    window_rate: u64,
    window_malformed: u64,
    window_writes: u64,
    window_write_bytes: u64,
    window_quota: u64,
    /// The APIs refused for a capability or by policy: one bit per API name's hash.
    denied_apis: u64,
    calls_at_event_start: u64,
    events: u64,
    calls_avg: f64,
    fuel_avg: f64,
    hot_events: u32,
    growth_events: u32,
    grew: bool,
    pages: u32,
    trapped: bool,
    /// Times each rule fired in this instance (indexed as [`rule::ALL`]).
    fired: [u32; rule::ALL.len()],
}

impl Slow {
    fn new(now: u64) -> Slow {
        Slow {
            window_start: now,
            window_calls_at: 0,
            window_capability: 0,
            window_rate: 0,
            window_malformed: 0,
            window_writes: 0,
            window_write_bytes: 0,
            window_quota: 0,
            denied_apis: 0,
            calls_at_event_start: 0,
            events: 0,
            calls_avg: 0.0,
            fuel_avg: 0.0,
            hot_events: 0,
            growth_events: 0,
            grew: false,
            pages: 0,
            trapped: false,
            fired: [0; rule::ALL.len()],
        }
    }

    /// Starts a new window once the current one is over.
    fn roll(&mut self, window: Duration, calls: u64, clock: &Clock) {
        // A raw reading (the counter itself, ~8 ns) scaled only for the comparison.
        let now = clock.raw();
        let elapsed = clock.delta_as_nanos(self.window_start, now);
        if u128::from(elapsed) >= window.as_nanos() {
            self.window_start = now;
            self.window_calls_at = calls;
            self.window_capability = 0;
            self.window_rate = 0;
            self.window_malformed = 0;
            self.window_writes = 0;
            self.window_write_bytes = 0;
            self.window_quota = 0;
        }
    }
}

/// A rule that fired: its id, the verdict it asks for, and what it saw.
struct Fired {
    rule: &'static str,
    verdict: Verdict,
    evidence: String,
}

impl AppWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slow> {
        // A poisoned lock (a panic elsewhere while holding it) still holds valid counters.
        self.slow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The call-rate check, every [`CHECK_EVERY`] calls.
    fn check_calls(&self, calls: u64) -> Verdict {
        let rules = &self.shared.rules;
        let fired = {
            let mut s = self.lock();
            s.roll(rules.window, calls, &self.shared.clock);
            let in_window = calls.saturating_sub(s.window_calls_at);
            (in_window > rules.max_calls_per_window).then(|| {
                // Counted afresh from here, so a throttled app is judged again a window later.
                s.window_calls_at = calls;
                escalating(
                    &mut s,
                    Rule::CallRate,
                    format!(
                        "{in_window} calls in under {:?} (limit {})",
                        rules.window, rules.max_calls_per_window
                    ),
                )
            })
        };
        fired.map_or(Verdict::Allow, |f| self.fire(f))
    }

    fn slow_event(&self, event: &MonitorEvent<'_>) -> Verdict {
        let rules = &self.shared.rules;
        let calls = self.calls.load(Ordering::Relaxed);
        let mut fired = Vec::new();
        {
            let mut s = self.lock();
            match *event {
                MonitorEvent::Denied { api, reason } => match reason {
                    DenyReason::Capability | DenyReason::Policy => {
                        s.window_capability += 1;
                        s.denied_apis |= 1 << (fnv(api) % 64);
                        let distinct = s.denied_apis.count_ones();
                        if s.window_capability > rules.max_capability_denials_per_window
                            || distinct > rules.max_denied_apis
                        {
                            let evidence = format!(
                                "{} calls refused for a missing capability or by policy in this \
                                 window, {distinct} distinct APIs refused since launch (limits {} \
                                 and {})",
                                s.window_capability,
                                rules.max_capability_denials_per_window,
                                rules.max_denied_apis
                            );
                            fired.push(once(
                                &mut s,
                                Rule::CapabilityProbe,
                                Verdict::Terminate,
                                evidence,
                            ));
                        }
                    }
                    DenyReason::RateLimit | DenyReason::InFlight => {
                        s.window_rate += 1;
                        if s.window_rate > rules.max_rate_denials_per_window {
                            let evidence = format!(
                                "{} calls over their rate limit in under {:?} (limit {})",
                                s.window_rate, rules.window, rules.max_rate_denials_per_window
                            );
                            s.window_rate = 0;
                            fired.push(Some(escalating(&mut s, Rule::RateHits, evidence)));
                        }
                    }
                    _ => {
                        s.window_malformed += 1;
                        if s.window_malformed > rules.max_malformed_per_window {
                            let evidence = format!(
                                "{} malformed or oversized calls in under {:?} (limit {})",
                                s.window_malformed, rules.window, rules.max_malformed_per_window
                            );
                            fired.push(once(&mut s, Rule::Malformed, Verdict::Terminate, evidence));
                        }
                    }
                },
                MonitorEvent::MemoryGrown { pages } => {
                    s.grew = true;
                    s.pages = pages;
                }
                MonitorEvent::Trap { kind } => {
                    s.trapped = true;
                    if kind != TrapKind::Terminated {
                        let n = self
                            .history
                            .traps_in_a_row
                            .fetch_add(1, Ordering::Relaxed)
                            .saturating_add(1);
                        if n >= rules.max_traps_in_a_row {
                            let evidence = format!(
                                "{n} traps in a row with no clean event between (last: {kind:?}; \
                                 limit {})",
                                rules.max_traps_in_a_row
                            );
                            fired.push(once(&mut s, Rule::Traps, Verdict::Quarantine, evidence));
                        }
                    }
                }
                MonitorEvent::AppError { .. } => {}
                MonitorEvent::StorageWrite { bytes } => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    s.window_writes += 1;
                    s.window_write_bytes = s.window_write_bytes.saturating_add(bytes);
                    if s.window_writes > rules.max_writes_per_window
                        || s.window_write_bytes > rules.max_write_bytes_per_window
                    {
                        let evidence = format!(
                            "{} writes, {} bytes in under {:?} (limits {} and {})",
                            s.window_writes,
                            s.window_write_bytes,
                            rules.window,
                            rules.max_writes_per_window,
                            rules.max_write_bytes_per_window
                        );
                        fired.push(once(
                            &mut s,
                            Rule::StorageFlood,
                            Verdict::Terminate,
                            evidence,
                        ));
                    }
                }
                MonitorEvent::QuotaHit => {
                    s.roll(rules.window, calls, &self.shared.clock);
                    s.window_quota += 1;
                    if s.window_quota > rules.max_quota_hits_per_window {
                        let evidence = format!(
                            "{} writes refused by the storage quota in under {:?} (limit {})",
                            s.window_quota, rules.window, rules.max_quota_hits_per_window
                        );
                        fired.push(once(
                            &mut s,
                            Rule::StorageQuota,
                            Verdict::Terminate,
                            evidence,
                        ));
                    }
                }
                MonitorEvent::EventHandled {
                    fuel_used,
                    fuel_budget,
                } => self.event_end(&mut s, calls, fuel_used, fuel_budget, &mut fired),
                // A call reaches here only from `observe`'s fast path, never.
                _ => {}
            }
        }
        fired
            .into_iter()
            .flatten()
            .map(|f| self.fire(f))
            .max()
            .unwrap_or(Verdict::Allow)
    }

    /// The per-event rules: fuel, memory, traps, anomalies, and the call-rate window.
    fn event_end(
        &self,
        s: &mut Slow,
        calls: u64,
        fuel_used: u64,
        fuel_budget: u64,
        fired: &mut Vec<Option<Fired>>,
    ) {
        let rules = &self.shared.rules;
        // Calls, checked at every event's end as well as every 1,024 calls.
        let in_window = calls.saturating_sub(s.window_calls_at);
        if in_window > rules.max_calls_per_window {
            s.window_calls_at = calls;
            let evidence = format!(
                "{in_window} calls in under {:?} (limit {})",
                rules.window, rules.max_calls_per_window
            );
            fired.push(Some(escalating(s, Rule::CallRate, evidence)));
        }
        s.roll(rules.window, calls, &self.shared.clock);
        // Fuel.
        let hot = u128::from(fuel_used) * 100
            >= u128::from(fuel_budget) * u128::from(rules.hot_fuel_percent)
            && fuel_budget > 0;
        s.hot_events = if hot {
            s.hot_events.saturating_add(1)
        } else {
            0
        };
        if s.hot_events >= rules.max_hot_events {
            let evidence = format!(
                "{} events in a row burnt at least {}% of their fuel (limit {})",
                s.hot_events, rules.hot_fuel_percent, rules.max_hot_events
            );
            fired.push(once(s, Rule::FuelBurn, Verdict::Terminate, evidence));
        }
        // Memory.
        s.growth_events = if s.grew {
            s.growth_events.saturating_add(1)
        } else {
            0
        };
        s.grew = false;
        if s.growth_events >= rules.max_growth_events && s.pages >= rules.creep_floor_pages {
            let evidence = format!(
                "memory grew in {} events in a row, to {} pages (limits {} events, floor {} pages)",
                s.growth_events, s.pages, rules.max_growth_events, rules.creep_floor_pages
            );
            fired.push(once(s, Rule::MemoryCreep, Verdict::Terminate, evidence));
        }
        // Traps: a clean event ends a run of them (not a clean `sf_init`, a watch's first
        // event: an app whose every event traps is in a run however often it relaunches).
        if !s.trapped && s.events > 0 {
            self.history.traps_in_a_row.store(0, Ordering::Relaxed);
        }
        s.trapped = false;
        // Anomalies against the app's own moving averages.
        let event_calls = calls.saturating_sub(s.calls_at_event_start);
        s.calls_at_event_start = calls;
        s.events += 1;
        if s.events > rules.warmup_events {
            let factor = rules.anomaly_factor as f64;
            if event_calls >= rules.anomaly_min_calls && event_calls as f64 > factor * s.calls_avg {
                let evidence = format!(
                    "{event_calls} calls in one event against a moving average of {:.0}",
                    s.calls_avg
                );
                fired.push(once(s, Rule::CallAnomaly, Verdict::Warn, evidence));
            }
            if fuel_used >= rules.anomaly_min_fuel && fuel_used as f64 > factor * s.fuel_avg {
                let evidence = format!(
                    "{fuel_used} fuel in one event against a moving average of {:.0}",
                    s.fuel_avg
                );
                fired.push(once(s, Rule::FuelAnomaly, Verdict::Warn, evidence));
            }
        }
        // Exponential moving averages (weight 1/16), seeded by the first event.
        if s.events == 1 {
            s.calls_avg = event_calls as f64;
            s.fuel_avg = fuel_used as f64;
        } else {
            s.calls_avg += (event_calls as f64 - s.calls_avg) / 16.0;
            s.fuel_avg += (fuel_used as f64 - s.fuel_avg) / 16.0;
        }
    }

    /// Applies a fired rule: escalates a terminate to a quarantine after repeated
    /// terminations, raises the alert, audits the verdict, stores a quarantine. Returns the
    /// verdict, or `Allow` if the instance already stands at it or worse.
    fn fire(&self, fired: Fired) -> Verdict {
        let rules = &self.shared.rules;
        let Fired {
            rule,
            mut verdict,
            mut evidence,
        } = fired;
        let current = self.standing.load(Ordering::Acquire);
        if current >= Standing::TERMINATE
            || (verdict == Verdict::Throttle && current >= Standing::THROTTLE)
        {
            // A stopped instance raises nothing new; a throttled one is not throttled twice.
            return Verdict::Allow;
        }
        if verdict == Verdict::Terminate {
            let n = self
                .history
                .terminations
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if n >= rules.quarantine_after {
                verdict = Verdict::Quarantine;
                evidence.push_str(&format!(
                    "; terminated {n} times (limit {}), so quarantined",
                    rules.quarantine_after
                ));
            }
        }
        self.standing
            .fetch_max(Standing::of(verdict), Ordering::AcqRel);
        if verdict == Verdict::Quarantine {
            let record = Quarantined {
                app: self.app.as_str().to_owned(),
                rule: rule.to_owned(),
                evidence: evidence.clone(),
                unix_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            };
            if let Err(e) = self.shared.quarantine.add(&record, &self.app) {
                // Still stopped now; only the restart-proof record is missing.
                evidence.push_str(&format!("; the quarantine could not be stored: {e}"));
            }
        }
        self.shared.alerts.alert(&Alert {
            app: &self.app,
            rule,
            verdict,
            evidence: &evidence,
        });
        if let Some(audit) = &self.shared.audit {
            let detail = format!("{}: {evidence}", verdict.name());
            let recorded = audit.record(
                &AuditRecord::new(
                    Layer::Monitor,
                    "verdict",
                    rule,
                    if verdict == Verdict::Warn {
                        AuditOutcome::Allowed
                    } else {
                        AuditOutcome::Denied
                    },
                )
                .app(Some(&self.app))
                .detail(&detail),
            );
            if recorded.is_err() {
                tracing::error!(
                    target: "sandframe::monitor",
                    app = self.app.as_str(),
                    rule,
                    "a verdict could not be audited"
                );
            }
        }
        verdict
    }
}

/// FNV-1a of an API name: which bit of `denied_apis` it sets.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A rule that fires once per instance with a fixed verdict.
fn once(s: &mut Slow, rule: Rule, verdict: Verdict, evidence: String) -> Option<Fired> {
    let n = s.fired.get_mut(rule as usize)?;
    *n = n.saturating_add(1);
    (*n == 1).then_some(Fired {
        rule: rule.id(),
        verdict,
        evidence,
    })
}

/// A rule that throttles the first time and terminates the next.
fn escalating(s: &mut Slow, rule: Rule, evidence: String) -> Fired {
    let n = s.fired.get_mut(rule as usize).map_or(1, |n| {
        *n = n.saturating_add(1);
        *n
    });
    Fired {
        rule: rule.id(),
        verdict: if n == 1 {
            Verdict::Throttle
        } else {
            Verdict::Terminate
        },
        evidence,
    }
}

impl AppMonitor for AppWatch {
    #[inline]
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        if let MonitorEvent::Call { .. } = event {
            let n = self.calls.load(Ordering::Relaxed).wrapping_add(1);
            self.calls.store(n, Ordering::Relaxed);
            if !n.is_multiple_of(CHECK_EVERY) {
                return Verdict::Allow;
            }
            return self.check_calls(n);
        }
        self.slow_event(event)
    }
}
