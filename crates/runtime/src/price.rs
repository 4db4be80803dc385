//! The price table: what each operator, bulk operation and host call costs in fuel.
//!
//! One point is about half a nanosecond of guest code on the 2-core CI machine (a `loop br`
//! burns [`crate::DEFAULT_FUEL_PER_EVENT`] in about 9 ms). Everything else is
//! priced so that no operator, bulk operation or host call spends much more time per point
//! than that: the measured figures, and how they were measured, are in
//! `docs/engine-notes.md` ("The price table"). Bump [`crate::COST_FUNCTION_VERSION`] whenever
//! anything here changes: prices are compiled into every artifact.

use wasmer::sys::wasmparser::Operator;

/// Points per operator, unless listed below.
pub const OPERATOR: u64 = 1;
/// A load or store: its address may miss the cache and the TLB (a loop of independent
/// random loads over 16 MiB of touched memory takes about 9.5 ns an iteration here).
pub const MEMORY_ACCESS: u64 = 8;
/// A direct call (frame setup, and a stack check at the callee).
pub const CALL: u64 = 4;
/// `call_indirect`: a table bounds check, a signature check and an indirect jump that a
/// scrambled target defeats the branch predictor and the instruction cache with.
pub const CALL_INDIRECT: u64 = 24;
/// Integer division and remainder.
pub const DIVISION: u64 = 8;
/// Float division and square root.
pub const FLOAT_DIVISION: u64 = 4;
/// The fixed part of a bulk operation or a grow (its length is priced on top, see [`bulk`]).
pub const BULK: u64 = 16;

/// Fuel one ABI `call` costs before the gateway runs, plus one point per byte of API name and
/// request, plus the API's own price ([`host_call`]).
pub const CALL_FUEL: u64 = 500;
/// The price of a built-in API that reads a stored value (a file read and an AEAD open,
/// about 20 µs): `storage.get`, `storage.usage`, `storage.getShared`; and the floor of
/// `storage.list` and `storage.listShares`, which also pay their measured time above it.
pub const STORAGE_READ: u64 = 40_000;
/// The price of a built-in API that writes durably (write, fsync, rename, directory fsync:
/// about 500 µs): `storage.set`, `storage.remove`, `storage.share`, `storage.unshare`.
pub const STORAGE_WRITE: u64 = 1_000_000;
/// The price of `ui.setData` (a patch queued for the render side, about 1 µs on the logic
/// thread; the render work happens on the render thread, bounded by the API's rate limit) and
/// `capability.request` (a grant looked up, a consent queued).
pub const QUEUED: u64 = 2_000;
/// Fuel one ABI `read` costs, plus one point per byte copied.
pub const READ_FUEL: u64 = 100;
/// Fuel a call to an API the table does not know (one the embedder registered) costs per
/// microsecond it spent in the host, measured around the call: about twice the guest's own
/// rate, so a slow lookup on the logic thread costs more than the same time spinning would.
pub const HOST_POINTS_PER_MICROSECOND: u64 = 4_000;
/// The most host time one call is charged for, in microseconds. A disk that takes 50 ms for
/// one `fsync` must not stop a benign app's only write; a loop of such calls still ends within
/// `budget / (HOST_CHARGE_CAP_MICROSECONDS × HOST_POINTS_PER_MICROSECOND)` calls.
pub const HOST_CHARGE_CAP_MICROSECONDS: u64 = 2_000;

/// What a host call costs beyond [`CALL_FUEL`] and its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPrice {
    /// A fixed price, paid before the API runs (every built-in API of ABI v1): the same fuel
    /// every run, whatever the machine is doing.
    Fixed(u64),
    /// A fixed price paid before the API runs, and its measured host time beyond that price
    /// (at [`HOST_POINTS_PER_MICROSECOND`], capped as for `Measured`) paid after it returns:
    /// for built-in APIs whose work grows with what the app stored (`storage.list`,
    /// `storage.listShares`).
    AtLeast(u64),
    /// The call's measured host time at [`HOST_POINTS_PER_MICROSECOND`], capped at
    /// [`HOST_CHARGE_CAP_MICROSECONDS`], paid after it returns (APIs the embedder registered).
    Measured,
}

