//! Install and uninstall: verify, write the package, its record and receipt; wipe all but
//! the audit trail and the publisher pin.

use sandframe_core::{AppId, AuditOutcome, AuditRecord, AuditSink as _, Capability, Layer};
use sandframe_package::Package;
use sandframe_validate::{Context, Pin, Registry as _, ValidateError};

use crate::Host;
use crate::error::{HomeError, HostError, Misuse, hold, home_err};
use crate::home::{
    HomeRegistry, Record, read_package, read_regular, remove_app_file, write_durably,
};

/// What [`Host::install`] did.
#[derive(Clone, Debug)]
pub struct Installation {
    /// The app.
    pub app: AppId,
    /// Its version.
    pub version: semver::Version,
    /// How it stands to the app id's publisher pin.
    pub pin: Pin,
    /// Capabilities this version adds over the previous one (they start ungranted).
    pub added_capabilities: Vec<Capability>,
}

impl Host {
    /// Verifies and installs a package.
    ///
    /// # Errors
    /// [`HostError::Rejected`] or [`HostError::Denied`] with the report ([`HostError::report`]) if it is refused; [`HostError::Home`] on I/O.
    pub fn install(&self, bytes: &[u8]) -> Result<Installation, HostError> {
        // From reading the pins and versions to writing the new record, one writer: two
        // installs racing cannot both pass as "newer than what is installed".
        let held = hold(&self.lock)?;
        // What other processes sharing the home committed since: pins, versions, grants, and
        // the trust store and definitions a following host takes on.
        self.state.refresh()?;
        self.follow_config()?;
        let registry = HomeRegistry(self.state.as_ref());
        let verified = match self
            .validator()
            .verify(bytes, &Context::new(&self.trust(), &registry))
        {
            Ok(v) => v,
            Err(e) => {
                // The id is not trusted until verified: the record names the package digest.
                let digest = blake3::hash(bytes).to_hex();
                self.record(
                    None,
                    "install",
                    &digest,
                    AuditOutcome::Denied,
                    &e.to_string(),
                )?;
                drop(held);
                // The refusal is what the caller needs to see; a failed flush shows at the
                // next one.
                let _ = self.flush_audit();
                return Err(e.into());
            }
        };
        let package = verified.package();
        let manifest = package.manifest();
        let id = manifest.id();
        self.apps
            .create_dir_all(id.as_str())
            .map_err(home_err(format!("create apps/{id}")))?;
        let dir = self
            .apps
            .open_dir(id.as_str())
            .map_err(home_err(format!("open apps/{id}")))?;
        // An update: a grant of a capability this version adds is a leftover of an older
        // version that dropped it (the person agreed to that version's reason, not this
        // one's): it goes, so consent is asked again. Before the record changes, so that a
        // failure here leaves an install that computes the same additions when retried.
        if let Some(g) = &self.sandframe {
            g.reload_grants(id)?;
            let held = g.grants(id)?;
            for added in verified.added_capabilities() {
                if held.iter().any(|g| g.capability() == added) {
                    g.revoke(id, added)?;
                }
            }
        }
        write_durably(&dir, "package.sfpkg", bytes)?;
        write_durably(&dir, "receipt", &verified.receipt(&self.receipts))?;
        Record::installed(package).save(self.state.as_ref(), id)?;
        // Verified in full just now, under the definitions in force: no longer blocked.
        self.state
            .set_many(&[(crate::revalidate::BLOCKED_KIND, id.as_str(), None)])?;
        // Never wait for a logic thread with the lock held: it may be waiting for the lock
        // (to write an audit frame).
        drop(held);
        // A running instance of the old version stops; its next event relaunches this one.
        let restarted = self.suspend(id)?;
        let version = manifest.version().to_string();
        let detail = if restarted {
            "the running instance of the old version was stopped"
        } else {
            ""
        };
        self.record(Some(id), "install", &version, AuditOutcome::Allowed, detail)?;
        self.flush_audit()?;
        Ok(Installation {
            app: id.clone(),
            version: manifest.version().clone(),
            pin: verified.pin().clone(),
            added_capabilities: verified.added_capabilities().to_vec(),
        })
    }

    /// The installed package of `app`, re-minted from its install receipt.
    pub(crate) fn installed_package(
        &self,
        app: &AppId,
    ) -> Result<sandframe_validate::VerifiedPackage, HostError> {
        self.installed_bytes(app).map(|(_, verified)| verified)
    }

