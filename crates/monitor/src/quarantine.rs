//! Quarantines that survive a restart: one JSON value per app in the host's [`HomeState`]
//! (kind [`QUARANTINE_KIND`]), committed before a quarantine or a release is reported.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sandframe_core::{AppId, HomeState};
use serde::{Deserialize, Serialize};

use crate::MonitorError;

/// The [`HomeState`] kind under which quarantines are kept.
pub const QUARANTINE_KIND: &str = "quarantine";

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
}

impl QuarantineStore {
    pub(crate) fn new(state: Option<Arc<dyn HomeState>>) -> QuarantineStore {
        QuarantineStore {
            state,
            apps: Mutex::new(HashSet::new()),
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

    /// The stored quarantine of `app`, if any.
    pub(crate) fn record(&self, app: &AppId) -> Option<Quarantined> {
        let bytes = self.state.as_ref()?.get(QUARANTINE_KIND, app.as_str())?;
        serde_json::from_slice(&bytes).ok()
    }
}
