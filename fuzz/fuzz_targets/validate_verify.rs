//! Any bytes into `verify` as a package: never a panic, always a verdict.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sandframe_core::AppId;
use sandframe_package::{SecretKey, TrustStore};
use sandframe_validate::{Context, Installed, Validator};

fn trust() -> &'static TrustStore {
    static T: OnceLock<TrustStore> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = TrustStore::new();
        t.trust(SecretKey::from_seed(&[1; 32]).public_key(), "fuzz");
        t
    })
}

fuzz_target!(|data: &[u8]| {
    let installed: BTreeMap<AppId, Installed> = BTreeMap::new();
    let _ = Validator::new().verify(data, &Context::new(trust(), &installed));
});
