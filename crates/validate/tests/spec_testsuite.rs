//! The official WebAssembly spec testsuite (top-level .wast files, copied in
//! ../shared/wasm-testsuite/, or wherever SANDFRAME_WASM_TESTSUITE points), through the
//! module-validity stage:
//! - every `assert_invalid` module, and every binary `assert_malformed` module, is rejected by
//!   that stage with code SF-V101 (not merely for lacking ABI v1 exports);
//! - every valid module passes that stage, unless it needs a feature outside sandframe's set
//!   (then it validates under wasmparser with every feature on, so the feature is the reason).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)] // a test: failing loudly is the point

use std::path::PathBuf;

use sandframe_validate::{codes, validity};
use wast::core::ModuleKind;
use wast::parser::{ParseBuffer, parse};
use wast::{QuoteWat, Wast, WastDirective, Wat};

fn suite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SANDFRAME_WASM_TESTSUITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/wasm-testsuite")
        });
    dir.is_dir().then_some(dir)
}

fn valid_with_every_feature(bytes: &[u8]) -> bool {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
}

#[derive(Default, Debug)]
struct Tally {
    files: usize,
    files_wast_cannot_parse: Vec<String>,
    invalid_rejected: usize,
    malformed_rejected: usize,
    valid_passed: usize,
    valid_needing_other_features: usize,
}

#[test]
fn spec_testsuite_through_the_validity_stage() {
    let Some(dir) = suite_dir() else {
        println!(
            "SKIPPED: no WebAssembly testsuite at ../shared/wasm-testsuite (set SANDFRAME_WASM_TESTSUITE to run it)"
        );
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wast"))
        .collect();
    files.sort();
    let mut t = Tally::default();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        // A file using syntax this wast version does not know is listed as skipped.
        let Ok(buf) = ParseBuffer::new(&text) else {
            t.files_wast_cannot_parse.push(name);
            continue;
        };
        let Ok(wast) = parse::<Wast<'_>>(&buf) else {
            t.files_wast_cannot_parse.push(name);
            continue;
        };
        t.files += 1;
        for directive in wast.directives {
            match directive {
                WastDirective::Module(mut m) | WastDirective::ModuleDefinition(mut m) => {
                    if matches!(
                        m,
                        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
                    ) {
                        continue;
                    }
                    let Ok(bytes) = m.encode() else { continue };
                    match validity(&bytes) {
                        None => t.valid_passed += 1,
                        Some(_) if valid_with_every_feature(&bytes) => {
                            t.valid_needing_other_features += 1
                        }
                        Some(f) => {
                            failures.push(format!("{name}: a valid module was rejected: {f}"))
                        }
                    }
                }
                WastDirective::AssertInvalid {
                    mut module,
                    message,
                    ..
                } => {
                    let Ok(bytes) = module.encode() else { continue };
                    match validity(&bytes) {
                        Some(f) if f.code == codes::INVALID => t.invalid_rejected += 1,
                        Some(f) => failures
                            .push(format!("{name}: invalid module ({message}) got {}", f.code)),
                        None => {
                            failures.push(format!("{name}: invalid module accepted ({message})"))
                        }
                    }
                }
                WastDirective::AssertMalformed {
                    mut module,
                    message,
                    ..
                } => {
                    let binary = matches!(&module, QuoteWat::Wat(Wat::Module(m)) if matches!(m.kind, ModuleKind::Binary(_)));
                    if !binary {
                        continue;
                    }
                    let Ok(bytes) = module.encode() else { continue };
                    match validity(&bytes) {
                        Some(f) if f.code == codes::INVALID => t.malformed_rejected += 1,
                        Some(f) => failures.push(format!(
                            "{name}: malformed module ({message}) got {}",
                            f.code
                        )),
                        None => {
                            failures.push(format!("{name}: malformed module accepted ({message})"))
                        }
                    }
                }
                _ => {}
            }
        }
    }
    println!("spec testsuite: {t:?}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(t.files > 100, "too few files parsed: {t:?}");
    assert!(
        t.invalid_rejected > 500 && t.malformed_rejected > 100 && t.valid_passed > 500,
        "{t:?}"
    );
}
