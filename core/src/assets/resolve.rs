//! Resolution: the compact `Assets` wire message plus its registries → typed [`Asset`]s.

use std::collections::{BTreeMap, HashMap};

use super::inherit::{canonical_roles, inherit_eo, inherit_raster, inherit_sar};
use super::{Asset, AssetCollection, AssetError, AssetLocation, Band, MEDIA_TYPES, Role, repr};
use crate::wire::datasets::stac::v1 as stac;

impl AssetCollection {
    /// Resolves an `Assets` message against its storage and authentication registries.
    ///
    /// Hrefs are the access profile's base href followed by the location's href (an alternate without
    /// one reuses the primary's); registry references must exist; bands inherit the asset's metadata.
    pub fn resolve(
        assets: &stac::Assets,
        storage: Option<&stac::Storage>,
        authentication: Option<&stac::Authentication>,
    ) -> Result<AssetCollection, AssetError> {
        let empty_storage = HashMap::new();
        let empty_auth = HashMap::new();
        let storage = storage.map_or(&empty_storage, |s| &s.schemes);
        let authentication = authentication.map_or(&empty_auth, |a| &a.schemes);
        let registries = Registries {
            profiles: &assets.access_profiles,
            storage,
            authentication,
        };
        let mut result: Vec<Asset> = Vec::with_capacity(assets.assets.len());
        for source in &assets.assets {
            if source.key.is_empty() {
                return Err(AssetError::invalid("asset key cannot be empty"));
            }
            let key = repr(&source.key);
            let primary_source = source.primary.as_ref().ok_or_else(|| {
                AssetError::invalid(format!("asset {key} has no primary location"))
            })?;
            let primary_suffix = primary_source.href.as_deref();
            let (primary_key, primary) = registries.location(primary_source, None)?;
            if !primary_key.is_empty() {
                return Err(AssetError::invalid(format!(
                    "asset {key} primary location uses alternate profile {}",
                    repr(primary_key)
                )));
            }
            if primary.href.is_empty() {
                return Err(AssetError::invalid(format!(
                    "asset {key} primary location href cannot be empty"
                )));
            }
            let mut alternates = BTreeMap::new();
            for alternate_source in &source.alternates {
                let (alternate_key, alternate) =
                    registries.location(alternate_source, primary_suffix)?;
                if alternate_key.is_empty() {
                    return Err(AssetError::invalid(format!(
                        "asset {key} has an alternate with an empty key"
                    )));
                }
                if alternate.href.is_empty() {
                    return Err(AssetError::invalid(format!(
                        "asset {key} alternate {} href cannot be empty",
                        repr(alternate_key)
                    )));
                }
                if alternates.contains_key(alternate_key) {
                    return Err(AssetError::invalid(format!(
                        "asset {key} has duplicate alternate key {}",
                        repr(alternate_key)
                    )));
                }
                alternates.insert(alternate_key.to_owned(), alternate);
            }
            let roles = source
                .roles
                .iter()
                .map(|&r| {
                    stac::KnownAssetRole::try_from(r)
                        .map(Role::Known)
                        .unwrap_or(Role::Known(stac::KnownAssetRole::Unspecified))
                })
                .chain(source.custom_roles.iter().map(|r| Role::Custom(r.clone())));
            let mut asset = Asset {
                key: source.key.clone(),
                primary,
                alternates,
                media_type: media_type(source.media_type.as_ref())?,
                title: source.title.clone(),
                description: source.description.clone(),
                roles: canonical_roles(roles, &source.key)?,
                gsd: source.gsd,
                bands: Vec::new(),
                data_type: stac::DataType::try_from(source.data_type).unwrap_or_default(),
                nodata: source.nodata,
                statistics: source.statistics,
                unit: source.unit.clone(),
                eo: source.eo,
                raster: source.raster,
                projection: source.projection.clone(),
                view: source.view,
                classes: source.classes.clone(),
                file: source.file.clone(),
                sar: source.sar.clone(),
                satellite: source.satellite.clone(),
                product: source.product.clone(),
            };
            let mut bands = Vec::with_capacity(source.band_profile_indices.len());
            for &index in &source.band_profile_indices {
                let profile = assets.band_profiles.get(index as usize).ok_or_else(|| {
                    AssetError::invalid(format!("invalid band profile index: {index}"))
                })?;
                bands.push(resolve_band(profile, &asset));
            }
            asset.bands = bands;
            if result.iter().any(|a| a.key == asset.key) {
                return Err(AssetError::invalid(format!("duplicate asset key: {key}")));
            }
            result.push(asset);
        }
        Ok(AssetCollection { assets: result })
    }
}

