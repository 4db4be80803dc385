//! [`AuditLog`]: the open log, its buffered frame and the batches of gateway sessions, and
//! `flush` (write, fsync, advance the anchor).
//!
//! Several processes may share one log (a `sandframe dev` and a `sandframe install` on one
//! home). Every write to the file, and every anchor advance, happens under the home's
//! [`HomeLock`], after reading again what the others appended and where the anchor stands:
//! a frame is numbered, chained and placed after the last frame on disk, never after the
//! last one this process wrote. Lock order: the home lock before the log's state lock.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, File, OpenOptions, OpenOptionsExt as _};
use sandframe_core::{AuditBatch, AuditRecord, AuditSink, Error};

use super::anchor::{Anchor, Head};
use sandframe_durable::HomeLock;

use super::verify::{Verified, continue_from, read, verify};
use super::wire::{Last, StoredRecord, encode, frame_mac, stored};
use super::{FRAME_BYTES, LOG_FILE, MAX_FRAME_BYTES, io};
use crate::GatewayError;

pub(crate) struct State {
    pub(crate) file: File,
    /// The open frame as it will be written: a length placeholder, then the body (which
    /// starts with its first sequence number).
    pub(crate) body: Vec<u8>,
    /// Records in the open frame.
    pub(crate) open_records: u64,
    pub(crate) next_seq: u64,
    /// The last frame in the file as this process last saw it (not necessarily synced or
    /// anchored), and the byte offset just past it.
    pub(crate) written: Head,
    pub(crate) end: u64,
    pub(crate) clock: WallClock,
}

/// The tamper-evident audit log (see the module documentation for its format and crash
/// guarantees).
pub struct AuditLog {
    inner: Arc<LogInner>,
}

pub(crate) struct LogInner {
    pub(crate) state: Mutex<State>,
    pub(crate) anchor: Arc<dyn Anchor>,
    pub(crate) key: [u8; 32],
    /// Set when a write failed: the log refuses further records until reopened.
    pub(crate) broken: AtomicBool,
    /// The home's lock, held around every write to the file and the anchor.
    pub(crate) lock: HomeLock,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) `audit.log` in `dir`, checking what is there against `anchor`,
    /// with a [`HomeLock`] of its own on `dir` (a host passes the home's one lock to
    /// [`AuditLog::open_locked`] instead).
    ///
    /// # Errors
    /// As [`AuditLog::open_locked`]; [`GatewayError::Io`] if `dir` cannot be opened again for
    /// its lock.
    pub fn open(dir: &Dir, anchor: Arc<dyn Anchor>) -> Result<AuditLog, GatewayError> {
        let lock = HomeLock::open(dir, "the audit log's directory")
            .map_err(io("open the audit log's directory for its lock"))?;
        AuditLog::open_locked(dir, anchor, lock)
    }

    /// Opens (or creates) `audit.log` in `dir`, checking what is there against `anchor`;
    /// `lock` is the home's lock, which every process writing this log takes.
    ///
    /// A torn frame at the end (a crash mid-write) is cut off; unanchored but valid frames
    /// are kept and the chain continues from them.
    ///
    /// # Errors
    /// [`GatewayError::Tampered`] if the log fails verification: sandframe will not append to
    /// a log it cannot vouch for; keep it as evidence, move it aside and start a new one with a
    /// new anchor (a [`FileAnchor`](super::FileAnchor)'s secret file stays: the home's keys
    /// do not change). [`GatewayError::Io`] if the file cannot be read or opened, or the lock not
    /// taken.
    pub fn open_locked(
        dir: &Dir,
        anchor: Arc<dyn Anchor>,
        lock: HomeLock,
    ) -> Result<AuditLog, GatewayError> {
        let key = anchor.key();
        let held = lock.hold().map_err(io("take the home lock"))?;
        let anchored = anchor.reload()?;
        let bytes = match dir.read(LOG_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("read the audit log")(e)),
        };
        let summary = verify(&bytes, &key, &anchored).map_err(GatewayError::Tampered)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).mode(0o600);
        let file = dir
            .open_with(LOG_FILE, &options)
            .map_err(io("open the audit log"))?;
        if summary.torn_tail_bytes > 0 {
            file.set_len(summary.valid_bytes)
                .map_err(io("cut a torn frame off the audit log"))?;
        }
        drop(held);
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
                    end: summary.valid_bytes,
                    clock: WallClock::now(),
                }),
                anchor,
                key,
                broken: AtomicBool::new(false),
                lock,
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

