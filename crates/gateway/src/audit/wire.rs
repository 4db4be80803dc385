//! The wire format of records and frames: what one record stores, the `Full` and `Repeat`
//! encodings, and the frame MAC.

use sandframe_core::{AuditOutcome, AuditRecord, Error};
use serde::{Deserialize, Serialize};

use super::log::WallClock;
use super::{DOMAIN, MAX_DETAIL_BYTES, MAX_SUBJECT_BYTES};

/// One audit record as stored (and as read back by [`read`](super::read)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Position in the log, from 0 (not stored: a frame's first sequence number plus the
    /// record's place in it).
    #[serde(skip)]
    pub seq: u64,
    /// Wall-clock time it was recorded, in Unix milliseconds.
    pub unix_ms: u64,
    /// The app concerned (`""` for none).
    pub app: String,
    /// The layer that wrote it (`gateway`, `host`, …).
    pub layer: String,
    /// What was done (`call`, `consent`, `install`, …).
    pub action: String,
    /// What it was done to (an API name, a capability, …).
    pub subject: String,
    /// The capability concerned (`""` for none).
    pub capability: String,
    /// `allowed`, `denied` or `failed`.
    pub outcome: String,
    /// Free text (a reason, a count of folded repeats).
    pub detail: String,
    /// Time taken, in nanoseconds.
    pub latency_ns: u64,
    /// Request bytes.
    pub bytes_in: u32,
    /// Response bytes.
    pub bytes_out: u32,
}

/// The borrowed form written on the hot path (same encoding as [`StoredRecord`]).
#[derive(Clone, Copy, Serialize)]
pub(crate) struct RecordRef<'a> {
    pub(crate) unix_ms: u64,
    pub(crate) app: &'a str,
    pub(crate) layer: &'static str,
    pub(crate) action: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) capability: &'a str,
    pub(crate) outcome: &'static str,
    pub(crate) detail: &'a str,
    pub(crate) latency_ns: u64,
    pub(crate) bytes_in: u32,
    pub(crate) bytes_out: u32,
}

/// One record on the wire, as written.
#[derive(Serialize)]
pub(crate) enum WireRef<'a> {
    Full(RecordRef<'a>),
    Repeat(Repeat),
}

/// One record on the wire, as read.
#[derive(Deserialize)]
pub(crate) enum Wire {
    Full(StoredRecord),
    Repeat(Repeat),
}

/// A record equal to the one before it in its frame but for these fields.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Repeat {
    pub(crate) unix_ms_delta: i64,
    pub(crate) latency_ns: u64,
    pub(crate) bytes_in: u32,
    pub(crate) bytes_out: u32,
}

/// Decodes the next record of a frame body; `prev` is the record before it in the frame.
pub(crate) fn take_record<'b>(
    rest: &'b [u8],
    prev: Option<&StoredRecord>,
) -> Option<(StoredRecord, &'b [u8])> {
    let (wire, tail): (Wire, &[u8]) = postcard::take_from_bytes(rest).ok()?;
    let record = match wire {
        Wire::Full(r) => r,
        Wire::Repeat(d) => {
            let prev = prev?;
            StoredRecord {
                seq: prev.seq + 1,
                unix_ms: prev.unix_ms.checked_add_signed(d.unix_ms_delta)?,
                latency_ns: d.latency_ns,
                bytes_in: d.bytes_in,
                bytes_out: d.bytes_out,
                ..prev.clone()
            }
        }
    };
    Some((record, tail))
}

/// The fields a `Repeat` leaves out, of the last record a batch wrote.
#[derive(Default)]
pub(crate) struct Last {
    pub(crate) app: String,
    pub(crate) layer: &'static str,
    pub(crate) action: String,
    pub(crate) subject: String,
    pub(crate) capability: String,
    pub(crate) outcome: &'static str,
    pub(crate) detail: String,
    pub(crate) unix_ms: u64,
}

/// Byte equality of two short strings, eight bytes at a time. (libc's `memcmp`, which `==`
/// calls, measured about 20 ns a call on the reference VM: more than the rest of a record.)
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| c.try_into().map_or(0, u64::from_ne_bytes);
    (&mut x).zip(&mut y).all(|(p, q)| word(p) == word(q))
        && x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

impl Last {
    fn matches(&self, r: &RecordRef<'_>) -> bool {
        same(&self.subject, r.subject)
            && same(self.outcome, r.outcome)
            && same(&self.detail, r.detail)
            && same(&self.app, r.app)
            && same(&self.capability, r.capability)
            && same(&self.action, r.action)
            && same(self.layer, r.layer)
    }

    pub(crate) fn set(&mut self, r: &RecordRef<'_>) {
        self.app.clear();
        self.app.push_str(r.app);
        self.layer = r.layer;
        self.action.clear();
        self.action.push_str(r.action);
        self.subject.clear();
        self.subject.push_str(r.subject);
        self.capability.clear();
        self.capability.push_str(r.capability);
        self.outcome = r.outcome;
        self.detail.clear();
        self.detail.push_str(r.detail);
        self.unix_ms = r.unix_ms;
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// The name of an outcome as stored.
pub fn outcome_name(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Allowed => "allowed",
        AuditOutcome::Denied => "denied",
        _ => "failed",
    }
}

pub(crate) fn frame_mac(key: &[u8; 32], prev: &[u8; 32], index: u64, body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(DOMAIN);
    h.update(prev);
    h.update(&index.to_le_bytes());
    h.update(&(body.len() as u32).to_le_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

/// The stored form of `r` (cut to the log's field limits).
pub(crate) fn stored<'a>(r: &AuditRecord<'a>, clock: &WallClock) -> RecordRef<'a> {
    RecordRef {
        unix_ms: if r.unix_ms != 0 {
            r.unix_ms
        } else {
            clock.unix_ms()
        },
        app: r.app.map_or("", |a| a.as_str()),
        layer: r.layer.name(),
        action: cut(r.action, MAX_SUBJECT_BYTES),
        subject: cut(r.subject, MAX_SUBJECT_BYTES),
        capability: cut(r.capability, MAX_SUBJECT_BYTES),
        outcome: outcome_name(r.outcome),
        detail: cut(r.detail, MAX_DETAIL_BYTES),
        latency_ns: r.latency_ns,
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
    }
}

/// Encodes one record at the end of `out`: as a `Repeat` of `last` when it matches, else in
/// full (and then it becomes `last`). With no `last`, always in full.
pub(crate) fn encode(
    record: &RecordRef<'_>,
    last: Option<&mut Last>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let wire = match last {
        Some(last) if last.matches(record) => {
            let delta = i64::try_from(record.unix_ms)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(last.unix_ms).unwrap_or(i64::MAX));
            last.unix_ms = last.unix_ms.saturating_add_signed(delta);
            WireRef::Repeat(Repeat {
                unix_ms_delta: delta,
                latency_ns: record.latency_ns,
                bytes_in: record.bytes_in,
                bytes_out: record.bytes_out,
            })
        }
        Some(last) => {
            last.set(record);
            WireRef::Full(*record)
        }
        None => WireRef::Full(*record),
    };
    // Written through `&mut Vec` (not `to_extend`, which moves the Vec in and out: measured
    // 30 ns of store-forwarding stalls a record).
    postcard::to_io(&wire, out)
        .map(|_| ())
        .map_err(|e| Error::Unavailable(format!("an audit record did not encode: {e}")))
}
