//! What can go wrong in the host, grouped by who must act on it (as rustls groups its errors):
//! the package's publisher ([`HostError::Rejected`]), the operator who decides what runs
//! ([`HostError::Denied`]), the app's publisher again when the sandbox stopped it
//! ([`HostError::Stopped`]), the embedder who called the API wrongly ([`HostError::Misuse`]),
//! whoever keeps the home ([`HostError::Home`]), and sandframe itself ([`HostError::Layer`]).
//!
//! Every layer error converts into exactly one group (the `From` impls below), so a caller
//! matches one level to decide, and a second only to say more.

use sandframe_core::AppId;
use sandframe_gateway::GatewayError;
use sandframe_monitor::MonitorError;
use sandframe_package::PackageError;
use sandframe_render::RenderError;
use sandframe_runtime::RuntimeError;
use sandframe_validate::{Report, ValidateError};

/// Errors of the host, by who must act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The package, or a definitions update, was refused for what it holds: its publisher (or
    /// signer) must fix it. [`HostError::report`] has the findings.
    #[error(transparent)]
    Rejected(Rejected),
    /// Refused for who sent it or what the host decided (an untrusted or revoked publisher, an
    /// id pinned to another publisher, a quarantine): the operator decides.
    #[error(transparent)]
    Denied(Denied),
    /// The sandbox stopped the app (a trap, its fuel or deadline, a terminate, a monitor
    /// verdict): the app's publisher must fix it. Always a [`RuntimeError::Trapped`] or
    /// [`RuntimeError::Stopped`].
    #[error(transparent)]
    Stopped(RuntimeError),
    /// The caller used the API wrongly (an app that is not installed or not running,
    /// conflicting builder settings): the embedder must change the call.
    #[error(transparent)]
    Misuse(Misuse),
    /// The home cannot be read or written, or something in it is damaged or was changed
    /// outside sandframe: whoever keeps it must repair or restore it.
    #[error(transparent)]
    Home(HomeError),
    /// A layer failed in a way none of the above covers (the engine refused a validated
    /// module, the render thread is gone, a lock was poisoned by a panic): report it.
    #[error(transparent)]
    Layer(LayerError),
}

/// What was refused for its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The package is malformed (or an installed package no longer parses).
    #[error(transparent)]
    Package(PackageError),
    /// Validation refused it: [`ValidateError::Rejected`] with the findings, or a definitions
    /// update that is malformed or not newer.
    #[error(transparent)]
    Validation(ValidateError),
}

/// What was refused for who sent it, or by the host's decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// Refused for its origin: a [`ValidateError::Rejected`] whose error findings include an
    /// untrusted or revoked publisher or an id pinned to another publisher, or definitions
    /// not signed by the configured key.
    #[error(transparent)]
    Origin(ValidateError),
    /// The monitor quarantined the app: it does not launch until the host releases it.
    #[error(
        "{0} is quarantined by the monitor (see its audit trail); release it with Host::release \
         once you trust it again"
    )]
    Quarantined(AppId),
    /// Its installed package no longer passes the security definitions in force (scanned
    /// again when they changed): it does not launch until a version that passes is installed.
    #[error(
        "{app} no longer passes the security definitions ({reason}); install a version that does"
    )]
    Blocked {
        /// The app.
        app: AppId,
        /// What the scan found.
        reason: String,
    },
}

/// How the caller used the API wrongly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// No app with that id is installed.
    #[error("{0} is not installed")]
    NotInstalled(AppId),
    /// The app is not running.
    #[error("{0} is not running; launch it first")]
    NotRunning(AppId),
    /// The app is already running.
    #[error("{0} is already running")]
    AlreadyRunning(AppId),
    /// The builder is missing a setting, or two of its settings conflict.
    #[error("host builder: {0}")]
    Builder(String),
    /// The operation needs sandframe's own gateway, and the builder swapped in another.
    #[error("this host runs a custom gateway, which manages its own grants")]
    CustomGateway,
    /// A definitions update, with no definitions key configured.
    #[error(transparent)]
    Validation(ValidateError),
    /// The gateway refused its configuration (an API name or capability the builder was
    /// given, or one the host registers itself).
    #[error(transparent)]
    Gateway(GatewayError),
}

/// What is wrong with the home.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// A file in the home could not be read or written.
    #[error("host home: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record in the home is damaged.
    #[error("host home: {0} is damaged; restore it from a backup or uninstall the app")]
    Damaged(String),
    /// Another process kept the home's lock for the whole wait (the message says how long).
    #[error("host home: {0}")]
    Busy(String),
    /// An install receipt does not match its package.
    #[error(transparent)]
    Receipt(ValidateError),
    /// The gateway's files (the audit log, the sealed state) fail verification or cannot be
    /// used.
    #[error(transparent)]
    Gateway(GatewayError),
    /// The quarantine directory cannot be used.
    #[error(transparent)]
    Monitor(MonitorError),
    /// A layer's files in the home (storage, a quarantine) could not be read or written, or
    /// failed their integrity check.
    #[error(transparent)]
    Layer(sandframe_core::Error),
}

