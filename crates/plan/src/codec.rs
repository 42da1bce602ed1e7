//! The plan file's byte layout.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "HETCPLAN"
//!      8     4  format version (u32 LE)
//!     12     4  header length (u32 LE, 64)
//!     16     8  metadata offset (u64 LE)
//!     24     8  metadata length
//!     32     8  weights offset (64-byte aligned)
//!     40     8  weights length
//!     48     4  CRC-32 of the metadata
//!     52     4  CRC-32 of the weights
//!     56     8  reserved, zero
//!     64        metadata (postcard), zero padding, weights
//! ```
//!
//! Weights sit in one raw, 64-byte-aligned section so that the runtime reads them in place
//! from a byte slice or a memory map, without copying.

use crate::validate::validate;
use crate::{PlanError, PlanMeta};
use std::ops::Range;

pub const MAGIC: [u8; 8] = *b"HETCPLAN";
/// Bump whenever the layout or [`PlanMeta`]'s encoding changes.
pub const FORMAT_VERSION: u32 = 2;
pub const HEADER_LEN: usize = 64;
/// Alignment of the weight section and of every weight in it.
pub const WEIGHT_ALIGN: usize = 64;

/// Rounds `n` up to the weight alignment.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(WEIGHT_ALIGN as u64) * WEIGHT_ALIGN as u64
}

/// Serializes a plan. `weights` is the weight section; `meta`'s weight offsets index into it.
pub fn encode(meta: &PlanMeta, weights: &[u8]) -> Result<Vec<u8>, PlanError> {
    validate(meta, weights.len() as u64)?;
    let meta_bytes = postcard::to_stdvec(meta).map_err(|e| PlanError::Decode(e.to_string()))?;
    let meta_offset = HEADER_LEN as u64;
    let weights_offset = align_up(meta_offset + meta_bytes.len() as u64);
    let mut out = Vec::with_capacity(weights_offset as usize + weights.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.extend_from_slice(&meta_offset.to_le_bytes());
    out.extend_from_slice(&(meta_bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&weights_offset.to_le_bytes());
    out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&meta_bytes).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(weights).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&meta_bytes);
    out.resize(weights_offset as usize, 0);
    out.extend_from_slice(weights);
    Ok(out)
}

/// A decoded, validated plan: its metadata and where its weights are in the file.
#[derive(Debug, Clone)]
pub struct DecodedPlan {
    pub meta: PlanMeta,
    /// Byte range of the weight section within the file.
    pub weights: Range<usize>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("header is 64 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("header is 64 bytes"))
}

/// Parses and validates a plan file. Checks the magic, version, every section bound, both
/// checksums and every index and offset in the metadata (see [`validate`]).
pub fn decode(bytes: &[u8]) -> Result<DecodedPlan, PlanError> {
    if bytes.len() < HEADER_LEN {
        if bytes.len() >= 8 && bytes[..8] != MAGIC {
            return Err(PlanError::BadMagic);
        }
        return Err(PlanError::Truncated(format!("{} bytes, the header alone is {HEADER_LEN}", bytes.len())));
    }
    if bytes[..8] != MAGIC {
        return Err(PlanError::BadMagic);
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(PlanError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    if u32_at(bytes, 12) as usize != HEADER_LEN || bytes[56..64] != [0; 8] {
        return Err(crate::error::invalid("malformed header"));
    }
    let section = |offset: u64, len: u64, what: &str| -> Result<Range<usize>, PlanError> {
        let end = offset.checked_add(len).ok_or_else(|| crate::error::invalid(format!("{what} section overflows")))?;
        if end > bytes.len() as u64 {
            return Err(PlanError::Truncated(format!("{what} section ends at byte {end}, file has {}", bytes.len())));
        }
        Ok(offset as usize..end as usize)
    };
    let meta_range = section(u64_at(bytes, 16), u64_at(bytes, 24), "metadata")?;
    let weights_range = section(u64_at(bytes, 32), u64_at(bytes, 40), "weights")?;
    if meta_range.start < HEADER_LEN || weights_range.start < meta_range.end {
        return Err(crate::error::invalid("sections overlap the header or each other"));
    }
    if weights_range.start % WEIGHT_ALIGN != 0 {
        return Err(crate::error::invalid("weight section is not 64-byte aligned"));
    }
    let meta_bytes = &bytes[meta_range];
    if crc32fast::hash(meta_bytes) != u32_at(bytes, 48) {
        return Err(PlanError::Checksum("metadata"));
    }
    if crc32fast::hash(&bytes[weights_range.clone()]) != u32_at(bytes, 52) {
        return Err(PlanError::Checksum("weights"));
    }
    let (meta, rest): (PlanMeta, &[u8]) =
        postcard::take_from_bytes(meta_bytes).map_err(|e| PlanError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PlanError::Decode(format!("{} trailing bytes after the metadata", rest.len())));
    }
    validate(&meta, weights_range.len() as u64)?;
    Ok(DecodedPlan { meta, weights: weights_range })
}
