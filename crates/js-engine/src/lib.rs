//! sandframe's JavaScript engine: QuickJS (quickjs-ng, through rquickjs) built to
//! `wasm32-unknown-unknown`, speaking host ABI v1 like any mini-app. The host runs it for a
//! package whose manifest says `runtime = "js@1"`: it reads the app's `logic.js` through the
//! `app.source` API, evaluates it after `prelude.js` (the WeChat-shaped `App`, `Page`,
//! `setData` and `sf.*` API), and maps lifecycle, surface and host events onto it.
//!
//! The engine is not the boundary: the wasm sandbox and the gateway are. A bug in QuickJS
//! gives an app this instance, which holds no authority beyond the app's own grants.
//!
//! Bounds, inside the instance:
//! - QuickJS's heap limit sits below the instance's memory cap (what `app.limits` says), so
//!   a memory bomb is a JS `InternalError: out of memory`, not a trap;
//! - QuickJS's stack limit ([`JS_STACK_BYTES`] of the 1 MiB shadow stack) is low enough that
//!   deep recursion, a deep `JSON.parse` or a deep regex is a JS `RangeError` before the
//!   host's wasm stack (4 MiB for JS apps) runs out;
//! - Promise jobs run inside the event that queued them, under its fuel.

#![allow(unsafe_code)] // the ABI's exports and the allocator: each use says why it is sound

mod alloc;

use std::cell::RefCell;

use rquickjs::function::Func;
use rquickjs::{Context, Ctx, Exception, Function, Object, Persistent, Runtime, Value};

/// The API the prelude installs: the app's logic runs after it.
const PRELUDE: &str = include_str!("prelude.js");
/// QuickJS's own stack limit, in bytes of the shadow stack. Measured: with the host's 4 MiB
/// wasm stack for JS apps, every recursion path tried (calls, getters, proxies, `apply`,
/// `toString`, `JSON.parse`, `String([[...]])`, regex compile, the parser) ends in a JS error
/// at this limit, and the worst needs between 1 and 2 MiB of wasm stack. About 480 plain
/// function calls deep.
pub const JS_STACK_BYTES: usize = 128 << 10;
/// What the heap limit leaves of the memory cap for the engine's own allocations.
const RESERVE_BYTES: usize = 1 << 20;
/// The exit code of an entry point that ended in a JS exception (the host audits it as an
/// app error): `bad_request`.
const JS_ERROR: i32 = 4;
/// The longest exception text logged.
const MAX_REPORT: usize = 2000;

