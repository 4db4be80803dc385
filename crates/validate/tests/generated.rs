//! Generated modules (wasm-smith) and random bytes through `verify`: never a panic, always a
//! verdict (a `VerifiedPackage` or a report with at least one error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use common::*;
use proptest::prelude::*;
use sandframe_validate::{ValidateError, Validator, codes};

fn verdict(wasm: Vec<u8>) -> Result<(), String> {
    let bytes = package_with(&manifest("1.0.0", ""), wasm, &key(1));
    match verify_with(&Validator::new(), &bytes) {
        Ok(v) if !v.report().has_errors() => Ok(()),
        Ok(v) => Err(format!("accepted with errors: {}", v.report())),
        Err(ValidateError::Rejected(r)) if r.has_errors() => Ok(()),
        Err(e) => Err(format!("no verdict: {e}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_get_a_verdict(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend_from_slice(&bytes);
        prop_assert!(verdict(wasm).is_ok());
        prop_assert!(verdict(bytes).is_ok());
    }

    #[test]
    fn wasm_smith_modules_get_a_verdict(seed in proptest::collection::vec(any::<u8>(), 64..4096)) {
        let mut u = arbitrary::Unstructured::new(&seed);
        let config = wasm_smith::Config {
            max_memory32_bytes: 1 << 24,
            ..wasm_smith::Config::default()
        };
        if let Ok(module) = wasm_smith::Module::new(config, &mut u) {
            let wasm = module.to_bytes();
            prop_assert!(verdict(wasm.clone()).is_ok());
            // A generated module lacks the ABI exports, so it is always rejected, and if it
            // is not valid WebAssembly for our feature set, it says so with SF-V101.
            if sandframe_validate::validity(&wasm).is_some() {
                let bytes = package_with(&manifest("1.0.0", ""), wasm, &key(1));
                let Err(ValidateError::Rejected(r)) = verify_with(&Validator::new(), &bytes) else {
                    panic!("accepted");
                };
                prop_assert!(r.has(codes::INVALID));
            }
        }
    }
}
