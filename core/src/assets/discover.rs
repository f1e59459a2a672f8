//! Finding the asset fields of a datapoint by their message type, and writing compiled fields into one.

use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value};

use super::{AssetCollection, AssetError, AssetFields, repr};
use crate::datapoint::DynamicDatapoint;
use crate::wire::datasets::stac::v1 as stac;

const ASSETS: &str = "datasets.stac.v1.Assets";
const STORAGE: &str = "datasets.stac.v1.Storage";
const AUTHENTICATION: &str = "datasets.stac.v1.Authentication";

/// Datapoint field names of the `Assets`, `Storage` and `Authentication` messages.
///
/// When reading, fields are normally found by their message type; name one only to pick among several
/// fields of the same type. When writing ([`AssetFields::set_on`]), unset names default to `assets`,
/// `storage` and `authentication`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetFieldNames {
    assets: Option<String>,
    storage: Option<String>,
    authentication: Option<String>,
}

impl AssetFieldNames {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// The field holding the `Assets` message.
    pub fn assets(mut self, name: impl Into<String>) -> Self {
        self.assets = Some(name.into());
        self
    }

    /// The field holding the `Storage` registry.
    pub fn storage(mut self, name: impl Into<String>) -> Self {
        self.storage = Some(name.into());
        self
    }

    /// The field holding the `Authentication` registry.
    pub fn authentication(mut self, name: impl Into<String>) -> Self {
        self.authentication = Some(name.into());
        self
    }

    /// Checks the overrides (non-empty, the three resolved names distinct) and returns the resolved names.
    fn validate(&self) -> Result<[String; 3], AssetError> {
        let entries = [
            ("assets", &self.assets),
            ("storage", &self.storage),
            ("authentication", &self.authentication),
        ];
        for (logical, name) in &entries {
            if name.as_deref() == Some("") {
                return Err(AssetError::invalid(format!(
                    "field name for {} cannot be empty",
                    repr(logical)
                )));
            }
        }
        let [a, s, t] =
            entries.map(|(logical, name)| name.clone().unwrap_or_else(|| logical.to_owned()));
        if a == s || a == t || s == t {
            return Err(AssetError::invalid(
                "asset, storage, and authentication field names must be distinct",
            ));
        }
        Ok([a, s, t])
    }
}

impl AssetCollection {
    /// Resolves the assets of one decoded datapoint; its `Assets`, `Storage` and `Authentication` fields
    /// are found by message type.
    pub fn from_datapoint(datapoint: &DynamicDatapoint) -> Result<AssetCollection, AssetError> {
        Self::from_message(datapoint.message(), &AssetFieldNames::default())
    }

    /// Resolves the assets of a datapoint message, with field names given for ambiguous datasets.
    pub fn from_message(
        message: &DynamicMessage,
        fields: &AssetFieldNames,
    ) -> Result<AssetCollection, AssetError> {
        fields.validate()?;
        let root: stac::Assets =
            discover(message, ASSETS, fields.assets.as_deref())?.ok_or_else(|| {
                AssetError::invalid(format!("no populated {ASSETS} field found in datapoint"))
            })?;
        let storage: Option<stac::Storage> = discover(message, STORAGE, fields.storage.as_deref())?;
        let authentication: Option<stac::Authentication> =
            discover(message, AUTHENTICATION, fields.authentication.as_deref())?;
        Self::resolve(&root, storage.as_ref(), authentication.as_ref())
    }
}

impl AssetFields {
    /// Writes the fields into a datapoint message being built for ingestion (field names default to
    /// `assets`, `storage`, `authentication`); a registry that is `None` clears its field.
    pub fn set_on(
        &self,
        message: &mut DynamicMessage,
        fields: &AssetFieldNames,
    ) -> Result<(), AssetError> {
        let [assets, storage, authentication] = fields.validate()?;
        set(message, &assets, Some(&self.assets))?;
        set(message, &storage, self.storage.as_ref())?;
        set(message, &authentication, self.authentication.as_ref())
    }
}

fn set<M: prost::Message>(
    message: &mut DynamicMessage,
    name: &str,
    value: Option<&M>,
) -> Result<(), AssetError> {
    let descriptor = message.descriptor();
    let Some(field) = descriptor.get_field_by_name(name) else {
        if value.is_none() {
            return Ok(());
        }
        return Err(AssetError::invalid(format!(
            "context field {} is not present in the datapoint",
            repr(name)
        )));
    };
    let Some(value) = value else {
        message.clear_field(&field);
        return Ok(());
    };
    let Kind::Message(target) = field.kind() else {
        return Err(AssetError::invalid(format!(
            "field {} is not a message field",
            repr(name)
        )));
    };
    let dynamic =
        DynamicMessage::decode(target, value.encode_to_vec().as_slice()).map_err(|e| {
            AssetError::Decode {
                field: name.to_owned(),
                message: "its field type",
                reason: e.to_string(),
            }
        })?;
    message.set_field(&field, Value::Message(dynamic));
    Ok(())
}

/// The one populated message of type `message_name`: in the named field, or the only such field.
fn discover<M: prost::Message + Default>(
    message: &DynamicMessage,
    message_name: &'static str,
    name_override: Option<&str>,
) -> Result<Option<M>, AssetError> {
    let descriptor = message.descriptor();
    if let Some(name) = name_override {
        let field = descriptor.get_field_by_name(name).ok_or_else(|| {
            AssetError::invalid(format!(
                "context field {} is not present in the datapoint",
                repr(name)
            ))
        })?;
        let values = values_of(message, &field, message_name);
        if values.len() != 1 {
            return Err(AssetError::invalid(format!(
                "field {} does not contain exactly one {message_name} message",
                repr(name)
            )));
        }
        return transcode(&values[0], name, message_name).map(Some);
    }
    let mut candidates = Vec::new();
    for field in descriptor.fields() {
        let values = values_of(message, &field, message_name);
        match values.len() {
            0 => {}
            1 => candidates.push((field.name().to_owned(), values.into_iter().next())),
            _ => {
                return Err(AssetError::invalid(format!(
                    "field {} contains multiple {message_name} messages",
                    repr(field.name())
                )));
            }
        }
    }
    if candidates.len() > 1 {
        let names: Vec<String> = candidates.iter().map(|(n, _)| repr(n)).collect();
        return Err(AssetError::invalid(format!(
            "ambiguous {message_name} fields: {}",
            names.join(", ")
        )));
    }
    match candidates.pop() {
        Some((name, Some(value))) => transcode(&value, &name, message_name).map(Some),
        _ => Ok(None),
    }
}

/// The populated values of `field` that are messages of type `message_name`.
fn values_of(
    message: &DynamicMessage,
    field: &prost_reflect::FieldDescriptor,
    message_name: &str,
) -> Vec<DynamicMessage> {
    match field.kind() {
        Kind::Message(m) if m.full_name() == message_name => {}
        _ => return Vec::new(),
    }
    if !message.has_field(field) {
        return Vec::new();
    }
    match message.get_field(field).as_ref() {
        Value::Message(m) => vec![m.clone()],
        Value::List(list) => list
            .iter()
            .filter_map(|v| v.as_message().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

fn transcode<M: prost::Message + Default>(
    value: &DynamicMessage,
    field: &str,
    message_name: &'static str,
) -> Result<M, AssetError> {
    M::decode(value.encode_to_vec().as_slice()).map_err(|e| AssetError::Decode {
        field: field.to_owned(),
        message: message_name,
        reason: e.to_string(),
    })
}
