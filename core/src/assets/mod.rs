//! The assets of a datapoint: STAC-style files (primary and alternate locations, roles, media types, bands
//! and their raster/EO/SAR metadata) attached to a datapoint through the `datasets.stac.v1.Assets` message,
//! plus the `Storage` and `Authentication` registries its locations refer to.
//!
//! Two directions, both sans-IO and following the official Python client (`tilebox.datasets.assets`) rule
//! for rule, so both clients read and write the same fields:
//!
//! * **Resolution** ([`AssetCollection::from_datapoint`], [`AssetCollection::resolve`]): the compact wire
//!   form (access profiles holding shared href prefixes and registry references, interned band profiles
//!   holding only what differs from the asset) is expanded into typed [`Asset`]s whose [`AssetLocation`]s
//!   carry fully resolved hrefs and the storage/authentication schemes that apply to them, and whose
//!   [`Band`]s carry the effective (inherited) metadata.
//! * **Authoring** ([`AssetCollection::from_assets`], [`AssetCollection::to_fields`]): semantic assets are
//!   validated, normalised (metadata shared by every band is lifted onto the asset) and compiled into the
//!   optimised ingestion fields ([`AssetFields`]).
//!
//! Fetching the files is the job of the `tilebox-assets` crate.

mod compile;
mod discover;
mod inherit;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::wire::datasets::stac::v1 as stac;

pub use discover::AssetFieldNames;

/// Why assets could not be resolved, validated or compiled.
///
/// The messages of [`AssetError::Invalid`] are those of the official Python client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    /// The asset metadata breaks a rule of the format (missing or dangling references, empty keys or hrefs,
    /// duplicate keys, conflicting registry entries, ambiguous fields, ...).
    #[error("{0}")]
    Invalid(String),
    /// A datapoint field of an asset message type could not be converted to that message.
    #[error("asset field {field:?} does not decode as {message}: {reason}")]
    Decode {
        /// The datapoint field.
        field: String,
        /// The expected message type.
        message: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
}

impl AssetError {
    fn invalid(message: impl Into<String>) -> Self {
        AssetError::Invalid(message.into())
    }
}

/// Python's `repr` of a string, as the official client's messages show keys.
fn repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

/// The role of an asset: one of the STAC roles the wire format knows, or a custom one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A role of the `KnownAssetRole` enum (never `Unspecified` in a valid asset).
    Known(stac::KnownAssetRole),
    /// Any other role string.
    Custom(String),
}

impl Role {
    /// The role for `name`: a known role when `name` is its STAC spelling (`"data"`, `"snow-ice"`,
    /// `"iso-19115"`, ...), a custom role otherwise.
    pub fn parse(name: &str) -> Role {
        (1..=300)
            .filter_map(|v| stac::KnownAssetRole::try_from(v).ok())
            .find(|known| known_role_name(*known) == name)
            .map_or_else(|| Role::Custom(name.to_owned()), Role::Known)
    }

    /// The STAC spelling of the role (`"data"`, `"cloud-shadow"`, or the custom string).
    pub fn name(&self) -> String {
        match self {
            Role::Known(known) => known_role_name(*known),
            Role::Custom(custom) => custom.clone(),
        }
    }

    /// The canonical form: known spellings become [`Role::Known`]; invalid roles are an error.
    fn canonical(&self, asset_key: &str) -> Result<Role, AssetError> {
        match self {
            Role::Known(stac::KnownAssetRole::Unspecified) => Err(invalid_role(asset_key)),
            Role::Known(known) => Ok(Role::Known(*known)),
            Role::Custom(custom) if custom.is_empty() => Err(invalid_role(asset_key)),
            Role::Custom(custom) => Ok(Role::parse(custom)),
        }
    }
}

fn invalid_role(asset_key: &str) -> AssetError {
    AssetError::invalid(format!("asset {} has an invalid role", repr(asset_key)))
}

