//! Band metadata inheritance: a band's effective value is its own, else the asset's. Resolution
//! reconstructs effective values ([`inherit_eo`] and friends); compilation lifts values shared by every
//! band onto the asset ([`normalize_asset`]) and strips inherited values from band profiles
//! ([`sparse_eo`] and friends).

use prost::Message as _;

use super::{Asset, AssetError, Band, Role};
use crate::wire::datasets::stac::v1 as stac;

/// Equality that treats two NaN floats as equal (nodata values are often NaN).
pub(crate) trait SemanticEq {
    fn semantic_eq(&self, other: &Self) -> bool;
}

impl SemanticEq for f64 {
    fn semantic_eq(&self, other: &Self) -> bool {
        (self.is_nan() && other.is_nan()) || self == other
    }
}

impl<T: SemanticEq> SemanticEq for Option<T> {
    fn semantic_eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.semantic_eq(b),
            (None, None) => true,
            _ => false,
        }
    }
}

macro_rules! plain_semantic_eq {
    ($($t:ty),*) => {$(
        impl SemanticEq for $t {
            fn semantic_eq(&self, other: &Self) -> bool { self == other }
        }
    )*};
}
plain_semantic_eq!(
    i32,
    u64,
    String,
    Vec<i32>,
    Vec<String>,
    Vec<stac::ClassificationClass>
);

/// The value shared by every item, `None` when they differ (or there are none).
fn common<T: SemanticEq + Clone>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut values = values.into_iter();
    let first = values.next()?;
    values.all(|v| v.semantic_eq(&first)).then_some(first)
}

fn or<T: Clone>(child: &Option<T>, parent: &Option<T>) -> Option<T> {
    child.clone().or_else(|| parent.clone())
}

fn or_enum(child: i32, parent: i32) -> i32 {
    if child != 0 { child } else { parent }
}

fn or_list<T: Clone>(child: &[T], parent: &[T]) -> Vec<T> {
    if child.is_empty() {
        parent.to_vec()
    } else {
        child.to_vec()
    }
}

/// `None` for a message that encodes to nothing (every field unset).
fn non_empty<M: prost::Message>(message: M) -> Option<M> {
    (message.encoded_len() > 0).then_some(message)
}

pub(crate) fn inherit_eo(
    child: Option<&stac::EoProperties>,
    parent: Option<&stac::EoProperties>,
) -> Option<stac::EoProperties> {
    let (child, parent) = match (child, parent) {
        (None, p) => return p.copied(),
        (c, None) => return c.copied(),
        (Some(c), Some(p)) => (c, p),
    };
    Some(stac::EoProperties {
        common_name: or_enum(child.common_name, parent.common_name),
        center_wavelength: or(&child.center_wavelength, &parent.center_wavelength),
        full_width_half_max: or(&child.full_width_half_max, &parent.full_width_half_max),
        solar_illumination: or(&child.solar_illumination, &parent.solar_illumination),
    })
}

pub(crate) fn inherit_raster(
    child: Option<&stac::RasterProperties>,
    parent: Option<&stac::RasterProperties>,
) -> Option<stac::RasterProperties> {
    let (child, parent) = match (child, parent) {
        (None, p) => return p.copied(),
        (c, None) => return c.copied(),
        (Some(c), Some(p)) => (c, p),
    };
    Some(stac::RasterProperties {
        sampling: or_enum(child.sampling, parent.sampling),
        scale: or(&child.scale, &parent.scale),
        offset: or(&child.offset, &parent.offset),
        spatial_resolution: or(&child.spatial_resolution, &parent.spatial_resolution),
    })
}

