//! # sandframe-gateway
//!
//! The gateway layer: every call from a mini-app goes through one narrow door,
//! [`SandframeGateway`]. Per call, in this order:
//!
//! 1. **capability**: the API's capability must be declared by the manifest (the upper bound)
//!    and granted (by host [`Policy`], a stored grant, or consent);
//! 2. **policy**: host-wide and per-app allow/deny lists of APIs;
//! 3. **rate**: a governor direct limiter per app and API (burst and period configurable; a
//!    throttle verdict swaps in a slower one); consent requests in flight are capped;
//! 4. **size and shape**: the request within 64 KiB and JSON;
//! 5. the API itself (built in, or registered by the host through [`Api`]), its response
//!    within 64 KiB;
//! 6. an **audit record** (app, API, capability, verdict, latency, sizes) to `tracing` and to
//!    the [`AuditSink`](sandframe_core::AuditSink). A call whose record cannot be kept is not
//!    answered.
//!
//! `capability.request` never blocks the logic thread: policy or a stored grant answers at
//! once; otherwise the embedder's [`Consent`](sandframe_core::Consent) is asked on a thread of
//! its own, the call answers `pending`, and the decision reaches the app as an
//! [`CONSENT_EVENT`] event. Grants persist per app in a [`GrantStore`].
//!
//! The default audit sink is [`AuditLog`]: MAC-chained frames whose key and head live in an
//! [`Anchor`] outside the home, so [`audit::verify`] detects an edited, reordered, truncated or
//! re-keyed log. [`MinimalGateway`] (no policy, no audit) is kept for the runtime's own tests.

mod apis;
pub mod audit;
mod gateway;
mod grants;
mod minimal;
mod policy;
mod state;

pub use apis::{
    APIS, ApiSpec, MAX_AUDITED_LOG_CHARS, MAX_LOG_BYTES, MAX_RANDOM_BYTES, MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES, MAX_SOURCE_CHARS,
};
pub use audit::{
    Anchor, AuditLog, FileAnchor, Head, HomeSecret, MemoryAnchor, Migration, StateHead,
    StoredRecord, Tampering,
};
pub use gateway::{CONSENT_EVENT, FOLD_MAX, GatewayBuilder, MAX_PENDING_CONSENT, SandframeGateway};
pub use grants::{GRANTS_KIND, GrantStore};
pub use minimal::MinimalGateway;
pub use policy::{CONSENT_RATE, DEFAULT_RATE, DEFAULT_SLOW_RATE, Policy, Rate};
/// The trait of host-registered APIs, in the contracts crate since the facade issue (a layer
/// serving APIs implements it without depending on the gateway); re-exported here.
pub use sandframe_core::Api;
pub use state::{MAX_STATE_VALUE_BYTES, MemoryState, STATE_FILE, SealedState};

/// Errors of the gateway layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// The gateway was configured wrongly.
    #[error("gateway configuration: {0}")]
    Config(String),
    /// A file the gateway keeps is damaged.
    #[error("damaged: {0}")]
    Damaged(String),
    /// The home's sealed state does not match its anchor: it was edited, removed or rolled
    /// back, and nothing in it is read.
    #[error("the home's security state cannot be trusted: {0}")]
    StateTampered(String),
    /// The audit log fails verification.
    #[error("the audit log fails verification: {0}")]
    Tampered(#[source] audit::Tampering),
    /// A file could not be read or written.
    #[error("could not {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
}
