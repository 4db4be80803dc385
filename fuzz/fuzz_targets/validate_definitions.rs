//! Any bytes as a signed definitions file, and any text as a definitions source: never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_package::SecretKey;
use sandframe_validate::Definitions;

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::from_seed(&[2; 32]).public_key();
    let _ = Definitions::from_signed(data, &key);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Definitions::from_toml(text);
    }
});
