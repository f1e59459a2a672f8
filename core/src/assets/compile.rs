//! Authoring: semantic [`Asset`]s → validated [`AssetCollection`] → compact ingestion fields.
//!
//! Compilation follows the official client so both produce equivalent messages: assets sorted by key;
//! one access profile per (alternate key, storage refs, auth refs) group, whose base href is the group's
//! common href prefix cut at a `/`; band profiles interned and ordered by centre wavelength, then name,
//! then encoding; registries merged, rejecting one key used for two different schemes.

use std::collections::{BTreeMap, HashMap};

use prost::Message as _;

use super::inherit::{band_profile, canonical_roles, normalize_asset, profile_is_empty};
use super::{
    Asset, AssetCollection, AssetError, AssetFields, AssetLocation, MEDIA_TYPES, Role, repr,
};
use crate::wire::datasets::stac::v1 as stac;

impl AssetCollection {
    /// Validates and normalises authored assets into a collection (keys must be non-empty and unique).
    ///
    /// Known role strings become known roles, bands inherit the asset's defaults, empty band extensions
    /// become absent, and metadata shared by every band is lifted onto the asset — the same form
    /// [`AssetCollection::resolve`] gives back after a round trip through [`AssetCollection::to_fields`].
    pub fn from_assets(
        assets: impl IntoIterator<Item = Asset>,
    ) -> Result<AssetCollection, AssetError> {
        let mut result: Vec<Asset> = Vec::new();
        for asset in assets {
            validate_authored(&asset)?;
            if result.iter().any(|a| a.key == asset.key) {
                return Err(AssetError::invalid(format!(
                    "duplicate asset key: {}",
                    repr(&asset.key)
                )));
            }
            let normalized = normalize_asset(&asset)?;
            for band in &normalized.bands {
                if profile_is_empty(&band_profile(band, &normalized)) {
                    return Err(AssetError::invalid(format!(
                        "asset {} has a band with no metadata after inheritance",
                        repr(&asset.key)
                    )));
                }
            }
            result.push(normalized);
        }
        let locations: Vec<&AssetLocation> = result.iter().flat_map(locations).collect();
        merge_registry(&HashMap::new(), &locations, |l| &l.storage_schemes)?;
        merge_registry(&HashMap::new(), &locations, |l| &l.authentication_schemes)?;
        Ok(AssetCollection { assets: result })
    }

    /// Compiles the collection into the optimised ingestion fields. `storage` and `authentication` add
    /// registry entries to keep even if no asset location uses them (e.g. ones STAC links refer to).
    pub fn to_fields(
        &self,
        storage: Option<&stac::Storage>,
        authentication: Option<&stac::Authentication>,
    ) -> Result<AssetFields, AssetError> {
        let mut assets = self
            .assets
            .iter()
            .map(normalize_asset)
            .collect::<Result<Vec<_>, _>>()?;
        assets.sort_by(|a, b| a.key.cmp(&b.key));
        let all_locations: Vec<&AssetLocation> = assets.iter().flat_map(locations).collect();
        let empty_storage = HashMap::new();
        let empty_auth = HashMap::new();
        let storage_schemes = merge_registry(
            storage.map_or(&empty_storage, |s| &s.schemes),
            &all_locations,
            |l| &l.storage_schemes,
        )?;
        let auth_schemes = merge_registry(
            authentication.map_or(&empty_auth, |a| &a.schemes),
            &all_locations,
            |l| &l.authentication_schemes,
        )?;
        let profiles = AccessProfiles::compile(&assets)?;

        let mut band_profiles: Vec<(Vec<u8>, stac::Band)> = Vec::new();
        let mut asset_band_keys: Vec<Vec<Vec<u8>>> = Vec::with_capacity(assets.len());
        let mut wire_assets = Vec::with_capacity(assets.len());
        for asset in &assets {
            let mut band_keys = Vec::with_capacity(asset.bands.len());
            for band in &asset.bands {
                let profile = band_profile(band, asset);
                let key = profile.encode_to_vec();
                if key.is_empty() {
                    return Err(AssetError::invalid(format!(
                        "asset {} has a band with no metadata after inheritance",
                        repr(&asset.key)
                    )));
                }
                if !band_profiles.iter().any(|(k, _)| *k == key) {
                    band_profiles.push((key.clone(), profile));
                }
                band_keys.push(key);
            }
            asset_band_keys.push(band_keys);
            wire_assets.push(compile_asset(asset, &profiles)?);
        }
        band_profiles
            .sort_by(|(ka, a), (kb, b)| band_sort_key(a, ka).cmp_key(&band_sort_key(b, kb)));
        for (wire, keys) in wire_assets.iter_mut().zip(asset_band_keys) {
            wire.band_profile_indices = keys
                .iter()
                .filter_map(|key| band_profiles.iter().position(|(k, _)| k == key))
                .map(|i| i as u32)
                .collect();
        }
        Ok(AssetFields {
            assets: stac::Assets {
                access_profiles: profiles.wire(),
                band_profiles: band_profiles.into_iter().map(|(_, p)| p).collect(),
                assets: wire_assets,
            },
            storage: (!storage_schemes.is_empty()).then_some(stac::Storage {
                schemes: storage_schemes,
            }),
            authentication: (!auth_schemes.is_empty()).then_some(stac::Authentication {
                schemes: auth_schemes,
            }),
        })
    }
}

