//! WKB / EWKB reading (bounding boxes, and full geometries for exact spatial filters), a polygon footprint
//! writer for demo data, and [`SpatialPredicate`]: the exact `intersects` / `contains` tests of a query's
//! spatial filter in the cartesian (lon/lat plane) or spherical (great-circle edges) coordinate system.
//!
//! Accepts both byte orders, ISO (`1000`/`2000`/`3000` offsets) and EWKB (`Z`/`M`/`SRID` flag bits)
//! dimension encodings, and all OGC simple-feature types (Z and M values are ignored).
//!
//! **Spherical evaluation.** A spherical filter is evaluated exactly by a gnomonic projection centred on the
//! query geometry: that projection maps great circles to straight lines, so planar `intersects` /
//! `contains` of the projected shapes are the spherical predicates with great-circle edges, and geometries
//! crossing the antimeridian need no cutting (a footprint from 179.5° to 180.6° or to -179.4° is the same
//! shape). Datapoint rings are clipped to the projection's hemisphere first. A query geometry that does not
//! fit in a cap of 85° around its centre (larger than a hemisphere, in practice) is evaluated in the
//! cartesian plane instead.

use geo::{Contains, Intersects};
use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};

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
    let (le, dims, base) = header(r)?;
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
        _ => Err(WkbError::GeometryType(base)),
    }
}

/// Byte order, coordinate dimension and base type code of a WKB geometry header.
fn header(r: &mut Reader<'_>) -> Result<(bool, usize, u32), WkbError> {
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
    dims += match code / 1000 {
        0 => 0,
        1 | 2 => 1,
        3 => 2,
        _ => return Err(WkbError::GeometryType(raw)),
    };
    match code % 1000 {
        base @ 1..=7 => Ok((le, dims, base)),
        _ => Err(WkbError::GeometryType(raw)),
    }
}

fn coord(r: &mut Reader<'_>, le: bool, dims: usize) -> Result<Option<Coord<f64>>, WkbError> {
    let x = r.f64(le)?;
    let y = r.f64(le)?;
    for _ in 2..dims {
        r.f64(le)?;
    }
    if x.is_nan() && y.is_nan() {
        return Ok(None); // empty point
    }
    if !x.is_finite() || !y.is_finite() {
        return Err(WkbError::Invalid("non-finite coordinate"));
    }
    Ok(Some(Coord { x, y }))
}

fn line(r: &mut Reader<'_>, le: bool, dims: usize) -> Result<LineString<f64>, WkbError> {
    let n = r.count(le, 8 * dims)?;
    let mut coords = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(c) = coord(r, le, dims)? {
            coords.push(c);
        }
    }
    Ok(LineString::new(coords))
}

fn polygon(r: &mut Reader<'_>, le: bool, dims: usize) -> Result<Polygon<f64>, WkbError> {
    let n = r.count(le, 4)?;
    let mut rings = Vec::with_capacity(n);
    for _ in 0..n {
        rings.push(line(r, le, dims)?);
    }
    let mut rings = rings.into_iter();
    let exterior = rings.next().unwrap_or_else(|| LineString::new(Vec::new()));
    Ok(Polygon::new(exterior, rings.collect()))
}

fn read_shape(r: &mut Reader<'_>, depth: usize) -> Result<Geometry<f64>, WkbError> {
    if depth > MAX_DEPTH {
        return Err(WkbError::Invalid("nesting too deep"));
    }
    let (le, dims, base) = header(r)?;
    Ok(match base {
        1 => match coord(r, le, dims)? {
            Some(c) => Geometry::Point(Point(c)),
            None => Geometry::MultiPoint(MultiPoint::new(Vec::new())),
        },
        2 => Geometry::LineString(line(r, le, dims)?),
        3 => Geometry::Polygon(polygon(r, le, dims)?),
        _ => {
            let n = r.count(le, 5)?;
            let mut parts = Vec::with_capacity(n);
            for _ in 0..n {
                parts.push(read_shape(r, depth + 1)?);
            }
            let mismatch = || WkbError::Invalid("collection member of the wrong type");
            match base {
                4 => Geometry::MultiPoint(MultiPoint::new(
                    parts
                        .into_iter()
                        .filter_map(|g| match g {
                            Geometry::Point(p) => Some(Ok(p)),
                            Geometry::MultiPoint(m) if m.0.is_empty() => None,
                            _ => Some(Err(mismatch())),
                        })
                        .collect::<Result<_, _>>()?,
                )),
                5 => Geometry::MultiLineString(MultiLineString::new(
                    parts
                        .into_iter()
                        .map(|g| match g {
                            Geometry::LineString(l) => Ok(l),
                            _ => Err(mismatch()),
                        })
                        .collect::<Result<_, _>>()?,
                )),
                6 => Geometry::MultiPolygon(MultiPolygon::new(
                    parts
                        .into_iter()
                        .map(|g| match g {
                            Geometry::Polygon(p) => Ok(p),
                            _ => Err(mismatch()),
                        })
                        .collect::<Result<_, _>>()?,
                )),
                _ => Geometry::GeometryCollection(GeometryCollection::new_from(parts)),
            }
        }
    })
}

