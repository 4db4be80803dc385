//! # sandframe-sdk
//!
//! The guest side of a sandframe mini-app: safe, typed wrappers over host ABI v1 for logic
//! written in Rust and compiled to `wasm32-unknown-unknown` (`sandframe pack` and
//! `cargo xtask pack` build a crate with `Cargo.toml` in the app's source directory).
//!
//! ```no_run
//! use sandframe_sdk::{Event, Result, storage, ui};
//!
//! fn init() -> Result<()> {
//!     let count: u64 = storage::get("count")?.unwrap_or(0);
//!     ui::set_data(&serde_json::json!({ "count": count }))
//! }
//!
//! fn on_tap(_event: &Event) -> Result<()> {
//!     let count = storage::get::<u64>("count")?.unwrap_or(0) + 1;
//!     storage::set("count", &count)?;
//!     ui::set_data(&serde_json::json!({ "count": count }))
//! }
//!
//! sandframe_sdk::app! {
//!     init: init,
//!     handlers: { "onTap" => on_tap },
//! }
//! # fn main() {}
//! ```
//!
//! The ABI items (`sandframe_v1` imports, the `sf_init` / `sf_event` exports the [`app!`]
//! macro writes) exist only on `target_arch = "wasm32"`: on any other target every call
//! answers [`ErrorCode::Unavailable`], so a workspace that holds mini-apps still builds and
//! tests on the host. The SDK keeps std (which brings wasm32's panic handler); pack links the
//! module with the manifest's memory maximum.

// The ABI imports are `unsafe extern` (wasm32 only): each use carries a SAFETY comment.
#![allow(unsafe_code)]

pub use sandframe_core::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
/// The JSON library the SDK speaks (re-exported so an app needs no dependency of its own).
pub use serde_json;

/// An error a host call answered with: its code and the host's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The ABI error code.
    pub code: ErrorCode,
    /// What the host said, in words.
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl Error {
    fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }
}

/// A result whose error is a host's answer.
pub type Result<T> = std::result::Result<T, Error>;

/// An event delivered to the app: the handler it names and its detail.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Event {
    /// The handler (`bind:tap="onTap"` gives `onTap`; a consent decision is `sf.consent`).
    pub handler: String,
    /// What came with it: an input's `value`, a list item's `index` and `key`, a consent's
    /// `capability` and `granted`.
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// The raw ABI, for the SDK's own use.
mod abi {
    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "sandframe_v1")]
    unsafe extern "C" {
        fn call(api_ptr: i32, api_len: i32, req_ptr: i32, req_len: i32) -> i64;
        fn read(dst_ptr: i32, dst_len: i32) -> i32;
    }

    /// `call`: the pending bytes' length, or a negated error code.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn call_raw(api: &str, request: &[u8]) -> i64 {
        // SAFETY: the host reads exactly these two ranges of our memory during the call and
        // keeps no pointer; lengths fit in i32 because wasm32 memories are below 4 GiB.
        unsafe {
            call(
                api.as_ptr() as i32,
                api.len() as i32,
                request.as_ptr() as i32,
                request.len() as i32,
            )
        }
    }

    /// `read`: copies pending bytes into `buf`; the count, or a negated error code.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn read_raw(buf: &mut [u8]) -> i32 {
        // SAFETY: the host writes at most `buf.len()` bytes into `buf`, our own memory.
        unsafe { read(buf.as_mut_ptr() as i32, buf.len() as i32) }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn call_raw(_: &str, _: &[u8]) -> i64 {
        -i64::from(sandframe_core::ErrorCode::Unavailable.number())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn read_raw(_: &mut [u8]) -> i32 {
        -sandframe_core::ErrorCode::Unavailable.number()
    }
}

/// Reads the pending bytes (a response or the current event), `len` of them.
fn read_pending(len: usize) -> Result<Vec<u8>> {
    let mut out = vec![0; len];
    let mut at = 0;
    while at < out.len() {
        let got = abi::read_raw(out.get_mut(at..).unwrap_or_default());
        if got < 0 {
            return Err(code_error(i64::from(got)));
        }
        if got == 0 {
            break;
        }
        at += got as usize;
    }
    out.truncate(at);
    Ok(out)
}

fn code_error(negated: i64) -> Error {
    let code = i32::try_from(-negated)
        .ok()
        .and_then(ErrorCode::from_number)
        .unwrap_or(ErrorCode::Internal);
    Error::new(code, "")
}

