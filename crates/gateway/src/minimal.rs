//! [`MinimalGateway`]: the runtime's first-cut gateway, kept for isolating the runtime in its
//! own tests and benchmarks. It answers the built-in APIs, refuses APIs whose capability the
//! manifest does not declare, and answers `unavailable` for the rest. No grants, policy, rate
//! limits or audit: hosts use [`SandframeGateway`](crate::SandframeGateway).

use sandframe_core::{
    ApiError, AppContext, Error, ErrorCode, EventSender, Gateway, GatewaySession,
};

use crate::apis::{APIS, MAX_REQUEST_BYTES, bad, builtin, unix_ms};

/// The first-cut gateway (see the module documentation: no grants, policy, rate limits or
/// audit).
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
        builtin(spec.name, &self.app, request, response, unix_ms()).unwrap_or_else(|| {
            Err(ApiError::new(
                ErrorCode::Unavailable,
                format!("{} is not available in this host yet", spec.name),
            ))
        })
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
                    version: "1.0.0".into(),
                    declared: declared
                        .iter()
                        .map(|c| sandframe_core::Declared {
                            capability: c.parse().unwrap(),
                            reason: String::new(),
                            scope: Vec::new(),
                        })
                        .collect(),
                    limits: Default::default(),
                    monitor: Default::default(),
                    sources: None,
                    views: None,
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
