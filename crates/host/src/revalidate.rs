//! Continuous validation: what any process on the home commits to its sealed state (a
//! publisher removed or revoked, definitions that block a digest or revoke a publisher, a
//! quarantine, a revoked grant) reaches this host's running apps. [`Host::revalidate`] does it
//! now; `dispatch` does it at most every 250 ms without waiting for the home lock, and the
//! simulator (`sandframe dev`, `run --serve`) every 250 ms, so a running app of any process is
//! stopped within a second of the change. Each stop is audited (`revalidate`, denied, with
//! the reason), and the app's next launch is refused with that reason.

use std::sync::atomic::Ordering;
use std::time::Instant;

use sandframe_core::{AppId, AuditOutcome, HomeState as _};
use sandframe_package::{PublicKey, TrustStore};
use sandframe_validate::Validator;

use crate::Host;
use crate::config::{CONFIG_KIND, DEFINITIONS_FILE, DEFINITIONS_KEY_FILE, TRUST_FILE};
use crate::error::{Denied, HomeError, HostError, LayerError, hold};
use crate::home::{RECORD_KIND, Record};

/// The sealed state's kind of apps whose installed package failed a scan under the
/// definitions in force: the value is what the scan found.
pub(crate) const BLOCKED_KIND: &str = "blocked";
/// The digest of the definitions the installed packages were last scanned under.
const SCANNED: &str = "scanned";

/// How often `dispatch` looks for changes, at most.
const EVERY_MS: u64 = 250;

/// The sealed configuration a host built from a `HomeConfig` follows: the values it applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Followed {
    pub(crate) trust: Option<Vec<u8>>,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) definitions: Option<Vec<u8>>,
}

impl Host {
    /// Reads what other processes committed to the home's sealed state and applies it to the
    /// running and suspended apps: one whose publisher is no longer trusted or is revoked,
    /// whose package digest the definitions now block, or that is quarantined, is stopped
    /// (audited as `revalidate`, with the reason); the others see their stored grants again.
    /// A host built from a [`crate::HomeConfig`] also takes on the home's trust store and
    /// definitions as they are now. Returns the apps it stopped.
    ///
    /// # Errors
    /// [`HostError::Home`] if the sealed state cannot be read (or no longer verifies), or a
    /// stop cannot be audited.
    pub fn revalidate(&self) -> Result<Vec<AppId>, HostError> {
        self.state.refresh()?;
        let stopped = self.apply_state()?;
        // New definitions (new byte patterns, exports): every installed package is scanned
        // again, once per set across the processes on the home; what fails is blocked.
        if self.rescan()? {
            let mut more = self.stop_failing()?;
            more.retain(|a| !stopped.contains(a));
            return Ok(stopped.into_iter().chain(more).collect());
        }
        Ok(stopped)
    }

    /// Scans every installed package again in full under the definitions in force if no
    /// process on the home did for this set yet, and commits what fails as blocked (one
    /// commit, with the set's digest). Only a host that follows the home's configuration
    /// does. Returns whether it scanned.
    pub(crate) fn rescan(&self) -> Result<bool, HostError> {
        if self.followed.is_none() {
            return Ok(false);
        }
        let _held = hold(&self.lock)?;
        self.state.refresh()?;
        let definitions = self.state.get(CONFIG_KIND, DEFINITIONS_FILE);
        let digest = definitions
            .as_ref()
            .map(|d| blake3::hash(d).to_hex().to_string().into_bytes());
        if self.state.get(CONFIG_KIND, SCANNED) == digest {
            return Ok(false);
        }
        let mut found: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let none: std::collections::BTreeMap<AppId, sandframe_validate::Installed> =
            std::collections::BTreeMap::new();
        for name in self.state.names(RECORD_KIND) {
            let Ok(app) = name.parse::<AppId>() else {
                continue;
            };
            let installed = self
                .state
                .get(RECORD_KIND, &name)
                .and_then(|b| postcard::from_bytes::<Record>(&b).ok())
                .is_some_and(|r| r.version.is_some());
            let Ok(bytes) = self.apps.read(format!("{app}/package.sfpkg")) else {
                continue;
            };
            if !installed {
                continue;
            }
            // Against no records: the scan is about the package, not its pins.
            let verdict = self.validator().verify(
                &bytes,
                &sandframe_validate::Context::new(&self.trust(), &none),
            );
            let blocked = match verdict {
                Ok(_) => None,
                Err(e) => Some(e.to_string().into_bytes()),
            };
            if self.state.get(BLOCKED_KIND, &name) != blocked {
                found.push((name, blocked));
            }
        }
        let mut items: Vec<(&str, &str, Option<&[u8]>)> = found
            .iter()
            .map(|(n, v)| (BLOCKED_KIND, n.as_str(), v.as_deref()))
            .collect();
        items.push((CONFIG_KIND, SCANNED, digest.as_deref()));
        self.state.set_many(&items)?;
        for (name, blocked) in &found {
            if let (Some(why), Ok(app)) = (blocked, name.parse::<AppId>()) {
                self.record(
                    Some(&app),
                    "rescan",
                    name,
                    AuditOutcome::Denied,
                    &String::from_utf8_lossy(why),
                )?;
            }
        }
        Ok(true)
    }

