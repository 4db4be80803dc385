//! # sandframe-sim
//!
//! The simulator: one mini-app in a real browser, live. A loopback web server (axum on
//! tokio) shows the app's view, as the render side's [`HtmlSurface`] wrote it, in a
//! phone-sized frame; taps and input go back as surface events through the render thread to
//! the logic thread; `ui.setData` patches reach the page at once (server-sent events). Side
//! panels show the view data, capabilities and grants (with a consent dialog when the app
//! asks, naming the origins a network grant reaches), storage against its quota, the network
//! (each request's time, method, origin and path, status or the reason it was refused, bytes
//! and duration, from its audit record), the audit trail and monitor alerts. With a source
//! directory (`sandframe dev`), saving a file re-packs, reinstalls and relaunches the app, and
//! a package that is not accepted shows its findings in the page, with file, line and column.
//!
//! What the page may do, and what it may not:
//! - It runs no code from the mini-app: the view is HTML the render side escaped, panels are
//!   set with `textContent`, and every response carries a strict Content-Security-Policy
//!   (scripts and styles from the simulator only, images from the package's assets only, no
//!   remote loads, no framing).
//! - The server binds to 127.0.0.1 only and refuses any request whose `Host` is not
//!   `127.0.0.1:PORT` or `localhost:PORT` (DNS rebinding).
//! - A state-changing request (a tap, a consent answer) needs the right `Origin` and the
//!   per-run token in `x-sandframe-token`; the page and its event stream need the token in
//!   the URL. Another page open in the same browser has neither, so it cannot drive the app
//!   or read its data.

mod server;
mod watch;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandframe_host::AlertLog;
use sandframe_host::HtmlSurface;
use sandframe_host::{AppId, Consent, ConsentDecision, ConsentRequest, Surface, ViewPatch};
use sandframe_host::{Host, HostBuilder};
use sandframe_package::SecretKey;

