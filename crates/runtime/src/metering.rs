//! Fuel metering: a fork of `wasmer_middlewares::metering` (wasmer 7.4.2, MIT licence,
//! copyright Wasmer, Inc. and contributors) that also charges bulk operations and grows by the
//! bytes or elements they touch, **before** they run.
//!
//! Upstream's middleware sees one operator at a time and charges each basic block's static
//! cost at the block's end, so `memory.fill` of 16 MiB cost what a `nop` costs (see
//! `docs/engine-notes.md`). This fork keeps upstream's state (two exported globals, the same
//! names, so `get_remaining_points`-style readers keep working) and its block accounting, and
//! adds one thing: right before `memory.fill`, `memory.copy`, `memory.init`, `table.fill`,
//! `table.copy`, `table.init`, `table.grow` and `memory.grow`, it injects code that takes the
//! operation's length from the top of the stack, clamps it to the module's cap (a longer one
//! traps anyway), prices it with [`crate::price`], adds the block's cost so far, and traps as
//! fuel exhaustion if the remaining points cannot pay. The operation runs only once paid.
//!
//! The length is saved in a private `i32` global and the price in a private `i64` global (a
//! middleware cannot add locals); neither is exported.
//!
//! A third exported global, [`STOP`], is the deadline's switch: the guest only ever reads it,
//! at the start of every function and of every loop iteration (as wasmtime checks its epoch),
//! and traps as exhausted once the host has set it (`watchdog.rs`). Any run of guest code
//! that does not end reaches one of those checks, and since the guest never writes the
//! switch, one write from the host's thread is enough (a write into the points counter,
//! which the guest updates with a load and a store, is lost to the guest's own store).

use std::sync::Mutex;

use wasmer::sys::wasmparser::{BlockType, Operator};
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::{
    ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, ModuleInfo, Mutability, Type,
};

use crate::price::{self, Bulk};

/// The exported global holding the remaining points (`i64`, read as unsigned).
pub(crate) const REMAINING: &str = "wasmer_metering_remaining_points";
/// The exported global set to 1 when the points ran out (`i32`).
pub(crate) const EXHAUSTED: &str = "wasmer_metering_points_exhausted";
/// The exported global the host sets to non-zero to stop the guest at its next function
/// entry or loop iteration (`i32`; the guest never writes it).
pub(crate) const STOP: &str = "sandframe_metering_stop";

/// Global indexes and caps of one module, fixed by `transform_module_info`.
#[derive(Clone, Debug)]
struct ModuleState {
    remaining: u32,
    exhausted: u32,
    stop: u32,
    /// Scratch: the length operand of the bulk operation being priced.
    length: u32,
    /// Scratch: its price.
    price: u32,
    /// Most pages each memory may reach (declared maximum within the host cap).
    memory_pages: Vec<u64>,
    /// Most elements each table may reach (declared maximum within the host cap).
    table_elements: Vec<u64>,
}

/// The module-level middleware. One value meters one module (a second module is refused with
/// an error, where upstream panics).
#[derive(Debug)]
pub(crate) struct Metering {
    initial_limit: u64,
    memory_cap_pages: u64,
    table_cap_elements: u64,
    state: Mutex<Option<ModuleState>>,
}

impl Metering {
    /// A middleware starting instances with `initial_limit` points, for a runtime whose caps are
    /// `memory_cap_pages` and `table_cap_elements`.
    pub(crate) fn new(initial_limit: u64, memory_cap_pages: u64, table_cap_elements: u64) -> Self {
        Metering {
            initial_limit,
            memory_cap_pages,
            table_cap_elements,
            state: Mutex::new(None),
        }
    }
}

