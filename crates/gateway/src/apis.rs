//! The API table of host ABI v1, the built-in APIs, and the trait host-registered APIs
//! implement.

use std::time::{SystemTime, UNIX_EPOCH};

use sandframe_core::{ApiError, AppContext, Capability, ErrorCode};
use serde::Deserialize;

/// Largest request the gateway reads, in bytes (64 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// Largest response the gateway hands back, in bytes (64 KiB).
pub const MAX_RESPONSE_BYTES: usize = 64 << 10;
/// Most bytes one `random.bytes` call returns.
pub const MAX_RANDOM_BYTES: usize = 1024;
/// Longest `log` message kept, in bytes; longer ones are cut.
pub const MAX_LOG_BYTES: usize = 4096;
/// Most characters of source one `app.source` call returns (escaped as JSON, at most six
/// bytes each: the answer stays under [`MAX_RESPONSE_BYTES`]).
pub const MAX_SOURCE_CHARS: usize = sandframe_core::SOURCE_CHUNK_CHARS;

/// One API: its name and the capability it needs (`None`: every app may call it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiSpec {
    /// The API name, e.g. `storage.get`.
    pub name: &'static str,
    /// The capability it needs.
    pub capability: Option<&'static str>,
}

/// Every API of host ABI v1 and the capability each needs (`docs/abi.md`).
pub const APIS: &[ApiSpec] = &[
    ApiSpec {
        name: "clock.now",
        capability: None,
    },
    ApiSpec {
        name: "random.bytes",
        capability: None,
    },
    ApiSpec {
        name: "log",
        capability: None,
    },
    ApiSpec {
        name: "app.limits",
        capability: None,
    },
    ApiSpec {
        name: "app.source",
        capability: None,
    },
    ApiSpec {
        name: "app.views",
        capability: None,
    },
    ApiSpec {
        name: "capability.request",
        capability: None,
    },
    ApiSpec {
        name: "capability.list",
        capability: None,
    },
    ApiSpec {
        name: "storage.get",
        capability: Some(Capability::STORAGE_LOCAL),
    },
    ApiSpec {
        name: "storage.set",
        capability: Some(Capability::STORAGE_LOCAL),
    },
    ApiSpec {
        name: "storage.remove",
        capability: Some(Capability::STORAGE_LOCAL),
    },
    ApiSpec {
        name: "storage.list",
        capability: Some(Capability::STORAGE_LOCAL),
    },
    ApiSpec {
        name: "storage.usage",
        capability: Some(Capability::STORAGE_LOCAL),
    },
    ApiSpec {
        name: "storage.share",
        capability: Some("storage:share"),
    },
    ApiSpec {
        name: "storage.unshare",
        capability: Some("storage:share"),
    },
    ApiSpec {
        name: "storage.getShared",
        capability: Some("storage:share"),
    },
    ApiSpec {
        name: "storage.listShares",
        capability: Some("storage:share"),
    },
    ApiSpec {
        name: "ui.setData",
        capability: Some(Capability::UI_RENDER),
    },
    ApiSpec {
        name: "ui.showView",
        capability: Some(Capability::UI_RENDER),
    },
    ApiSpec {
        name: "user.getProfile",
        capability: Some(Capability::USER_READ_PROFILE),
    },
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RandomRequest {
    len: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogRequest {
    #[serde(default)]
    level: Option<String>,
    message: String,
}

pub(crate) fn bad(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Parses a JSON request (empty means `{}`).
pub(crate) fn json<'a, T: Deserialize<'a>>(request: &'a [u8]) -> Result<T, ApiError> {
    let request: &[u8] = if request.is_empty() { b"{}" } else { request };
    serde_json::from_slice(request)
        .map_err(|e| bad(format!("the request is not the expected JSON: {e}")))
}

/// The wall clock in Unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000 + u64::from(d.subsec_millis()))
}

/// Serves a built-in API (`clock.now`, `random.bytes`, `log`); `None` for any other name.
/// `now_ms` is the wall clock as the caller read it for this call.
pub(crate) fn builtin(
    name: &str,
    app: &AppContext,
    request: &[u8],
    response: &mut Vec<u8>,
    now_ms: u64,
) -> Option<Result<(), ApiError>> {
    Some(match name {
        "clock.now" => {
            // Written in place: no allocation on the hot path.
            response.extend_from_slice(b"{\"unix_ms\":");
            response.extend_from_slice(itoa::Buffer::new().format(now_ms).as_bytes());
            response.push(b'}');
            Ok(())
        }
        "random.bytes" => random(request, response),
        "log" => log(app, request, response),
        "app.limits" => serde_json::to_writer(&mut *response, &app.limits)
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the limits did not encode")),
        "app.source" => source(app, request, response),
        "app.views" => {
            let names: Vec<&str> = app
                .views
                .iter()
                .flat_map(|v| v.iter().map(|(name, _)| name.as_str()))
                .collect();
            serde_json::to_writer(&mut *response, &serde_json::json!({ "views": names }))
                .map_err(|_| ApiError::new(ErrorCode::Internal, "the views did not encode"))
        }
        _ => return None,
    })
}

fn random(request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
    let req: RandomRequest = json(request)?;
    if req.len > MAX_RANDOM_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("random.bytes returns at most {MAX_RANDOM_BYTES} bytes"),
        ));
    }
    let mut bytes = vec![0u8; req.len];
    getrandom::fill(&mut bytes)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the system random generator failed"))?;
    response.extend_from_slice(format!("{{\"hex\":\"{}\"}}", hex::encode(bytes)).as_bytes());
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRequest {
    path: String,
    #[serde(default)]
    offset: usize,
}