/// Calls API `api` with raw request bytes and returns the raw response.
///
/// ```no_run
/// let now = sandframe_sdk::call("clock.now", b"")?;
/// # Ok::<(), sandframe_sdk::Error>(())
/// ```
///
/// # Errors
/// The host's answer: its code and message.
pub fn call(api: &str, request: &[u8]) -> Result<Vec<u8>> {
    let n = abi::call_raw(api, request);
    if n < 0 {
        // The pending bytes are the error's JSON body: {"code", "message"}.
        let mut e = code_error(n);
        if let Ok(body) = read_pending(64 << 10)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && let Some(m) = v.get("message").and_then(|m| m.as_str())
        {
            e.message = m.to_owned();
        }
        return Err(e);
    }
    read_pending(usize::try_from(n).unwrap_or(0))
}

/// Calls API `api` with a JSON request and decodes its JSON response.
///
/// ```no_run
/// #[derive(serde::Deserialize)]
/// struct Now { unix_ms: u64 }
/// let now: Now = sandframe_sdk::call_json("clock.now", &serde_json::json!({}))?;
/// # Ok::<(), sandframe_sdk::Error>(())
/// ```
///
/// # Errors
/// The host's answer, or [`ErrorCode::BadRequest`] if the response does not decode as `T`.
pub fn call_json<T: DeserializeOwned>(api: &str, request: &impl Serialize) -> Result<T> {
    let body = serde_json::to_vec(request)
        .map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))?;
    let response = call(api, &body)?;
    serde_json::from_slice(&response).map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))
}

/// The host's wall clock, in Unix milliseconds.
///
/// ```no_run
/// let ms = sandframe_sdk::now_ms()?;
/// # Ok::<(), sandframe_sdk::Error>(())
/// ```
///
/// # Errors
/// The host's answer.
pub fn now_ms() -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct Now {
        unix_ms: u64,
    }
    call_json::<Now>("clock.now", &serde_json::json!({})).map(|n| n.unix_ms)
}

/// Writes `message` to the host's log (escaped there; at most 4,096 characters kept).
///
/// ```no_run
/// sandframe_sdk::log("started");
/// ```
pub fn log(message: &str) {
    let _ = call_json::<serde_json::Value>("log", &serde_json::json!({ "message": message }));
}

/// The view: data for the app's templates.
pub mod ui {
    use super::{Result, Serialize, call_json};

    /// Sends a data patch to the render side: an object of `path: value`
    /// (`{"count": 3, "todos.0.done": true}`). Needs the `ui:render` capability. Returns at
    /// once; the view updates on the render thread.
    ///
    /// ```no_run
    /// sandframe_sdk::ui::set_data(&serde_json::json!({ "count": 1 }))?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer (e.g. `denied` without `ui:render`, `rate_limited` in a flood).
    pub fn set_data(patch: &impl Serialize) -> Result<()> {
        call_json::<serde_json::Value>("ui.setData", patch).map(|_| ())
    }

    /// Switches the app's view to another view its manifest lists (`views = ["index",
    /// "about"]`), over empty data: send the new view's data with [`set_data`] after it.
    /// Needs the `ui:render` capability. Returns at once.
    ///
    /// ```no_run
    /// sandframe_sdk::ui::show_view("about")?;
    /// sandframe_sdk::ui::set_data(&serde_json::json!({ "version": "1.0" }))?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer (`bad_request` for a view the manifest does not list).
    pub fn show_view(view: &str) -> Result<()> {
        call_json::<serde_json::Value>("ui.showView", &serde_json::json!({ "view": view }))
            .map(|_| ())
    }
}

/// The app's own storage (capability `storage:local`): JSON values under string keys,
/// encrypted and private to the app.
pub mod storage {
    use super::{DeserializeOwned, Result, Serialize, call_json};

    /// The value stored under `key`, if any.
    ///
    /// ```no_run
    /// let n: Option<u64> = sandframe_sdk::storage::get("count")?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer, or `bad_request` if the stored value is not a `T`.
    pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
        #[derive(serde::Deserialize)]
        struct Got<T> {
            value: Option<T>,
        }
        call_json::<Got<T>>("storage.get", &serde_json::json!({ "key": key })).map(|g| g.value)
    }

    /// Stores `value` under `key`; returns once it is durable.
    ///
    /// ```no_run
    /// sandframe_sdk::storage::set("count", &3u64)?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer (`quota` over the app's quota).
    pub fn set(key: &str, value: &impl Serialize) -> Result<()> {
        call_json::<serde_json::Value>(
            "storage.set",
            &serde_json::json!({ "key": key, "value": value }),
        )
        .map(|_| ())
    }

    /// Removes `key`; whether it was there.
    ///
    /// ```no_run
    /// let was = sandframe_sdk::storage::remove("count")?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer.
    pub fn remove(key: &str) -> Result<bool> {
        #[derive(serde::Deserialize)]
        struct Removed {
            removed: bool,
        }
        call_json::<Removed>("storage.remove", &serde_json::json!({ "key": key }))
            .map(|r| r.removed)
    }
}

