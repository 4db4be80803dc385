//! # sandframe-gateway
//!
//! The gateway layer: every call from a mini-app goes through one narrow door.
//!
//! **Status: first cut.** [`MinimalGateway`] answers `clock.now`, `random.bytes` and `log`,
//! refuses any API whose capability the manifest does not declare (`denied`), and answers
//! `unavailable` for every other known API until its layer lands: never a fake success.
//! Grants and consent, allow/deny policy, rate limits, size policy and the tamper-evident audit
//! log arrive with the gateway issue.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use sandframe_core::{
    ApiError, AppContext, Capability, Error, ErrorCode, EventSender, Gateway, GatewaySession,
};
use serde::Deserialize;

/// Largest request the gateway reads, in bytes (64 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// Most bytes one `random.bytes` call returns.
pub const MAX_RANDOM_BYTES: usize = 1024;
/// Longest `log` message kept, in bytes; longer ones are cut.
pub const MAX_LOG_BYTES: usize = 4096;

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
        name: "ui.setData",
        capability: Some(Capability::UI_RENDER),
    },
    ApiSpec {
        name: "user.getProfile",
        capability: Some(Capability::USER_READ_PROFILE),
    },
];

/// Errors of the gateway layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// An error reported through a core contract.
    #[error(transparent)]
    Core(#[from] sandframe_core::Error),
}

/// The first-cut gateway (see the crate documentation for what it does and does not do).
#[derive(Clone, Copy, Debug, Default)]
pub struct MinimalGateway;

impl Gateway for MinimalGateway {
    fn open(
        &self,
        app: &AppContext,
        _events: EventSender,
    ) -> Result<Box<dyn GatewaySession>, Error> {
        Ok(Box::new(MinimalSession { app: app.clone() }))
    }
}

struct MinimalSession {
    app: AppContext,
}

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

fn bad(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

fn json<'a, T: Deserialize<'a>>(request: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(request)
        .map_err(|e| bad(format!("the request is not the expected JSON: {e}")))
}

impl GatewaySession for MinimalSession {
    fn call(&mut self, api: &[u8], request: &[u8], response: &mut Vec<u8>) -> Result<(), ApiError> {
        response.clear();
        let name = std::str::from_utf8(api).map_err(|_| bad("the API name is not UTF-8"))?;
        let spec = APIS.iter().find(|s| s.name == name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownApi,
                format!("no API is named {:?}", name.escape_debug().to_string()),
            )
        })?;
        if request.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("requests are at most {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        if let Some(cap) = spec.capability
            && !self
                .app
                .declared
                .iter()
                .any(|d| d.capability.as_str() == cap)
        {
            return Err(ApiError::new(
                ErrorCode::Denied,
                format!(
                    "{} needs capability {cap}, which the manifest does not declare",
                    spec.name
                ),
            ));
        }
        match spec.name {
            "clock.now" => {
                let ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                // Written in place: no allocation on the hot path.
                let _ = write!(response, "{{\"unix_ms\":{ms}}}");
            }
            "random.bytes" => {
                let req: RandomRequest = json(request)?;
                if req.len > MAX_RANDOM_BYTES {
                    return Err(ApiError::new(
                        ErrorCode::TooLarge,
                        format!("random.bytes returns at most {MAX_RANDOM_BYTES} bytes"),
                    ));
                }
                let mut bytes = vec![0u8; req.len];
                getrandom::fill(&mut bytes).map_err(|_| {
                    ApiError::new(ErrorCode::Internal, "the system random generator failed")
                })?;
                response.extend_from_slice(
                    format!("{{\"hex\":\"{}\"}}", hex::encode(bytes)).as_bytes(),
                );
            }
            "log" => {
                let req: LogRequest = json(request)?;
                let cut: String = req.message.chars().take(MAX_LOG_BYTES).collect();
                let app = self.app.app.as_str();
                match req.level.as_deref().unwrap_or("info") {
                    "error" => {
                        tracing::error!(target: "sandframe::app", app, message = %cut.escape_debug())
                    }
                    "warn" => {
                        tracing::warn!(target: "sandframe::app", app, message = %cut.escape_debug())
                    }
                    "debug" => {
                        tracing::debug!(target: "sandframe::app", app, message = %cut.escape_debug())
                    }
                    "info" => {
                        tracing::info!(target: "sandframe::app", app, message = %cut.escape_debug())
                    }
                    other => {
                        return Err(bad(format!(
                            "log level {:?} is not one of error, warn, info, debug",
                            other.escape_debug().to_string()
                        )));
                    }
                }
                response.extend_from_slice(b"{}");
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    format!("{} is not available in this host yet", spec.name),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(declared: &[&str]) -> Box<dyn GatewaySession> {
        MinimalGateway
            .open(
                &AppContext {
                    app: "com.example.g".parse().unwrap(),
                    name: "G".into(),
                    declared: declared
                        .iter()
                        .map(|c| sandframe_core::Declared {
                            capability: c.parse().unwrap(),
                            reason: String::new(),
                        })
                        .collect(),
                    limits: Default::default(),
                },
                EventSender::none(),
            )
            .unwrap()
    }

    fn code(s: &mut Box<dyn GatewaySession>, api: &[u8], req: &[u8]) -> Option<ErrorCode> {
        let mut out = Vec::new();
        s.call(api, req, &mut out).err().map(|e| e.code())
    }

    #[test]
    fn the_minimal_apis_answer() {
        let mut s = session(&[]);
        let mut out = Vec::new();
        s.call(b"clock.now", b"", &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
        s.call(b"random.bytes", br#"{"len":16}"#, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["hex"].as_str().unwrap().len(), 32);
        s.call(b"log", br#"{"message":"hi \u001b[31m"}"#, &mut out)
            .unwrap();
        assert_eq!(out, b"{}");
    }

    #[test]
    fn bad_calls_get_the_right_codes() {
        let mut s = session(&["ui:render"]);
        assert_eq!(code(&mut s, b"no.such", b""), Some(ErrorCode::UnknownApi));
        assert_eq!(code(&mut s, b"\xff\xfe", b""), Some(ErrorCode::BadRequest));
        assert_eq!(
            code(&mut s, b"random.bytes", b"{"),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(&mut s, b"random.bytes", br#"{"len":100000}"#),
            Some(ErrorCode::TooLarge)
        );
        assert_eq!(
            code(&mut s, b"log", br#"{"level":"loud","message":"x"}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(&mut s, b"log", &vec![b' '; MAX_REQUEST_BYTES + 1]),
            Some(ErrorCode::TooLarge)
        );
        // Undeclared capability: denied. Declared but its layer has not landed: unavailable.
        assert_eq!(code(&mut s, b"storage.get", b"{}"), Some(ErrorCode::Denied));
        assert_eq!(
            code(&mut s, b"user.getProfile", b"{}"),
            Some(ErrorCode::Denied)
        );
        assert_eq!(
            code(&mut s, b"ui.setData", b"{}"),
            Some(ErrorCode::Unavailable)
        );
    }
}
