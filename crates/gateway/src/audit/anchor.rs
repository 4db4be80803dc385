//! What lives outside the home: the audit log's key and head, and the home's root secret
//! from which the host derives every other key (receipts, artifacts, storage, the home's
//! state). The [`Anchor`] trait, [`FileAnchor`] (a 0600 file written durably) and
//! [`MemoryAnchor`] (in memory only, for tests).

use std::sync::Mutex;

use cap_std::fs::Dir;

use super::io;
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
}

/// Where a home's move to keys kept outside it stands. A home made before the anchor held a
/// root secret kept `host.key` and `storage.key` inside; nothing of them is trusted, but what
/// they protected is re-verified and re-sealed under the new keys first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Migration {
    /// The root secret exists; the home may still hold data under keys from inside it
    /// (re-verify and re-seal it, then record [`Migration::Done`]).
    Pending,
    /// Every key is derived from the root secret: a key file found in the home was planted.
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

/// An [`Anchor`] in one small file (mode 0600) that the embedder keeps outside the home;
/// created with a fresh random key and root secret on first use.
///
/// The file is `"SFANCHR2" ‖ audit key (32) ‖ root secret (32) ‖ migration (u64 LE: 0
/// pending, 1 done) ‖ frames (u64 LE) ‖ records (u64 LE) ‖ mac (32)`, replaced atomically
/// (temp file, fsync, rename, directory fsync). A file of the first format (`"SFANCHR1" ‖ key
/// ‖ frames ‖ records ‖ mac`, no root secret) is read, and rewritten in the second when
/// [`Anchor::home_secret`] first makes the root secret.
pub struct FileAnchor {
    dir: Dir,
    name: String,
    key: [u8; 32],
    stored: Mutex<Stored>,
}

