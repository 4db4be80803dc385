//! Runaway mini-apps: each `sf_event` loops forever on one kind of work at its maximum size,
//! for the tests and the bench that check fuel bounds every event (invariant 11).
//!
//! Every module is ABI v1, declares the default memory cap (256 pages, 16 MiB) or starts
//! small and grows, and exports what the runtime needs. None makes a host call unless its
//! case is about host calls.

/// The most pages a memory may reach under the default caps (16 MiB).
pub const MEMORY_PAGES: u32 = 256;
/// The most elements a table may hold under the default caps.
pub const TABLE_ELEMENTS: u32 = 10_000;
/// The largest passive data segment the runaway `memory.init` case uses: 4 MiB less the room
/// the validator's data cap keeps for nothing else (the module has no other data).
pub const INIT_BYTES: u32 = 4 << 20;

/// One runaway case.
#[derive(Clone, Debug)]
pub struct Runaway {
    /// What it loops on (also its app id's last label).
    pub name: &'static str,
    /// The module, as WAT.
    pub wat: String,
}

impl Runaway {
    /// An app id for this case, `com.example.runaway.<name>` with dots for separators.
    pub fn id(&self) -> String {
        format!(
            "com.example.runaway.{}",
            self.name.replace(['.', '_', ' '], "-")
        )
    }
}

/// A module with `memory`, a 10,000-element funcref table when `table` is set, `extra` fields,
/// an `sf_init` running `init`, and an `sf_event` running `body` in a loop forever.
fn module(memory: &str, table: bool, extra: &str, init: &str, body: &str) -> String {
    let table = if table {
        format!("(table $t {TABLE_ELEMENTS} {TABLE_ELEMENTS} funcref)")
    } else {
        String::new()
    };
    format!(
        r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") {memory})
  {table}
  (type $unit (func (result i32)))
  (func $f (result i32) i32.const 1)
  (elem declare func $f)
  {extra}
  (func (export "sf_init") (result i32) (local $i i32) (local $x i32) {init} i32.const 0)
  (func (export "sf_event") (param $len i32) (result i32) (local $i i32) (local $x i32)
    (loop $l {body} (br $l))
    i32.const 0))"#
    )
}

/// A host-call runaway for a real host: `storage.set` of one small value, forever (each call
/// an fsync or more of host time). Needs [`STORAGE_CAPABILITY`] in its manifest.
pub const STORAGE_FLOOD: &str = r#"(module
  (import "sandframe_v1" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "sandframe_v1" "read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "storage.set")
  (data (i32.const 32) "{\"key\":\"k\",\"value\":1}")
  (func (export "sf_init") (result i32) i32.const 0)
  (func (export "sf_event") (param i32) (result i32)
    (loop $l
      (drop (call $call (i32.const 0) (i32.const 11) (i32.const 32) (i32.const 21)))
      (br $l))
    i32.const 0))"#;

/// The manifest lines [`STORAGE_FLOOD`] needs.
pub const STORAGE_CAPABILITY: &str =
    "[[capabilities]]\nname = \"storage:local\"\nreason = \"Flood\"\n";

/// The next value of a 32-bit linear congruential generator kept in `$x`.
const LCG: &str =
    "(local.tee $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))";