pub(crate) fn inherit_sar(
    child: Option<&stac::SarProperties>,
    parent: Option<&stac::SarProperties>,
) -> Option<stac::SarProperties> {
    let (c, p) = match (child, parent) {
        (None, p) => return p.cloned(),
        (c, None) => return c.cloned(),
        (Some(c), Some(p)) => (c, p),
    };
    Some(stac::SarProperties {
        polarizations: or_list(&c.polarizations, &p.polarizations),
        instrument_mode: or(&c.instrument_mode, &p.instrument_mode),
        frequency_band: or_enum(c.frequency_band, p.frequency_band),
        center_frequency: or(&c.center_frequency, &p.center_frequency),
        bandwidth: or(&c.bandwidth, &p.bandwidth),
        resolution_range: or(&c.resolution_range, &p.resolution_range),
        resolution_azimuth: or(&c.resolution_azimuth, &p.resolution_azimuth),
        pixel_spacing_range: or(&c.pixel_spacing_range, &p.pixel_spacing_range),
        pixel_spacing_azimuth: or(&c.pixel_spacing_azimuth, &p.pixel_spacing_azimuth),
        looks_range: or(&c.looks_range, &p.looks_range),
        looks_azimuth: or(&c.looks_azimuth, &p.looks_azimuth),
        looks_equivalent_number: or(&c.looks_equivalent_number, &p.looks_equivalent_number),
        observation_direction: or_enum(c.observation_direction, p.observation_direction),
        relative_burst: or(&c.relative_burst, &p.relative_burst),
        beam_ids: or_list(&c.beam_ids, &p.beam_ids),
    })
}

/// A band with every inheritable asset default applied.
pub(crate) fn effective_band(band: &Band, asset: &Asset) -> Band {
    Band {
        name: band.name.clone(),
        description: band.description.clone(),
        data_type: if band.data_type != stac::DataType::Unspecified {
            band.data_type
        } else {
            asset.data_type
        },
        nodata: band.nodata.or(asset.nodata),
        unit: or(&band.unit, &asset.unit),
        eo: inherit_eo(band.eo.as_ref(), asset.eo.as_ref()),
        raster: inherit_raster(band.raster.as_ref(), asset.raster.as_ref()),
        classes: or_list(&band.classes, &asset.classes),
        sar: inherit_sar(band.sar.as_ref(), asset.sar.as_ref()),
    }
}

/// Roles with known spellings canonicalised; invalid roles are an error.
pub(crate) fn canonical_roles(
    roles: impl IntoIterator<Item = Role>,
    asset_key: &str,
) -> Result<std::collections::BTreeSet<Role>, AssetError> {
    roles.into_iter().map(|r| r.canonical(asset_key)).collect()
}

/// The canonical semantic form of an authored asset, the one resolution reproduces: bands get effective
/// values, empty band extensions become absent, and values shared by every band are lifted onto the asset.
pub(crate) fn normalize_asset(asset: &Asset) -> Result<Asset, AssetError> {
    let roles = canonical_roles(asset.roles.iter().cloned(), &asset.key)?;
    if asset.bands.is_empty() {
        return Ok(Asset {
            roles,
            ..asset.clone()
        });
    }
    let bands: Vec<Band> = asset
        .bands
        .iter()
        .map(|b| {
            let mut band = effective_band(b, asset);
            band.eo = band.eo.and_then(non_empty);
            band.raster = band.raster.and_then(non_empty);
            band.sar = band.sar.and_then(non_empty);
            band
        })
        .collect();
    let data_type = common(bands.iter().map(|b| b.data_type as i32))
        .and_then(|v| stac::DataType::try_from(v).ok())
        .unwrap_or(asset.data_type);
    let nodata = common(bands.iter().map(|b| b.nodata)).unwrap_or(asset.nodata);
    let unit = common(bands.iter().map(|b| b.unit.clone())).unwrap_or_else(|| asset.unit.clone());
    let classes =
        common(bands.iter().map(|b| b.classes.clone())).unwrap_or_else(|| asset.classes.clone());
    let raster = lift_raster(&bands, asset.raster.as_ref());
    let sar = lift_sar(&bands, asset.sar.as_ref());
    Ok(Asset {
        roles,
        bands,
        data_type,
        nodata,
        unit,
        raster,
        classes,
        sar,
        ..asset.clone()
    })
}

