//! Rust half of the asset peer tests (`tests/python/test_assets_peer.py`), against a server at `--url`.
//!
//! * `resolve`: prints, as JSON, the assets of every datapoint of a collection resolved by the Rust SDK
//!   (the test compares them with what the official Python client resolves);
//! * `ingest`: authors assets with the Rust SDK (`AssetCollection::from_assets` → `to_fields`) and ingests
//!   one datapoint carrying them (the test resolves them with the official Python client).

use std::collections::BTreeMap;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tilebox::core::assets::{Asset, AssetCollection, AssetFieldNames, AssetLocation, Band, Role};
use tilebox::core::prost_reflect::{DynamicMessage, Value as Reflected};
use tilebox::core::wire::datasets::stac::v1 as stac;
use tilebox::core::{IntoInstant, QueryOptions};
use tilebox_examples::BoxError;

/// Asset peer test helper.
#[derive(Debug, Parser)]
struct Args {
    /// Server URL.
    #[arg(long)]
    url: String,
    /// Dataset slug.
    #[arg(long)]
    dataset: String,
    /// Collection name.
    #[arg(long)]
    collection: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the resolved assets of every datapoint (JSON list, one entry per datapoint).
    Resolve,
    /// Ingest one datapoint at `--time` carrying Rust-authored assets.
    Ingest {
        /// Datapoint time (RFC 3339).
        #[arg(long, default_value = "2024-06-01T00:00:00Z")]
        time: String,
    },
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |f| json!(f))
}

fn eo_json(eo: Option<&stac::EoProperties>) -> Value {
    eo.map_or(Value::Null, |e| {
        json!({
            "common_name": e.common_name,
            "center_wavelength": opt_f64(e.center_wavelength),
            "full_width_half_max": opt_f64(e.full_width_half_max),
            "solar_illumination": opt_f64(e.solar_illumination),
        })
    })
}

fn raster_json(r: Option<&stac::RasterProperties>) -> Value {
    r.map_or(Value::Null, |r| {
        json!({
            "sampling": r.sampling,
            "scale": opt_f64(r.scale),
            "offset": opt_f64(r.offset),
            "spatial_resolution": opt_f64(r.spatial_resolution),
        })
    })
}

fn sar_json(s: Option<&stac::SarProperties>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({
            "polarizations": s.polarizations,
            "instrument_mode": s.instrument_mode,
            "frequency_band": s.frequency_band,
            "center_frequency": opt_f64(s.center_frequency),
        })
    })
}

fn location_json(l: &AssetLocation) -> Value {
    json!({
        "href": l.href,
        "alternate_name": l.alternate_name,
        "storage": l.storage_schemes.iter().map(|(k, s)| (k.clone(), json!({
            "platform": s.platform, "region": s.region, "requester_pays": s.requester_pays,
        }))).collect::<BTreeMap<_, _>>(),
        "authentication": l.authentication_schemes.iter().map(|(k, a)| (k.clone(), json!({
            "known_type": a.known_type, "name": a.name,
        }))).collect::<BTreeMap<_, _>>(),
    })
}

/// The canonical JSON of an asset that both SDKs produce for the comparison.
fn asset_json(a: &Asset) -> Value {
    let mut roles: Vec<String> = a.roles.iter().map(Role::name).collect();
    roles.sort();
    json!({
        "key": a.key,
        "primary": location_json(&a.primary),
        "alternates": a.alternates.iter().map(|(k, l)| (k.clone(), location_json(l))).collect::<BTreeMap<_, _>>(),
        "media_type": a.media_type,
        "title": a.title,
        "description": a.description,
        "roles": roles,
        "gsd": opt_f64(a.gsd),
        "data_type": a.data_type as i32,
        "nodata": opt_f64(a.nodata),
        "unit": a.unit,
        "file_size": a.file.as_ref().and_then(|f| f.size),
        "file_checksum": a.checksum().map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        "bands": a.bands.iter().map(|b| json!({
            "name": b.name,
            "description": b.description,
            "data_type": b.data_type as i32,
            "nodata": opt_f64(b.nodata),
            "unit": b.unit,
            "eo": eo_json(b.eo.as_ref()),
            "raster": raster_json(b.raster.as_ref()),
            "sar": sar_json(b.sar.as_ref()),
            "classes": b.classes.len(),
        })).collect::<Vec<_>>(),
    })
}