/// What the file holds besides the audit key.
#[derive(Clone)]
struct Stored {
    head: Head,
    /// `None` in a file of the first format.
    root: Option<zeroize::Zeroizing<[u8; 32]>>,
    migration: Migration,
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
        // Two processes opening a fresh home at once must end with one key: the file is
        // created whole or not at all, and the one that loses reads the winner's.
        for _ in 0..2 {
            match dir.read(&name) {
                Ok(bytes) => {
                    let (key, stored) = decode(&bytes).ok_or_else(|| not_an_anchor(path))?;
                    return Ok(FileAnchor {
                        dir,
                        name,
                        key,
                        stored: Mutex::new(stored),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let key = random()?;
                    let stored = Stored {
                        head: Head::default(),
                        root: Some(zeroize::Zeroizing::new(random()?)),
                        migration: Migration::Pending,
                    };
                    if sandframe_durable::create_new(&dir, &name, &encode(&key, &stored), 0o600)
                        .map_err(io("create the anchor"))?
                    {
                        return Ok(FileAnchor {
                            dir,
                            name,
                            key,
                            stored: Mutex::new(stored),
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

    /// Reads the file again (another process sharing it may have written it); its key must
    /// still be this anchor's.
    fn read_stored(&self) -> Result<Stored, GatewayError> {
        let bytes = self
            .dir
            .read(&self.name)
            .map_err(io("read the audit anchor"))?;
        match decode(&bytes) {
            Some((key, stored)) if key == self.key => Ok(stored),
            _ => Err(GatewayError::Damaged(format!(
                "the audit anchor {} was replaced while this host had it open; restore it from a backup",
                self.name
            ))),
        }
    }

    /// Writes `stored` durably and keeps it as the cached state.
    fn store(&self, stored: Stored) -> Result<(), GatewayError> {
        sandframe_durable::replace(&self.dir, &self.name, &encode(&self.key, &stored), 0o600)
            .map_err(io("write the anchor"))?;
        if let Ok(mut s) = self.stored.lock() {
            *s = stored;
        }
        Ok(())
    }

    /// Reads the file, changes it with `change`, writes it back (with the home lock held).
    fn update(&self, change: impl FnOnce(&mut Stored)) -> Result<Stored, GatewayError> {
        let mut stored = self.read_stored()?;
        change(&mut stored);
        self.store(stored.clone())?;
        Ok(stored)
    }
}

fn not_an_anchor(path: &std::path::Path) -> GatewayError {
    GatewayError::Damaged(format!(
        "{} is not a sandframe audit anchor; restore it from a backup",
        path.display()
    ))
}

const MAGIC_V1: &[u8; 8] = b"SFANCHR1";
const MAGIC_V2: &[u8; 8] = b"SFANCHR2";
const BYTES_V1: usize = 8 + 32 + 8 + 8 + 32;
const BYTES_V2: usize = 8 + 32 + 32 + 8 + 8 + 8 + 32;

fn encode(key: &[u8; 32], stored: &Stored) -> Vec<u8> {
    let head = &stored.head;
    let mut bytes = Vec::with_capacity(BYTES_V2);
    match &stored.root {
        Some(root) => {
            bytes.extend_from_slice(MAGIC_V2);
            bytes.extend_from_slice(key);
            bytes.extend_from_slice(&root[..]);
            let migration: u64 = match stored.migration {
                Migration::Pending => 0,
                Migration::Done => 1,
            };
            bytes.extend_from_slice(&migration.to_le_bytes());
        }
        None => {
            bytes.extend_from_slice(MAGIC_V1);
            bytes.extend_from_slice(key);
        }
    }
    bytes.extend_from_slice(&head.frames.to_le_bytes());
    bytes.extend_from_slice(&head.records.to_le_bytes());
    bytes.extend_from_slice(&head.mac);
    bytes
}

fn decode(bytes: &[u8]) -> Option<([u8; 32], Stored)> {
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let key: [u8; 32] = bytes.get(8..40)?.try_into().ok()?;
    let (root, migration, at) = match bytes.get(..8)? {
        m if m == MAGIC_V1 && bytes.len() == BYTES_V1 => (None, Migration::Pending, 40),
        m if m == MAGIC_V2 && bytes.len() == BYTES_V2 => {
            let root: [u8; 32] = bytes.get(40..72)?.try_into().ok()?;
            let migration = match u64_at(72)? {
                0 => Migration::Pending,
                1 => Migration::Done,
                _ => return None,
            };
            (Some(zeroize::Zeroizing::new(root)), migration, 80)
        }
        _ => return None,
    };
    let head = Head {
        frames: u64_at(at)?,
        records: u64_at(at + 8)?,
        mac: bytes.get(at + 16..at + 48)?.try_into().ok()?,
    };
    Some((
        key,
        Stored {
            head,
            root,
            migration,
        },
    ))
}

impl Anchor for FileAnchor {
    fn key(&self) -> [u8; 32] {
        self.key
    }
    fn head(&self) -> Head {
        self.stored.lock().map(|s| s.head).unwrap_or_default()
    }
    fn advance(&self, head: &Head) -> Result<(), GatewayError> {
        // Read first: another process may have made the root secret since this one looked.
        self.update(|s| s.head = *head).map(|_| ())
    }
    fn reload(&self) -> Result<Head, GatewayError> {
        let stored = self.read_stored()?;
        let head = stored.head;
        if let Ok(mut s) = self.stored.lock() {
            *s = stored;
        }
        Ok(head)
    }
    fn home_secret(&self) -> Result<HomeSecret, GatewayError> {
        let mut stored = self.read_stored()?;
        if stored.root.is_none() {
            // A first-format anchor: the home's keys were inside it until now.
            let root = random()?;
            stored = self.update(|s| {
                s.root = Some(zeroize::Zeroizing::new(root));
                s.migration = Migration::Pending;
            })?;
        } else if let Ok(mut s) = self.stored.lock() {
            *s = stored.clone();
        }
        match stored.root {
            Some(root) => Ok(HomeSecret {
                root,
                migration: stored.migration,
            }),
            None => Err(GatewayError::Damaged(format!(
                "the audit anchor {} lost its root secret while being written; restore it from a backup",
                self.name
            ))),
        }
    }
    fn set_migration(&self, migration: Migration) -> Result<(), GatewayError> {
        self.update(|s| s.migration = migration).map(|_| ())
    }
}

/// An [`Anchor`] in memory (tests, or an embedder that persists the head itself): its root
/// secret is random, so keys derived from it last as long as the process.
pub struct MemoryAnchor {
    key: [u8; 32],
    head: Mutex<Head>,
    root: zeroize::Zeroizing<[u8; 32]>,
    migration: Mutex<Migration>,
}

impl std::fmt::Debug for MemoryAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAnchor").finish_non_exhaustive()
    }
}

impl MemoryAnchor {
    /// An anchor with audit key `key`, an empty head and a random root secret.
    pub fn new(key: [u8; 32]) -> MemoryAnchor {
        let mut root = zeroize::Zeroizing::new([0u8; 32]);
        // A memory anchor is for tests and embedders that keep state themselves; with no
        // randomness, its root is derived from the audit key (still its own key: one purpose).
        if getrandom::fill(&mut root[..]).is_err() {
            *root = blake3::derive_key("sandframe memory anchor root fallback", &key);
        }
        MemoryAnchor {
            key,
            head: Mutex::new(Head::default()),
            root,
            migration: Mutex::new(Migration::Pending),
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
}
