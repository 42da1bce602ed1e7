//! Reading and writing NumPy `.npy` files (version 1 and 2 headers, C order).

use anyhow::{Context, Result, bail};
use std::path::Path;

/// Reads an `.npy` file as `f32` (float64 and float16 are converted; integers are refused).
pub fn read(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes).with_context(|| format!("{} is not a usable .npy file", path.display()))
}

fn parse(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("bad magic");
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into()?) as usize, 12),
        v => bail!("unsupported version {v}"),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).context("truncated header")?;
    let header = std::str::from_utf8(&bytes[start..end]).context("header is not text")?;
    let field = |key: &str| -> Result<&str> {
        let at = header.find(&format!("'{key}'")).with_context(|| format!("header has no {key}"))?;
        Ok(header[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start())
    };
    if field("fortran_order")?.starts_with("True") {
        bail!("Fortran-ordered arrays are not supported");
    }
    let descr = field("descr")?;
    let descr = descr.trim_start_matches('\'').split('\'').next().unwrap_or("");
    let shape_text = field("shape")?;
    let close = shape_text.find(')').context("malformed shape")?;
    let shape: Vec<usize> = shape_text[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context("malformed shape"))
        .collect::<Result<_>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).context("shape overflows")?;
    let data = &bytes[end..];
    let values: Vec<f32> = match descr {
        "<f4" | "|f4" => chunks::<4>(data, n)?.map(f32::from_le_bytes).collect(),
        "<f8" => chunks::<8>(data, n)?.map(|b| f64::from_le_bytes(b) as f32).collect(),
        "<f2" => chunks::<2>(data, n)?.map(|b| hetc_ir::f16_to_f32(u16::from_le_bytes(b))).collect(),
        other => bail!("element type {other} is not a float type"),
    };
    Ok((shape, values))
}

fn chunks<const N: usize>(data: &[u8], n: usize) -> Result<impl Iterator<Item = [u8; N]> + '_> {
    if data.len() < n * N {
        bail!("data holds {} bytes, the shape needs {}", data.len(), n * N);
    }
    Ok(data[..n * N].chunks_exact(N).map(|c| c.try_into().expect("exact chunk")))
}

/// Writes an `f32` array as `.npy` version 1.
pub fn write(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending the header with a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("hetc-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        write(&path, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]).unwrap();
        assert_eq!(read(&path).unwrap(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
        write(&path, &[4], &[1.0; 4]).unwrap();
        assert_eq!(read(&path).unwrap().0, vec![4]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"\x93NUMPY\x01\x00\xff\x00{").is_err());
        assert!(parse(b"hello").is_err());
    }
}
