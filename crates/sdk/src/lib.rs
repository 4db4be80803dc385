//! # sandframe-sdk
//!
//! The guest-side crate mini-app authors compile to `wasm32-unknown-unknown`: safe wrappers
//! over host ABI v1.
//!
//! **Status:** not built yet; it arrives with the SDK issue. Today a mini-app is written
//! against ABI v1 directly (see `examples/hello/logic.wat`). The error codes a guest sees are
//! already fixed: [`ErrorCode`].

pub use sandframe_core::ErrorCode;
