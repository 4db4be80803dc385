//! Quarantines that survive a restart: one JSON file per app under the quarantine directory,
//! written durably, read back at start.

use std::collections::HashSet;
use std::sync::Mutex;

use cap_std::fs::Dir;
use sandframe_core::AppId;
use serde::{Deserialize, Serialize};

use crate::MonitorError;

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
pub(crate) struct QuarantineStore {
    pub(crate) dir: Option<Dir>,
    pub(crate) apps: Mutex<HashSet<AppId>>,
}

impl QuarantineStore {
    fn file(app: &AppId) -> String {
        format!("{}.json", app.as_str())
    }

    pub(crate) fn load(dir: Option<Dir>) -> Result<QuarantineStore, MonitorError> {
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

    pub(crate) fn contains(&self, app: &AppId) -> bool {
        self.apps.lock().is_ok_and(|a| a.contains(app))
    }

    /// Records a quarantine: in memory first (so it holds in this process whatever the disk
    /// says), then durably (temp file, fsync, rename, directory fsync).
    pub(crate) fn add(&self, record: &Quarantined, app: &AppId) -> Result<(), MonitorError> {
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
    pub(crate) fn remove(&self, app: &AppId) -> Result<bool, MonitorError> {
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
