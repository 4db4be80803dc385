//! Grants: which declared capabilities each app holds, persisted per app.
//!
//! Each app's grants are one JSON value, under kind [`GRANTS_KIND`] and the validated
//! [`AppId`] (never guest input) in the [`HomeState`] the store is given (the host gives it the
//! home's sealed state, so a grant written into the home by hand is never read), committed
//! before a change returns. A running app's session sees a grant or a revocation at its next
//! call: each app's grants carry an epoch that every change bumps, and a session re-reads them
//! when the epoch moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sandframe_core::{AppId, Capability, Grant, GrantSource, HomeState, OriginPattern};

use crate::GatewayError;

/// The [`HomeState`] kind under which grants are kept.
pub const GRANTS_KIND: &str = "grants";

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

    /// The scope of the app's grant of `capability`, if it holds one.
    pub(crate) fn scope(&self, capability: &str) -> Option<Vec<OriginPattern>> {
        self.grants.read().ok().and_then(|g| {
            g.iter()
                .find(|g| g.capability().as_str() == capability)
                .map(|g| g.scope().to_vec())
        })
    }

    fn snapshot(&self) -> Vec<Grant> {
        self.grants.read().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Where grants live: a [`HomeState`] (durable) or memory only.
pub struct GrantStore {
    state: Option<Arc<dyn HomeState>>,
    /// Held across one change, from reading the stored grants to swapping in the result.
    changing: Mutex<()>,
    apps: Mutex<HashMap<AppId, Arc<AppGrants>>>,
}

impl std::fmt::Debug for GrantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantStore")
            .field("durable", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl GrantStore {
    /// Grants kept in `state`, one value per app.
    pub fn open(state: Arc<dyn HomeState>) -> GrantStore {
        GrantStore {
            state: Some(state),
            changing: Mutex::new(()),
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Grants kept in memory only (lost when the process ends).
    pub fn in_memory() -> GrantStore {
        GrantStore {
            state: None,
            changing: Mutex::new(()),
            apps: Mutex::new(HashMap::new()),
        }
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
        let grants = match &self.state {
            None => Vec::new(),
            Some(state) => Self::load(state.as_ref(), app)?,
        };
        let g = Arc::new(AppGrants {
            grants: RwLock::new(grants),
            epoch: AtomicU64::new(0),
        });
        apps.insert(app.clone(), Arc::clone(&g));
        Ok(g)
    }

    fn load(state: &dyn HomeState, app: &AppId) -> Result<Vec<Grant>, GatewayError> {
        let damaged = |why: String| {
            GatewayError::Damaged(format!(
                "the grants of {app} {why}; revoke them (`sandframe revoke`) to start over"
            ))
        };
        let Some(bytes) = state.get(GRANTS_KIND, app.as_str()) else {
            return Ok(Vec::new());
        };
        let grants: Vec<Grant> =
            serde_json::from_slice(&bytes).map_err(|e| damaged(format!("are not grants ({e})")))?;
        if grants.iter().any(|g| g.app() != app) {
            return Err(damaged("hold another app's grants".into()));
        }
        Ok(grants)
    }

    /// Reads the app's grants again from the state (which another process may have changed),
    /// so that a running session sees the difference at its next call.
    ///
    /// # Errors
    /// [`GatewayError::Damaged`] if the stored grants do not parse.
    pub fn reload(&self, app: &AppId) -> Result<(), GatewayError> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let stored = Self::load(state.as_ref(), app)?;
        let g = self.app(app)?;
        let mut grants = g
            .grants
            .write()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        if *grants != stored {
            *grants = stored;
            g.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
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
        self.change(app, &mut |grants| {
            if grants.iter().any(|x| x.capability() == capability) {
                return false;
            }
            grants.push(Grant::new(
                app.clone(),
                capability.clone(),
                source,
                now_ms(),
            ));
            true
        })
        .map(|_| ())
    }

    /// Grants `app` a scoped `capability` reaching `scope` (`net:fetch`: origins), replacing
    /// the scope of a grant it already holds. Committed before it returns.
    ///
    /// # Errors
    /// [`GatewayError::Damaged`] or the state's own error if the grant cannot be stored.
    pub fn grant_scoped(
        &self,
        app: &AppId,
        capability: &Capability,
        scope: &[OriginPattern],
        source: GrantSource,
    ) -> Result<(), GatewayError> {
        self.change(app, &mut |grants| {
            if grants
                .iter()
                .any(|x| x.capability() == capability && x.scope() == scope)
            {
                return false;
            }
            grants.retain(|x| x.capability() != capability);
            grants.push(
                Grant::new(app.clone(), capability.clone(), source, now_ms())
                    .with_scope(scope.to_vec()),
            );
            true
        })
        .map(|_| ())
    }

    /// Revokes `capability` from `app`; returns whether it was held. A running app loses it at
    /// its next call.
    ///
    /// # Errors
    /// [`GatewayError::Io`] if the change cannot be stored (then the grant stays).
    pub fn revoke(&self, app: &AppId, capability: &Capability) -> Result<bool, GatewayError> {
        self.change(app, &mut |grants| {
            let before = grants.len();
            grants.retain(|x| x.capability() != capability);
            grants.len() != before
        })
    }

    /// Changes `app`'s grants with `change` (which says whether it changed anything) as one
    /// step on the grants as stored now, what other processes committed included: a change
    /// made from a stale copy would undo theirs. Then this process's copy is that result.
    fn change(
        &self,
        app: &AppId,
        change: &mut dyn FnMut(&mut Vec<Grant>) -> bool,
    ) -> Result<bool, GatewayError> {
        let g = self.app(app)?;
        // One change at a time in this process; the app's grants themselves are locked only
        // to swap in the result, never across the wait for the home lock (a host holding it
        // reloads them: the other order would stall both).
        let _one = self
            .changing
            .lock()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        let mut changed = false;
        let next = match &self.state {
            None => {
                let mut next = g.snapshot();
                changed = change(&mut next);
                next
            }
            Some(state) => {
                let mut next = Vec::new();
                state.update(GRANTS_KIND, app.as_str(), &mut |stored| {
                    // Stored grants that do not parse, or name another app, hold nothing.
                    let mut list: Vec<Grant> = stored
                        .and_then(|b| serde_json::from_slice(b).ok())
                        .unwrap_or_default();
                    list.retain(|x| x.app() == app);
                    changed = change(&mut list);
                    next.clone_from(&list);
                    if list.is_empty() {
                        None
                    } else {
                        serde_json::to_vec(&list).ok()
                    }
                })?;
                next
            }
        };
        let mut grants = g
            .grants
            .write()
            .map_err(|_| GatewayError::Damaged("the grants lock is poisoned".into()))?;
        if *grants != next {
            *grants = next;
            g.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(changed)
    }

    /// Forgets every grant of `app` (uninstall).
    ///
    /// # Errors
    /// [`GatewayError::Io`] if the change cannot be stored.
    pub fn forget(&self, app: &AppId) -> Result<(), GatewayError> {
        if let Some(state) = &self.state {
            state.set(GRANTS_KIND, app.as_str(), None)?;
        }
        if let Ok(apps) = self.apps.lock()
            && let Some(g) = apps.get(app)
        {
            if let Ok(mut grants) = g.grants.write() {
                grants.clear();
            }
            g.epoch.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }
}
