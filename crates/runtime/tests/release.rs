//! A terminated app's store and memory are gone: dropping its `AppInstance` unmaps its linear
//! memory. (Its own test binary, so no other test moves the process's address space.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::sync::Arc;

use sandframe_core::Gateway;
use sandframe_gateway::MinimalGateway;
use sandframe_runtime::{MemoryArtifacts, Runtime, RuntimeConfig};

/// The process's virtual size, in bytes (Linux).
fn vm_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn dropping_an_instance_releases_its_memory() {
    let Some(_) = vm_size() else {
        eprintln!("SKIPPED: no /proc/self/status on this platform");
        return;
    };
    let wat = r#"(module
  (import "sandframe_v1" "call" (func (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 256 256)
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) i32.const 0))"#;
    let pkg = sandframe_testkit::verified("com.example.big", wat);
    let rt = Runtime::new(
        RuntimeConfig::default(),
        [7; 32],
        Arc::new(MemoryArtifacts::default()),
    );
    let prepared = rt.prepare(&pkg).unwrap();

    // Warm up once so allocator and engine growth do not count.
    drop(
        rt.launch(
            &prepared,
            MinimalGateway
                .open(prepared.context(), sandframe_core::EventSender::none())
                .unwrap(),
        )
        .unwrap(),
    );

    let before = vm_size().unwrap();
    let apps: Vec<_> = (0..8)
        .map(|_| {
            rt.launch(
                &prepared,
                MinimalGateway
                    .open(prepared.context(), sandframe_core::EventSender::none())
                    .unwrap(),
            )
            .unwrap()
            .0
        })
        .collect();
    let during = vm_size().unwrap();
    let sixteen_mib = 16 << 20;
    assert!(
        during >= before + 8 * sixteen_mib,
        "8 apps of 16 MiB each: {before} -> {during}"
    );
    drop(apps);
    let after = vm_size().unwrap();
    assert!(
        after < before + sixteen_mib,
        "memory not released: {before} -> {during} -> {after}"
    );
}
