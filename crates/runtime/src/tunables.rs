//! One `Tunables` type for the compiling and the running engine: dynamic memories with no
//! guard region (explicit bounds checks, small reservations), memory and table sizes clamped to
//! the host caps, a bounded wasm stack.

use std::ptr::NonNull;

use wasmer::sys::vm::{
    MemoryError, VMConfig, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryStyle, MemoryType, Pages, TableStyle, TableType};

/// The memory style every module is compiled for and run under.
pub(crate) const MEMORY_STYLE: MemoryStyle = MemoryStyle::Dynamic {
    offset_guard_size: 0,
};

pub(crate) struct SandframeTunables {
    base: BaseTunables,
    max_pages: Pages,
    max_table: u32,
    vmconfig: VMConfig,
}

impl SandframeTunables {
    pub(crate) fn new(max_pages: u32, max_table: u32, stack_bytes: usize) -> Self {
        SandframeTunables {
            base: BaseTunables::default(),
            max_pages: Pages(max_pages),
            max_table,
            vmconfig: VMConfig {
                wasm_stack_size: Some(stack_bytes),
            },
        }
    }

    /// The memory type with its maximum clamped to the cap.
    fn memory(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        if ty.minimum > self.max_pages {
            return Err(MemoryError::MinimumMemoryTooLarge {
                min_requested: ty.minimum,
                max_allowed: self.max_pages,
            });
        }
        let mut t = *ty;
        t.maximum = Some(ty.maximum.map_or(self.max_pages, |m| m.min(self.max_pages)));
        Ok(t)
    }

    fn table(&self, ty: &TableType) -> Result<TableType, String> {
        if ty.minimum > self.max_table {
            return Err(format!(
                "table minimum {} is over the cap {}",
                ty.minimum, self.max_table
            ));
        }
        let mut t = *ty;
        t.maximum = Some(ty.maximum.map_or(self.max_table, |m| m.min(self.max_table)));
        Ok(t)
    }
}

impl Tunables for SandframeTunables {
    fn memory_style(&self, _memory: &MemoryType) -> MemoryStyle {
        MEMORY_STYLE
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(&self.memory(ty)?, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        // Code compiled for another style (a static memory omits bounds checks) must never run
        // under our small reservations: refuse it rather than escape the sandbox.
        if *style != MEMORY_STYLE {
            return Err(MemoryError::Generic(
                "the artifact was compiled for another memory style".into(),
            ));
        }
        let ty = self.memory(ty)?;
        // SAFETY: wasmer calls this with a valid definition location for this memory; we pass
        // it through unchanged with the artifact's own style.
        unsafe {
            self.base
                .create_vm_memory(&ty, style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(&self.table(ty)?, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let ty = self.table(ty)?;
        // SAFETY: as for memories: the location is wasmer's, passed through unchanged.
        unsafe {
            self.base
                .create_vm_table(&ty, style, vm_definition_location)
        }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}
