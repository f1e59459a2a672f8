//! [`Schema`]: the message descriptor of a dataset's datapoints, built lazily and cached.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor};

use super::dynamic::DynamicDatapoint;
use super::pool::pool_with;
use crate::error::{Error, Result};
use crate::wire::datasets::v1::{AnnotatedType, DatasetKind, FieldAnnotation};

/// The schema of a dataset's datapoints: a prost-reflect message descriptor plus the field annotations.
///
/// Cheap to clone. Built by [`Schema::from_annotated_type`], which caches by type URL and a hash of the
/// descriptor set, so the same dataset type is only loaded once per process.
#[derive(Clone)]
pub struct Schema {
    inner: Arc<Inner>,
}

struct Inner {
    type_url: String,
    kind: DatasetKind,
    descriptor: MessageDescriptor,
    annotations: Vec<FieldAnnotation>,
    pub(super) time: Option<FieldDescriptor>,
    pub(super) id: Option<FieldDescriptor>,
    pub(super) ingestion_time: Option<FieldDescriptor>,
    pub(super) geometry: Option<FieldDescriptor>,
    /// The compiled Arrow plans (all fields, common fields only), built on first use.
    #[cfg(feature = "arrow")]
    arrow: [OnceLock<Result<Arc<crate::arrow::MessagePlan>>>; 2],
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("type_url", &self.inner.type_url)
            .field("kind", &self.inner.kind)
            .field("fields", &self.field_names())
            .finish()
    }
}

type Cache = Mutex<HashMap<(String, u64), Schema>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The type URL without a `type.googleapis.com/`-style prefix.
fn message_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

impl Schema {
    /// Builds (or fetches from the cache) the schema of a dataset type.
    ///
    /// Fails with [`Error::Decode`] when the descriptor set is absent, cannot be loaded (the message names
    /// the unknown types it references, e.g. the removed `datasets.v1.GeobufData`), or does not define the
    /// type URL's message.
    pub fn from_annotated_type(annotated: &AnnotatedType) -> Result<Schema> {
        let Some(set) = annotated.descriptor_set.as_ref() else {
            return Err(Error::decode(format!(
                "dataset type {} has no descriptor set",
                annotated.type_url
            )));
        };
        let mut hasher = std::hash::DefaultHasher::new();
        set.encode_to_vec().hash(&mut hasher);
        annotated.field_annotations.hash(&mut hasher);
        let key = (annotated.type_url.clone(), hasher.finish());
        if let Some(schema) = lock(cache()).get(&key) {
            return Ok(schema.clone());
        }
        let pool = pool_with(set).map_err(|e| {
            Error::decode(format!(
                "cannot load the schema of {}: {}",
                annotated.type_url,
                e.message()
            ))
        })?;
        let name = message_name(&annotated.type_url);
        let descriptor = pool.get_message_by_name(name).ok_or_else(|| {
            Error::decode(format!(
                "the descriptor set of dataset type {name} does not define that message"
            ))
        })?;
        let kind = DatasetKind::try_from(annotated.kind).unwrap_or(DatasetKind::Unspecified);
        let schema = Schema::build(
            annotated.type_url.clone(),
            kind,
            descriptor,
            annotated.field_annotations.clone(),
        );
        lock(cache()).insert(key, schema.clone());
        Ok(schema)
    }

    /// A schema for a message descriptor obtained elsewhere (e.g. a user's own descriptor pool).
    pub fn from_descriptor(descriptor: MessageDescriptor) -> Schema {
        let has = |n: &str| descriptor.get_field_by_name(n).is_some();
        let kind = if has("geometry") && has("time") {
            DatasetKind::Spatiotemporal
        } else if has("time") {
            DatasetKind::Temporal
        } else {
            DatasetKind::Unspecified
        };
        Schema::build(
            descriptor.full_name().to_owned(),
            kind,
            descriptor,
            Vec::new(),
        )
    }

