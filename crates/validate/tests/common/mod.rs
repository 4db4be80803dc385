//! Helpers shared by the validation tests: sign a package around a module, verify it.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;

use sandframe_core::AppId;
use sandframe_package::{PackageContents, SecretKey, TrustStore};
use sandframe_validate::{Context, Installed, Report, ValidateError, Validator, VerifiedPackage};

pub const ID: &str = "com.example.t";

/// A minimal valid ABI v1 module body; tests splice extra fields in.
pub fn module(extra: &str) -> String {
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func (param i32 i32) (result i32)))
  {extra}
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#
    )
}

/// The minimal module with a one-page memory.
pub fn good_module() -> String {
    module(r#"(memory (export "memory") 1 1)"#)
}

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

pub fn manifest(version: &str, extra: &str) -> String {
    format!("id = \"{ID}\"\nname = \"T\"\nversion = \"{version}\"\nviews = [\"index\"]\n{extra}")
}

pub fn package_with(manifest: &str, wasm: Vec<u8>, signer: &SecretKey) -> Vec<u8> {
    let mut c = PackageContents::new(manifest.as_bytes().to_vec());
    c.add_file("logic.wasm", wasm).unwrap();
    c.add_file("views/index.xml", b"<view>{{x}}</view>".to_vec())
        .unwrap();
    c.sign(signer).unwrap()
}

pub fn package(wat: &str) -> Vec<u8> {
    package_with(
        &manifest("1.0.0", ""),
        wat::parse_str(wat).unwrap(),
        &key(1),
    )
}

pub fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.trust(key(1).public_key(), "One");
    t.trust(key(2).public_key(), "Two");
    t
}

pub fn nothing_installed() -> BTreeMap<AppId, Installed> {
    BTreeMap::new()
}

pub fn verify_with(validator: &Validator, bytes: &[u8]) -> Result<VerifiedPackage, ValidateError> {
    let installed = nothing_installed();
    let trust = trust();
    validator.verify(bytes, &Context::new(&trust, &installed))
}

/// Whether `validator` accepts `bytes`, and the report either way.
pub fn verdict(validator: &Validator, bytes: &[u8]) -> (bool, Report) {
    match verify_with(validator, bytes) {
        Ok(v) => (true, v.report().clone()),
        Err(ValidateError::Rejected(r)) => (false, *r),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// [`verdict`] with the default validator.
pub fn report_of(bytes: &[u8]) -> (bool, Report) {
    verdict(&Validator::new(), bytes)
}
