//! # sandframe-render
//!
//! The render side of the dual-thread model: templates plus data to a view tree to patches, on
//! a thread that holds no gateway and no storage handle.
//!
//! - [`view::View`]: one app's template, data model and rendered tree. `ui.setData` patches
//!   (JSON objects of `path: value`) change the data; each change re-renders and diffs, giving
//!   [`ViewPatch`]es; surface events map back to the handler the template bound.
//! - [`RenderSide`]: a thread serving many apps' views, each apart from the others, reached
//!   only by messages (serialized data in, patches out to a [`Surface`]). Its constructor takes
//!   a surface and nothing else: no gateway, no storage, no engine; the type system is the
//!   separation.
//! - Surfaces ([`surface`]): [`HtmlSurface`] (every value escaped, no script, style or event
//!   attribute ever written), [`TextSurface`] (control characters shown escaped), and
//!   [`RecordingSurface`] for tests; [`terminal_text`] for view content in a terminal and
//!   [`identity_text`] for what names an app to a person (invisible characters shown too).

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sandframe_core::{AppId, EventKind, SurfaceEvent, ViewPatch};
pub use sandframe_core::{Surface, ViewNode};
use sandframe_package::template::Template;

pub mod surface;
pub mod view;

pub use surface::{HtmlSurface, RecordingSurface, TextSurface, identity_text, terminal_text};
pub use view::View;

/// Errors of the render layer. Converted into [`sandframe_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
    /// A `ui.setData` patch is not an object of valid paths, or a path does not fit the data.
    #[error("bad view data: {0}")]
    BadData(String),
    /// A size limit was hit (data, patch, rendered nodes).
    #[error("too large: {0}")]
    TooLarge(String),
    /// A patch addresses a node the surface does not have.
    #[error("bad view patch: {0}; the surface is out of step, re-render it")]
    BadPatch(String),
    /// The app has no open view on this render side.
    #[error("{0} has no open view; launch it first")]
    NoView(AppId),
    /// The render thread has stopped.
    #[error("the render thread has stopped; restart the host")]
    Stopped,
    /// The render thread's queue is full (data patches arrive faster than they render).
    #[error("the render side is busy; send fewer setData patches")]
    Busy,
}

/// The one mapping from render errors to core errors, and so to the ABI error code a guest
/// sees (`ui.setData` answers with it): malformed data is `bad_request`, a patch or view over
/// its limit `too_large`, a full render queue `rate_limited` (retry later), and a view or
/// render thread that is gone `unavailable`.
impl From<RenderError> for sandframe_core::Error {
    fn from(e: RenderError) -> sandframe_core::Error {
        match e {
            RenderError::Core(e) => e,
            RenderError::BadData(m) => sandframe_core::Error::Invalid {
                what: "view data",
                reason: m,
            },
            RenderError::TooLarge(m) => sandframe_core::Error::Limit(m),
            RenderError::Busy => sandframe_core::Error::Busy(RenderError::Busy.to_string()),
            other => sandframe_core::Error::Unavailable(other.to_string()),
        }
    }
}

enum Command {
    Open {
        app: AppId,
        template: Box<Template>,
        reply: SyncSender<Result<(), RenderError>>,
    },
    SetData {
        app: AppId,
        patch: Vec<u8>,
        reply: Option<SyncSender<Result<(), RenderError>>>,
    },
    Show {
        app: AppId,
        template: Box<Template>,
    },
    Event {
        event: SurfaceEvent,
        reply: SyncSender<Result<Option<Vec<u8>>, RenderError>>,
    },
    Close {
        app: AppId,
    },
    Data {
        app: AppId,
        reply: SyncSender<Option<serde_json::Value>>,
    },
    Sync {
        reply: SyncSender<()>,
    },
}

/// Commands the render thread may have queued before a `set_data` is refused as busy.
pub const QUEUE: usize = 1024;

/// A render thread (see the crate documentation). Dropping it stops the thread.
pub struct RenderSide {
    commands: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RenderSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderSide")
    }
}

