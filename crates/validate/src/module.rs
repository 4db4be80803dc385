//! Static analysis of the logic module: validity against [`FEATURES`], ABI v1 imports and
//! exports, and the size caps.

use std::collections::BTreeMap;

use wasmparser::{
    FuncType, FuncValidator, FuncValidatorAllocations, FunctionBody, Parser, Payload, ValType,
    ValidPayload, ValidatorResources,
    types::{EntityType, Types},
};

use crate::config::{Caps, FEATURES};
use crate::report::{Finding, Location, Severity};

/// The import module of host ABI v1.
pub const ABI_MODULE: &str = "sandframe_v1";

/// Finding codes of this stage (see `docs/validation.md`).
pub mod codes {
    /// The module is malformed or invalid under the supported feature set.
    pub const INVALID: &str = "SF-V101";
    /// An import from a module other than `sandframe_v1`.
    pub const FOREIGN_IMPORT: &str = "SF-V102";
    /// An import of a `sandframe_v1` function that ABI v1 does not have.
    pub const UNKNOWN_ABI_FUNCTION: &str = "SF-V103";
    /// An ABI v1 function imported with the wrong signature.
    pub const WRONG_ABI_SIGNATURE: &str = "SF-V104";
    /// An imported memory, table, global or tag.
    pub const IMPORTED_ENTITY: &str = "SF-V105";
    /// A required export is missing.
    pub const MISSING_EXPORT: &str = "SF-V106";
    /// A required export has the wrong kind or signature.
    pub const WRONG_EXPORT: &str = "SF-V107";
    /// The memory declares no maximum.
    pub const MEMORY_NO_MAXIMUM: &str = "SF-V108";
    /// The memory's maximum exceeds the host cap or the manifest's limit.
    pub const MEMORY_TOO_LARGE: &str = "SF-V109";
    /// Too many tables.
    pub const TOO_MANY_TABLES: &str = "SF-V110";
    /// Too many functions.
    pub const TOO_MANY_FUNCTIONS: &str = "SF-V111";
    /// A function body is too large.
    pub const BODY_TOO_LARGE: &str = "SF-V112";
    /// A function declares too many locals.
    pub const TOO_MANY_LOCALS: &str = "SF-V113";
    /// The code section is too large.
    pub const CODE_TOO_LARGE: &str = "SF-V114";
    /// The data segments are too large.
    pub const DATA_TOO_LARGE: &str = "SF-V115";
    /// The custom sections are too large.
    pub const CUSTOM_TOO_LARGE: &str = "SF-V116";
    /// A start section (it would run at instantiation).
    pub const START_SECTION: &str = "SF-V117";
    /// Too many globals.
    pub const TOO_MANY_GLOBALS: &str = "SF-V118";
    /// Too many exports.
    pub const TOO_MANY_EXPORTS: &str = "SF-V119";
    /// A table declares no maximum, or one over the cap.
    pub const TABLE_TOO_LARGE: &str = "SF-V120";
    /// An exported function the host never calls.
    pub const EXTRA_EXPORT: &str = "SF-V121";
    /// No memory at all.
    pub const NO_MEMORY: &str = "SF-V122";
    /// A function has too many branch points (metered compile time grows with their square).
    pub const TOO_MANY_BRANCHES: &str = "SF-V123";
    /// The module's estimated metered-compile cost is over the cap.
    pub const COMPILE_COST: &str = "SF-V124";
}

/// Where the memory limit a module is held to comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemoryLimit {
    pub(crate) pages: u64,
    pub(crate) from_manifest: bool,
}

/// Analyzes `wasm` against `caps`, with `memory` the effective memory limit.
///
/// Returns every finding. If the module does not validate, the only error findings are
/// [`codes::INVALID`] plus any size cap already seen; ABI checks need a valid module.
pub(crate) fn analyze(wasm: &[u8], caps: &Caps, memory: MemoryLimit) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(types) = validate(wasm, caps, &mut out) {
        check_imports(&types, &mut out);
        check_exports(&types, &mut out);
        check_memories_and_tables(&types, caps, memory, &mut out);
    }
    out
}

/// The module-validity stage alone: `None` if `wasm` is a valid module under [`FEATURES`],
/// else the [`codes::INVALID`] finding.
pub fn validity(wasm: &[u8]) -> Option<Finding> {
    let mut out = Vec::new();
    let caps = Caps {
        memory_pages: u64::MAX,
        tables: u32::MAX,
        table_elements: u64::MAX,
        functions: u32::MAX,
        function_body_bytes: u64::MAX,
        locals_per_function: u64::MAX,
        code_bytes: u64::MAX,
        globals: u32::MAX,
        exports: u32::MAX,
        data_bytes: u64::MAX,
        custom_bytes: u64::MAX,
        view_bytes: u64::MAX,
        branch_points_per_function: u64::MAX,
        compile_cost: u64::MAX,
    };
    match validate(wasm, &caps, &mut out) {
        Some(_) => None,
        None => out.into_iter().find(|f| f.code == codes::INVALID),
    }
}

