//! # sandframe-storage
//!
//! The storage layer: [`DiskStorage`], core's [`Storage`] on real files under cap-std.
//!
//! - **Isolation.** Each app's data lives in `<root>/<app id>/`, reached only through a
//!   cap-std `Dir` opened for that app (the [`AppId`] is a validated, safe file name). A value's
//!   file name is a keyed blake3 hash of its key (per-app name key), so no key, however
//!   hostile, can choose, escape or collide with a path: `..`, `/`, NUL or look-alikes are just
//!   bytes hashed.
//! - **Encryption.** Each value file is `version (1) ‖ nonce (24) ‖ XChaCha20-Poly1305(key
//!   length ‖ key ‖ value)` under a per-app key derived from the host master key
//!   ([`KeySource`]), the app id and a per-app random salt. Random 192-bit nonces make
//!   collisions negligible without a counter to persist. The associated data binds the format
//!   version, the app id and the file name (hence the key): a file copied from another app or
//!   another key fails to open with [`Error::Integrity`], never garbage.
//! - **Durability.** A `set` returns once the value is durable: unique temp file, fsync,
//!   rename, fsync of the directory. A crash leaves each value old or new, never torn
//!   (tested by killing a writer process with SIGKILL).
//! - **Quotas.** Bytes (file sizes) and keys per app, checked before writing; usage is
//!   derived from file sizes the first time an app is touched, then kept in memory.
//! - **Sharing.** An owner shares one key read-only with one reader; the share is recorded in
//!   the owner's namespace; the reader reads it with [`Storage::get_shared`]; the owner
//!   revokes it. Nothing else crosses apps.
//! - **Wipe.** Uninstall removes the salt first (crypto-shredding: a recovered file can no
//!   longer be opened), then the namespace, then every share naming the app as reader.
//! - An idle app holds no open file: directories are opened per operation.

mod keys;

pub use keys::{FileKeySource, KeySource, MemoryKeySource};
pub use sandframe_core::Storage;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cap_std::fs::Dir;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sandframe_core::{AppId, Error, ShareList, Usage};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The on-disk format version (first byte of every value file, and in the associated data).
pub const FORMAT_VERSION: u8 = 1;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most apps one key may be shared with.
pub const MAX_READERS_PER_KEY: usize = 64;
/// Most shares (key, reader pairs) one app may keep.
pub const MAX_SHARES: usize = 1024;
/// Default quota per app, in bytes on disk (like the mini-program platforms' 10 MiB).
pub const DEFAULT_QUOTA_BYTES: u64 = 10 << 20;
/// Default most keys per app.
pub const DEFAULT_QUOTA_KEYS: u64 = 10_000;
/// Bytes a value file adds to key and value: version, nonce, key length, AEAD tag.
pub const OVERHEAD_BYTES: u64 = 1 + 24 + 4 + 16;

const SALT: &str = "salt";
const VALUES: &str = "v";
const SHARES: &str = "shares.json";

/// Errors of the storage layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}

/// Limits of a [`DiskStorage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// Bytes on disk per app (value files, overhead included), unless the manifest asks for
    /// less.
    pub quota_bytes: u64,
    /// Keys per app.
    pub quota_keys: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            quota_bytes: DEFAULT_QUOTA_BYTES,
            quota_keys: DEFAULT_QUOTA_KEYS,
        }
    }
}

/// One app's keys, derived from the master key and the app's salt; zeroized on drop.
struct AppKeys {
    seal: Zeroizing<[u8; 32]>,
    name: Zeroizing<[u8; 32]>,
}

impl AppKeys {
    /// The app's keys under `master`: one context per purpose, bound to the app id and salt.
    fn derive(master: &[u8; 32], app: &AppId, salt: &[u8]) -> AppKeys {
        let derive = |context: &str| {
            let mut h = blake3::Hasher::new_derive_key(context);
            h.update(master);
            h.update(&(app.as_str().len() as u64).to_le_bytes());
            h.update(app.as_str().as_bytes());
            h.update(salt);
            Zeroizing::new(*h.finalize().as_bytes())
        };
        AppKeys {
            seal: derive("sandframe storage value key v1"),
            name: derive("sandframe storage name key v1"),
        }
    }
}

