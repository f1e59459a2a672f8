//! Asset files served over HTTP, and the demo dataset whose datapoints carry assets.
//!
//! * [`AssetFiles`]: a directory (the configured `assets_dir`, `<database>.assets/` next to a database
//!   file, or a throw-away directory) whose files are served read-only at `GET`/`HEAD /assets/<path>`,
//!   with single `Range` requests (`206`, `416`), `Accept-Ranges`, the emulated latency applied.
//! * [`seed_demo`]: `open_data.demo.scene_assets` (collection `S2_DEMO`), a few scenes each with a tiny
//!   GeoTIFF and a JSON metadata file written into the directory, described by STAC assets (checksums as
//!   sha2-256 multihashes, sizes) whose primary location is this server over HTTP and whose `file`
//!   alternate is the file on disk. Authored with the core's [`AssetCollection`], exactly as a user would.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message as _;
use prost_types::Timestamp;
use prost_types::field_descriptor_proto::Type;
use sha2::{Digest, Sha256};
use tilebox_core::assets::{Asset, AssetCollection, AssetLocation, Band, Role};
use tilebox_core::wire::datasets::stac::v1 as stac;
use tilebox_core::wire::datasets::v1::{DatasetKind, DatasetType, Uuid};

use crate::config::ServerConfig;
use crate::datapoint::{make_id, ns_timestamp};
use crate::demo::{DemoError, add_collection, add_dataset, field, open_data_group, stable_id};
use crate::store::{DatapointRecord, GroupRecord, RawId, Store};

/// Slug of the asset demo dataset.
pub const DEMO_DATASET: &str = "open_data.demo.scene_assets";
/// Its collection.
pub const DEMO_COLLECTION: &str = "S2_DEMO";
/// Number of demo scenes.
pub const DEMO_SCENES: usize = 12;
/// Sub-directory of the asset directory holding the demo files.
const DEMO_DIR: &str = "scene_assets";

/// The directory of files served at `/assets/`.
#[derive(Debug)]
pub struct AssetFiles {
    root: PathBuf,
    latency: Duration,
    _temp: Option<tempfile::TempDir>,
}

