//! # sandframe-storage
//!
//! The storage layer: each app's data in its own cap-std directory, values sealed with a per-app key, atomic durable writes, quotas, explicit read-only sharing, and a wipe that leaves nothing behind.
//!
//! **Status:** only the contract exists so far: the layer trait (defined in `sandframe-core`
//! and re-exported here) and this crate's error enum. The default implementation is built by
//! its own issue; until then this crate offers nothing that runs.

pub use sandframe_core::Storage;

/// Errors of the storage layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
