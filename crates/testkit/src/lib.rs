//! # sandframe-testkit
//!
//! Helpers for tests and benchmarks of the layers after validation: sign a mini-app around a
//! logic module and mint its `VerifiedPackage` through the real `sandframe_validate::verify`
//! (there is no other way). Not published; never a dependency of a shipping crate.

// A test helper fails its test loudly: panicking on a test bug is the point.
#![allow(clippy::panic)]

use std::collections::BTreeMap;

use sandframe_core::AppId;
use sandframe_package::{PackageContents, SecretKey, TrustStore};
use sandframe_validate::{Context, Installed, ValidateError, Validator, VerifiedPackage};

/// The publisher key every helper signs with (a fixed seed: tests only).
pub fn key() -> SecretKey {
    SecretKey::from_seed(&[1; 32])
}

/// A trust store that trusts [`key`].
pub fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.trust(key().public_key(), "testkit");
    t
}

/// A manifest for `id` (version 1.0.0, one view `index`), with `extra` TOML appended.
pub fn manifest(id: &str, extra: &str) -> String {
    format!("id = \"{id}\"\nname = \"Test\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n{extra}")
}

/// A package of `manifest` and `wasm` (plus a one-line `views/index.xml`), signed by [`key`].
///
/// # Panics
/// If the contents break a package rule (a test bug).
pub fn sign(manifest: &str, wasm: Vec<u8>) -> Vec<u8> {
    let mut c = PackageContents::new(manifest.as_bytes().to_vec());
    let built = c
        .add_file("logic.wasm", wasm)
        .and_then(|()| c.add_file("views/index.xml", b"<view/>".to_vec()))
        .and_then(|()| c.sign(&key()));
    match built {
        Ok(bytes) => bytes,
        Err(e) => panic!("testkit: the package does not build: {e}"),
    }
}

/// Verifies `bytes` with `validator`, trusting [`key`], with nothing installed.
///
/// # Errors
/// What `verify` says.
pub fn verify(validator: &Validator, bytes: &[u8]) -> Result<VerifiedPackage, ValidateError> {
    let none: BTreeMap<AppId, Installed> = BTreeMap::new();
    validator.verify(bytes, &Context::new(&trust(), &none))
}

/// A verified package for app `id` whose logic is `wat`, under `validator`.
///
/// # Panics
/// If the WAT does not assemble or the package is rejected (a test bug).
pub fn verified_with(validator: &Validator, id: &str, wat: &str) -> VerifiedPackage {
    let wasm = match wat::parse_str(wat) {
        Ok(w) => w,
        Err(e) => panic!("testkit: the WAT does not assemble: {e}"),
    };
    match verify(validator, &sign(&manifest(id, ""), wasm)) {
        Ok(v) => v,
        Err(e) => panic!("testkit: the package was rejected: {e}"),
    }
}

/// [`verified_with`] the default validator.
pub fn verified(id: &str, wat: &str) -> VerifiedPackage {
    verified_with(&Validator::new(), id, wat)
}