/// The price of calling `api` (raw guest bytes; any other name, an embedder's API or no API
/// at all, is `Measured`: a refused name costs its microsecond or less).
pub fn host_call(api: &[u8]) -> HostPrice {
    match api {
        b"clock.now" | b"random.bytes" | b"log" | b"capability.list" | b"app.limits"
        | b"app.views" => HostPrice::Fixed(0),
        b"storage.get" | b"storage.usage" | b"storage.getShared" => HostPrice::Fixed(STORAGE_READ),
        // Their work grows with what is stored: a floor, and the measured time above it.
        b"storage.list" | b"storage.listShares" => HostPrice::AtLeast(STORAGE_READ),
        b"storage.set" | b"storage.remove" | b"storage.share" | b"storage.unshare" => {
            HostPrice::Fixed(STORAGE_WRITE)
        }
        b"ui.setData" | b"capability.request" => HostPrice::Fixed(QUEUED),
        _ => HostPrice::Measured,
    }
}

/// The part of an instance's initial memory that is free: a Rust guest starts at 16 pages
/// (its 1 MiB shadow stack). Every byte past it is touched at launch and paid from `sf_init`'s
/// budget at the `memory.grow` rate, since the kernel zeroes each page on its first touch
/// (about 10 ms for 16 MiB on the CI machine).
pub const FREE_INITIAL_MEMORY: u64 = 1 << 20;

/// A bulk operation or a grow, priced by the units it touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bulk {
    /// `memory.fill`, per byte.
    MemoryFill,
    /// `memory.copy`, per byte.
    MemoryCopy,
    /// `memory.init`, per byte.
    MemoryInit,
    /// `memory.grow` of memory `mem`, per page of the memory's new size (a dynamic memory is
    /// copied into a new mapping at each grow).
    MemoryGrow {
        /// The memory's index.
        mem: u32,
    },
    /// `table.fill`, per element.
    TableFill,
    /// `table.copy`, per element.
    TableCopy,
    /// `table.init`, per element.
    TableInit,
    /// `table.grow`, per element added.
    TableGrow,
}

/// The static cost of one operator.
pub fn cost(operator: &Operator<'_>) -> u64 {
    use Operator as O;
    match operator {
        O::I32Load { .. }
        | O::I64Load { .. }
        | O::F32Load { .. }
        | O::F64Load { .. }
        | O::I32Load8S { .. }
        | O::I32Load8U { .. }
        | O::I32Load16S { .. }
        | O::I32Load16U { .. }
        | O::I64Load8S { .. }
        | O::I64Load8U { .. }
        | O::I64Load16S { .. }
        | O::I64Load16U { .. }
        | O::I64Load32S { .. }
        | O::I64Load32U { .. }
        | O::I32Store { .. }
        | O::I64Store { .. }
        | O::F32Store { .. }
        | O::F64Store { .. }
        | O::I32Store8 { .. }
        | O::I32Store16 { .. }
        | O::I64Store8 { .. }
        | O::I64Store16 { .. }
        | O::I64Store32 { .. } => MEMORY_ACCESS,
        O::Call { .. } => CALL,
        O::CallIndirect { .. } => CALL_INDIRECT,
        O::I32DivS
        | O::I32DivU
        | O::I32RemS
        | O::I32RemU
        | O::I64DivS
        | O::I64DivU
        | O::I64RemS
        | O::I64RemU => DIVISION,
        O::F32Div | O::F64Div | O::F32Sqrt | O::F64Sqrt => FLOAT_DIVISION,
        // Run as calls into the engine (a libcall, or a stack switch for the drops).
        O::TableGet { .. }
        | O::TableSet { .. }
        | O::TableSize { .. }
        | O::RefFunc { .. }
        | O::MemorySize { .. } => CALL,
        O::ElemDrop { .. } | O::DataDrop { .. } => BULK,
        O::MemoryFill { .. }
        | O::MemoryCopy { .. }
        | O::MemoryInit { .. }
        | O::MemoryGrow { .. }
        | O::TableFill { .. }
        | O::TableCopy { .. }
        | O::TableInit { .. }
        | O::TableGrow { .. } => BULK,
        _ => OPERATOR,
    }
}

/// The price per unit of a bulk operation, as a fixed-point fraction: `units * n >> shift`
/// points, returned as `(n, shift)`.
pub fn bulk(op: Bulk) -> (u64, u32) {
    match op {
        // 1/4 point per byte.
        Bulk::MemoryFill => (1, 2),
        // 1/2 point per byte: every byte is read and written.
        Bulk::MemoryCopy | Bulk::MemoryInit => (1, 1),
        // 1 point per byte of the new size, in pages: a grow maps a new region, copies the
        // memory into it and the kernel zeroes every page it touches.
        Bulk::MemoryGrow { .. } => (wasmer::WASM_PAGE_SIZE as u64, 0),
        // Elements are 8 to 16 bytes, and init resolves a function reference per element.
        Bulk::TableFill | Bulk::TableCopy | Bulk::TableGrow => (4, 0),
        Bulk::TableInit => (8, 0),
    }
}
