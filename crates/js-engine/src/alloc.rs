//! The engine's one allocator: talc over the wasm memory, grown geometrically.
//!
//! The host prices a `memory.grow` by the memory's new size (a grow copies the memory), so
//! growing by what one allocation needs, as allocators usually do, costs the square of the
//! heap. This source grows by at least the memory's current size (doubling it), falling back
//! to what the allocation needs when the doubling would pass the memory's maximum: a heap of
//! N bytes costs under 2N points of grows in all.

use core::alloc::Layout;
use core::arch::wasm32::{memory_grow, memory_size};
use core::ptr::NonNull;

const PAGE: usize = 64 << 10;

#[derive(Debug, Default)]
pub(crate) struct Doubling {
    end: Option<NonNull<u8>>,
}

impl Doubling {
    pub(crate) const fn new() -> Doubling {
        Doubling { end: None }
    }
}

/// Pages that surely fit `layout` with talc's chunk overhead and alignment.
fn pages_for(layout: Layout) -> usize {
    (layout.size() + layout.align() + 256).div_ceil(PAGE)
}

// SAFETY: acquire never allocates and touches the allocator only through `talc`.
unsafe impl talc::source::Source for Doubling {
    fn acquire<B: talc::base::binning::Binning>(
        talc: &mut talc::base::Talc<Self, B>,
        layout: Layout,
    ) -> Result<(), ()> {
        let needed = pages_for(layout);
        let doubled = needed.max(memory_size(0));
        let (prev, delta) = match memory_grow(0, doubled) {
            usize::MAX => match memory_grow(0, needed) {
                usize::MAX => return Err(()),
                prev => (prev, needed),
            },
            prev => (prev, doubled),
        };
        let base = (prev * PAGE) as *mut u8;
        let bytes = delta * PAGE;
        if let Some(old_end) = talc.source.end.take()
            && old_end.as_ptr() == base
        {
            // SAFETY: the memory from `old_end` to `base + bytes` was just grown and is ours.
            let new_end = unsafe { talc.extend(old_end, base.wrapping_add(bytes)) };
            talc.source.end = Some(new_end);
            return Ok(());
        }
        // SAFETY: the pages were just grown: nothing else uses them.
        talc.source.end = unsafe { talc.claim(base, bytes) };
        if talc.source.end.is_some() {
            Ok(())
        } else {
            Err(())
        }
    }
}

#[global_allocator]
static ALLOCATOR: talc::cell::TalcSyncCell<Doubling, talc::wasm::WasmBinning> =
    talc::cell::TalcSyncCell::new_wasm(Doubling::new());