impl ModuleMiddleware for Metering {
    fn generate_function_middleware<'a>(
        &self,
        _: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        // transform_module_info always runs first; a poisoned or missing state fails closed:
        // `feed` then refuses every operator, so the module does not compile.
        let state = self.state.lock().ok().and_then(|s| s.clone());
        Box::new(FunctionMetering {
            state,
            accumulated: 0,
            entered: false,
        })
    }

    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| MiddlewareError::new("metering", "the middleware's lock is poisoned"))?;
        if state.is_some() {
            return Err(MiddlewareError::new(
                "metering",
                "one Metering value meters one module; make a fresh one per module",
            ));
        }
        for name in [REMAINING, EXHAUSTED, STOP] {
            if info.exports.contains_key(name) {
                return Err(MiddlewareError::new(
                    "metering",
                    format!("the module exports {name}, a name the metering reserves"),
                ));
            }
        }
        let mut global = |ty: Type, init: GlobalInit, export: Option<&str>| {
            let index = info.globals.push(GlobalType::new(ty, Mutability::Var));
            info.global_initializers.push(init);
            if let Some(name) = export {
                info.exports
                    .insert(name.to_owned(), ExportIndex::Global(index));
            }
            index.as_u32()
        };
        let remaining = global(
            Type::I64,
            GlobalInit::I64Const(self.initial_limit as i64),
            Some(REMAINING),
        );
        let exhausted = global(Type::I32, GlobalInit::I32Const(0), Some(EXHAUSTED));
        let stop = global(Type::I32, GlobalInit::I32Const(0), Some(STOP));
        let length = global(Type::I32, GlobalInit::I32Const(0), None);
        let price = global(Type::I64, GlobalInit::I64Const(0), None);
        let memory_pages = info
            .memories
            .values()
            .map(|m| {
                m.maximum
                    .map_or(self.memory_cap_pages, |p| u64::from(p.0))
                    .min(self.memory_cap_pages)
            })
            .collect();
        let table_elements = info
            .tables
            .values()
            .map(|t| {
                t.maximum
                    .map_or(self.table_cap_elements, u64::from)
                    .min(self.table_cap_elements)
            })
            .collect();
        *state = Some(ModuleState {
            remaining,
            exhausted,
            stop,
            length,
            price,
            memory_pages,
            table_elements,
        });
        Ok(())
    }
}

/// The function-level middleware.
#[derive(Debug)]
struct FunctionMetering {
    state: Option<ModuleState>,
    /// Static cost of the current basic block so far.
    accumulated: u64,
    /// The function's entry check is emitted.
    entered: bool,
}

/// Whether `operator` ends or starts a basic block (upstream's `is_accounting`): the block's
/// cost is charged right before it.
fn is_accounting(operator: &Operator<'_>) -> bool {
    matches!(
        operator,
        Operator::Loop { .. }
            | Operator::End
            | Operator::If { .. }
            | Operator::Else
            | Operator::Br { .. }
            | Operator::BrTable { .. }
            | Operator::BrIf { .. }
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::Return
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. }
            | Operator::Delegate { .. }
            | Operator::Catch { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
    )
}

