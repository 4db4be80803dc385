//! Any bytes into the manifest parser: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_package::Manifest;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(data);
});
