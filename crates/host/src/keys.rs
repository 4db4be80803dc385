//! The host's keys, every one derived from the anchor's root secret (outside the home), and
//! the move of a home made before that, which kept `host.key` and `storage.key` inside.
//!
//! A home-writer could read those files: with `host.key` they could MAC patched machine code
//! as a cached artifact (which the runtime deserializes) or forge install receipts; with
//! `storage.key` they could read and forge every stored value. So nothing of them is trusted:
//! the move drops every cached artifact, re-verifies every installed package in full
//! (signature and static analysis) before giving it a receipt under the new key, re-seals
//! storage under the new master key, removes both files, and only then records in the anchor
//! that it is done. A crash part-way leaves the anchor saying "pending", and the next host
//! does it again (each step can run twice). Once done, a key file found in the home was
//! planted: it is never read, and it is audited and reported.

use cap_std::fs::Dir;
use sandframe_core::{AppId, AuditOutcome};
use sandframe_gateway::{HomeSecret, Migration};
use sandframe_storage::{DiskStorage, MemoryKeySource, StorageConfig};
use sandframe_validate::Context;
use zeroize::Zeroizing;

use crate::Host;
use crate::error::{HostError, hold, home_err};
use crate::home::{HomeRegistry, write_durably};

/// The context of each derived key: one purpose each (`blake3::derive_key`).
const RECEIPTS: &str = "sandframe 2026-12 install receipt key";
const ARTIFACTS: &str = "sandframe 2026-12 compiled artifact key";
const STORAGE: &str = "sandframe 2026-12 storage master key";

/// The files in which a home made before the root secret kept its keys.
pub(crate) const OLD_HOST_KEY: &str = "host.key";
pub(crate) const OLD_STORAGE_KEY: &str = "storage.key";

/// The keys the host uses, each for one purpose.
pub(crate) struct HomeKeys {
    /// MACs install receipts.
    pub(crate) receipts: [u8; 32],
    /// MACs compiled artifacts in the cache.
    pub(crate) artifacts: [u8; 32],
    /// The storage master key.
    pub(crate) storage: Zeroizing<[u8; 32]>,
}

impl HomeKeys {
    pub(crate) fn derive(secret: &HomeSecret) -> HomeKeys {
        HomeKeys {
            receipts: *secret.derive(RECEIPTS),
            artifacts: *secret.derive(ARTIFACTS),
            storage: secret.derive(STORAGE),
        }
    }
}

/// What the move of an old home did (audited).
#[derive(Default)]
struct Moved {
    artifacts_dropped: u64,
    packages_verified: u64,
    packages_refused: Vec<String>,
    values_resealed: u64,
    values_unreadable: u64,
}

fn exists(home: &Dir, name: &str) -> bool {
    home.symlink_metadata(name).is_ok()
}

/// An old key file's 32 bytes, if it is a regular 32-byte file: opened without following a
/// symlink and without blocking (a FIFO planted there must not hang a host holding the
/// home lock).
fn old_key(home: &Dir, name: &str) -> Option<Zeroizing<[u8; 32]>> {
    use cap_std::fs::OpenOptionsExt as _;
    use std::io::Read as _;
    let meta = home.symlink_metadata(name).ok()?;
    if !meta.is_file() || meta.len() != 32 {
        return None;
    }
    let mut options = cap_std::fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let mut file = home.open_with(name, &options).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    file.read_exact(&mut key[..]).ok()?;
    Some(key)
}

