//! The JavaScript engine the runtime carries for `runtime = "js@1"` apps: QuickJS built to
//! wasm32 from `crates/js-engine` by `cargo xtask js-engine` (which checks that a rebuild
//! gives these same bytes). Its digest is pinned here: bytes that do not match are never
//! compiled, so a build that picked up other bytes fails loudly instead of running them.
//!
//! The engine is validated like any module (at install) and compiled once per runtime: every
//! JS app shares its one compiled module and differs only in its source (`app.source`).

/// The engine's bytes (crates/runtime/js/engine.wasm).
pub const JS_ENGINE: &[u8] = include_bytes!("../js/engine.wasm");

/// The BLAKE3 digest of [`JS_ENGINE`], hex (also in crates/runtime/js/engine.toml, which
/// records the clang and rquickjs that built it).
pub const JS_ENGINE_DIGEST: &str =
    "b8b34eeedb36c299c808a54a0a8cc0f8c4314e504cf359668fc0e97110d2176a";

/// Fuel per event for a JS app, unless its manifest asks for less. An interpreter burns far
/// more fuel per line than compiled code: rendering a list of 1,000 items costs about 55M
/// points and parsing a 100 KB JSON answer about 40M (`cargo bench -p sandframe-bench
/// --bench js_fuel`), where a Rust handler of the same work costs under 1M. The budget is
/// per runtime (the wasm default stays 18M).
pub const DEFAULT_JS_FUEL_PER_EVENT: u64 = 200_000_000;

/// CPU time one event of a JS app may use: QuickJS spends 200M points in about 20 to 30 ms
/// on the CI machine, so a JS spinner holds its logic thread at most this long per event
/// (10× the wasm default in a debug build, as there).
pub const DEFAULT_JS_EVENT_DEADLINE: std::time::Duration =
    std::time::Duration::from_millis(if cfg!(debug_assertions) { 400 } else { 40 });

/// Whether [`JS_ENGINE`] is the engine whose digest is pinned.
pub fn engine_is_pinned() -> bool {
    blake3::hash(JS_ENGINE).to_hex().as_str() == JS_ENGINE_DIGEST
}

/// The app id a script check runs under.
pub(crate) const CHECK_APP: &str = "dev.sandframe.script-check";

/// What is wrong with a script ([`crate::Runtime::check_script`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptProblem {
    /// It does not parse.
    #[error("logic.js:{line}:{column}: {message}")]
    Syntax {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// QuickJS's message (`SyntaxError: …`).
        message: String,
    },
    /// It nests deeper than the engine's parser goes (its stack limit).
    #[error(
        "logic.js: nested too deeply for the engine's parser (brackets, blocks or expressions); flatten it"
    )]
    TooDeep,
    /// Evaluating it was stopped by the sandbox (its top level loops, or allocates past the
    /// memory cap).
    #[error("logic.js: evaluating it was stopped by the sandbox ({0}); its top level must return")]
    Stopped(String),
}

/// The gateway of a script check: the engine's own reads (`app.source`, `app.limits`), a
/// clock at zero, no randomness but zeros, `log` kept; every other API unavailable.
pub(crate) struct CheckSession {
    context: sandframe_core::AppContext,
    logged: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CheckSession {
    pub(crate) fn new(
        context: sandframe_core::AppContext,
        logged: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> CheckSession {
        CheckSession { context, logged }
    }
}

impl sandframe_core::GatewaySession for CheckSession {
    fn call(
        &mut self,
        api: &[u8],
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> Result<(), sandframe_core::ApiError> {
        use sandframe_core::{ApiError, ErrorCode};
        #[derive(serde::Deserialize)]
        struct Source {
            path: String,
            #[serde(default)]
            offset: usize,
        }
        #[derive(serde::Deserialize)]
        struct Log {
            message: String,
        }
        #[derive(serde::Deserialize)]
        struct Random {
            len: usize,
        }
        response.clear();
        let bad = |what: &str| ApiError::new(ErrorCode::BadRequest, what.to_owned());
        let answer = match api {
            b"app.source" => {
                let req: Source = serde_json::from_slice(request).map_err(|_| bad("app.source"))?;
                let text = self
                    .context
                    .sources
                    .as_ref()
                    .and_then(|s| s.get(&req.path))
                    .ok_or_else(|| bad("no such script"))?;
                let (chunk, next) =
                    sandframe_core::source_chunk(text, req.offset).ok_or_else(|| bad("offset"))?;
                serde_json::json!({"text": chunk, "next": next, "size": text.len()})
            }
            b"app.limits" => {
                serde_json::to_value(self.context.limits).map_err(|_| bad("limits"))?
            }
            b"clock.now" => serde_json::json!({"unix_ms": 0}),
            b"random.bytes" => {
                let req: Random =
                    serde_json::from_slice(request).map_err(|_| bad("random.bytes"))?;
                serde_json::json!({"hex": "00".repeat(req.len.min(1024))})
            }
            b"log" => {
                if let (Ok(req), Ok(mut logged)) =
                    (serde_json::from_slice::<Log>(request), self.logged.lock())
                    && logged.len() < 64
                {
                    logged.push(req.message);
                }
                serde_json::json!({})
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    "a script check runs no API",
                ));
            }
        };
        serde_json::to_writer(response, &answer)
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the answer did not encode"))
    }
}

/// The verdict of a check from how `sf_init` ended and what the engine logged: the first
/// uncaught `SyntaxError`, with the position its stack gives (`at logic.js:LINE:COLUMN`).
pub(crate) fn judge(
    outcome: Result<(), crate::RuntimeError>,
    logged: &[String],
) -> Result<(), ScriptProblem> {
    for text in logged {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let message = if let Some(rest) = first.strip_prefix("Uncaught SyntaxError") {
            format!("SyntaxError{rest}")
        } else if first == "Uncaught RangeError: Maximum call stack size exceeded"
            && lines.next().is_none_or(|l| l.trim().is_empty())
        {
            // Thrown by the parser itself (no frame at all, not even the top level's): the
            // script nests deeper than the engine's stack allows.
            return Err(ScriptProblem::TooDeep);
        } else {
            continue;
        };
        let (line, column) = text
            .split("logic.js:")
            .nth(1)
            .and_then(|at| {
                let mut parts = at.split(|c: char| !c.is_ascii_digit());
                let line = parts.next()?.parse().ok()?;
                let column = parts.next()?.parse().ok()?;
                Some((line, column))
            })
            .unwrap_or((1, 1));
        return Err(ScriptProblem::Syntax {
            line,
            column,
            message,
        });
    }
    match outcome {
        Err(crate::RuntimeError::Trapped { kind, .. }) => {
            Err(ScriptProblem::Stopped(format!("{kind:?}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_engine_has_the_pinned_digest() {
        assert!(
            engine_is_pinned(),
            "crates/runtime/js/engine.wasm is blake3 {}, not the pinned {JS_ENGINE_DIGEST}",
            blake3::hash(JS_ENGINE).to_hex()
        );
    }
}
