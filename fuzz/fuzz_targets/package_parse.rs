//! Any bytes into the package parser and signature check: never a panic, and whatever parses
//! re-encodes canonically (its digest is that of the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandframe_package::{Digest, Package};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Package::parse(data) {
        let _ = p.verify_signature();
        assert_eq!(p.digest(), Digest::of(data));
    }
});
