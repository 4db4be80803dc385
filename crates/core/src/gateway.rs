use crate::{ApiError, AppId, Capability, Error, Limits};

/// What a gateway is told about an app when the host launches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppContext {
    /// The app.
    pub app: AppId,
    /// The app's display name from its manifest (untrusted text).
    pub name: String,
    /// The capabilities its manifest declares: the upper bound of what it can ever be granted.
    pub declared: Vec<Capability>,
    /// Its effective limits (manifest limits already clamped to the host's caps).
    pub limits: Limits,
}

/// The one door every call from a mini-app goes through.
///
/// The host opens one [`GatewaySession`] per launched app and hands it to the runtime, which
/// moves it to the app's logic thread. Per-app state (rate limiters, in-flight counters, the
/// app's grants) lives in the session, so a call takes no global lock.
pub trait Gateway: Send + Sync {
    /// Opens the door for one launched app.
    ///
    /// # Errors
    /// When the app may not run now (e.g. quarantined) or the gateway is unavailable.
    fn open(&self, app: &AppContext) -> Result<Box<dyn GatewaySession>, Error>;
}

/// One app's side of the [`Gateway`]: lives on that app's logic thread.
pub trait GatewaySession: Send {
    /// Runs API `api` with the guest's `request` bytes, writing the response into `response`
    /// (cleared first; reused between calls so a call need not allocate).
    ///
    /// `api` and `request` are raw guest bytes: the gateway validates both. Every call, allowed
    /// or not, is audited.
    ///
    /// # Errors
    /// An [`ApiError`] whose code the guest sees; never a panic, whatever the bytes.
    fn call(&mut self, api: &[u8], request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError>;
}
