//! The one error of this crate: a network layer that cannot be set up.

/// Why the network layer could not be set up. Everything a guest does is answered with an
/// [`ApiError`](sandframe_core::ApiError) instead, never with this.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A setting the embedder chose cannot be used (the message names it and says why).
    #[error("network settings: {0}")]
    Config(String),
    /// The host could not start the network runtime (threads, the reactor).
    #[error("the network runtime did not start: {0}; check the process's thread limit")]
    Runtime(#[source] std::io::Error),
}