/// Reads a WKB/EWKB geometry completely (Z and M values dropped).
pub fn read_wkb(data: &[u8]) -> Result<Geometry<f64>, WkbError> {
    let mut r = Reader { data, pos: 0 };
    let g = read_shape(&mut r, 0)?;
    if r.pos != data.len() {
        return Err(WkbError::Trailing);
    }
    Ok(g)
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

/// How a spatial filter relates datapoint geometries to the filter geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialMode {
    /// The datapoint geometry intersects the filter geometry (`UNSPECIFIED`, `INTERSECTS`).
    Intersects,
    /// The filter geometry contains the datapoint geometry (`CONTAINS` / `FILTER_CONTAINS_GEOMETRY`, 2).
    FilterContainsGeometry,
    /// The datapoint geometry contains the filter geometry (`GEOMETRY_CONTAINS_FILTER`, 3).
    GeometryContainsFilter,
}

impl SpatialMode {
    /// The mode of a wire `SpatialFilterMode` number; `None` for unknown numbers.
    pub fn from_wire(mode: i32) -> Option<SpatialMode> {
        match mode {
            0 | 1 => Some(SpatialMode::Intersects),
            2 => Some(SpatialMode::FilterContainsGeometry),
            3 => Some(SpatialMode::GeometryContainsFilter),
            _ => None,
        }
    }
}

/// The coordinate system a spatial filter is evaluated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinateSystem {
    /// Straight edges in the lon/lat plane (`UNSPECIFIED`, `CARTESIAN`).
    Cartesian,
    /// Great-circle edges on the unit sphere (`SPHERICAL`).
    Spherical,
}

impl CoordinateSystem {
    /// The system of a wire `SpatialCoordinateSystem` number; `None` for unknown numbers.
    pub fn from_wire(system: i32) -> Option<CoordinateSystem> {
        match system {
            0 | 1 => Some(CoordinateSystem::Cartesian),
            2 => Some(CoordinateSystem::Spherical),
            _ => None,
        }
    }
}

/// Why a spatial filter was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpatialError {
    /// The geometry is not valid WKB.
    #[error(transparent)]
    Wkb(#[from] WkbError),
    /// The geometry has no coordinates.
    #[error("the geometry is empty")]
    Empty,
}

/// Latitude margin (degrees) of the spherical prefilter: how far a great-circle edge of a datapoint may bulge
/// beyond its vertices' latitude range (about 1° for a 10° edge at 80° latitude).
const SPHERICAL_LAT_MARGIN: f64 = 2.0;
/// Largest angle (degrees) between the centre of a spherical query geometry and its vertices.
const MAX_SPHERICAL_RADIUS: f64 = 85.0;
/// Hemisphere clipping threshold: points with a smaller dot product with the projection centre are cut.
const CLIP: f64 = 1e-6;

