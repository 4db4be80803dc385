//! Static analysis, rule by rule: hand-written modules for each rule and each boundary
//! (exactly at the cap passes, one over fails).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use common::*;
use sandframe_validate::{Caps, Validator, codes};

fn rejected_with(wat: &str, code: &str) {
    let (ok, report) = report_of(&package(wat));
    assert!(!ok, "accepted, expected {code}:\n{wat}\n{report}");
    assert!(report.has(code), "expected {code}, got:\n{report}");
}

fn accepted(wat: &str) {
    let (ok, report) = report_of(&package(wat));
    assert!(ok, "rejected:\n{wat}\n{report}");
}

#[test]
fn the_minimal_module_passes() {
    accepted(&good_module());
}

#[test]
fn foreign_imports_are_rejected() {
    let cases = [
        (
            r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
            codes::FOREIGN_IMPORT,
        ),
        (r#"(import "env" "abort" (func))"#, codes::FOREIGN_IMPORT),
        (
            r#"(import "sandframe_v2" "call" (func (param i32 i32 i32 i32) (result i64)))"#,
            codes::FOREIGN_IMPORT,
        ),
        (
            r#"(import "sandframe_v1" "exec" (func))"#,
            codes::UNKNOWN_ABI_FUNCTION,
        ),
        (
            r#"(import "sandframe_v1" "table" (table 1 1 funcref))"#,
            codes::IMPORTED_ENTITY,
        ),
        (
            r#"(import "sandframe_v1" "g" (global i32))"#,
            codes::IMPORTED_ENTITY,
        ),
    ];
    for (import, code) in cases {
        rejected_with(
            &module(&format!("{import}\n(memory (export \"memory\") 1 1)")),
            code,
        );
    }
    // An imported memory (and no memory of its own).
    rejected_with(
        &module(r#"(import "sandframe_v1" "memory" (memory 1 1)) (export "memory" (memory 0))"#),
        codes::IMPORTED_ENTITY,
    );
}

#[test]
fn an_abi_signature_off_by_one_type_is_rejected() {
    for sig in [
        "(param i32 i32 i32 i32) (result i32)",
        "(param i32 i32 i32 i64) (result i64)",
        "(param i32 i32 i32) (result i64)",
        "(param i32 i32 i32 i32 i32) (result i64)",
        "(param i32 i32 i32 i32)",
    ] {
        let wat = format!(
            r#"(module
  (import "sandframe_v1" "call" (func {sig}))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#
        );
        rejected_with(&wat, codes::WRONG_ABI_SIGNATURE);
    }
    let read = r#"(module
  (import "sandframe_v1" "read" (func (param i32 i64) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;
    rejected_with(read, codes::WRONG_ABI_SIGNATURE);
}

#[test]
fn required_exports_are_enforced() {
    let base = r#"(module (memory $m 1 1) {mem} {init} {event})"#;
    let mem = r#"(export "memory" (memory $m))"#;
    let init = r#"(func (export "sf_init") (result i32) i32.const 0)"#;
    let event = r#"(func (export "sf_event") (param i32) (result i32) i32.const 0)"#;
    let build = |m: &str, i: &str, e: &str| {
        base.replace("{mem}", m)
            .replace("{init}", i)
            .replace("{event}", e)
    };
    accepted(&build(mem, init, event));
    rejected_with(&build("", init, event), codes::MISSING_EXPORT);
    rejected_with(&build(mem, "", event), codes::MISSING_EXPORT);
    rejected_with(&build(mem, init, ""), codes::MISSING_EXPORT);
    rejected_with(
        &build(
            mem,
            r#"(func (export "sf_init") (result i64) i64.const 0)"#,
            event,
        ),
        codes::WRONG_EXPORT,
    );
    rejected_with(
        &build(
            mem,
            init,
            r#"(func (export "sf_event") (param i64) (result i32) i32.const 0)"#,
        ),
        codes::WRONG_EXPORT,
    );
    rejected_with(
        &build(
            r#"(global (export "memory") i32 (i32.const 0))"#,
            init,
            event,
        ),
        codes::WRONG_EXPORT,
    );
    rejected_with(
        &build(
            mem,
            r#"(global (export "sf_init") i32 (i32.const 0))"#,
            event,
        ),
        codes::WRONG_EXPORT,
    );
}

#[test]
fn memory_needs_a_maximum_within_the_caps() {
    rejected_with(
        &module(r#"(memory (export "memory") 1)"#),
        codes::MEMORY_NO_MAXIMUM,
    );
    // Exactly at the host cap passes; one page over fails.
    let cap = sandframe_validate::DEFAULT_MEMORY_PAGES;
    accepted(&module(&format!(r#"(memory (export "memory") 1 {cap})"#)));
    rejected_with(
        &module(&format!(r#"(memory (export "memory") 1 {})"#, cap + 1)),
        codes::MEMORY_TOO_LARGE,
    );
    rejected_with(
        &module(r#"(memory (export "memory") 1 65536)"#),
        codes::MEMORY_TOO_LARGE,
    );
    // Shared memory needs threads, which are off.
    rejected_with(
        &module(r#"(memory (export "memory") 1 1 shared)"#),
        codes::INVALID,
    );
    // memory64 and multi-memory are off.
    rejected_with(
        &module(r#"(memory (export "memory") i64 1 1)"#),
        codes::INVALID,
    );
    rejected_with(
        &module(r#"(memory (export "memory") 1 1) (memory 1 1)"#),
        codes::INVALID,
    );
}

#[test]
fn the_manifest_limit_lowers_the_memory_cap() {
    let wasm = wat::parse_str(module(r#"(memory (export "memory") 1 8)"#)).unwrap();
    let at = package_with(
        &manifest("1.0.0", "[limits]\nmemory_pages = 8\n"),
        wasm.clone(),
        &key(1),
    );
    assert!(report_of(&at).0);
    let over = package_with(
        &manifest("1.0.0", "[limits]\nmemory_pages = 7\n"),
        wasm,
        &key(1),
    );
    let (ok, report) = report_of(&over);
    assert!(!ok && report.has(codes::MEMORY_TOO_LARGE));
    assert!(report.to_string().contains("manifest"), "{report}");
}

#[test]
fn tables_are_capped() {
    let cap = sandframe_validate::DEFAULT_TABLE_ELEMENTS;
    accepted(&module(&format!(
        r#"(memory (export "memory") 1 1) (table {cap} {cap} funcref)"#
    )));
    rejected_with(
        &module(&format!(
            r#"(memory (export "memory") 1 1) (table 1 {} funcref)"#,
            cap + 1
        )),
        codes::TABLE_TOO_LARGE,
    );
    rejected_with(
        &module(r#"(memory (export "memory") 1 1) (table 1 funcref)"#),
        codes::TABLE_TOO_LARGE,
    );
    rejected_with(
        &module(r#"(memory (export "memory") 1 1) (table 10000000 funcref)"#),
        codes::TABLE_TOO_LARGE,
    );
    rejected_with(
        &module(
            r#"(memory (export "memory") 1 1) (table 1 1 funcref) (table 1 1 funcref) (table 1 1 funcref)"#,
        ),
        codes::TOO_MANY_TABLES,
    );
}

#[test]
fn a_start_function_is_rejected_even_one_that_loops() {
    rejected_with(
        &module(r#"(memory (export "memory") 1 1) (func $s (loop $l (br $l))) (start $s)"#),
        codes::START_SECTION,
    );
}

/// Caps small enough to test at the boundary with small modules.
fn small_caps() -> Caps {
    Caps {
        functions: 4,
        function_body_bytes: 64,
        locals_per_function: 10,
        code_bytes: 200,
        globals: 2,
        exports: 4,
        data_bytes: 16,
        custom_bytes: 32,
        ..Caps::default()
    }
}

fn with_small_caps(wat: &str) -> (bool, sandframe_validate::Report) {
    verdict(&Validator::new().with_caps(small_caps()), &package(wat))
}

#[test]
fn size_caps_hold_at_the_boundary() {
    let mem = r#"(memory (export "memory") 1 1)"#;
    // functions: sf_init + sf_event + N more (cap 4)
    let funcs = |n: usize| "(func)".repeat(n);
    assert!(with_small_caps(&module(&format!("{mem} {}", funcs(2)))).0);
    let (ok, r) = with_small_caps(&module(&format!("{mem} {}", funcs(3))));
    assert!(!ok && r.has(codes::TOO_MANY_FUNCTIONS), "{r}");
    // locals (cap 10)
    assert!(
        with_small_caps(&module(&format!(
            "{mem} (func (local i32 i32 i32 i32 i32 i32 i32 i32 i32 i32))"
        )))
        .0
    );
    let (ok, r) = with_small_caps(&module(&format!(
        "{mem} (func (local i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32))"
    )));
    assert!(!ok && r.has(codes::TOO_MANY_LOCALS), "{r}");
    // globals (cap 2)
    let globals = |n: usize| "(global i32 (i32.const 0))".repeat(n);
    assert!(with_small_caps(&module(&format!("{mem} {}", globals(2)))).0);
    let (ok, r) = with_small_caps(&module(&format!("{mem} {}", globals(3))));
    assert!(!ok && r.has(codes::TOO_MANY_GLOBALS), "{r}");
    // data (cap 16 bytes)
    assert!(
        with_small_caps(&module(&format!(
            r#"{mem} (data (i32.const 0) "0123456789abcdef")"#
        )))
        .0
    );
    let (ok, r) = with_small_caps(&module(&format!(
        r#"{mem} (data (i32.const 0) "0123456789abcdefX")"#
    )));
    assert!(!ok && r.has(codes::DATA_TOO_LARGE), "{r}");
    // exports (cap 4: memory, sf_init, sf_event + 1)
    assert!(
        with_small_caps(&module(&format!(
            r#"{mem} (global (export "g") i32 (i32.const 0))"#
        )))
        .0
    );
    let (ok, r) = with_small_caps(&module(&format!(
        r#"{mem} (global (export "g") i32 (i32.const 0)) (global (export "h") i32 (i32.const 0))"#
    )));
    assert!(!ok && r.has(codes::TOO_MANY_EXPORTS), "{r}");
}

#[test]
fn body_and_code_size_caps_hold_at_the_boundary() {
    let mem = r#"(memory (export "memory") 1 1)"#;
    // A body of `n` nops: 1 byte locals count + n + 1 end, plus the size prefix outside.
    let body = |n: usize| format!("(func {})", "nop ".repeat(n));
    // function_body_bytes = 64 counts the body without its size prefix: 1 + n + 1.
    assert!(with_small_caps(&module(&format!("{mem} {}", body(62)))).0);
    let (ok, r) = with_small_caps(&module(&format!("{mem} {}", body(63))));
    assert!(!ok && r.has(codes::BODY_TOO_LARGE), "{r}");
    assert!(
        r.findings().iter().any(|f| f.location.function == Some(2)),
        "function index: {r}"
    );
    // The code section cap: exactly the module's code size passes, one byte less fails.
    let wat = module(&format!("{mem} {} {}", body(62), body(62)));
    let wasm = wat::parse_str(&wat).unwrap();
    let size = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .find_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionStart { size, .. } => Some(u64::from(size)),
            _ => None,
        })
        .unwrap();
    let at = Validator::new().with_caps(Caps {
        code_bytes: size,
        ..small_caps()
    });
    assert!(verify_with(&at, &package(&wat)).is_ok());
    let under = Validator::new().with_caps(Caps {
        code_bytes: size - 1,
        ..small_caps()
    });
    let (ok, r) = verdict(&under, &package(&wat));
    assert!(
        !ok,
        "{size} bytes of code accepted under a {}-byte cap",
        size - 1
    );
    assert!(r.has(codes::CODE_TOO_LARGE), "{r}");
}

#[test]
fn custom_sections_are_capped() {
    let mut wasm = wat::parse_str(good_module()).unwrap();
    // custom section: id 0, size, name "x", 30 bytes: 1 + 30 + 1 = 32 = cap
    let custom = |payload: usize| {
        let mut s = vec![0u8, (2 + payload) as u8, 1, b'x'];
        s.extend(std::iter::repeat_n(b'.', payload));
        s
    };
    let mut at_cap = wasm.clone();
    at_cap.extend(custom(31));
    let validator = Validator::new().with_caps(small_caps());
    assert!(
        verify_with(
            &validator,
            &package_with(&manifest("1.0.0", ""), at_cap, &key(1))
        )
        .is_ok()
    );
    wasm.extend(custom(32));
    let (ok, r) = verdict(
        &validator,
        &package_with(&manifest("1.0.0", ""), wasm, &key(1)),
    );
    assert!(!ok, "accepted");
    assert!(r.has(codes::CUSTOM_TOO_LARGE), "{r}");
}

#[test]
fn huge_data_segments_are_rejected_by_default_caps() {
    let big = "x".repeat((sandframe_validate::DEFAULT_DATA_BYTES + 1) as usize);
    rejected_with(
        &module(&format!(
            r#"(memory (export "memory") 256 256) (data (i32.const 0) "{big}")"#
        )),
        codes::DATA_TOO_LARGE,
    );
}

#[test]
fn invalid_modules_get_the_validity_code() {
    for wat in [
        "(module (func (result i32) i64.const 0))",
        "(module (func (result i32) (v128.const i64x2 0 0) drop i32.const 0))",
        "(module (func (return_call 0)))",
        "(module (tag $e) (func (throw $e)))",
    ] {
        let wasm = wat::parse_str(wat).unwrap();
        let f = sandframe_validate::validity(&wasm).expect("invalid");
        assert_eq!(f.code, codes::INVALID, "{wat}");
    }
    for bytes in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\x01",
        b"\0asm\x0d\0\x01\0",
        b"PK\x03\x04",
    ] {
        assert!(sandframe_validate::validity(bytes).is_some(), "{bytes:?}");
    }
}

#[test]
fn findings_carry_locations_and_serialize_to_json() {
    let (_, report) = report_of(&package(&module(
        r#"(import "env" "x" (func)) (memory (export "memory") 1)"#,
    )));
    let json = report.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.len() >= 2, "{json}");
    assert!(
        findings
            .iter()
            .all(|f| f["code"].as_str().unwrap().starts_with("SF-V"))
    );
    assert!(
        findings
            .iter()
            .any(|f| f["location"]["section"] == "import")
    );
    assert!(
        findings
            .iter()
            .all(|f| f["severity"] == "error" || f["severity"] == "info")
    );
}

#[test]
fn branch_points_and_compile_cost_are_capped() {
    let mem = r#"(memory (export "memory") 1 1)"#;
    // loops count 3, blocks 1: (loop end) x 2 + (block end) x 4 = 10 points.
    let f = "(func (loop) (loop) (block) (block) (block) (block))";
    let caps = Caps {
        branch_points_per_function: 10,
        compile_cost: 1_000,
        ..Caps::default()
    };
    let v = Validator::new().with_caps(caps.clone());
    assert!(verify_with(&v, &package(&module(&format!("{mem} {f}")))).is_ok());
    let over = "(func (loop) (loop) (block) (block) (block) (block) (block))";
    let (ok, r) = verdict(&v, &package(&module(&format!("{mem} {over}"))));
    assert!(!ok, "11 points accepted under a cap of 10");
    assert!(r.has(codes::TOO_MANY_BRANCHES), "{r}");
    // Ten such functions: 10 x 10^2 = 1,000 = the cost cap; eleven are over it.
    assert!(verify_with(&v, &package(&module(&format!("{mem} {}", f.repeat(10))))).is_ok());
    let (ok, r) = verdict(&v, &package(&module(&format!("{mem} {}", f.repeat(11)))));
    assert!(!ok, "cost 1,100 accepted under a cap of 1,000");
    assert!(r.has(codes::COMPILE_COST), "{r}");
}
