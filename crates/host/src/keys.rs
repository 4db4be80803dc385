//! The host's keys, every one derived from the anchor's root secret (outside the home), and
//! the move of a home made before that, which kept `host.key` and `storage.key` inside, and
//! its install records, grants and quarantines in plain files.
//!
//! A home-writer could read those files: with `host.key` they could MAC patched machine code
//! as a cached artifact (which the runtime deserializes) or forge install receipts; with
//! `storage.key` they could read and forge every stored value. So nothing of them is trusted:
//! the move drops every cached artifact, re-verifies every installed package in full
//! (signature and static analysis) before giving it a receipt under the new key, re-seals
//! storage under the new master key, removes both files, and only then records in the anchor
//! that the keys moved. A crash part-way leaves the anchor saying "pending", and the next host
//! does it again (each step can run twice). Once done, a key file found in the home was
//! planted: it is never read, and it is audited and reported.
//!
//! Then the plain state files go into the sealed state, in one commit: each installed app's
//! record is made again from its package, verified in full (a refused one keeps its pin and
//! loses its receipt); an uninstalled app's tombstone keeps the pin its file names (the only
//! part nothing can check); quarantines are carried over (a file that does not parse still
//! quarantines its app); grants are dropped, since nothing says a person gave them, and the
//! apps ask again. The files are removed after the commit; a crash before it leaves them for
//! the next host, and one after it leaves a sealed state that the next run only adds to
//! (it never overwrites a sealed value).

use cap_std::fs::Dir;
use sandframe_core::{AppId, AuditOutcome, HomeState as _};
use sandframe_gateway::{HomeSecret, Migration};
use sandframe_monitor::{QUARANTINE_KIND, Quarantined};
use sandframe_package::Package;
use sandframe_storage::{DiskStorage, MemoryKeySource, StorageConfig};
use sandframe_validate::Context;
use zeroize::Zeroizing;

use crate::Host;
use crate::error::{HostError, hold, home_err};
use crate::home::{
    HomeRegistry, RECORD_KIND, Record, read_package, read_regular, remove_app_file, write_durably,
};

/// The context of each derived key: one purpose each (`blake3::derive_key`).
const RECEIPTS: &str = "sandframe 2026-12 install receipt key";
const ARTIFACTS: &str = "sandframe 2026-12 compiled artifact key";
const STORAGE: &str = "sandframe 2026-12 storage master key";
const STATE: &str = "sandframe 2026-12 home state MAC key";

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
    /// MACs the home's sealed state.
    pub(crate) state: [u8; 32],
}