fn invalid(e: &wasmparser::BinaryReaderError) -> Finding {
    Finding::error(
        codes::INVALID,
        Location::wasm("module", Some(e.offset())),
        format!(
            "the module is not valid WebAssembly under sandframe's feature set: {}",
            e.message()
        ),
    )
}

fn over(code: &str, location: Location, what: &str, value: u64, cap: u64) -> Finding {
    Finding::error(
        code,
        location,
        format!("{what} is {value}; the cap is {cap}: make the module smaller"),
    )
}

/// Parses and validates in one pass, checking the size caps on the way.
fn validate(wasm: &[u8], caps: &Caps, out: &mut Vec<Finding>) -> Option<Types> {
    let mut validator = wasmparser::Validator::new_with_features(FEATURES);
    let mut allocs = FuncValidatorAllocations::default();
    let mut next_function = 0u32;
    let mut data_bytes = 0u64;
    let mut data_offset = None;
    let mut custom_bytes = 0u64;
    let mut custom_offset = None;
    let mut compile_cost = 0u64;
    let mut next_validated = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                out.push(invalid(&e));
                return None;
            }
        };
        match &payload {
            Payload::StartSection { func, range } => out.push(Finding::error(
                codes::START_SECTION,
                Location::wasm("start", Some(range.start)).in_function(*func),
                "the module has a start function, which would run at instantiation; \
                 do the work in sf_init instead",
            )),
            Payload::FunctionSection(r) if r.count() > caps.functions => out.push(over(
                codes::TOO_MANY_FUNCTIONS,
                Location::wasm("function", Some(r.range().start)),
                "the function count",
                r.count().into(),
                caps.functions.into(),
            )),
            Payload::GlobalSection(r) if r.count() > caps.globals => out.push(over(
                codes::TOO_MANY_GLOBALS,
                Location::wasm("global", Some(r.range().start)),
                "the global count",
                r.count().into(),
                caps.globals.into(),
            )),
            Payload::ExportSection(r) if r.count() > caps.exports => out.push(over(
                codes::TOO_MANY_EXPORTS,
                Location::wasm("export", Some(r.range().start)),
                "the export count",
                r.count().into(),
                caps.exports.into(),
            )),
            Payload::CodeSectionStart { count, range, size } => {
                if u64::from(*size) > caps.code_bytes {
                    out.push(over(
                        codes::CODE_TOO_LARGE,
                        Location::wasm("code", Some(range.start)),
                        "the code section, in bytes,",
                        (*size).into(),
                        caps.code_bytes,
                    ));
                }
                let total = validator.types(0).map_or(0, |t| t.function_count());
                next_function = total.saturating_sub(*count);
                next_validated = next_function;
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                let size = range.end.saturating_sub(range.start);
                let location = Location::wasm("code", Some(range.start)).in_function(next_function);
                if size > caps.function_body_bytes {
                    out.push(over(
                        codes::BODY_TOO_LARGE,
                        location.clone(),
                        "the function body, in bytes,",
                        size,
                        caps.function_body_bytes,
                    ));
                }
                if let Ok(locals) = body.get_locals_reader() {
                    let mut n = 0u64;
                    for (count, _) in locals.into_iter().flatten() {
                        n = n.saturating_add(count.into());
                    }
                    if n > caps.locals_per_function {
                        out.push(over(
                            codes::TOO_MANY_LOCALS,
                            location,
                            "the number of locals",
                            n,
                            caps.locals_per_function,
                        ));
                    }
                }
                next_function = next_function.saturating_add(1);
            }
            Payload::DataSection(r) => {
                data_offset.get_or_insert(r.range().start);
                for data in r.clone().into_iter().flatten() {
                    data_bytes = data_bytes.saturating_add(data.data.len() as u64);
                }
            }
            Payload::CustomSection(r) => {
                custom_offset.get_or_insert(r.range().start);
                custom_bytes =
                    custom_bytes.saturating_add((r.data().len() + r.name().len()) as u64);
            }
            _ => {}
        }
        match validator.payload(&payload) {
            Err(e) => {
                out.push(invalid(&e));
                return None;
            }
            Ok(ValidPayload::Func(func, body)) => {
                let mut fv = func.into_validator(std::mem::take(&mut allocs));
                let points = match validate_body(wasm, &mut fv, &body) {
                    Ok(points) => points,
                    Err(e) => {
                        out.push(invalid(&e));
                        return None;
                    }
                };
                allocs = fv.into_allocations();
                let index = next_validated;
                next_validated = next_validated.saturating_add(1);
                if points > caps.branch_points_per_function {
                    let range = body.range();
                    out.push(over(
                        codes::TOO_MANY_BRANCHES,
                        Location::wasm("code", Some(range.start)).in_function(index),
                        "the function's weighted count of branch points (loops count 3)",
                        points,
                        caps.branch_points_per_function,
                    ));
                }
                compile_cost = compile_cost.saturating_add(points.saturating_mul(points));
            }
            Ok(ValidPayload::End(types)) => {
                if compile_cost > caps.compile_cost {
                    out.push(over(
                        codes::COMPILE_COST,
                        Location::wasm("code", None),
                        "the module's metered-compile cost (sum over functions of branch points squared)",
                        compile_cost,
                        caps.compile_cost,
                    ));
                }
                if data_bytes > caps.data_bytes {
                    out.push(over(
                        codes::DATA_TOO_LARGE,
                        Location::wasm("data", data_offset),
                        "the data segments' total size, in bytes,",
                        data_bytes,
                        caps.data_bytes,
                    ));
                }
                if custom_bytes > caps.custom_bytes {
                    out.push(over(
                        codes::CUSTOM_TOO_LARGE,
                        Location::wasm("custom", custom_offset),
                        "the custom sections' total size, in bytes,",
                        custom_bytes,
                        caps.custom_bytes,
                    ));
                }
                return Some(types);
            }
            Ok(ValidPayload::Parser(_)) => {
                // Nested modules need the component model, which FEATURES leaves off.
                out.push(Finding::error(
                    codes::INVALID,
                    Location::wasm("module", None),
                    "nested modules and components are not supported",
                ));
                return None;
            }
            Ok(ValidPayload::Ok) => {}
        }
    }
    out.push(Finding::error(
        codes::INVALID,
        Location::wasm("module", Some(wasm.len() as u64)),
        "the module ends unexpectedly",
    ));
    None
}

