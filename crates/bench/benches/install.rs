//! Install cost: verify + validate a package whose logic module is 1 MiB of generated code,
//! beside its baseline in the same run: wasmparser validation of the same module plus one
//! blake3 pass over the package. docs/targets.md's target: within 1.5× of the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: failing loudly is the point

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sandframe_bench::{Shape, abi_module};
use sandframe_validate::{Context, Installed, Validator};

fn one_mib_package() -> (Vec<u8>, Vec<u8>) {
    // 64 functions of 16 KiB: 1 MiB of code, well within every cap.
    let wasm = abi_module(Shape {
        functions: 64,
        body_bytes: 16 << 10,
        ..Shape::default()
    });
    let bytes = sandframe_testkit::sign(
        &sandframe_testkit::manifest("com.example.big", ""),
        wasm.clone(),
    );
    (bytes, wasm)
}

fn install(c: &mut Criterion) {
    let (package, wasm) = one_mib_package();
    let trust = sandframe_testkit::trust();
    let installed: BTreeMap<_, Installed> = BTreeMap::new();
    let validator = Validator::new();
    validator
        .verify(&package, &Context::new(&trust, &installed))
        .unwrap();
    let mut g = c.benchmark_group("install_1mib");
    g.sample_size(20);
    g.bench_function("baseline: wasmparser validate + blake3 pass", |b| {
        b.iter(|| {
            let mut v = wasmparser::Validator::new_with_features(sandframe_validate::FEATURES);
            v.validate_all(black_box(&wasm)).unwrap();
            black_box(blake3::hash(black_box(&package)));
        })
    });
    g.bench_function("sandframe: verify + validate", |b| {
        b.iter(|| {
            validator
                .verify(black_box(&package), &Context::new(&trust, &installed))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, install);
criterion_main!(benches);
