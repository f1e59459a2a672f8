//! Server-side mirrors of the response messages that carry a dataset schema.
//!
//! `prost_types::FileDescriptorProto` has no `edition` field (number 14), so a `Dataset` built from the
//! core's generated types would silently drop it and clients would see `syntax = "editions"` without an
//! edition. These mirrors are wire-identical to `datasets.v1.Dataset`, `AnnotatedType` and
//! `ListDatasetsResponse`, except that the descriptor set carries its files as pre-encoded bytes (a
//! repeated `bytes` field encodes exactly like a repeated message field).

use bytes::Bytes;
use tilebox_core::wire::datasets::v1::{CollectionInfo, DatasetGroup, FieldAnnotation};
use tilebox_core::wire::tilebox::v1::Id;

/// `google.protobuf.FileDescriptorSet` with pre-encoded files.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawDescriptorSet {
    /// Encoded `FileDescriptorProto`s.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub file: Vec<Bytes>,
}

/// Wire mirror of `datasets.v1.AnnotatedType`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnnotatedTypeOut {
    /// The dataset's descriptor set.
    #[prost(message, optional, tag = "1")]
    pub descriptor_set: Option<RawDescriptorSet>,
    /// Full message name.
    #[prost(string, tag = "2")]
    pub type_url: String,
    /// Positional field annotations.
    #[prost(message, repeated, tag = "4")]
    pub field_annotations: Vec<FieldAnnotation>,
    /// `DatasetKind`.
    #[prost(int32, tag = "5")]
    pub kind: i32,
}

/// Wire mirror of `datasets.v1.Dataset`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatasetOut {
    /// Dataset id.
    #[prost(message, optional, tag = "1")]
    pub id: Option<Id>,
    /// Group id.
    #[prost(message, optional, tag = "2")]
    pub group_id: Option<Id>,
    /// Schema.
    #[prost(message, optional, tag = "3")]
    pub r#type: Option<AnnotatedTypeOut>,
    /// Code name.
    #[prost(string, tag = "4")]
    pub code_name: String,
    /// Display name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Summary.
    #[prost(string, tag = "6")]
    pub summary: String,
    /// Icon.
    #[prost(string, tag = "7")]
    pub icon: String,
    /// Description.
    #[prost(string, tag = "8")]
    pub description: String,
    /// `DatasetPermission` values.
    #[prost(int32, repeated, tag = "10")]
    pub permissions: Vec<i32>,
    /// `Visibility`.
    #[prost(int32, tag = "11")]
    pub visibility: i32,
    /// Full slug.
    #[prost(string, tag = "12")]
    pub slug: String,
    /// Whether the type may be edited.
    #[prost(bool, tag = "13")]
    pub type_editable: bool,
    /// Collections (not filled).
    #[prost(message, repeated, tag = "14")]
    pub collections: Vec<CollectionInfo>,
}

/// Wire mirror of `datasets.v1.ListDatasetsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListDatasetsResponseOut {
    /// All visible datasets.
    #[prost(message, repeated, tag = "1")]
    pub datasets: Vec<DatasetOut>,
    /// Every group referenced by a dataset or group.
    #[prost(message, repeated, tag = "2")]
    pub groups: Vec<DatasetGroup>,
    /// Message shown to the user.
    #[prost(string, tag = "3")]
    pub server_message: String,
    /// Datasets owned by the caller.
    #[prost(int64, tag = "4")]
    pub owned_datasets: i64,
    /// Limit, absent = unlimited.
    #[prost(int64, optional, tag = "5")]
    pub maximum_owned_datasets: Option<i64>,
}
