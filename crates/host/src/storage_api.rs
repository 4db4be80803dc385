//! The `storage.*` APIs of ABI v1, served by the host's [`Storage`] through the gateway (which
//! has already checked the capability, policy, rate and sizes).

use std::sync::Arc;

use sandframe_core::{Api, ApiError, AppContext, AppId, Error, ErrorCode, MonitorEvent, Storage};
use serde::Deserialize;

/// Which storage API.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Get,
    Set,
    Remove,
    List,
    Usage,
    Share,
    Unshare,
    GetShared,
    ListShares,
}

/// Every storage API, its name and capability (as in the gateway's table).
pub(crate) const OPS: [(&str, &str, Op); 9] = [
    ("storage.get", "storage:local", Op::Get),
    ("storage.set", "storage:local", Op::Set),
    ("storage.remove", "storage:local", Op::Remove),
    ("storage.list", "storage:local", Op::List),
    ("storage.usage", "storage:local", Op::Usage),
    ("storage.share", "storage:share", Op::Share),
    ("storage.unshare", "storage:share", Op::Unshare),
    ("storage.getShared", "storage:share", Op::GetShared),
    ("storage.listShares", "storage:share", Op::ListShares),
];

pub(crate) struct StorageApi {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) op: Op,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Set {
    key: String,
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Share {
    key: String,
    reader: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetShared {
    owner: String,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Nothing {}

fn parse<'a, T: Deserialize<'a>>(request: &'a [u8]) -> Result<T, ApiError> {
    let request: &[u8] = if request.is_empty() { b"{}" } else { request };
    serde_json::from_slice(request).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the request is not the expected JSON: {e}"),
        )
    })
}

fn app_id(s: &str) -> Result<AppId, ApiError> {
    s.parse()
        .map_err(|e: sandframe_core::Error| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

fn write(response: &mut Vec<u8>, value: &serde_json::Value) -> Result<(), ApiError> {
    serde_json::to_writer(response, value)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the response did not encode"))
}

/// `{"value": <the stored JSON>}`, or `null`.
fn value(response: &mut Vec<u8>, stored: Option<Vec<u8>>) -> Result<(), ApiError> {
    response.extend_from_slice(b"{\"value\":");
    match stored {
        // Stored values are JSON the app sent; check again rather than trust the disk.
        Some(v) if serde_json::from_slice::<serde::de::IgnoredAny>(&v).is_ok() => {
            response.extend_from_slice(&v);
        }
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "a stored value is not JSON",
            ));
        }
        None => response.extend_from_slice(b"null"),
    }
    response.push(b'}');
    Ok(())
}

/// Reports a write to the app's monitor: an acknowledged one (with the bytes it wrote, key
/// included) or a quota refusal; then hands the result on.
fn written<T>(app: &AppContext, result: Result<T, Error>, bytes: usize) -> Result<T, ApiError> {
    match result {
        Ok(v) => {
            app.monitor.observe(&MonitorEvent::StorageWrite {
                bytes: bytes as u64,
            });
            Ok(v)
        }
        Err(e) => {
            if let Error::Quota(_) = e {
                app.monitor.observe(&MonitorEvent::QuotaHit);
            }
            Err(e.into())
        }
    }
}

impl Api for StorageApi {
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let s = &self.storage;
        let me = &app.app;
        match self.op {
            Op::Get => {
                let r: Key = parse(request)?;
                value(response, s.get(me, &r.key)?)
            }
            Op::Set => {
                let r: Set = parse(request)?;
                let bytes = serde_json::to_vec(&r.value)
                    .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the value is not JSON"))?;
                written(app, s.set(me, &r.key, &bytes), r.key.len() + bytes.len())?;
                response.extend_from_slice(b"{}");
                Ok(())
            }
            Op::Remove => {
                let r: Key = parse(request)?;
                let removed = s.remove(me, &r.key);
                let removed = written(app, removed, r.key.len())?;
                write(response, &serde_json::json!({ "removed": removed }))
            }
            Op::List => {
                let _: Nothing = parse(request)?;
                write(response, &serde_json::json!({ "keys": s.list(me)? }))
            }
            Op::Usage => {
                let _: Nothing = parse(request)?;
                let u = s.usage(me)?;
                write(
                    response,
                    &serde_json::json!({"keys": u.keys, "bytes": u.bytes, "quota_bytes": u.quota_bytes}),
                )
            }
            Op::Share => {
                let r: Share = parse(request)?;
                let reader = app_id(&r.reader)?;
                written(app, s.share(me, &r.key, &reader), r.key.len())?;
                response.extend_from_slice(b"{}");
                Ok(())
            }
            Op::Unshare => {
                let r: Share = parse(request)?;
                let reader = app_id(&r.reader)?;
                let removed = written(app, s.unshare(me, &r.key, &reader), r.key.len())?;
                write(response, &serde_json::json!({ "removed": removed }))
            }
            Op::GetShared => {
                let r: GetShared = parse(request)?;
                value(response, s.get_shared(me, &app_id(&r.owner)?, &r.key)?)
            }
            Op::ListShares => {
                let _: Nothing = parse(request)?;
                let list = s.shares_of(me)?;
                let given: Vec<_> = list
                    .given
                    .iter()
                    .map(|(k, r)| serde_json::json!({"key": k, "reader": r.as_str()}))
                    .collect();
                let received: Vec<_> = list
                    .received
                    .iter()
                    .map(|(o, k)| serde_json::json!({"owner": o.as_str(), "key": k}))
                    .collect();
                write(
                    response,
                    &serde_json::json!({"given": given, "received": received}),
                )
            }
        }
    }
}