    /// Refuses an app whose installed package a scan blocked.
    pub(crate) fn check_blocked(&self, app: &AppId) -> Result<(), HostError> {
        match self.state.get(BLOCKED_KIND, app.as_str()) {
            None => Ok(()),
            Some(why) => Err(HostError::from(Denied::Blocked {
                app: app.clone(),
                reason: String::from_utf8_lossy(&why).into_owned(),
            })),
        }
    }

    /// [`Host::revalidate`] from `dispatch`: at most every 250 ms, only when the anchor says
    /// the state moved, and never waiting for another process's lock (it is then tried again
    /// at the next chance).
    pub(crate) fn revalidate_now_and_then(&self, now: Instant) {
        let now = u64::try_from(now.saturating_duration_since(self.started).as_millis())
            .unwrap_or(u64::MAX);
        let last = self.last_revalidate_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < EVERY_MS
            || self
                .last_revalidate_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let moved = match self.anchor.state_head() {
            Ok(head) => head != *self.lock_applied(),
            Err(_) => true,
        };
        if !moved {
            return;
        }
        match self.state.try_refresh() {
            Ok(true) => {
                if let Err(e) = self.apply_state() {
                    tracing::warn!(target: "sandframe::host", error = %e, "revalidation failed");
                }
            }
            Ok(false) => {} // busy: the next chance
            Err(e) => {
                tracing::error!(target: "sandframe::host", error = %e, "the home's sealed state cannot be read")
            }
        }
    }

    fn lock_applied(&self) -> std::sync::MutexGuard<'_, sandframe_gateway::StateHead> {
        self.applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies the state as this host last read it, if it moved since the last time.
    fn apply_state(&self) -> Result<Vec<AppId>, HostError> {
        let head = self.state.head();
        if *self.lock_applied() == head {
            return Ok(Vec::new());
        }
        self.follow_config()?;
        let stopped = self.stop_failing()?;
        *self.lock_applied() = head;
        Ok(stopped)
    }

    /// Stops each running or suspended app that no longer passes (quarantined, blocked by a
    /// scan, or its package refused against its receipt, trust and definitions now), audited;
    /// the others see their stored grants again. Returns the apps it stopped.
    fn stop_failing(&self) -> Result<Vec<AppId>, HostError> {
        let apps: Vec<AppId> = {
            let live = self.lock_live()?;
            live.running
                .keys()
                .chain(live.suspended.iter())
                .cloned()
                .collect()
        };
        let mut stopped = Vec::new();
        for app in apps {
            let why = if self.monitor.is_quarantined(&app) {
                Some("it is quarantined".to_owned())
            } else {
                self.installed_package(&app).err().map(|e| e.to_string())
            };
            match why {
                Some(why) => {
                    self.terminate(&app)?;
                    tracing::warn!(target: "sandframe::host", app = app.as_str(), "stopped: {why}");
                    self.record(
                        Some(&app),
                        "revalidate",
                        app.as_str(),
                        AuditOutcome::Denied,
                        &why,
                    )?;
                    stopped.push(app);
                }
                None => {
                    if let Some(g) = &self.sandframe {
                        g.reload_grants(&app)?;
                    }
                }
            }
        }
        if !stopped.is_empty() {
            self.flush_audit()?;
        }
        Ok(stopped)
    }

    /// Takes on the home's sealed trust store and definitions, if this host follows them.
    fn follow_config(&self) -> Result<(), HostError> {
        let Some(followed) = &self.followed else {
            return Ok(());
        };
        let mut followed = followed
            .lock()
            .map_err(|_| HostError::Layer(LayerError::Poisoned("the followed configuration")))?;
        let now = Followed {
            trust: self.state.get(CONFIG_KIND, TRUST_FILE),
            key: self.state.get(CONFIG_KIND, DEFINITIONS_KEY_FILE),
            definitions: self.state.get(CONFIG_KIND, DEFINITIONS_FILE),
        };
        if now.trust != followed.trust {
            let store = match &now.trust {
                None => TrustStore::new(),
                Some(bytes) => TrustStore::from_toml(bytes).map_err(|e| {
                    HostError::from(HomeError::Damaged(format!("the sealed trust store ({e})")))
                })?,
            };
            *self
                .trust
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = store;
            followed.trust.clone_from(&now.trust);
        }
        if now.key != followed.key || now.definitions != followed.definitions {
            let mut v = self
                .validator
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.key != followed.key
                && let Some(text) = &now.key
            {
                let key = PublicKey::from_file_text(text).map_err(|e| {
                    HostError::from(HomeError::Damaged(format!(
                        "the sealed definitions key ({e})"
                    )))
                })?;
                let old = std::mem::replace(&mut *v, Validator::new());
                *v = old.with_definitions_key(key);
            }
            if let Some(signed) = &now.definitions
                && now.definitions != followed.definitions
            {
                v.update_definitions(signed)?;
            }
            followed.key.clone_from(&now.key);
            followed.definitions.clone_from(&now.definitions);
        }
        Ok(())
    }
}

impl Host {
    /// The trust store in force.
    pub(crate) fn trust(&self) -> std::sync::RwLockReadGuard<'_, TrustStore> {
        self.trust
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The validator in force.
    pub(crate) fn validator(&self) -> std::sync::RwLockReadGuard<'_, Validator> {
        self.validator
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