/// What [`DiskStorage::reseal_from`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// App namespaces looked at.
    pub apps: u64,
    /// Values re-sealed under the new master key.
    pub values: u64,
    /// Values already under the new key (a run that a crash cut short did them).
    pub already: u64,
    /// Value files (or apps' salts, or listings) that could not be read or open under
    /// neither key (damaged, or forged by whoever knew neither): left where they are. Their
    /// keys read as absent under the new key (a value's file name comes from the key).
    pub unreadable: u64,
}

/// What is known of one app in this process (usage, derived once).
#[derive(Debug, Default)]
struct AppState {
    usage: Option<(u64, u64)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shares {
    /// key → readers
    shares: BTreeMap<String, BTreeSet<String>>,
}

/// [`Storage`] on real files under a cap-std directory.
pub struct DiskStorage {
    root: Dir,
    keys: Arc<dyn KeySource>,
    config: StorageConfig,
    quotas: Mutex<HashMap<AppId, u64>>,
    apps: Mutex<HashMap<AppId, Arc<Mutex<AppState>>>>,
    key_cache: Mutex<HashMap<AppId, Arc<AppKeys>>>,
}

impl std::fmt::Debug for DiskStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStorage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("storage: {what}: {e}"),
        ))
    }
}

fn other(message: String) -> Error {
    Error::Io(std::io::Error::other(message))
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Error::Invalid {
            what: "storage key",
            reason: format!("keys are 1..={MAX_KEY_BYTES} bytes of UTF-8"),
        });
    }
    Ok(())
}

/// Writes `bytes` to `name` in `dir` durably (`sandframe_durable::replace`, mode 0600).
fn write_durably(dir: &Dir, name: &str, bytes: &[u8]) -> Result<(), Error> {
    sandframe_durable::replace(dir, name, bytes, 0o600).map_err(io("write a value durably"))
}

/// Writes `bytes` to `name` (created with `mode`) only if it does not exist yet, whole or not
/// at all (`sandframe_durable::create_new`). Returns whether this call made it.
pub(crate) fn publish_new(dir: &Dir, name: &str, bytes: &[u8], mode: u32) -> Result<bool, Error> {
    sandframe_durable::create_new(dir, name, bytes, mode).map_err(io("publish a file"))
}

