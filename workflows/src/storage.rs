//! Storage locations: the directories and buckets whose new objects fire storage-event automations, and the
//! object events the server recorded for them.

use std::path::PathBuf;
use std::time::SystemTime;

use tilebox_core::rpc::RpcClient;
use tilebox_core::wire::workflows::v1 as wf;
use uuid::Uuid;

use crate::client::{id_msg, time_of, uuid_of};
use crate::error::Result;
use crate::job_views::all_pages;

/// Where a storage location lives; the variant is its storage type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageReference {
    /// A directory on the machine the server runs on (absolute path).
    Local {
        /// The directory.
        path: String,
    },
    /// An AWS S3 bucket.
    AwsS3 {
        /// Bucket name.
        bucket: String,
        /// Region, e.g. `eu-central-1`.
        region: String,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Project id.
        project_id: String,
        /// Bucket location.
        location: String,
    },
    /// An Azure blob container.
    AzureBlob {
        /// The storage account's resource id.
        storage_account_resource_id: String,
        /// Container name.
        container: String,
        /// Region.
        region: String,
    },
    /// A kind this SDK version does not know.
    Unknown,
}

impl StorageReference {
    /// A local directory.
    pub fn local(path: impl Into<String>) -> Self {
        Self::Local { path: path.into() }
    }

    fn to_wire(&self) -> wf::StorageLocationReference {
        let mut r = wf::StorageLocationReference::default();
        let kind = match self {
            Self::Local { path } => {
                r.local = Some(wf::LocalReference { path: path.clone() });
                wf::StorageType::Local
            }
            Self::AwsS3 { bucket, region } => {
                r.aws_s3_bucket = Some(wf::Awss3BucketReference {
                    bucket: bucket.clone(),
                    region: region.clone(),
                });
                wf::StorageType::AwsS3
            }
            Self::Gcs {
                bucket,
                project_id,
                location,
            } => {
                r.gcs_bucket = Some(wf::GcsBucketReference {
                    bucket: bucket.clone(),
                    project_id: project_id.clone(),
                    location: location.clone(),
                });
                wf::StorageType::Gcs
            }
            Self::AzureBlob {
                storage_account_resource_id,
                container,
                region,
            } => {
                r.azure_blob = Some(wf::AzureBlobReference {
                    storage_account_resource_id: storage_account_resource_id.clone(),
                    container: container.clone(),
                    region: region.clone(),
                });
                wf::StorageType::AzureBlob
            }
            Self::Unknown => wf::StorageType::Unspecified,
        };
        r.r#type = kind as i32;
        r
    }

    fn from_wire(r: Option<&wf::StorageLocationReference>, location: &str, kind: i32) -> Self {
        let r = r.cloned().unwrap_or_default();
        if let Some(l) = r.local {
            return Self::Local { path: l.path };
        }
        if let Some(s3) = r.aws_s3_bucket {
            return Self::AwsS3 {
                bucket: s3.bucket,
                region: s3.region,
            };
        }
        if let Some(g) = r.gcs_bucket {
            return Self::Gcs {
                bucket: g.bucket,
                project_id: g.project_id,
                location: g.location,
            };
        }
        if let Some(a) = r.azure_blob {
            return Self::AzureBlob {
                storage_account_resource_id: a.storage_account_resource_id,
                container: a.container,
                region: a.region,
            };
        }
        // No reference sent: the type and location string still say where it is.
        match wf::StorageType::try_from(kind) {
            Ok(wf::StorageType::Local) => Self::local(location),
            _ => Self::Unknown,
        }
    }
}

/// A storage location.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageLocation {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Bucket, container or directory path.
    pub location: String,
    /// Where it lives.
    pub reference: StorageReference,
}