/// `app.source`: up to [`MAX_SOURCE_CHARS`] characters of one of the app's scripts from byte
/// `offset` (a character boundary), and where the next chunk starts (`null` at the end).
fn source(app: &AppContext, request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
    let req: SourceRequest = json(request)?;
    let Some(text) = app.sources.as_ref().and_then(|s| s.get(&req.path)) else {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "this app has no script {:?} (app.source serves a runtime = \"js@1\" app's logic.js)",
                req.path.chars().take(100).collect::<String>()
            ),
        ));
    };
    let (chunk, next) = sandframe_core::source_chunk(text, req.offset)
        .ok_or_else(|| bad("offset is past the end of the script or inside a character"))?;
    serde_json::to_writer(
        &mut *response,
        &serde_json::json!({"text": chunk, "next": next, "size": text.len()}),
    )
    .map_err(|_| ApiError::new(ErrorCode::Internal, "the source did not encode"))
}

/// Most characters of an error log's text kept in its audit record.
pub const MAX_AUDITED_LOG_CHARS: usize = 512;

/// The text of a `log` request at level `error`, escaped and cut to
/// [`MAX_AUDITED_LOG_CHARS`], for its audit record; `None` for any other level.
pub(crate) fn error_text(request: &[u8]) -> Option<String> {
    let req: LogRequest = json(request).ok()?;
    (req.level.as_deref() == Some("error")).then(|| {
        let cut: String = req.message.chars().take(MAX_AUDITED_LOG_CHARS).collect();
        cut.escape_debug().to_string()
    })
}

fn log(app: &AppContext, request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
    let req: LogRequest = json(request)?;
    let cut: String = req.message.chars().take(MAX_LOG_BYTES).collect();
    let app = app.app.as_str();
    match req.level.as_deref().unwrap_or("info") {
        "error" => tracing::error!(target: "sandframe::app", app, message = %cut.escape_debug()),
        "warn" => tracing::warn!(target: "sandframe::app", app, message = %cut.escape_debug()),
        "debug" => tracing::debug!(target: "sandframe::app", app, message = %cut.escape_debug()),
        "info" => tracing::info!(target: "sandframe::app", app, message = %cut.escape_debug()),
        other => {
            return Err(bad(format!(
                "log level {:?} is not one of error, warn, info, debug",
                other.escape_debug().to_string()
            )));
        }
    }
    response.extend_from_slice(b"{}");
    Ok(())
}
