//! What can go wrong in the host, and who must act on it.

use sandframe_core::AppId;
use sandframe_gateway::GatewayError;
use sandframe_runtime::RuntimeError;
use sandframe_validate::ValidateError;

/// Errors of the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// The package was refused (the report says why) or definitions were refused.
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// The runtime failed (compile, start, a trap, a stopped app).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The home directory could not be read or written.
    #[error("host home: {what}: {source}")]
    Home {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record in the home is damaged.
    #[error("host home: {0} is damaged; restore it from a backup or uninstall the app")]
    Damaged(String),
    /// No app with that id is installed.
    #[error("{0} is not installed")]
    NotInstalled(AppId),
    /// The app is not running.
    #[error("{0} is not running; launch it first")]
    NotRunning(AppId),
    /// The app is already running.
    #[error("{0} is already running")]
    AlreadyRunning(AppId),
    /// The builder is missing something.
    #[error("host builder: {0}")]
    Builder(&'static str),
    /// The gateway layer failed (its configuration, grants or audit log).
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The operation needs sandframe's own gateway, and the builder swapped in another.
    #[error("this host runs a custom gateway, which manages its own grants")]
    CustomGateway,
    /// The monitor quarantined the app: it does not launch until the host releases it.
    #[error(
        "{0} is quarantined by the monitor (see its audit trail); release it with Host::release \
         once you trust it again"
    )]
    Quarantined(AppId),
    /// The monitor layer failed (its quarantine directory).
    #[error(transparent)]
    Monitor(#[from] sandframe_monitor::MonitorError),
    /// The render side failed (its thread, a view's template or data).
    #[error(transparent)]
    Render(#[from] sandframe_render::RenderError),
    /// The package is installed but its entry view does not parse (an older build's package).
    #[error(transparent)]
    Package(#[from] sandframe_package::PackageError),
}

pub(crate) fn home_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HostError {
    let what = what.into();
    move |source| HostError::Home { what, source }
}
