#![allow(clippy::unwrap_used)]

use super::*;
use crate::wire::datasets::stac::v1 as stac;

fn s3() -> stac::StorageScheme {
    stac::StorageScheme {
        known_type: Some(stac::KnownStorageType::AwsS3 as i32),
        platform: "https://{bucket}.s3.{region}.amazonaws.com".into(),
        region: Some("eu-central-1".into()),
        requester_pays: Some(true),
        bucket: Some("scenes".into()),
        ..Default::default()
    }
}

fn eo(center: f64, name: stac::EoCommonName) -> stac::EoProperties {
    stac::EoProperties {
        common_name: name as i32,
        center_wavelength: Some(center),
        ..Default::default()
    }
}

fn scene() -> Vec<Asset> {
    let raster = stac::RasterProperties {
        scale: Some(0.0001),
        spatial_resolution: Some(10.0),
        ..Default::default()
    };
    let bands = vec![
        Band {
            name: Some("B04".into()),
            eo: Some(eo(0.665, stac::EoCommonName::Red)),
            raster: Some(raster),
            data_type: stac::DataType::Uint16,
            nodata: Some(0.0),
            ..Default::default()
        },
        Band {
            name: Some("B08".into()),
            eo: Some(eo(0.842, stac::EoCommonName::Nir)),
            raster: Some(raster),
            data_type: stac::DataType::Uint16,
            nodata: Some(0.0),
            ..Default::default()
        },
    ];
    vec![
        Asset {
            media_type: Some(
                media_type_str(stac::KnownMediaType::CloudOptimizedGeotiff)
                    .unwrap()
                    .into(),
            ),
            roles: ["data", "reflectance"]
                .into_iter()
                .map(Role::from)
                .collect(),
            bands,
            alternates: [(
                "https".to_owned(),
                AssetLocation::new("https://scenes.example.com/a/b/image.tif"),
            )]
            .into(),
            ..Asset::new(
                "image",
                AssetLocation::new("s3://scenes/a/b/image.tif").with_storage("s3", s3()),
            )
        },
        Asset {
            media_type: Some("application/json".into()),
            roles: ["metadata", "my-role"]
                .into_iter()
                .map(Role::from)
                .collect(),
            file: Some(stac::File {
                size: Some(12),
                ..Default::default()
            }),
            ..Asset::new(
                "metadata",
                AssetLocation::new("s3://scenes/a/b/meta.json").with_storage("s3", s3()),
            )
        },
    ]
}

#[test]
fn authored_assets_round_trip_through_the_wire_form() {
    let authored = AssetCollection::from_assets(scene()).unwrap();
    let fields = authored.to_fields(None, None).unwrap();
    assert!(fields.authentication.is_none());
    assert_eq!(fields.storage.as_ref().unwrap().schemes.len(), 1);
    // Hrefs are compressed into profiles: a primary profile and an `https` alternate profile.
    assert_eq!(fields.assets.access_profiles.len(), 2);
    assert_eq!(
        fields.assets.access_profiles[0].base_href,
        "s3://scenes/a/b/"
    );
    assert_eq!(fields.assets.access_profiles[1].alternate_key, "https");
    // Band profiles carry only what differs from the asset: the lifted values are on the asset.
    let image = fields
        .assets
        .assets
        .iter()
        .find(|a| a.key == "image")
        .unwrap();
    assert_eq!(image.data_type, stac::DataType::Uint16 as i32);
    assert_eq!(image.nodata, Some(0.0));
    assert_eq!(image.raster.unwrap().scale, Some(0.0001));
    assert!(
        fields
            .assets
            .band_profiles
            .iter()
            .all(|b| b.raster.is_none() && b.nodata.is_none())
    );
    // Alternates sharing the primary's suffix do not repeat it.
    assert_eq!(image.alternates[0].href, None);

    let resolved = AssetCollection::resolve(&fields.assets, fields.storage.as_ref(), None).unwrap();
    let mut expected = authored.clone().into_assets();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(resolved.clone().into_assets(), expected);
    let image = resolved.get("image").unwrap();
    assert_eq!(
        image.alternates["https"].href,
        "https://scenes.example.com/a/b/image.tif"
    );
    assert_eq!(image.primary.storage_schemes["s3"], s3());
    assert_eq!(
        image.bands[1].raster.unwrap().spatial_resolution,
        Some(10.0)
    );
    assert_eq!(image.bands[1].data_type, stac::DataType::Uint16);
    assert!(image.has_role("data") && image.has_role(stac::KnownAssetRole::Reflectance));
    let meta = resolved.get("metadata").unwrap();
    assert!(meta.roles.contains(&Role::Custom("my-role".into())));
    assert_eq!(meta.size(), Some(12));
}