/// Whether an open frame of `body_len` bytes (its 4-byte length included) is past what a
/// frame may declare: records that would take it there are refused, not buffered, so a frame
/// that could not be sealed for a while (the home lock held elsewhere) never grows into one
/// that no reader accepts.
fn over_cap(body_len: usize) -> bool {
    body_len.saturating_sub(4) > MAX_FRAME_BYTES as usize
}

fn unsealed() -> Error {
    Error::Unavailable(
        "the audit log's open frame is full and cannot be written yet (another process holds the home lock); retry later".into(),
    )
}

/// Wall-clock milliseconds from the monotonic clock: a wall-clock base re-read at every frame
/// plus the monotonic progress since (one clock read a record).
#[derive(Clone, Copy)]
pub(crate) struct WallClock {
    pub(crate) base_ms: u64,
    pub(crate) base: std::time::Instant,
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

    pub(crate) fn unix_ms(&self) -> u64 {
        let since = std::time::Instant::now().duration_since(self.base);
        self.base_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

impl LogInner {
    pub(crate) fn lock_state(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        if self.broken.load(Ordering::Acquire) {
            return Err(Error::Unavailable(
                "the audit log failed earlier; restart the host".into(),
            ));
        }
        self.state
            .lock()
            .map_err(|_| Error::Unavailable("the audit log lock is poisoned".into()))
    }

    /// Marks the log broken (it refuses records until reopened) and says why.
    fn fail(&self, why: String) -> Error {
        self.broken.store(true, Ordering::Release);
        Error::Unavailable(why)
    }

    /// Reads what other processes appended to the file since this one last looked, and moves
    /// `written` and `end` past it. The home lock must be held. A torn frame at the end (a
    /// holder killed mid-write) is cut off; a file shorter than before, or frames that fail
    /// their MAC within what the anchor vouches for, break the log.
    fn catch_up(&self, s: &mut State) -> Result<(), Error> {
        use std::io::{Read as _, Seek as _};
        let len = s
            .file
            .metadata()
            .map_err(|e| {
                self.fail(format!(
                    "the audit log cannot be read ({e}); restart the host"
                ))
            })?
            .len();
        if len == s.end {
            return Ok(());
        }
        if len < s.end {
            return Err(self.fail(format!(
                "the audit log was cut short while open (from {} to {len} bytes); run `sandframe audit --verify`",
                s.end
            )));
        }
        let anchored = self.anchor.reload().map_err(|e| self.fail(e.to_string()))?;
        let mut tail = Vec::new();
        s.file
            .seek(std::io::SeekFrom::Start(s.end))
            .and_then(|_| s.file.read_to_end(&mut tail))
            .map_err(|e| {
                self.fail(format!(
                    "the audit log cannot be read ({e}); restart the host"
                ))
            })?;
        let seen = continue_from(&tail, &s.written, &self.key, &anchored)
            .map_err(|t| self.fail(GatewayError::Tampered(t).to_string()))?;
        s.written = seen.head;
        s.end += seen.valid_bytes;
        if seen.torn_tail_bytes > 0 {
            s.file.set_len(s.end).map_err(|e| {
                self.fail(format!(
                    "a torn frame cannot be cut off the audit log ({e})"
                ))
            })?;
        }
        Ok(())
    }

    /// Writes the open frame (if it holds records) to the file, after the last frame on
    /// disk. The home lock must be held.
    fn seal(&self, s: &mut State) -> Result<(), Error> {
        use std::io::Seek as _;
        if s.open_records == 0 {
            return Ok(());
        }
        self.catch_up(s)?;
        let index = s.written.frames;
        // Another process may have written records since this frame was opened: it starts
        // where the file's records end.
        let first_seq = s.written.records;
        if let Some(seq) = s.body.get_mut(4..12) {
            seq.copy_from_slice(&first_seq.to_le_bytes());
        }
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
        let end = s.end;
        let State { file, body, .. } = &mut *s;
        if let Err(e) = file
            .seek(std::io::SeekFrom::Start(end))
            .and_then(|_| file.write_all(body))
        {
            return Err(self.fail(format!(
                "the audit log cannot be written ({e}); free disk space and restart the host"
            )));
        }
        s.end += s.body.len() as u64;
        s.written = Head {
            frames: index + 1,
            records: first_seq + s.open_records,
            mac,
        };
        s.next_seq = s.written.records;
        s.body.clear();
        s.body.extend_from_slice(&[0; 4]);
        s.body.extend_from_slice(&s.next_seq.to_le_bytes());
        s.open_records = 0;
        s.clock = WallClock::now();
        Ok(())
    }

    /// Seals the open frame if it is full, taking the home lock first (lock order: the
    /// home lock, then the state).
    ///
    /// The records are in the open frame already, and this runs on a guest's call: it never
    /// waits for the lock. If another thread or process holds it, the records stay in the
    /// frame, and a later record or the next flush seals them; only a log that failed to
    /// write refuses them.
    fn seal_if_full(&self) -> Result<(), Error> {
        let sealed = (|| {
            let Some(_held) = self
                .lock
                .try_hold()
                .map_err(|e| Error::Unavailable(format!("the home lock cannot be taken: {e}")))?
            else {
                return Ok(());
            };
            let mut s = self.lock_state()?;
            if s.body.len() >= FRAME_BYTES {
                self.seal(&mut s)?;
            }
            Ok(())
        })();
        match sealed {
            Err(e) if self.broken.load(Ordering::Acquire) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "an audit frame waits to be written");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Appends `count` encoded records to the open frame, sealing it when full.
    fn append(&self, encoded: &[u8], count: u64) -> Result<(), Error> {
        let full = {
            let mut s = self.lock_state()?;
            if over_cap(s.body.len() + encoded.len()) {
                return Err(unsealed());
            }
            s.body.extend_from_slice(encoded);
            s.open_records += count;
            s.next_seq += count;
            s.body.len() >= FRAME_BYTES
        };
        if full { self.seal_if_full() } else { Ok(()) }
    }

    fn flush(&self) -> Result<(), Error> {
        // One flush at a time, across threads and processes, from seal to anchor: a racing
        // flush must not let an older head reach the anchor last (the anchor would then vouch
        // for less than was synced), nor two processes chain frames onto the same one.
        let _held = self
            .lock
            .hold()
            .map_err(|e| Error::Unavailable(format!("the home lock cannot be taken: {e}")))?;
        let head = {
            let mut s = self.lock_state()?;
            self.seal(&mut s)?;
            if let Err(e) = s.file.sync_data() {
                return Err(self.fail(format!(
                    "the audit log cannot be synced ({e}); restart the host"
                )));
            }
            s.written
        };
        let anchored = self
            .anchor
            .reload()
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        if head.frames > anchored.frames {
            self.anchor
                .advance(&head)
                .map_err(|e| Error::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

impl AuditSink for AuditLog {
    fn record(&self, r: &AuditRecord<'_>) -> Result<(), Error> {
        let full = {
            let mut s = self.inner.lock_state()?;
            let before = s.body.len();
            let record = stored(r, &s.clock);
            encode(&record, None, &mut s.body)?;
            if over_cap(s.body.len()) {
                s.body.truncate(before);
                return Err(unsealed());
            }
            s.open_records += 1;
            s.next_seq += 1;
            s.body.len() >= FRAME_BYTES
        };
        if full {
            self.inner.seal_if_full()
        } else {
            Ok(())
        }
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
pub(crate) struct LogBatch {
    pub(crate) inner: Arc<LogInner>,
    pub(crate) encoded: Vec<u8>,
    pub(crate) count: u64,
    pub(crate) clock: WallClock,
    /// The batch's last record (a batch is appended whole, so it is also the previous record
    /// in the frame), unless `fresh`.
    pub(crate) last: Last,
    /// No record since the last commit: the next is written in full.
    pub(crate) fresh: bool,
}

/// A batch commits itself once this many bytes gather.
pub(crate) const BATCH_BYTES: usize = 16 << 10;

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
