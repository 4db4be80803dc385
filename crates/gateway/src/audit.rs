//! The default [`AuditSink`]: an append-only log of MAC-chained frames whose key and latest
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
//! (frame count, record count, last MAC) as of the last [`AuditSink::flush`].
//!
//! ## What is guaranteed after a crash
//!
//! Records are buffered in memory (a gateway session's [`AuditBatch`] until its event ends,
//! then the log's open frame) and written as one frame when 64 KiB accumulate; `flush` writes
//! the partial frame, fsyncs the log, then advances the anchor. So after a crash:
//! every record recorded before the last `flush` returned is on disk and anchored; records
//! after it may be lost (still buffered), or present in frames past the anchored head (a valid
//! but *unanchored* tail, reported by [`verify`]), or cut mid-frame (a torn tail, reported and
//! cut off when the log is next opened). An attacker who can write the home but not the
//! anchor cannot edit, reorder, drop or forge anchored frames without [`verify`] saying so;
//! they can drop unanchored frames, which is the same loss a crash may cause.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::OpenOptionsExt as _;
use cap_std::fs::{Dir, File, OpenOptions};
use sandframe_core::{AuditBatch, AuditOutcome, AuditRecord, AuditSink, Error};
use serde::{Deserialize, Serialize};

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

const DOMAIN: &[u8] = b"sandframe audit frame v2";
const ANCHOR_MAGIC: &[u8; 8] = b"SFANCHR1";
const ANCHOR_BYTES: usize = 8 + 32 + 8 + 8 + 32;

/// Where a log stands: how many frames and records, and the last frame's MAC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Frames written.
    pub frames: u64,
    /// Records in those frames.
    pub records: u64,
    /// The last frame's MAC (zeros for an empty log).
    pub mac: [u8; 32],
}

/// Keeps the log's MAC key and its latest head somewhere the home's attacker cannot write.
pub trait Anchor: Send + Sync {
    /// The MAC key.
    fn key(&self) -> [u8; 32];
    /// The head as of the last flush.
    fn head(&self) -> Head;
    /// Records a new head, durably, before returning.
    ///
    /// # Errors
    /// When it cannot be stored; the log then reports its flush as failed.
    fn advance(&self, head: &Head) -> Result<(), GatewayError>;
}

/// An [`Anchor`] in one small file (mode 0600) that the embedder keeps outside the home;
/// created with a fresh random key on first use.
///
/// The file is `"SFANCHR1" ‖ key (32) ‖ frames (u64 LE) ‖ records (u64 LE) ‖ mac (32)`, and
/// is replaced atomically (temp file, fsync, rename, directory fsync).
pub struct FileAnchor {
    dir: Dir,
    name: String,
    key: [u8; 32],
    head: Mutex<Head>,
}

impl std::fmt::Debug for FileAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAnchor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl FileAnchor {
    /// Opens the anchor file at `path`, creating it (and its directory) if missing.
    ///
    /// # Errors
    /// [`GatewayError::Io`] if it cannot be read or created; [`GatewayError::Damaged`] if it
    /// is not an anchor file.
    pub fn open(path: &std::path::Path) -> Result<FileAnchor, GatewayError> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| GatewayError::Damaged(format!("{} is not a file path", path.display())))?
            .to_owned();
        std::fs::create_dir_all(parent).map_err(io("create the anchor's directory"))?;
        let dir = Dir::open_ambient_dir(parent, cap_std::ambient_authority())
            .map_err(io("open the anchor's directory"))?;
        match dir.read(&name) {
            Ok(bytes) => {
                let (key, head) = decode_anchor(&bytes).ok_or_else(|| {
                    GatewayError::Damaged(format!(
                        "{} is not a sandframe audit anchor; restore it from a backup",
                        path.display()
                    ))
                })?;
                Ok(FileAnchor {
                    dir,
                    name,
                    key,
                    head: Mutex::new(head),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| GatewayError::Io {
                    what: "generate an audit key",
                    source: std::io::Error::other(e.to_string()),
                })?;
                let anchor = FileAnchor {
                    dir,
                    name,
                    key,
                    head: Mutex::new(Head::default()),
                };
                anchor.write(&Head::default())?;
                Ok(anchor)
            }
            Err(e) => Err(io("read the audit anchor")(e)),
        }
    }

    fn write(&self, head: &Head) -> Result<(), GatewayError> {
        let mut bytes = Vec::with_capacity(ANCHOR_BYTES);
        bytes.extend_from_slice(ANCHOR_MAGIC);
        bytes.extend_from_slice(&self.key);
        bytes.extend_from_slice(&head.frames.to_le_bytes());
        bytes.extend_from_slice(&head.records.to_le_bytes());
        bytes.extend_from_slice(&head.mac);
        sandframe_durable::replace(&self.dir, &self.name, &bytes, 0o600)
            .map_err(io("write the anchor"))
    }
}

