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
    "640f5fde0078cef49cf2bdfa8ce99959f7ecee563f86446a046ee1175bb9e451";

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