/// A layer failure none of the other groups covers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The runtime failed (compile, instantiation, its logic thread gone).
    #[error(transparent)]
    Runtime(RuntimeError),
    /// The render side failed.
    #[error(transparent)]
    Render(RenderError),
    /// The gateway was configured wrongly.
    #[error(transparent)]
    Gateway(GatewayError),
    /// The monitor failed.
    #[error(transparent)]
    Monitor(MonitorError),
    /// A layer behind a core trait failed.
    #[error(transparent)]
    Core(sandframe_core::Error),
    /// A lock of the host's was poisoned by a panic on another thread.
    #[error("a host lock ({0}) was poisoned by a panic; restart the host")]
    Poisoned(&'static str),
    /// The network door could not be set up.
    #[error(transparent)]
    Net(sandframe_net::NetError),
}

impl HostError {
    /// The validation report, when a package was rejected or denied by validation.
    pub fn report(&self) -> Option<&Report> {
        match self {
            HostError::Rejected(Rejected::Validation(ValidateError::Rejected(r)))
            | HostError::Denied(Denied::Origin(ValidateError::Rejected(r))) => Some(r),
            _ => None,
        }
    }
}

impl From<ValidateError> for HostError {
    fn from(e: ValidateError) -> Self {
        match e {
            ValidateError::Rejected(ref r) if r.is_about_origin() => {
                HostError::Denied(Denied::Origin(e))
            }
            ValidateError::DefinitionsSignature => HostError::Denied(Denied::Origin(e)),
            ValidateError::NoDefinitionsKey => HostError::Misuse(Misuse::Validation(e)),
            ValidateError::BadReceipt => HostError::Home(HomeError::Receipt(e)),
            e => HostError::Rejected(Rejected::Validation(e)),
        }
    }
}

impl From<PackageError> for HostError {
    fn from(e: PackageError) -> Self {
        HostError::Rejected(Rejected::Package(e))
    }
}

impl From<RuntimeError> for HostError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Trapped { .. } | RuntimeError::Stopped(_) => HostError::Stopped(e),
            e => HostError::Layer(LayerError::Runtime(e)),
        }
    }
}

impl From<GatewayError> for HostError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Tampered(_)
            | GatewayError::StateTampered(_)
            | GatewayError::Damaged(_)
            | GatewayError::Io { .. } => HostError::Home(HomeError::Gateway(e)),
            e @ GatewayError::Config(_) => HostError::Misuse(Misuse::Gateway(e)),
            e => HostError::Layer(LayerError::Gateway(e)),
        }
    }
}

impl From<sandframe_net::NetError> for HostError {
    fn from(e: sandframe_net::NetError) -> Self {
        HostError::Layer(LayerError::Net(e))
    }
}

impl From<MonitorError> for HostError {
    fn from(e: MonitorError) -> Self {
        match e {
            MonitorError::Io { .. } => HostError::Home(HomeError::Monitor(e)),
            e => HostError::Layer(LayerError::Monitor(e)),
        }
    }
}

impl From<RenderError> for HostError {
    fn from(e: RenderError) -> Self {
        HostError::Layer(LayerError::Render(e))
    }
}

impl From<sandframe_core::Error> for HostError {
    fn from(e: sandframe_core::Error) -> Self {
        match e {
            sandframe_core::Error::Io(_) | sandframe_core::Error::Integrity(_) => {
                HostError::Home(HomeError::Layer(e))
            }
            e => HostError::Layer(LayerError::Core(e)),
        }
    }
}

impl From<Misuse> for HostError {
    fn from(e: Misuse) -> Self {
        HostError::Misuse(e)
    }
}

impl From<HomeError> for HostError {
    fn from(e: HomeError) -> Self {
        HostError::Home(e)
    }
}

impl From<Denied> for HostError {
    fn from(e: Denied) -> Self {
        HostError::Denied(e)
    }
}

/// Maps an I/O error in the home to [`HomeError::Io`], saying what was being done.
/// Takes the home's lock; a wait that ran out is [`HomeError::Busy`].
pub(crate) fn hold(
    lock: &sandframe_durable::HomeLock,
) -> Result<sandframe_durable::HomeGuard<'_>, HostError> {
    lock.hold().map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            HostError::Home(HomeError::Busy(e.to_string()))
        } else {
            HostError::Home(HomeError::Io {
                what: "take the home lock".into(),
                source: e,
            })
        }
    })
}

pub(crate) fn home_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HostError {
    let what = what.into();
    move |source| HostError::Home(HomeError::Io { what, source })
}