fn decode_anchor(bytes: &[u8]) -> Option<([u8; 32], Head)> {
    if bytes.len() != ANCHOR_BYTES || bytes.get(..8)? != ANCHOR_MAGIC {
        return None;
    }
    let key: [u8; 32] = bytes.get(8..40)?.try_into().ok()?;
    let frames = u64::from_le_bytes(bytes.get(40..48)?.try_into().ok()?);
    let records = u64::from_le_bytes(bytes.get(48..56)?.try_into().ok()?);
    let mac: [u8; 32] = bytes.get(56..88)?.try_into().ok()?;
    Some((
        key,
        Head {
            frames,
            records,
            mac,
        },
    ))
}

impl Anchor for FileAnchor {
    fn key(&self) -> [u8; 32] {
        self.key
    }
    fn head(&self) -> Head {
        self.head.lock().map(|h| *h).unwrap_or_default()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        self.write(head)?;
        if let Ok(mut h) = self.head.lock() {
            *h = *head;
        }
        Ok(())
    }
}

/// An [`Anchor`] in memory (tests, or an embedder that persists the head itself).
#[derive(Debug)]
pub struct MemoryAnchor {
    key: [u8; 32],
    head: Mutex<Head>,
}

impl MemoryAnchor {
    /// An anchor with `key` and an empty head.
    pub fn new(key: [u8; 32]) -> MemoryAnchor {
        MemoryAnchor {
            key,
            head: Mutex::new(Head::default()),
        }
    }
}

impl Anchor for MemoryAnchor {
    fn key(&self) -> [u8; 32] {
        self.key
    }
    fn head(&self) -> Head {
        self.head.lock().map(|h| *h).unwrap_or_default()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        *self
            .head
            .lock()
            .map_err(|_| GatewayError::Damaged("the anchor lock is poisoned".into()))? = *head;
        Ok(())
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> GatewayError {
    move |source| GatewayError::Io { what, source }
}

/// One audit record as stored (and as read back by [`read`]).
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
struct RecordRef<'a> {
    unix_ms: u64,
    app: &'a str,
    layer: &'static str,
    action: &'a str,
    subject: &'a str,
    capability: &'a str,
    outcome: &'static str,
    detail: &'a str,
    latency_ns: u64,
    bytes_in: u32,
    bytes_out: u32,
}

/// One record on the wire, as written.
#[derive(Serialize)]
enum WireRef<'a> {
    Full(RecordRef<'a>),
    Repeat(Repeat),
}

/// One record on the wire, as read.
#[derive(Deserialize)]
enum Wire {
    Full(StoredRecord),
    Repeat(Repeat),
}

/// A record equal to the one before it in its frame but for these fields.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Repeat {
    unix_ms_delta: i64,
    latency_ns: u64,
    bytes_in: u32,
    bytes_out: u32,
}

