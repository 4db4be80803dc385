//! Where verdicts go besides the audit log: [`TracingAlerts`] (the default) and [`AlertLog`]
//! (the last alerts, in memory, for a front end to show).

use sandframe_core::{Alert, AlertSink};
use serde::Serialize;

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
