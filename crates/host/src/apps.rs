//! What the host shows about installed apps: list, info, state, views, assets and surface
//! events.

use sandframe_core::{AppId, AuditOutcome, AuditRecord, AuditSink as _, Layer, SurfaceEvent};
use sandframe_validate::Registry as _;
use serde::Serialize;

use crate::Host;
use crate::error::{HostError, LayerError, Misuse};
use crate::home::{HomeRegistry, RECORD_KIND};
use sandframe_core::HomeState as _;

/// An installed app, as [`Host::list`] shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppSummary {
    /// The app.
    pub app: AppId,
    /// Its installed version.
    pub version: String,
    /// Its publisher's key.
    pub publisher: String,
    /// Whether it runs.
    pub state: AppState,
    /// Whether the monitor quarantined it.
    pub quarantined: bool,
}

/// What an installed app is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    /// Not running.
    Stopped,
    /// Running, shown.
    Running,
    /// Running, hidden (`onHide`).
    Hidden,
    /// Suspended: its instance was dropped (idle, or updated); its next event relaunches it.
    Suspended,
}

/// An installed app's details, as [`Host::info`] shows them (the manifest's text is the
/// publisher's: escape it before showing it).
#[derive(Clone, Debug, Serialize)]
pub struct AppInfo {
    /// Id, version, publisher, state.
    #[serde(flatten)]
    pub summary: AppSummary,
    /// Its display name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its views; the first is the entry view.
    pub views: Vec<String>,
    /// The capabilities it declares, each with the manifest's reason.
    pub capabilities: Vec<DeclaredInfo>,
    /// Its stored grants (`None` with a custom gateway).
    pub grants: Option<Vec<String>>,
    /// Storage used, in bytes.
    pub storage_bytes: Option<u64>,
    /// Its storage quota, in bytes.
    pub storage_quota_bytes: Option<u64>,
}

/// A declared capability and the publisher's reason for it.
#[derive(Clone, Debug, Serialize)]
pub struct DeclaredInfo {
    /// The capability.
    pub capability: String,
    /// Why the app wants it (publisher text).
    pub reason: String,
}

impl Host {
    /// What an installed app is doing.
    pub fn state(&self, app: &AppId) -> AppState {
        let Ok(live) = self.live.lock() else {
            return AppState::Stopped;
        };
        match live.running.get(app) {
            Some(r) if r.shown => AppState::Running,
            Some(_) => AppState::Hidden,
            None if live.suspended.contains(app) => AppState::Suspended,
            None => AppState::Stopped,
        }
    }

    /// Whether `app` is installed (its record has a version: not uninstalled), read from the
    /// home's records alone (no trust or package check).
    pub fn is_installed(&self, app: &AppId) -> bool {
        HomeRegistry(self.state.as_ref())
            .installed(app)
            .is_some_and(|i| i.version.is_some())
    }

    /// The installed apps (not uninstalled ones), sorted by id.
    ///
    /// # Errors
    /// [`HostError::Home`] if the home cannot be listed.
    pub fn list(&self) -> Result<Vec<AppSummary>, HostError> {
        self.state.refresh()?;
        let registry = HomeRegistry(self.state.as_ref());
        let mut out = Vec::new();
        for name in self.state.names(RECORD_KIND) {
            let Ok(app) = name.parse::<AppId>() else {
                continue;
            };
            let Some(installed) = registry.installed(&app) else {
                continue;
            };
            let Some(version) = installed.version else {
                continue; // a tombstone: uninstalled
            };
            out.push(AppSummary {
                state: self.state(&app),
                quarantined: self.monitor.is_quarantined(&app),
                version: version.to_string(),
                publisher: installed.publisher.to_string(),
                app,
            });
        }
        out.sort_by(|a, b| a.app.cmp(&b.app));
        Ok(out)
    }

