//! Any bytes into the key file and trust store parsers: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_package::{PublicKey, SecretKey, TrustStore};

fuzz_target!(|data: &[u8]| {
    let _ = PublicKey::from_file_text(data);
    let _ = SecretKey::from_file_text(data);
    if let Ok(store) = TrustStore::from_toml(data) {
        let _ = store.to_toml();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = s.parse::<PublicKey>();
    }
});
