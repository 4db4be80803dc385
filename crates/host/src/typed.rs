//! Typed host APIs: a closure from a request type to a response type, as an [`Api`], so that
//! a host API is a few lines and its request is parsed strictly before it runs.

use std::marker::PhantomData;
use std::sync::Arc;

use sandframe_core::{Api, ApiError, AppContext, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An [`Api`] from `f`: the request (JSON; an empty request reads as `null`) is parsed into
/// `Req` with serde (so `#[serde(deny_unknown_fields)]` refuses extra fields, and a struct
/// also reads from an array of its fields in order, serde's rule), and `f`'s answer is
/// written as JSON. A request that does not fit `Req` is refused as `bad_request` with
/// serde's reason, before `f` runs.
///
/// ```
/// use sandframe_host::{ApiError, typed_api};
///
/// #[derive(serde::Deserialize)]
/// struct Greet {
///     name: String,
/// }
///
/// let api = typed_api(|_app, req: Greet| -> Result<_, ApiError> {
///     Ok(serde_json::json!({ "hello": req.name }))
/// });
/// # let _ = api;
/// ```
pub fn typed_api<Req, Resp, F>(f: F) -> Arc<dyn Api>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize + 'static,
    F: Fn(&AppContext, Req) -> Result<Resp, ApiError> + Send + Sync + 'static,
{
    Arc::new(Typed {
        f,
        types: PhantomData,
    })
}

struct Typed<F, Req, Resp> {
    f: F,
    types: PhantomData<fn(Req) -> Resp>,
}

impl<F, Req, Resp> Api for Typed<F, Req, Resp>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Fn(&AppContext, Req) -> Result<Resp, ApiError> + Send + Sync,
{
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let request = if request.iter().all(u8::is_ascii_whitespace) {
            &b"null"[..]
        } else {
            request
        };
        let req: Req = serde_json::from_slice(request).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("the request does not fit this API: {e}"),
            )
        })?;
        let answer = (self.f)(app, req)?;
        serde_json::to_writer(response, &answer).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the host could not encode its answer: {e}"),
            )
        })
    }
}
