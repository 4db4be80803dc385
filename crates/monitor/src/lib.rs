//! # sandframe-monitor
//!
//! The monitoring layer: [`SandframeMonitor`], the default [`Monitor`]. It keeps counters and
//! baselines per app, runs [`Rules`] (each with a stable id, see [`rule`]) over what the
//! gateway, the runtime and storage report, and reaches verdicts: warn, throttle, terminate,
//! quarantine. Every verdict goes to the embedder's [`AlertSink`] (default:
//! [`TracingAlerts`]) and to the [`AuditSink`]; a quarantine is written to disk and survives
//! a host restart.
//!
//! The monitor *decides*; whoever set up the app's [`Watch`] (the
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

mod alerts;
mod quarantine;
pub mod rule;
mod rules;
mod watch;

pub use alerts::{AlertLog, AlertRecord, TracingAlerts};
pub use quarantine::{QUARANTINE_KIND, Quarantined, STRIKES_KIND, Strikes};
pub use rules::Rules;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sandframe_core::{
    AlertSink, AppId, AppMonitor, AuditOutcome, AuditRecord, AuditSink, Error, HomeState, Layer,
};
pub use sandframe_core::{Monitor, Watch};

use quarantine::QuarantineStore;
use watch::{AppWatch, Slow, Standing};

/// Errors of the monitor layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// A quarantine could not be encoded or kept.
    #[error("cannot {what}: {source}")]
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

/// Builds a [`SandframeMonitor`].
pub struct MonitorBuilder {
    clock: Clock,
    rules: Rules,
    alerts: Arc<dyn AlertSink>,
    audit: Option<Arc<dyn AuditSink>>,
    quarantine: Option<Arc<dyn HomeState>>,
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

    /// Keeps quarantines in `state` (the host gives it the home's sealed state), so they
    /// survive a restart and a file deleted by hand does not lift one. Without it, quarantines
    /// last as long as the monitor.
    pub fn quarantine_state(mut self, state: Arc<dyn HomeState>) -> Self {
        self.quarantine = Some(state);
        self
    }

    /// Builds the monitor.
    ///
    /// # Errors
    /// None today; kept for settings that may fail.
    pub fn build(self) -> Result<SandframeMonitor, MonitorError> {
        Ok(SandframeMonitor {
            shared: Arc::new(Shared {
                clock: self.clock,
                rules: self.rules,
                alerts: self.alerts,
                audit: self.audit,
                quarantine: QuarantineStore::new(self.quarantine),
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

/// What the monitor remembers of an app across its launches in this process: whether a run
/// of traps is going (its count, like the terminations, is kept in the quarantine store's
/// strikes, across processes).
#[derive(Default)]
struct History {
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

    /// The stored quarantine of `app` (rule, evidence, time), if it has one.
    pub fn quarantined(&self, app: &AppId) -> Option<Quarantined> {
        self.shared.quarantine.record(app)
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
            .or_insert_with(|| {
                Arc::new(History {
                    traps_in_a_row: AtomicU32::new(self.shared.quarantine.traps(app)),
                })
            })
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
            h.traps_in_a_row.store(0, Ordering::Relaxed);
        }
        self.shared.quarantine.forgive(app);
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
