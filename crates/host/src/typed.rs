//! Typed host APIs: a closure from a request type to a response type, as an [`Api`], so that
//! a host API is a few lines and its request is parsed strictly before it runs; and the form
//! that answers later, through an event, for work that must not block a logic thread.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

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
        let req: Req = parse(request)?;
        let answer = (self.f)(app, req)?;
        serde_json::to_writer(response, &answer).map_err(unencodable)
    }
}

/// Parses a request as [`typed_api`] says: empty reads as `null`; a misfit is `bad_request`.
fn parse<Req: DeserializeOwned>(request: &[u8]) -> Result<Req, ApiError> {
    let request = if request.iter().all(u8::is_ascii_whitespace) {
        &b"null"[..]
    } else {
        request
    };
    serde_json::from_slice(request).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the request does not fit this API: {e}"),
        )
    })
}

/// The error for an answer `serde_json` cannot encode (a map with non-string keys, say).
fn unencodable(e: serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("the host could not encode its answer: {e}"),
    )
}

/// How a [`typed_later_api`] closure answers: once, from any thread, whenever the answer is
/// ready. The answer reaches the app as the event
/// `{"handler": <the API's name>, "detail": {"id": N, "ok": <answer>}}`, or
/// `{"detail": {"id": N, "error": {"code": <name>, "message": <text>}}}` for a refusal, where
/// `N` is the id the call's own answer (`{"status": "pending", "id": N}`) gave.
///
/// Dropped without an answer (the closure returned early, or panicked on another thread),
/// it answers `internal` itself, so the app is never left waiting for an event that does not
/// come. An app that has stopped meanwhile gets nothing.
#[must_use = "an unused Later answers `internal` when dropped"]
pub struct Later<Resp: Serialize> {
    handler: &'static str,
    id: u64,
    events: sandframe_core::EventSender,
    sent: bool,
    /// Whether the closure given this `Later` has returned, and how (see [`Stage`]).
    stage: Arc<AtomicU8>,
    types: PhantomData<fn(Resp)>,
}

/// Where a [`Later`]'s call stands, so that exactly one `internal` answer is posted for a
/// dropped `Later`, and none for a refused call, whichever thread drops it when.
struct Stage;

impl Stage {
    /// The closure is still running.
    const RUNNING: u8 = 0;
    /// The closure accepted the call: the app waits for an event.
    const PENDING: u8 = 1;
    /// The closure refused the call: the app got an error and waits for nothing.
    const REFUSED: u8 = 2;
    /// The `Later` was dropped unanswered while the closure ran.
    const DROPPED: u8 = 3;
}

impl<Resp: Serialize> Later<Resp> {
    /// The id the app was given with `pending`.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Posts the answer to the app.
    pub fn send(mut self, answer: Result<Resp, ApiError>) {
        self.sent = true;
        let detail = match answer.map(|a| serde_json::to_value(&a)) {
            Ok(Ok(ok)) => serde_json::json!({ "id": self.id, "ok": ok }),
            Ok(Err(e)) => error_detail(self.id, &unencodable(e)),
            Err(e) => error_detail(self.id, &e),
        };
        post(self.handler, &self.events, detail);
    }
}

impl<Resp: Serialize> Drop for Later<Resp> {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        match self.stage.compare_exchange(
            Stage::RUNNING,
            Stage::DROPPED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // The call's own return posts it, if the closure accepts the call.
            Ok(_) => {}
            Err(Stage::PENDING) => post(self.handler, &self.events, dropped(self.id)),
            Err(_) => {}
        }
    }
}

fn dropped(id: u64) -> serde_json::Value {
    error_detail(
        id,
        &ApiError::new(
            ErrorCode::Internal,
            "the host dropped this request without an answer",
        ),
    )
}

fn post(handler: &str, events: &sandframe_core::EventSender, detail: serde_json::Value) {
    // Handler first, as every event is written (docs/abi.md), so a guest that looks at the
    // handler's name at a fixed offset finds it; serde_json's map would sort "detail" first.
    // A `&str` and a `Value` with string keys always encode.
    if let (Ok(handler), Ok(detail)) = (
        serde_json::to_string(handler),
        serde_json::to_string(&detail),
    ) {
        events.post(format!(r#"{{"handler":{handler},"detail":{detail}}}"#).into_bytes());
    }
}

impl<Resp: Serialize> std::fmt::Debug for Later<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Later")
            .field("handler", &self.handler)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn error_detail(id: u64, e: &ApiError) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "error": { "code": e.code().name(), "message": e.message() },
    })
}

/// A typed host API that answers later, as `net.fetch` and consent do: the request is parsed
/// as for [`typed_api`], `f` gets a [`Later`] to answer through and must return at once
/// (it runs on the app's logic thread; hand the work to a thread or a runtime of your own),
/// and the guest's call answers `{"status": "pending", "id": N}`. `handler` is the event's
/// handler name, conventionally the API's own name.
///
/// If `f` refuses the request (returns `Err`), the call fails with that error and no event
/// follows (unless `f` had already answered through its `Later`). Ids count from 1 per API, and are never reused within a host process.
///
/// ```
/// use sandframe_host::{ApiError, Later, typed_later_api};
///
/// let api = typed_later_api("echo.later", |_app, text: String, later: Later<String>| {
///     std::thread::spawn(move || later.send(Ok(text.to_uppercase())));
///     Ok::<(), ApiError>(())
/// });
/// # let _ = api;
/// ```
pub fn typed_later_api<Req, Resp, F>(handler: &'static str, f: F) -> Arc<dyn Api>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize + 'static,
    F: Fn(&AppContext, Req, Later<Resp>) -> Result<(), ApiError> + Send + Sync + 'static,
{
    Arc::new(TypedLater {
        handler,
        f,
        next: AtomicU64::new(1),
        types: PhantomData,
    })
}

struct TypedLater<F, Req, Resp> {
    handler: &'static str,
    f: F,
    next: AtomicU64,
    types: PhantomData<fn(Req) -> Resp>,
}

impl<F, Req, Resp> Api for TypedLater<F, Req, Resp>
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Fn(&AppContext, Req, Later<Resp>) -> Result<(), ApiError> + Send + Sync,
{
    fn call(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        self.call_posting(app, request, response, &sandframe_core::EventSender::none())
    }

    fn call_posting(
        &self,
        app: &AppContext,
        request: &[u8],
        response: &mut Vec<u8>,
        events: &sandframe_core::EventSender,
    ) -> Result<(), ApiError> {
        let req: Req = parse(request)?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let stage = Arc::new(AtomicU8::new(Stage::RUNNING));
        let later = Later {
            handler: self.handler,
            id,
            events: events.clone(),
            sent: false,
            stage: Arc::clone(&stage),
            types: PhantomData,
        };
        if let Err(e) = (self.f)(app, req, later) {
            stage.store(Stage::REFUSED, Ordering::Release);
            return Err(e);
        }
        if stage.swap(Stage::PENDING, Ordering::AcqRel) == Stage::DROPPED {
            post(self.handler, events, dropped(id));
        }
        serde_json::to_writer(
            response,
            &serde_json::json!({ "status": "pending", "id": id }),
        )
        .map_err(unencodable)
    }
}
