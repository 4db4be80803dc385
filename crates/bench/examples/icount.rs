//! A fixed amount of host work, for instruction counts under callgrind (wall-clock medians on
//! the 2-core machines swing by ±40%, instruction counts by well under 1%):
//!
//! ```sh
//! cargo build --release -p sandframe-bench --example icount
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/icount launch 20
//! ```
//!
//! - `launch N [APPS]`: N warm launches, each a fresh `Host` over a home where the hello
//!   example is installed and its artifact cached (beside `APPS - 1` more install records,
//!   default none), then `launch` (receipt, artifact, instantiate, `sf_init`).
//! - `call N`: N events through `Host::dispatch`, each making 100 mediated `clock.now` calls.
//!
//! The difference between two counts (say N = 20 and N = 10) divided by the difference in N
//! is the cost of one launch or one event, with the setup taken out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

#[path = "../benches/common/mod.rs"]
mod common;
use sandframe_core::AppId;
use sandframe_host::Host;

const CALLS_PER_EVENT: u32 = 100;

fn host(dir: &std::path::Path) -> Host {
    common::host_in(dir.join("home"))
        .threads(1)
        .build()
        .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let n: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let apps: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let id: AppId = "com.example.icount".parse().unwrap();
    let wat = match what.as_str() {
        "launch" => std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/hello/logic.wat"
        ))
        .unwrap(),
        "call" => format!(
            r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "clock.now")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32) (local $i i32)
    (loop $l (drop (call $call (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS_PER_EVENT}))))
    i32.const 0))"#
        ),
        _ => panic!("usage: icount launch N [APPS] | call N"),
    };
    {
        let h = host(dir.path());
        let manifest = sandframe_testkit::manifest(id.as_str(), "");
        h.install(&sandframe_testkit::sign(
            &manifest,
            wat::parse_str(&wat).unwrap(),
        ))
        .unwrap();
        h.launch(&id).unwrap(); // compiles and caches the artifact
    }
    common::seed_records(dir.path(), &id, apps);
    match what.as_str() {
        "launch" => {
            for _ in 0..n {
                let h = host(dir.path());
                h.launch(&id).unwrap();
            }
        }
        _ => {
            let h = host(dir.path());
            h.launch(&id).unwrap();
            for _ in 0..n {
                assert_eq!(h.dispatch(&id, b"{}").unwrap(), 0);
            }
        }
    }
}