pub use server::serve;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The server could not start (the port is taken, the runtime would not start).
    #[error("the simulator could not start: {0}")]
    Start(String),
    /// The file watcher could not start.
    #[error("cannot watch {dir} for changes: {reason}")]
    Watch {
        /// The source directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The host failed.
    #[error(transparent)]
    Host(#[from] sandframe_host::HostError),
}

/// How long a consent question waits for an answer in the page before it is refused.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(600);

/// Something changed that the page should see: bumped by the surface, the consent dialog,
/// a reload. The event stream wakes on it.
#[derive(Debug, Clone)]
pub(crate) struct Changed(Arc<tokio::sync::watch::Sender<u64>>);

impl Changed {
    fn new() -> Changed {
        Changed(Arc::new(tokio::sync::watch::Sender::new(0)))
    }
    pub(crate) fn bump(&self) {
        self.0.send_modify(|g| *g = g.wrapping_add(1));
    }
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The render side's HTML surface, telling the page when a patch arrived.
#[derive(Debug)]
pub struct LiveSurface {
    html: HtmlSurface,
    changed: Changed,
}

impl LiveSurface {
    /// The app's view as HTML (escaped by the render side).
    pub fn html(&self, app: &AppId) -> String {
        self.html.html(app)
    }
}

impl Surface for LiveSurface {
    fn apply(
        &mut self,
        app: &AppId,
        patches: &[ViewPatch],
    ) -> Result<(), sandframe_host::CoreError> {
        let r = self.html.apply(app, patches);
        self.changed.bump();
        r
    }
    fn close(&mut self, app: &AppId) {
        self.html.close(app);
        self.changed.bump();
    }
}

/// A consent question waiting for the page.
#[derive(Debug)]
struct Question {
    id: u64,
    request: ConsentRequest,
    reply: SyncSender<bool>,
}

/// Consent asked in the page: each question shows as a dialog, the person's answer decides
/// (refused after [`CONSENT_TIMEOUT`]).
#[derive(Debug)]
pub struct PageConsent {
    questions: Mutex<VecDeque<Question>>,
    next: AtomicU64,
    changed: Changed,
}

impl PageConsent {
    /// The question the page should show now: `{id, app, app_name, capability, reason,
    /// origins}` (`origins`: what a grant would reach, as matched; `http://` ones are not
    /// encrypted).
    pub(crate) fn current(&self) -> serde_json::Value {
        self.questions
            .lock()
            .ok()
            .and_then(|q| {
                q.front().map(|q| {
                    serde_json::json!({
                        "id": q.id,
                        "app": q.request.app.as_str(),
                        "app_name": q.request.app_name,
                        "capability": q.request.capability.as_str(),
                        "reason": q.request.reason,
                        "origins": q.request.scope.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                })
            })
            .unwrap_or(serde_json::Value::Null)
    }

    /// The page's answer to question `id`; false if there is no such question.
    pub(crate) fn answer(&self, id: u64, granted: bool) -> bool {
        let found = self.questions.lock().ok().and_then(|mut q| {
            let at = q.iter().position(|q| q.id == id)?;
            q.remove(at)
        });
        let answered = found.is_some_and(|q| q.reply.send(granted).is_ok());
        self.changed.bump();
        answered
    }
}

impl Consent for PageConsent {
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        let (reply, answer) = mpsc::sync_channel(1);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut q) = self.questions.lock() {
            q.push_back(Question {
                id,
                request: request.clone(),
                reply,
            });
        }
        self.changed.bump();
        let granted = answer.recv_timeout(CONSENT_TIMEOUT).unwrap_or(false);
        // Timed out: the question goes too.
        if let Ok(mut q) = self.questions.lock() {
            q.retain(|q| q.id != id);
        }
        self.changed.bump();
        if granted {
            ConsentDecision::Grant
        } else {
            ConsentDecision::Deny
        }
    }
}

/// The parts of a host the simulator needs to see: its surface, its consent, its alerts.
/// [`Parts::attach`] puts them into a host builder.
#[derive(Debug, Clone)]
pub struct Parts {
    surface: Arc<Mutex<LiveSurface>>,
    consent: Arc<PageConsent>,
    alerts: Arc<AlertLog>,
    changed: Changed,
}

impl Default for Parts {
    fn default() -> Self {
        Parts::new()
    }
}

impl Parts {
    /// New parts, not yet attached.
    pub fn new() -> Parts {
        let changed = Changed::new();
        Parts {
            surface: Arc::new(Mutex::new(LiveSurface {
                html: HtmlSurface::new("/"),
                changed: changed.clone(),
            })),
            consent: Arc::new(PageConsent {
                questions: Mutex::new(VecDeque::new()),
                next: AtomicU64::new(1),
                changed: changed.clone(),
            }),
            alerts: Arc::new(AlertLog::default()),
            changed,
        }
    }

    /// The builder with the simulator's surface, consent and alert sink.
    pub fn attach(&self, builder: HostBuilder) -> HostBuilder {
        builder
            .surface(Arc::clone(&self.surface))
            .consent(self.consent.clone())
            .alerts(self.alerts.clone())
    }
}

/// Called once the server listens, with the page's address.
pub type OnReady = Box<dyn FnOnce(&str) + Send>;

/// What to serve.
pub struct Options {
    /// The port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// The app, if it is installed already (`run --serve`); with a source, the app the source
    /// packs to.
    pub app: Option<AppId>,
    /// `sandframe dev`: the source directory and the development key it is packed with
    /// (trusted only by the simulator's own temporary home).
    pub source: Option<(PathBuf, SecretKey)>,
    /// Called once the server listens, with the page's address (its token included).
    pub on_ready: Option<OnReady>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("port", &self.port)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// The running simulator's state, shared by the server, the watcher and the host's threads.
pub(crate) struct Shared {
    pub(crate) host: Host,
    pub(crate) parts: Parts,
    pub(crate) app: Mutex<Option<AppId>>,
    pub(crate) status: Mutex<String>,
    pub(crate) findings: Mutex<serde_json::Value>,
    pub(crate) token: String,
}

impl Shared {
    pub(crate) fn app(&self) -> Option<AppId> {
        self.app.lock().ok().and_then(|a| a.clone())
    }

    pub(crate) fn set_status(&self, status: impl Into<String>) {
        if let Ok(mut s) = self.status.lock() {
            *s = status.into();
        }
        self.parts.changed.bump();
    }

    /// Launches the app if it is not running; says how that went in the status line.
    pub(crate) fn relaunch(&self, app: &AppId) {
        let _ = self.host.terminate(app);
        match self.host.launch(app) {
            Ok(0) => self.set_status("running"),
            Ok(code) => self.set_status(format!("running (its sf_init answered {code})")),
            Err(e) => self.set_status(format!("not running: {e}")),
        }
    }
}

/// A fresh random token (32 bytes, hex).
pub(crate) fn token() -> Result<String, SimError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SimError::Start(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
