//! Where a log's key and head live, outside the home: the [`Anchor`] trait, [`FileAnchor`]
//! (a 0600 file written durably) and [`MemoryAnchor`] (in memory only, for tests).

use std::sync::Mutex;

use cap_std::fs::Dir;

use super::{ANCHOR_BYTES, ANCHOR_MAGIC, io};
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
        // Two processes opening a fresh home at once must end with one key: the file is
        // created whole or not at all, and the one that loses reads the winner's.
        for _ in 0..2 {
            match dir.read(&name) {
                Ok(bytes) => {
                    let (key, head) = decode_anchor(&bytes).ok_or_else(|| {
                        GatewayError::Damaged(format!(
                            "{} is not a sandframe audit anchor; restore it from a backup",
                            path.display()
                        ))
                    })?;
                    return Ok(FileAnchor {
                        dir,
                        name,
                        key,
                        head: Mutex::new(head),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let mut key = [0u8; 32];
                    getrandom::fill(&mut key).map_err(|e| GatewayError::Io {
                        what: "generate an audit key",
                        source: std::io::Error::other(e.to_string()),
                    })?;
                    let bytes = encode_anchor(&key, &Head::default());
                    if sandframe_durable::create_new(&dir, &name, &bytes, 0o600)
                        .map_err(io("create the anchor"))?
                    {
                        return Ok(FileAnchor {
                            dir,
                            name,
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

    pub(crate) fn write(&self, head: &Head) -> Result<(), GatewayError> {
        sandframe_durable::replace(
            &self.dir,
            &self.name,
            &encode_anchor(&self.key, head),
            0o600,
        )
        .map_err(io("write the anchor"))
    }
}

fn encode_anchor(key: &[u8; 32], head: &Head) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ANCHOR_BYTES);
    bytes.extend_from_slice(ANCHOR_MAGIC);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&head.frames.to_le_bytes());
    bytes.extend_from_slice(&head.records.to_le_bytes());
    bytes.extend_from_slice(&head.mac);
    bytes
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
    fn reload(&self) -> Result<Head, GatewayError> {
        let bytes = self
            .dir
            .read(&self.name)
            .map_err(io("read the audit anchor"))?;
        let head = match decode_anchor(&bytes) {
            Some((key, head)) if key == self.key => head,
            _ => {
                return Err(GatewayError::Damaged(format!(
                    "the audit anchor {} was replaced while this host had it open; restore it from a backup",
                    self.name
                )));
            }
        };
        if let Ok(mut h) = self.head.lock() {
            *h = head;
        }
        Ok(head)
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
