//! Layer glue: the `ui.setData` and `ui.showView` APIs over the render side, and the watch that
//! applies the monitor's verdicts.

use std::sync::Arc;

use sandframe_core::{Api, AppId, AppMonitor, Gateway, MonitorEvent, Verdict};
use sandframe_render::RenderSide;
use sandframe_runtime::Terminator;

/// `ui.setData`: the request (a JSON object of `path: value`) goes to the render side as
/// bytes; the logic thread does not wait for rendering.
pub(crate) struct UiApi {
    pub(crate) render: Arc<RenderSide>,
}

impl Api for UiApi {
    fn call(
        &self,
        app: &sandframe_core::AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_core::ApiError> {
        let is_object = request.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !is_object {
            return Err(sandframe_core::ApiError::new(
                sandframe_core::ErrorCode::BadRequest,
                "ui.setData takes an object of path: value, e.g. {\"count\": 1}",
            ));
        }
        self.render
            .set_data(&app.app, request.to_vec())
            .map_err(render_error)?;
        response.extend_from_slice(b"{}");
        Ok(())
    }
}

/// A render error as the guest sees it: render's own mapping (`From<RenderError>`), the one
/// docs/abi.md describes.
fn render_error(e: sandframe_render::RenderError) -> sandframe_core::ApiError {
    let message = e.to_string();
    let code = sandframe_core::Error::from(e).code();
    sandframe_core::ApiError::new(code, message)
}

/// `ui.showView`: switches the app's open view to another view its manifest lists
/// (`{"view": "about"}`), over empty data; the logic thread does not wait for rendering.
pub(crate) struct ShowViewApi {
    pub(crate) render: Arc<RenderSide>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowView {
    view: String,
}

impl Api for ShowViewApi {
    fn call(
        &self,
        app: &sandframe_core::AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_core::ApiError> {
        use sandframe_core::{ApiError, ErrorCode};
        let req: ShowView = serde_json::from_slice(request).map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                "ui.showView takes {\"view\": NAME}, NAME one of the views the manifest lists",
            )
        })?;
        let views = app.views.as_deref().map(Vec::as_slice).unwrap_or_default();
        let Some((_, text)) = views.iter().find(|(name, _)| *name == req.view) else {
            let listed: Vec<&str> = views.iter().map(|(name, _)| name.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "the manifest lists no view named {:?}; it lists {listed:?}",
                    req.view.chars().take(64).collect::<String>()
                ),
            ));
        };
        // Parsed at install already: a failure here is a damaged home, not the app's fault.
        let template = sandframe_package::template::Template::parse(text).map_err(|e| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("view {}: {e}; reinstall the app", req.view),
            )
        })?;
        self.render.show(&app.app, template).map_err(render_error)?;
        response.extend_from_slice(b"{}");
        Ok(())
    }
}

/// An app's watch as the host hands it to the layers: the monitor decides, this applies.
pub(crate) struct Enforcer {
    pub(crate) inner: Arc<dyn AppMonitor>,
    pub(crate) app: AppId,
    pub(crate) terminator: Terminator,
    pub(crate) gateway: Arc<dyn Gateway>,
    /// The network door: a stop verdict cancels the app's requests at once (one may come
    /// from the door's own thread, where no later call of the app would).
    pub(crate) net: Option<Arc<sandframe_net::Net>>,
}

impl AppMonitor for Enforcer {
    #[inline]
    fn observe(&self, event: &MonitorEvent<'_>) -> Verdict {
        let verdict = self.inner.observe(event);
        match verdict {
            Verdict::Allow | Verdict::Warn => {}
            Verdict::Throttle => self.gateway.throttle(&self.app, true),
            Verdict::Terminate | Verdict::Quarantine => {
                self.terminator.terminate();
                if let Some(net) = &self.net {
                    net.cancel(&self.app);
                }
            }
        }
        verdict
    }
}
