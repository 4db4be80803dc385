//! The gateway contract: the door every guest call goes through, opened once per app as a
//! session, and the context it knows the app by.

use std::sync::Arc;

#[cfg(feature = "origin")]
use crate::OriginPattern;
use crate::{ApiError, AppId, Capability, Error, Limits, Watch};

/// A capability an app's manifest declares, with the reason it gives (shown when consent is
/// asked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The capability.
    pub capability: Capability,
    /// The manifest's reason for it (untrusted text: escape it when shown).
    pub reason: String,
    /// What the capability reaches, for a scoped one (`net:fetch`: the origins the manifest
    /// lists); empty for the others.
    #[cfg(feature = "origin")]
    pub scope: Vec<OriginPattern>,
}

/// Delivers host-initiated events (a consent decision, …) to one launched app: each `post`
/// queues one event (`{"handler", "detail"}` JSON) for the app's logic thread and returns at
/// once. Cheap to clone; [`EventSender::none`] drops everything (for an app that cannot
/// receive events, or a test).
#[derive(Clone)]
pub struct EventSender(Option<Arc<dyn Fn(Vec<u8>) + Send + Sync>>);

impl EventSender {
    /// A sender that hands each event to `deliver` (which must not block).
    pub fn new(deliver: impl Fn(Vec<u8>) + Send + Sync + 'static) -> Self {
        EventSender(Some(Arc::new(deliver)))
    }

    /// A sender that drops every event.
    pub fn none() -> Self {
        EventSender(None)
    }

    /// Queues `event` for the app; a no-op for [`EventSender::none`] or a stopped app.
    pub fn post(&self, event: Vec<u8>) {
        if let Some(deliver) = &self.0 {
            deliver(event);
        }
    }
}

impl std::fmt::Debug for EventSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "EventSender"
        } else {
            "EventSender(none)"
        })
    }
}

/// What a gateway is told about an app when the host launches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppContext {
    /// The app.
    pub app: AppId,
    /// The app's display name from its manifest (untrusted text).
    pub name: String,
    /// The app's version from its manifest (semver; `net.fetch` names it to the services an
    /// app calls).
    pub version: String,
    /// The capabilities its manifest declares: the upper bound of what it can ever be granted.
    pub declared: Vec<Declared>,
    /// Its effective limits (manifest limits already clamped to the host's caps).
    pub limits: Limits,
    /// Where the layers serving the app report what it does ([`Watch::none`] when nothing
    /// watches).
    pub monitor: Watch,
    /// The script files an engine guest runs for the app (a `runtime = "js@1"` app's
    /// `logic.js`, by package path), served to it by the `app.source` API; `None` for an app
    /// whose package carries its own logic module.
    pub sources: Option<Arc<Sources>>,
    /// The views the app's manifest lists, entry first, each with its template text: what
    /// `ui.showView` switches between and `app.views` names. `None` where no package backs
    /// the context (a test's gateway).
    pub views: Option<Arc<Views>>,
}

/// An app's views in manifest order (the entry first): each view's name and template text
/// (`views/NAME.xml`, UTF-8, parsed by the validator at install). See [`AppContext::views`].
pub type Views = Vec<(String, Arc<str>)>;

/// An app's script sources by package path (see [`AppContext::sources`]): UTF-8, checked
/// by the validator at install.
pub type Sources = std::collections::BTreeMap<String, Arc<str>>;

/// Most characters of a script one `app.source` answer carries: JSON-escaped at six bytes
/// each at worst, the answer stays under the 64 KiB cap.
pub const SOURCE_CHUNK_CHARS: usize = 8192;

/// The `app.source` answer for `text` from byte `offset`: at most [`SOURCE_CHUNK_CHARS`]
/// characters, and where the next chunk starts (`None` at the end); `None` if `offset` is
/// past the end or inside a character.
pub fn source_chunk(text: &str, offset: usize) -> Option<(&str, Option<usize>)> {
    let rest = text.get(offset..)?;
    let end = rest
        .char_indices()
        .nth(SOURCE_CHUNK_CHARS)
        .map_or(rest.len(), |(i, _)| i);
    let (chunk, after) = rest.split_at(end);
    Some((chunk, (!after.is_empty()).then_some(offset + end)))
}

/// The one door every call from a mini-app goes through.
///
/// The host opens one [`GatewaySession`] per launched app and hands it to the runtime, which
/// moves it to the app's logic thread. Per-app state (rate limiters, in-flight counters, the
/// app's grants) lives in the session, so a call takes no global lock.
pub trait Gateway: Send + Sync {
    /// Opens the door for one launched app; `events` reaches the app later (consent
    /// decisions arrive through it).
    ///
    /// # Errors
    /// When the app may not run now (e.g. quarantined) or the gateway is unavailable.
    fn open(&self, app: &AppContext, events: EventSender)
    -> Result<Box<dyn GatewaySession>, Error>;

    /// Swaps an app's rate limits for the slower throttled ones (`on`) or back: how a
    /// monitor's throttle verdict is applied. The default does nothing (a gateway without
    /// throttling).
    fn throttle(&self, app: &AppId, on: bool) {
        let _ = (app, on);
    }
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

    /// The app finished an event (or `sf_init`) and is idle: write out anything held per
    /// event (e.g. folded audit records). Called by the runtime on the app's logic thread.
    fn idle(&mut self) {}
}