/// Decodes the next record of a frame body; `prev` is the record before it in the frame.
fn take_record<'b>(
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
struct Last {
    app: String,
    layer: &'static str,
    action: String,
    subject: String,
    capability: String,
    outcome: &'static str,
    detail: String,
    unix_ms: u64,
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

    fn set(&mut self, r: &RecordRef<'_>) {
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

fn frame_mac(key: &[u8; 32], prev: &[u8; 32], index: u64, body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(DOMAIN);
    h.update(prev);
    h.update(&index.to_le_bytes());
    h.update(&(body.len() as u32).to_le_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

struct State {
    file: File,
    /// The open frame as it will be written: a length placeholder, then the body (which
    /// starts with its first sequence number).
    body: Vec<u8>,
    /// Records in the open frame.
    open_records: u64,
    next_seq: u64,
    /// The last frame written to the file (not necessarily synced or anchored).
    written: Head,
    clock: WallClock,
}

/// The tamper-evident audit log (see the module documentation for its format and crash
/// guarantees).
pub struct AuditLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    state: Mutex<State>,
    anchor: Arc<dyn Anchor>,
    key: [u8; 32],
    /// Set when a write failed: the log refuses further records until reopened.
    broken: AtomicBool,
    /// Held by a flush from seal to anchor.
    flushing: Mutex<()>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) `audit.log` in `dir`, checking what is there against `anchor`.
    ///
    /// A torn frame at the end (a crash mid-write) is cut off; unanchored but valid frames
    /// are kept and the chain continues from them.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] if the log fails verification: sandframe will not append to
    /// a log it cannot vouch for; keep it as evidence, move it aside and start a new one with a
    /// new anchor. [`GatewayError::Io`] if the file cannot be read or opened.
    pub fn open(dir: &Dir, anchor: Arc<dyn Anchor>) -> Result<AuditLog, GatewayError> {
        let key = anchor.key();
        let bytes = match dir.read(LOG_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("read the audit log")(e)),
        };
        let summary = verify(&bytes, &key, &anchor.head()).map_err(GatewayError::Tampered)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).mode(0o600);
        let file = dir
            .open_with(LOG_FILE, &options)
            .map_err(io("open the audit log"))?;
        if summary.torn_tail_bytes > 0 {
            file.set_len(summary.valid_bytes)
                .map_err(io("cut a torn frame off the audit log"))?;
        }
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(summary.valid_bytes))
            .map_err(io("seek to the end of the audit log"))?;
        let written = summary.head;
        let mut body = Vec::with_capacity(FRAME_BYTES + 1024);
        body.extend_from_slice(&[0; 4]); // the frame's length, filled in when sealed
        body.extend_from_slice(&written.records.to_le_bytes());
        Ok(AuditLog {
            inner: Arc::new(LogInner {
                state: Mutex::new(State {
                    file,
                    body,
                    open_records: 0,
                    next_seq: written.records,
                    written,
                    clock: WallClock::now(),
                }),
                anchor,
                key,
                broken: AtomicBool::new(false),
                flushing: Mutex::new(()),
            }),
        })
    }

    /// Verifies the log as it is on disk now against the anchor.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] with what was found; [`GatewayError::Io`].
    pub fn verify_file(dir: &Dir, anchor: &dyn Anchor) -> Result<Verified, GatewayError> {
        let bytes = match dir.read(LOG_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("read the audit log")(e)),
        };
        verify(&bytes, &anchor.key(), &anchor.head()).map_err(GatewayError::Tampered)
    }

    /// Verifies the log as it is on disk now against the anchor and decodes its records.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] with what was found; [`GatewayError::Io`].
    pub fn read_file(dir: &Dir, anchor: &dyn Anchor) -> Result<Vec<StoredRecord>, GatewayError> {
        let bytes = match dir.read(LOG_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("read the audit log")(e)),
        };
        read(&bytes, &anchor.key(), &anchor.head()).map_err(GatewayError::Tampered)
    }
}