struct Engine {
    /// Kept alive for as long as the app runs (the context lives in it).
    _runtime: Runtime,
    context: Context,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// QuickJS's clock (`Date.now()`, `new Date()`): the host's `clock.now`, in microseconds.
#[unsafe(no_mangle)]
pub extern "C" fn __rquickjs_host_now_us() -> f64 {
    sandframe_sdk::now_ms().map_or(0.0, |ms| ms as f64 * 1000.0)
}

/// Starts the app: reads its source, evaluates the prelude and `logic.js`, runs `onLaunch`,
/// `onLoad` and `onShow`, and sends the page's first data.
#[unsafe(no_mangle)]
pub extern "C" fn sf_init() -> i32 {
    match init() {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// Delivers one event to the app (see `prelude.js`'s `dispatch`).
#[unsafe(no_mangle)]
pub extern "C" fn sf_event(len: i32) -> i32 {
    let event = match sandframe_sdk::__event(len) {
        Ok(e) => e,
        Err(e) => return e.code.number(),
    };
    let detail = event.detail.to_string();
    ENGINE.with(|engine| {
        let engine = engine.borrow();
        let Some(engine) = engine.as_ref() else {
            sandframe_sdk::log(
                "the app did not start (its logic.js or onLaunch threw): no handler runs",
            );
            return JS_ERROR;
        };
        engine.context.with(|ctx| {
            let result = (|| {
                let detail: Value = ctx.json_parse(detail)?;
                let api: Object = ctx.globals().get("__sf_engine")?;
                let dispatch: Function = api.get("dispatch")?;
                dispatch.call::<_, ()>((event.handler.as_str(), detail))
            })();
            finish(&ctx, result)
        })
    })
}

fn init() -> Result<(), i32> {
    // A panic in the engine (a bug) says where before the instance traps.
    std::panic::set_hook(Box::new(|info| {
        let _ = fail(&format!("the JS engine panicked: {info}"));
    }));
    let source = read_source("logic.js")?;
    let runtime = Runtime::new().map_err(|_| fail("QuickJS did not start"))?;
    runtime.set_max_stack_size(JS_STACK_BYTES);
    runtime.set_memory_limit(heap_limit());
    runtime.set_host_promise_rejection_tracker(Some(Box::new(rejected)));
    let context =
        Context::full(&runtime).map_err(|_| fail("QuickJS had no memory for a context"))?;
    let code = context.with(|ctx| {
        let result = (|| {
            let native = Object::new(ctx.clone())?;
            native.set("call", Func::from(host_call))?;
            native.set("body", Func::from(body))?;
            let mut prelude_options = rquickjs::context::EvalOptions::default();
            prelude_options.filename = Some("sandframe:prelude.js".into());
            let prelude: Function = ctx.eval_with_options(PRELUDE, prelude_options)?;
            let api: Object = prelude.call((native,))?;
            ctx.globals().set("__sf_engine", api.clone())?;
            let mut options = rquickjs::context::EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some("logic.js".into());
            ctx.eval_with_options::<(), _>(source, options)?;
            let start: Function = api.get("start")?;
            start.call::<_, ()>(())
        })();
        finish(&ctx, result)
    });
    if code != 0 {
        // An app whose start threw (its onLaunch, say) runs nothing more: each later event
        // is answered with the same error.
        return Err(code);
    }
    ENGINE.with(|e| {
        *e.borrow_mut() = Some(Engine {
            _runtime: runtime,
            context,
        })
    });
    Ok(())
}

/// Reports an exception, if any, through `log`, then drains the jobs the entry point queued
/// (under its fuel), and answers the entry point's exit code: [`JS_ERROR`] for an exception
/// or a promise rejected with nobody to handle it.
fn finish(ctx: &Ctx<'_>, result: rquickjs::Result<()>) -> i32 {
    let mut code = match result {
        Ok(()) => 0,
        Err(e) => report(ctx, &e),
    };
    while ctx.execute_pending_job() {}
    let (unhandled, overflowed) = UNHANDLED.with(|u| {
        let mut u = u.borrow_mut();
        (std::mem::take(&mut u.0), std::mem::replace(&mut u.1, false))
    });
    for (_, reason) in unhandled.into_iter().take(MAX_UNHANDLED_REPORTS) {
        if let Ok(reason) = reason.restore(ctx) {
            let _ = ctx.throw(reason);
            let _ = report_as(ctx, &rquickjs::Error::Exception, "Uncaught (in promise)");
        }
        code = JS_ERROR;
    }
    if overflowed {
        return JS_ERROR;
    }
    code
}

/// Most promises rejected with no handler that one entry point keeps track of; past it, the
/// entry point is an app error whatever handlers come later.
const MAX_UNHANDLED: usize = 10_000;
/// Most of them one entry point reports through `log`.
const MAX_UNHANDLED_REPORTS: usize = 8;

type Rejection = (Persistent<Value<'static>>, Persistent<Value<'static>>);

thread_local! {
    /// The promises rejected with no handler during the current entry point, with their
    /// reasons, and whether there were more than [`MAX_UNHANDLED`]. One that gains a handler
    /// before the entry point ends (`Promise.reject(e).catch(...)`) leaves the list.
    static UNHANDLED: RefCell<(Vec<Rejection>, bool)> = const { RefCell::new((Vec::new(), false)) };
}

/// QuickJS's rejection tracker: called with `handled = false` when a promise is rejected
/// with no handler, and with `handled = true` when one is added later.
fn rejected<'js>(ctx: Ctx<'js>, promise: Value<'js>, reason: Value<'js>, handled: bool) {
    UNHANDLED.with(|u| {
        let mut u = u.borrow_mut();
        if handled {
            u.0.retain(|(p, _)| p.clone().restore(&ctx).map_or(true, |p| p != promise));
        } else if u.0.len() < MAX_UNHANDLED {
            u.0.push((
                Persistent::save(&ctx, promise),
                Persistent::save(&ctx, reason),
            ));
        } else {
            u.1 = true;
        }
    });
}

/// Logs the pending exception (its message and where it was thrown) and answers
/// [`JS_ERROR`].
fn report(ctx: &Ctx<'_>, error: &rquickjs::Error) -> i32 {
    report_as(ctx, error, "Uncaught")
}

fn report_as(ctx: &Ctx<'_>, error: &rquickjs::Error, what: &str) -> i32 {
    let text = match error {
        rquickjs::Error::Exception => {
            let thrown = ctx.catch();
            match thrown.as_exception() {
                Some(e) => {
                    let message = e.message().unwrap_or_default();
                    let stack = e.stack().unwrap_or_default();
                    let name: String = e.get("name").unwrap_or_else(|_| "Error".into());
                    format!("{what} {name}: {message}\n{stack}")
                }
                None => format!(
                    "{what} {}",
                    ctx.json_stringify(thrown)
                        .ok()
                        .flatten()
                        .and_then(|s| s.to_string().ok())
                        .unwrap_or_else(|| "a value that is not an Error".into())
                ),
            }
        }
        other => format!("JS engine: {other}"),
    };
    let cut: String = text.chars().take(MAX_REPORT).collect();
    let _ = sandframe_sdk::call_json::<sandframe_sdk::serde_json::Value>(
        "log",
        &sandframe_sdk::serde_json::json!({"level": "error", "message": cut}),
    );
    JS_ERROR
}

/// `native.call(api, request)`: the host's answer as text, or a thrown `Error` whose `code`
/// names the ABI error.
fn host_call<'js>(ctx: Ctx<'js>, api: String, request: String) -> rquickjs::Result<String> {
    match sandframe_sdk::call(&api, request.as_bytes()) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Err(throw(&ctx, &api, &e)),
    }
}