impl HomeKeys {
    pub(crate) fn derive(secret: &HomeSecret) -> HomeKeys {
        HomeKeys {
            receipts: *secret.derive(RECEIPTS),
            artifacts: *secret.derive(ARTIFACTS),
            storage: secret.derive(STORAGE),
            state: *secret.derive(STATE),
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
    tombstones: u64,
    quarantines: u64,
    grants_dropped: Vec<String>,
}

/// The plain state files of a home made before its state was sealed.
const OLD_GRANTS: &str = "grants";
const OLD_QUARANTINE: &str = "quarantine";
const OLD_RECORD: &str = "record.toml";

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
    /// or reports key and state files planted in a home already moved. Runs under the home
    /// lock.
    pub(crate) fn settle_home(&self) -> Result<(), HostError> {
        let held = hold(&self.lock)?;
        // Read again under the lock: another process may have done it meanwhile.
        let migration = self.anchor.home_secret()?.migration;
        let planted: Vec<&str> = [OLD_HOST_KEY, OLD_STORAGE_KEY, OLD_GRANTS, OLD_QUARANTINE]
            .into_iter()
            .filter(|f| exists(&self.home, f))
            .collect();
        if migration == Migration::Done {
            drop(held);
            for file in &planted {
                tracing::error!(
                    home_file = file,
                    "a file was planted in the home after its keys and state moved out of its reach; it is never read: remove it, and find out who wrote it"
                );
                self.record(
                    None,
                    "tamper",
                    file,
                    AuditOutcome::Denied,
                    "a key or state file appeared in the home after its keys and state moved out of its reach; never read",
                )?;
            }
            if !planted.is_empty() {
                self.flush_audit()?;
            }
            return Ok(());
        }
        let mut moved = Moved::default();
        let keys: Vec<&str> = planted
            .iter()
            .copied()
            .filter(|f| [OLD_HOST_KEY, OLD_STORAGE_KEY].contains(f))
            .collect();
        if migration == Migration::Pending {
            self.move_keys(&keys, &mut moved)?;
            for file in &keys {
                // One that cannot go (a directory planted under the name) is never read
                // either: it is reported at every start from now on.
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
            self.anchor.set_migration(Migration::KeysMoved)?;
        }
        let sealed = self.seal_old_state(&mut moved)?;
        self.anchor.set_migration(Migration::Done)?;
        drop(held);
        if !keys.is_empty() || sealed {
            let detail = format!(
                "keys and state moved out of the home's reach; {} cached artifacts dropped, {} packages verified again, {} refused ({}), {} stored values re-sealed, {} unreadable, {} uninstalled apps' pins and {} quarantines carried over, grants of {} apps dropped ({}: they ask again)",
                moved.artifacts_dropped,
                moved.packages_verified,
                moved.packages_refused.len(),
                moved.packages_refused.join(", "),
                moved.values_resealed,
                moved.values_unreadable,
                moved.tombstones,
                moved.quarantines,
                moved.grants_dropped.len(),
                moved.grants_dropped.join(", "),
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

    /// The key steps of the move (each safe to run again), with the home lock held.
    fn move_keys(&self, old_keys: &[&str], moved: &mut Moved) -> Result<(), HostError> {
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
        // 2. Storage sealed under storage.key is sealed again under the derived master key
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
        Ok(())
    }

    /// Carries the plain state files into the sealed state in one commit, then removes them
    /// (see the module documentation), with the home lock held. Returns whether there were
    /// any.
    fn seal_old_state(&self, moved: &mut Moved) -> Result<bool, HostError> {
        let mut items: Vec<(&str, String, Vec<u8>)> = Vec::new();
        let mut apps = Vec::new();
        for e in self.apps.entries().map_err(home_err("list apps/"))? {
            let e = e.map_err(home_err("list apps/"))?;
            if let Some(app) = e.file_name().to_str().and_then(|n| n.parse::<AppId>().ok()) {
                apps.push(app);
            }
        }
        apps.sort();
        for app in &apps {
            let Ok(dir) = self.apps.open_dir(app.as_str()) else {
                continue;
            };
            let old: Option<Record> = read_regular(&dir, OLD_RECORD, 64 << 10)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| toml::from_str(&t).ok());
            let record = match read_package(&dir) {
                Some(bytes) => self.verify_again(app, &dir, &bytes, old, moved)?,
                None => old.map(|r| {
                    moved.tombstones += 1;
                    Record {
                        version: None,
                        capabilities: Vec::new(),
                        ..r
                    }
                }),
            };
            if let Some(record) = record {
                let bytes = postcard::to_allocvec(&record)
                    .map_err(|e| HostError::from(crate::HomeError::Damaged(e.to_string())))?;
                items.push((RECORD_KIND, app.to_string(), bytes));
            }
        }
        let mut old_files = apps
            .iter()
            .any(|a| exists(&self.apps, &format!("{a}/{OLD_RECORD}")));
        if let Ok(dir) = self.home.open_dir(OLD_QUARANTINE) {
            old_files = true;
            for e in dir.entries().map_err(home_err("list quarantine/"))? {
                let e = e.map_err(home_err("list quarantine/"))?;
                let Some(app) = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|n| n.parse::<AppId>().ok())
                else {
                    continue;
                };
                // Carried over even if it does not parse: a quarantine fails closed.
                let q = e
                    .file_name()
                    .to_str()
                    .and_then(|n| read_regular(&dir, n, 64 << 10))
                    .and_then(|b| serde_json::from_slice::<Quarantined>(&b).ok())
                    .filter(|q| q.app == app.as_str())
                    .unwrap_or_else(|| Quarantined {
                        app: app.to_string(),
                        rule: "carried over".into(),
                        evidence: "an older home's quarantine file that could not be read".into(),
                        unix_ms: 0,
                    });
                let bytes = serde_json::to_vec(&q)
                    .map_err(|e| HostError::from(crate::HomeError::Damaged(e.to_string())))?;
                moved.quarantines += 1;
                items.push((QUARANTINE_KIND, app.to_string(), bytes));
            }
        }
        if let Ok(dir) = self.home.open_dir(OLD_GRANTS) {
            old_files = true;
            for e in dir.entries().map_err(home_err("list grants/"))? {
                let e = e.map_err(home_err("list grants/"))?;
                if let Some(app) = e
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .and_then(|n| n.parse::<AppId>().ok())
                {
                    moved.grants_dropped.push(app.to_string());
                }
            }
        }
        if !old_files {
            return Ok(false);
        }
        // Only adds, never overwrites: a run after a crash past this commit finds the state
        // already there, and a file planted meanwhile changes nothing sealed.
        let set: Vec<(&str, &str, Option<&[u8]>)> = items
            .iter()
            .filter(|(kind, name, _)| !self.state.contains(kind, name))
            .map(|(k, n, v)| (*k, n.as_str(), Some(v.as_slice())))
            .collect();
        self.state.set_many(&set)?;
        // A file that cannot go (a directory planted under its name) does not hold the move
        // open: it is audited now, never read, and reported as planted at every start.
        let mut stuck = Vec::new();
        for app in &apps {
            if let Ok(dir) = self.apps.open_dir(app.as_str())
                && let Err(e) = remove_app_file(&dir, app, OLD_RECORD)
            {
                stuck.push((format!("apps/{app}/{OLD_RECORD}"), e.to_string()));
            }
        }
        for d in [OLD_GRANTS, OLD_QUARANTINE] {
            match self.home.remove_dir_all(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => stuck.push((format!("{d}/"), e.to_string())),
            }
        }
        for (file, why) in stuck {
            self.record(
                None,
                "migrate",
                &file,
                AuditOutcome::Denied,
                &format!(
                    "{file} could not be removed ({why}); it is never read: remove it by hand"
                ),
            )?;
        }
        sandframe_durable::sync_dir(&self.home).map_err(home_err("sync the home"))?;
        Ok(true)
    }

    /// An installed app's package verified again in full: its record then comes from the
    /// package and it gets a new receipt; a refused one keeps the pin of its old record (or
    /// of the key it claims) and loses its receipt.
    fn verify_again(
        &self,
        app: &AppId,
        dir: &Dir,
        bytes: &[u8],
        old: Option<Record>,
        moved: &mut Moved,
    ) -> Result<Option<Record>, HostError> {
        let registry = HomeRegistry(self.state.as_ref());
        match self
            .validator()
            .verify(bytes, &Context::new(&self.trust(), &registry))
        {
            Ok(v) if v.package().manifest().id() == app => {
                write_durably(dir, "receipt", &v.receipt(&self.receipts))?;
                moved.packages_verified += 1;
                Ok(Some(Record::installed(v.package())))
            }
            refused => {
                let why = match refused {
                    Err(e) => e.to_string(),
                    Ok(_) => "it holds another app's package".into(),
                };
                // No receipt: it does not launch; installing it again is the way back.
                remove_app_file(dir, app, "receipt")?;
                self.record(
                    Some(app),
                    "migrate",
                    app.as_str(),
                    AuditOutcome::Denied,
                    &why,
                )?;
                moved.packages_refused.push(app.to_string());
                let pin = old.map(|r| r.publisher).or_else(|| {
                    Package::parse(bytes)
                        .ok()
                        .map(|p| p.publisher().to_string())
                });
                Ok(pin.map(|publisher| Record {
                    publisher,
                    version: None,
                    capabilities: Vec::new(),
                }))
            }
        }
    }
}
