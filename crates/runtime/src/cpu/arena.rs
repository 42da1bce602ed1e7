//! The activation arena: one zeroed `f32` buffer per session, backed by transparent huge pages
//! where the OS offers them.
//!
//! A large model's arena spans tens of megabytes, and every step streams through a different
//! part of it. With 4 KiB pages that is thousands of TLB entries, and which physical pages the
//! buffer gets (and so how it maps onto the caches) changes from run to run of the program:
//! measured latencies varied visibly between processes. So an arena of at least one huge page
//! is aligned to 2 MiB and advised `MADV_HUGEPAGE` (the kernel's default `transparent_hugepage`
//! setting is `madvise`, which only backs advised ranges with huge pages), then touched once so
//! that the page faults happen when the session is created rather than in the first run.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

/// Size (and alignment) of a transparent huge page on x86-64 and aarch64 Linux with 4 KiB
/// base pages.
const HUGE_PAGE: usize = 2 << 20;

/// A zero-initialised, fixed-length `f32` buffer.
pub(crate) struct Arena {
    ptr: NonNull<f32>,
    len: usize,
    layout: Layout,
}

// SAFETY: `Arena` owns its allocation exclusively (like a `Vec<f32>`); shared references only
// give out `&[f32]`, and mutation needs `&mut Arena`.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// A zeroed buffer of `len` elements, or `None` if the memory cannot be had (the caller
    /// reports that as an error: a plan is untrusted and may ask for anything).
    pub fn new(len: usize) -> Option<Arena> {
        let bytes = len.checked_mul(4)?;
        let huge = bytes >= HUGE_PAGE;
        let align = if huge { HUGE_PAGE } else { 64 };
        // Whole huge pages, so that the advice covers the buffer's last page too.
        let size = if huge { bytes.checked_next_multiple_of(HUGE_PAGE)? } else { bytes.max(4) };
        let layout = Layout::from_size_align(size, align).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw.cast::<f32>())?;
        if huge {
            advise_huge_pages(raw, size);
            // Fault the pages in now (zeroes are what the buffer holds already).
            for page in (0..size).step_by(4096) {
                // SAFETY: `page < size`, inside the allocation; a volatile write so that the
                // store is not elided.
                unsafe { raw.add(page).write_volatile(0) };
            }
        }
        Some(Arena { ptr, len, layout })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.layout.size()
    }
}

/// Asks the kernel to back `[ptr, ptr + len)` with transparent huge pages. Advice only: if
/// the kernel refuses (THP disabled, not Linux), the buffer still works with small pages.
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `[ptr, ptr + len)` is one live allocation owned by the caller, aligned to a
        // page; MADV_HUGEPAGE changes no contents and no access rights, only how the kernel
        // backs the range, so no Rust reference to it is invalidated.
        let _ = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, and freed only here.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

impl std::ops::Deref for Arena {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `ptr` points to `len` initialised (zeroed, then only written as f32) elements
        // owned by `self` for as long as the borrow lasts.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Arena {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_writable() {
        for len in [0, 1, 1000, HUGE_PAGE / 4 - 1, HUGE_PAGE / 4, 3 * HUGE_PAGE / 4 + 5] {
            let mut a = Arena::new(len).unwrap();
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&v| v == 0.0));
            assert!(a.bytes() >= len * 4);
            if len >= HUGE_PAGE / 4 {
                assert_eq!(a.as_ptr() as usize % HUGE_PAGE, 0);
            }
            for (i, v) in a.iter_mut().enumerate() {
                *v = i as f32;
            }
            assert!(a.iter().enumerate().all(|(i, &v)| v == i as f32));
        }
    }

    #[test]
    fn impossible_sizes_fail_cleanly() {
        assert!(Arena::new(usize::MAX / 2).is_none());
        assert!(Arena::new(usize::MAX).is_none());
    }
}
