//! The default [`AuditSink`](sandframe_core::AuditSink): an append-only log of MAC-chained frames whose key and latest
//! head live in an [`Anchor`] outside the home.
//!
//! ## Format (`audit.log`, also in `docs/format.md`)
//!
//! The file is a sequence of frames, each `len (u32 LE) ‖ body (len bytes) ‖ mac (32 bytes)`.
//! A body is `first_seq (u64 LE)` followed by records, each a postcard-encoded `Wire`: either
//! `Full` (variant 0, a [`StoredRecord`] without its `seq`) or `Repeat` (variant 1:
//! `unix_ms_delta (i64)`, `latency_ns`, `bytes_in`, `bytes_out`), which stands for a record
//! equal to the one before it *in the same frame* but for its time, latency and sizes. A
//! gateway session's repeated call (same app, API, outcome) so costs about 8 bytes, not 80.
//! Frame `i` (from 0) carries
//! `mac_i = blake3::keyed_hash(key, "sandframe audit frame v2" ‖ mac_{i-1} ‖ i (u64 LE) ‖
//! len (u32 LE) ‖ body)`, with `mac_{-1}` 32 zero bytes. The anchor keeps the key and the head
//! (frame count, record count, last MAC) as of the last [`AuditSink::flush`](sandframe_core::AuditSink::flush).
//!
//! ## What is guaranteed after a crash
//!
//! Records are buffered in memory (a gateway session's [`AuditBatch`](sandframe_core::AuditBatch) until its event ends,
//! then the log's open frame) and written as one frame when 64 KiB accumulate; `flush` writes
//! the partial frame, fsyncs the log, then advances the anchor. So after a crash:
//! every record recorded before the last `flush` returned is on disk and anchored; records
//! after it may be lost (still buffered), or present in frames past the anchored head (a valid
//! but *unanchored* tail, reported by [`verify`]), or cut mid-frame (a torn tail, reported and
//! cut off when the log is next opened). An attacker who can write the home but not the
//! anchor cannot edit, reorder, drop or forge anchored frames without [`verify`] saying so;
//! they can drop unanchored frames, which is the same loss a crash may cause.

mod anchor;
mod log;
mod verify;
mod wire;

pub use anchor::{Anchor, FileAnchor, Head, HomeSecret, MemoryAnchor, Migration, StateHead};
pub use log::AuditLog;
pub use verify::{Tampering, Verified, read, verify};
pub use wire::{StoredRecord, outcome_name};

use crate::GatewayError;

/// The log's file name inside the directory it is opened in.
pub const LOG_FILE: &str = "audit.log";
/// A frame is written once its body reaches this many bytes.
pub const FRAME_BYTES: usize = 64 << 10;
/// Longest body a frame may declare (a reader refuses longer ones without allocating).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;
/// Longest `detail` kept in a record, in bytes (longer ones are cut at a character boundary).
pub const MAX_DETAIL_BYTES: usize = 512;
/// Longest `subject` kept in a record, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 128;

pub(crate) const DOMAIN: &[u8] = b"sandframe audit frame v2";
pub(crate) const ANCHOR_MAGIC: &[u8; 8] = b"SFANCHR2";
pub(crate) const ANCHOR_BYTES: usize = 8 + 32 + 8 + 8 + 32 + 8 + 32;
pub(crate) const ANCHOR_V1_MAGIC: &[u8; 8] = b"SFANCHR1";
pub(crate) const ANCHOR_V1_BYTES: usize = 8 + 32 + 8 + 8 + 32;

pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> GatewayError {
    move |source| GatewayError::Io { what, source }
}