impl DiskStorage {
    /// Storage under `root` (the host gives it `<home>/storage/`), with the master key from
    /// `keys`.
    pub fn new(root: Dir, keys: Arc<dyn KeySource>, config: StorageConfig) -> DiskStorage {
        DiskStorage {
            root,
            keys,
            config,
            quotas: Mutex::new(HashMap::new()),
            apps: Mutex::new(HashMap::new()),
            key_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sets `app`'s byte quota (the manifest's `storage_quota_bytes`, already clamped to the
    /// host's cap); never above the configured one. Also [`Storage::limit`].
    pub fn set_quota(&self, app: &AppId, bytes: u64) {
        if let Ok(mut q) = self.quotas.lock() {
            q.insert(app.clone(), bytes.min(self.config.quota_bytes));
        }
    }

    fn quota(&self, app: &AppId) -> u64 {
        self.quotas
            .lock()
            .ok()
            .and_then(|q| q.get(app).copied())
            .unwrap_or(self.config.quota_bytes)
    }

    fn state(&self, app: &AppId) -> Result<Arc<Mutex<AppState>>, Error> {
        let mut apps = self
            .apps
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        Ok(Arc::clone(apps.entry(app.clone()).or_default()))
    }

    /// The app's directory, created when `create`.
    fn app_dir(&self, app: &AppId, create: bool) -> Result<Option<Dir>, Error> {
        if create {
            self.root
                .create_dir_all(format!("{app}/{VALUES}"))
                .map_err(io("create an app's directory"))?;
        }
        match self.root.open_dir(app.as_str()) {
            Ok(d) => Ok(Some(d)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io("open an app's directory")(e)),
        }
    }

    /// The app's keys, creating its salt when `create`.
    /// The app's keys (cached in memory after the first derivation; the cache is dropped at
    /// wipe), creating its salt when `create`.
    fn app_keys(
        &self,
        app: &AppId,
        dir: &Dir,
        create: bool,
    ) -> Result<Option<Arc<AppKeys>>, Error> {
        // A write checks the salt is still there (one stat, beside an fsync'd write), so keys
        // cached before a wipe never seal new data.
        let cached = self.key_cache.lock().ok().and_then(|c| c.get(app).cloned());
        if let Some(k) = cached
            && (!create || dir.metadata(SALT).is_ok())
        {
            return Ok(Some(k));
        }
        let salt = match dir.read(SALT) {
            Ok(s) => s,
            Err(e) if not_found(&e) && create => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(|e| other(format!("storage: random: {e}")))?;
                // Another process may make the salt at the same moment: the first one published
                // is the salt, whoever made it.
                if publish_new(dir, SALT, &s, 0o600)? {
                    s.to_vec()
                } else {
                    dir.read(SALT).map_err(io("read an app's salt"))?
                }
            }
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(io("read an app's salt")(e)),
        };
        if salt.len() != 32 {
            return Err(Error::Integrity("an app's storage salt"));
        }
        let master = self.keys.master_key()?;
        let keys = Arc::new(AppKeys::derive(&master, app, &salt));
        if let Ok(mut c) = self.key_cache.lock() {
            c.insert(app.clone(), Arc::clone(&keys));
        }
        Ok(Some(keys))
    }

    fn file_name(keys: &AppKeys, key: &str) -> String {
        blake3::keyed_hash(&keys.name, key.as_bytes())
            .to_hex()
            .to_string()
    }

    fn aad(app: &AppId, file: &str) -> Vec<u8> {
        let mut aad = b"sandframe storage v1".to_vec();
        aad.push(FORMAT_VERSION);
        aad.extend_from_slice(&(app.as_str().len() as u32).to_le_bytes());
        aad.extend_from_slice(app.as_str().as_bytes());
        aad.extend_from_slice(file.as_bytes());
        aad
    }

    /// Seals in place: the file is built around the plaintext, which is then encrypted
    /// where it lies (one copy of the value, no plaintext left in memory).
    fn seal(
        keys: &AppKeys,
        app: &AppId,
        file: &str,
        key: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| other(format!("storage: random: {e}")))?;
        let mut out = Vec::with_capacity(1 + 24 + 4 + key.len() + value.len() + 16);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value);
        let cipher = XChaCha20Poly1305::new(&(*keys.seal).into());
        let aad = Self::aad(app, file);
        let body = out.get_mut(25..).unwrap_or_default();
        let tag = cipher
            .encrypt_inout_detached(&XNonce::from(nonce), &aad, body.into())
            .map_err(|_| other("storage: sealing failed".to_owned()))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens a value file in place: `(key, value)`.
    fn open(
        keys: &AppKeys,
        app: &AppId,
        file: &str,
        mut bytes: Vec<u8>,
    ) -> Result<(String, Vec<u8>), Error> {
        let damaged = || Error::Integrity("a stored value");
        if bytes.first() != Some(&FORMAT_VERSION) || bytes.len() < 1 + 24 + 4 + 16 {
            return Err(damaged());
        }
        let nonce: [u8; 24] = bytes
            .get(1..25)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(damaged)?;
        let tag_at = bytes.len() - 16;
        let tag: [u8; 16] = bytes
            .get(tag_at..)
            .and_then(|t| t.try_into().ok())
            .ok_or_else(damaged)?;
        bytes.truncate(tag_at);
        let cipher = XChaCha20Poly1305::new(&(*keys.seal).into());
        let aad = Self::aad(app, file);
        let body = bytes.get_mut(25..).ok_or_else(damaged)?;
        cipher
            .decrypt_inout_detached(&XNonce::from(nonce), &aad, body.into(), &tag.into())
            .map_err(|_| damaged())?;
        let len = bytes
            .get(25..29)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(damaged)? as usize;
        let key = bytes.get(29..29 + len).ok_or_else(damaged)?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| damaged())?;
        if bytes.len() < 29 + len {
            return Err(damaged());
        }
        bytes.drain(..29 + len);
        Ok((key, bytes))
    }

    /// (bytes, keys) of the app, derived from file sizes the first time.
    fn usage_of(&self, state: &mut AppState, dir: Option<&Dir>) -> Result<(u64, u64), Error> {
        if let Some(u) = state.usage {
            return Ok(u);
        }
        let mut bytes = 0u64;
        let mut keys = 0u64;
        if let Some(dir) = dir {
            match dir.read_dir(VALUES) {
                Ok(entries) => {
                    for e in entries {
                        let e = e.map_err(io("list values"))?;
                        let name = e.file_name();
                        if name.to_str().is_some_and(|n| n.len() == 64) {
                            bytes += e.metadata().map_err(io("size a value"))?.len();
                            keys += 1;
                        }
                    }
                }
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(io("list values")(e)),
            }
        }
        state.usage = Some((bytes, keys));
        Ok((bytes, keys))
    }

    fn read_shares(dir: &Dir) -> Result<Shares, Error> {
        match dir.read(SHARES) {
            Ok(b) => serde_json::from_slice(&b).map_err(|_| Error::Integrity("an app's shares")),
            Err(e) if not_found(&e) => Ok(Shares::default()),
            Err(e) => Err(io("read shares")(e)),
        }
    }

    fn write_shares(dir: &Dir, shares: &Shares) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(shares)
            .map_err(|e| other(format!("storage: encode shares: {e}")))?;
        write_durably(dir, SHARES, &bytes)
    }

    /// The readers `owner` shares `key` with.
    ///
    /// # Errors
    /// I/O errors, or a damaged shares file.
    pub fn shares(&self, owner: &AppId) -> Result<Vec<(String, AppId)>, Error> {
        let Some(dir) = self.app_dir(owner, false)? else {
            return Ok(Vec::new());
        };
        let shares = Self::read_shares(&dir)?;
        Ok(shares
            .shares
            .into_iter()
            .flat_map(|(k, readers)| {
                readers
                    .into_iter()
                    .filter_map(move |r| r.parse().ok().map(|r| (k.clone(), r)))
            })
            .collect())
    }
}

