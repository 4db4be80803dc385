//! [`SealedState`]: the home's security state (install records, grants, quarantines, the
//! seals of the trust files) in one file, `home.state`, whose every change is MAC-chained and
//! committed by one write of the [`Anchor`], outside the home.
//!
//! ## Format (also in `docs/format.md`)
//!
//! `"SFSTATE1"`, then frames, each `len (u32 LE) ‖ body (len bytes) ‖ mac (32 bytes)`:
//!
//! - the first is a **snapshot**, the state as of change `seq` (postcard: `seq`, `chain` (32
//!   bytes, the chained MAC of change `seq`, zeros for 0), then every `(kind, name, value)`
//!   sorted), with `mac = keyed_hash(key, "sandframe home state snapshot v1" ‖ len ‖ body)`;
//! - each later one is a **change** (postcard: `seq`, then its `(kind, name, value or none)`
//!   items), with `mac = keyed_hash(key, "sandframe home state change v1" ‖ chain ‖ len ‖
//!   body)`, where `chain` is the MAC of change `seq - 1` (or the snapshot's `chain`); the MAC
//!   is change `seq`'s `chain`.
//!
//! The anchor holds the `(seq, chain)` of the last committed change ([`StateHead`]).
//!
//! ## Commit, crash and tamper
//!
//! A change, under the home lock: read what other processes committed since (the anchor, then
//! the frames appended after what this process read), truncate the file to the committed end,
//! append one change frame, fsync, then advance the anchor. The anchor write is the commit
//! point. Opening reads up to the frame whose `(seq, chain)` the anchor holds and cuts off the
//! one frame a process that crashed before its anchor write may have left: that change did not
//! happen (its caller never heard it did). More than one frame past the head means the anchor
//! is behind the file (replaced, or put back), and is refused. A file that never reaches the
//! anchored head was edited, truncated, replaced or put back to an older copy, and is refused
//! as a whole: nothing in it is read. A missing file is refused too once the anchor has seen a
//! change. The MAC key is bound to the anchor's audit key as well, so a new anchor cannot
//! vouch for the state an old one committed.
//!
//! When the changes since the snapshot outnumber the values (and at least 256), the file is
//! rewritten as one snapshot at the anchored head (temp file, fsync, rename): the anchor does
//! not move, so the rewrite needs no commit of its own and a crash during it loses nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use sandframe_core::{Error, HomeState, StateChange};
use sandframe_durable::HomeLock;
use serde::{Deserialize, Serialize};

use crate::GatewayError;
use crate::audit::{Anchor, StateHead};

/// The state's file name in the home.
pub const STATE_FILE: &str = "home.state";
/// Largest value kept, in bytes.
pub const MAX_STATE_VALUE_BYTES: usize = 1 << 20;
/// Largest frame a reader accepts (a snapshot of a very large home), in bytes.
const MAX_FRAME: u32 = 256 << 20;
const MAGIC: &[u8; 8] = b"SFSTATE1";
const SNAPSHOT_DOMAIN: &[u8] = b"sandframe home state snapshot v1";
const CHANGE_DOMAIN: &[u8] = b"sandframe home state change v1";
/// Largest state file read, in bytes (a larger one is refused, not read into memory).
const MAX_FILE: u64 = 1 << 30;
/// Changes since the snapshot before a rewrite, at the least.
const COMPACT_AFTER: u64 = 256;

