//! [`AuditLog`]: the open log, its buffered frame and the batches of gateway sessions, and
//! `flush` (write, fsync, advance the anchor).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::{Dir, File, OpenOptions, OpenOptionsExt as _};
use sandframe_core::{AuditBatch, AuditRecord, AuditSink, Error};

use super::anchor::{Anchor, Head};
use super::verify::{Verified, read, verify};
use super::wire::{Last, StoredRecord, encode, frame_mac, stored};
use super::{FRAME_BYTES, LOG_FILE, io};
use crate::GatewayError;

pub(crate) struct State {
    pub(crate) file: File,
    /// The open frame as it will be written: a length placeholder, then the body (which
    /// starts with its first sequence number).
    pub(crate) body: Vec<u8>,
    /// Records in the open frame.
    pub(crate) open_records: u64,
    pub(crate) next_seq: u64,
    /// The last frame written to the file (not necessarily synced or anchored).
    pub(crate) written: Head,
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
    /// Held by a flush from seal to anchor.
    pub(crate) flushing: Mutex<()>,
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
    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
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