impl DiskStorage {
    /// Re-seals every value sealed under `old`'s master key under this storage's own (its
    /// new file name and a new seal, written durably) before the old file goes. A value
    /// that already opens under the new key is left; one that opens under neither is
    /// counted and left. Safe to run again after a crash part-way: what was done opens under
    /// the new key, what was not still opens under the old. The salts stay.
    ///
    /// # Errors
    /// The old or new key that cannot be had; a re-sealed value that cannot be written, or
    /// its old file removed (the run can be repeated). What cannot be read is counted in
    /// [`Resealed::unreadable`], not an error.
    pub fn reseal_from(&self, old: &dyn KeySource) -> Result<Resealed, Error> {
        let old_master = old.master_key()?;
        let new_master = self.keys.master_key()?;
        let mut done = Resealed::default();
        for e in self.root.entries().map_err(io("list apps"))? {
            let e = e.map_err(io("list apps"))?;
            let Some(app) = e.file_name().to_str().and_then(|n| n.parse::<AppId>().ok()) else {
                continue;
            };
            let state = self.state(&app)?;
            let mut state = state
                .lock()
                .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
            done.apps += 1;
            // One app's damaged files (a salt of the wrong size, a directory where a value
            // should be) are counted, and the others still move.
            let Ok(Some(dir)) = self.app_dir(&app, false) else {
                continue;
            };
            let salt = match dir.read(SALT) {
                Ok(s) if s.len() == 32 => s,
                // No salt: nothing of the app opens under any key (a wipe cut short).
                Err(e) if not_found(&e) => continue,
                _ => {
                    done.unreadable += 1;
                    continue;
                }
            };
            let old_keys = AppKeys::derive(&old_master, &app, &salt);
            let new_keys = AppKeys::derive(&new_master, &app, &salt);
            let Ok(values) = dir.open_dir(VALUES) else {
                continue;
            };
            let names: Vec<String> = match values.entries() {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .filter_map(|v| v.file_name().to_str().map(str::to_owned))
                    .filter(|n| n.len() == 64)
                    .collect(),
                Err(_) => {
                    done.unreadable += 1;
                    continue;
                }
            };
            for file in names {
                let Ok(bytes) = values.read(&file) else {
                    done.unreadable += 1;
                    continue;
                };
                if Self::open(&new_keys, &app, &file, bytes.clone()).is_ok() {
                    done.already += 1;
                    continue;
                }
                let Ok((key, value)) = Self::open(&old_keys, &app, &file, bytes) else {
                    done.unreadable += 1;
                    continue;
                };
                let value = Zeroizing::new(value);
                let new_file = Self::file_name(&new_keys, &key);
                let sealed = Self::seal(&new_keys, &app, &new_file, &key, &value)?;
                write_durably(&values, &new_file, &sealed)?;
                if new_file != file {
                    values.remove_file(&file).map_err(io("remove a value"))?;
                }
                done.values += 1;
            }
            values
                .open(".")
                .and_then(|d| d.sync_all())
                .map_err(io("sync values"))?;
            if let Ok(mut c) = self.key_cache.lock() {
                c.remove(&app);
            }
            state.usage = None;
        }
        Ok(done)
    }
}