type Vec3 = [f64; 3];

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalise(a: Vec3) -> Option<Vec3> {
    let n = dot(a, a).sqrt();
    (n > 1e-12).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

fn unit(c: Coord<f64>) -> Vec3 {
    let (lon, lat) = (c.x.to_radians(), c.y.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// A gnomonic projection: centre `c` and the east/north tangent basis there.
#[derive(Debug, Clone, Copy)]
struct Gnomonic {
    c: Vec3,
    east: Vec3,
    north: Vec3,
}

impl Gnomonic {
    fn new(c: Vec3) -> Gnomonic {
        let east = normalise(cross([0.0, 0.0, 1.0], c))
            .or_else(|| normalise(cross([1.0, 0.0, 0.0], c)))
            .unwrap_or([0.0, 1.0, 0.0]);
        let north = cross(c, east);
        Gnomonic { c, east, north }
    }

    /// The plane point of a direction in the open hemisphere around the centre (any length).
    fn project(&self, p: Vec3) -> Coord<f64> {
        let d = dot(p, self.c);
        Coord {
            x: dot(p, self.east) / d,
            y: dot(p, self.north) / d,
        }
    }

    /// The chord point between `a` and `b` where the dot product with the centre is [`CLIP`].
    fn cut(&self, a: Vec3, b: Vec3) -> Vec3 {
        let (da, db) = (dot(a, self.c), dot(b, self.c));
        let t = (CLIP - da) / (db - da);
        [
            a[0] + t * (b[0] - a[0]),
            a[1] + t * (b[1] - a[1]),
            a[2] + t * (b[2] - a[2]),
        ]
    }

    fn inside(&self, p: Vec3) -> bool {
        dot(p, self.c) > CLIP
    }

    /// A closed ring clipped to the hemisphere and projected (Sutherland–Hodgman on the sphere).
    fn ring(&self, ring: &LineString<f64>) -> Option<LineString<f64>> {
        let mut pts: Vec<Vec3> = ring.0.iter().map(|c| unit(*c)).collect();
        if pts.len() > 1 && ring.0.first() == ring.0.last() {
            pts.pop();
        }
        let mut out = Vec::with_capacity(pts.len() + 2);
        for (i, cur) in pts.iter().enumerate() {
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            match (self.inside(prev), self.inside(*cur)) {
                (true, true) => out.push(self.project(*cur)),
                (true, false) => out.push(self.project(self.cut(prev, *cur))),
                (false, true) => {
                    out.push(self.project(self.cut(prev, *cur)));
                    out.push(self.project(*cur));
                }
                (false, false) => {}
            }
        }
        if out.len() < 3 {
            return None;
        }
        out.push(out[0]);
        Some(LineString::new(out))
    }

    /// An open line clipped to the hemisphere and projected: the pieces that remain.
    fn line(&self, line: &LineString<f64>) -> Vec<LineString<f64>> {
        let pts: Vec<Vec3> = line.0.iter().map(|c| unit(*c)).collect();
        let mut pieces = Vec::new();
        let mut current: Vec<Coord<f64>> = Vec::new();
        for (i, cur) in pts.iter().enumerate() {
            let cur_in = self.inside(*cur);
            if i > 0 {
                let prev = pts[i - 1];
                match (self.inside(prev), cur_in) {
                    (true, false) => {
                        current.push(self.project(self.cut(prev, *cur)));
                        pieces.push(LineString::new(std::mem::take(&mut current)));
                    }
                    (false, true) => current.push(self.project(self.cut(prev, *cur))),
                    _ => {}
                }
            }
            if cur_in {
                current.push(self.project(*cur));
            }
        }
        if !current.is_empty() {
            pieces.push(LineString::new(current));
        }
        pieces
    }

    fn polygon(&self, p: &Polygon<f64>) -> Option<Polygon<f64>> {
        let exterior = self.ring(p.exterior())?;
        let holes = p.interiors().iter().filter_map(|r| self.ring(r)).collect();
        Some(Polygon::new(exterior, holes))
    }

    /// The projected geometry; `None` when nothing of it lies in the hemisphere.
    fn geometry(&self, g: &Geometry<f64>) -> Option<Geometry<f64>> {
        let projected = match g {
            Geometry::Point(p) => {
                let u = unit(p.0);
                self.inside(u)
                    .then(|| Geometry::Point(Point(self.project(u))))?
            }
            Geometry::MultiPoint(m) => Geometry::MultiPoint(MultiPoint::new(
                m.0.iter()
                    .map(|p| unit(p.0))
                    .filter(|u| self.inside(*u))
                    .map(|u| Point(self.project(u)))
                    .collect(),
            )),
            Geometry::Line(l) => Geometry::MultiLineString(MultiLineString::new(
                self.line(&LineString::new(vec![l.start, l.end])),
            )),
            Geometry::LineString(l) => {
                Geometry::MultiLineString(MultiLineString::new(self.line(l)))
            }
            Geometry::MultiLineString(m) => Geometry::MultiLineString(MultiLineString::new(
                m.0.iter().flat_map(|l| self.line(l)).collect(),
            )),
            Geometry::Polygon(p) => Geometry::Polygon(self.polygon(p)?),
            Geometry::MultiPolygon(m) => Geometry::MultiPolygon(MultiPolygon::new(
                m.0.iter().filter_map(|p| self.polygon(p)).collect(),
            )),
            Geometry::Rect(r) => Geometry::Polygon(self.polygon(&r.to_polygon())?),
            Geometry::Triangle(t) => Geometry::Polygon(self.polygon(&t.to_polygon())?),
            Geometry::GeometryCollection(c) => Geometry::GeometryCollection(
                GeometryCollection::new_from(c.0.iter().filter_map(|g| self.geometry(g)).collect()),
            ),
        };
        (!is_empty(&projected)).then_some(projected)
    }
}

fn is_empty(g: &Geometry<f64>) -> bool {
    use geo::CoordsIter;
    g.coords_iter().next().is_none()
}

/// A query's spatial filter, ready to test datapoint geometries.
#[derive(Debug, Clone)]
pub struct SpatialPredicate {
    mode: SpatialMode,
    /// `Some` when evaluated on the sphere (through this projection).
    sphere: Option<Gnomonic>,
    /// The filter geometry, in the lon/lat plane or projected.
    query: Geometry<f64>,
    /// Conservative box for the storage prefilter, and whether rows must lie within it.
    prefilter: (BBox, bool),
}

impl SpatialPredicate {
    /// Reads the filter geometry (WKB/EWKB) and prepares it for `mode` in `system`.
    pub fn new(
        wkb: &[u8],
        mode: SpatialMode,
        system: CoordinateSystem,
    ) -> Result<SpatialPredicate, SpatialError> {
        let query = read_wkb(wkb)?;
        let bbox = wkb_bbox(wkb)?.ok_or(SpatialError::Empty)?;
        let planar = SpatialPredicate {
            mode,
            sphere: None,
            query: query.clone(),
            prefilter: (bbox, mode == SpatialMode::FilterContainsGeometry),
        };
        if system == CoordinateSystem::Cartesian {
            return Ok(planar);
        }
        use geo::CoordsIter;
        let units: Vec<Vec3> = query.coords_iter().map(unit).collect();
        let sum = units
            .iter()
            .fold([0.0; 3], |s, u| [s[0] + u[0], s[1] + u[1], s[2] + u[2]]);
        let Some(c) = normalise(sum) else {
            return Ok(planar);
        };
        let min_dot = units.iter().map(|u| dot(*u, c)).fold(1.0f64, f64::min);
        if min_dot < MAX_SPHERICAL_RADIUS.to_radians().cos() {
            return Ok(planar);
        }
        let projection = Gnomonic::new(c);
        let Some(projected) = projection.geometry(&query) else {
            return Ok(planar);
        };
        // Every point of the query lies in the cap of this radius around the centre (caps under 90° are
        // convex on the sphere); a datapoint meeting the query has a vertex latitude in this band, up to
        // the bulge of its own great-circle edges.
        let radius = min_dot.clamp(-1.0, 1.0).acos().to_degrees();
        let centre_lat = c[2].clamp(-1.0, 1.0).asin().to_degrees();
        let low = (centre_lat - radius - SPHERICAL_LAT_MARGIN).max(-90.0);
        let high = (centre_lat + radius + SPHERICAL_LAT_MARGIN).min(90.0);
        Ok(SpatialPredicate {
            mode,
            sphere: Some(projection),
            query: projected,
            prefilter: ([-f64::MAX, low, f64::MAX, high], false),
        })
    }

    /// A box rows must intersect (or, with `true`, lie within) to possibly match: a necessary condition
    /// the storage layer checks on its indexed bounding-box columns before anything is decoded.
    pub fn prefilter(&self) -> (BBox, bool) {
        self.prefilter
    }

    /// Whether a datapoint geometry (WKB/EWKB) matches. Unreadable geometries never match.
    pub fn matches(&self, wkb: &[u8]) -> bool {
        let Ok(geometry) = read_wkb(wkb) else {
            return false;
        };
        let geometry = match &self.sphere {
            None => geometry,
            Some(projection) => match projection.geometry(&geometry) {
                Some(g) => g,
                None => return false,
            },
        };
        match self.mode {
            SpatialMode::Intersects => self.query.intersects(&geometry),
            SpatialMode::FilterContainsGeometry => self.query.contains(&geometry),
            SpatialMode::GeometryContainsFilter => geometry.contains(&self.query),
        }
    }
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

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<u8> {
        ewkb_polygon(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    }

    fn predicate(wkb: &[u8], mode: SpatialMode, system: CoordinateSystem) -> SpatialPredicate {
        SpatialPredicate::new(wkb, mode, system).expect("valid filter")
    }

    #[test]
    fn full_geometries_read_back() {
        let g = read_wkb(&square(0.0, 0.0, 2.0, 1.0)).expect("polygon");
        let Geometry::Polygon(p) = g else {
            panic!("not a polygon: {g:?}")
        };
        assert_eq!(p.exterior().0.len(), 5);
        let mut point = vec![0, 0, 0, 0, 1];
        point.extend_from_slice(&7.5f64.to_be_bytes());
        point.extend_from_slice(&(-1.0f64).to_be_bytes());
        assert_eq!(read_wkb(&point), Ok(Geometry::Point(Point::new(7.5, -1.0))));
        assert!(read_wkb(b"junk").is_err());
        assert!(read_wkb(&[]).is_err());
    }

    #[test]
    fn cartesian_modes_are_exact() {
        let query = square(0.0, 0.0, 10.0, 10.0);
        let inside = square(2.0, 2.0, 3.0, 3.0);
        let straddling = square(9.0, 9.0, 11.0, 11.0);
        let outside = square(20.0, 20.0, 21.0, 21.0);
        // A diamond reaching into the query's corner, and a triangle whose bounding box overlaps the
        // corner while its shape stays outside (x + y >= 20.5 > 20 at the corner).
        let diamond = ewkb_polygon(&[(11.0, 10.5), (10.5, 11.0), (9.8, 10.5), (10.5, 8.0)]);
        let diamond_off = ewkb_polygon(&[(9.5, 11.0), (11.0, 9.5), (11.0, 11.0)]);
        let cart = CoordinateSystem::Cartesian;
        let i = predicate(&query, SpatialMode::Intersects, cart);
        assert!(i.matches(&inside) && i.matches(&straddling) && i.matches(&diamond));
        assert!(!i.matches(&outside) && !i.matches(&diamond_off));
        let c = predicate(&query, SpatialMode::FilterContainsGeometry, cart);
        assert!(c.matches(&inside) && !c.matches(&straddling) && !c.matches(&outside));
        let r = predicate(&inside, SpatialMode::GeometryContainsFilter, cart);
        assert!(r.matches(&query) && !r.matches(&straddling));
        assert!(!i.matches(b"junk"));
        assert_eq!(i.prefilter(), ([0.0, 0.0, 10.0, 10.0], false));
        assert_eq!(c.prefilter(), ([0.0, 0.0, 10.0, 10.0], true));
        assert_eq!(
            SpatialPredicate::new(b"junk", SpatialMode::Intersects, cart).err(),
            Some(SpatialError::Wkb(WkbError::ByteOrder(b'j')))
        );
    }

    #[test]
    fn spherical_handles_the_antimeridian() {
        let sph = CoordinateSystem::Spherical;
        // An uncut ring from 179°E to 179°W: on the sphere a 2° band around the antimeridian.
        let band = ewkb_polygon(&[(179.0, -5.0), (-179.0, -5.0), (-179.0, 5.0), (179.0, 5.0)]);
        let p = predicate(&band, SpatialMode::Intersects, sph);
        let east = square(179.5, 0.0, 179.8, 1.0);
        let west = square(-179.8, 0.0, -179.5, 1.0);
        let beyond = square(179.8, 0.0, 180.4, 1.0); // written past 180°
        let far = square(170.0, 0.0, 171.0, 1.0);
        assert!(p.matches(&east) && p.matches(&west) && p.matches(&beyond));
        assert!(!p.matches(&far));
        let c = predicate(&band, SpatialMode::FilterContainsGeometry, sph);
        assert!(c.matches(&east) && c.matches(&beyond));
        assert!(!c.matches(&square(178.5, 0.0, 179.5, 1.0)));
        // Cartesian reads the same ring as a box over almost all longitudes.
        let flat = predicate(&band, SpatialMode::Intersects, CoordinateSystem::Cartesian);
        assert!(flat.matches(&far));
        // The spherical prefilter keeps every longitude and a latitude band around the query.
        let ([min_x, lo, max_x, hi], within) = p.prefilter();
        assert!(min_x < -180.0 && max_x > 180.0 && !within);
        assert!(lo < -5.0 && lo > -10.0 && hi > 5.0 && hi < 10.0);
    }

    #[test]
    fn spherical_edges_follow_great_circles() {
        // Two points at 60°N, 60° of longitude apart: the great circle between them bulges north to ~63.4°,
        // the straight lon/lat edge does not.
        let north = ewkb_polygon(&[(0.0, 60.0), (60.0, 60.0), (60.0, 50.0), (0.0, 50.0)]);
        let probe = square(29.0, 61.5, 31.0, 62.0);
        assert!(
            predicate(&north, SpatialMode::Intersects, CoordinateSystem::Spherical).matches(&probe)
        );
        assert!(
            !predicate(&north, SpatialMode::Intersects, CoordinateSystem::Cartesian)
                .matches(&probe)
        );
        // Datapoints on the far side of the globe are clipped away, not mirrored.
        let antipode = square(-150.0, -55.0, -140.0, -50.0);
        assert!(
            !predicate(&north, SpatialMode::Intersects, CoordinateSystem::Spherical)
                .matches(&antipode)
        );
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
