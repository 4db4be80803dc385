//! # sandframe-core: the contracts
//!
//! The shared vocabulary every sandframe layer speaks, and the traits the `host` crate wires
//! together. Nothing here does I/O, runs an engine or touches cryptography: this crate only
//! names things and checks that names are well formed.
//!
//! - [`AppId`]: a validated reverse-DNS app id, never a raw string.
//! - [`Capability`] and [`Grant`]: what an app may ask for, and what it was given.
//! - [`ApiName`], [`ErrorCode`], [`ApiError`]: the calls a mini-app makes through ABI v1.
//! - [`Gateway`] / [`GatewaySession`]: the one door every guest call goes through.
//! - [`Storage`]: per-app namespaces.
//! - [`Monitor`] / [`AppMonitor`], [`MonitorEvent`], [`Verdict`], [`AlertSink`]: behaviour watch.
//! - [`OriginPattern`]: the network origins an app declares and is granted (`net:fetch`).
//! - [`Consent`]: the embedder's answer to "may this app have that capability?".
//! - [`AuditSink`]: where every layer writes its audit records.
//! - [`HomeState`]: where layers keep their persistent security decisions (grants, quarantines).
//! - [`Surface`], [`ViewNode`], [`ViewPatch`], [`SurfaceEvent`]: the render side's output.
//!
//! **Boundary:** this crate depends on no other sandframe crate and on nothing but `serde`,
//! `thiserror`, `url` (the WHATWG host parser, for origins) and `psl` (the public suffix list,
//! compiled in). Every layer depends on it; it depends on none of them.

mod api;
mod audit;
mod capability;
mod consent;
mod error;
mod gateway;
mod id;
mod limits;
mod monitor;
#[cfg(feature = "origin")]
mod origin;
mod state;
mod storage;
mod surface;

pub use api::{Api, ApiError, ApiName, ErrorCode};
pub use audit::{AuditBatch, AuditOutcome, AuditRecord, AuditSink, Layer};
pub use capability::{Capability, Grant, GrantSource};
pub use consent::{Consent, ConsentDecision, ConsentRequest, DenyAll};
pub use error::Error;
pub use gateway::{
    AppContext, Declared, EventSender, Gateway, GatewaySession, SOURCE_CHUNK_CHARS, Sources, Views,
    source_chunk,
};
pub use id::AppId;
pub use limits::Limits;
pub use monitor::{
    Alert, AlertSink, AppMonitor, DenyReason, Monitor, MonitorEvent, TrapKind, Verdict, Watch,
};
#[cfg(feature = "origin")]
pub use origin::{OriginPattern, in_scope};
pub use state::{HomeState, StateChange};
pub use storage::{ShareList, Storage, Usage};
pub use surface::{EventKind, Surface, SurfaceEvent, ViewNode, ViewPatch};