fn locations(asset: &Asset) -> impl Iterator<Item = &AssetLocation> {
    std::iter::once(&asset.primary).chain(asset.alternates.values())
}

fn validate_authored(asset: &Asset) -> Result<(), AssetError> {
    if asset.key.is_empty() {
        return Err(AssetError::invalid("asset key cannot be empty"));
    }
    let key = repr(&asset.key);
    if asset.primary.href.is_empty() {
        return Err(AssetError::invalid(format!(
            "asset {key} primary location href cannot be empty"
        )));
    }
    for (alternate_key, location) in &asset.alternates {
        if alternate_key.is_empty() {
            return Err(AssetError::invalid(format!(
                "asset {key} has an alternate with an empty key"
            )));
        }
        if location.href.is_empty() {
            return Err(AssetError::invalid(format!(
                "asset {key} alternate {} location href cannot be empty",
                repr(alternate_key)
            )));
        }
    }
    if asset.media_type.as_deref() == Some("") {
        return Err(AssetError::invalid(format!(
            "asset {key} media type cannot be empty"
        )));
    }
    canonical_roles(asset.roles.iter().cloned(), &asset.key)?;
    Ok(())
}

/// Merges equal registry entries and rejects one key bound to two different schemes.
fn merge_registry<T: Clone + PartialEq>(
    base: &HashMap<String, T>,
    locations: &[&AssetLocation],
    registry: impl Fn(&AssetLocation) -> &BTreeMap<String, T>,
) -> Result<HashMap<String, T>, AssetError> {
    let mut result = base.clone();
    for location in locations {
        for (key, scheme) in registry(location) {
            match result.get(key) {
                Some(previous) if previous != scheme => {
                    return Err(AssetError::invalid(format!(
                        "conflicting scheme for key {}",
                        repr(key)
                    )));
                }
                Some(_) => {}
                None => {
                    result.insert(key.clone(), scheme.clone());
                }
            }
        }
    }
    Ok(result)
}