/// Validates one function body exactly as `FuncValidator::validate` does, counting its branch
/// points on the way: the operators at which wasmer's `Metering` middleware inserts fuel
/// accounting, whose number makes metered compile time grow quadratically (measured:
/// `docs/validation.md`). Loops cost about eight times as much as the rest, so count 3 (√8).
fn validate_body(
    wasm: &[u8],
    fv: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
) -> Result<u64, wasmparser::BinaryReaderError> {
    let mut reader = body.get_binary_reader();
    fv.read_locals(&mut reader)?;
    reader.set_features(FEATURES);
    let mut points = 0u64;
    while !reader.eof() {
        let at = reader.original_position();
        // The opcode is the byte at the operator's start: block, loop, if, else, br, br_if,
        // br_table, return, call, call_indirect.
        points += match usize::try_from(at).ok().and_then(|i| wasm.get(i)) {
            Some(0x03) => 3,
            Some(0x02 | 0x04 | 0x05 | 0x0c..=0x11) => 1,
            _ => 0,
        };
        reader.visit_operator(&mut fv.visitor(at))??;
    }
    reader.finish_expression(&fv.visitor(reader.original_position()))?;
    Ok(points)
}

fn func_type<'t>(types: &'t Types, ty: &EntityType) -> Option<&'t FuncType> {
    match ty {
        EntityType::Func(id) | EntityType::FuncExact(id) => {
            match &types[*id].composite_type.inner {
                wasmparser::CompositeInnerType::Func(f) => Some(f),
                _ => None,
            }
        }
        _ => None,
    }
}

fn signature(f: &FuncType) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "(param {}) (result {})",
        list(f.params()),
        list(f.results())
    )
}

/// ABI v1's imports: name, params, results.
const ABI_IMPORTS: [(&str, &[ValType], &[ValType]); 2] = [
    (
        "call",
        &[ValType::I32, ValType::I32, ValType::I32, ValType::I32],
        &[ValType::I64],
    ),
    ("read", &[ValType::I32, ValType::I32], &[ValType::I32]),
];

fn check_imports(types: &Types, out: &mut Vec<Finding>) {
    let Some(imports) = types.as_ref().core_imports() else {
        return;
    };
    for (module, name, ty) in imports {
        let what = format!("{}.{}", module.escape_debug(), name.escape_debug());
        let loc = Location::wasm("import", None);
        if !matches!(ty, EntityType::Func(_) | EntityType::FuncExact(_)) {
            out.push(Finding::error(
                codes::IMPORTED_ENTITY,
                loc,
                format!("imports {what}, which is not a function: a module brings its own memory, tables and globals"),
            ));
            continue;
        }
        if module != ABI_MODULE {
            out.push(Finding::error(
                codes::FOREIGN_IMPORT,
                loc,
                format!("imports {what}: only {ABI_MODULE} (host ABI v1) is available; WASI, env and other modules are not"),
            ));
            continue;
        }
        let Some((_, params, results)) = ABI_IMPORTS.iter().find(|(n, _, _)| *n == name) else {
            out.push(Finding::error(
                codes::UNKNOWN_ABI_FUNCTION,
                loc,
                format!("imports {what}, which ABI v1 does not have (it has call and read)"),
            ));
            continue;
        };
        if let Some(f) = func_type(types, &ty)
            && (f.params() != *params || f.results() != *results)
        {
            let want = FuncType::new(params.iter().copied(), results.iter().copied());
            out.push(Finding::error(
                codes::WRONG_ABI_SIGNATURE,
                loc,
                format!(
                    "imports {what} as {}; ABI v1 defines it as {}",
                    signature(f),
                    signature(&want)
                ),
            ));
        }
    }
}