/// Every runaway case, the plain loop first (the baseline the others are measured against).
pub fn runaways() -> Vec<Runaway> {
    let full = format!("{MEMORY_PAGES} {MEMORY_PAGES}");
    let bytes = MEMORY_PAGES * 65536;
    // A chain through 65,536 nodes 256 bytes apart (every page of the memory, 4 MiB of cache
    // lines, past the L2) in a scrambled order (an LCG modulo the node count is a
    // full-period permutation), so each load waits for the one before it and misses the
    // cache: built in sf_init, which the launch's charge for the 16 MiB memory leaves room for.
    let nodes = bytes / 256;
    let chain = format!(
        "(loop $c
           (i32.store (i32.shl (local.get $i) (i32.const 8))
             (i32.shl (i32.and (i32.add (i32.mul (local.get $i) (i32.const 1664525))
                (i32.const 1013904223)) (i32.const {mask})) (i32.const 8)))
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $c (i32.lt_u (local.get $i) (i32.const {nodes}))))",
        mask = nodes - 1
    );
    let functions: String = (0..TABLE_ELEMENTS)
        .map(|n| format!("(func $g{n} (result i32) i32.const {n})\n"))
        .collect();
    let names: String = (0..TABLE_ELEMENTS).map(|n| format!(" $g{n}")).collect();
    let elems: String = (0..TABLE_ELEMENTS).map(|_| " $f").collect();
    let cases = [
        ("loop", module("1 1", false, "", "", "")),
        (
            "memory.fill",
            module(
                &full,
                false,
                "",
                "",
                &format!("(memory.fill (i32.const 0) (i32.const 7) (i32.const {bytes}))"),
            ),
        ),
        (
            "memory.copy",
            module(
                &full,
                false,
                "",
                "",
                &format!(
                    "(memory.copy (i32.const 0) (i32.const 1) (i32.const {}))",
                    bytes - 1
                ),
            ),
        ),
        (
            "memory.init",
            module(
                &full,
                false,
                &format!("(data $d \"{}\")", "a".repeat(INIT_BYTES as usize)),
                "",
                &format!("(memory.init $d (i32.const 0) (i32.const 0) (i32.const {INIT_BYTES}))"),
            ),
        ),
        (
            "memory.grow",
            module(
                &format!("1 {MEMORY_PAGES}"),
                false,
                "",
                "",
                "(drop (memory.grow (i32.const 1)))",
            ),
        ),
        (
            "table.fill",
            module(
                "1 1",
                true,
                "",
                "",
                &format!(
                    "(table.fill $t (i32.const 0) (ref.func $f) (i32.const {TABLE_ELEMENTS}))"
                ),
            ),
        ),
        (
            "table.copy",
            module(
                "1 1",
                true,
                "",
                "",
                &format!(
                    "(table.copy $t $t (i32.const 0) (i32.const 1) (i32.const {}))",
                    TABLE_ELEMENTS - 1
                ),
            ),
        ),
        (
            "table.init",
            module(
                "1 1",
                true,
                &format!("(elem $e func{elems})"),
                "",
                &format!(
                    "(table.init $t $e (i32.const 0) (i32.const 0) (i32.const {TABLE_ELEMENTS}))"
                ),
            ),
        ),
        (
            "table.grow",
            module(
                "1 1",
                false,
                &format!("(table $t 0 {TABLE_ELEMENTS} funcref)"),
                "",
                &format!("(drop (table.grow $t (ref.null func) (i32.const {TABLE_ELEMENTS})))"),
            ),
        ),
        (
            "random loads",
            module(
                &full,
                false,
                "",
                "",
                &format!(
                    "(drop (i32.load (i32.and {LCG} (i32.const {}))))",
                    bytes - 4
                ),
            ),
        ),
        (
            "dependent loads",
            module(
                &full,
                false,
                "",
                &chain,
                "(local.set $x (i32.load (local.get $x)))",
            ),
        ),
        (
            "call_indirect",
            module(
                "1 1",
                true,
                &format!("{functions}(elem (table $t) (i32.const 0) func{names})"),
                "",
                &format!(
                    "(drop (call_indirect $t (type $unit) (i32.rem_u {LCG} (i32.const {TABLE_ELEMENTS}))))"
                ),
            ),
        ),
        (
            "division",
            module(
                "1 1",
                false,
                "",
                "",
                "(local.set $x (i32.div_u (i32.const -1) (i32.or (local.get $x) (i32.const 3))))",
            ),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, wat)| Runaway { name, wat })
        .collect()
}