impl Storage for DiskStorage {
    fn get(&self, app: &AppId, key: &str) -> Result<Option<Vec<u8>>, Error> {
        check_key(key)?;
        let Some(dir) = self.app_dir(app, false)? else {
            return Ok(None);
        };
        let Some(keys) = self.app_keys(app, &dir, false)? else {
            return Ok(None);
        };
        let file = Self::file_name(&keys, key);
        let bytes = match dir.read(format!("{VALUES}/{file}")) {
            Ok(b) => b,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(io("read a value")(e)),
        };
        let (stored_key, value) = Self::open(&keys, app, &file, bytes)?;
        if stored_key != key {
            return Err(Error::Integrity("a stored value"));
        }
        Ok(Some(value))
    }

    fn set(&self, app: &AppId, key: &str, value: &[u8]) -> Result<(), Error> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::Limit(format!(
                "values are at most {MAX_VALUE_BYTES} bytes; store less or split it"
            )));
        }
        let state = self.state(app)?;
        let mut state = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        let dir = self
            .app_dir(app, true)?
            .ok_or_else(|| other("storage: the app's directory vanished".to_owned()))?;
        let keys = self
            .app_keys(app, &dir, true)?
            .ok_or_else(|| other("storage: the app's salt vanished".to_owned()))?;
        let file = Self::file_name(&keys, key);
        let path = format!("{VALUES}/{file}");
        let (bytes, count) = self.usage_of(&mut state, Some(&dir))?;
        let old = match dir.metadata(&path) {
            Ok(m) => Some(m.len()),
            Err(e) if not_found(&e) => None,
            Err(e) => return Err(io("size a value")(e)),
        };
        let new = OVERHEAD_BYTES + key.len() as u64 + value.len() as u64;
        let bytes_after = bytes - old.unwrap_or(0).min(bytes) + new;
        let count_after = count + u64::from(old.is_none());
        let quota = self.quota(app);
        if bytes_after > quota {
            return Err(Error::Quota(format!(
                "storing this would use {bytes_after} of {quota} bytes; remove something first"
            )));
        }
        if count_after > self.config.quota_keys {
            return Err(Error::Quota(format!(
                "the app may keep at most {} keys; remove some first",
                self.config.quota_keys
            )));
        }
        let sealed = Self::seal(&keys, app, &file, key, value)?;
        let values = dir.open_dir(VALUES).map_err(io("open values"))?;
        write_durably(&values, &file, &sealed)?;
        state.usage = Some((bytes_after, count_after));
        Ok(())
    }

    fn remove(&self, app: &AppId, key: &str) -> Result<bool, Error> {
        check_key(key)?;
        let state = self.state(app)?;
        let mut state = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        let Some(dir) = self.app_dir(app, false)? else {
            return Ok(false);
        };
        let Some(keys) = self.app_keys(app, &dir, false)? else {
            return Ok(false);
        };
        let file = Self::file_name(&keys, key);
        let (bytes, count) = self.usage_of(&mut state, Some(&dir))?;
        let values = dir.open_dir(VALUES).map_err(io("open values"))?;
        let size = match values.metadata(&file) {
            Ok(m) => m.len(),
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(io("size a value")(e)),
        };
        // A removed key is no longer shared: the share goes first, so a crash in between can
        // never leave a share that a later value of the same key would inherit.
        let mut shares = Self::read_shares(&dir)?;
        if shares.shares.remove(key).is_some() {
            Self::write_shares(&dir, &shares)?;
        }
        values.remove_file(&file).map_err(io("remove a value"))?;
        values
            .open(".")
            .and_then(|d| d.sync_all())
            .map_err(io("sync values"))?;
        state.usage = Some((bytes.saturating_sub(size), count.saturating_sub(1)));
        Ok(true)
    }

    fn list(&self, app: &AppId) -> Result<Vec<String>, Error> {
        let Some(dir) = self.app_dir(app, false)? else {
            return Ok(Vec::new());
        };
        let Some(keys) = self.app_keys(app, &dir, false)? else {
            return Ok(Vec::new());
        };
        let values = match dir.open_dir(VALUES) {
            Ok(v) => v,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io("open values")(e)),
        };
        let mut out = Vec::new();
        for e in values.entries().map_err(io("list values"))? {
            let e = e.map_err(io("list values"))?;
            let name = e.file_name();
            let Some(name) = name.to_str().filter(|n| n.len() == 64) else {
                continue; // temp files of writes in flight
            };
            let bytes = match values.read(name) {
                Ok(b) => b,
                Err(e) if not_found(&e) => continue, // removed meanwhile
                Err(e) => return Err(io("read a value")(e)),
            };
            let (key, _) = Self::open(&keys, app, name, bytes)?;
            if Self::file_name(&keys, &key) != name {
                return Err(Error::Integrity("a stored value"));
            }
            out.push(key);
        }
        out.sort();
        Ok(out)
    }

    fn usage(&self, app: &AppId) -> Result<Usage, Error> {
        let state = self.state(app)?;
        let mut state = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        let dir = self.app_dir(app, false)?;
        let (bytes, keys) = self.usage_of(&mut state, dir.as_ref())?;
        Ok(Usage {
            keys,
            bytes,
            quota_bytes: self.quota(app),
        })
    }

    fn share(&self, owner: &AppId, key: &str, reader: &AppId) -> Result<(), Error> {
        check_key(key)?;
        if owner == reader {
            return Err(Error::Invalid {
                what: "share",
                reason: "an app cannot share with itself".into(),
            });
        }
        let state = self.state(owner)?;
        let _guard = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        if self.get(owner, key)?.is_none() {
            return Err(Error::NotFound(format!("no key {key:?} to share")));
        }
        let dir = self
            .app_dir(owner, false)?
            .ok_or_else(|| Error::NotFound("the owner has no data".into()))?;
        let mut shares = Self::read_shares(&dir)?;
        let total: usize = shares.shares.values().map(BTreeSet::len).sum();
        let readers = shares.shares.entry(key.to_owned()).or_default();
        if readers.contains(reader.as_str()) {
            return Ok(());
        }
        if readers.len() >= MAX_READERS_PER_KEY || total >= MAX_SHARES {
            return Err(Error::Quota(format!(
                "an app may share a key with at most {MAX_READERS_PER_KEY} apps and keep at most {MAX_SHARES} shares; unshare some first"
            )));
        }
        readers.insert(reader.as_str().to_owned());
        Self::write_shares(&dir, &shares)
    }

    fn unshare(&self, owner: &AppId, key: &str, reader: &AppId) -> Result<bool, Error> {
        check_key(key)?;
        let state = self.state(owner)?;
        let _guard = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        let Some(dir) = self.app_dir(owner, false)? else {
            return Ok(false);
        };
        let mut shares = Self::read_shares(&dir)?;
        let removed = shares
            .shares
            .get_mut(key)
            .is_some_and(|r| r.remove(reader.as_str()));
        if removed {
            shares.shares.retain(|_, r| !r.is_empty());
            Self::write_shares(&dir, &shares)?;
        }
        Ok(removed)
    }

    fn shares_of(&self, app: &AppId) -> Result<ShareList, Error> {
        let given = self.shares(app)?;
        let mut received = Vec::new();
        for e in self.root.entries().map_err(io("list apps"))? {
            let e = e.map_err(io("list apps"))?;
            let Some(owner) = e.file_name().to_str().and_then(|n| n.parse::<AppId>().ok()) else {
                continue;
            };
            if &owner == app {
                continue;
            }
            for (key, reader) in self.shares(&owner)? {
                if &reader == app {
                    received.push((owner.clone(), key));
                }
            }
        }
        received.sort();
        Ok(ShareList { given, received })
    }

    fn get_shared(
        &self,
        reader: &AppId,
        owner: &AppId,
        key: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        check_key(key)?;
        let Some(dir) = self.app_dir(owner, false)? else {
            return Err(Error::Denied(format!(
                "{owner} shares nothing with {reader}"
            )));
        };
        let shares = Self::read_shares(&dir)?;
        if !shares
            .shares
            .get(key)
            .is_some_and(|r| r.contains(reader.as_str()))
        {
            return Err(Error::Denied(format!(
                "{owner} does not share that key with {reader}"
            )));
        }
        self.get(owner, key)
    }

    fn limit(&self, app: &AppId, bytes: u64) {
        self.set_quota(app, bytes);
    }

    fn wipe(&self, app: &AppId) -> Result<(), Error> {
        let state = self.state(app)?;
        let mut state = state
            .lock()
            .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
        if let Ok(mut c) = self.key_cache.lock() {
            c.remove(app);
        }
        if let Some(dir) = self.app_dir(app, false)? {
            // Crypto-shredding first: without the salt no file of the app opens again.
            match dir.remove_file(SALT) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(io("remove an app's salt")(e)),
            }
            dir.open(".")
                .and_then(|d| d.sync_all())
                .map_err(io("sync an app's directory"))?;
            // A read racing the wipe may have cached the keys again before the salt went.
            if let Ok(mut c) = self.key_cache.lock() {
                c.remove(app);
            }
            drop(dir);
            self.root
                .remove_dir_all(app.as_str())
                .map_err(io("remove an app's data"))?;
            self.root
                .open(".")
                .and_then(|d| d.sync_all())
                .map_err(io("sync the storage root"))?;
        }
        state.usage = None;
        drop(state);
        // Shares naming the app as reader, in every other namespace.
        for e in self.root.entries().map_err(io("list apps"))? {
            let e = e.map_err(io("list apps"))?;
            let Some(owner) = e.file_name().to_str().and_then(|n| n.parse::<AppId>().ok()) else {
                continue;
            };
            let owner_state = self.state(&owner)?;
            let _owner = owner_state
                .lock()
                .map_err(|_| Error::Unavailable("a storage lock is poisoned".into()))?;
            let Some(dir) = self.app_dir(&owner, false)? else {
                continue;
            };
            // A damaged share record elsewhere must not stop this app's wipe.
            let Ok(mut shares) = Self::read_shares(&dir) else {
                continue;
            };
            let before = shares.clone();
            for readers in shares.shares.values_mut() {
                readers.remove(app.as_str());
            }
            shares.shares.retain(|_, r| !r.is_empty());
            if shares != before {
                Self::write_shares(&dir, &shares)?;
            }
        }
        if let Ok(mut q) = self.quotas.lock() {
            q.remove(app);
        }
        Ok(())
    }
}