#[test]
fn role_spellings() {
    assert_eq!(
        Role::parse("snow-ice"),
        Role::Known(stac::KnownAssetRole::SnowIce)
    );
    assert_eq!(
        Role::parse("iso-19115"),
        Role::Known(stac::KnownAssetRole::Iso19115)
    );
    assert_eq!(
        Role::Known(stac::KnownAssetRole::CloudShadow).name(),
        "cloud-shadow"
    );
    assert_eq!(Role::parse("snow_ice"), Role::Custom("snow_ice".into()));
}

#[test]
fn authoring_rejects_what_the_format_cannot_hold() {
    let err = |assets: Vec<Asset>| {
        AssetCollection::from_assets(assets)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(vec![Asset::new("", AssetLocation::new("x"))]),
        "asset key cannot be empty"
    );
    assert_eq!(
        err(vec![Asset::new("a", AssetLocation::new(""))]),
        "asset 'a' primary location href cannot be empty"
    );
    assert_eq!(
        err(vec![
            Asset::new("a", AssetLocation::new("x")),
            Asset::new("a", AssetLocation::new("y"))
        ]),
        "duplicate asset key: 'a'"
    );
    let mut other = s3();
    other.region = Some("us-west-2".into());
    assert_eq!(
        err(vec![
            Asset::new("a", AssetLocation::new("s3://x/a").with_storage("s3", s3())),
            Asset::new(
                "b",
                AssetLocation::new("s3://x/b").with_storage("s3", other)
            ),
        ]),
        "conflicting scheme for key 's3'"
    );
    let mut roles = Asset::new("a", AssetLocation::new("x"));
    roles.roles.insert(Role::Custom(String::new()));
    assert_eq!(err(vec![roles]), "asset 'a' has an invalid role");
    let mut empty_band = Asset::new("a", AssetLocation::new("x"));
    empty_band.bands.push(Band::default());
    assert_eq!(
        err(vec![empty_band]),
        "asset 'a' has a band with no metadata after inheritance"
    );
}

#[test]
fn resolution_validates_references() {
    let fields = AssetCollection::from_assets(scene())
        .unwrap()
        .to_fields(None, None)
        .unwrap();
    let err = |assets: &stac::Assets, storage: Option<&stac::Storage>| {
        AssetCollection::resolve(assets, storage, None)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&fields.assets, None),
        "asset references missing storage scheme 's3'"
    );
    let mut bad = fields.assets.clone();
    bad.assets[0].primary.as_mut().unwrap().access_profile_index = Some(9);
    assert_eq!(
        err(&bad, fields.storage.as_ref()),
        "invalid asset access profile index: 9"
    );
    let mut bad = fields.assets.clone();
    bad.assets[0].band_profile_indices.push(7);
    assert_eq!(
        err(&bad, fields.storage.as_ref()),
        "invalid band profile index: 7"
    );
    let mut bad = fields.assets.clone();
    bad.assets[0].primary = None;
    assert!(err(&bad, fields.storage.as_ref()).ends_with("has no primary location"));
    let mut bad = fields.assets.clone();
    bad.assets[0].media_type = Some(stac::MediaType::default());
    assert_eq!(
        err(&bad, fields.storage.as_ref()),
        "asset media type must contain exactly one known or custom value"
    );
}

#[test]
fn bands_inherit_asset_metadata_when_resolved() {
    let assets = stac::Assets {
        access_profiles: vec![stac::AssetAccessProfile {
            base_href: "file:///data/".into(),
            ..Default::default()
        }],
        band_profiles: vec![
            stac::Band {
                name: Some("vv".into()),
                sar: Some(stac::SarProperties {
                    polarizations: vec![stac::SarPolarization::Vv as i32],
                    ..Default::default()
                }),
                ..Default::default()
            },
            stac::Band {
                name: Some("vh".into()),
                unit: Some("dB".into()),
                ..Default::default()
            },
        ],
        assets: vec![stac::Asset {
            key: "measurement".into(),
            primary: Some(stac::AssetLocation {
                access_profile_index: Some(0),
                href: Some("m.tif".into()),
                alternate_name: None,
            }),
            band_profile_indices: vec![0, 1],
            unit: Some("linear".into()),
            sar: Some(stac::SarProperties {
                instrument_mode: Some("IW".into()),
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let resolved = AssetCollection::resolve(&assets, None, None).unwrap();
    let m = resolved.get("measurement").unwrap();
    assert_eq!(m.primary.href, "file:///data/m.tif");
    assert_eq!(m.bands[0].unit.as_deref(), Some("linear"));
    assert_eq!(m.bands[1].unit.as_deref(), Some("dB"));
    let sar = m.bands[0].sar.as_ref().unwrap();
    assert_eq!(sar.instrument_mode.as_deref(), Some("IW"));
    assert_eq!(sar.polarizations, vec![stac::SarPolarization::Vv as i32]);
    assert_eq!(
        m.bands[1].sar.as_ref().unwrap().instrument_mode.as_deref(),
        Some("IW")
    );
}
