//! Cranelift compile time of a module at each validation cap, beside a minimal module, in one
//! run. Prints a table; `docs/validation.md` reports the figures. Run with
//! `cargo xtask bench compile_caps` (it takes minutes: the worst case is meant to be slow).
//!
//! Each module is checked against the default caps first (it must pass static analysis), then
//! compiled the way the runtime will: Cranelift, sandframe's feature set, a fresh `Metering`
//! middleware per module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::sync::Arc;
use std::time::{Duration, Instant};

use sandframe_bench::{Shape, Style, abi_module};
use sandframe_validate::{self as validate, Validator};
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder, Features};
use wasmer::{Engine, Module};
use wasmer_middlewares::Metering;

fn features() -> Features {
    let mut f = Features::none();
    f.reference_types = true;
    f.bulk_memory = true;
    f.multi_value = true;
    f
}

fn engine() -> Engine {
    let mut compiler = Cranelift::default();
    compiler.push_middleware(Arc::new(Metering::new(
        u64::MAX,
        |_: &wasmer::wasmparser::Operator<'_>| 1,
    )));
    EngineBuilder::new(compiler)
        .set_features(Some(features()))
        .engine()
        .into()
}

/// The codes of the error findings verification reports for `wasm` (empty: it passes).
fn verdict(wasm: &[u8]) -> Vec<String> {
    let bytes = sandframe_testkit::sign(
        &sandframe_testkit::manifest("com.example.caps", ""),
        wasm.to_vec(),
    );
    match sandframe_testkit::verify(&Validator::new(), &bytes) {
        Ok(_) => Vec::new(),
        Err(validate::ValidateError::Rejected(r)) => r
            .findings()
            .iter()
            .filter(|f| f.severity == validate::Severity::Error)
            .map(|f| f.code.clone())
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

fn compile(wasm: &[u8], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let engine = engine(); // a fresh Metering per module
            let t = Instant::now();
            Module::new(&engine, wasm).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probe
    }
    let body = validate::DEFAULT_FUNCTION_BODY_BYTES as usize - 64;
    let code_functions =
        (validate::DEFAULT_CODE_BYTES / validate::DEFAULT_FUNCTION_BODY_BYTES) as u32 - 1;
    let locals = validate::DEFAULT_LOCALS_PER_FUNCTION as u32 - 2;
    let points = validate::DEFAULT_BRANCH_POINTS_PER_FUNCTION as usize;
    let at_points_loops = Shape {
        functions: 1,
        body_bytes: points / 3 * 3,
        style: Style::Loops,
        ..Shape::default()
    };
    let at_points_blocks = Shape {
        functions: 1,
        body_bytes: points * 3,
        style: Style::NestedBlocks,
        ..Shape::default()
    };
    // (name, shape, runs, expected rejection code or "")
    let cases: Vec<(&str, Shape, usize, &str)> = vec![
        ("minimal module (baseline)", Shape::default(), 5, ""),
        (
            "one function at the body cap (64 KiB)",
            Shape {
                functions: 1,
                body_bytes: body,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "one function at the body cap, deep operand stack",
            Shape {
                functions: 1,
                body_bytes: body,
                style: Style::DeepStack,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "one function at the body cap, br_table",
            Shape {
                functions: 1,
                body_bytes: body,
                style: Style::BrTable,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "function count at the cap (20,000)",
            Shape {
                functions: validate::DEFAULT_FUNCTIONS - 2,
                body_bytes: 3,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "locals at the cap (2,000) in one function",
            Shape {
                functions: 1,
                body_bytes: 1024,
                locals,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "table (10,000) and data (4 MiB) at their caps",
            Shape {
                table_elements: validate::DEFAULT_TABLE_ELEMENTS,
                data_bytes: validate::DEFAULT_DATA_BYTES as usize - 1024,
                memory_max: validate::DEFAULT_MEMORY_PAGES,
                ..Shape::default()
            },
            3,
            "",
        ),
        (
            "branch points at the cap (5,000): nested blocks",
            at_points_blocks,
            3,
            "",
        ),
        (
            "branch points at the cap (5,000): loops",
            at_points_loops,
            3,
            "",
        ),
        (
            "compile-cost cap (6e7): two functions of 5,000 points, nested blocks",
            Shape {
                functions: 2,
                ..at_points_blocks
            },
            1,
            "",
        ),
        (
            "code section at the cap (4 MiB) in bodies at the body cap",
            Shape {
                functions: code_functions,
                body_bytes: body,
                ..Shape::default()
            },
            1,
            "",
        ),
        (
            "code section at the cap, bodies at the cap, br_table",
            Shape {
                functions: code_functions,
                body_bytes: body,
                style: Style::BrTable,
                ..Shape::default()
            },
            1,
            "",
        ),
        (
            "REFUSED: one function of 21,800 nested blocks (8.8 s metered)",
            Shape {
                functions: 1,
                body_bytes: body,
                style: Style::NestedBlocks,
                ..Shape::default()
            },
            0,
            validate::codes::TOO_MANY_BRANCHES,
        ),
        (
            "REFUSED: three functions of 5,000 points (over the cost cap)",
            Shape {
                functions: 3,
                ..at_points_loops
            },
            0,
            validate::codes::COMPILE_COST,
        ),
    ];
    println!(
        "Cranelift compile (metered, sandframe features), median of runs; machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<75} {:>10} {:>12} {:>6}",
        "module", "wasm bytes", "compile", "× base"
    );
    let mut base = None;
    for (name, shape, runs, refused) in cases {
        let wasm = abi_module(shape);
        let codes = verdict(&wasm);
        if refused.is_empty() {
            assert!(codes.is_empty(), "{name}: refused by validation: {codes:?}");
        } else {
            assert!(
                codes.iter().any(|c| c == refused),
                "{name}: expected {refused}, got {codes:?}"
            );
            println!("{name:<75} {:>10} {:>12}", wasm.len(), refused);
            continue;
        }
        let t = compile(&wasm, runs);
        let b = *base.get_or_insert(t);
        println!(
            "{name:<75} {:>10} {:>10.1}ms {:>6.0}",
            wasm.len(),
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / b.as_secs_f64()
        );
    }
    if let Some(path) = std::env::args().skip(1).find(|a| a.ends_with(".wasm")) {
        let wasm = std::fs::read(&path).unwrap();
        let t = compile(&wasm, 3);
        println!(
            "{:<75} {:>10} {:>10.1}ms (validation: {:?})",
            path,
            wasm.len(),
            t.as_secs_f64() * 1e3,
            verdict(&wasm)
        );
    }
}