fn known_role_name(role: stac::KnownAssetRole) -> String {
    role.as_str_name()
        .trim_start_matches("KNOWN_ASSET_ROLE_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<stac::KnownAssetRole> for Role {
    fn from(role: stac::KnownAssetRole) -> Self {
        Role::Known(role)
    }
}

impl From<&str> for Role {
    fn from(role: &str) -> Self {
        Role::parse(role)
    }
}

/// The media types the wire format encodes compactly, with their exact strings.
const MEDIA_TYPES: [(stac::KnownMediaType, &str); 26] = {
    use stac::KnownMediaType as K;
    [
        (K::Geojson, "application/geo+json"),
        (K::Json, "application/json"),
        (
            K::CloudOptimizedGeotiff,
            "image/tiff; application=geotiff; profile=cloud-optimized",
        ),
        (K::Jpeg2000, "image/jp2"),
        (K::Jpeg, "image/jpeg"),
        (K::Png, "image/png"),
        (K::ApplicationXml, "application/xml"),
        (K::Zip, "application/zip"),
        (K::Directory, "application/x-directory"),
        (K::Geotiff, "image/tiff; application=geotiff"),
        (K::Tiff, "image/tiff"),
        (K::Hdf5, "application/x-hdf5"),
        (K::Hdf, "application/x-hdf"),
        (K::Netcdf, "application/netcdf"),
        (K::ZarrV2, "application/vnd.zarr; version=2"),
        (K::ZarrV3, "application/vnd.zarr; version=3"),
        (K::Parquet, "application/vnd.apache.parquet"),
        (K::Geopackage, "application/geopackage+sqlite3"),
        (K::Copc, "application/vnd.laszip+copc"),
        (K::Html, "text/html"),
        (K::Text, "text/plain"),
        (K::TextXml, "text/xml"),
        (K::Flatgeobuf, "application/vnd.flatgeobuf"),
        (K::Pmtiles, "application/vnd.pmtiles"),
        (K::Nitf, "application/vnd.nitf"),
        (K::OctetStream, "application/octet-stream"),
    ]
};

/// The exact media-type string of a known media type (`None` for `Unspecified`).
pub fn media_type_str(known: stac::KnownMediaType) -> Option<&'static str> {
    MEDIA_TYPES
        .iter()
        .find(|(k, _)| *k == known)
        .map(|(_, text)| *text)
}

/// Where an asset can be read: its fully resolved href and the access schemes that apply to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetLocation {
    /// The fully resolved href (`s3://bucket/key`, `https://host/path`, `file:///path`, ...).
    pub href: String,
    /// Storage registry entries used by this location, by their STAC registry keys.
    pub storage_schemes: BTreeMap<String, stac::StorageScheme>,
    /// Authentication registry entries used by this location, by their STAC registry keys.
    pub authentication_schemes: BTreeMap<String, stac::AuthenticationScheme>,
    /// The STAC alternate-assets display name.
    pub alternate_name: Option<String>,
}

impl AssetLocation {
    /// A location at `href` with no registry entries.
    pub fn new(href: impl Into<String>) -> Self {
        AssetLocation {
            href: href.into(),
            ..Default::default()
        }
    }

    /// Adds a storage scheme under `key`.
    pub fn with_storage(mut self, key: impl Into<String>, scheme: stac::StorageScheme) -> Self {
        self.storage_schemes.insert(key.into(), scheme);
        self
    }

    /// Adds an authentication scheme under `key`.
    pub fn with_authentication(
        mut self,
        key: impl Into<String>,
        scheme: stac::AuthenticationScheme,
    ) -> Self {
        self.authentication_schemes.insert(key.into(), scheme);
        self
    }
}

/// Metadata of one band of an asset. In a resolved asset the values are effective: what the band leaves
/// unset is inherited from the asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Band {
    /// Band name.
    pub name: Option<String>,
    /// Human-readable description.
    pub description: Option<String>,
    /// Raster data type (`Unspecified` to inherit the asset's).
    pub data_type: stac::DataType,
    /// Nodata value.
    pub nodata: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
    /// Electro-optical metadata.
    pub eo: Option<stac::EoProperties>,
    /// Raster extension metadata.
    pub raster: Option<stac::RasterProperties>,
    /// Classification extension classes.
    pub classes: Vec<stac::ClassificationClass>,
    /// Synthetic-aperture radar metadata.
    pub sar: Option<stac::SarProperties>,
}