/// The longest common prefix of `hrefs` that ends at a `/` (empty when there is none).
fn common_href_prefix<'a>(mut hrefs: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = hrefs.next() else {
        return String::new();
    };
    let mut prefix: &str = first;
    for href in hrefs {
        let common = prefix
            .char_indices()
            .zip(href.chars())
            .find(|((_, a), b)| a != b)
            .map_or_else(|| prefix.len().min(href.len()), |((i, _), _)| i);
        prefix = &prefix[..common];
    }
    prefix
        .rfind('/')
        .map_or_else(String::new, |i| prefix[..=i].to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ProfileSpec {
    // Field order is the sort order of the official client.
    is_alternate: bool,
    alternate_key: String,
    storage_refs: Vec<String>,
    auth_refs: Vec<String>,
    base_href: String,
    has_default_name: bool,
    default_name: String,
}

/// The compiled access profiles and, for every (asset key, alternate key), the profile it uses.
struct AccessProfiles {
    specs: Vec<ProfileSpec>,
    by_location: HashMap<(String, String), usize>,
}

impl AccessProfiles {
    fn compile(assets: &[Asset]) -> Result<AccessProfiles, AssetError> {
        type Group<'a> = Vec<(&'a str, &'a AssetLocation)>;
        let mut order: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        let mut groups: HashMap<(String, Vec<String>, Vec<String>), Group<'_>> = HashMap::new();
        for asset in assets {
            if asset.alternates.contains_key("") {
                return Err(AssetError::invalid(format!(
                    "asset {} has an alternate with an empty key",
                    repr(&asset.key)
                )));
            }
            let ordered = std::iter::once(("", &asset.primary))
                .chain(asset.alternates.iter().map(|(k, l)| (k.as_str(), l)));
            for (alternate_key, location) in ordered {
                if location.href.is_empty() {
                    return Err(AssetError::invalid(format!(
                        "asset {} location href cannot be empty",
                        repr(&asset.key)
                    )));
                }
                let group = (
                    alternate_key.to_owned(),
                    location.storage_schemes.keys().cloned().collect(),
                    location.authentication_schemes.keys().cloned().collect(),
                );
                groups
                    .entry(group.clone())
                    .or_insert_with(|| {
                        order.push(group);
                        Vec::new()
                    })
                    .push((asset.key.as_str(), location));
            }
        }
        let mut specs = Vec::with_capacity(order.len());
        let mut spec_of: Vec<(ProfileSpec, Vec<String>)> = Vec::new();
        for group in order {
            let members = &groups[&group];
            let base_href = common_href_prefix(members.iter().map(|(_, l)| l.href.as_str()));
            let first_name = members.first().and_then(|(_, l)| l.alternate_name.clone());
            let default_name = first_name.filter(|name| {
                members
                    .iter()
                    .all(|(_, l)| l.alternate_name.as_deref() == Some(name.as_str()))
            });
            let (alternate_key, storage_refs, auth_refs) = group;
            let spec = ProfileSpec {
                is_alternate: !alternate_key.is_empty(),
                alternate_key,
                storage_refs,
                auth_refs,
                base_href,
                has_default_name: default_name.is_some(),
                default_name: default_name.unwrap_or_default(),
            };
            spec_of.push((
                spec.clone(),
                members.iter().map(|(k, _)| (*k).to_owned()).collect(),
            ));
            specs.push(spec);
        }
        specs.sort();
        let mut by_location = HashMap::new();
        for (spec, asset_keys) in spec_of {
            let index = specs.iter().position(|s| *s == spec).unwrap_or_default();
            for asset_key in asset_keys {
                by_location.insert((asset_key, spec.alternate_key.clone()), index);
            }
        }
        Ok(AccessProfiles { specs, by_location })
    }

    fn of(&self, asset_key: &str, alternate_key: &str) -> Result<(u32, &ProfileSpec), AssetError> {
        let index = self
            .by_location
            .get(&(asset_key.to_owned(), alternate_key.to_owned()))
            .copied()
            .ok_or_else(|| {
                AssetError::invalid(format!(
                    "asset {} location has no access profile",
                    repr(asset_key)
                ))
            })?;
        Ok((index as u32, &self.specs[index]))
    }

    fn wire(&self) -> Vec<stac::AssetAccessProfile> {
        self.specs
            .iter()
            .map(|spec| stac::AssetAccessProfile {
                alternate_key: spec.alternate_key.clone(),
                default_alternate_name: spec.has_default_name.then(|| spec.default_name.clone()),
                base_href: spec.base_href.clone(),
                storage_refs: spec.storage_refs.clone(),
                auth_refs: spec.auth_refs.clone(),
            })
            .collect()
    }
}

fn default_name(spec: &ProfileSpec) -> Option<&str> {
    spec.has_default_name.then_some(spec.default_name.as_str())
}

fn compile_asset(asset: &Asset, profiles: &AccessProfiles) -> Result<stac::Asset, AssetError> {
    let (primary_index, primary_spec) = profiles.of(&asset.key, "")?;
    let primary_suffix = asset
        .primary
        .href
        .strip_prefix(primary_spec.base_href.as_str())
        .unwrap_or(&asset.primary.href)
        .to_owned();
    let primary = stac::AssetLocation {
        access_profile_index: Some(primary_index),
        href: Some(primary_suffix.clone()),
        alternate_name: if asset.primary.alternate_name.as_deref() == default_name(primary_spec) {
            None
        } else {
            asset.primary.alternate_name.clone()
        },
    };
    let mut alternates = Vec::with_capacity(asset.alternates.len());
    for (key, location) in &asset.alternates {
        let (index, spec) = profiles.of(&asset.key, key)?;
        let suffix = location
            .href
            .strip_prefix(spec.base_href.as_str())
            .unwrap_or(&location.href);
        alternates.push(stac::AssetLocation {
            access_profile_index: Some(index),
            href: (suffix != primary_suffix).then(|| suffix.to_owned()),
            alternate_name: if location.alternate_name.as_deref() == default_name(spec) {
                None
            } else {
                location.alternate_name.clone()
            },
        });
    }
    let mut known_roles: Vec<i32> = Vec::new();
    let mut custom_roles: Vec<String> = Vec::new();
    for role in &asset.roles {
        match role {
            Role::Known(known) => known_roles.push(*known as i32),
            Role::Custom(custom) => custom_roles.push(custom.clone()),
        }
    }
    known_roles.sort_unstable();
    custom_roles.sort();
    Ok(stac::Asset {
        key: asset.key.clone(),
        primary: Some(primary),
        alternates,
        media_type: asset.media_type.as_deref().map(encode_media_type),
        title: asset.title.clone(),
        description: asset.description.clone(),
        roles: known_roles,
        custom_roles,
        gsd: asset.gsd,
        band_profile_indices: Vec::new(),
        data_type: asset.data_type as i32,
        nodata: asset.nodata,
        statistics: asset.statistics,
        unit: asset.unit.clone(),
        eo: asset.eo,
        raster: asset.raster,
        projection: asset.projection.clone(),
        view: asset.view,
        classes: asset.classes.clone(),
        file: asset.file.clone(),
        sar: asset.sar.clone(),
        satellite: asset.satellite.clone(),
        product: asset.product.clone(),
    })
}

fn encode_media_type(text: &str) -> stac::MediaType {
    match MEDIA_TYPES.iter().find(|(_, t)| *t == text) {
        Some((known, _)) => stac::MediaType {
            known: Some(*known as i32),
            custom: None,
        },
        None => stac::MediaType {
            known: None,
            custom: Some(text.to_owned()),
        },
    }
}

/// Band profile order: profiles with a centre wavelength first (ascending), then named ones (by name),
/// then by encoding.
struct BandSortKey<'a> {
    center: Option<f64>,
    name: Option<&'a str>,
    encoded: &'a [u8],
}

