//! What lives outside the home: the audit log's key and head, and the home's root secret
//! from which the host derives every other key (receipts, artifacts, storage). The [`Anchor`]
//! trait, [`FileAnchor`] (two 0600 files written durably) and [`MemoryAnchor`] (in memory
//! only, for tests).

use std::sync::Mutex;

use cap_std::fs::Dir;

use super::{ANCHOR_BYTES, ANCHOR_MAGIC, ANCHOR_V1_BYTES, ANCHOR_V1_MAGIC, io};
use crate::GatewayError;

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

/// Where the home's sealed state stands (`crate::SealedState`): the sequence number of its last
/// committed change and that change's chained MAC (zeros before the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateHead {
    /// Changes committed.
    pub seq: u64,
    /// The last change's chained MAC.
    pub mac: [u8; 32],
}

/// Keeps the log's MAC key and its latest head somewhere the home's attacker cannot write,
/// and beside them the head of the home's sealed state, so that one write commits either.
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

    /// The head as stored now, read again: another process sharing the anchor (under the
    /// home lock) may have advanced it since. By default, [`Anchor::head`].
    ///
    /// # Errors
    /// When it cannot be read, or no longer holds this anchor's key.
    fn reload(&self) -> Result<Head, GatewayError> {
        Ok(self.head())
    }

    /// The home's root secret (made on first use) and where the home's move to it stands.
    /// Call it with the home lock held: a secret made by two processes at once would be two.
    ///
    /// # Errors
    /// When it cannot be read, made or stored.
    fn home_secret(&self) -> Result<HomeSecret, GatewayError>;

    /// Records where the home's move to keys derived from [`Anchor::home_secret`] stands,
    /// durably, before returning. With the home lock held.
    ///
    /// # Errors
    /// When it cannot be stored.
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError>;

    /// The sealed state's head as stored now (read again: another process sharing the anchor
    /// under the home lock may have advanced it).
    ///
    /// # Errors
    /// When it cannot be read.
    fn state_head(&self) -> Result<StateHead, GatewayError>;

    /// Records a new sealed-state head, durably, before returning: the commit point of a
    /// change to the home's state. With the home lock held; it keeps the audit head as stored.
    ///
    /// # Errors
    /// When it cannot be stored; the change then did not happen.
    fn advance_state(&self, head: &StateHead) -> Result<(), GatewayError>;
}

/// Where a home's move to keys and state kept outside its reach stands. A home made before
/// the anchor held a root secret kept `host.key` and `storage.key` inside, and its records,
/// grants and quarantines in plain files; nothing of them is trusted as it is, but what they
/// protected is re-verified, re-sealed or carried over first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Migration {
    /// The root secret exists; the home may still hold data under keys from inside it
    /// (re-verify and re-seal it), and state in plain files.
    Pending,
    /// The keys moved outside the home, but its records, grants and quarantines may still be
    /// plain files, not yet carried into the sealed state.
    KeysMoved,
    /// Every key is derived from the root secret and all state is sealed: a key or state file
    /// found in the home was planted.
    Done,
}

/// The home's root secret, outside the home, and its [`Migration`] state. Each key the host
/// uses is [`HomeSecret::derive`]d from it for one purpose; the secret itself keys nothing.
pub struct HomeSecret {
    root: zeroize::Zeroizing<[u8; 32]>,
    /// Where the home's move to derived keys stands.
    pub migration: Migration,
}

impl std::fmt::Debug for HomeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeSecret")
            .field("migration", &self.migration)
            .finish_non_exhaustive()
    }
}

impl HomeSecret {
    /// The key for one purpose: `blake3::derive_key(context, root)`. Use one context string
    /// per purpose (`"sandframe 2026 install receipt"`, …), never one key for two.
    #[must_use]
    pub fn derive(&self, context: &str) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(blake3::derive_key(context, &self.root[..]))
    }
}

/// 32 random bytes.
fn random() -> Result<[u8; 32], GatewayError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| GatewayError::Io {
        what: "generate a secret",
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(key)
}

