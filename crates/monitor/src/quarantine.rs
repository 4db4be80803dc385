//! Quarantines that survive a restart: one JSON value per app in the host's [`HomeState`]
//! (kind [`QUARANTINE_KIND`]), committed before a quarantine or a release is reported.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sandframe_core::{AppId, HomeState};
use serde::{Deserialize, Serialize};

use crate::MonitorError;

/// The [`HomeState`] kind under which quarantines are kept.
pub const QUARANTINE_KIND: &str = "quarantine";
/// The [`HomeState`] kind under which each app's strikes are kept: the monitor's recent
/// terminate verdicts and its traps in a row, across host processes.
pub const STRIKES_KIND: &str = "strikes";

/// An app's strikes as stored (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strikes {
    /// When the monitor's terminate verdicts fell, in Unix milliseconds, within the window.
    pub terminations: Vec<u64>,
    /// Traps with no clean event between, across launches and processes.
    pub traps_in_a_row: u32,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A quarantine as stored.
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

/// Where quarantines are kept: a [`HomeState`] (survives restarts) and, in memory, those of
/// this process that could not be stored (they hold here whatever the state says).
pub(crate) struct QuarantineStore {
    pub(crate) state: Option<Arc<dyn HomeState>>,
    pub(crate) apps: Mutex<HashSet<AppId>>,
    /// Strikes, without a state.
    memory: Mutex<HashMap<AppId, Strikes>>,
}

impl QuarantineStore {
    pub(crate) fn new(state: Option<Arc<dyn HomeState>>) -> QuarantineStore {
        QuarantineStore {
            state,
            apps: Mutex::new(HashSet::new()),
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn contains(&self, app: &AppId) -> bool {
        self.apps.lock().is_ok_and(|a| a.contains(app))
            || self
                .state
                .as_ref()
                .is_some_and(|s| s.contains(QUARANTINE_KIND, app.as_str()))
    }

    /// Records a quarantine: in memory first (so it holds in this process whatever the disk
    /// says), then in the state, committed before this returns.
    pub(crate) fn add(&self, record: &Quarantined, app: &AppId) -> Result<(), MonitorError> {
        if let Ok(mut a) = self.apps.lock() {
            a.insert(app.clone());
        }
        if let Some(state) = &self.state {
            let bytes = serde_json::to_vec(record).map_err(|e| MonitorError::Io {
                what: "encode a quarantine",
                source: std::io::Error::other(e),
            })?;
            state
                .set(QUARANTINE_KIND, app.as_str(), Some(&bytes))
                .map_err(MonitorError::Core)?;
        }
        Ok(())
    }

    /// Lifts a quarantine: in the state first (so a failure leaves it in force everywhere),
    /// then in memory.
    pub(crate) fn remove(&self, app: &AppId) -> Result<bool, MonitorError> {
        let mut was = false;
        if let Some(state) = &self.state
            && state.contains(QUARANTINE_KIND, app.as_str())
        {
            state
                .set(QUARANTINE_KIND, app.as_str(), None)
                .map_err(MonitorError::Core)?;
            was = true;
        }
        if self.apps.lock().is_ok_and(|mut a| a.remove(app)) {
            was = true;
        }
        Ok(was)
    }

    /// Changes `app`'s strikes as one step (in the state if there is one, else in memory).
    /// Returns them as changed. A state that cannot take the change leaves them counted in
    /// memory for this process, from what was stored (an error is logged): a hostile app
    /// cannot escape its quarantine by making the state unwritable.
    fn strike(&self, app: &AppId, change: impl Fn(&mut Strikes)) -> Strikes {
        let memory = || {
            self.memory
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let Some(state) = &self.state else {
            let mut memory = memory();
            let s = memory.entry(app.clone()).or_default();
            change(s);
            return s.clone();
        };
        let mut out = Strikes::default();
        // What earlier failures counted in memory is not lost when the state works again.
        // (Not locked across the commit: one app's wait for the home lock holds no other.)
        let floor = memory().get(app).cloned();
        let mut step = |old: Option<&[u8]>| {
            let mut s: Strikes = old
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            if let Some(f) = &floor {
                s.traps_in_a_row = s.traps_in_a_row.max(f.traps_in_a_row);
                for t in &f.terminations {
                    if !s.terminations.contains(t) {
                        s.terminations.push(*t);
                    }
                }
                s.terminations.sort_unstable();
            }
            change(&mut s);
            out = s.clone();
            if s == Strikes::default() {
                None
            } else {
                serde_json::to_vec(&s).ok()
            }
        };
        match state.update(STRIKES_KIND, app.as_str(), &mut step) {
            Ok(_) => {
                memory().remove(app);
                out
            }
            Err(e) => {
                tracing::error!(
                    target: "sandframe::monitor",
                    app = app.as_str(),
                    error = %e,
                    "an app's strikes could not be stored; they count in this process's memory"
                );
                let mut memory = memory();
                let s = memory.entry(app.clone()).or_insert_with(|| {
                    state
                        .get(STRIKES_KIND, app.as_str())
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default()
                });
                change(s);
                s.clone()
            }
        }
    }

    /// Counts a terminate verdict, forgetting those older than `window`; returns how many
    /// fell within it.
    pub(crate) fn termination(&self, app: &AppId, window: std::time::Duration) -> u32 {
        let now = now_ms();
        let since = now.saturating_sub(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        let s = self.strike(app, |s| {
            s.terminations.retain(|t| *t > since && *t <= now);
            s.terminations.push(now);
        });
        u32::try_from(s.terminations.len()).unwrap_or(u32::MAX)
    }

    /// Counts a trap; returns the traps in a row.
    pub(crate) fn trap(&self, app: &AppId) -> u32 {
        self.strike(app, |s| {
            s.traps_in_a_row = s.traps_in_a_row.saturating_add(1)
        })
        .traps_in_a_row
    }

    /// Ends a run of traps (a clean event).
    pub(crate) fn clean(&self, app: &AppId) {
        self.strike(app, |s| s.traps_in_a_row = 0);
    }

    /// The traps in a row stored for `app`.
    pub(crate) fn traps(&self, app: &AppId) -> u32 {
        match &self.state {
            Some(state) => state
                .get(STRIKES_KIND, app.as_str())
                .and_then(|b| serde_json::from_slice::<Strikes>(&b).ok())
                .map_or(0, |s| s.traps_in_a_row),
            None => self
                .memory
                .lock()
                .ok()
                .and_then(|m| m.get(app).map(|s| s.traps_in_a_row))
                .unwrap_or(0),
        }
    }

    /// Forgets `app`'s strikes (a release).
    pub(crate) fn forgive(&self, app: &AppId) {
        self.strike(app, |s| *s = Strikes::default());
    }

    /// The stored quarantine of `app`, if any.
    pub(crate) fn record(&self, app: &AppId) -> Option<Quarantined> {
        let bytes = self.state.as_ref()?.get(QUARANTINE_KIND, app.as_str())?;
        serde_json::from_slice(&bytes).ok()
    }
}
