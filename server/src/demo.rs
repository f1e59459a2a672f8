//! Deterministic demo data: `open_data.copernicus.landsat8_oli_tirs` (collections L1GT, L1T, L1TP, L2SP with
//! 19624 / 1281 / 65313 / 25375 datapoints in 2020, plus a few in late 2019 and early 2021) and
//! `open_data.copernicus.sentinel1_sar` (collection `S1A_IW_RAW__0S`, May 2022).
//!
//! Everything (ids, times, fields, footprints) derives from fixed seeds, so two fresh servers hold
//! byte-identical data.

use std::time::Instant;

use bytes::Bytes;
use prost::Message as _;
use prost_types::FieldDescriptorProto;
use prost_types::Timestamp;
use prost_types::field_descriptor_proto::{Label, Type};
use sha2::{Digest, Sha256};
use tilebox_core::wire::datasets::v1::{
    AcquisitionMode, DatasetKind, DatasetType, Field, FieldAnnotation, FlightDirection, Geometry,
    Polarization, ProcessingLevel, Uuid, Visibility,
};

use crate::datapoint::{make_id, ns_timestamp};
use crate::geometry::ewkb_polygon;
use crate::schema::{build_schema, normalise_type};
use crate::status::Status;
use crate::store::{
    CollectionRecord, DatapointRecord, DatasetRecord, GroupRecord, RawId, Store, StoreError,
};

/// The top-level `open_data` group every demo dataset lives under.
pub(crate) fn open_data_group() -> GroupRecord {
    GroupRecord {
        id: stable_id("group:open_data"),
        parent_id: None,
        code_name: "open_data".into(),
        name: "Open Data".into(),
        icon: "Public".into(),
    }
}