/// An [`Anchor`] in two small files (mode 0600) that the embedder keeps outside the home,
/// each created whole on first use:
///
/// - the anchor itself, `"SFANCHR2" ‖ audit key (32) ‖ frames (u64 LE) ‖ records (u64 LE) ‖
///   mac (32) ‖ state seq (u64 LE) ‖ state mac (32)`, replaced atomically (temp file, fsync,
///   rename, directory fsync) at every audit flush and every change of the sealed state, each
///   time read first under the home lock so that one never undoes the other (an `"SFANCHR1"`
///   anchor, without the state head, is read as one whose state is empty);
/// - beside it, `<name>.secret`: `"SFSECRT1" ‖ root secret (32) ‖ migration (u64 LE: 0
///   pending, 1 keys moved, 2 done)`, written when it is made and as the migration moves on,
///   never by a flush. It outlives the log: to start a new audit log (after keeping a tampered one as
///   evidence), move the log and the anchor aside and keep the secret, and the home's keys
///   stay the same.
///
/// A secret made beside an anchor that already vouches for frames belongs to a home made
/// before the secret existed: its migration starts pending. Beside a fresh anchor it starts
/// done, so a key file a home-writer plants in a new home is never read.
pub struct FileAnchor {
    dir: Dir,
    name: String,
    secret_name: String,
    key: [u8; 32],
    head: Mutex<Head>,
}

/// What the anchor file holds.
struct Stored {
    key: [u8; 32],
    head: Head,
    state: StateHead,
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
        let secret_name = format!("{name}.secret");
        // Two processes opening a fresh home at once must end with one key: the file is
        // created whole or not at all, and the one that loses reads the winner's.
        for _ in 0..2 {
            match dir.read(&name) {
                Ok(bytes) => {
                    let Stored { key, head, .. } = decode_anchor(&bytes).ok_or_else(|| {
                        GatewayError::Damaged(format!(
                            "{} is not a sandframe audit anchor; restore it from a backup",
                            path.display()
                        ))
                    })?;
                    return Ok(FileAnchor {
                        dir,
                        name,
                        secret_name,
                        key,
                        head: Mutex::new(head),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let key = random()?;
                    let bytes = encode_anchor(&Stored {
                        key,
                        head: Head::default(),
                        state: StateHead::default(),
                    });
                    if sandframe_durable::create_new(&dir, &name, &bytes, 0o600)
                        .map_err(io("create the anchor"))?
                    {
                        return Ok(FileAnchor {
                            dir,
                            name,
                            secret_name,
                            key,
                            head: Mutex::new(Head::default()),
                        });
                    }
                }
                Err(e) => return Err(io("read the audit anchor")(e)),
            }
        }
        Err(GatewayError::Damaged(format!(
            "{} exists but cannot be read; restore it from a backup",
            path.display()
        )))
    }

    /// The anchor file as stored now, checked to hold this anchor's key.
    fn stored(&self) -> Result<Stored, GatewayError> {
        let bytes = self
            .dir
            .read(&self.name)
            .map_err(io("read the audit anchor"))?;
        match decode_anchor(&bytes) {
            Some(stored) if stored.key == self.key => Ok(stored),
            _ => Err(GatewayError::Damaged(format!(
                "the audit anchor {} was replaced while this host had it open; restore it from a backup",
                self.name
            ))),
        }
    }

    /// Writes the anchor file with `change` applied to what it holds now (read first: the
    /// caller holds the home lock, and another process may have moved the other head).
    fn update(&self, change: impl FnOnce(&mut Stored)) -> Result<Stored, GatewayError> {
        let mut stored = self.stored()?;
        change(&mut stored);
        sandframe_durable::replace(&self.dir, &self.name, &encode_anchor(&stored), 0o600)
            .map_err(io("write the anchor"))?;
        Ok(stored)
    }

    fn damaged_secret(&self) -> GatewayError {
        GatewayError::Damaged(format!(
            "{} is not a sandframe home secret; restore it from a backup (without it the home's stored values and receipts cannot be read)",
            self.secret_name
        ))
    }

    /// The secret file's content, if it exists.
    fn read_secret(&self) -> Result<Option<HomeSecret>, GatewayError> {
        match self.dir.read(&self.secret_name) {
            Ok(bytes) => decode_secret(&bytes)
                .map(Some)
                .ok_or_else(|| self.damaged_secret()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read the home secret")(e)),
        }
    }
}

fn encode_anchor(stored: &Stored) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ANCHOR_BYTES);
    bytes.extend_from_slice(ANCHOR_MAGIC);
    bytes.extend_from_slice(&stored.key);
    bytes.extend_from_slice(&stored.head.frames.to_le_bytes());
    bytes.extend_from_slice(&stored.head.records.to_le_bytes());
    bytes.extend_from_slice(&stored.head.mac);
    bytes.extend_from_slice(&stored.state.seq.to_le_bytes());
    bytes.extend_from_slice(&stored.state.mac);
    bytes
}

