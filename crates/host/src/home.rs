//! The home's own records: per-app install records (in the sealed state), durable writes,
//! the artifact cache and the registry `validate::verify` reads. (The keys live outside the
//! home: `keys`.)

use cap_std::fs::Dir;
use sandframe_core::{AppId, HomeState};
use sandframe_package::PublicKey;
use sandframe_runtime::ArtifactStore;
use sandframe_validate::{Installed, Registry};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use sandframe_core::{AuditOutcome, AuditRecord, AuditSink as _, Layer};
use sandframe_durable::HomeLock;
use sandframe_gateway::{Anchor, AuditLog, GatewayError, STATE_FILE, SealedState};

use crate::error::{HomeError, HostError, home_err};

/// The sealed state's kind of install records, one per app id ever installed.
pub(crate) const RECORD_KIND: &str = "record";

/// The per-app install record, kept in the sealed state (postcard): the publisher pin, the
/// installed version (none once uninstalled: a tombstone) and the declared capabilities.
#[derive(Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) publisher: String,
    pub(crate) version: Option<String>,
    pub(crate) capabilities: Vec<String>,
}

impl Record {
    /// The record of an installed package: its publisher, version and declared capabilities.
    pub(crate) fn installed(package: &sandframe_package::Package) -> Record {
        let manifest = package.manifest();
        Record {
            publisher: package.publisher().to_string(),
            version: Some(manifest.version().to_string()),
            capabilities: manifest
                .capabilities()
                .iter()
                .map(|d| d.capability().to_string())
                .collect(),
        }
    }

    /// Commits the record of `app` to the state.
    pub(crate) fn save(&self, state: &dyn HomeState, app: &AppId) -> Result<(), HostError> {
        let bytes = postcard::to_allocvec(self)
            .map_err(|e| HostError::from(HomeError::Damaged(e.to_string())))?;
        state
            .set(RECORD_KIND, app.as_str(), Some(&bytes))
            .map_err(|e| HostError::from(HomeError::Damaged(format!("the record of {app}: {e}"))))
    }
}

/// Writes `bytes` to `name` in `dir` durably (`sandframe_durable::replace`, mode 0600).
pub(crate) fn write_durably(dir: &Dir, name: &str, bytes: &[u8]) -> Result<(), HostError> {
    sandframe_durable::replace(dir, name, bytes, 0o600).map_err(home_err(format!("write {name}")))
}

/// The file `name` in `dir`, read only if it is a regular file of at most `cap` bytes,
/// opened without following a symlink and without blocking (a FIFO planted there must not
/// hang a host holding the home lock). `None` if it is missing or not such a file.
pub(crate) fn read_regular(dir: &Dir, name: &str, cap: usize) -> Option<Vec<u8>> {
    use cap_std::fs::OpenOptionsExt as _;
    use std::io::Read as _;
    let mut options = cap_std::fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = dir.open_with(name, &options).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > cap as u64 {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap as u64).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// An app's `package.sfpkg` ([`read_regular`], within the package size cap).
pub(crate) fn read_package(dir: &Dir) -> Option<Vec<u8>> {
    read_regular(
        dir,
        "package.sfpkg",
        sandframe_package::limits::MAX_PACKAGE_BYTES,
    )
}

/// Removes `name` from the app's directory `dir` (`apps/<app>/`), and what a crash mid-write
/// may have left of it (`sandframe_durable`'s temporary files); a file already gone is fine.
pub(crate) fn remove_app_file(dir: &Dir, app: &AppId, name: &str) -> Result<(), HostError> {
    match dir.remove_file(name) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(home_err(format!("remove apps/{app}/{name}"))(e)),
    }
    sandframe_durable::remove_leftovers(dir, name).map_err(home_err(format!("list apps/{app}/")))
}

/// The runtime's artifact cache under `artifacts/` (records are MAC'd by the runtime).
pub(crate) struct DiskArtifacts(pub(crate) Dir);

impl ArtifactStore for DiskArtifacts {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.read(key).ok()
    }
    fn put(&self, key: &str, record: &[u8]) {
        // A cache: no fsync (a torn or lost record fails its MAC and is recompiled); the
        // rename keeps a reader from seeing a half-written file.
        let tmp = format!("{key}.tmp");
        let written = self
            .0
            .write(&tmp, record)
            .and_then(|()| self.0.rename(&tmp, &self.0, key));
        if written.is_err() {
            let _ = self.0.remove_file(&tmp);
        }
    }
    fn remove(&self, key: &str) {
        let _ = self.0.remove_file(key);
    }
}

/// The home's records, as `validate::verify` reads them.
pub(crate) struct HomeRegistry<'a>(pub(crate) &'a dyn HomeState);

impl Registry for HomeRegistry<'_> {
    fn installed(&self, app: &AppId) -> Option<Installed> {
        let bytes = self.0.get(RECORD_KIND, app.as_str())?;
        let r: Record = postcard::from_bytes(&bytes).ok()?;
        Some(Installed {
            publisher: r.publisher.parse::<PublicKey>().ok()?,
            version: r.version.and_then(|v| v.parse().ok()),
            capabilities: r
                .capabilities
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        })
    }
}

/// Opens the home's sealed state. One that is refused (edited, removed, rolled back) is
/// reported where people and operators look before the error is returned: an error through
/// `tracing`, and a `tamper` record in the audit log (`audit`, or the home's log opened for
/// it), at every start until the home is restored.
pub(crate) fn open_state(
    home: &Dir,
    anchor: &Arc<dyn Anchor>,
    key: [u8; 32],
    lock: &HomeLock,
    audit: Option<&AuditLog>,
) -> Result<SealedState, HostError> {
    match SealedState::open(home, Arc::clone(anchor), key, lock.clone()) {
        Ok(state) => Ok(state),
        Err(GatewayError::StateTampered(why)) => {
            tracing::error!(home_file = STATE_FILE, "{why}");
            let opened;
            let log = match audit {
                Some(log) => Some(log),
                None => {
                    opened = AuditLog::open_locked(home, Arc::clone(anchor), lock.clone()).ok();
                    opened.as_ref()
                }
            };
            if let Some(log) = log {
                let record =
                    AuditRecord::new(Layer::Host, "tamper", STATE_FILE, AuditOutcome::Denied)
                        .detail(&why);
                // The refusal is what matters; a log that cannot take the record says so
                // at its next use.
                if log.record(&record).is_ok() {
                    let _ = log.flush();
                }
            }
            Err(GatewayError::StateTampered(why).into())
        }
        Err(e) => Err(e.into()),
    }
}
