//! The domain model users see: [`Dataset`], the dataset group tree [`DatasetTree`], [`Collection`] and
//! [`CollectionInfo`], and [`DatasetSpec`]/[`FieldSpec`] for creating datasets.
//!
//! The async operations on datasets and collections live in [`crate::client`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label, Type};
use uuid::Uuid;

use crate::datapoint::Schema;
use crate::error::{Error, Result};
use crate::rpc::RpcClient;
use crate::time::{TimeInterval, uuid_from_wire};
use crate::wire::datasets::v1 as pb;

pub use crate::wire::datasets::v1::{DatasetKind, DatasetPermission, Visibility};

/// A dataset: its metadata and schema. Cheap to clone; the operations are in [`crate::client`].
#[derive(Clone)]
pub struct Dataset {
    pub(crate) inner: Arc<DatasetInner>,
}

pub(crate) struct DatasetInner {
    pub(crate) rpc: RpcClient,
    pub(crate) wire: pb::Dataset,
    pub(crate) id: Uuid,
    schema: OnceLock<std::result::Result<Schema, String>>,
}

impl Dataset {
    /// Wraps a wire `Dataset` (from `GetDataset`, `ListDatasets`, `CreateDataset`, ...).
    pub fn from_wire(rpc: RpcClient, wire: pb::Dataset) -> Result<Self> {
        let id = wire
            .id
            .as_ref()
            .map(uuid_from_wire)
            .transpose()?
            .unwrap_or(Uuid::nil());
        Ok(Dataset {
            inner: Arc::new(DatasetInner {
                rpc,
                wire,
                id,
                schema: OnceLock::new(),
            }),
        })
    }

    /// The dataset id.
    pub fn id(&self) -> Uuid {
        self.inner.id
    }

    /// The full dotted path, e.g. `open_data.copernicus.landsat8_oli_tirs`.
    pub fn slug(&self) -> &str {
        &self.inner.wire.slug
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.inner.wire.name
    }

    /// The snake_case code name (last segment of the slug).
    pub fn code_name(&self) -> &str {
        &self.inner.wire.code_name
    }

    /// The short summary.
    pub fn summary(&self) -> &str {
        &self.inner.wire.summary
    }

    /// The Markdown description.
    pub fn description(&self) -> &str {
        &self.inner.wire.description
    }

    /// Temporal or spatiotemporal.
    pub fn kind(&self) -> DatasetKind {
        self.inner
            .wire
            .r#type
            .as_ref()
            .and_then(|t| DatasetKind::try_from(t.kind).ok())
            .unwrap_or(DatasetKind::Unspecified)
    }

    /// The full name of the datapoint message (as in query results).
    pub fn type_url(&self) -> &str {
        self.inner
            .wire
            .r#type
            .as_ref()
            .map_or("", |t| t.type_url.as_str())
    }

    /// The id of the group the dataset belongs to.
    pub fn group_id(&self) -> Option<Uuid> {
        self.inner
            .wire
            .group_id
            .as_ref()
            .and_then(|id| uuid_from_wire(id).ok())
    }

    /// The icon name shown for the dataset (may be empty).
    pub fn icon(&self) -> &str {
        &self.inner.wire.icon
    }

    /// The caller's permissions on the dataset, in the order sent (numbers this SDK does not know are
    /// left out; [`Dataset::wire`] keeps them).
    pub fn permissions(&self) -> Vec<DatasetPermission> {
        self.inner
            .wire
            .permissions
            .iter()
            .filter_map(|p| DatasetPermission::try_from(*p).ok())
            .collect()
    }

    /// Whether the caller holds `permission` on the dataset.
    pub fn has_permission(&self, permission: DatasetPermission) -> bool {
        self.inner.wire.permissions.contains(&(permission as i32))
    }

    /// How the dataset is visible to the caller (private, shared with them, public); `Unspecified` for
    /// numbers this SDK does not know.
    pub fn visibility(&self) -> Visibility {
        Visibility::try_from(self.inner.wire.visibility).unwrap_or(Visibility::Unspecified)
    }

    /// Whether the dataset's schema may still be changed freely (true while it holds no data).
    pub fn type_editable(&self) -> bool {
        self.inner.wire.type_editable
    }

