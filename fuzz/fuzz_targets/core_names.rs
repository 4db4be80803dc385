//! Any string into the core name parsers: never a panic, and an accepted app id is a safe
//! file name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_core::{ApiName, AppId, Capability};

fuzz_target!(|data: &str| {
    if let Ok(id) = AppId::parse(data) {
        assert!(id.as_str().is_ascii() && !id.as_str().contains('/'));
    }
    let _ = Capability::parse(data);
    let _ = ApiName::parse(data);
});