/// One asset of a datapoint, after the STAC asset object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asset {
    /// Key in the STAC assets object (`"B04"`, `"metadata"`, ...).
    pub key: String,
    /// The primary location.
    pub primary: AssetLocation,
    /// Alternate locations by their STAC alternate-assets key.
    pub alternates: BTreeMap<String, AssetLocation>,
    /// The exact media-type string.
    pub media_type: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Roles (`data`, `metadata`, `thumbnail`, custom ones, ...).
    pub roles: BTreeSet<Role>,
    /// Ground sample distance in metres.
    pub gsd: Option<f64>,
    /// Bands in order, with effective metadata.
    pub bands: Vec<Band>,
    /// Asset-level raster data type.
    pub data_type: stac::DataType,
    /// Asset-level nodata value.
    pub nodata: Option<f64>,
    /// Raster statistics.
    pub statistics: Option<stac::Statistics>,
    /// Asset-level unit.
    pub unit: Option<String>,
    /// Electro-optical metadata.
    pub eo: Option<stac::EoProperties>,
    /// Raster extension metadata.
    pub raster: Option<stac::RasterProperties>,
    /// Projection extension metadata.
    pub projection: Option<stac::Projection>,
    /// View extension metadata.
    pub view: Option<stac::View>,
    /// Classification extension classes.
    pub classes: Vec<stac::ClassificationClass>,
    /// File extension metadata (checksum as a multihash, size, local path).
    pub file: Option<stac::File>,
    /// Synthetic-aperture radar metadata.
    pub sar: Option<stac::SarProperties>,
    /// Satellite extension metadata.
    pub satellite: Option<stac::SatelliteProperties>,
    /// Product extension metadata.
    pub product: Option<stac::ProductProperties>,
}

impl Asset {
    /// An asset `key` stored at `primary`, with no other metadata.
    pub fn new(key: impl Into<String>, primary: AssetLocation) -> Self {
        Asset {
            key: key.into(),
            primary,
            ..Default::default()
        }
    }

    /// Whether the asset has this role (`"data"`, `"metadata"`, a custom role, ...).
    pub fn has_role(&self, role: impl Into<Role>) -> bool {
        self.roles.contains(&role.into())
    }

    /// The expected size in bytes (STAC `file:size`), when known.
    pub fn size(&self) -> Option<u64> {
        self.file.as_ref().and_then(|f| f.size)
    }

    /// The expected checksum as a multihash (STAC `file:checksum`), when known.
    pub fn checksum(&self) -> Option<&[u8]> {
        self.file
            .as_ref()
            .and_then(|f| f.checksum.as_deref())
            .filter(|c| !c.is_empty())
    }
}

/// The compiled ingestion fields of an [`AssetCollection`]: the `Assets` message and the non-empty
/// registries its locations (and any extra entries) need.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetFields {
    /// The compact `datasets.stac.v1.Assets` message.
    pub assets: stac::Assets,
    /// The storage registry, `None` when empty.
    pub storage: Option<stac::Storage>,
    /// The authentication registry, `None` when empty.
    pub authentication: Option<stac::Authentication>,
}

/// The assets of exactly one datapoint, by key (in wire order when resolved, by key when authored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetCollection {
    assets: Vec<Asset>,
}

impl AssetCollection {
    /// The asset with this key.
    pub fn get(&self, key: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.key == key)
    }

    /// The assets in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Asset> {
        self.assets.iter()
    }

    /// The asset keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.assets.iter().map(|a| a.key.as_str())
    }

    /// The number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// Whether there are no assets.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// The assets having `role`.
    pub fn with_role(&self, role: impl Into<Role>) -> impl Iterator<Item = &Asset> {
        let role = role.into();
        self.assets.iter().filter(move |a| a.roles.contains(&role))
    }

    /// The assets, consuming the collection.
    pub fn into_assets(self) -> Vec<Asset> {
        self.assets
    }
}

impl<'a> IntoIterator for &'a AssetCollection {
    type Item = &'a Asset;
    type IntoIter = std::slice::Iter<'a, Asset>;

    fn into_iter(self) -> Self::IntoIter {
        self.assets.iter()
    }
}

impl IntoIterator for AssetCollection {
    type Item = Asset;
    type IntoIter = std::vec::IntoIter<Asset>;

    fn into_iter(self) -> Self::IntoIter {
        self.assets.into_iter()
    }
}

#[cfg(test)]
mod tests;