    /// The collections the server embedded in the dataset message (usually none; use
    /// `Dataset::collections` to list them).
    pub fn embedded_collections(&self) -> Result<Vec<CollectionInfo>> {
        self.inner
            .wire
            .collections
            .iter()
            .map(CollectionInfo::from_wire)
            .collect()
    }

    /// The wire message as received.
    pub fn wire(&self) -> &pb::Dataset {
        &self.inner.wire
    }

    /// The RPC client this dataset talks through.
    pub fn rpc(&self) -> &RpcClient {
        &self.inner.rpc
    }

    /// The datapoint schema, loaded on first use. Datasets with legacy schemas (referencing types that no
    /// longer exist) still open; only this call (and dynamic decoding) fails, with [`Error::Decode`] naming
    /// the missing type.
    pub fn schema(&self) -> Result<Schema> {
        let loaded = self
            .inner
            .schema
            .get_or_init(|| match self.inner.wire.r#type.as_ref() {
                Some(annotated) => Schema::from_annotated_type(annotated).map_err(|e| e.message()),
                None => Err(format!("dataset {} has no type", self.slug())),
            });
        loaded.clone().map_err(Error::decode)
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("slug", &self.slug())
            .field("id", &self.id())
            .field("type_url", &self.type_url())
            .finish()
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.slug(), self.name())
    }
}

/// A node of the dataset group tree: sub-groups and datasets by code name.
#[derive(Clone, Default)]
pub struct DatasetGroup {
    id: Option<Uuid>,
    code_name: String,
    name: String,
    icon: String,
    groups: BTreeMap<String, DatasetGroup>,
    datasets: BTreeMap<String, Dataset>,
}