impl AssetFiles {
    /// The asset directory for `config`: the configured one, else (with demo data) one next to the
    /// database file or a throw-away one; `None` when there is nothing to serve.
    pub fn open(config: &ServerConfig) -> std::io::Result<Option<AssetFiles>> {
        let demo = config.demo || config.asset_demo;
        let (root, temp) = match (&config.assets_dir, config.database(), demo) {
            (Some(dir), _, _) => (dir.clone(), None),
            (None, Some(db), true) => {
                let mut name = db.file_name().unwrap_or_default().to_os_string();
                name.push(".assets");
                (db.with_file_name(name), None)
            }
            (None, None, true) => {
                let temp = crate::scratch::scratch_dir("tilebox-server-assets-")?;
                (temp.path().to_path_buf(), Some(temp))
            }
            (None, _, false) => return Ok(None),
        };
        std::fs::create_dir_all(&root)?;
        let root = root.canonicalize()?;
        Ok(Some(AssetFiles {
            root,
            latency: config.latency,
            _temp: temp,
        }))
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `/assets/{*path}` route (GET, and HEAD through axum).
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/assets/{*path}", axum::routing::get(serve_file))
            .with_state(self)
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The file under `root` named by a URL path, refusing anything that could leave the directory.
fn resolve_path(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    if path.is_empty()
        || path.contains('\\')
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("tif" | "tiff") => "image/tiff",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A single byte range of a `Range: bytes=...` header, clamped to `len`. `Err(())`: unsatisfiable;
/// `Ok(None)`: no (usable) range header, serve the whole file.
#[allow(clippy::result_unit_err)]
pub fn parse_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file, as RFC 9110 allows
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let n: u64 = end.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let s: u64 = start.parse().map_err(|_| ())?;
        let e: u64 = if end.is_empty() {
            len.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(len.saturating_sub(1))
        };
        if s >= len || e < s {
            return Err(());
        }
        (s, e)
    };
    Ok(Some(range))
}

async fn serve_file(
    State(files): State<Arc<AssetFiles>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !files.latency.is_zero() {
        tokio::time::sleep(files.latency).await;
    }
    let Some(file) = resolve_path(&files.root, &path) else {
        return plain(StatusCode::BAD_REQUEST, "invalid asset path\n");
    };
    let data = match tokio::fs::read(&file).await {
        Ok(data) => Bytes::from(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return plain(StatusCode::NOT_FOUND, "no such asset\n");
        }
        Err(_) => return plain(StatusCode::NOT_FOUND, "asset not readable\n"),
    };
    let len = data.len() as u64;
    let mut response = match parse_range(&headers, len) {
        Ok(None) => Response::new(Body::from(data)),
        Ok(Some((start, end))) => {
            let mut r = Response::new(Body::from(data.slice(start as usize..=end as usize)));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Err(()) => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    response
}

/// Little-endian TIFF writer for the demo: one strip of `u16` samples plus the three GeoTIFF tags that
/// place it on the globe (pixel scale, tie point, WGS 84 key directory).
pub fn tiny_geotiff(width: u16, height: u16, lon: f64, lat: f64, seed: u64) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const DOUBLE: u16 = 12;
    let entries = 13u32;
    let ifd_end = 8 + 2 + entries * 12 + 4;
    let scale_at = ifd_end;
    let tie_at = scale_at + 3 * 8;
    let keys_at = tie_at + 6 * 8;
    let data_at = keys_at + 16 * 2;
    let data_len = u32::from(width) * u32::from(height) * 2;

    let mut out = Vec::with_capacity((data_at + data_len) as usize);
    out.extend_from_slice(b"II");
    out.extend_from_slice(&42u16.to_le_bytes());
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries as u16).to_le_bytes());
    let mut entry = |tag: u16, ty: u16, count: u32, value: u32| {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    };
    entry(256, SHORT, 1, u32::from(width)); // ImageWidth
    entry(257, SHORT, 1, u32::from(height)); // ImageLength
    entry(258, SHORT, 1, 16); // BitsPerSample
    entry(259, SHORT, 1, 1); // Compression: none
    entry(262, SHORT, 1, 1); // PhotometricInterpretation: black is zero
    entry(273, LONG, 1, data_at); // StripOffsets
    entry(277, SHORT, 1, 1); // SamplesPerPixel
    entry(278, SHORT, 1, u32::from(height)); // RowsPerStrip
    entry(279, LONG, 1, data_len); // StripByteCounts
    entry(339, SHORT, 1, 1); // SampleFormat: unsigned integer
    entry(33550, DOUBLE, 3, scale_at); // ModelPixelScaleTag
    entry(33922, DOUBLE, 6, tie_at); // ModelTiepointTag
    entry(34735, SHORT, 16, keys_at); // GeoKeyDirectoryTag
    out.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    for v in [0.0001f64, 0.0001, 0.0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [0.0f64, 0.0, 0.0, lon, lat, 0.0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    // Version 1.1.0, 3 keys: model type geographic, raster type pixel-is-area, WGS 84.
    for v in [
        1u16, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut state = seed;
    for _ in 0..u32::from(width) * u32::from(height) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.extend_from_slice(&((state >> 48) as u16 | 1).to_le_bytes());
    }
    out
}

/// The STAC `file:checksum` of `data`: a sha2-256 multihash (code 0x12, length 32, digest).
pub fn sha256_multihash(data: &[u8]) -> Bytes {
    let mut out = vec![0x12, 0x20];
    out.extend_from_slice(&Sha256::digest(data));
    Bytes::from(out)
}

/// A `file://` URL for an absolute path (spaces and `%` escaped).
pub fn file_url(path: &Path) -> String {
    let text = path
        .to_string_lossy()
        .replace('%', "%25")
        .replace(' ', "%20");
    format!("file://{text}")
}

/// The demo datapoint, wire-compatible with the generated schema (fields 1..7).
#[derive(Clone, PartialEq, prost::Message)]
struct ScenePoint {
    #[prost(message, optional, tag = "1")]
    time: Option<Timestamp>,
    #[prost(message, optional, tag = "2")]
    id: Option<Uuid>,
    #[prost(message, optional, tag = "3")]
    ingestion_time: Option<Timestamp>,
    #[prost(string, optional, tag = "4")]
    granule_name: Option<String>,
    #[prost(message, optional, tag = "5")]
    assets: Option<stac::Assets>,
    #[prost(message, optional, tag = "6")]
    storage: Option<stac::Storage>,
    #[prost(message, optional, tag = "7")]
    authentication: Option<stac::Authentication>,
}

fn scene_type() -> DatasetType {
    DatasetType {
        kind: DatasetKind::Temporal as i32,
        fields: vec![
            field(
                "granule_name",
                Type::String,
                None,
                "Scene id",
                "S2_DEMO_000",
            ),
            field(
                "assets",
                Type::Message,
                Some(".datasets.stac.v1.Assets"),
                "The files of the scene",
                "",
            ),
            field(
                "storage",
                Type::Message,
                Some(".datasets.stac.v1.Storage"),
                "Storage registry of the asset locations",
                "",
            ),
            field(
                "authentication",
                Type::Message,
                Some(".datasets.stac.v1.Authentication"),
                "Authentication registry of the asset locations",
                "",
            ),
        ],
    }
}

/// Writes `data` to `path` (creating parent directories) and returns the file's STAC `file` metadata.
fn write_file(path: &Path, data: &[u8]) -> std::io::Result<stac::File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data)?;
    Ok(stac::File {
        checksum: Some(sha256_multihash(data)),
        size: Some(data.len() as u64),
        local_path: None,
    })
}

