//! # sandframe-host
//!
//! Thin composition: a builder will take one implementation of each layer trait (defaults
//! provided) and expose install / launch / dispatch / uninstall.
//!
//! **Status:** only the error enum exists; the host is built with the runtime issue.

/// Errors of the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