impl DatasetGroup {
    /// The group id (`None` for the root).
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The code name (empty for the root).
    pub fn code_name(&self) -> &str {
        &self.code_name
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The icon name shown for the group (may be empty).
    pub fn icon(&self) -> &str {
        &self.icon
    }

    /// The direct sub-group `code_name`.
    pub fn group(&self, code_name: &str) -> Option<&DatasetGroup> {
        self.groups.get(code_name)
    }

    /// The dataset `code_name` directly in this group.
    pub fn dataset(&self, code_name: &str) -> Option<&Dataset> {
        self.datasets.get(code_name)
    }

    /// The direct sub-groups, by code name.
    pub fn groups(&self) -> impl Iterator<Item = &DatasetGroup> {
        self.groups.values()
    }

    /// The datasets directly in this group, by code name.
    pub fn datasets(&self) -> impl Iterator<Item = &Dataset> {
        self.datasets.values()
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Dataset>) {
        out.extend(self.datasets.values());
        for group in self.groups.values() {
            group.collect(out);
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        for (name, group) in &self.groups {
            writeln!(f, "{:indent$}{name}/", "", indent = depth * 2)?;
            group.render(f, depth + 1)?;
        }
        for (name, dataset) in &self.datasets {
            writeln!(
                f,
                "{:indent$}{name}: {}",
                "",
                dataset.name(),
                indent = depth * 2
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for DatasetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatasetGroup")
            .field("code_name", &self.code_name)
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .field("datasets", &self.datasets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The tree of dataset groups and datasets from `ListDatasets`, navigable by dotted path.
#[derive(Clone, Debug, Default)]
pub struct DatasetTree {
    root: DatasetGroup,
    server_message: String,
    owned_datasets: i64,
    maximum_owned_datasets: Option<i64>,
}

impl DatasetTree {
    /// Builds the tree: every group hangs under its parent (resolved by id, in any order; groups whose parent
    /// is absent hang under the root), every dataset under its group.
    pub fn from_wire(rpc: &RpcClient, response: pb::ListDatasetsResponse) -> Result<Self> {
        struct GroupEntry {
            parent: Option<Uuid>,
            group: DatasetGroup,
        }
        let mut entries: BTreeMap<Uuid, GroupEntry> = BTreeMap::new();
        for g in &response.groups {
            let Some(id) = g.id.as_ref().map(uuid_from_wire).transpose()? else {
                continue;
            };
            let parent = g
                .parent_id
                .as_ref()
                .map(uuid_from_wire)
                .transpose()?
                .filter(|p| !p.is_nil());
            entries.insert(
                id,
                GroupEntry {
                    parent,
                    group: DatasetGroup {
                        id: Some(id),
                        code_name: g.code_name.clone(),
                        name: g.name.clone(),
                        icon: g.icon.clone(),
                        ..Default::default()
                    },
                },
            );
        }
        let mut root = DatasetGroup {
            name: "datasets".to_owned(),
            ..Default::default()
        };
        for d in response.datasets {
            let dataset = Dataset::from_wire(rpc.clone(), d)?;
            let code_name = dataset.code_name().to_owned();
            match dataset.group_id().and_then(|g| entries.get_mut(&g)) {
                Some(entry) => {
                    entry.group.datasets.insert(code_name, dataset);
                }
                None => {
                    tracing::warn!(
                        slug = dataset.slug(),
                        "dataset references an unknown group; listed at the root"
                    );
                    root.datasets.insert(code_name, dataset);
                }
            }
        }
        // Attach children to parents, deepest first: repeatedly move every group that no other remaining
        // group names as parent (a leaf of what is left) into its parent.
        loop {
            let parents: std::collections::BTreeSet<Uuid> =
                entries.values().filter_map(|e| e.parent).collect();
            let leaves: Vec<Uuid> = entries
                .keys()
                .filter(|id| !parents.contains(id))
                .copied()
                .collect();
            if leaves.is_empty() {
                break;
            }
            for id in leaves {
                let Some(entry) = entries.remove(&id) else {
                    continue;
                };
                let code_name = entry.group.code_name.clone();
                match entry.parent.and_then(|p| entries.get_mut(&p)) {
                    Some(parent) => {
                        parent.group.groups.insert(code_name, entry.group);
                    }
                    None => {
                        if entry.parent.is_some() {
                            tracing::warn!(group = %code_name, "dataset group references an unknown parent; listed at the root");
                        }
                        root.groups.insert(code_name, entry.group);
                    }
                }
            }
        }
        // Whatever is left forms a parent cycle: list it at the root rather than lose it.
        for (_, entry) in entries {
            root.groups
                .insert(entry.group.code_name.clone(), entry.group);
        }
        Ok(DatasetTree {
            root,
            server_message: response.server_message,
            owned_datasets: response.owned_datasets,
            maximum_owned_datasets: response.maximum_owned_datasets,
        })
    }

    /// The root group.
    pub fn root(&self) -> &DatasetGroup {
        &self.root
    }

    /// The dataset at a dotted path (`open_data.copernicus.landsat8_oli_tirs`).
    pub fn get(&self, path: &str) -> Option<&Dataset> {
        let (groups, name) = match path.rsplit_once('.') {
            Some((groups, name)) => (Some(groups), name),
            None => (None, path),
        };
        let group = match groups {
            Some(g) => self.group(g)?,
            None => &self.root,
        };
        group.dataset(name)
    }

    /// The dataset at a dotted path, or [`Error::NotFound`].
    pub fn dataset(&self, path: &str) -> Result<&Dataset> {
        self.get(path).ok_or_else(|| Error::NotFound {
            message: format!("no such dataset {path:?}"),
        })
    }

    /// The group at a dotted path (`open_data.copernicus`).
    pub fn group(&self, path: &str) -> Option<&DatasetGroup> {
        path.split('.')
            .try_fold(&self.root, |group, name| group.group(name))
    }

    /// Every dataset in the tree (depth-first, by code name).
    pub fn datasets(&self) -> Vec<&Dataset> {
        let mut out = Vec::new();
        self.root.collect(&mut out);
        out
    }

    /// Number of datasets in the tree.
    pub fn len(&self) -> usize {
        self.datasets().len()
    }

    /// Whether the tree holds no dataset.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The server's message of the day (empty if none).
    pub fn server_message(&self) -> &str {
        &self.server_message
    }

    /// How many datasets the caller's organisation owns.
    pub fn owned_datasets(&self) -> i64 {
        self.owned_datasets
    }

    /// How many datasets the caller's organisation may own; `None` for no limit.
    pub fn maximum_owned_datasets(&self) -> Option<i64> {
        self.maximum_owned_datasets
    }
}

impl fmt::Display for DatasetTree {
    /// One line per group (`name/`) and dataset (`name: display name`), indented by depth.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.render(f, 0)
    }
}

/// What the server knows about a collection: id, name, and (when requested) availability and count.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    /// Collection name, unique within the dataset.
    pub name: String,
    /// Collection id.
    pub id: Uuid,
    /// `[first datapoint time, last datapoint time]`; `Some(empty)` for an empty collection, `None` when
    /// unknown.
    pub availability: Option<TimeInterval>,
    /// Number of datapoints, when known.
    pub count: Option<u64>,
}

impl CollectionInfo {
    /// Reads the wire form.
    pub fn from_wire(info: &pb::CollectionInfo) -> Result<Self> {
        let collection = info.collection.clone().unwrap_or_default();
        Ok(CollectionInfo {
            name: collection.name,
            id: collection
                .id
                .as_ref()
                .map(uuid_from_wire)
                .transpose()?
                .unwrap_or(Uuid::nil()),
            availability: info
                .availability
                .as_ref()
                .map(TimeInterval::from_wire)
                .transpose()?,
            count: info.count,
        })
    }
}

impl fmt::Display for CollectionInfo {
    /// `L1T: [2020-01-01 00:00:00 UTC, 2020-12-31 23:59:59 UTC] (1281 data points)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match &self.availability {
            None => f.write_str("<availability unknown>")?,
            Some(a) => write!(f, "{a}")?,
        }
        if let Some(count) = self.count {
            write!(f, " ({count} data points)")?;
        }
        Ok(())
    }
}

/// How many collections the caller's organisation owns and may own, as reported with a collection listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionQuota {
    /// Collections owned.
    pub owned: i64,
    /// Most collections that may be owned; `None` for no limit.
    pub maximum: Option<i64>,
}

/// A collection of a dataset. Cheap to clone; the operations are in [`crate::client`].
#[derive(Clone)]
pub struct Collection {
    pub(crate) dataset: Dataset,
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) info: Arc<Mutex<Arc<CollectionInfo>>>,
}

impl Collection {
    /// A collection of `dataset` described by `info`.
    pub fn new(dataset: Dataset, info: CollectionInfo) -> Self {
        Collection {
            id: info.id,
            name: info.name.clone(),
            dataset,
            info: Arc::new(Mutex::new(Arc::new(info))),
        }
    }

