//! What weakens the sandbox, behind one name, as rustls keeps its `danger` module: a reviewer
//! finds every such choice an embedder made by looking for `danger` and `dangerous`.
//!
//! - [`DangerousHostBuilder`] (reached through [`HostBuilder::dangerous`](crate::HostBuilder::dangerous)):
//!   replacing the gateway or the validator wholesale.
//! - [`MinimalGateway`]: a gateway that checks nothing (no capabilities, no policy, no rate
//!   limits, no audit), for tests of other layers.
//! - [`MemoryAnchor`]: an audit anchor that lives in memory only, so that the audit log's
//!   head is not kept anywhere a restart can check it.

pub use sandframe_gateway::{MemoryAnchor, MinimalGateway};

pub use crate::builder::DangerousHostBuilder;