struct Registries<'a> {
    profiles: &'a [stac::AssetAccessProfile],
    storage: &'a HashMap<String, stac::StorageScheme>,
    authentication: &'a HashMap<String, stac::AuthenticationScheme>,
}

impl<'a> Registries<'a> {
    /// Expands a location's access-profile reference into its alternate key and resolved location.
    fn location(
        &self,
        source: &stac::AssetLocation,
        fallback_href: Option<&str>,
    ) -> Result<(&'a str, AssetLocation), AssetError> {
        let index = source.access_profile_index.ok_or_else(|| {
            AssetError::invalid("asset location is missing its access profile index")
        })?;
        let profile = self.profiles.get(index as usize).ok_or_else(|| {
            AssetError::invalid(format!("invalid asset access profile index: {index}"))
        })?;
        let suffix = source.href.as_deref().or(fallback_href).ok_or_else(|| {
            AssetError::invalid("asset location has no href and no primary href to inherit")
        })?;
        Ok((
            profile.alternate_key.as_str(),
            AssetLocation {
                href: format!("{}{suffix}", profile.base_href),
                alternate_name: source
                    .alternate_name
                    .clone()
                    .or_else(|| profile.default_alternate_name.clone()),
                storage_schemes: resolve_refs(self.storage, &profile.storage_refs, "storage")?,
                authentication_schemes: resolve_refs(
                    self.authentication,
                    &profile.auth_refs,
                    "authentication",
                )?,
            },
        ))
    }
}

fn resolve_refs<T: Clone>(
    registry: &HashMap<String, T>,
    refs: &[String],
    kind: &str,
) -> Result<BTreeMap<String, T>, AssetError> {
    refs.iter()
        .map(|key| {
            registry
                .get(key)
                .map(|scheme| (key.clone(), scheme.clone()))
                .ok_or_else(|| {
                    AssetError::invalid(format!(
                        "asset references missing {kind} scheme {}",
                        repr(key)
                    ))
                })
        })
        .collect()
}

fn media_type(source: Option<&stac::MediaType>) -> Result<Option<String>, AssetError> {
    let Some(source) = source else {
        return Ok(None);
    };
    match (source.known, &source.custom) {
        (Some(_), Some(_)) | (None, None) => Err(AssetError::invalid(
            "asset media type must contain exactly one known or custom value",
        )),
        (None, Some(custom)) if custom.is_empty() => Err(AssetError::invalid(
            "asset custom media type cannot be empty",
        )),
        (None, Some(custom)) => Ok(Some(custom.clone())),
        (Some(known), None) => MEDIA_TYPES
            .iter()
            .find(|(k, _)| *k as i32 == known)
            .map(|(_, text)| Some((*text).to_owned()))
            .ok_or_else(|| {
                AssetError::invalid(format!("asset has invalid known media type {known}"))
            }),
    }
}

fn resolve_band(source: &stac::Band, asset: &Asset) -> Band {
    let data_type = stac::DataType::try_from(source.data_type).unwrap_or_default();
    Band {
        name: source.name.clone(),
        description: source.description.clone(),
        data_type: if data_type != stac::DataType::Unspecified {
            data_type
        } else {
            asset.data_type
        },
        nodata: source.nodata.or(asset.nodata),
        unit: source.unit.clone().or_else(|| asset.unit.clone()),
        eo: inherit_eo(source.eo.as_ref(), asset.eo.as_ref()),
        raster: inherit_raster(source.raster.as_ref(), asset.raster.as_ref()),
        classes: if source.classes.is_empty() {
            asset.classes.clone()
        } else {
            source.classes.clone()
        },
        sar: inherit_sar(source.sar.as_ref(), asset.sar.as_ref()),
    }
}