    /// The collection name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The collection id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The dataset it belongs to.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The cached info (availability and count) from when the collection was listed or last refreshed
    /// (ingest and delete refresh it).
    pub fn info(&self) -> Arc<CollectionInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_info(&self, info: CollectionInfo) -> Arc<CollectionInfo> {
        let info = Arc::new(info);
        *self.info.lock().unwrap_or_else(|p| p.into_inner()) = info.clone();
        info
    }
}

impl fmt::Debug for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("dataset", &self.dataset.slug())
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info().fmt(f)
    }
}

/// The type of a custom dataset field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldType {
    /// `string`.
    String,
    /// `bytes`.
    Bytes,
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `uint64`.
    Uint64,
    /// `double`.
    Double,
    /// `google.protobuf.Duration`.
    Duration,
    /// `google.protobuf.Timestamp`.
    Timestamp,
    /// `datasets.v1.UUID`.
    Uuid,
    /// `datasets.v1.Geometry`.
    Geometry,
    /// `datasets.v1.Vec3`.
    Vec3,
    /// `datasets.v1.Quaternion`.
    Quaternion,
    /// `datasets.v1.LatLon`.
    LatLon,
    /// `datasets.v1.LatLonAlt`.
    LatLonAlt,
    /// Any other message type by full name (e.g. `datasets.stac.v1.Assets`).
    Message(String),
    /// An enum type by full name (e.g. `datasets.v1.ProcessingLevel`).
    Enum(String),
}

