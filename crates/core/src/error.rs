//! The one error every core trait returns, and the ABI error code each variant maps to.

use crate::ErrorCode;

/// The error every core trait method returns.
///
/// Layer crates keep their own, richer error enum and convert into this one at the trait
/// boundary; [`Error::code`] maps each variant to the ABI error code a guest sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name or value handed to a layer is malformed (an app id, a key, a request).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being checked, e.g. "app id".
        what: &'static str,
        /// Why it was rejected, in words a user can act on.
        reason: String,
    },
    /// A policy, capability or consent check said no.
    #[error("denied: {0}")]
    Denied(String),
    /// A size limit was hit.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A layer is busy (a queue is full): retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// A storage quota was hit.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored or received data failed an integrity check (a MAC or an AEAD tag).
    ///
    /// Deliberately says nothing about *why* it failed: no oracle.
    #[error("integrity check failed for {0}; the data was changed or belongs elsewhere")]
    Integrity(&'static str),
    /// A layer cannot serve the request right now (stopped, shutting down, not configured).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other failure inside a layer, with its own error as the source.
    #[error("{layer} failed: {source}")]
    Layer {
        /// The layer's name, e.g. "storage".
        layer: &'static str,
        /// The layer's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The ABI v1 error code a guest sees for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Invalid { .. } => ErrorCode::BadRequest,
            Error::Denied(_) => ErrorCode::Denied,
            Error::Limit(_) => ErrorCode::TooLarge,
            Error::Busy(_) => ErrorCode::RateLimited,
            Error::Quota(_) => ErrorCode::Quota,
            Error::NotFound(_) => ErrorCode::BadRequest,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Integrity(_) | Error::Io(_) | Error::Layer { .. } => ErrorCode::Internal,
        }
    }
}