/// Assets exercising hrefs with alternates, registries, roles, media types and band inheritance.
fn authored() -> Vec<Asset> {
    let s3 = stac::StorageScheme {
        known_type: Some(stac::KnownStorageType::AwsS3 as i32),
        platform: "https://{bucket}.s3.{region}.amazonaws.com".into(),
        region: Some("eu-central-1".into()),
        requester_pays: Some(true),
        ..Default::default()
    };
    let auth = stac::AuthenticationScheme {
        known_type: Some(stac::KnownAuthenticationType::S3 as i32),
        name: Some("aws".into()),
        ..Default::default()
    };
    let band = |name: &str, common: stac::EoCommonName, center: f64| Band {
        name: Some(name.into()),
        eo: Some(stac::EoProperties {
            common_name: common as i32,
            center_wavelength: Some(center),
            ..Default::default()
        }),
        data_type: stac::DataType::Uint16,
        nodata: Some(0.0),
        raster: Some(stac::RasterProperties {
            scale: Some(0.0001),
            spatial_resolution: Some(10.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut visual = Asset::new(
        "visual",
        AssetLocation::new("s3://rust-bucket/tiles/T32/visual.tif")
            .with_storage("aws", s3.clone())
            .with_authentication("aws", auth.clone()),
    );
    visual.alternates.insert(
        "https".into(),
        AssetLocation {
            alternate_name: Some("HTTPS".into()),
            ..AssetLocation::new("https://rust-bucket.example.com/tiles/T32/visual.tif")
        },
    );
    visual.media_type = Some("image/tiff; application=geotiff; profile=cloud-optimized".into());
    visual.title = Some("True color".into());
    visual.roles = ["data", "visual", "rust-custom"]
        .into_iter()
        .map(Role::from)
        .collect();
    visual.gsd = Some(10.0);
    visual.bands = vec![
        band("B04", stac::EoCommonName::Red, 0.665),
        band("B03", stac::EoCommonName::Green, 0.56),
        Band {
            unit: Some("dn".into()),
            ..band("B02", stac::EoCommonName::Blue, 0.49)
        },
    ];
    let mut sar = Asset::new(
        "vv",
        AssetLocation::new("s3://rust-bucket/tiles/T32/vv.tif").with_storage("aws", s3),
    );
    sar.media_type = Some("application/x-rust-custom".into());
    sar.roles = ["data", "amplitude"].into_iter().map(Role::from).collect();
    sar.sar = Some(stac::SarProperties {
        instrument_mode: Some("IW".into()),
        frequency_band: stac::SarFrequencyBand::C as i32,
        ..Default::default()
    });
    sar.bands = vec![Band {
        name: Some("VV".into()),
        sar: Some(stac::SarProperties {
            polarizations: vec![stac::SarPolarization::Vv as i32],
            ..Default::default()
        }),
        ..Default::default()
    }];
    let mut meta = Asset::new(
        "metadata",
        AssetLocation::new("https://rust-bucket.example.com/tiles/T32/meta.json"),
    );
    meta.media_type = Some("application/json".into());
    meta.roles = ["metadata"].into_iter().map(Role::from).collect();
    meta.file = Some(stac::File {
        size: Some(1234),
        checksum: Some(
            vec![0x12, 0x20]
                .into_iter()
                .chain(0..32)
                .collect::<Vec<u8>>()
                .into(),
        ),
        local_path: None,
    });
    vec![visual, sar, meta]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let client = tilebox::tokio::Client::builder().url(&args.url).build()?;
    let dataset = client.core().dataset(&args.dataset).await?;
    let collection = dataset.collection(&args.collection).await?;
    match args.command {
        Command::Resolve => {
            let data = collection
                .query(&QueryOptions::new(("1970-01-01", "2100-01-01")))
                .await?;
            let mut out = Vec::new();
            for record in data.records()? {
                let assets = AssetCollection::from_datapoint(&record)?;
                out.push(assets.iter().map(asset_json).collect::<Vec<_>>());
            }
            println!("{}", serde_json::to_string(&out)?);
        }
        Command::Ingest { time } => {
            let fields = AssetCollection::from_assets(authored())?.to_fields(None, None)?;
            let schema = dataset.schema()?;
            let mut message: DynamicMessage = schema.new_message();
            let time = time.as_str().into_instant()?;
            message.set_field_by_name(
                "time",
                Reflected::Message(timestamp(
                    &schema,
                    time.timestamp(),
                    time.timestamp_subsec_nanos() as i32,
                )?),
            );
            fields.set_on(&mut message, &AssetFieldNames::new())?;
            let summary = collection.ingest(&[message], true).await?;
            println!("{}", summary.datapoint_ids[0]);
        }
    }
    Ok(())
}

fn timestamp(
    schema: &tilebox::core::Schema,
    seconds: i64,
    nanos: i32,
) -> Result<DynamicMessage, BoxError> {
    let field = schema
        .message_descriptor()
        .get_field_by_name("time")
        .ok_or("no time field")?;
    let tilebox::core::prost_reflect::Kind::Message(ts) = field.kind() else {
        return Err("time is not a message".into());
    };
    let mut m = DynamicMessage::new(ts);
    m.set_field_by_name("seconds", Reflected::I64(seconds));
    m.set_field_by_name("nanos", Reflected::I32(nanos));
    Ok(m)
}