/// Capabilities: asking for one the manifest declares, and listing them.
pub mod capability {
    use super::{Result, call_json};

    /// Where a request stands.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        /// Granted now.
        Granted,
        /// Refused (by policy, a stored answer or the person).
        Denied,
        /// Asked: the answer arrives later as an `sf.consent` event.
        Pending,
    }

    /// Asks for `capability` (which the manifest must declare).
    ///
    /// ```no_run
    /// use sandframe_sdk::capability::{request, Status};
    /// if request("user:readProfile")? == Status::Pending {
    ///     // wait for the sf.consent event
    /// }
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer: `denied` for an undeclared capability.
    pub fn request(capability: &str) -> Result<Status> {
        #[derive(serde::Deserialize)]
        struct Answer {
            status: Status,
        }
        call_json::<Answer>(
            "capability.request",
            &serde_json::json!({ "capability": capability }),
        )
        .map(|a| a.status)
    }

    /// The capabilities granted now.
    ///
    /// ```no_run
    /// let granted = sandframe_sdk::capability::granted()?;
    /// # Ok::<(), sandframe_sdk::Error>(())
    /// ```
    ///
    /// # Errors
    /// The host's answer.
    pub fn granted() -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct List {
            granted: Vec<String>,
        }
        call_json::<List>("capability.list", &serde_json::json!({})).map(|l| l.granted)
    }
}

/// The network: `net.fetch` to the origins the manifest declares (capability `net:fetch`).
///
/// A fetch answers at once with a request id; the answer arrives later as an
/// [`EVENT`](net::EVENT) event, and its body is read by id, in chunks, so a large answer never
/// has to fit in one event.
///
/// ```no_run
/// use sandframe_sdk::{Event, Result, net, ui};
///
/// fn on_tap(_: &Event) -> Result<()> {
///     net::fetch("https://api.example.com/notes")?;
///     Ok(())
/// }
///
/// fn on_fetch(event: &Event) -> Result<()> {
///     let answer = net::answer(event)?;
///     let response = answer.result?;
///     let notes: serde_json::Value = net::json(response.id)?;
///     ui::set_data(&serde_json::json!({ "notes": notes }))
/// }
///
/// sandframe_sdk::app! {
///     init: init,
///     handlers: { "onTap" => on_tap, "sf.fetch" => on_fetch },
/// }
/// # fn init() -> Result<()> { Ok(()) }
/// # fn main() {}
/// ```
pub mod net {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde::de::DeserializeOwned;

    use super::{Error, ErrorCode, Event, Result, call_json};

    /// The handler name of a fetch's answer.
    pub const EVENT: &str = "sf.fetch";

    /// A request: a URL on a declared origin, a method (default `GET`), headers and a body.
    #[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
    pub struct Request {
        /// The URL (https, on an origin the manifest declares and the grant covers).
        pub url: String,
        /// `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH` or `OPTIONS` (`None`: `GET`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub method: Option<String>,
        /// Request headers (the host refuses those that steer the connection or pose as
        /// another app, and adds `User-Agent` and `Referer` itself).
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String>,
        /// A text body.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub body: Option<String>,
    }

    impl Request {
        /// A `GET` of `url`.
        pub fn get(url: &str) -> Request {
            Request {
                url: url.to_owned(),
                ..Request::default()
            }
        }