type Values = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    chain: [u8; 32],
    items: Vec<(String, String, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct Change {
    seq: u64,
    items: Vec<(String, String, Option<Vec<u8>>)>,
}

/// What this process knows of the file.
struct Known {
    values: Values,
    head: StateHead,
    /// Bytes of the file up to and including the anchored change.
    end: u64,
    /// Changes since the snapshot.
    changes: u64,
    /// Values in the state (for the rewrite's threshold).
    count: u64,
    /// A write failed part-way: read the file again before the next change.
    stale: bool,
}

/// The home's sealed state (see the module documentation).
pub struct SealedState {
    dir: Dir,
    anchor: Arc<dyn Anchor>,
    key: [u8; 32],
    lock: HomeLock,
    known: Mutex<Known>,
}

impl std::fmt::Debug for SealedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedState").finish_non_exhaustive()
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> GatewayError {
    move |source| GatewayError::Io { what, source }
}

fn tampered(why: &str) -> GatewayError {
    GatewayError::StateTampered(format!(
        "{STATE_FILE} {why}: it was edited, removed or put back to an older copy by something other than sandframe, so none of it is trusted (no grant, pin or quarantine in it is read). Restore the home and its anchor together from one backup, or keep this home as evidence and start a new one"
    ))
}

fn mac(key: &[u8; 32], domain: &[u8], chain: Option<&[u8; 32]>, len: u32, body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(domain);
    if let Some(c) = chain {
        h.update(c);
    }
    h.update(&len.to_le_bytes());
    h.update(body);
    *h.finalize().as_bytes()
}

/// One frame at `at`: its body and MAC, and the offset past it; `None` if cut short.
fn frame(bytes: &[u8], at: usize) -> Option<(&[u8], [u8; 32], usize)> {
    let len = u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?);
    if len > MAX_FRAME {
        return None;
    }
    let body_at = at + 4;
    let mac_at = body_at.checked_add(len as usize)?;
    let body = bytes.get(body_at..mac_at)?;
    let mac: [u8; 32] = bytes
        .get(mac_at..mac_at.checked_add(32)?)?
        .try_into()
        .ok()?;
    Some((body, mac, mac_at + 32))
}

fn apply(values: &mut Values, kind: String, name: String, value: Option<Vec<u8>>) {
    match value {
        Some(v) => {
            values.entry(kind).or_default().insert(name, v);
        }
        None => {
            if let Some(k) = values.get_mut(&kind) {
                k.remove(&name);
                if k.is_empty() {
                    values.remove(&kind);
                }
            }
        }
    }
}

fn count(values: &Values) -> u64 {
    values.values().map(|k| k.len() as u64).sum()
}

/// Reads the change frames in `bytes` (the file from offset `base` on) from `at`, continuing
/// `known`, up to the anchored head, and applies them only once it is reached: a walk that
/// fails part-way leaves `known` as it was. Returns whether the head was reached.
fn follow(
    bytes: &[u8],
    base: u64,
    at: usize,
    key: &[u8; 32],
    known: &mut Known,
    anchored: &StateHead,
) -> bool {
    let mut at = at;
    let mut head = known.head;
    let mut changes = Vec::new();
    while head != *anchored {
        let Some((body, got, next)) = frame(bytes, at) else {
            return false;
        };
        let len = body.len() as u32;
        if mac(key, CHANGE_DOMAIN, Some(&head.mac), len, body) != got {
            return false;
        }
        let Ok(change) = postcard::from_bytes::<Change>(body) else {
            return false;
        };
        if Some(change.seq) != head.seq.checked_add(1) {
            return false;
        }
        head = StateHead {
            seq: change.seq,
            mac: got,
        };
        changes.push(change);
        at = next;
    }
    known.changes += changes.len() as u64;
    for change in changes {
        for (kind, name, value) in change.items {
            apply(&mut known.values, kind, name, value);
        }
    }
    known.head = head;
    known.end = base + at as u64;
    known.count = count(&known.values);
    true
}

