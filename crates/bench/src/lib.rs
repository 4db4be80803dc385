//! # sandframe-bench
//!
//! sandframe's benchmarks, each figure beside a baseline measured in the same run; run them
//! with `cargo xtask bench` (`cargo bench -p sandframe-bench`). This library holds the module
//! generators they share.
//!
//! - `benches/install.rs` (criterion): verify + validate a package whose logic module is 1 MiB
//!   of code, beside wasmparser validation of the same module plus one blake3 pass.
//! - `benches/compile_caps.rs`: Cranelift compile time of a module at each validation cap (the
//!   worst cases `docs/validation.md` reports).
//! - `benches/runtime.rs` (criterion): a mediated `clock.now` beside a raw wasmer typed import;
//!   how long a runaway loop runs before its default fuel stops it.
//! - `benches/launch.rs` (criterion): warm and cold launch through a real host beside raw
//!   wasmer deserialize / compile + instantiate, for the hello example and 256 KiB of code.
//! - `benches/storage.rs` (criterion): durable put and get of 64 B, 4 KiB and 1 MiB beside a
//!   raw write + fsync + rename + directory fsync, a raw read (+ AEAD open), and the AEAD alone.
//! - `benches/render.rs` (criterion): a `ui.setData` round trip through the render thread, for
//!   a small and a 256 KiB patch, beside JSON parsing and the render work alone.
//! - `benches/extism.rs` (criterion, feature `extism`, off by default): cold and warm launch,
//!   event round trip and a mediated call beside Extism 1.30 and raw wasmer.
//! - `benches/monitor.rs` (criterion, then a printed report): the monitor's cost per observed
//!   call, refusal and event end beside a no-op watch; a benign app's event latency (p50, p99)
//!   alone and during a storm of 100 apps spinning until their fuel stops them.
//! - `examples/icount.rs`: a fixed number of warm launches or host calls through a real host,
//!   to count instructions under callgrind when a change must not cost anything (its header
//!   gives the commands).

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ElementSection, Elements, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, MemorySection, MemoryType, Module, RefType,
    TableSection, TableType, TypeSection, ValType,
};

/// What to put in a generated ABI v1 module besides `sf_init` and `sf_event`.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Filler functions to add.
    pub functions: u32,
    /// Approximate size of each filler body, in bytes (a chain of `local.get 0; i32.add`).
    pub body_bytes: usize,
    /// Extra i32 locals each filler declares and uses.
    pub locals: u32,
    /// The memory's declared maximum, in pages.
    pub memory_max: u64,
    /// Bytes of one active data segment at offset 0.
    pub data_bytes: usize,
    /// Elements of a funcref table (0: no table).
    pub table_elements: u64,
    /// How filler bodies compute.
    pub style: Style,
}

/// The shape of a filler body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `local.get 0; (local.get 0; i32.add)*`: one long dependency chain, two live values.
    Chain,
    /// `(local.get 0)*` then `(i32.add)*`: the operand stack grows to about a third of the
    /// body's size, so every value is live at once; the register allocator's worst case.
    DeepStack,
    /// `(block)*` then `(end)*`: control flow nested as deep as the body allows.
    NestedBlocks,
    /// 500 nested blocks and one `br_table` filling the rest of the body with targets.
    BrTable,
    /// `(loop end)*`: as many empty loops as the body allows (each one a metering point).
    Loops,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            functions: 0,
            body_bytes: 0,
            locals: 0,
            memory_max: 1,
            data_bytes: 0,
            table_elements: 0,
            style: Style::Chain,
        }
    }
}

/// A valid ABI v1 module (imports `sandframe_v1.call` and `read`; exports `memory`,
/// `sf_init`, `sf_event`) of the given shape.
pub fn abi_module(shape: Shape) -> Vec<u8> {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // 0: sf_init
    types.ty().function([ValType::I32], [ValType::I32]); // 1: sf_event, fillers
    types.ty().function([ValType::I32; 4], [ValType::I64]); // 2: call
    types.ty().function([ValType::I32; 2], [ValType::I32]); // 3: read
    module.section(&types);

    let mut imports = ImportSection::new();
    imports.import(
        "sandframe_v1",
        "call",
        wasm_encoder::EntityType::Function(2),
    );
    imports.import(
        "sandframe_v1",
        "read",
        wasm_encoder::EntityType::Function(3),
    );
    module.section(&imports);

    let mut functions = FunctionSection::new();
    functions.function(0);
    functions.function(1);
    for _ in 0..shape.functions {
        functions.function(1);
    }
    module.section(&functions);

    if shape.table_elements > 0 {
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: shape.table_elements,
            maximum: Some(shape.table_elements),
            shared: false,
        });
        module.section(&tables);
    }

    let min_pages = (shape.data_bytes as u64).div_ceil(65_536).max(1);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: min_pages.min(shape.memory_max),
        maximum: Some(shape.memory_max),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("sf_init", ExportKind::Func, 2);
    exports.export("sf_event", ExportKind::Func, 3);
    module.section(&exports);

    if shape.table_elements > 0 {
        let mut elements = ElementSection::new();
        let funcs: Vec<u32> = (0..shape.table_elements)
            .map(|i| 2 + (i % 2) as u32)
            .collect();
        elements.active(
            Some(0),
            &ConstExpr::i32_const(0),
            Elements::Functions(funcs.into()),
        );
        module.section(&elements);
    }

    let mut code = CodeSection::new();
    let mut small = Function::new([]);
    small.instructions().i32_const(0).end();
    code.function(&small);
    let mut event = Function::new([]);
    event.instructions().i32_const(0).end();
    code.function(&event);
    for _ in 0..shape.functions {
        code.function(&filler(shape.body_bytes, shape.locals, shape.style));
    }
    module.section(&code);

    if shape.data_bytes > 0 {
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(0), vec![0x5a; shape.data_bytes]);
        module.section(&data);
    }
    module.finish()
}

/// `(param i32) (result i32)`: uses every local, then computes in `style` until the body is
/// about `bytes` long.
fn filler(bytes: usize, locals: u32, style: Style) -> Function {
    let mut f = Function::new([(locals, ValType::I32)]);
    let mut sink = f.instructions();
    for i in 0..locals {
        sink.local_get(i).local_set(i + 1);
    }
    sink.local_get(0);
    match style {
        Style::NestedBlocks => {
            let n = bytes / 3;
            for _ in 0..n {
                sink.block(wasm_encoder::BlockType::Empty);
            }
            for _ in 0..n {
                sink.end();
            }
        }
        Style::Loops => {
            for _ in 0..bytes / 3 {
                sink.loop_(wasm_encoder::BlockType::Empty).end();
            }
        }
        Style::BrTable => {
            let depth = 500u32;
            for _ in 0..depth {
                sink.block(wasm_encoder::BlockType::Empty);
            }
            sink.local_get(0);
            let targets: Vec<u32> = (0..bytes.saturating_sub(3 * depth as usize) / 2)
                .map(|i| (i as u32 * 7) % depth)
                .collect();
            sink.br_table(targets, 0);
            for _ in 0..depth {
                sink.end();
            }
        }
        Style::Chain => {
            for _ in 0..bytes / 3 {
                sink.local_get(0).i32_add();
            }
        }
        Style::DeepStack => {
            let n = bytes / 3;
            for _ in 0..n {
                sink.local_get(0);
            }
            for _ in 0..n {
                sink.i32_add();
            }
        }
    }
    sink.end();
    f
}