fn decode_anchor(bytes: &[u8]) -> Option<Stored> {
    let state = match bytes.get(..8)? {
        m if m == ANCHOR_MAGIC && bytes.len() == ANCHOR_BYTES => StateHead {
            seq: u64::from_le_bytes(bytes.get(88..96)?.try_into().ok()?),
            mac: bytes.get(96..128)?.try_into().ok()?,
        },
        m if m == ANCHOR_V1_MAGIC && bytes.len() == ANCHOR_V1_BYTES => StateHead::default(),
        _ => return None,
    };
    let key: [u8; 32] = bytes.get(8..40)?.try_into().ok()?;
    let frames = u64::from_le_bytes(bytes.get(40..48)?.try_into().ok()?);
    let records = u64::from_le_bytes(bytes.get(48..56)?.try_into().ok()?);
    let mac: [u8; 32] = bytes.get(56..88)?.try_into().ok()?;
    Some(Stored {
        key,
        head: Head {
            frames,
            records,
            mac,
        },
        state,
    })
}

const SECRET_MAGIC: &[u8; 8] = b"SFSECRT1";
const SECRET_BYTES: usize = 8 + 32 + 8;

fn encode_secret(secret: &HomeSecret) -> zeroize::Zeroizing<Vec<u8>> {
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(SECRET_BYTES));
    bytes.extend_from_slice(SECRET_MAGIC);
    bytes.extend_from_slice(&secret.root[..]);
    let migration: u64 = match secret.migration {
        Migration::Pending => 0,
        Migration::KeysMoved => 1,
        Migration::Done => 2,
    };
    bytes.extend_from_slice(&migration.to_le_bytes());
    bytes
}

fn decode_secret(bytes: &[u8]) -> Option<HomeSecret> {
    if bytes.len() != SECRET_BYTES || bytes.get(..8)? != SECRET_MAGIC {
        return None;
    }
    let root: [u8; 32] = bytes.get(8..40)?.try_into().ok()?;
    let migration = match u64::from_le_bytes(bytes.get(40..48)?.try_into().ok()?) {
        0 => Migration::Pending,
        1 => Migration::KeysMoved,
        2 => Migration::Done,
        _ => return None,
    };
    Some(HomeSecret {
        root: zeroize::Zeroizing::new(root),
        migration,
    })
}

