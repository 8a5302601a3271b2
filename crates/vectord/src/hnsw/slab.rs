//! [`Slab`]: append-only storage addressed by a `u32` slot, in segments that never move.
//!
//! A slab is a fixed table of [`SEGMENTS`] segments; segment `s` holds `64 << s` slots of
//! `width` elements each, so slots `[0, 64)` are in segment 0, `[64, 192)` in segment 1,
//! and so on up to the whole `u32` range. A segment is allocated the first time a slot in
//! it is [`Slab::ensure`]d and is never reallocated, so a reference into it stays valid for
//! the slab's lifetime while other threads keep appending: readers never take a lock.
//!
//! Segments are 64-byte aligned, so a slot whose width is a multiple of 16 `u32`s starts on
//! a cache line. Element types whose all-zero bytes are a valid value (atomics) are
//! allocated zeroed, which the allocator satisfies with untouched pages: a segment costs
//! memory only as its slots are written (see [`Segment`]).

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32};

use common::mem::HUGE_PAGE;

const FIRST_BITS: u32 = 6;
/// Enough segments to address every `u32` slot.
pub(crate) const SEGMENTS: usize = 33 - FIRST_BITS as usize;
const ALIGN: usize = 64;

/// An element type a slab can hold.
///
/// # Safety
/// When `ZEROED` is true, the all-zero bit pattern must be a valid value of `Self`.
pub(crate) unsafe trait Slot: Send + Sync + Sized {
    const ZEROED: bool;
    /// A fresh element (used when `ZEROED` is false).
    fn fresh() -> Self;
}

// SAFETY: zero is a valid AtomicU32 / AtomicU8.
unsafe impl Slot for AtomicU32 {
    const ZEROED: bool = true;
    fn fresh() -> Self {
        AtomicU32::new(0)
    }
}

// SAFETY: as above.
unsafe impl Slot for AtomicU8 {
    const ZEROED: bool = true;
    fn fresh() -> Self {
        AtomicU8::new(0)
    }
}

/// Segment `s`'s slot count.
fn segment_slots(segment: usize) -> usize {
    1usize << (segment as u32 + FIRST_BITS)
}

/// The segment and the slot's position in it.
#[inline]
fn locate(slot: u32) -> (usize, usize) {
    let x = u64::from(slot) + (1u64 << FIRST_BITS);
    let top = 63 - x.leading_zeros();
    ((top - FIRST_BITS) as usize, (x - (1u64 << top)) as usize)
}

/// One aligned allocation of `len` elements.
///
/// The memory comes from `calloc` (`alloc_zeroed` at the allocator's minimum alignment),
/// over-allocated by the alignment and aligned by hand: an allocation that asks the
/// allocator itself for 64-byte alignment is zeroed by an explicit memset, which touches
/// (commits) every page at once — 369 MiB for the last segment of a million-node graph
/// before its first slot is used. `calloc` of a large block maps fresh pages the kernel
/// zeroes as they are first written. Segments of [`HUGE`] or more are aligned to 2 MiB and
/// advised as huge pages (Linux), which makes their first writes and the searches' random
/// reads cheaper (far fewer page faults and TLB misses).
struct Segment<T> {
    /// The allocation as the allocator returned it.
    base: NonNull<u8>,
    /// `base`'s layout, to free it with.
    layout: Layout,
    /// `base` rounded up to the alignment: element 0.
    ptr: NonNull<T>,
    len: usize,
}

/// Segments from this size on are huge-page aligned and advised.
const HUGE: usize = 4 << 20;

// SAFETY: a segment owns its elements like a Box<[T]>; T is Send + Sync (Slot's bound).
unsafe impl<T: Slot> Send for Segment<T> {}
unsafe impl<T: Slot> Sync for Segment<T> {}

impl<T: Slot> Segment<T> {
    /// The bytes of `len` elements and their alignment.
    fn size_align(len: usize) -> (usize, usize) {
        let size = len
            .checked_mul(size_of::<T>())
            .expect("a segment's size fits in usize (at most 2^32 slots of a bounded width)")
            .max(1);
        let align = if size >= HUGE { HUGE_PAGE } else { ALIGN };
        (size, align.max(align_of::<T>()))
    }

    /// The layout actually allocated: room to align by hand, at the minimum alignment.
    fn base_layout(len: usize) -> Layout {
        let (size, align) = Self::size_align(len);
        Layout::from_size_align(size + align, 16).expect("a valid segment layout")
    }

