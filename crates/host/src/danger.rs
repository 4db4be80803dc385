//! Replacing a layer's checks wholesale, behind one name, as rustls keeps its `danger` module:
//! a reviewer finds every such choice an embedder made by looking for `danger` and
//! `dangerous`. (Budgets in [`RuntimeConfig`](crate::RuntimeConfig) and the choice of
//! [`Anchor`](crate::Anchor) stay ordinary builder settings; `MemoryAnchor` is here because
//! it keeps the audit head nowhere a restart can check.)
//!
//! - [`DangerousHostBuilder`] (reached through [`HostBuilder::dangerous`](crate::HostBuilder::dangerous)):
//!   replacing the gateway or the validator wholesale.
//! - [`MinimalGateway`]: a gateway that checks nothing (no capabilities, no policy, no rate
//!   limits, no audit), for tests of other layers.
//! - [`MemoryAnchor`]: an audit anchor that lives in memory only, so that the audit log's
//!   head is not kept anywhere a restart can check it.

pub use sandframe_gateway::{MemoryAnchor, MinimalGateway};

pub use crate::builder::DangerousHostBuilder;