    fn build(
        type_url: String,
        kind: DatasetKind,
        descriptor: MessageDescriptor,
        annotations: Vec<FieldAnnotation>,
    ) -> Schema {
        let time = descriptor.get_field_by_name("time");
        let id = descriptor.get_field_by_name("id");
        let ingestion_time = descriptor.get_field_by_name("ingestion_time");
        let geometry = descriptor.get_field_by_name("geometry");
        Schema {
            inner: Arc::new(Inner {
                type_url,
                kind,
                descriptor,
                annotations,
                time,
                id,
                ingestion_time,
                geometry,
                #[cfg(feature = "arrow")]
                arrow: Default::default(),
            }),
        }
    }

    /// The message descriptor of the datapoints.
    pub fn message_descriptor(&self) -> MessageDescriptor {
        self.inner.descriptor.clone()
    }

    /// The type URL (full message name) as the server sends it.
    pub fn type_url(&self) -> &str {
        &self.inner.type_url
    }

    /// The dataset kind the type declares.
    pub fn kind(&self) -> DatasetKind {
        self.inner.kind
    }

    /// The field annotations, positional (entry *i* annotates field *i*).
    pub fn field_annotations(&self) -> &[FieldAnnotation] {
        &self.inner.annotations
    }

    /// The annotation of the field called `name`, if any.
    pub fn annotation(&self, name: &str) -> Option<&FieldAnnotation> {
        let index = self
            .inner
            .descriptor
            .fields()
            .position(|f| f.name() == name)?;
        self.inner.annotations.get(index)
    }

    /// The field names in declaration order.
    pub fn field_names(&self) -> Vec<String> {
        self.inner
            .descriptor
            .fields()
            .map(|f| f.name().to_owned())
            .collect()
    }

    /// A new, empty datapoint message of this type (to fill and encode for ingestion).
    pub fn new_message(&self) -> DynamicMessage {
        DynamicMessage::new(self.inner.descriptor.clone())
    }

    /// The Arrow schema of this type's datapoints (see [`crate::arrow`]); `skip_data` gives only the common
    /// columns a `skip_data` query returns.
    #[cfg(feature = "arrow")]
    pub fn arrow_schema(&self, skip_data: bool) -> Result<arrow_schema::SchemaRef> {
        Ok(self.arrow_plan(skip_data)?.schema.clone())
    }

    /// Decodes serialized datapoints of this type into one Arrow record batch (see [`crate::arrow`] for the
    /// columns); `skip_data`: the datapoints come from a `skip_data` query (only the common columns).
    /// Malformed bytes give [`Error::MalformedDatapoint`] naming the datapoint's index in `values`.
    #[cfg(feature = "arrow")]
    pub fn to_record_batch<B: AsRef<[u8]>>(
        &self,
        values: &[B],
        skip_data: bool,
    ) -> Result<arrow_array::RecordBatch> {
        crate::arrow::decode_batch(&*self.arrow_plan(skip_data)?, values)
    }

    /// The compiled Arrow plan (cached with the schema, so once per dataset type).
    #[cfg(feature = "arrow")]
    pub(crate) fn arrow_plan(&self, skip_data: bool) -> Result<Arc<crate::arrow::MessagePlan>> {
        self.inner.arrow[usize::from(skip_data)]
            .get_or_init(|| {
                crate::arrow::MessagePlan::compile(&self.inner.descriptor, skip_data).map(Arc::new)
            })
            .clone()
    }

    /// Decodes one serialized datapoint.
    pub fn decode(&self, bytes: &[u8]) -> Result<DynamicDatapoint> {
        let message =
            DynamicMessage::decode(self.inner.descriptor.clone(), bytes).map_err(|e| {
                Error::decode(format!(
                    "cannot decode a datapoint of {}: {e}",
                    self.inner.type_url
                ))
            })?;
        Ok(DynamicDatapoint::new(self.clone(), message))
    }

    pub(super) fn common_field(&self, which: CommonField) -> Option<&FieldDescriptor> {
        match which {
            CommonField::Time => self.inner.time.as_ref(),
            CommonField::Id => self.inner.id.as_ref(),
            CommonField::IngestionTime => self.inner.ingestion_time.as_ref(),
            CommonField::Geometry => self.inner.geometry.as_ref(),
        }
    }
}

/// The fields every current dataset type has, found by name.
#[derive(Debug, Clone, Copy)]
pub(super) enum CommonField {
    Time,
    Id,
    IngestionTime,
    Geometry,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