    /// An installed app's details, read from its package (authenticated against its install
    /// receipt first).
    ///
    /// # Errors
    /// [`Misuse::NotInstalled`], [`HomeError::Damaged`](crate::HomeError::Damaged).
    pub fn info(&self, app: &AppId) -> Result<AppInfo, HostError> {
        let verified = self.installed_package(app)?;
        let package = verified.package();
        let manifest = package.manifest();
        let usage = self.storage.usage(app).ok();
        Ok(AppInfo {
            summary: AppSummary {
                app: app.clone(),
                version: manifest.version().to_string(),
                publisher: package.publisher().to_string(),
                state: self.state(app),
                quarantined: self.monitor.is_quarantined(app),
            },
            name: manifest.name().to_owned(),
            description: manifest.description().map(str::to_owned),
            views: manifest.views().to_vec(),
            capabilities: manifest
                .capabilities()
                .iter()
                .map(|d| DeclaredInfo {
                    capability: d.capability().to_string(),
                    reason: d.reason().to_owned(),
                })
                .collect(),
            grants: self.sandframe.as_ref().and_then(|g| {
                g.grants(app).ok().map(|gs| {
                    gs.iter()
                        .map(|g| g.capability().as_str().to_owned())
                        .collect()
                })
            }),
            storage_bytes: usage.map(|u| u.bytes),
            storage_quota_bytes: usage.map(|u| u.quota_bytes),
        })
    }

    /// The app's view as HTML, as the default [`HtmlSurface`](crate::HtmlSurface) has it once every patch sent so
    /// far has arrived (`None` with a surface of the embedder's, or before the app's first
    /// launch).
    ///
    /// # Errors
    /// [`HostError::Layer`] if the render thread has stopped.
    pub fn html(&self, app: &AppId) -> Result<Option<String>, HostError> {
        let Some(html) = &self.html else {
            return Ok(None);
        };
        self.render.sync()?;
        let surface = html
            .lock()
            .map_err(|_| HostError::Layer(LayerError::Poisoned("the surface")))?;
        let out = surface.html(app);
        Ok((!out.is_empty()).then_some(out))
    }

    /// Delivers a surface event (a tap, an input) through the render side: if the element
    /// it targets binds a handler to it, the app receives `{"handler", "detail"}` and its
    /// answer is returned; if not, the event is dropped, audited, and `Ok(None)` returned.
    ///
    /// # Errors
    /// [`Misuse::NotRunning`], [`HostError::Layer`], or what [`Host::dispatch`] returns.
    pub fn surface_event(&self, event: SurfaceEvent) -> Result<Option<i32>, HostError> {
        let app = event.app.clone();
        {
            let live = self.lock_live()?;
            if !live.running.contains_key(&app) && !live.suspended.contains(&app) {
                return Err(HostError::from(Misuse::NotRunning(app)));
            }
        }
        match self.render.event(event.clone())? {
            Some(json) => self.dispatch(&app, &json).map(Some),
            None => {
                let target: Vec<String> = event.target.iter().map(u32::to_string).collect();
                let _ = self.audit.record(
                    &AuditRecord::new(
                        Layer::Render,
                        "event",
                        &target.join("."),
                        AuditOutcome::Denied,
                    )
                    .app(Some(&app))
                    .detail(&format!(
                        "dropped: no handler is bound to {:?} there",
                        event.kind
                    )),
                );
                Ok(None)
            }
        }
    }

    /// A copy of the app's view data, as the render side holds it once every patch sent so
    /// far has been applied (`None` if its view is not open).
    ///
    /// # Errors
    /// [`HostError::Layer`] if the render thread has stopped.
    pub fn view_data(&self, app: &AppId) -> Result<Option<serde_json::Value>, HostError> {
        Ok(self.render.data(app)?)
    }

    /// A file of the installed package under `assets/` (`path` relative to it), for a
    /// surface that shows the app's images; `None` if there is no such asset. Only assets
    /// are served: never the logic module, the manifest or a view.
    ///
    /// # Errors
    /// [`Misuse::NotInstalled`], [`HomeError::Damaged`](crate::HomeError::Damaged).
    pub fn asset(&self, app: &AppId, path: &str) -> Result<Option<Vec<u8>>, HostError> {
        let verified = self.installed_package(app)?;
        Ok(verified
            .package()
            .file(&format!("assets/{path}"))
            .map(<[u8]>::to_vec))
    }
}