/// `native.body(id)`: the whole body of answer `id` as text (invalid UTF-8 replaced).
fn body<'js>(ctx: Ctx<'js>, id: f64) -> rquickjs::Result<String> {
    let id = id as u64;
    match sandframe_sdk::net::body(id) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Err(throw(&ctx, "net.read", &e)),
    }
}

fn throw(ctx: &Ctx<'_>, api: &str, e: &sandframe_sdk::Error) -> rquickjs::Error {
    let message = format!("{api}: {} ({})", e.message, e.code.name());
    match Exception::from_message(ctx.clone(), &message) {
        Ok(ex) => {
            let _ = ex.set("code", e.code.name());
            ctx.throw(ex.into_value())
        }
        Err(err) => err,
    }
}

/// The whole of source file `path`, read with `app.source` in chunks.
fn read_source(path: &str) -> Result<String, i32> {
    #[derive(serde::Deserialize)]
    struct Chunk {
        text: String,
        next: Option<u64>,
    }
    let mut source = String::new();
    let mut offset = 0u64;
    loop {
        let chunk: Chunk = sandframe_sdk::call_json(
            "app.source",
            &sandframe_sdk::serde_json::json!({"path": path, "offset": offset}),
        )
        .map_err(|e| fail(&format!("could not read {path}: {e}")))?;
        source.push_str(&chunk.text);
        match chunk.next {
            Some(next) if next > offset => offset = next,
            _ => return Ok(source),
        }
    }
}

/// QuickJS's heap limit: the memory cap the host set for this app (`app.limits`), less the
/// memory in use now and a reserve for the engine's own allocations.
fn heap_limit() -> usize {
    #[derive(serde::Deserialize)]
    struct Limits {
        memory_pages: Option<u64>,
    }
    const PAGE: usize = 64 << 10;
    let cap_pages =
        sandframe_sdk::call_json::<Limits>("app.limits", &sandframe_sdk::serde_json::json!({}))
            .ok()
            .and_then(|l| l.memory_pages)
            .unwrap_or(256);
    let cap = usize::try_from(cap_pages)
        .unwrap_or(usize::MAX / PAGE)
        .saturating_mul(PAGE);
    let used = core::arch::wasm32::memory_size(0) * PAGE;
    cap.saturating_sub(used)
        .saturating_sub(RESERVE_BYTES)
        .max(PAGE)
}

/// Logs `message` and answers the exit code of a start that failed.
fn fail(message: &str) -> i32 {
    let _ = sandframe_sdk::call_json::<sandframe_sdk::serde_json::Value>(
        "log",
        &sandframe_sdk::serde_json::json!({"level": "error", "message": message}),
    );
    JS_ERROR
}