/// A stable 16-byte id derived from a name.
pub fn stable_id(name: &str) -> RawId {
    let digest = Sha256::digest(format!("tilebox-local-server:{name}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    // Mark as RFC 4122 version 4 / variant 1 so tools display it as an ordinary random UUID.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// Demo collection sizes within 2020 for Landsat 8.
pub const LANDSAT_COLLECTIONS: [(&str, u64); 4] = [
    ("L1GT", 19624),
    ("L1T", 1281),
    ("L1TP", 65313),
    ("L2SP", 25375),
];
/// Datapoints of `S1A_IW_RAW__0S` in May 2022.
pub const SENTINEL1_COUNT: u64 = 4650;

/// Errors while seeding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A demo schema was rejected (a bug).
    #[error("demo schema: {0}")]
    Schema(Status),
    /// Writing or describing the demo asset files failed.
    #[error("demo assets: {0}")]
    Assets(String),
}

/// Small deterministic PRNG (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A demo field; every demo field is queryable (as the hosted datasets annotate scalar metadata), which
/// keeps within the limit of two queryable string fields per dataset.
pub(crate) fn field(
    name: &str,
    ty: Type,
    type_name: Option<&str>,
    description: &str,
    example: &str,
) -> Field {
    Field {
        descriptor: Some(FieldDescriptorProto {
            name: Some(name.to_owned()),
            label: Some(Label::Optional as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(str::to_owned),
            ..Default::default()
        }),
        annotation: Some(FieldAnnotation {
            description: description.to_owned(),
            example_value: example.to_owned(),
            queryable: true,
            ..Default::default()
        }),
    }
}

fn landsat_type() -> DatasetType {
    DatasetType {
        kind: DatasetKind::Spatiotemporal as i32,
        fields: vec![
            field(
                "granule_name",
                Type::String,
                None,
                "Landsat scene id",
                "LC08_L1TP_042034_20200115_20200127_02_T1",
            ),
            field(
                "processing_level",
                Type::Enum,
                Some(".datasets.v1.ProcessingLevel"),
                "Processing level",
                "L1",
            ),
            field("platform", Type::String, None, "Satellite", "LANDSAT_8"),
            field("path", Type::Int64, None, "WRS-2 path", "42"),
            field("row", Type::Int64, None, "WRS-2 row", "34"),
            field(
                "cloud_cover",
                Type::Double,
                None,
                "Cloud cover in percent",
                "12.5",
            ),
            field(
                "sun_elevation",
                Type::Double,
                None,
                "Sun elevation in degrees",
                "45.2",
            ),
            field(
                "sun_azimuth",
                Type::Double,
                None,
                "Sun azimuth in degrees",
                "140.1",
            ),
        ],
    }
}

fn sentinel1_type() -> DatasetType {
    DatasetType {
        kind: DatasetKind::Spatiotemporal as i32,
        fields: vec![
            field(
                "granule_name",
                Type::String,
                None,
                "Product name",
                "S1A_IW_RAW__0SDV_20220501T001203_...",
            ),
            field(
                "processing_level",
                Type::Enum,
                Some(".datasets.v1.ProcessingLevel"),
                "Processing level",
                "L0",
            ),
            field("platform", Type::String, None, "Satellite", "S1A"),
            field(
                "polarization",
                Type::Enum,
                Some(".datasets.v1.Polarization"),
                "Polarization",
                "VV_VH",
            ),
            field(
                "acquisition_mode",
                Type::Enum,
                Some(".datasets.v1.AcquisitionMode"),
                "Acquisition mode",
                "IW",
            ),
            field(
                "flight_direction",
                Type::Enum,
                Some(".datasets.v1.FlightDirection"),
                "Orbit direction",
                "ASCENDING",
            ),
            field(
                "absolute_orbit",
                Type::Int64,
                None,
                "Absolute orbit number",
                "43012",
            ),
        ],
    }
}

/// Landsat datapoint, wire-compatible with the generated schema (fields 1..12).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LandsatPoint {
    #[prost(message, optional, tag = "1")]
    /// When the scene was acquired.
    pub time: Option<Timestamp>,
    #[prost(message, optional, tag = "2")]
    /// Datapoint id.
    pub id: Option<Uuid>,
    #[prost(message, optional, tag = "3")]
    /// When the datapoint was ingested.
    pub ingestion_time: Option<Timestamp>,
    #[prost(message, optional, tag = "4")]
    /// Scene footprint.
    pub geometry: Option<Geometry>,
    #[prost(string, optional, tag = "5")]
    /// Granule name.
    pub granule_name: Option<String>,
    #[prost(int32, optional, tag = "6")]
    /// Processing level (enum number).
    pub processing_level: Option<i32>,
    #[prost(string, optional, tag = "7")]
    /// Platform name.
    pub platform: Option<String>,
    #[prost(int64, optional, tag = "8")]
    /// WRS path.
    pub path: Option<i64>,
    #[prost(int64, optional, tag = "9")]
    /// WRS row.
    pub row: Option<i64>,
    #[prost(double, optional, tag = "10")]
    /// Cloud cover in percent.
    pub cloud_cover: Option<f64>,
    #[prost(double, optional, tag = "11")]
    /// Sun elevation in degrees.
    pub sun_elevation: Option<f64>,
    #[prost(double, optional, tag = "12")]
    /// Sun azimuth in degrees.
    pub sun_azimuth: Option<f64>,
}

/// Sentinel-1 datapoint, wire-compatible with the generated schema (fields 1..11).
#[derive(Clone, PartialEq, prost::Message)]
struct Sentinel1Point {
    #[prost(message, optional, tag = "1")]
    time: Option<Timestamp>,
    #[prost(message, optional, tag = "2")]
    id: Option<Uuid>,
    #[prost(message, optional, tag = "3")]
    ingestion_time: Option<Timestamp>,
    #[prost(message, optional, tag = "4")]
    geometry: Option<Geometry>,
    #[prost(string, optional, tag = "5")]
    granule_name: Option<String>,
    #[prost(int32, optional, tag = "6")]
    processing_level: Option<i32>,
    #[prost(string, optional, tag = "7")]
    platform: Option<String>,
    #[prost(int32, optional, tag = "8")]
    polarization: Option<i32>,
    #[prost(int32, optional, tag = "9")]
    acquisition_mode: Option<i32>,
    #[prost(int32, optional, tag = "10")]
    flight_direction: Option<i32>,
    #[prost(int64, optional, tag = "11")]
    absolute_orbit: Option<i64>,
}

/// A datapoint type the demo can stamp with id and ingestion time.
trait DemoPoint: prost::Message + Sized {
    fn set_meta(&mut self, id: Option<Uuid>, ingestion: Option<Timestamp>);
}

impl DemoPoint for LandsatPoint {
    fn set_meta(&mut self, id: Option<Uuid>, ingestion: Option<Timestamp>) {
        self.id = id;
        self.ingestion_time = ingestion;
    }
}

impl DemoPoint for Sentinel1Point {
    fn set_meta(&mut self, id: Option<Uuid>, ingestion: Option<Timestamp>) {
        self.id = id;
        self.ingestion_time = ingestion;
    }
}

/// Turns a datapoint without id/ingestion time into a stored record, exactly as Ingest would.
fn finish<P: DemoPoint>(
    mut p: P,
    collection_id: &RawId,
    time_ns: i64,
    ingestion_ns: i64,
    bbox: [f64; 4],
) -> DatapointRecord {
    let canonical = p.encode_to_vec();
    let id = make_id(time_ns.div_euclid(1_000_000), collection_id, &canonical);
    p.set_meta(
        Some(Uuid {
            uuid: Bytes::copy_from_slice(&id),
        }),
        Some(ns_timestamp(ingestion_ns)),
    );
    DatapointRecord {
        id,
        time_ns,
        ingestion_time_ns: ingestion_ns,
        bbox: Some(bbox),
        data: Bytes::from(p.encode_to_vec()),
    }
}

const MS_2019_12_01: i64 = 1_575_158_400_000;
const MS_2020_01_01: i64 = 1_577_836_800_000;
const MS_2021_01_01: i64 = 1_609_459_200_000;
const MS_2021_02_01: i64 = 1_612_137_600_000;
const MS_2022_05_01: i64 = 1_651_363_200_000;
const MS_2022_06_01: i64 = 1_654_041_600_000;

/// `n` sorted times (ns, µs precision) spread over `[start_ms, end_ms)`.
fn spread(rng: &mut Rng, n: u64, start_ms: i64, end_ms: i64) -> Vec<i64> {
    let span_us = (end_ms - start_ms) * 1000;
    (0..n)
        .map(|i| {
            let slot = span_us as f64 / n as f64;
            let us = ((i as f64 + rng.unit()) * slot) as i64;
            (start_ms * 1000 + us.min(span_us - 1)) * 1000
        })
        .collect()
}

fn ymd(time_ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(time_ns)
        .format("%Y%m%d")
        .to_string()
}

fn footprint(lon: f64, lat: f64, half_w: f64, half_h: f64, tilt: f64) -> (Vec<u8>, [f64; 4]) {
    let (s, c) = tilt.to_radians().sin_cos();
    let corners = [
        (-half_w, -half_h),
        (half_w, -half_h),
        (half_w, half_h),
        (-half_w, half_h),
    ];
    let ring: Vec<(f64, f64)> = corners
        .iter()
        .map(|(x, y)| {
            (
                lon + x * c - y * s,
                (lat + x * s + y * c).clamp(-90.0, 90.0),
            )
        })
        .collect();
    let bbox = ring
        .iter()
        .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |b, (x, y)| {
            [b[0].min(*x), b[1].min(*y), b[2].max(*x), b[3].max(*y)]
        });
    (ewkb_polygon(&ring), bbox)
}

fn landsat_rows(
    collection: &str,
    n_2020: u64,
    collection_id: &RawId,
    seed: u64,
) -> Vec<DatapointRecord> {
    let mut rng = Rng(seed);
    let mut times = spread(&mut rng, n_2020 / 40 + 3, MS_2019_12_01, MS_2020_01_01);
    times.extend(spread(&mut rng, n_2020, MS_2020_01_01, MS_2021_01_01));
    times.extend(spread(
        &mut rng,
        n_2020 / 50 + 2,
        MS_2021_01_01,
        MS_2021_02_01,
    ));
    let level = if collection == "L2SP" {
        ProcessingLevel::L2
    } else {
        ProcessingLevel::L1
    };
    let tier = match collection {
        "L1TP" | "L2SP" => "T1",
        "L1T" => "T2",
        _ => "RT",
    };
    times
        .into_iter()
        .map(|time_ns| {
            let path = 1 + rng.below(233) as i64;
            let row = 1 + rng.below(248) as i64;
            let lat = 81.8 - (row as f64 - 1.0) * (163.6 / 247.0);
            let lon = ((path as f64 - 1.0) * (-360.0 / 233.0) + 180.0 + rng.range(-0.3, 0.3))
                .rem_euclid(360.0)
                - 180.0;
            let (wkb, bbox) = footprint(lon, lat, 1.05, 0.85, rng.range(-13.0, -9.0));
            let processed_ns = time_ns + (2 + rng.below(14) as i64) * 86_400_000_000_000;
            let granule = format!(
                "LC08_{collection}_{path:03}{row:03}_{}_{}_02_{tier}",
                ymd(time_ns),
                ymd(processed_ns)
            );
            let point = LandsatPoint {
                time: Some(ns_timestamp(time_ns)),
                geometry: Some(Geometry {
                    wkb: Bytes::from(wkb),
                }),
                granule_name: Some(granule),
                processing_level: Some(level as i32),
                platform: Some("LANDSAT_8".to_owned()),
                path: Some(path),
                row: Some(row),
                cloud_cover: Some((rng.unit().powi(2) * 10000.0).round() / 100.0),
                sun_elevation: Some((rng.range(-10.0, 75.0) * 1000.0).round() / 1000.0),
                sun_azimuth: Some((rng.range(20.0, 170.0) * 1000.0).round() / 1000.0),
                ..Default::default()
            };
            finish(
                point,
                collection_id,
                time_ns,
                processed_ns + 3_600_000_000_000,
                bbox,
            )
        })
        .collect()
}

fn sentinel1_rows(collection_id: &RawId) -> Vec<DatapointRecord> {
    let mut rng = Rng(0x5e17_1e11);
    let times = spread(&mut rng, SENTINEL1_COUNT, MS_2022_05_01, MS_2022_06_01);
    times
        .into_iter()
        .map(|time_ns| {
            let orbit = 43_000 + (time_ns - MS_2022_05_01 * 1_000_000) / 6_000_000_000_000;
            let ascending = rng.below(2) == 0;
            let lat = rng.range(-70.0, 75.0);
            let lon = rng.range(-180.0, 180.0);
            let (wkb, bbox) = footprint(lon, lat, 1.4, 0.9, if ascending { -12.0 } else { 12.0 });
            let stamp = chrono::DateTime::from_timestamp_nanos(time_ns)
                .format("%Y%m%dT%H%M%S")
                .to_string();
            let point = Sentinel1Point {
                time: Some(ns_timestamp(time_ns)),
                geometry: Some(Geometry {
                    wkb: Bytes::from(wkb),
                }),
                granule_name: Some(format!(
                    "S1A_IW_RAW__0SDV_{stamp}_{orbit:06}_{:06X}",
                    rng.below(0xFFFFFF)
                )),
                processing_level: Some(ProcessingLevel::L0 as i32),
                platform: Some("S1A".to_owned()),
                polarization: Some(Polarization::VvVh as i32),
                acquisition_mode: Some(AcquisitionMode::Iw as i32),
                flight_direction: Some(if ascending {
                    FlightDirection::Ascending
                } else {
                    FlightDirection::Descending
                } as i32),
                absolute_orbit: Some(orbit),
                ..Default::default()
            };
            finish(
                point,
                collection_id,
                time_ns,
                time_ns + 5_400_000_000_000,
                bbox,
            )
        })
        .collect()
}

/// Summary of a seeding run.
#[derive(Debug, Clone, Copy)]
pub struct DemoStats {
    /// Datapoints written.
    pub datapoints: u64,
    /// Wall-clock time taken.
    pub elapsed: std::time::Duration,
}

pub(crate) async fn add_dataset(
    store: &dyn Store,
    group: &GroupRecord,
    code_name: &str,
    name: &str,
    summary: &str,
    dataset_type: &DatasetType,
) -> Result<RawId, DemoError> {
    let normalised = normalise_type(dataset_type).map_err(DemoError::Schema)?;
    let id = stable_id(&format!("dataset:{code_name}"));
    build_schema(&group.id, code_name, &normalised).map_err(DemoError::Schema)?;
    store
        .insert_dataset(DatasetRecord {
            id,
            group_id: group.id,
            code_name: code_name.to_owned(),
            slug: format!("open_data.{}.{code_name}", group.code_name),
            name: name.to_owned(),
            summary: summary.to_owned(),
            description: format!(
                "{summary}\n\nDeterministic demo data generated by the local Tilebox server."
            ),
            icon: "Satellite".to_owned(),
            kind: normalised.kind,
            fields: normalised.encode_to_vec().into(),
            visibility: Visibility::Public as i32,
        })
        .await?;
    Ok(id)
}

pub(crate) async fn add_collection(
    store: &dyn Store,
    dataset_id: RawId,
    dataset: &str,
    name: &str,
    rows: impl FnOnce(&RawId) -> Vec<DatapointRecord>,
) -> Result<u64, DemoError> {
    let id = stable_id(&format!("collection:{dataset}:{name}"));
    store
        .insert_collection(CollectionRecord {
            id,
            dataset_id,
            name: name.to_owned(),
        })
        .await?;
    let rows = rows(&id);
    let n = rows.len() as u64;
    store.insert_datapoints(id, rows, true).await?;
    Ok(n)
}

/// Seeds the demo datasets if the store holds no dataset yet. Returns `None` when nothing was done.
pub async fn seed_if_empty(store: &dyn Store) -> Result<Option<DemoStats>, DemoError> {
    if !store.list_datasets().await?.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let open_data = open_data_group();
    let copernicus = GroupRecord {
        id: stable_id("group:open_data.copernicus"),
        parent_id: Some(open_data.id),
        code_name: "copernicus".into(),
        name: "Copernicus".into(),
        icon: "Satellite".into(),
    };
    store.ensure_group(open_data).await?;
    store.ensure_group(copernicus.clone()).await?;

    let landsat = add_dataset(
        store,
        &copernicus,
        "landsat8_oli_tirs",
        "Landsat 8 OLI/TIRS",
        "Landsat 8 Operational Land Imager and Thermal Infrared Sensor scenes",
        &landsat_type(),
    )
    .await?;
    let mut total = 0;
    for (i, (name, n)) in LANDSAT_COLLECTIONS.iter().enumerate() {
        total += add_collection(store, landsat, "landsat8_oli_tirs", name, |id| {
            landsat_rows(name, *n, id, 0x1a4d_5a70 + i as u64)
        })
        .await?;
    }
    let sentinel1 = add_dataset(
        store,
        &copernicus,
        "sentinel1_sar",
        "Sentinel-1 SAR",
        "Sentinel-1 C-band synthetic aperture radar products",
        &sentinel1_type(),
    )
    .await?;
    total += add_collection(
        store,
        sentinel1,
        "sentinel1_sar",
        "S1A_IW_RAW__0S",
        sentinel1_rows,
    )
    .await?;
    Ok(Some(DemoStats {
        datapoints: total,
        elapsed: started.elapsed(),
    }))
}