impl Host {
    /// Moves a home whose anchor says its move is pending (see the module documentation),
    /// or reports key files planted in a home already moved. Runs under the home lock.
    pub(crate) fn settle_keys(&self) -> Result<(), HostError> {
        let held = hold(&self.lock)?;
        // Read again under the lock: another process may have done it meanwhile.
        let migration = self.anchor.home_secret()?.migration;
        let planted: Vec<&str> = [OLD_HOST_KEY, OLD_STORAGE_KEY]
            .into_iter()
            .filter(|f| exists(&self.home, f))
            .collect();
        if migration == Migration::Done {
            drop(held);
            for file in &planted {
                tracing::error!(
                    home_file = file,
                    "a key file was planted in the home after its keys moved outside it; it is never read: remove it, and find out who wrote it"
                );
                self.record(
                    None,
                    "tamper",
                    file,
                    AuditOutcome::Denied,
                    "a key file appeared in the home after its keys moved outside it; never read",
                )?;
            }
            if !planted.is_empty() {
                self.flush_audit()?;
            }
            return Ok(());
        }
        let moved = self.move_home(&planted)?;
        for file in &planted {
            // One that cannot go (a directory planted under the name) is never read either:
            // it is reported at every start from now on.
            if let Err(e) = self.home.remove_file(file) {
                self.record(
                    None,
                    "migrate",
                    file,
                    AuditOutcome::Denied,
                    &format!("{file} could not be removed ({e}); remove it by hand"),
                )?;
            }
        }
        sandframe_durable::sync_dir(&self.home).map_err(home_err("sync the home"))?;
        self.anchor.set_migration(Migration::Done)?;
        drop(held);
        if !planted.is_empty() {
            let detail = format!(
                "keys moved outside the home; {} cached artifacts dropped, {} packages verified again, {} refused ({}), {} stored values re-sealed, {} unreadable",
                moved.artifacts_dropped,
                moved.packages_verified,
                moved.packages_refused.len(),
                moved.packages_refused.join(", "),
                moved.values_resealed,
                moved.values_unreadable
            );
            tracing::warn!("{detail}");
            self.record(
                None,
                "migrate",
                &planted.join(" "),
                AuditOutcome::Allowed,
                &detail,
            )?;
            self.flush_audit()?;
        }
        Ok(())
    }

    /// The steps of the move (each safe to run again), with the home lock held.
    fn move_home(&self, old_keys: &[&str]) -> Result<Moved, HostError> {
        let mut moved = Moved::default();
        // 1. Every cached artifact goes: any may be a home-writer's, MAC'd with host.key.
        //    (One that cannot be removed, a directory say, fails the new key's MAC anyway.)
        for e in self
            .artifacts
            .entries()
            .map_err(home_err("list artifacts/"))?
            .filter_map(Result::ok)
        {
            if let Some(name) = e.file_name().to_str()
                && self.artifacts.remove_file(name).is_ok()
            {
                moved.artifacts_dropped += 1;
            }
        }
        // 2. Every installed package is verified again in full before its new receipt.
        for e in self.apps.entries().map_err(home_err("list apps/"))? {
            let e = e.map_err(home_err("list apps/"))?;
            let Some(app) = e.file_name().to_str().and_then(|n| n.parse::<AppId>().ok()) else {
                continue;
            };
            let Ok(dir) = self.apps.open_dir(app.as_str()) else {
                continue;
            };
            let Ok(bytes) = dir.read("package.sfpkg") else {
                continue; // a tombstone
            };
            let registry = HomeRegistry(&self.apps);
            match self
                .validator
                .verify(&bytes, &Context::new(&self.trust, &registry))
            {
                Ok(v) if v.package().manifest().id() == &app => {
                    write_durably(&dir, "receipt", &v.receipt(&self.receipts))?;
                    moved.packages_verified += 1;
                }
                refused => {
                    let why = match refused {
                        Err(e) => e.to_string(),
                        Ok(_) => "it holds another app's package".into(),
                    };
                    // No receipt: it does not launch; installing it again is the way back.
                    match dir.remove_file("receipt") {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(home_err(format!("remove apps/{app}/receipt"))(e)),
                    }
                    self.record(
                        Some(&app),
                        "migrate",
                        app.as_str(),
                        AuditOutcome::Denied,
                        &why,
                    )?;
                    moved.packages_refused.push(app.to_string());
                }
            }
        }
        // 3. Storage sealed under storage.key is sealed again under the derived master key
        //    (the default storage's layout, whatever storage this host was given).
        if old_keys.contains(&OLD_STORAGE_KEY) {
            let root = match self.home.open_dir("storage") {
                Ok(d) => Some(d),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(home_err("open storage/")(e)),
            };
            match (root, old_key(&self.home, OLD_STORAGE_KEY)) {
                (None, _) => {}
                (Some(root), Some(old)) => {
                    let disk = DiskStorage::new(
                        root,
                        std::sync::Arc::new(MemoryKeySource::new(*self.storage_key)),
                        StorageConfig::default(),
                    );
                    let done = disk.reseal_from(&MemoryKeySource::new(*old))?;
                    moved.values_resealed = done.values;
                    moved.values_unreadable = done.unreadable;
                }
                (Some(_), None) => {
                    // Not a key: what was sealed under the real one cannot be opened.
                    self.record(
                        None,
                        "migrate",
                        OLD_STORAGE_KEY,
                        AuditOutcome::Denied,
                        "storage.key is not a 32-byte file; values sealed under it cannot be read",
                    )?;
                }
            }
        }
        Ok(moved)
    }
}
