//! Grants, throttles and quarantines: the host's own decisions about what an app may do.

use sandframe_core::{AppId, Capability, Grant};
use sandframe_gateway::SandframeGateway;

use crate::Host;
use crate::error::{HostError, Misuse};

impl Host {
    fn sandframe(&self) -> Result<&SandframeGateway, HostError> {
        self.sandframe
            .as_ref()
            .ok_or(HostError::from(Misuse::CustomGateway))
    }

    /// The app's stored grants.
    ///
    /// # Errors
    /// [`Misuse::CustomGateway`], or if its grants file is damaged.
    pub fn grants(&self, app: &AppId) -> Result<Vec<Grant>, HostError> {
        Ok(self.sandframe()?.grants(app)?)
    }

    /// Grants `capability` to `app` on the host's authority (audited); it takes effect at the
    /// app's next call, and only if its manifest declares the capability. A scoped one
    /// (`net:fetch`) reaches the origins the installed version declares (and policy leaves),
    /// no more: an update that declares more asks again.
    ///
    /// # Errors
    /// [`Misuse::CustomGateway`], [`Misuse::NotInstalled`] for a scoped capability of an app
    /// not installed, or if the grant cannot be stored.
    pub fn grant(&self, app: &AppId, capability: &Capability) -> Result<(), HostError> {
        let gateway = self.sandframe()?;
        if capability.as_str() == Capability::NET_FETCH {
            let verified = self.installed_package(app)?;
            let scope = verified
                .package()
                .manifest()
                .capabilities()
                .iter()
                .find(|d| d.capability() == capability)
                .map(|d| d.scope().to_vec())
                .unwrap_or_default();
            return Ok(gateway.grant_scoped(app, capability, &scope)?);
        }
        Ok(gateway.grant(app, capability)?)
    }

    /// Revokes a grant (audited); a running app loses it at its next call.
    ///
    /// # Errors
    /// [`Misuse::CustomGateway`], or if the change cannot be stored.
    pub fn revoke(&self, app: &AppId, capability: &Capability) -> Result<bool, HostError> {
        let held = self.sandframe()?.revoke(app, capability)?;
        if capability.as_str() == Capability::NET_FETCH {
            // Requests in flight were checked against the grant: they stop with it.
            self.cancel_net(app);
        }
        Ok(held)
    }

    /// Puts an app under (or out of) a throttle verdict: its calls meet the slow rates.
    ///
    /// # Errors
    /// [`Misuse::CustomGateway`].
    pub fn throttle(&self, app: &AppId, on: bool) -> Result<(), HostError> {
        self.sandframe()?.throttle(app, on);
        Ok(())
    }

    /// Whether the monitor has quarantined the app (it then does not launch).
    pub fn is_quarantined(&self, app: &AppId) -> bool {
        self.monitor.is_quarantined(app)
    }

    /// Lifts a quarantine (an explicit, audited host decision): the app may launch again.
    ///
    /// # Errors
    /// If the quarantine record cannot be removed or the release not audited.
    pub fn release(&self, app: &AppId) -> Result<(), HostError> {
        self.monitor.release(app)?;
        self.flush_audit()
    }
}