impl FunctionMetering {
    /// Traps as exhausted if the host has set the stop switch.
    fn check_stop(s: &ModuleState, out: &mut MiddlewareReaderState<'_>) {
        out.extend(&[
            Operator::GlobalGet {
                global_index: s.stop,
            },
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: s.exhausted,
            },
            Operator::Unreachable,
            Operator::End,
        ]);
    }

    /// Takes `amount` (an operator pushing an `i64`: a constant, or the price global) from
    /// the remaining points, or traps as exhausted first.
    fn pay(s: &ModuleState, amount: Operator<'static>, out: &mut MiddlewareReaderState<'_>) {
        let remaining = s.remaining;
        out.extend(&[
            Operator::GlobalGet {
                global_index: remaining,
            },
            amount.clone(),
            Operator::I64LtU,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: s.exhausted,
            },
            Operator::Unreachable,
            Operator::End,
            Operator::GlobalGet {
                global_index: remaining,
            },
            amount,
            Operator::I64Sub,
            Operator::GlobalSet {
                global_index: remaining,
            },
        ]);
    }

    /// Code that prices the bulk operation whose `i32` length is on top of the stack, pays
    /// for it together with the block's cost so far, and leaves the length where it was.
    fn meter_bulk(
        &mut self,
        s: &ModuleState,
        bulk: Bulk,
        cap: u64,
        out: &mut MiddlewareReaderState<'_>,
    ) {
        let (per_unit, shift) = price::bulk(bulk);
        let cap = cap as i64;
        out.extend(&[Operator::GlobalSet {
            global_index: s.length,
        }]);
        match bulk {
            Bulk::MemoryGrow { mem } => {
                // units = current pages + delta (a grow copies the whole memory into a new
                // mapping); none for a grow of 0 or one past the cap, which wasmer answers
                // without work (the cap here is the tunables' maximum).
                out.extend(&[
                    Operator::MemorySize { mem },
                    Operator::I64ExtendI32U,
                    Operator::GlobalGet {
                        global_index: s.length,
                    },
                    Operator::I64ExtendI32U,
                    Operator::I64Add,
                    Operator::GlobalSet {
                        global_index: s.price,
                    },
                    Operator::GlobalGet {
                        global_index: s.price,
                    },
                    Operator::GlobalGet {
                        global_index: s.price,
                    },
                    Operator::I64Const { value: cap },
                    Operator::I64LeU,
                    Operator::I64ExtendI32U,
                    Operator::I64Mul,
                    Operator::GlobalGet {
                        global_index: s.length,
                    },
                    Operator::I32Eqz,
                    Operator::I32Eqz,
                    Operator::I64ExtendI32U,
                    Operator::I64Mul,
                ]);
            }
            _ => out.extend(&[
                Operator::GlobalGet {
                    global_index: s.length,
                },
                Operator::I64ExtendI32U,
            ]),
        }
        // min(units, cap) * per_unit >> shift + the block's cost so far. units < 2^33 and
        // per_unit < 2^20, so the product fits an i64.
        out.extend(&[
            Operator::GlobalSet {
                global_index: s.price,
            },
            Operator::GlobalGet {
                global_index: s.price,
            },
            Operator::I64Const { value: cap },
            Operator::GlobalGet {
                global_index: s.price,
            },
            Operator::I64Const { value: cap },
            Operator::I64LtU,
            Operator::Select,
            Operator::I64Const {
                value: per_unit as i64,
            },
            Operator::I64Mul,
            Operator::I64Const {
                value: i64::from(shift),
            },
            Operator::I64ShrU,
            Operator::I64Const {
                value: self.accumulated as i64,
            },
            Operator::I64Add,
        ]);
        self.accumulated = 0;
        out.extend(&[Operator::GlobalSet {
            global_index: s.price,
        }]);
        Self::pay(
            s,
            Operator::GlobalGet {
                global_index: s.price,
            },
            out,
        );
        out.extend(&[Operator::GlobalGet {
            global_index: s.length,
        }]);
    }
}

impl<'a> FunctionMiddleware<'a> for FunctionMetering {
    fn feed(
        &mut self,
        operator: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        let Some(s) = self.state.clone() else {
            return Err(MiddlewareError::new(
                "metering",
                "the module was not prepared for metering",
            ));
        };
        if !self.entered {
            self.entered = true;
            Self::check_stop(&s, state);
        }
        // The operator's own static cost first, so a call or branch cannot escape it.
        self.accumulated = self.accumulated.saturating_add(price::cost(&operator));
        let pages = |mem: u32| s.memory_pages.get(mem as usize).copied().unwrap_or(0);
        let bytes = |mem: u32| pages(mem).saturating_mul(wasmer::WASM_PAGE_SIZE as u64);
        let elements = |table: u32| s.table_elements.get(table as usize).copied().unwrap_or(0);
        let bulk = match operator {
            Operator::MemoryFill { mem } => Some((Bulk::MemoryFill, bytes(mem))),
            Operator::MemoryCopy { dst_mem, .. } => Some((Bulk::MemoryCopy, bytes(dst_mem))),
            Operator::MemoryInit { mem, .. } => Some((Bulk::MemoryInit, bytes(mem))),
            Operator::MemoryGrow { mem } => Some((Bulk::MemoryGrow { mem }, pages(mem))),
            Operator::TableFill { table } => Some((Bulk::TableFill, elements(table))),
            Operator::TableCopy { dst_table, .. } => Some((Bulk::TableCopy, elements(dst_table))),
            Operator::TableInit { table, .. } => Some((Bulk::TableInit, elements(table))),
            Operator::TableGrow { table } => Some((Bulk::TableGrow, elements(table))),
            _ => None,
        };
        if let Some((bulk, cap)) = bulk {
            self.meter_bulk(&s, bulk, cap, state);
        } else if is_accounting(&operator) && self.accumulated > 0 {
            // Upstream's block charge, unchanged: the cost is a constant.
            let cost = self.accumulated as i64;
            Self::pay(&s, Operator::I64Const { value: cost }, state);
            self.accumulated = 0;
        }
        let looping = matches!(operator, Operator::Loop { .. });
        state.push_operator(operator);
        if looping {
            // At the top of the loop's body: every iteration passes here.
            Self::check_stop(&s, state);
        }
        Ok(())
    }
}
