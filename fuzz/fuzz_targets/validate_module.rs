//! wasm-smith modules (and the raw input) wrapped in a signed package, through `verify`:
//! never a panic, always a verdict. Reaches the static analysis, which raw package bytes
//! almost never do (they fail the signature first).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use sandframe_core::AppId;
use sandframe_package::{PackageContents, SecretKey, TrustStore};
use sandframe_validate::{Context, Installed, ValidateError, Validator};

const MANIFEST: &[u8] = b"id = \"com.example.fuzz\"\nname = \"F\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n";

fn check(wasm: Vec<u8>) {
    let key = SecretKey::from_seed(&[1; 32]);
    let mut c = PackageContents::new(MANIFEST.to_vec());
    if c.add_file("logic.wasm", wasm).is_err() || c.add_file("views/index.xml", b"<view/>".to_vec()).is_err() {
        return;
    }
    let Ok(bytes) = c.sign(&key) else { return };
    let mut trust = TrustStore::new();
    trust.trust(key.public_key(), "fuzz");
    let installed: BTreeMap<AppId, Installed> = BTreeMap::new();
    match Validator::new().verify(&bytes, &Context::new(&trust, &installed)) {
        Ok(v) => assert!(!v.report().has_errors()),
        Err(ValidateError::Rejected(r)) => assert!(r.has_errors()),
        Err(e) => panic!("no verdict: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = arbitrary::Unstructured::new(data);
    if let Ok(module) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut u) {
        check(module.to_bytes());
    }
    check(data.to_vec());
});
