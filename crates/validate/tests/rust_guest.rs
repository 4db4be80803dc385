//! A plain Rust guest, built by `pack` for wasm32-unknown-unknown with rustc's default
//! features (bulk memory, reference types, multi-value, …), its 16-page shadow stack and its
//! `__data_end` / `__heap_base` exports, passes static analysis: the caps and the feature set
//! let a real Rust mini-app in.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use common::*;
use sandframe_validate::{Validator, codes};

const CARGO_TOML: &str = r#"[package]
name = "rust-guest"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[profile.release]
panic = "abort"

[workspace]
"#;

const LIB_RS: &str = r#"
#[link(wasm_import_module = "sandframe_v1")]
unsafe extern "C" {
    fn call(api_ptr: i32, api_len: i32, req_ptr: i32, req_len: i32) -> i64;
    fn read(dst_ptr: i32, dst_len: i32) -> i32;
}

static mut COUNT: u64 = 0;

fn send(api: &str, request: &str) -> i64 {
    // SAFETY: the host reads only the ranges passed, during the call.
    unsafe { call(api.as_ptr() as i32, api.len() as i32, request.as_ptr() as i32, request.len() as i32) }
}

#[unsafe(no_mangle)]
pub extern "C" fn sf_init() -> i32 {
    (send("ui.setData", "{\"count\":0}") < 0) as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn sf_event(len: i32) -> i32 {
    let mut buf = vec![0u8; len.max(0) as usize];
    // SAFETY: buf is len bytes of our own memory.
    let got = unsafe { read(buf.as_mut_ptr() as i32, buf.len() as i32) };
    if got < 0 {
        return 1;
    }
    // SAFETY: one logic thread per instance.
    let count = unsafe { COUNT += 1; COUNT };
    let words: Vec<String> = String::from_utf8_lossy(&buf).split('"').map(str::to_owned).collect();
    let request = format!("{{\"count\":{count},\"words\":{}}}", words.len());
    (send("ui.setData", &request) < 0) as i32
}
"#;

#[test]
fn a_rust_guest_built_by_pack_passes_static_analysis() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), CARGO_TOML).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), LIB_RS).unwrap();
    std::fs::create_dir_all(dir.path().join("views")).unwrap();
    std::fs::write(dir.path().join("views/index.xml"), "<view>{{count}}</view>").unwrap();
    std::fs::write(
        dir.path().join("manifest.toml"),
        manifest("1.0.0", "[limits]\nmemory_pages = 32\n"),
    )
    .unwrap();
    let bytes = sandframe_package::source::read_dir_adding_target(dir.path(), |l| eprintln!("{l}"))
        .unwrap()
        .sign(&key(1))
        .unwrap();
    let verified = verify_with(&Validator::new(), &bytes)
        .unwrap_or_else(|e| panic!("a plain Rust guest was rejected: {e}"));
    // It exports __data_end and __heap_base (globals, not reported) and nothing else extra.
    assert!(
        !verified.report().has(codes::EXTRA_EXPORT),
        "{}",
        verified.report()
    );
    // The declared maximum is the manifest's memory_pages: one page less is refused.
    let tighter = bytes_with_limit(dir.path(), 31);
    let r = match verify_with(&Validator::new(), &tighter) {
        Err(sandframe_validate::ValidateError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert!(r.has(codes::MEMORY_TOO_LARGE), "{r}");
}

/// The same package, with the wasm built for 32 pages but the manifest now saying `pages`.
fn bytes_with_limit(dir: &std::path::Path, pages: u32) -> Vec<u8> {
    let contents =
        sandframe_package::source::read_dir_adding_target(dir, |l| eprintln!("{l}")).unwrap();
    let wasm = contents
        .files()
        .find(|(p, _)| p.as_str() == "logic.wasm")
        .unwrap()
        .1
        .to_vec();
    package_with(
        &manifest("1.0.0", &format!("[limits]\nmemory_pages = {pages}\n")),
        wasm,
        &key(1),
    )
}
