//! Continuous validation: what any process on the home commits to its sealed state (a
//! publisher removed or revoked, definitions that block a digest, revoke a publisher or add
//! byte patterns, a quarantine, a revoked grant) reaches this host's running apps.
//! [`Host::revalidate`] does it now (and scans the installed packages again under new
//! definitions); `dispatch` does the checks at most every 250 ms, never waiting for another
//! process's lock to read the state (a busy home is tried again at the next chance), and the
//! simulator (`sandframe dev`, `run --serve`) runs `revalidate` every 250 ms. Each stop is
//! audited (`revalidate`, denied, with the reason), and the app's next launch is refused with
//! that reason. A state that no longer verifies stops every app.

use std::sync::atomic::Ordering;
use std::time::Instant;

use sandframe_core::{AppId, AuditOutcome, HomeState as _};
use sandframe_package::{PublicKey, TrustStore};
use sandframe_validate::Validator;

use crate::Host;
use crate::config::{CONFIG_KIND, DEFINITIONS_FILE, DEFINITIONS_KEY_FILE, TRUST_FILE};
use crate::error::{Denied, HomeError, HostError, LayerError, Misuse, hold};
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
    /// whose package digest the definitions now block, that a scan under new definitions
    /// blocked, or that is quarantined, is stopped (audited as `revalidate`, with the reason);
    /// the others see their stored grants again. A host built from a [`crate::HomeConfig`]
    /// also takes on the home's trust store and definitions as they are now, and scans the
    /// installed packages again if no process on the home did for these definitions yet.
    /// Returns the apps it stopped.
    ///
    /// # Errors
    /// [`HostError::Home`] if the sealed state cannot be read (or no longer verifies), or a
    /// stop cannot be audited.
    pub fn revalidate(&self) -> Result<Vec<AppId>, HostError> {
        self.state.refresh()?;
        let stopped = self.apply_state()?;
        if self.rescan()? {
            let mut more = self.stop_failing()?.0;
            more.retain(|a| !stopped.contains(a));
            return Ok(stopped.into_iter().chain(more).collect());
        }
        Ok(stopped)
    }

    /// Scans every installed package again in full under the definitions in force if no
    /// process on the home did for this set yet, and commits what fails as blocked, with the
    /// set's digest, in one commit. The scan runs outside the home lock (other processes go
    /// on meanwhile), and its result is committed only if the definitions did not change
    /// during it. Each package is read as its receipt authenticates it; one that cannot be
    /// read so is blocked too (fail closed). Only a host that follows the home's
    /// configuration scans. Returns whether it committed a scan.
    pub(crate) fn rescan(&self) -> Result<bool, HostError> {
        if self.followed.is_none() {
            return Ok(false);
        }
        let digest_now = || {
            self.state
                .get(CONFIG_KIND, DEFINITIONS_FILE)
                .map(|d| blake3::hash(&d).to_hex().to_string().into_bytes())
        };
        let (digest, apps) = {
            let _held = hold(&self.lock)?;
            self.state.refresh()?;
            self.follow_config()?;
            let digest = digest_now();
            if self.state.get(CONFIG_KIND, SCANNED) == digest {
                return Ok(false);
            }
            let installed: Vec<AppId> = self
                .state
                .names(RECORD_KIND)
                .into_iter()
                .filter(|n| {
                    self.state
                        .get(RECORD_KIND, n)
                        .and_then(|b| postcard::from_bytes::<Record>(&b).ok())
                        .is_some_and(|r| r.version.is_some())
                })
                .filter_map(|n| n.parse().ok())
                .collect();
            (digest, installed)
        };
        let none: std::collections::BTreeMap<AppId, sandframe_validate::Installed> =
            std::collections::BTreeMap::new();
        let mut found: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for app in apps {
            let verdict = match self.installed_bytes(&app) {
                // Against no records: the scan is about the package, not its pins.
                Ok((bytes, _)) => self
                    .validator()
                    .verify(
                        &bytes,
                        &sandframe_validate::Context::new(&self.trust(), &none),
                    )
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(HostError::Home(HomeError::Busy(e))) => {
                    return Err(HostError::from(HomeError::Busy(e)));
                }
                Err(HostError::Denied(Denied::Blocked { reason, .. })) => Err(reason),
                Err(e) => Err(format!("its package could not be read for the scan ({e})")),
            };
            let blocked = verdict.err().map(String::into_bytes);
            if self.state.get(BLOCKED_KIND, app.as_str()) != blocked {
                found.push((app.to_string(), blocked));
            }
        }
        {
            let _held = hold(&self.lock)?;
            self.state.refresh()?;
            if digest_now() != digest {
                return Ok(false); // newer definitions arrived meanwhile: scanned again later
            }
            let mut items: Vec<(&str, &str, Option<&[u8]>)> = found
                .iter()
                .map(|(n, v)| (BLOCKED_KIND, n.as_str(), v.as_deref()))
                .collect();
            items.push((CONFIG_KIND, SCANNED, digest.as_deref()));
            self.state.set_many(&items)?;
        }
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

    /// Whether `app` may launch now, as far as its installed package goes: `Ok` if it passes
    /// (its receipt, trust, definitions, no block by a scan), else the launch's refusal. It
    /// starts nothing.
    ///
    /// # Errors
    /// What [`Host::launch`] would refuse before starting the app.
    pub fn check_launch(&self, app: &AppId) -> Result<(), HostError> {
        self.installed_package(app).map(|_| ())
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

    /// The checks of [`Host::revalidate`] from `dispatch`: at most every 250 ms, only when
    /// the anchor says the state moved, and never waiting for another process's lock to read
    /// it (a busy home is tried again at the next chance).
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
                // The state no longer verifies: nothing in it can be trusted, so nothing
                // runs on it (fail closed).
                tracing::error!(
                    target: "sandframe::host",
                    error = %e,
                    "the home's sealed state cannot be read; every app is stopped"
                );
                self.stop_all(&e.to_string());
            }
        }
    }

    fn lock_applied(&self) -> std::sync::MutexGuard<'_, sandframe_gateway::StateHead> {
        self.applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies the state as this host last read it, if it moved since the last time. A
    /// configuration that cannot be taken on is audited and tried again next time, and the
    /// running apps are checked against what is in force all the same.
    fn apply_state(&self) -> Result<Vec<AppId>, HostError> {
        let head = self.state.head();
        if *self.lock_applied() == head {
            return Ok(Vec::new());
        }
        // A launch that verified before this point checks its app again once it runs.
        self.generation.fetch_add(1, Ordering::AcqRel);
        let followed = self.follow_config();
        if let Err(e) = &followed {
            tracing::error!(
                target: "sandframe::host",
                error = %e,
                "the home's trust store or definitions cannot be taken on"
            );
            self.record(
                None,
                "revalidate",
                "configuration",
                AuditOutcome::Failed,
                &e.to_string(),
            )?;
        }
        let (stopped, settled) = self.stop_failing()?;
        if followed.is_ok() && settled {
            *self.lock_applied() = head;
        }
        Ok(stopped)
    }

    /// Stops `app` if it no longer passes: `Ok(Some(reason))` if it was stopped, `Ok(None)`
    /// if it passes (its stored grants read again), `Err` if that cannot be told now (the
    /// home busy, an I/O error: tried again later, and nothing is stopped for it).
    fn check_running(&self, app: &AppId) -> Result<Option<String>, HostError> {
        let why = if self.monitor.is_quarantined(app) {
            Some("it is quarantined".to_owned())
        } else {
            match self.installed_package(app) {
                Ok(_) => None,
                Err(
                    e @ (HostError::Denied(_)
                    | HostError::Rejected(_)
                    | HostError::Misuse(Misuse::NotInstalled(_))
                    | HostError::Home(HomeError::Damaged(_) | HomeError::Receipt(_))),
                ) => Some(e.to_string()),
                Err(e) => return Err(e),
            }
        };
        let Some(why) = why else {
            return Ok(None);
        };
        self.terminate(app)?;
        tracing::warn!(target: "sandframe::host", app = app.as_str(), "stopped: {why}");
        self.record(
            Some(app),
            "revalidate",
            app.as_str(),
            AuditOutcome::Denied,
            &why,
        )?;
        Ok(Some(why))
    }

    /// Stops each running or suspended app that no longer passes ([`Host::check_running`]).
    /// Returns the apps it stopped, and whether every app could be told.
    fn stop_failing(&self) -> Result<(Vec<AppId>, bool), HostError> {
        let apps: Vec<AppId> = {
            let live = self.lock_live()?;
            live.running
                .keys()
                .chain(live.suspended.iter())
                .cloned()
                .collect()
        };
        let mut stopped = Vec::new();
        let mut settled = true;
        for app in apps {
            match self.check_running(&app) {
                Ok(Some(_)) => stopped.push(app),
                Ok(None) => {}
                Err(e) => {
                    settled = false;
                    tracing::warn!(
                        target: "sandframe::host",
                        app = app.as_str(),
                        error = %e,
                        "cannot revalidate the app now; tried again later"
                    );
                }
            }
        }
        if !stopped.is_empty() {
            self.flush_audit()?;
        }
        Ok((stopped, settled))
    }

    /// Stops every running and suspended app, audited with `why` (the state they run on can
    /// no longer be trusted).
    fn stop_all(&self, why: &str) {
        let apps: Vec<AppId> = match self.lock_live() {
            Ok(live) => live
                .running
                .keys()
                .chain(live.suspended.iter())
                .cloned()
                .collect(),
            Err(_) => return,
        };
        for app in apps {
            if self.terminate(&app).is_ok() {
                let _ = self.record(
                    Some(&app),
                    "revalidate",
                    app.as_str(),
                    AuditOutcome::Denied,
                    why,
                );
            }
        }
        let _ = self.flush_audit();
    }

    /// After a launch: if a new state was applied while it verified, its app is checked again
    /// now that it runs (a revocation committed mid-launch must not let it run on).
    pub(crate) fn recheck_after_launch(
        &self,
        app: &AppId,
        generation: u64,
    ) -> Result<(), HostError> {
        if self.generation.load(Ordering::Acquire) == generation {
            return Ok(());
        }
        match self.check_running(app)? {
            Some(why) => {
                self.flush_audit()?;
                Err(HostError::from(HomeError::Damaged(format!(
                    "{app} was stopped as it launched: {why}"
                ))))
            }
            None => Ok(()),
        }
    }

    /// Takes on the home's sealed trust store and definitions, if this host follows them.
    pub(crate) fn follow_config(&self) -> Result<(), HostError> {
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
                // A new signer starts afresh; the host's caps and checks stay.
                v.replace_definitions_key(key);
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
