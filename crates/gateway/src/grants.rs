//! Grants: which declared capabilities each app holds, persisted per app.
//!
//! Each app's grants are one JSON file, `<app id>.json`, in the directory the store is given
//! (the host gives it `<home>/grants/`), replaced atomically and durably on every change. The
//! file name is the validated [`AppId`], never guest input. A running app's session sees a
//! grant or a revocation at its next call: each app's grants carry an epoch that every change
//! bumps, and a session re-reads them when the epoch moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::fs::Dir;
use sandframe_core::{AppId, Capability, Grant, GrantSource};

use crate::GatewayError;

/// Largest grants file read back, in bytes (a larger one is damage, not grants).
pub const MAX_GRANTS_FILE_BYTES: u64 = 64 << 10;

/// One app's grants in memory.
#[derive(Debug, Default)]
pub(crate) struct AppGrants {
    grants: RwLock<Vec<Grant>>,
    epoch: AtomicU64,
}

impl AppGrants {
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn has(&self, capability: &str) -> bool {
        self.grants
            .read()
            .map(|g| g.iter().any(|g| g.capability().as_str() == capability))
            .unwrap_or(false)
    }

    fn snapshot(&self) -> Vec<Grant> {
        self.grants.read().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Where grants live: a directory (durable) or memory only.
pub struct GrantStore {
    dir: Option<Dir>,
    apps: Mutex<HashMap<AppId, Arc<AppGrants>>>,
}

impl std::fmt::Debug for GrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantStore")
            .field("durable", &self.dir.is_some())
            .finish_non_exhaustive()
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> GatewayError {
    move |source| GatewayError::Io { what, source }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl GrantStore {
    /// Grants kept in `dir`, one file per app.
    pub fn open(dir: Dir) -> GrantStore {
        GrantStore {
            dir: Some(dir),
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Grants kept in memory only (lost when the process ends).
    pub fn in_memory() -> GrantStore {
        GrantStore {
            dir: None,
            apps: Mutex::new(HashMap::new()),
        }
    }

    fn file(app: &AppId) -> String {
        format!("{app}.json")
    }

    /// The app's grants, loaded on first use.
    pub(crate) fn app(&self, app: &AppId) -> Result<Arc<AppGrants>, GatewayError> {
        let mut apps = self
            .apps
            .lock()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        if let Some(g) = apps.get(app) {
            return Ok(Arc::clone(g));
        }
        let grants = match &self.dir {
            None => Vec::new(),
            Some(dir) => self.load(dir, app)?,
        };
        let g = Arc::new(AppGrants {
            grants: RwLock::new(grants),
            epoch: AtomicU64::new(0),
        });
        apps.insert(app.clone(), Arc::clone(&g));
        Ok(g)
    }

    fn load(&self, dir: &Dir, app: &AppId) -> Result<Vec<Grant>, GatewayError> {
        let name = Self::file(app);
        let damaged = |why: String| {
            GatewayError::Damaged(format!(
                "grants/{name} {why}; revoke the app's grants (delete the file) to start over"
            ))
        };
        match dir.metadata(&name) {
            Ok(m) if m.len() > MAX_GRANTS_FILE_BYTES => {
                return Err(damaged(format!("is over {MAX_GRANTS_FILE_BYTES} bytes")));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read a grants file")(e)),
        }
        let bytes = dir.read(&name).map_err(io("read a grants file"))?;
        let grants: Vec<Grant> = serde_json::from_slice(&bytes)
            .map_err(|e| damaged(format!("is not a grants file ({e})")))?;
        if grants.iter().any(|g| g.app() != app) {
            return Err(damaged("holds another app's grants".into()));
        }
        Ok(grants)
    }

    fn save(&self, app: &AppId, grants: &[Grant]) -> Result<(), GatewayError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let name = Self::file(app);
        let bytes = serde_json::to_vec_pretty(grants).map_err(|e| GatewayError::Io {
            what: "encode grants",
            source: std::io::Error::other(e),
        })?;
        sandframe_durable::replace(dir, &name, &bytes, 0o600).map_err(io("write a grants file"))
    }

    /// The app's grants.
    ///
    /// # Errors
    /// [`GatewayError::Damaged`] or [`GatewayError::Io`] if its grants file cannot be read.
    pub fn list(&self, app: &AppId) -> Result<Vec<Grant>, GatewayError> {
        Ok(self.app(app)?.snapshot())
    }

    /// Grants `capability` to `app` (durably, before returning); a no-op if already held.
    ///
    /// # Errors
    /// [`GatewayError::Io`] if the grant cannot be stored (then it is not held either).
    pub fn grant(
        &self,
        app: &AppId,
        capability: &Capability,
        source: GrantSource,
    ) -> Result<(), GatewayError> {
        let g = self.app(app)?;
        let mut grants = g
            .grants
            .write()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        if grants.iter().any(|x| x.capability() == capability) {
            return Ok(());
        }
        let mut next = grants.clone();
        next.push(Grant::new(
            app.clone(),
            capability.clone(),
            source,
            now_ms(),
        ));
        self.save(app, &next)?;
        *grants = next;
        g.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Revokes `capability` from `app`; returns whether it was held. A running app loses it at
    /// its next call.
    ///
    /// # Errors
    /// [`GatewayError::Io`] if the change cannot be stored (then the grant stays).
    pub fn revoke(&self, app: &AppId, capability: &Capability) -> Result<bool, GatewayError> {
        let g = self.app(app)?;
        let mut grants = g
            .grants
            .write()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        let next: Vec<Grant> = grants
            .iter()
            .filter(|x| x.capability() != capability)
            .cloned()
            .collect();
        if next.len() == grants.len() {
            return Ok(false);
        }
        self.save(app, &next)?;
        *grants = next;
        g.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Forgets every grant of `app` and deletes its file (uninstall).
    ///
    /// # Errors
    /// [`GatewayError::Io`] if the file cannot be removed.
    pub fn forget(&self, app: &AppId) -> Result<(), GatewayError> {
        if let Ok(apps) = self.apps.lock()
            && let Some(g) = apps.get(app)
        {
            if let Ok(mut grants) = g.grants.write() {
                grants.clear();
            }
            g.epoch.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(dir) = &self.dir {
            let name = Self::file(app);
            for n in [format!("{name}.tmp"), name.clone()] {
                match dir.remove_file(&n) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("remove a grants file")(e)),
                }
            }
            // What a crash mid-write may have left (`sandframe_durable`'s temporary files).
            sandframe_durable::remove_leftovers(dir, &name).map_err(io("list the grants"))?;
        }
        Ok(())
    }
}