impl RenderSide {
    /// Starts a render thread that sends every app's patches to `surface`.
    ///
    /// # Errors
    /// [`RenderError::Stopped`] if the system refuses a thread.
    pub fn spawn<S: Surface + 'static>(surface: Arc<Mutex<S>>) -> Result<RenderSide, RenderError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("sandframe-render".into())
            .spawn(move || serve(&*surface, &rx))
            .map_err(|_| RenderError::Stopped)?;
        Ok(RenderSide {
            commands: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, c: Command) -> Result<(), RenderError> {
        self.commands
            .as_ref()
            .ok_or(RenderError::Stopped)?
            .send(c)
            .map_err(|_| RenderError::Stopped)
    }

    /// Queues `c` without waiting: [`RenderError::Busy`] when the queue is full.
    fn queue(&self, c: Command) -> Result<(), RenderError> {
        match self
            .commands
            .as_ref()
            .ok_or(RenderError::Stopped)?
            .try_send(c)
        {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(RenderError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(RenderError::Stopped),
        }
    }

    /// Opens `app`'s view of `template`, renders it over empty data and sends the first tree.
    ///
    /// # Errors
    /// [`RenderError::Stopped`], or the first render's error.
    pub fn open(&self, app: &AppId, template: Template) -> Result<(), RenderError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Open {
            app: app.clone(),
            template: Box::new(template),
            reply,
        })?;
        answer.recv().map_err(|_| RenderError::Stopped)?
    }

    /// Queues a `ui.setData` patch (JSON bytes) for `app` and returns at once: the logic
    /// thread never waits for rendering. A patch that fails is logged and changes nothing.
    ///
    /// # Errors
    /// [`RenderError::Stopped`].
    pub fn set_data(&self, app: &AppId, patch: Vec<u8>) -> Result<(), RenderError> {
        if patch.len() > view::MAX_PATCH_BYTES {
            return Err(RenderError::TooLarge(format!(
                "a setData patch is at most {} bytes",
                view::MAX_PATCH_BYTES
            )));
        }
        let command = Command::SetData {
            app: app.clone(),
            patch,
            reply: None,
        };
        self.queue(command)
    }

    /// Queues a switch of `app`'s open view to `template` (`ui.showView`) and returns at
    /// once: the new view starts over empty data, and the surface gets its whole tree (one
    /// `Replace` of the root). Patches queued before it apply to the old view, those after
    /// to the new one. A switch that fails (the app has no open view, the first render is
    /// too large) is logged and changes nothing.
    ///
    /// # Errors
    /// [`RenderError::Busy`] (the queue is full) or [`RenderError::Stopped`].
    pub fn show(&self, app: &AppId, template: Template) -> Result<(), RenderError> {
        let command = Command::Show {
            app: app.clone(),
            template: Box::new(template),
        };
        self.queue(command)
    }

    /// [`RenderSide::set_data`], waiting until the patch has reached the surface.
    ///
    /// # Errors
    /// [`RenderError::Stopped`], or why the patch was refused (nothing changed then).
    pub fn set_data_and_wait(&self, app: &AppId, patch: Vec<u8>) -> Result<(), RenderError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::SetData {
            app: app.clone(),
            patch,
            reply: Some(reply),
        })?;
        answer.recv().map_err(|_| RenderError::Stopped)?
    }

    /// Maps a surface event to the logic event it stands for: `{"handler", "detail"}` JSON
    /// when the target binds a handler to that kind of event, `None` when it binds none (the
    /// caller drops and audits it). `detail` holds `value` for an input, and `index` (and
    /// `key`) of the list item the target is in.
    ///
    /// # Errors
    /// [`RenderError::NoView`] or [`RenderError::Stopped`].
    pub fn event(&self, event: SurfaceEvent) -> Result<Option<Vec<u8>>, RenderError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Event { event, reply })?;
        answer.recv().map_err(|_| RenderError::Stopped)?
    }

    /// A copy of `app`'s view data (`None` without an open view), once every patch sent
    /// before has been applied: for tools that show it (a simulator's data panel).
    ///
    /// # Errors
    /// [`RenderError::Stopped`].
    pub fn data(&self, app: &AppId) -> Result<Option<serde_json::Value>, RenderError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Data {
            app: app.clone(),
            reply,
        })?;
        answer.recv().map_err(|_| RenderError::Stopped)
    }

    /// Closes `app`'s view (its state is dropped).
    pub fn close(&self, app: &AppId) {
        let _ = self.send(Command::Close { app: app.clone() });
    }

    /// Waits until everything sent before has reached the surface.
    ///
    /// # Errors
    /// [`RenderError::Stopped`].
    pub fn sync(&self) -> Result<(), RenderError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Sync { reply })?;
        answer.recv().map_err(|_| RenderError::Stopped)
    }
}