/// Wall-clock milliseconds from the monotonic clock: a wall-clock base re-read at every frame
/// plus the monotonic progress since (one clock read a record).
#[derive(Clone, Copy)]
struct WallClock {
    base_ms: u64,
    base: std::time::Instant,
}

impl WallClock {
    fn now() -> WallClock {
        WallClock {
            base_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            base: std::time::Instant::now(),
        }
    }

    fn unix_ms(&self) -> u64 {
        let since = std::time::Instant::now().duration_since(self.base);
        self.base_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

impl LogInner {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::Unavailable(
                "the audit log failed earlier; restart the host".into(),
            ));
        }
        self.state
            .lock()
            .map_err(|_| Error::Unavailable("the audit log lock is poisoned".into()))
    }

    /// Writes the open frame (if it holds records) to the file.
    fn seal(&self, s: &mut State) -> Result<(), Error> {
        if s.open_records == 0 {
            return Ok(());
        }
        let index = s.written.frames;
        // The open frame is kept as it goes to disk: 4 bytes for the length, the body, and
        // the MAC appended here, so sealing copies nothing.
        let body_len = s.body.len().saturating_sub(4);
        let mac = frame_mac(
            &self.key,
            &s.written.mac,
            index,
            s.body.get(4..).unwrap_or_default(),
        );
        if let Some(len) = s.body.get_mut(..4) {
            len.copy_from_slice(&(body_len as u32).to_le_bytes());
        }
        s.body.extend_from_slice(&mac);
        if let Err(e) = s.file.write_all(&s.body) {
            self.broken.store(true, Ordering::Release);
            return Err(Error::Unavailable(format!(
                "the audit log cannot be written ({e}); free disk space and restart the host"
            )));
        }
        s.written = Head {
            frames: index + 1,
            records: s.written.records + s.open_records,
            mac,
        };
        s.body.clear();
        s.body.extend_from_slice(&[0; 4]);
        s.body.extend_from_slice(&s.next_seq.to_le_bytes());
        s.open_records = 0;
        s.clock = WallClock::now();
        Ok(())
    }

    /// Appends `count` encoded records to the open frame, sealing it when full.
    fn append(&self, encoded: &[u8], count: u64) -> Result<(), Error> {
        let mut s = self.lock()?;
        s.body.extend_from_slice(encoded);
        s.open_records += count;
        s.next_seq += count;
        if s.body.len() >= FRAME_BYTES {
            self.seal(&mut s)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        // One flush at a time, from seal to anchor: two racing flushes must not let the older
        // head reach the anchor last (the anchor would then vouch for less than was synced).
        let _one = self
            .flushing
            .lock()
            .map_err(|_| Error::Unavailable("the audit log lock is poisoned".into()))?;
        let head = {
            let mut s = self.lock()?;
            self.seal(&mut s)?;
            if let Err(e) = s.file.sync_data() {
                self.broken.store(true, Ordering::Release);
                return Err(Error::Unavailable(format!(
                    "the audit log cannot be synced ({e}); restart the host"
                )));
            }
            s.written
        };
        if head.frames > self.anchor.head().frames {
            self.anchor
                .advance(&head)
                .map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

/// The stored form of `r` (cut to the log's field limits).
fn stored<'a>(r: &AuditRecord<'a>, clock: &WallClock) -> RecordRef<'a> {
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
fn encode(record: &RecordRef<'_>, last: Option<&mut Last>, out: &mut Vec<u8>) -> Result<(), Error> {
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

impl AuditSink for AuditLog {
    fn record(&self, r: &AuditRecord<'_>) -> Result<(), Error> {
        let mut s = self.inner.lock()?;
        let record = stored(r, &s.clock);
        encode(&record, None, &mut s.body)?;
        s.open_records += 1;
        s.next_seq += 1;
        if s.body.len() >= FRAME_BYTES {
            self.inner.seal(&mut s)?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        self.inner.flush()
    }

    fn batch(&self) -> Option<Box<dyn AuditBatch>> {
        Some(Box::new(LogBatch {
            inner: Arc::clone(&self.inner),
            encoded: Vec::with_capacity(BATCH_BYTES + 512),
            count: 0,
            clock: WallClock::now(),
            last: Last::default(),
            fresh: true,
        }))
    }
}

/// Records encoded on the caller's thread, appended to the log under one lock at `commit`
/// (or once 16 KiB gather). Dropping a batch commits it.
struct LogBatch {
    inner: Arc<LogInner>,
    encoded: Vec<u8>,
    count: u64,
    clock: WallClock,
    /// The batch's last record (a batch is appended whole, so it is also the previous record
    /// in the frame), unless `fresh`.
    last: Last,
    /// No record since the last commit: the next is written in full.
    fresh: bool,
}

/// A batch commits itself once this many bytes gather.
const BATCH_BYTES: usize = 16 << 10;

impl AuditBatch for LogBatch {
    fn record(&mut self, r: &AuditRecord<'_>) -> Result<(), Error> {
        if self.inner.broken.load(Ordering::Acquire) {
            return Err(Error::Unavailable(
                "the audit log failed earlier; restart the host".into(),
            ));
        }
        let record = stored(r, &self.clock);
        if self.fresh {
            // A batch's first record is always full.
            self.fresh = false;
            self.last.set(&record);
            encode(&record, None, &mut self.encoded)?;
        } else {
            encode(&record, Some(&mut self.last), &mut self.encoded)?;
        }
        self.count += 1;
        if self.encoded.len() >= BATCH_BYTES {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), Error> {
        if self.count == 0 {
            return Ok(());
        }
        let appended = self.inner.append(&self.encoded, self.count);
        self.encoded.clear();
        self.count = 0;
        // The next batch may land after other records: it starts in full.
        self.fresh = true;
        self.clock = WallClock::now();
        appended
    }
}

impl Drop for LogBatch {
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.inner.flush();
    }
}

/// What [`verify`] found in a log that checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The head of every valid frame (anchored or not).
    pub head: Head,
    /// Valid frames past the anchored head (written, not yet anchored when the host stopped).
    pub unanchored_frames: u64,
    /// Bytes of a torn last frame (a crash mid-write), to be cut off.
    pub torn_tail_bytes: u64,
    /// Bytes of valid frames.
    pub valid_bytes: u64,
}

/// Why a log failed verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Tampering {
    /// A frame's MAC is wrong: it was edited, reordered, or chained with another key.
    #[error(
        "audit frame {frame} (at byte {offset}) fails its MAC: the log was edited, reordered or written with another key"
    )]
    BadFrame {
        /// The frame's index.
        frame: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// A frame declares an impossible length.
    #[error("audit frame {frame} (at byte {offset}) is malformed")]
    Malformed {
        /// The frame's index.
        frame: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// The log is shorter than its anchor says, or its anchored frame is not the one there.
    #[error(
        "the audit log was cut short or replaced: the anchor holds {anchored} frames, the log {found} valid ones"
    )]
    Truncated {
        /// Frames the anchor vouches for.
        anchored: u64,
        /// Valid frames found.
        found: u64,
    },
}