impl FieldType {
    fn descriptor(&self) -> (Type, Option<String>) {
        let message = |name: &str| (Type::Message, Some(format!(".{name}")));
        match self {
            FieldType::String => (Type::String, None),
            FieldType::Bytes => (Type::Bytes, None),
            FieldType::Bool => (Type::Bool, None),
            FieldType::Int32 => (Type::Int32, None),
            FieldType::Int64 => (Type::Int64, None),
            FieldType::Uint64 => (Type::Uint64, None),
            FieldType::Double => (Type::Double, None),
            FieldType::Duration => message("google.protobuf.Duration"),
            FieldType::Timestamp => message("google.protobuf.Timestamp"),
            FieldType::Uuid => message("datasets.v1.UUID"),
            FieldType::Geometry => message("datasets.v1.Geometry"),
            FieldType::Vec3 => message("datasets.v1.Vec3"),
            FieldType::Quaternion => message("datasets.v1.Quaternion"),
            FieldType::LatLon => message("datasets.v1.LatLon"),
            FieldType::LatLonAlt => message("datasets.v1.LatLonAlt"),
            FieldType::Message(name) => message(name.trim_start_matches('.')),
            FieldType::Enum(name) => (
                Type::Enum,
                Some(format!(".{}", name.trim_start_matches('.'))),
            ),
        }
    }
}

/// One custom field of a dataset schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    name: String,
    field_type: FieldType,
    repeated: bool,
    description: String,
    example_value: String,
    queryable: bool,
}

impl FieldSpec {
    /// A singular field `name` (snake_case) of `field_type`.
    pub fn new(name: impl Into<String>, field_type: FieldType) -> Self {
        FieldSpec {
            name: name.into(),
            field_type,
            repeated: false,
            description: String::new(),
            example_value: String::new(),
            queryable: false,
        }
    }

    /// Make it a list.
    pub fn repeated(mut self) -> Self {
        self.repeated = true;
        self
    }

    /// Human description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Example value, as text.
    pub fn example_value(mut self, example: impl Into<String>) -> Self {
        self.example_value = example.into();
        self
    }

    /// Make it usable in server-side filter expressions (scalar, non-repeated fields only).
    pub fn queryable(mut self, queryable: bool) -> Self {
        self.queryable = queryable;
        self
    }

    /// The field name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wire form.
    pub fn to_wire(&self) -> pb::Field {
        field(
            &self.name,
            &self.field_type,
            self.repeated,
            pb::FieldAnnotation {
                description: self.description.clone(),
                example_value: self.example_value.clone(),
                queryable: self.queryable,
                ..Default::default()
            },
        )
    }
}

fn field(
    name: &str,
    field_type: &FieldType,
    repeated: bool,
    annotation: pb::FieldAnnotation,
) -> pb::Field {
    let (ty, type_name) = field_type.descriptor();
    pb::Field {
        descriptor: Some(FieldDescriptorProto {
            name: Some(name.to_owned()),
            label: Some(if repeated {
                Label::Repeated
            } else {
                Label::Optional
            } as i32),
            r#type: Some(ty as i32),
            type_name,
            ..Default::default()
        }),
        annotation: Some(annotation),
    }
}

fn required(
    name: &str,
    field_type: FieldType,
    description: &str,
    example: &str,
    pointer: &str,
) -> pb::Field {
    field(
        name,
        &field_type,
        false,
        pb::FieldAnnotation {
            description: description.to_owned(),
            example_value: example.to_owned(),
            source_json_pointer: Some(pointer.to_owned()),
            ..Default::default()
        },
    )
}

/// The fields every dataset of `kind` starts with (spec §5.3): `time`, `id`, `ingestion_time`, and for
/// spatiotemporal datasets `geometry`.
pub fn required_fields(kind: DatasetKind) -> Vec<pb::Field> {
    let mut fields = vec![
        required(
            "time",
            FieldType::Timestamp,
            "The timestamp associated with each data point.",
            "2022-10-23T12:34:56Z",
            "/properties/datetime",
        ),
        required(
            "id",
            FieldType::Uuid,
            "A universally unique identifier (UUID) that uniquely identifies each data point, generated by Tilebox.",
            "0191dac5-2b1a-7d4e-9f5c-1a2b3c4d5e6f",
            "/properties/tilebox:id",
        ),
        required(
            "ingestion_time",
            FieldType::Timestamp,
            "The time the data point was ingested into the Tilebox API, generated by Tilebox.",
            "2024-01-01T00:00:00Z",
            "/properties/tilebox:ingestion_time",
        ),
    ];
    if kind == DatasetKind::Spatiotemporal {
        fields.push(required(
            "geometry",
            FieldType::Geometry,
            "The geometry (footprint) of the data point, in WGS84 longitude/latitude.",
            "POLYGON ((12.3 -45.6, 12.4 -45.6, 12.4 -45.5, 12.3 -45.5, 12.3 -45.6))",
            "/geometry",
        ));
    }
    fields
}