fn demo_assets(
    files: &AssetFiles,
    base_url: &str,
    granule: &str,
    index: usize,
) -> Result<Vec<Asset>, DemoError> {
    let io = |e: std::io::Error| DemoError::Assets(e.to_string());
    let dir = files.root.join(DEMO_DIR).join(granule);
    let lon = 10.0 + index as f64 * 0.25;
    let lat = 47.0 + index as f64 * 0.1;
    let tiff = tiny_geotiff(16, 16, lon, lat, 0x5eed + index as u64);
    let metadata = serde_json::to_vec_pretty(&serde_json::json!({
        "granule_name": granule,
        "cloud_cover": (index * 7 % 100) as f64,
        "center": [lon + 0.0008, lat - 0.0008],
    }))
    .map_err(|e| DemoError::Assets(e.to_string()))?;
    let mut assets = Vec::new();
    for (key, name, data, media, role) in [
        (
            "image",
            "image.tif",
            &tiff,
            "image/tiff; application=geotiff",
            "data",
        ),
        (
            "metadata",
            "metadata.json",
            &metadata,
            "application/json",
            "metadata",
        ),
    ] {
        let path = dir.join(name);
        let file = write_file(&path, data).map_err(io)?;
        let primary = AssetLocation::new(format!("{base_url}/assets/{DEMO_DIR}/{granule}/{name}"));
        let mut asset = Asset::new(key, primary);
        asset.alternates.insert(
            "file".to_owned(),
            AssetLocation {
                alternate_name: Some("Local file".to_owned()),
                ..AssetLocation::new(file_url(&path))
            },
        );
        asset.media_type = Some(media.to_owned());
        asset.roles.insert(Role::parse(role));
        asset.file = Some(file);
        if key == "image" {
            asset.title = Some("Gray band".to_owned());
            asset.gsd = Some(10.0);
            asset.projection = Some(stac::Projection {
                code: Some("EPSG:4326".to_owned()),
                shape: vec![16, 16],
                ..Default::default()
            });
            asset.bands.push(Band {
                name: Some("gray".to_owned()),
                data_type: stac::DataType::Uint16,
                nodata: Some(0.0),
                raster: Some(stac::RasterProperties {
                    spatial_resolution: Some(10.0),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        assets.push(asset);
    }
    Ok(assets)
}

/// Seeds the asset demo dataset (files and datapoints) unless it exists. `base_url` is this server's URL.
pub async fn seed_demo(
    store: &dyn Store,
    files: &AssetFiles,
    base_url: &str,
) -> Result<Option<u64>, DemoError> {
    if store.get_dataset_by_slug(DEMO_DATASET).await?.is_some() {
        return Ok(None);
    }
    let open_data = open_data_group();
    let demo = GroupRecord {
        id: stable_id("group:open_data.demo"),
        parent_id: Some(open_data.id),
        code_name: "demo".into(),
        name: "Demo".into(),
        icon: "Folder".into(),
    };
    store.ensure_group(open_data).await?;
    store.ensure_group(demo.clone()).await?;
    let dataset = add_dataset(
        store,
        &demo,
        "scene_assets",
        "Scene assets (demo)",
        "Demo scenes whose datapoints carry STAC assets served by this server",
        &scene_type(),
    )
    .await?;
    let mut rows = Vec::with_capacity(DEMO_SCENES);
    let start_ns: i64 = 1_704_067_200_000_000_000; // 2024-01-01
    let collection_id = stable_id(&format!("collection:scene_assets:{DEMO_COLLECTION}"));
    for index in 0..DEMO_SCENES {
        let granule = format!("S2_DEMO_{index:03}");
        let authored = demo_assets(files, base_url, &granule, index)?;
        let fields = AssetCollection::from_assets(authored)
            .and_then(|c| c.to_fields(None, None))
            .map_err(|e| DemoError::Assets(e.to_string()))?;
        let time_ns = start_ns + index as i64 * 86_400_000_000_000;
        rows.push(scene_row(
            ScenePoint {
                time: Some(ns_timestamp(time_ns)),
                granule_name: Some(granule),
                assets: Some(fields.assets),
                storage: fields.storage,
                authentication: fields.authentication,
                ..Default::default()
            },
            &collection_id,
            time_ns,
        ));
    }
    let n = add_collection(store, dataset, "scene_assets", DEMO_COLLECTION, |_| rows).await?;
    Ok(Some(n))
}

fn scene_row(mut point: ScenePoint, collection_id: &RawId, time_ns: i64) -> DatapointRecord {
    let canonical = point.encode_to_vec();
    let id = make_id(time_ns.div_euclid(1_000_000), collection_id, &canonical);
    let ingestion_ns = time_ns + 3_600_000_000_000;
    point.id = Some(Uuid {
        uuid: Bytes::copy_from_slice(&id),
    });
    point.ingestion_time = Some(ns_timestamp(ingestion_ns));
    DatapointRecord {
        id,
        time_ns,
        ingestion_time_ns: ingestion_ns,
        bbox: None,
        data: Bytes::from(point.encode_to_vec()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn range(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        parse_range(&headers, len)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=5-1", 100), Err(()));
        assert_eq!(range("bytes=0-1,4-5", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            resolve_path(root, "a/b.tif"),
            Some(PathBuf::from("/srv/a/b.tif"))
        );
        assert_eq!(resolve_path(root, "../etc/passwd"), None);
        assert_eq!(resolve_path(root, "a/../../x"), None);
        assert_eq!(resolve_path(root, "/etc/passwd"), None);
        assert_eq!(resolve_path(root, ""), None);
    }

    #[test]
    fn geotiff_layout() {
        let tiff = tiny_geotiff(16, 16, 10.0, 47.0, 1);
        assert_eq!(&tiff[..4], b"II*\0");
        let data_at = u32::from_le_bytes(
            tiff[8 + 2 + 5 * 12 + 8..8 + 2 + 5 * 12 + 12]
                .try_into()
                .unwrap(),
        );
        assert_eq!(tiff.len() as u32, data_at + 16 * 16 * 2);
    }
}