impl StorageLocation {
    pub(crate) fn from_wire(l: &wf::StorageLocation) -> Self {
        Self {
            id: uuid_of(l.id.as_ref()),
            name: l.name.clone(),
            location: l.location.clone(),
            reference: StorageReference::from_wire(l.reference.as_ref(), &l.location, l.r#type),
        }
    }

    pub(crate) fn to_wire(&self) -> wf::StorageLocation {
        let reference = self.reference.to_wire();
        wf::StorageLocation {
            id: Some(id_msg(self.id)),
            location: self.location.clone(),
            r#type: reference.r#type,
            name: self.name.clone(),
            reference: Some(reference),
        }
    }

    /// The file of an object of a local location (`None` for other kinds).
    pub fn local_path(&self, object_path: &str) -> Option<PathBuf> {
        match &self.reference {
            StorageReference::Local { path } => Some(PathBuf::from(path).join(object_path)),
            _ => None,
        }
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageEventType {
    /// Not set.
    Unspecified,
    /// The object was created.
    Created,
}

impl StorageEventType {
    pub(crate) fn from_wire(v: i32) -> Self {
        match wf::StorageEventType::try_from(v) {
            Ok(wf::StorageEventType::Created) => Self::Created,
            _ => Self::Unspecified,
        }
    }

    pub(crate) fn to_wire(self) -> i32 {
        (match self {
            Self::Created => wf::StorageEventType::Created,
            Self::Unspecified => wf::StorageEventType::Unspecified,
        }) as i32
    }
}

/// A job an object event submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriggeredJob {
    /// The job.
    pub job_id: Uuid,
    /// The automation whose trigger matched.
    pub automation_id: Uuid,
    /// The glob pattern that matched.
    pub glob_pattern: String,
}

/// An object event the server recorded for a location, with the jobs it submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageLocationEvent {
    /// Event id.
    pub id: Uuid,
    /// Object path inside the location.
    pub object_path: String,
    /// What happened.
    pub event_type: StorageEventType,
    /// When it happened.
    pub event_time: Option<SystemTime>,
    /// When the server recorded it.
    pub received_at: Option<SystemTime>,
    /// Jobs submitted for it (none when no automation's glob matched).
    pub triggered_jobs: Vec<TriggeredJob>,
}

impl StorageLocationEvent {
    fn from_wire(e: &wf::StorageSubscriptionEvent) -> Self {
        Self {
            id: uuid_of(e.id.as_ref()),
            object_path: e.object_key.clone(),
            event_type: StorageEventType::from_wire(e.r#type),
            event_time: time_of(e.event_time.as_ref()),
            received_at: time_of(e.received_at.as_ref()),
            triggered_jobs: e
                .triggered_jobs
                .iter()
                .map(|j| TriggeredJob {
                    job_id: uuid_of(j.job_id.as_ref()),
                    automation_id: uuid_of(j.automation_id.as_ref()),
                    glob_pattern: j.glob_pattern.clone(),
                })
                .collect(),
        }
    }
}

/// Storage locations.
#[derive(Clone, Debug)]
pub struct StorageLocationClient {
    rpc: RpcClient,
}

impl StorageLocationClient {
    pub(crate) fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }

    /// Every storage location.
    pub async fn list(&self) -> Result<Vec<StorageLocation>> {
        let resp = self.rpc.list_storage_locations().await?;
        Ok(resp
            .locations
            .iter()
            .map(StorageLocation::from_wire)
            .collect())
    }

    /// A location by id (`not_found` for an unknown id).
    pub async fn get(&self, id: Uuid) -> Result<StorageLocation> {
        let l = self.rpc.get_storage_location(id_msg(id)).await?;
        Ok(StorageLocation::from_wire(&l))
    }

    /// Create a location (a local one must be an absolute path of an existing directory).
    pub async fn create(
        &self,
        name: &str,
        reference: &StorageReference,
    ) -> Result<StorageLocation> {
        let req = wf::CreateStorageLocationRequest {
            name: name.to_owned(),
            reference: Some(reference.to_wire()),
        };
        let l = self.rpc.create_storage_location(req).await?;
        Ok(StorageLocation::from_wire(&l))
    }

    /// Rename a location.
    pub async fn update(&self, id: Uuid, name: &str) -> Result<StorageLocation> {
        let req = wf::UpdateStorageLocationRequest {
            storage_location_id: Some(id_msg(id)),
            name: name.to_owned(),
        };
        let l = self.rpc.update_storage_location(req).await?;
        Ok(StorageLocation::from_wire(&l))
    }

    /// Delete a location.
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.rpc.delete_storage_location(id_msg(id)).await?;
        Ok(())
    }

    /// Every object event recorded for a location (newest first), with the jobs each submitted.
    pub async fn events(&self, id: Uuid) -> Result<Vec<StorageLocationEvent>> {
        all_pages(|page| async move {
            let req = wf::ListStorageSubscriptionEventsRequest {
                storage_location_id: Some(id_msg(id)),
                page,
            };
            let resp = self.rpc.list_storage_events(req).await?;
            let events = resp
                .events
                .iter()
                .map(StorageLocationEvent::from_wire)
                .collect();
            Ok((events, resp.next_page))
        })
        .await
    }
}