/// What to create (or update) a dataset with: kind, code name, display name and custom fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    kind: DatasetKind,
    code_name: String,
    name: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    fields: Vec<FieldSpec>,
}

impl DatasetSpec {
    /// A dataset of `kind` named `code_name` (`^[a-z][a-z0-9_]*$`), without custom fields yet.
    pub fn new(kind: DatasetKind, code_name: impl Into<String>) -> Self {
        DatasetSpec {
            kind,
            code_name: code_name.into(),
            name: None,
            summary: None,
            description: None,
            fields: Vec::new(),
        }
    }

    /// Display name (default: the code name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Short summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// Markdown description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a custom field.
    pub fn field(mut self, field: FieldSpec) -> Self {
        self.fields.push(field);
        self
    }

    /// Adds custom fields.
    pub fn fields(mut self, fields: impl IntoIterator<Item = FieldSpec>) -> Self {
        self.fields.extend(fields);
        self
    }

    /// The code name.
    pub fn code_name(&self) -> &str {
        &self.code_name
    }

    /// Checks the spec client-side ([`Error::InvalidInput`]): a temporal or spatiotemporal kind, a snake_case
    /// code name, unique field names that do not clash with the required fields.
    pub fn validate(&self) -> Result<()> {
        if !matches!(
            self.kind,
            DatasetKind::Temporal | DatasetKind::Spatiotemporal
        ) {
            return Err(Error::invalid_input(
                "dataset kind must be temporal or spatiotemporal",
            ));
        }
        let snake = |s: &str| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !snake(&self.code_name) || self.code_name.len() > 100 {
            return Err(Error::invalid_input(format!(
                "invalid dataset code name {:?}: expected snake_case ([a-z][a-z0-9_]*, at most 100 characters)",
                self.code_name
            )));
        }
        let mut seen: Vec<String> = required_fields(self.kind)
            .iter()
            .filter_map(|f| f.descriptor.as_ref()?.name.clone())
            .collect();
        for f in &self.fields {
            if !snake(&f.name) {
                return Err(Error::invalid_input(format!(
                    "invalid field name {:?}: expected snake_case",
                    f.name
                )));
            }
            if seen.contains(&f.name) {
                return Err(Error::invalid_input(format!(
                    "duplicate field name {:?}",
                    f.name
                )));
            }
            seen.push(f.name.clone());
        }
        Ok(())
    }

    /// The full `DatasetType`: the required fields of the kind, then the custom fields.
    pub fn dataset_type(&self) -> pb::DatasetType {
        let mut fields = required_fields(self.kind);
        fields.extend(self.fields.iter().map(FieldSpec::to_wire));
        pb::DatasetType {
            kind: self.kind as i32,
            fields,
        }
    }

    /// The `CreateDatasetRequest`.
    pub fn create_request(&self) -> pb::CreateDatasetRequest {
        pb::CreateDatasetRequest {
            name: self.name.clone().unwrap_or_else(|| self.code_name.clone()),
            r#type: Some(self.dataset_type()),
            summary: self.summary.clone().unwrap_or_default(),
            code_name: self.code_name.clone(),
            description: self.description.clone().unwrap_or_default(),
        }
    }

    /// The `UpdateDatasetRequest` for the existing dataset `id`.
    pub fn update_request(&self, id: Uuid) -> pb::UpdateDatasetRequest {
        pb::UpdateDatasetRequest {
            id: Some(crate::time::uuid_to_wire(&id)),
            name: Some(self.name.clone().unwrap_or_else(|| self.code_name.clone())),
            r#type: Some(self.dataset_type()),
            summary: self.summary.clone(),
            code_name: None,
            description: self.description.clone(),
        }
    }
}