    fn new(len: usize) -> Segment<T> {
        let (size, align) = Self::size_align(len);
        let layout = Self::base_layout(len);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe {
            if T::ZEROED {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            }
        };
        let Some(base) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        let skip = base.as_ptr().align_offset(align);
        // SAFETY: skip < align, and the allocation has `align` bytes to spare.
        let ptr = unsafe { base.add(skip) }.cast::<T>();
        if size >= HUGE {
            common::mem::advise_huge_pages(ptr.as_ptr().cast(), size);
        }
        if !T::ZEROED {
            for i in 0..len {
                // SAFETY: i < len, inside the allocation.
                unsafe { ptr.as_ptr().add(i).write(T::fresh()) };
            }
        }
        Segment {
            base,
            layout,
            ptr,
            len,
        }
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: `len` initialised elements live at `ptr` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Segment<T> {
    fn drop(&mut self) {
        // SAFETY: the elements were initialised in `new` and are dropped once, then the
        // memory is freed with the layout it was allocated with.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            std::alloc::dealloc(self.base.as_ptr(), self.layout);
        }
    }
}

/// Append-only storage of `width` elements per slot; see the module doc.
pub(crate) struct Slab<T: Slot> {
    width: usize,
    segments: [OnceLock<Segment<T>>; SEGMENTS],
}

impl<T: Slot> Slab<T> {
    pub(crate) fn new(width: usize) -> Slab<T> {
        Slab {
            width: width.max(1),
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Allocates the segment holding `slot` if it is not there yet.
    pub(crate) fn ensure(&self, slot: u32) {
        let (segment, _) = locate(slot);
        self.segments[segment].get_or_init(|| Segment::new(segment_slots(segment) * self.width));
    }

    /// The `width` elements of `slot`, or an empty slice when its segment was never
    /// allocated (only a bug could ask for such a slot; it reads as empty, not as UB).
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> &[T] {
        let (segment, offset) = locate(slot);
        match self.segments[segment].get() {
            Some(s) => &s.as_slice()[offset * self.width..(offset + 1) * self.width],
            None => &[],
        }
    }

    /// Bytes allocated (for memory accounting).
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.segments
            .iter()
            .filter_map(|s| s.get())
            .map(|s| s.len * size_of::<T>())
            .sum()
    }

    /// Bytes one slot takes.
    pub(crate) fn slot_bytes(&self) -> usize {
        self.width * size_of::<T>()
    }
}

/// A slab of default-constructed values, one per slot, for types that are not zeroable.
pub(crate) struct BoxSlab<T> {
    segments: [OnceLock<Box<[T]>>; SEGMENTS],
}

impl<T: Default> BoxSlab<T> {
    pub(crate) fn new() -> BoxSlab<T> {
        BoxSlab {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    pub(crate) fn ensure(&self, slot: u32) {
        let (segment, _) = locate(slot);
        self.segments[segment]
            .get_or_init(|| (0..segment_slots(segment)).map(|_| T::default()).collect());
    }

    /// The value of `slot`, `None` when its segment was never allocated.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        let (segment, offset) = locate(slot);
        self.segments[segment].get().map(|s| &s[offset])
    }

    pub(crate) fn allocated_bytes(&self) -> usize {
        self.segments
            .iter()
            .filter_map(|s| s.get())
            .map(|s| s.len() * size_of::<T>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn slots_map_to_disjoint_places_across_segment_boundaries() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        assert_eq!(locate(u32::MAX).0, SEGMENTS - 1);
        let slab: Slab<AtomicU32> = Slab::new(3);
        for slot in 0..500u32 {
            slab.ensure(slot);
            for (i, word) in slab.get(slot).iter().enumerate() {
                word.store(slot * 3 + i as u32, Ordering::Relaxed);
            }
        }
        for slot in 0..500u32 {
            let got: Vec<u32> = slab
                .get(slot)
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .collect();
            assert_eq!(got, [slot * 3, slot * 3 + 1, slot * 3 + 2]);
        }
        assert!(slab.get(100_000).is_empty(), "unallocated reads as empty");
        assert_eq!(slab.get(0).as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn box_slab_defaults_and_keeps_values() {
        let slab: BoxSlab<OnceLock<String>> = BoxSlab::new();
        assert!(slab.get(5).is_none());
        slab.ensure(70);
        assert!(
            slab.get(5).is_none(),
            "segment 0 is not allocated by slot 70"
        );
        slab.ensure(5);
        slab.get(5).unwrap().set("five".into()).unwrap();
        assert_eq!(slab.get(5).unwrap().get().unwrap(), "five");
        assert!(slab.get(70).unwrap().get().is_none());
    }
}