impl Anchor for FileAnchor {
    fn key(&self) -> [u8; 32] {
        self.key
    }
    fn head(&self) -> Head {
        self.head.lock().map(|h| *h).unwrap_or_default()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        self.update(|s| s.head = *head)?;
        if let Ok(mut h) = self.head.lock() {
            *h = *head;
        }
        Ok(())
    }
    fn reload(&self) -> Result<Head, GatewayError> {
        let head = self.stored()?.head;
        if let Ok(mut h) = self.head.lock() {
            *h = head;
        }
        Ok(head)
    }
    fn state_head(&self) -> Result<StateHead, GatewayError> {
        Ok(self.stored()?.state)
    }
    fn advance_state(&self, head: &StateHead) -> Result<(), GatewayError> {
        let stored = self.update(|s| s.state = *head)?;
        if let Ok(mut h) = self.head.lock() {
            *h = stored.head;
        }
        Ok(())
    }
    fn home_secret(&self) -> Result<HomeSecret, GatewayError> {
        for _ in 0..2 {
            if let Some(secret) = self.read_secret()? {
                return Ok(secret);
            }
            // An anchor that vouches for frames is an older home's: its keys were inside it
            // until now. A fresh one's are not: nothing found in its home is ever read.
            let stored = self.stored()?;
            let migration = if stored.head.frames > 0 || stored.state.seq > 0 {
                Migration::Pending
            } else {
                Migration::Done
            };
            let secret = HomeSecret {
                root: zeroize::Zeroizing::new(random()?),
                migration,
            };
            if sandframe_durable::create_new(
                &self.dir,
                &self.secret_name,
                &encode_secret(&secret),
                0o600,
            )
            .map_err(io("create the home secret"))?
            {
                return Ok(secret);
            }
        }
        Err(self.damaged_secret())
    }
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError> {
        let mut secret = self.read_secret()?.ok_or_else(|| self.damaged_secret())?;
        secret.migration = migration;
        sandframe_durable::replace(&self.dir, &self.secret_name, &encode_secret(&secret), 0o600)
            .map_err(io("write the home secret"))
    }
}

/// An [`Anchor`] in memory (tests, or an embedder that persists the heads itself). Its root
/// secret and both heads live as long as the value: over a home that outlives the process,
/// give it the same root every time ([`MemoryAnchor::with_root`]), or the home's stored
/// values and receipts cannot be read after a restart; and since a new one's heads are
/// empty, the home's audit log and sealed state from before are refused (use a
/// [`FileAnchor`], or an `Anchor` of your own that keeps both heads).
pub struct MemoryAnchor {
    key: [u8; 32],
    head: Mutex<Head>,
    state: Mutex<StateHead>,
    root: zeroize::Zeroizing<[u8; 32]>,
    migration: Mutex<Migration>,
}

impl std::fmt::Debug for MemoryAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAnchor").finish_non_exhaustive()
    }
}

impl MemoryAnchor {
    /// An anchor with audit key `key`, an empty head and a random root secret (lasting as
    /// long as this value), migration done.
    pub fn new(key: [u8; 32]) -> MemoryAnchor {
        // With no randomness at all (never seen on Linux), a root of its own derived from
        // the key: `blake3::derive_key`'s mode is not the keyed hash the log uses.
        let root = random()
            .unwrap_or_else(|_| blake3::derive_key("sandframe 2026-12 memory anchor root", &key));
        MemoryAnchor::with_root(key, root)
    }

    /// An anchor with audit key `key`, an empty head and root secret `root`, migration done.
    pub fn with_root(key: [u8; 32], root: [u8; 32]) -> MemoryAnchor {
        MemoryAnchor {
            key,
            head: Mutex::new(Head::default()),
            state: Mutex::new(StateHead::default()),
            root: zeroize::Zeroizing::new(root),
            migration: Mutex::new(Migration::Done),
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
    fn home_secret(&self) -> Result<HomeSecret, GatewayError> {
        Ok(HomeSecret {
            root: self.root.clone(),
            migration: *self
                .migration
                .lock()
                .map_err(|_| GatewayError::Damaged("the anchor lock is poisoned".into()))?,
        })
    }
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError> {
        *self
            .migration
            .lock()
            .map_err(|_| GatewayError::Damaged("the anchor lock is poisoned".into()))? = migration;
        Ok(())
    }
    fn state_head(&self) -> Result<StateHead, GatewayError> {
        self.state
            .lock()
            .map(|s| *s)
            .map_err(|_| GatewayError::Damaged("the anchor lock is poisoned".into()))
    }
    fn advance_state(&self, head: &StateHead) -> Result<(), GatewayError> {
        *self
            .state
            .lock()
            .map_err(|_| GatewayError::Damaged("the anchor lock is poisoned".into()))? = *head;
        Ok(())
    }
}
