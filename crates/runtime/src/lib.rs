//! # sandframe-runtime
//!
//! The runtime layer: runs a verified mini-app's logic module under wasmer (Cranelift) with
//! fuel metering, memory and table caps and deadlines, importing nothing but host ABI v1,
//! whose calls it hands to a [`sandframe_core::GatewaySession`].
//!
//! **Status:** only the error enum exists so far. The `Runtime` trait takes the
//! `VerifiedPackage` that `sandframe-validate` mints, so it arrives with the runtime issue,
//! after validation. Nothing here runs yet.

/// Errors of the runtime layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
