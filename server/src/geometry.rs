//! Minimal WKB / EWKB reading: the bounding box of a geometry, and a polygon footprint writer for demo data.
//!
//! Accepts both byte orders, ISO (`1000`/`2000`/`3000` offsets) and EWKB (`Z`/`M`/`SRID` flag bits)
//! dimension encodings, and all OGC simple-feature types.

use crate::store::BBox;

const EWKB_Z: u32 = 0x8000_0000;
const EWKB_M: u32 = 0x4000_0000;
const EWKB_SRID: u32 = 0x2000_0000;
const MAX_DEPTH: usize = 32;

/// Why a geometry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WkbError {
    /// The bytes ended early.
    #[error("truncated WKB")]
    Truncated,
    /// Byte-order marker other than 0 or 1.
    #[error("invalid WKB byte order {0}")]
    ByteOrder(u8),
    /// Unknown geometry type code.
    #[error("unsupported WKB geometry type {0}")]
    GeometryType(u32),
    /// Bytes left after the geometry.
    #[error("trailing bytes after WKB geometry")]
    Trailing,
    /// NaN or infinite coordinates, or nesting too deep.
    #[error("invalid WKB geometry: {0}")]
    Invalid(&'static str),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        let end = self.pos.checked_add(N).ok_or(WkbError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(WkbError::Truncated)?;
        self.pos = end;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
    fn u32(&mut self, le: bool) -> Result<u32, WkbError> {
        let b = self.take::<4>()?;
        Ok(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64(&mut self, le: bool) -> Result<f64, WkbError> {
        let b = self.take::<8>()?;
        Ok(if le {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
    fn count(&mut self, le: bool, min_item_bytes: usize) -> Result<usize, WkbError> {
        let n = self.u32(le)? as usize;
        // Reject counts the remaining bytes cannot possibly hold (avoids huge loops on garbage).
        if n.saturating_mul(min_item_bytes) > self.data.len().saturating_sub(self.pos) {
            return Err(WkbError::Truncated);
        }
        Ok(n)
    }
}

struct Acc {
    bbox: Option<BBox>,
}

impl Acc {
    fn add(&mut self, x: f64, y: f64) -> Result<(), WkbError> {
        if x.is_nan() && y.is_nan() {
            return Ok(()); // empty point
        }
        if !x.is_finite() || !y.is_finite() {
            return Err(WkbError::Invalid("non-finite coordinate"));
        }
        self.bbox = Some(match self.bbox {
            None => [x, y, x, y],
            Some([a, b, c, d]) => [a.min(x), b.min(y), c.max(x), d.max(y)],
        });
        Ok(())
    }
}

fn read_geometry(r: &mut Reader<'_>, acc: &mut Acc, depth: usize) -> Result<(), WkbError> {
    if depth > MAX_DEPTH {
        return Err(WkbError::Invalid("nesting too deep"));
    }
    let order = r.take::<1>()?[0];
    let le = match order {
        0 => false,
        1 => true,
        o => return Err(WkbError::ByteOrder(o)),
    };
    let raw = r.u32(le)?;
    let mut dims = 2usize;
    if raw & EWKB_Z != 0 {
        dims += 1;
    }
    if raw & EWKB_M != 0 {
        dims += 1;
    }
    if raw & EWKB_SRID != 0 {
        r.u32(le)?;
    }
    let code = raw & 0x0FFF_FFFF;
    let base = code % 1000;
    dims += match code / 1000 {
        0 => 0,
        1 | 2 => 1,
        3 => 2,
        _ => return Err(WkbError::GeometryType(raw)),
    };
    let point_bytes = 8 * dims;
    let point = |r: &mut Reader<'_>, acc: &mut Acc| -> Result<(), WkbError> {
        let x = r.f64(le)?;
        let y = r.f64(le)?;
        for _ in 2..dims {
            r.f64(le)?;
        }
        acc.add(x, y)
    };
    match base {
        1 => point(r, acc),
        2 => {
            for _ in 0..r.count(le, point_bytes)? {
                point(r, acc)?;
            }
            Ok(())
        }
        3 => {
            for _ in 0..r.count(le, 4)? {
                for _ in 0..r.count(le, point_bytes)? {
                    point(r, acc)?;
                }
            }
            Ok(())
        }
        4..=7 => {
            for _ in 0..r.count(le, 5)? {
                read_geometry(r, acc, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(WkbError::GeometryType(raw)),
    }
}

/// The bounding box `(min_x, min_y, max_x, max_y)` of a WKB/EWKB geometry; `None` for empty geometries.
pub fn wkb_bbox(data: &[u8]) -> Result<Option<BBox>, WkbError> {
    let mut r = Reader { data, pos: 0 };
    let mut acc = Acc { bbox: None };
    read_geometry(&mut r, &mut acc, 0)?;
    if r.pos != data.len() {
        return Err(WkbError::Trailing);
    }
    Ok(acc.bbox)
}

/// Little-endian EWKB (SRID 4326) of a single-ring polygon; the ring is closed automatically.
pub fn ewkb_polygon(ring: &[(f64, f64)]) -> Vec<u8> {
    let closed = ring.first().is_some_and(|f| Some(f) == ring.last());
    let n = ring.len() + usize::from(!closed && !ring.is_empty());
    let mut out = Vec::with_capacity(17 + n * 16);
    out.push(1);
    out.extend_from_slice(&(3u32 | EWKB_SRID).to_le_bytes());
    out.extend_from_slice(&4326u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for (x, y) in ring.iter().chain(ring.first().filter(|_| !closed)) {
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_round_trip() {
        let wkb = ewkb_polygon(&[(1.0, 2.0), (3.0, 2.0), (3.0, 5.0)]);
        assert_eq!(&wkb[..5], &[1, 3, 0, 0, 0x20]);
        assert_eq!(wkb_bbox(&wkb), Ok(Some([1.0, 2.0, 3.0, 5.0])));
    }

    #[test]
    fn plain_big_endian_point() {
        let mut wkb = vec![0, 0, 0, 0, 1];
        wkb.extend_from_slice(&7.5f64.to_be_bytes());
        wkb.extend_from_slice(&(-1.0f64).to_be_bytes());
        assert_eq!(wkb_bbox(&wkb), Ok(Some([7.5, -1.0, 7.5, -1.0])));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(wkb_bbox(&[]).is_err());
        assert!(wkb_bbox(&[1, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(wkb_bbox(&[9]).is_err());
        let mut wkb = ewkb_polygon(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]);
        wkb.push(0);
        assert_eq!(wkb_bbox(&wkb), Err(WkbError::Trailing));
    }
}