/// Verifies a whole log against `key` and the anchored `head`.
///
/// # Errors
/// The first [`Tampering`] found.
pub fn verify(log: &[u8], key: &[u8; 32], head: &Head) -> Result<Verified, Tampering> {
    walk(log, key, head, |_| Ok(()))
}

/// Verifies a log (as [`verify`]) and decodes its records, anchored and unanchored.
///
/// # Errors
/// The first [`Tampering`] found, or [`Tampering::Malformed`] for a frame whose MAC checks
/// out but whose records do not decode (a bug, never an attack).
pub fn read(log: &[u8], key: &[u8; 32], head: &Head) -> Result<Vec<StoredRecord>, Tampering> {
    let mut out = Vec::new();
    let mut frame = 0u64;
    walk(log, key, head, |body| {
        let bad = Tampering::Malformed { frame, offset: 0 };
        let first_seq = body
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or(bad.clone())?;
        let mut rest = body.get(8..).ok_or(bad.clone())?;
        let in_frame = out.len();
        let mut seq = first_seq;
        while !rest.is_empty() {
            let prev = out.get(in_frame..).and_then(<[StoredRecord]>::last);
            let (mut r, tail) = take_record(rest, prev).ok_or(bad.clone())?;
            r.seq = seq;
            seq += 1;
            out.push(r);
            rest = tail;
        }
        frame += 1;
        Ok(())
    })?;
    Ok(out)
}