/// The whole file read against the anchored head.
fn parse(bytes: &[u8], key: &[u8; 32], anchored: &StateHead) -> Result<Known, GatewayError> {
    if bytes.get(..8) != Some(&MAGIC[..]) {
        return Err(tampered("is not a sandframe state file"));
    }
    let Some((body, got, next)) = frame(bytes, 8) else {
        return Err(tampered("is cut short"));
    };
    if mac(key, SNAPSHOT_DOMAIN, None, body.len() as u32, body) != got {
        return Err(tampered("fails its MAC"));
    }
    let snapshot: Snapshot =
        postcard::from_bytes(body).map_err(|_| tampered("is not a sandframe state file"))?;
    if snapshot.seq > anchored.seq {
        return Err(tampered("is ahead of its anchor"));
    }
    let mut values = Values::new();
    for (kind, name, value) in snapshot.items {
        apply(&mut values, kind, name, Some(value));
    }
    let mut known = Known {
        values,
        head: StateHead {
            seq: snapshot.seq,
            mac: snapshot.chain,
        },
        end: next as u64,
        changes: 0,
        count: 0,
        stale: false,
    };
    if follow(bytes, 0, next, key, &mut known, anchored) {
        Ok(known)
    } else {
        Err(tampered(&format!(
            "does not reach the change its anchor vouches for (number {})",
            anchored.seq
        )))
    }
}

fn snapshot_file(
    key: &[u8; 32],
    head: &StateHead,
    values: &Values,
) -> Result<Vec<u8>, GatewayError> {
    let snapshot = Snapshot {
        seq: head.seq,
        chain: head.mac,
        items: values
            .iter()
            .flat_map(|(kind, names)| {
                names
                    .iter()
                    .map(move |(name, v)| (kind.clone(), name.clone(), v.clone()))
            })
            .collect(),
    };
    let body = postcard::to_allocvec(&snapshot).map_err(|e| GatewayError::Io {
        what: "encode the home state",
        source: std::io::Error::other(e),
    })?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| GatewayError::Damaged("the home state is too large to keep".into()))?;
    let mut file = Vec::with_capacity(body.len() + 44);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(&body);
    file.extend_from_slice(&mac(key, SNAPSHOT_DOMAIN, None, len, &body));
    Ok(file)
}

impl SealedState {
    /// Opens the state in `dir` (the home), checked against `anchor`'s state head, under
    /// `lock` (the home's). `key` MACs it: derive it from the anchor's root secret for this
    /// purpose alone. A new home's state (no file, an anchor that has seen no change) starts
    /// empty.
    ///
    /// # Errors
    /// [`GatewayError::StateTampered`] if the file does not reach the anchored head, or is
    /// missing after the anchor saw a change; I/O errors.
    pub fn open(
        dir: &Dir,
        anchor: Arc<dyn Anchor>,
        key: [u8; 32],
        lock: HomeLock,
    ) -> Result<SealedState, GatewayError> {
        let dir = dir.try_clone().map_err(io("open the home for its state"))?;
        // Bound to this anchor: a new anchor (a new audit key) cannot vouch for the state an
        // old one committed, so that state is refused, never read as a fresh one.
        let mut bound = blake3::Hasher::new_derive_key("sandframe 2026-12 home state, one anchor");
        bound.update(&key);
        bound.update(&anchor.key());
        let key = *bound.finalize().as_bytes();
        let state = SealedState {
            dir,
            anchor,
            key,
            lock,
            known: Mutex::new(Known {
                values: Values::new(),
                head: StateHead::default(),
                end: 0,
                changes: 0,
                count: 0,
                stale: true,
            }),
        };
        {
            let _held = state.lock.hold().map_err(io("take the home lock"))?;
            let mut known = state.known()?;
            state.read_all(&mut known)?;
        }
        Ok(state)
    }