fn lift_raster(
    bands: &[Band],
    parent: Option<&stac::RasterProperties>,
) -> Option<stac::RasterProperties> {
    let field = |f: fn(&stac::RasterProperties) -> Option<f64>| {
        common(bands.iter().map(|b| b.raster.as_ref().and_then(f)))
            .unwrap_or_else(|| parent.and_then(f))
    };
    let result = stac::RasterProperties {
        sampling: common(bands.iter().map(|b| b.raster.map_or(0, |r| r.sampling)))
            .unwrap_or_else(|| parent.map_or(0, |p| p.sampling)),
        scale: field(|r| r.scale),
        offset: field(|r| r.offset),
        spatial_resolution: field(|r| r.spatial_resolution),
    };
    non_empty(result)
}

fn lift_sar(bands: &[Band], parent: Option<&stac::SarProperties>) -> Option<stac::SarProperties> {
    fn lift<T: SemanticEq + Clone>(
        bands: &[Band],
        parent: Option<&stac::SarProperties>,
        f: impl Fn(Option<&stac::SarProperties>) -> T,
    ) -> T {
        common(bands.iter().map(|b| f(b.sar.as_ref()))).unwrap_or_else(|| f(parent))
    }
    let opt_f64 =
        |g: fn(&stac::SarProperties) -> Option<f64>| lift(bands, parent, |s| s.and_then(g));
    let opt_u64 =
        |g: fn(&stac::SarProperties) -> Option<u64>| lift(bands, parent, |s| s.and_then(g));
    let result = stac::SarProperties {
        polarizations: lift(bands, parent, |s| s.map(|s| s.polarizations.clone()))
            .unwrap_or_default(),
        instrument_mode: lift(bands, parent, |s| s.and_then(|s| s.instrument_mode.clone())),
        frequency_band: lift(bands, parent, |s| s.map_or(0, |s| s.frequency_band)),
        center_frequency: opt_f64(|s| s.center_frequency),
        bandwidth: opt_f64(|s| s.bandwidth),
        resolution_range: opt_f64(|s| s.resolution_range),
        resolution_azimuth: opt_f64(|s| s.resolution_azimuth),
        pixel_spacing_range: opt_f64(|s| s.pixel_spacing_range),
        pixel_spacing_azimuth: opt_f64(|s| s.pixel_spacing_azimuth),
        looks_range: opt_u64(|s| s.looks_range),
        looks_azimuth: opt_u64(|s| s.looks_azimuth),
        looks_equivalent_number: opt_f64(|s| s.looks_equivalent_number),
        observation_direction: lift(bands, parent, |s| s.map_or(0, |s| s.observation_direction)),
        relative_burst: opt_u64(|s| s.relative_burst),
        beam_ids: lift(bands, parent, |s| s.map(|s| s.beam_ids.clone())).unwrap_or_default(),
    };
    non_empty(result)
}

/// `None` when the child's value equals the parent's (so the band inherits it), else the child's.
fn unless_inherited<T: SemanticEq + Clone>(
    child: &Option<T>,
    parent: Option<&Option<T>>,
) -> Option<T> {
    let parent_value = parent.cloned().flatten();
    if child.semantic_eq(&parent_value) {
        None
    } else {
        child.clone()
    }
}

pub(crate) fn sparse_eo(
    child: Option<&stac::EoProperties>,
    parent: Option<&stac::EoProperties>,
) -> Option<stac::EoProperties> {
    let c = child?;
    non_empty(stac::EoProperties {
        common_name: match parent {
            Some(p) if p.common_name == c.common_name => 0,
            _ => c.common_name,
        },
        center_wavelength: unless_inherited(
            &c.center_wavelength,
            parent.map(|p| &p.center_wavelength),
        ),
        full_width_half_max: unless_inherited(
            &c.full_width_half_max,
            parent.map(|p| &p.full_width_half_max),
        ),
        solar_illumination: unless_inherited(
            &c.solar_illumination,
            parent.map(|p| &p.solar_illumination),
        ),
    })
}