fn check_exports(types: &Types, out: &mut Vec<Finding>) {
    let Some(exports) = types.as_ref().core_exports() else {
        return;
    };
    let exports: BTreeMap<&str, EntityType> = exports.collect();
    let loc = || Location::wasm("export", None);
    match exports.get("memory") {
        None => out.push(Finding::error(
            codes::MISSING_EXPORT,
            loc(),
            "the module does not export its memory as \"memory\"",
        )),
        Some(EntityType::Memory(_)) => {}
        Some(_) => out.push(Finding::error(
            codes::WRONG_EXPORT,
            loc(),
            "the export \"memory\" is not a memory",
        )),
    }
    let required: [(&str, &[ValType], &[ValType]); 2] = [
        ("sf_init", &[], &[ValType::I32]),
        ("sf_event", &[ValType::I32], &[ValType::I32]),
    ];
    for (name, params, results) in required {
        let want = FuncType::new(params.iter().copied(), results.iter().copied());
        match exports.get(name) {
            None => out.push(Finding::error(
                codes::MISSING_EXPORT,
                loc(),
                format!("the module does not export {name} {}", signature(&want)),
            )),
            Some(ty) => match func_type(types, ty) {
                Some(f) if f == &want => {}
                Some(f) => out.push(Finding::error(
                    codes::WRONG_EXPORT,
                    loc(),
                    format!(
                        "{name} is exported as {}; ABI v1 needs {}",
                        signature(f),
                        signature(&want)
                    ),
                )),
                None => out.push(Finding::error(
                    codes::WRONG_EXPORT,
                    loc(),
                    format!("the export {name} is not a function"),
                )),
            },
        }
    }
    for (name, ty) in &exports {
        let known = matches!(*name, "memory" | "sf_init" | "sf_event");
        if !known && func_type(types, ty).is_some() {
            out.push(Finding::new(
                codes::EXTRA_EXPORT,
                Severity::Info,
                loc(),
                format!(
                    "exports function {:?}, which the host never calls",
                    name.escape_debug().to_string()
                ),
            ));
        }
    }
}

fn check_memories_and_tables(
    types: &Types,
    caps: &Caps,
    memory: MemoryLimit,
    out: &mut Vec<Finding>,
) {
    let t = types.as_ref();
    if t.memory_count() == 0 {
        out.push(Finding::error(
            codes::NO_MEMORY,
            Location::wasm("memory", None),
            "the module defines no memory",
        ));
    }
    let source = if memory.from_manifest {
        "the manifest's limits.memory_pages"
    } else {
        "the host's memory cap"
    };
    for i in 0..t.memory_count() {
        let m = t.memory_at(i);
        let loc = Location::wasm("memory", None);
        match m.maximum {
            None => out.push(Finding::error(
                codes::MEMORY_NO_MAXIMUM,
                loc,
                format!(
                    "memory {i} declares no maximum; declare one (for Rust: -C link-arg=--max-memory=N, which pack adds) of at most {} pages",
                    memory.pages
                ),
            )),
            Some(max) if max > memory.pages => out.push(Finding::error(
                codes::MEMORY_TOO_LARGE,
                loc,
                format!("memory {i} may grow to {max} pages; {source} allows {}", memory.pages),
            )),
            Some(_) => {}
        }
    }
    if t.table_count() > caps.tables {
        out.push(over(
            codes::TOO_MANY_TABLES,
            Location::wasm("table", None),
            "the table count",
            t.table_count().into(),
            caps.tables.into(),
        ));
    }
    for i in 0..t.table_count() {
        let table = t.table_at(i);
        let loc = Location::wasm("table", None);
        match table.maximum {
            None => out.push(Finding::error(
                codes::TABLE_TOO_LARGE,
                loc,
                format!(
                    "table {i} declares no maximum; declare one of at most {}",
                    caps.table_elements
                ),
            )),
            Some(max) if max > caps.table_elements => {
                out.push(over(
                    codes::TABLE_TOO_LARGE,
                    loc,
                    "the table maximum",
                    max,
                    caps.table_elements,
                ));
            }
            Some(_) => {}
        }
    }
}