    fn known(&self) -> Result<std::sync::MutexGuard<'_, Known>, GatewayError> {
        self.known
            .lock()
            .map_err(|_| GatewayError::Damaged("the home state's lock is poisoned".into()))
    }

    /// Reads the whole file again (with the home lock held).
    fn read_all(&self, known: &mut Known) -> Result<(), GatewayError> {
        let anchored = self.anchor.state_head()?;
        let bytes = match self.read_file() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if anchored.seq != 0 {
                    return Err(tampered(&format!(
                        "is missing, but its anchor vouches for {} changes",
                        anchored.seq
                    )));
                }
                let file = snapshot_file(&self.key, &StateHead::default(), &Values::new())?;
                sandframe_durable::replace(&self.dir, STATE_FILE, &file, 0o600)
                    .map_err(io("create the home state"))?;
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(tampered("is not a regular file"));
            }
            Err(e) => return Err(io("read the home state")(e)),
        };
        let mut fresh = parse(&bytes, &self.key, &anchored)?;
        let end = fresh.end as usize;
        if end < bytes.len() {
            // What a process appended before it crashed, short of its anchor write: it never
            // happened. There is at most one such frame (a change truncates the file to the
            // committed end before it appends): more means the anchor is behind the file,
            // replaced or put back, and cutting them would drop committed changes.
            if frame(&bytes, end).is_some_and(|(_, _, next)| next < bytes.len()) {
                return Err(tampered(&format!(
                    "holds more changes than its anchor vouches for (number {}): the anchor was replaced or put back",
                    anchored.seq
                )));
            }
            self.cut(fresh.end)?;
        }
        fresh.stale = false;
        *known = fresh;
        Ok(())
    }

    /// The file, opened for reading only if it is a regular file: never through a symlink,
    /// never waiting on a FIFO planted under its name (the home lock is held meanwhile).
    fn open_file(&self) -> std::io::Result<cap_std::fs::File> {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let not_regular = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{STATE_FILE} is not a regular file"),
            )
        };
        let file = self.dir.open_with(STATE_FILE, &options).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                not_regular()
            } else {
                e
            }
        })?;
        if !file.metadata()?.is_file() {
            return Err(not_regular());
        }
        Ok(file)
    }

    /// The file's bytes, refused past [`MAX_FILE`] before anything is read.
    fn read_file(&self) -> std::io::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut file = self.open_file()?;
        let len = file.metadata()?.len();
        if len > MAX_FILE {
            return Err(std::io::Error::other(format!(
                "{STATE_FILE} is over {MAX_FILE} bytes"
            )));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.by_ref().take(MAX_FILE).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The file's bytes from `offset` on (an error if the file is shorter: rewritten).
    fn read_from(&self, offset: u64) -> std::io::Result<Vec<u8>> {
        use std::io::{Read as _, Seek as _};
        let mut file = self.open_file()?;
        let len = file.metadata()?.len();
        if len < offset || len - offset > MAX_FILE {
            return Err(std::io::Error::other("the state file was rewritten"));
        }
        file.seek(std::io::SeekFrom::Start(offset))?;
        let mut bytes = Vec::with_capacity((len - offset) as usize);
        file.take(MAX_FILE).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn cut(&self, end: u64) -> Result<(), GatewayError> {
        let mut options = OpenOptions::new();
        options.write(true);
        let file = self
            .dir
            .open_with(STATE_FILE, &options)
            .map_err(io("open the home state"))?;
        file.set_len(end)
            .and_then(|()| file.sync_data())
            .map_err(io("cut an uncommitted change off the home state"))
    }

    /// Catches up with what other processes committed (with the home lock held): the new
    /// frames if the file only grew, the whole file otherwise.
    fn catch_up(&self, known: &mut Known) -> Result<(), GatewayError> {
        if known.stale {
            return self.read_all(known);
        }
        let anchored = self.anchor.state_head()?;
        if anchored == known.head {
            return Ok(());
        }
        // Only what was appended since: one operation's cost does not grow with the state.
        if let Ok(tail) = self.read_from(known.end)
            && follow(&tail, known.end, 0, &self.key, known, &anchored)
        {
            return Ok(());
        }
        // Rewritten as a snapshot by another process, or damaged: read it whole.
        self.read_all(known)
    }

    /// Reads what other processes committed since this one last looked. A host calls it
    /// before a decision that must see them (a launch, an install).
    ///
    /// # Errors
    /// [`GatewayError::StateTampered`] if the file no longer reaches the anchored head; I/O.
    pub fn refresh(&self) -> Result<(), GatewayError> {
        let _held = self.lock.hold().map_err(io("take the home lock"))?;
        let mut known = self.known()?;
        self.catch_up(&mut known)
    }

    /// [`SealedState::refresh`] if the home lock is free at once; returns whether it ran (a
    /// caller that must not wait, such as an app's event, tries again later).
    ///
    /// # Errors
    /// As [`SealedState::refresh`].
    pub fn try_refresh(&self) -> Result<bool, GatewayError> {
        let Some(_held) = self.lock.try_hold().map_err(io("take the home lock"))? else {
            return Ok(false);
        };
        let mut known = self.known()?;
        self.catch_up(&mut known)?;
        Ok(true)
    }

    /// Commits several changes as one: all or none of them happen.
    ///
    /// # Errors
    /// A value over [`MAX_STATE_VALUE_BYTES`]; [`GatewayError::StateTampered`]; I/O errors
    /// (the changes then did not happen).
    pub fn set_many(&self, items: &[(&str, &str, Option<&[u8]>)]) -> Result<(), GatewayError> {
        if items
            .iter()
            .any(|(_, _, v)| v.is_some_and(|v| v.len() > MAX_STATE_VALUE_BYTES))
        {
            return Err(GatewayError::Damaged(format!(
                "a home state value is over {MAX_STATE_VALUE_BYTES} bytes"
            )));
        }
        let _held = self.lock.hold().map_err(io("take the home lock"))?;
        let mut known = self.known()?;
        self.catch_up(&mut known)?;
        self.commit(&mut known, items)
    }

    /// Reads `name` in `kind` as committed now, lets `change` compute its new value, and
    /// commits it, all under the home lock (see [`HomeState::update`]). Returns the new value.
    ///
    /// # Errors
    /// As [`SealedState::set_many`].
    pub fn update(
        &self,
        kind: &str,
        name: &str,
        change: &mut StateChange<'_>,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        let _held = self.lock.hold().map_err(io("take the home lock"))?;
        let mut known = self.known()?;
        self.catch_up(&mut known)?;
        let next = change(
            known
                .values
                .get(kind)
                .and_then(|k| k.get(name))
                .map(Vec::as_slice),
        );
        if next
            .as_ref()
            .is_some_and(|v| v.len() > MAX_STATE_VALUE_BYTES)
        {
            return Err(GatewayError::Damaged(format!(
                "a home state value is over {MAX_STATE_VALUE_BYTES} bytes"
            )));
        }
        self.commit(&mut known, &[(kind, name, next.as_deref())])?;
        Ok(next)
    }

    /// Appends `items` (those that change something) as one change and commits it, with the
    /// home lock held and `known` caught up.
    fn commit(
        &self,
        known: &mut Known,
        items: &[(&str, &str, Option<&[u8]>)],
    ) -> Result<(), GatewayError> {
        let changed: Vec<(String, String, Option<Vec<u8>>)> = items
            .iter()
            .filter(|(kind, name, value)| {
                known
                    .values
                    .get(*kind)
                    .and_then(|k| k.get(*name))
                    .map(Vec::as_slice)
                    != *value
            })
            .map(|(k, n, v)| ((*k).to_owned(), (*n).to_owned(), v.map(<[u8]>::to_vec)))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let seq = known.head.seq + 1;
        let change = Change {
            seq,
            items: changed,
        };
        let body = postcard::to_allocvec(&change).map_err(|e| GatewayError::Io {
            what: "encode a home state change",
            source: std::io::Error::other(e),
        })?;
        let len = u32::try_from(body.len())
            .ok()
            .filter(|l| *l <= MAX_FRAME)
            .ok_or_else(|| GatewayError::Damaged("a home state change is too large".into()))?;
        let chain = mac(&self.key, CHANGE_DOMAIN, Some(&known.head.mac), len, &body);
        let mut frame = Vec::with_capacity(body.len() + 36);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&chain);
        // Opened by name each time: another process may have rewritten the file.
        let written = (|| {
            use std::io::{Seek as _, Write as _};
            let mut options = OpenOptions::new();
            options.write(true).mode(0o600);
            let mut file = self.dir.open_with(STATE_FILE, &options)?;
            // Shorter than what was read under this lock: changed behind its back.
            if file.metadata()?.len() < known.end {
                return Err(std::io::Error::other("the file shrank since it was read"));
            }
            file.set_len(known.end)?;
            file.seek(std::io::SeekFrom::Start(known.end))?;
            file.write_all(&frame)?;
            file.sync_data()
        })();
        if let Err(e) = written {
            known.stale = true;
            return Err(io("write the home state")(e));
        }
        let head = StateHead { seq, mac: chain };
        if let Err(e) = self.anchor.advance_state(&head) {
            // The anchor may or may not hold the change: find out from the files next time.
            known.stale = true;
            return Err(e);
        }
        for (kind, name, value) in change.items {
            apply(&mut known.values, kind, name, value);
        }
        known.head = head;
        known.end += frame.len() as u64;
        known.changes += 1;
        known.count = count(&known.values);
        if known.changes >= COMPACT_AFTER.max(known.count) {
            // Best effort: a failed rewrite leaves the file as it was, still valid.
            if let Ok(file) = snapshot_file(&self.key, &known.head, &known.values)
                && sandframe_durable::replace(&self.dir, STATE_FILE, &file, 0o600).is_ok()
            {
                known.end = file.len() as u64;
                known.changes = 0;
            }
        }
        Ok(())
    }

    /// The head of the state as this process last saw it.
    pub fn head(&self) -> StateHead {
        self.known.lock().map(|k| k.head).unwrap_or_default()
    }
}

