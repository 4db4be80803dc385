//! # sandframe-render
//!
//! The render side: templates plus data to a view tree to patches, on a thread that holds no gateway and no storage handle, with every interpolated value escaped.
//!
//! **Status:** only the contract exists so far: the layer trait (defined in `sandframe-core`
//! and re-exported here) and this crate's error enum. The default implementation is built by
//! its own issue; until then this crate offers nothing that runs.

pub use sandframe_core::Surface;

/// Errors of the render layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}