pub(crate) fn sparse_raster(
    child: Option<&stac::RasterProperties>,
    parent: Option<&stac::RasterProperties>,
) -> Option<stac::RasterProperties> {
    let c = child?;
    non_empty(stac::RasterProperties {
        sampling: match parent {
            Some(p) if p.sampling == c.sampling => 0,
            _ => c.sampling,
        },
        scale: unless_inherited(&c.scale, parent.map(|p| &p.scale)),
        offset: unless_inherited(&c.offset, parent.map(|p| &p.offset)),
        spatial_resolution: unless_inherited(
            &c.spatial_resolution,
            parent.map(|p| &p.spatial_resolution),
        ),
    })
}

pub(crate) fn sparse_sar(
    child: Option<&stac::SarProperties>,
    parent: Option<&stac::SarProperties>,
) -> Option<stac::SarProperties> {
    let c = child?;
    let p = parent;
    let enum_field = |cv: i32, pv: Option<i32>| if cv == pv.unwrap_or(0) { 0 } else { cv };
    let list = |cv: &Vec<String>, pv: Option<&Vec<String>>| {
        if Some(cv) == pv {
            Vec::new()
        } else {
            cv.clone()
        }
    };
    non_empty(stac::SarProperties {
        polarizations: if Some(&c.polarizations) == p.map(|p| &p.polarizations) {
            Vec::new()
        } else {
            c.polarizations.clone()
        },
        instrument_mode: unless_inherited(&c.instrument_mode, p.map(|p| &p.instrument_mode)),
        frequency_band: enum_field(c.frequency_band, p.map(|p| p.frequency_band)),
        center_frequency: unless_inherited(&c.center_frequency, p.map(|p| &p.center_frequency)),
        bandwidth: unless_inherited(&c.bandwidth, p.map(|p| &p.bandwidth)),
        resolution_range: unless_inherited(&c.resolution_range, p.map(|p| &p.resolution_range)),
        resolution_azimuth: unless_inherited(
            &c.resolution_azimuth,
            p.map(|p| &p.resolution_azimuth),
        ),
        pixel_spacing_range: unless_inherited(
            &c.pixel_spacing_range,
            p.map(|p| &p.pixel_spacing_range),
        ),
        pixel_spacing_azimuth: unless_inherited(
            &c.pixel_spacing_azimuth,
            p.map(|p| &p.pixel_spacing_azimuth),
        ),
        looks_range: unless_inherited(&c.looks_range, p.map(|p| &p.looks_range)),
        looks_azimuth: unless_inherited(&c.looks_azimuth, p.map(|p| &p.looks_azimuth)),
        looks_equivalent_number: unless_inherited(
            &c.looks_equivalent_number,
            p.map(|p| &p.looks_equivalent_number),
        ),
        observation_direction: enum_field(
            c.observation_direction,
            p.map(|p| p.observation_direction),
        ),
        relative_burst: unless_inherited(&c.relative_burst, p.map(|p| &p.relative_burst)),
        beam_ids: list(&c.beam_ids, p.map(|p| &p.beam_ids)),
    })
}

/// The sparse band profile of an effective band: only what differs from the asset.
pub(crate) fn band_profile(band: &Band, asset: &Asset) -> stac::Band {
    stac::Band {
        name: band.name.clone(),
        description: band.description.clone(),
        data_type: if band.data_type == asset.data_type {
            0
        } else {
            band.data_type as i32
        },
        nodata: unless_inherited(&band.nodata, Some(&asset.nodata)),
        unit: if band.unit == asset.unit {
            None
        } else {
            band.unit.clone()
        },
        eo: sparse_eo(band.eo.as_ref(), asset.eo.as_ref()),
        raster: sparse_raster(band.raster.as_ref(), asset.raster.as_ref()),
        classes: if band.classes == asset.classes {
            Vec::new()
        } else {
            band.classes.clone()
        },
        sar: sparse_sar(band.sar.as_ref(), asset.sar.as_ref()),
    }
}

/// Whether a compiled band profile carries anything.
pub(crate) fn profile_is_empty(profile: &stac::Band) -> bool {
    profile.encoded_len() == 0
}
