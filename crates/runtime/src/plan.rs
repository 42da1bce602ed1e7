//! Loading plan files: from a byte slice (borrowed in place when aligned) or a memory map.

use crate::RuntimeError;
use hetc_plan::{DecodedPlan, PlanMeta};
use std::ops::Range;
use std::path::Path;

enum Bytes<'a> {
    Borrowed(&'a [u8]),
    /// A copy in 8-byte-aligned storage, for callers whose slice is misaligned.
    Owned(Vec<u64>, usize),
    Mapped(memmap2::Mmap),
}

impl Bytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Owned(v, len) => &bytemuck::cast_slice(v)[..*len],
            Bytes::Mapped(m) => m,
        }
    }
}

/// A validated plan. Weights are read in place from the bytes it was loaded from.
pub struct Plan<'a> {
    bytes: Bytes<'a>,
    meta: PlanMeta,
    weights: Range<usize>,
}

impl<'a> Plan<'a> {
    /// Validates `bytes` as a plan and borrows them. If the slice is not 8-byte aligned (so
    /// weights could not be read as numbers in place) it is copied once into aligned memory.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Plan<'a>, RuntimeError> {
        let DecodedPlan { meta, weights } = hetc_plan::decode(bytes)?;
        let bytes = if (bytes.as_ptr() as usize).is_multiple_of(8) {
            Bytes::Borrowed(bytes)
        } else {
            let mut v = vec![0u64; bytes.len().div_ceil(8)];
            bytemuck::cast_slice_mut::<u64, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
            Bytes::Owned(v, bytes.len())
        };
        Ok(Plan { bytes, meta, weights })
    }

    pub fn meta(&self) -> &PlanMeta {
        &self.meta
    }

    /// The weight section.
    pub fn weights(&self) -> &[u8] {
        &self.bytes.as_slice()[self.weights.clone()]
    }
}

impl Plan<'static> {
    /// Memory-maps a plan file and validates it; weights are read from the mapping.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Plan<'static>, RuntimeError> {
        let path = path.as_ref();
        let io = |source| RuntimeError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Err(hetc_plan::PlanError::Truncated("the file is empty".into()).into());
        }
        // SAFETY: the mapping is read-only and private to this process. Like every mmap-based
        // loader, this assumes the file is not truncated or rewritten while mapped; a plan file
        // is an immutable build artifact. Contents are validated before use.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let DecodedPlan { meta, weights } = hetc_plan::decode(&map)?;
        Ok(Plan { bytes: Bytes::Mapped(map), meta, weights })
    }
}
