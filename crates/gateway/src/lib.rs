//! # sandframe-gateway
//!
//! The gateway layer: every call from a mini-app goes through one narrow door: capability check, allow/deny policy, per-app and per-API rate limits, size limits, and a tamper-evident audit record.
//!
//! **Status:** only the contract exists so far: the layer trait (defined in `sandframe-core`
//! and re-exported here) and this crate's error enum. The default implementation is built by
//! its own issue; until then this crate offers nothing that runs.

pub use sandframe_core::Gateway;

/// Errors of the gateway layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