    /// [`Host::installed_package`] and the package's bytes, authenticated by its receipt.
    pub(crate) fn installed_bytes(
        &self,
        app: &AppId,
    ) -> Result<(Vec<u8>, sandframe_validate::VerifiedPackage), HostError> {
        // Package, receipt and record as one install left them, not one from each of two,
        // and the record, grants and quarantine as other processes last committed them.
        let held = hold(&self.lock)?;
        self.state.refresh()?;
        if let Some(g) = &self.sandframe {
            g.reload_grants(app)?;
        }
        let dir = self
            .apps
            .open_dir(app.as_str())
            .map_err(|_| HostError::from(Misuse::NotInstalled(app.clone())))?;
        let bytes =
            read_package(&dir).ok_or_else(|| HostError::from(Misuse::NotInstalled(app.clone())))?;
        let receipt = read_regular(&dir, "receipt", 64)
            .ok_or_else(|| HostError::from(HomeError::Damaged(format!("apps/{app}/receipt"))))?;
        // A warm launch: the receipt re-mints the VerifiedPackage (digests, receipt MAC, and
        // the cheap origin checks again) without re-running signature and static analysis.
        let verified = self.validator().reinstate(
            &bytes,
            &receipt,
            &self.receipts,
            &Context::new(&self.trust(), &HomeRegistry(self.state.as_ref())),
        );
        drop(held);
        self.check_blocked(app)?;
        let verified = match verified {
            Err(ValidateError::BadReceipt) => {
                return Err(HostError::from(HomeError::Damaged(format!(
                    "apps/{app} (package and receipt disagree)"
                ))));
            }
            other => other?,
        };
        if verified.package().manifest().id() != app {
            return Err(HostError::from(HomeError::Damaged(format!(
                "apps/{app} holds another app's package"
            ))));
        }
        Ok((bytes, verified))
    }

    /// Uninstalls an app: stops it, removes its package, receipt, cached artifact, grants,
    /// storage and quarantine, and keeps only its record, sealed, as a tombstone (publisher
    /// pin, no version).
    ///
    /// # Errors
    /// [`Misuse::NotInstalled`], or I/O errors (uninstall is safe to retry).
    pub fn uninstall(&self, app: &AppId) -> Result<(), HostError> {
        self.terminate(app)?;
        let held = hold(&self.lock)?;
        self.state.refresh()?;
        let dir = self
            .apps
            .open_dir(app.as_str())
            .map_err(|_| HostError::from(Misuse::NotInstalled(app.clone())))?;
        let installed = HomeRegistry(self.state.as_ref())
            .installed(app)
            .ok_or_else(|| HostError::from(Misuse::NotInstalled(app.clone())))?;
        if let Some(bytes) = read_package(&dir)
            && let Ok(package) = Package::parse(&bytes)
        {
            let key = self.runtime.artifact_key(package.logic());
            for name in [format!("{key}.tmp"), key] {
                match self.artifacts.remove_file(&name) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(home_err("remove a cached artifact")(e)),
                }
            }
        }
        let tombstone = Record {
            publisher: installed.publisher.to_string(),
            version: None,
            capabilities: Vec::new(),
        };
        tombstone.save(self.state.as_ref(), app)?;
        self.state
            .set_many(&[(crate::revalidate::BLOCKED_KIND, app.as_str(), None)])?;
        for f in ["package.sfpkg", "receipt"] {
            remove_app_file(&dir, app, f)?;
        }
        // The tombstone is in the sealed state: the directory goes if nothing else is left.
        drop(dir);
        let _ = self.apps.remove_dir(app.as_str());
        self.storage.wipe(app)?;
        // Past the home lock: a consent decision holds the gateway's lock while it commits a
        // grant (which takes the home lock), and forgetting takes the gateway's lock; each
        // of these commits on its own.
        drop(held);
        if let Some(g) = &self.sandframe {
            g.forget(app)?;
        }
        if let Some(net) = &self.net {
            net.forget(app);
        }
        // The app is gone: so is its quarantine (a reinstall is a host decision too).
        self.monitor.release(app)?;
        self.record(
            Some(app),
            "uninstall",
            app.as_str(),
            AuditOutcome::Allowed,
            "",
        )?;
        self.flush_audit()?;
        Ok(())
    }

    /// Writes one host record to the audit log.
    pub(crate) fn record(
        &self,
        app: Option<&AppId>,
        action: &str,
        subject: &str,
        outcome: AuditOutcome,
        detail: &str,
    ) -> Result<(), HostError> {
        Ok(self.audit.record(
            &AuditRecord::new(Layer::Host, action, subject, outcome)
                .app(app)
                .detail(detail),
        )?)
    }
}
