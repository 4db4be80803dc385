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