impl Drop for RenderSide {
    fn drop(&mut self) {
        self.commands = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve<S: Surface>(surface: &Mutex<S>, commands: &Receiver<Command>) {
    let mut views: HashMap<AppId, View> = HashMap::new();
    let push = |app: &AppId, patches: &[ViewPatch]| -> Result<(), RenderError> {
        if patches.is_empty() {
            return Ok(());
        }
        let mut s = surface
            .lock()
            .map_err(|_| RenderError::BadPatch("the surface lock is poisoned".into()))?;
        s.apply(app, patches).map_err(RenderError::Core)
    };
    while let Ok(c) = commands.recv() {
        match c {
            Command::Open {
                app,
                template,
                reply,
            } => {
                let mut view = View::new(*template);
                let result = view.render().and_then(|p| push(&app, &p));
                if result.is_ok() {
                    views.insert(app, view);
                }
                let _ = reply.send(result);
            }
            Command::SetData { app, patch, reply } => {
                let result = match views.get_mut(&app) {
                    None => Err(RenderError::NoView(app.clone())),
                    Some(view) => view.set_data(&patch).and_then(|p| push(&app, &p)),
                };
                match reply {
                    Some(r) => {
                        let _ = r.send(result);
                    }
                    None => {
                        if let Err(e) = result {
                            tracing::warn!(target: "sandframe::render", app = app.as_str(), error = %e, "a setData patch was refused");
                        }
                    }
                }
            }
            Command::Show { app, template } => {
                let result = if views.contains_key(&app) {
                    let mut view = View::new(*template);
                    let shown = view.render().and_then(|p| push(&app, &p));
                    if shown.is_ok() {
                        views.insert(app.clone(), view);
                    }
                    shown
                } else {
                    Err(RenderError::NoView(app.clone()))
                };
                if let Err(e) = result {
                    tracing::warn!(target: "sandframe::render", app = app.as_str(), error = %e, "a view switch was refused");
                }
            }
            Command::Event { event, reply } => {
                let result = match views.get(&event.app) {
                    None => Err(RenderError::NoView(event.app.clone())),
                    Some(view) => Ok(logic_event(view, &event)),
                };
                let _ = reply.send(result);
            }
            Command::Close { app } => {
                views.remove(&app);
                if let Ok(mut s) = surface.lock() {
                    s.close(&app);
                }
            }
            Command::Data { app, reply } => {
                let _ = reply.send(views.get(&app).map(|v| v.data().clone()));
            }
            Command::Sync { reply } => {
                let _ = reply.send(());
            }
        }
    }
}

/// The logic event a surface event stands for, if its target binds a handler.
fn logic_event(view: &View, event: &SurfaceEvent) -> Option<Vec<u8>> {
    let bound = view.handler(&event.target, event.kind)?;
    let mut detail = serde_json::Map::new();
    if event.kind == EventKind::Input {
        detail.insert(
            "value".into(),
            serde_json::Value::String(event.value.clone().unwrap_or_default()),
        );
    }
    if let Some((index, key)) = &bound.item {
        detail.insert("index".into(), serde_json::Value::from(*index));
        if let Some(k) = key {
            detail.insert("key".into(), serde_json::Value::String(k.clone()));
        }
    }
    serde_json::to_vec(&serde_json::json!({
        "handler": bound.handler,
        "detail": detail,
    }))
    .ok()
}