fn walk(
    log: &[u8],
    key: &[u8; 32],
    head: &Head,
    mut each: impl FnMut(&[u8]) -> Result<(), Tampering>,
) -> Result<Verified, Tampering> {
    let mut at = 0usize;
    let mut found = Head::default();
    let mut anchored_seen = head.frames == 0;
    let mut torn = 0u64;
    while at < log.len() {
        let offset = at as u64;
        let malformed = Tampering::Malformed {
            frame: found.frames,
            offset,
        };
        let Some(len) = log
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
        else {
            torn = (log.len() - at) as u64;
            break;
        };
        let past_anchor = found.frames >= head.frames;
        if !(8..=MAX_FRAME_BYTES).contains(&len) {
            if past_anchor {
                // Unanchored bytes that do not parse: crash debris (e.g. a zero-filled tail).
                torn = (log.len() - at) as u64;
                break;
            }
            return Err(malformed);
        }
        let end = at + 4 + len as usize + 32;
        let (Some(body), Some(mac)) = (
            log.get(at + 4..at + 4 + len as usize),
            log.get(end - 32..end),
        ) else {
            torn = (log.len() - at) as u64;
            break;
        };
        let expected = frame_mac(key, &found.mac, found.frames, body);
        // Constant-time comparison.
        // Constant-time comparison.
        if blake3::Hash::from(expected) != blake3::Hash::from_slice(mac).map_err(|_| malformed)? {
            if past_anchor {
                // Past the anchor nothing is vouched for: a frame that does not check out
                // there is treated like a torn write and cut off, never trusted.
                torn = (log.len() - at) as u64;
                break;
            }
            return Err(Tampering::BadFrame {
                frame: found.frames,
                offset,
            });
        }

        each(body)?;
        let first_seq = body
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or_default();
        if first_seq != found.records {
            // MAC'd, so ours: records were lost between frames only if a write failed midway.
            return Err(Tampering::Malformed {
                frame: found.frames,
                offset,
            });
        }
        found.frames += 1;
        found.records = first_seq + count_records(body);
        found.mac = expected;
        if found.frames == head.frames {
            if found.mac != head.mac {
                return Err(Tampering::Truncated {
                    anchored: head.frames,
                    found: found.frames,
                });
            }
            anchored_seen = true;
        }
        at = end;
    }
    if !anchored_seen || found.frames < head.frames {
        return Err(Tampering::Truncated {
            anchored: head.frames,
            found: found.frames,
        });
    }
    Ok(Verified {
        head: found,
        unanchored_frames: found.frames - head.frames,
        torn_tail_bytes: torn,
        valid_bytes: at as u64,
    })
}

/// Records in a MAC-checked body (counted by decoding; 0 if they do not decode).
fn count_records(body: &[u8]) -> u64 {
    let mut rest = body.get(8..).unwrap_or_default();
    let mut n = 0;
    let mut prev = None;
    while !rest.is_empty() {
        match take_record(rest, prev.as_ref()) {
            Some((r, tail)) => {
                rest = tail;
                prev = Some(r);
                n += 1;
            }
            None => break,
        }
    }
    n
}