        /// A `POST` of `value` as JSON to `url`.
        ///
        /// # Errors
        /// `bad_request` if `value` does not encode.
        pub fn post_json(url: &str, value: &impl serde::Serialize) -> Result<Request> {
            let body = serde_json::to_string(value)
                .map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))?;
            let mut headers = BTreeMap::new();
            headers.insert("content-type".to_owned(), "application/json".to_owned());
            Ok(Request {
                url: url.to_owned(),
                method: Some("POST".to_owned()),
                headers,
                body: Some(body),
            })
        }
    }

    /// Sends `request`; returns its id at once (the answer is an [`EVENT`] event).
    ///
    /// # Errors
    /// Refused at once: `denied` (an origin not granted, an IP address, http, a refused
    /// header), `rate_limited` (10 requests in flight), `bad_request`.
    pub fn send(request: &Request) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Pending {
            id: u64,
        }
        call_json::<Pending>("net.fetch", request).map(|p| p.id)
    }

    /// Sends `request` with `body` as its body, however large (up to a quarter of the app's
    /// memory): uploaded in chunks with `net.upload` first when it does not fit in one call.
    ///
    /// # Errors
    /// As [`send`]; `too_large` over the cap.
    pub fn send_body(request: &Request, body: &[u8]) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Opened {
            upload: u64,
        }
        const CHUNK: usize = 36 << 10; // 48 KiB of base64, well inside one call
        let mut upload: Option<u64> = None;
        for chunk in body.chunks(CHUNK) {
            let data = base64::engine::general_purpose::STANDARD.encode(chunk);
            let req = match upload {
                Some(u) => serde_json::json!({ "data": data, "upload": u }),
                None => serde_json::json!({ "data": data }),
            };
            upload = Some(call_json::<Opened>("net.upload", &req)?.upload);
        }
        let mut value = serde_json::to_value(request)
            .map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.remove("body");
            if let Some(u) = upload {
                map.insert("upload".into(), serde_json::json!(u));
            }
        }
        #[derive(serde::Deserialize)]
        struct Pending {
            id: u64,
        }
        call_json::<Pending>("net.fetch", &value).map(|p| p.id)
    }

    /// A `GET` of `url`; returns its id at once.
    ///
    /// # Errors
    /// As [`send`].
    pub fn fetch(url: &str) -> Result<u64> {
        send(&Request::get(url))
    }

    /// A response's head; its body is read with [`read`], [`body`], [`text`] or [`json`].
    #[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
    pub struct Response {
        /// The request id.
        pub id: u64,
        /// The HTTP status.
        pub status: u16,
        /// The headers, names in lower case (repeated ones joined with ", ").
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// The body's size in bytes.
        pub size: u64,
        /// The URL that answered (after redirects).
        #[serde(default)]
        pub url: String,
    }

    /// An [`EVENT`] event: the request's id and how it ended.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Answer {
        /// The request id [`send`] returned.
        pub id: u64,
        /// The response, or why there is none (`denied` for a refused address or redirect,
        /// `too_large` over a cap, `unavailable` for a network failure or the timeout).
        pub result: Result<Response>,
    }

    /// Reads an [`EVENT`] event.
    ///
    /// # Errors
    /// `bad_request` if `event` is not a fetch's answer.
    pub fn answer(event: &Event) -> Result<Answer> {
        #[derive(serde::Deserialize)]
        struct Failure {
            code: String,
            message: String,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            id: u64,
            error: Option<Failure>,
        }
        let bad = |e: String| Error::new(ErrorCode::BadRequest, e);
        if event.handler != EVENT {
            return Err(bad(format!("{:?} is not a fetch's answer", event.handler)));
        }
        let head: Detail =
            serde_json::from_value(event.detail.clone()).map_err(|e| bad(e.to_string()))?;
        let result = match head.error {
            Some(f) => Err(Error::new(
                ErrorCode::ALL
                    .into_iter()
                    .find(|c| c.name() == f.code)
                    .unwrap_or(ErrorCode::Internal),
                f.message,
            )),
            None => serde_json::from_value(event.detail.clone()).map_err(|e| bad(e.to_string())),
        };
        Ok(Answer {
            id: head.id,
            result,
        })
    }

    /// Up to 48,960 bytes of answer `id`'s body from `offset`, and whether that reached its end
    /// (the host then frees the body).
    ///
    /// # Errors
    /// `bad_request` for an id not held (never answered, read to its end, closed).
    pub fn read(id: u64, offset: u64) -> Result<(Vec<u8>, bool)> {
        #[derive(serde::Deserialize)]
        struct Chunk {
            data: String,
            eof: bool,
        }
        let c = call_json::<Chunk>(
            "net.read",
            &serde_json::json!({ "id": id, "offset": offset }),
        )?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(c.data)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        Ok((data, c.eof))
    }

    /// The whole body of answer `id` (read in chunks; freed on the host once read).
    ///
    /// # Errors
    /// As [`read`].
    pub fn body(id: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let (chunk, eof) = read(id, out.len() as u64)?;
            let empty = chunk.is_empty();
            out.extend(chunk);
            if eof || empty {
                return Ok(out);
            }
        }
    }

    /// The body of answer `id` as UTF-8 text.
    ///
    /// # Errors
    /// As [`read`]; `bad_request` if it is not UTF-8.
    pub fn text(id: u64) -> Result<String> {
        String::from_utf8(body(id)?).map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))
    }

    /// The body of answer `id` parsed as JSON.
    ///
    /// # Errors
    /// As [`read`]; `bad_request` if it is not that JSON.
    pub fn json<T: DeserializeOwned>(id: u64) -> Result<T> {
        serde_json::from_slice(&body(id)?)
            .map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))
    }

    /// Frees answer `id` unread, or cancels it if it is still in flight (no event follows).
    ///
    /// # Errors
    /// The host's answer.
    pub fn close(id: u64) -> Result<bool> {
        #[derive(serde::Deserialize)]
        struct Closed {
            closed: bool,
        }
        call_json::<Closed>("net.close", &serde_json::json!({ "id": id })).map(|c| c.closed)
    }
}