fn to_core(e: GatewayError) -> Error {
    match e {
        GatewayError::Core(e) => e,
        GatewayError::Io { what, source } => Error::Io(std::io::Error::new(
            source.kind(),
            format!("could not {what}: {source}"),
        )),
        other => Error::Unavailable(other.to_string()),
    }
}

impl HomeState for SealedState {
    fn get(&self, kind: &str, name: &str) -> Option<Vec<u8>> {
        self.known.lock().ok()?.values.get(kind)?.get(name).cloned()
    }

    fn contains(&self, kind: &str, name: &str) -> bool {
        self.known
            .lock()
            .is_ok_and(|k| k.values.get(kind).is_some_and(|k| k.contains_key(name)))
    }

    fn names(&self, kind: &str) -> Vec<String> {
        self.known
            .lock()
            .ok()
            .and_then(|k| k.values.get(kind).map(|k| k.keys().cloned().collect()))
            .unwrap_or_default()
    }

    fn set(&self, kind: &str, name: &str, value: Option<&[u8]>) -> Result<(), Error> {
        self.set_many(&[(kind, name, value)]).map_err(to_core)
    }

    fn update(
        &self,
        kind: &str,
        name: &str,
        change: &mut StateChange<'_>,
    ) -> Result<Option<Vec<u8>>, Error> {
        SealedState::update(self, kind, name, change).map_err(to_core)
    }
}

/// A [`HomeState`] in memory only (tests, or a host without a home state of its own).
#[derive(Debug, Default)]
pub struct MemoryState {
    values: Mutex<Values>,
}

impl HomeState for MemoryState {
    fn get(&self, kind: &str, name: &str) -> Option<Vec<u8>> {
        self.values.lock().ok()?.get(kind)?.get(name).cloned()
    }

    fn names(&self, kind: &str) -> Vec<String> {
        self.values
            .lock()
            .ok()
            .and_then(|v| v.get(kind).map(|k| k.keys().cloned().collect()))
            .unwrap_or_default()
    }

    fn set(&self, kind: &str, name: &str, value: Option<&[u8]>) -> Result<(), Error> {
        let mut v = self
            .values
            .lock()
            .map_err(|_| Error::Unavailable("the state's lock is poisoned".into()))?;
        apply(
            &mut v,
            kind.to_owned(),
            name.to_owned(),
            value.map(<[u8]>::to_vec),
        );
        Ok(())
    }
}