fn band_sort_key<'a>(profile: &'a stac::Band, encoded: &'a [u8]) -> BandSortKey<'a> {
    BandSortKey {
        center: profile.eo.as_ref().and_then(|eo| eo.center_wavelength),
        name: profile.name.as_deref(),
        encoded,
    }
}

impl BandSortKey<'_> {
    fn cmp_key(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |o: &Option<f64>| u8::from(o.is_none());
        let name_rank = |o: &Option<&str>| u8::from(o.is_none());
        rank(&self.center)
            .cmp(&rank(&other.center))
            .then_with(|| {
                self.center
                    .unwrap_or(0.0)
                    .total_cmp(&other.center.unwrap_or(0.0))
            })
            .then_with(|| name_rank(&self.name).cmp(&name_rank(&other.name)))
            .then_with(|| self.name.unwrap_or("").cmp(other.name.unwrap_or("")))
            .then_with(|| self.encoded.cmp(other.encoded))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::common_href_prefix;

    #[test]
    fn href_prefix_stops_at_a_slash() {
        let p = |v: &[&str]| common_href_prefix(v.iter().copied());
        assert_eq!(p(&["s3://b/a/x.tif", "s3://b/a/y.tif"]), "s3://b/a/");
        assert_eq!(p(&["s3://b/a/x.tif"]), "s3://b/a/");
        assert_eq!(p(&["s3://b/ab.tif", "s3://b/ac.tif"]), "s3://b/");
        assert_eq!(p(&["abc", "abd"]), "");
        assert_eq!(p(&["é/ü", "é/ö"]), "é/");
    }
}
