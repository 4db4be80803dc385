//! The validator's caps and the wasm features it accepts: the bounds that keep compile time and
//! memory in check.

use std::collections::BTreeSet;

use sandframe_core::Capability;
use wasmparser::WasmFeatures;

/// The one WebAssembly feature set sandframe accepts, for validation here and for the engine
/// in `sandframe-runtime` (which maps it onto wasmer's `Features`).
///
/// WebAssembly 2.0 without SIMD: mutable globals, non-trapping float-to-int, sign extension,
/// multi-value, bulk memory (with `memory.copy`/`fill`), reference types (with the overlong
/// `call_indirect` encoding LLVM emits), floats. That is exactly what rustc 1.95 emits for
/// `wasm32-unknown-unknown` by default.
///
/// Off, on purpose: threads and shared memory (no shared state between instances), multi-memory
/// and memory64 (one 32-bit memory keeps bounds checks simple and the memory cap exact),
/// exceptions, GC, function references, tail calls, extended-const, wide arithmetic, custom page
/// sizes, the component model, and SIMD (not emitted by default; a larger compiler surface for
/// no need a mini-app has shown yet).
pub const FEATURES: WasmFeatures = WasmFeatures::MUTABLE_GLOBAL
    .union(WasmFeatures::SATURATING_FLOAT_TO_INT)
    .union(WasmFeatures::SIGN_EXTENSION)
    .union(WasmFeatures::MULTI_VALUE)
    .union(WasmFeatures::BULK_MEMORY)
    .union(WasmFeatures::REFERENCE_TYPES)
    .union(WasmFeatures::FLOATS)
    .union(WasmFeatures::GC_TYPES);

/// Hard caps on a logic module. A host may lower them; a manifest's `[limits]` may lower the
/// memory cap further. The defaults also bound Cranelift's compile time at install (figures in
/// `docs/validation.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Most 64 KiB pages a memory may declare as its maximum.
    pub memory_pages: u64,
    /// Most tables a module may define.
    pub tables: u32,
    /// Most elements a table may declare as its maximum.
    pub table_elements: u64,
    /// Most functions a module may define.
    pub functions: u32,
    /// Largest function body, in bytes (compile time grows faster than linearly with it).
    pub function_body_bytes: u64,
    /// Most locals one function may declare.
    pub locals_per_function: u64,
    /// Largest code section, in bytes.
    pub code_bytes: u64,
    /// Most globals a module may define.
    pub globals: u32,
    /// Most exports.
    pub exports: u32,
    /// Most bytes of data segments, all together.
    pub data_bytes: u64,
    /// Most bytes of custom sections, all together.
    pub custom_bytes: u64,
    /// Largest view template, in bytes.
    pub view_bytes: u64,
    /// Most branch points one function may have (block, if, else, br, br_if, br_table,
    /// return, call, call_indirect count 1; loop counts 3). Metered compile time grows with
    /// their square.
    pub branch_points_per_function: u64,
    /// Largest sum, over functions, of branch points squared: the module's metered-compile
    /// cost estimate.
    pub compile_cost: u64,
}

/// Default [`Caps::memory_pages`]: 256 pages = 16 MiB.
pub const DEFAULT_MEMORY_PAGES: u64 = 256;
/// Default [`Caps::tables`].
pub const DEFAULT_TABLES: u32 = 2;
/// Default [`Caps::table_elements`].
pub const DEFAULT_TABLE_ELEMENTS: u64 = 10_000;
/// Default [`Caps::functions`].
pub const DEFAULT_FUNCTIONS: u32 = 20_000;
/// Default [`Caps::function_body_bytes`]: 64 KiB.
pub const DEFAULT_FUNCTION_BODY_BYTES: u64 = 64 << 10;
/// Default [`Caps::locals_per_function`].
pub const DEFAULT_LOCALS_PER_FUNCTION: u64 = 2_000;
/// Default [`Caps::code_bytes`]: 4 MiB.
pub const DEFAULT_CODE_BYTES: u64 = 4 << 20;
/// Default [`Caps::globals`].
pub const DEFAULT_GLOBALS: u32 = 1_000;
/// Default [`Caps::exports`].
pub const DEFAULT_EXPORTS: u32 = 1_000;
/// Default [`Caps::data_bytes`]: 4 MiB.
pub const DEFAULT_DATA_BYTES: u64 = 4 << 20;
/// Default [`Caps::custom_bytes`]: 2 MiB.
pub const DEFAULT_CUSTOM_BYTES: u64 = 2 << 20;
/// Default [`Caps::view_bytes`]: 64 KiB.
pub const DEFAULT_VIEW_BYTES: u64 = 64 << 10;
/// Default [`Caps::branch_points_per_function`].
pub const DEFAULT_BRANCH_POINTS_PER_FUNCTION: u64 = 5_000;
/// Default [`Caps::compile_cost`].
pub const DEFAULT_COMPILE_COST: u64 = 60_000_000;

impl Caps {
    /// Whether every cap of `self` is at most the same cap of `other` (for a host that may
    /// lower caps and must not raise them).
    pub fn within(&self, other: &Caps) -> bool {
        let Caps {
            memory_pages,
            tables,
            table_elements,
            functions,
            function_body_bytes,
            locals_per_function,
            code_bytes,
            globals,
            exports,
            data_bytes,
            custom_bytes,
            view_bytes,
            branch_points_per_function,
            compile_cost,
        } = self;
        *memory_pages <= other.memory_pages
            && *tables <= other.tables
            && *table_elements <= other.table_elements
            && *functions <= other.functions
            && *function_body_bytes <= other.function_body_bytes
            && *locals_per_function <= other.locals_per_function
            && *code_bytes <= other.code_bytes
            && *globals <= other.globals
            && *exports <= other.exports
            && *data_bytes <= other.data_bytes
            && *custom_bytes <= other.custom_bytes
            && *view_bytes <= other.view_bytes
            && *branch_points_per_function <= other.branch_points_per_function
            && *compile_cost <= other.compile_cost
    }
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            memory_pages: DEFAULT_MEMORY_PAGES,
            tables: DEFAULT_TABLES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            functions: DEFAULT_FUNCTIONS,
            function_body_bytes: DEFAULT_FUNCTION_BODY_BYTES,
            locals_per_function: DEFAULT_LOCALS_PER_FUNCTION,
            code_bytes: DEFAULT_CODE_BYTES,
            globals: DEFAULT_GLOBALS,
            exports: DEFAULT_EXPORTS,
            data_bytes: DEFAULT_DATA_BYTES,
            custom_bytes: DEFAULT_CUSTOM_BYTES,
            view_bytes: DEFAULT_VIEW_BYTES,
            branch_points_per_function: DEFAULT_BRANCH_POINTS_PER_FUNCTION,
            compile_cost: DEFAULT_COMPILE_COST,
        }
    }
}

/// The capabilities every sandframe host knows. A host adds its own with
/// [`crate::Validator::with_capability`].
pub const DEFAULT_CAPABILITIES: [&str; 4] = [
    Capability::UI_RENDER,
    Capability::STORAGE_LOCAL,
    "storage:share",
    Capability::USER_READ_PROFILE,
];

pub(crate) fn default_capabilities() -> BTreeSet<Capability> {
    DEFAULT_CAPABILITIES
        .iter()
        .filter_map(|c| Capability::parse(c).ok())
        .collect()
}
