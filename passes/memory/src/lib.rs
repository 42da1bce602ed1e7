//! Lifetime-based memory allocation.
//!
//! Every buffer has a size and a live range `[first, last]` of execution steps. Buffers whose
//! ranges overlap must not share bytes; the others may. [`allocate`] places each buffer at an
//! offset in one arena using greedy-by-size best fit (largest buffers first, each at the lowest
//! offset that fits between the buffers it overlaps in time), the strategy TFLite's arena
//! planner uses, under a few orderings, keeping the smallest arena. In-place reuse
//! is expressed by the caller merging an op's output into its dying input before allocation.

/// A buffer to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub size: u64,
    /// First step that writes it.
    pub first: usize,
    /// Last step that reads it (inclusive).
    pub last: usize,
}

/// The result: one offset per buffer, the arena size and the figures to judge it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub offsets: Vec<u64>,
    pub arena_bytes: u64,
    /// Sum of all buffer sizes: no sharing at all.
    pub naive_bytes: u64,
    /// Most bytes live at any one step: no allocation can use less.
    pub lower_bound_bytes: u64,
}

/// Alignment of every offset, so that any element type and SIMD loads are aligned.
pub const ALIGN: u64 = 64;

fn align(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// Orders tried by [`allocate`]; each is a heuristic that wins on some graphs.
const ORDERS: [fn(&Buffer, &Buffer) -> std::cmp::Ordering; 4] = [
    // Largest first (TFLite's greedy by size).
    |a, b| b.size.cmp(&a.size).then(a.first.cmp(&b.first)),
    // Longest-lived first, then largest.
    |a, b| (b.last - b.first).cmp(&(a.last - a.first)).then(b.size.cmp(&a.size)),
    // Largest area in the (time, bytes) plane first.
    |a, b| {
        let area = |x: &Buffer| x.size as u128 * (x.last - x.first + 1) as u128;
        area(b).cmp(&area(a)).then(b.size.cmp(&a.size))
    },
    // Execution order: like a stack allocator.
    |a, b| a.first.cmp(&b.first).then(b.size.cmp(&a.size)),
];

/// Places `buffers` in one arena: greedy best fit under several orders, keeping the smallest.
pub fn allocate(buffers: &[Buffer]) -> Allocation {
    let mut best: Option<(Vec<u64>, u64)> = None;
    for order_by in ORDERS {
        let mut order: Vec<usize> = (0..buffers.len()).collect();
        order.sort_by(|&a, &b| order_by(&buffers[a], &buffers[b]).then(a.cmp(&b)));
        let (offsets, arena) = place(buffers, &order);
        if best.as_ref().is_none_or(|(_, a)| arena < *a) {
            best = Some((offsets, arena));
        }
    }
    let (offsets, arena_bytes) = best.unwrap_or_default();
    Allocation {
        offsets,
        arena_bytes,
        naive_bytes: buffers.iter().map(|b| align(b.size)).sum(),
        lower_bound_bytes: lower_bound(buffers),
    }
}

/// Like [`allocate`], with every offset a multiple of `align` (a power of two of at least
/// [`ALIGN`]), for memories whose bindings need it (the GPU arena: 256 bytes). Sizes are
/// rounded up to `align`; the greedy placement puts every buffer at 0 or at the end of another,
/// so offsets stay multiples of it.
pub fn allocate_aligned(buffers: &[Buffer], align: u64) -> Allocation {
    assert!(align.is_power_of_two() && align >= ALIGN, "alignment {align}");
    let rounded: Vec<Buffer> = buffers.iter().map(|b| Buffer { size: b.size.div_ceil(align) * align, ..*b }).collect();
    let a = allocate(&rounded);
    debug_assert!(a.offsets.iter().all(|o| o % align == 0));
    a
}

/// Greedy best fit in the given order: each buffer goes into the smallest gap between the
/// already placed buffers it overlaps in time, or after them.
fn place(buffers: &[Buffer], order: &[usize]) -> (Vec<u64>, u64) {
    let mut offsets = vec![0u64; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut arena = 0u64;
    for &i in order {
        let b = buffers[i];
        let size = align(b.size);
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .filter(|&&j| buffers[j].first <= b.last && b.first <= buffers[j].last)
            .map(|&j| (offsets[j], offsets[j] + align(buffers[j].size)))
            .collect();
        busy.sort_unstable();
        let mut best: Option<(u64, u64)> = None; // (gap size, offset)
        let mut cursor = 0u64;
        for &(start, end) in &busy {
            if start > cursor {
                let gap = start - cursor;
                if gap >= size && best.is_none_or(|(g, _)| gap < g) {
                    best = Some((gap, cursor));
                }
            }
            cursor = cursor.max(end);
        }
        let offset = best.map_or(cursor, |(_, o)| o);
        offsets[i] = offset;
        arena = arena.max(offset + size);
        placed.push(i);
    }
    (offsets, arena)
}

/// Most bytes live at once over all steps.
pub fn lower_bound(buffers: &[Buffer]) -> u64 {
    let steps = buffers.iter().map(|b| b.last + 2).max().unwrap_or(0);
    let mut delta = vec![0i128; steps];
    for b in buffers {
        delta[b.first] += align(b.size) as i128;
        delta[b.last + 1] -= align(b.size) as i128;
    }
    let (mut live, mut peak) = (0i128, 0i128);
    for d in delta {
        live += d;
        peak = peak.max(live);
    }
    peak as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn overlaps(a: &Buffer, b: &Buffer) -> bool {
        a.first <= b.last && b.first <= a.last
    }

    #[test]
    fn chain_reuses_memory() {
        // a -> b -> c -> d, each read only by the next step: two buffers suffice.
        let bufs: Vec<Buffer> = (0..4).map(|i| Buffer { size: 1000, first: i, last: i + 1 }).collect();
        let a = allocate(&bufs);
        assert_eq!(a.lower_bound_bytes, 2 * 1024);
        assert_eq!(a.arena_bytes, 2 * 1024);
        assert_eq!(a.naive_bytes, 4 * 1024);
    }

    proptest! {
        /// No two buffers that are live together share a byte, every offset is aligned, and
        /// the arena is never below the lower bound.
        #[test]
        fn allocation_is_valid(raw in prop::collection::vec((1u64..5000, 0usize..30, 0usize..10), 1..60)) {
            let bufs: Vec<Buffer> = raw.iter().map(|&(size, first, len)| Buffer { size, first, last: first + len }).collect();
            let a = allocate(&bufs);
            for i in 0..bufs.len() {
                prop_assert_eq!(a.offsets[i] % ALIGN, 0);
                prop_assert!(a.offsets[i] + bufs[i].size <= a.arena_bytes);
                for j in i + 1..bufs.len() {
                    if overlaps(&bufs[i], &bufs[j]) {
                        let (si, sj) = (a.offsets[i], a.offsets[j]);
                        prop_assert!(si + bufs[i].size <= sj || sj + bufs[j].size <= si, "{} and {} overlap", i, j);
                    }
                }
            }
            prop_assert!(a.arena_bytes >= a.lower_bound_bytes);
        }
    }
}