/// Reads the current event (`len` bytes pending) for the [`app!`] macro.
///
/// # Errors
/// The host's answer, or `bad_request` if the event is not `{"handler", "detail"}` JSON.
#[doc(hidden)]
pub fn __event(len: i32) -> Result<Event> {
    let bytes = read_pending(usize::try_from(len).unwrap_or(0))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::new(ErrorCode::BadRequest, e.to_string()))
}

/// The exit code of an entry point: 0 for `Ok`, the error's code number otherwise (the host
/// audits a non-zero code as an app error).
#[doc(hidden)]
pub fn __code(result: Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => e.code.number(),
    }
}

/// Writes the app's entry points: `sf_init` runs `init`; `sf_event` reads the event and
/// runs the handler it names (an unknown name is answered with `bad_request`, code 4).
///
/// ```no_run
/// fn init() -> sandframe_sdk::Result<()> { Ok(()) }
/// fn on_tap(_: &sandframe_sdk::Event) -> sandframe_sdk::Result<()> { Ok(()) }
/// sandframe_sdk::app! { init: init, handlers: { "onTap" => on_tap } }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! app {
    (init: $init:path, handlers: { $($name:literal => $handler:path),* $(,)? } $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn sf_init() -> i32 {
            $crate::__code($init())
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn sf_event(len: i32) -> i32 {
            $crate::__code($crate::__event(len).and_then(|event| {
                match event.handler.as_str() {
                    $($name => $handler(&event),)*
                    _ => Err($crate::Error {
                        code: $crate::ErrorCode::BadRequest,
                        message: format!("no handler named {:?}", event.handler),
                    }),
                }
            }))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_answer_reads_as_a_response_or_an_error() {
        let ok = Event {
            handler: "sf.fetch".into(),
            detail: serde_json::json!({"id": 3, "status": 200, "headers": {"a": "b"}, "size": 5, "url": "https://x.example/"}),
        };
        let a = net::answer(&ok).unwrap();
        assert_eq!(a.id, 3);
        let r = a.result.unwrap();
        assert_eq!((r.status, r.size, r.headers["a"].as_str()), (200, 5, "b"));
        let failed = Event {
            handler: "sf.fetch".into(),
            detail: serde_json::json!({"id": 4, "error": {"code": "too_large", "message": "m"}}),
        };
        let a = net::answer(&failed).unwrap();
        assert_eq!(a.id, 4);
        assert_eq!(a.result.unwrap_err().code, ErrorCode::TooLarge);
        let tap = Event {
            handler: "onTap".into(),
            detail: serde_json::Value::Null,
        };
        assert_eq!(net::answer(&tap).unwrap_err().code, ErrorCode::BadRequest);
        let req =
            net::Request::post_json("https://x.example/n", &serde_json::json!({"t": 1})).unwrap();
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"url": "https://x.example/n", "method": "POST", "headers": {"content-type": "application/json"}, "body": "{\"t\":1}"})
        );
    }

    #[test]
    fn off_wasm_every_call_is_unavailable() {
        assert_eq!(
            call("clock.now", b"").unwrap_err().code,
            ErrorCode::Unavailable
        );
        assert_eq!(now_ms().unwrap_err().code, ErrorCode::Unavailable);
        assert_eq!(__code(Err(Error::new(ErrorCode::Quota, ""))), 7);
        assert_eq!(__code(Ok(())), 0);
    }
}
