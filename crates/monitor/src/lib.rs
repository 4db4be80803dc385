//! # sandframe-monitor
//!
//! The monitoring layer: counters and baselines per app, anomaly rules with stable ids, verdicts (allow, warn, throttle, terminate, quarantine) and alerts.
//!
//! **Status:** only the contract exists so far: the layer trait (defined in `sandframe-core`
//! and re-exported here) and this crate's error enum. The default implementation is built by
//! its own issue; until then this crate offers nothing that runs.

pub use sandframe_core::Monitor;

/// Errors of the monitor layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
