//! Object stores of cloud storage locations (S3, GCS, Azure Blob), listed for new objects by
//! [`super::triggers`].
//!
//! Stores are built with object_store's `from_env` builders, so credentials, endpoints and options come from
//! the server's environment as object_store reads them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …); the location's reference
//! adds the bucket or container, the S3 region and the Azure account (last segment of the storage account
//! resource id, unless the environment names one). Requests go through the server's reqwest client (rustls
//! with ring), not object_store's own HTTP stack.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::TryStreamExt;
use http_body_util::BodyExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ClientOptions, ObjectStore};
use prost::Message;
use tilebox_core::wire::workflows::v1::{StorageLocationReference, StorageType};

use crate::store::workflows::automations::StorageLocationRecord;

/// object_store's HTTP seam over a reqwest client.
#[derive(Debug, Clone)]
struct ReqwestService {
    client: reqwest::Client,
}

fn http_error(e: reqwest::Error) -> HttpError {
    let kind = if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_body() || e.is_decode() {
        HttpErrorKind::Interrupted
    } else {
        HttpErrorKind::Request
    };
    HttpError::new(kind, e)
}

impl ReqwestService {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
            .to_bytes();
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?;
        let response: http::Response<reqwest::Body> = self
            .client
            .execute(request)
            .await
            .map_err(http_error)?
            .into();
        Ok(response.map(|body| HttpResponseBody::new(body.map_err(http_error))))
    }
}

impl HttpService for ReqwestService {
    // The expanded form of object_store's `#[async_trait]` signature.
    fn call<'life0, 'async_trait>(
        &'life0 self,
        req: HttpRequest,
    ) -> Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.send(req))
    }
}

impl HttpConnector for ReqwestService {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(self.clone()))
    }
}

/// Builds the stores of cloud locations; one HTTP client for all.
#[derive(Debug, Clone)]
pub(crate) struct StoreBuilder {
    http: ReqwestService,
}

impl StoreBuilder {
    pub(crate) fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        StoreBuilder {
            http: ReqwestService { client },
        }
    }

    /// The store of a cloud location; `Ok(None)` for a local one.
    pub(crate) fn build(
        &self,
        location: &StorageLocationRecord,
    ) -> Result<Option<Arc<dyn ObjectStore>>, String> {
        let reference = StorageLocationReference::decode(location.reference.clone())
            .map_err(|e| format!("stored reference does not decode: {e}"))?;
        let http = self.http.clone();
        let store: Arc<dyn ObjectStore> = match StorageType::try_from(location.storage_type) {
            Ok(StorageType::AwsS3) => {
                let s3 = reference.aws_s3_bucket.unwrap_or_default();
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&location.location)
                    .with_http_connector(http);
                if !s3.region.is_empty() {
                    builder = builder.with_region(s3.region);
                }
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
            Ok(StorageType::Gcs) => Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&location.location)
                    .with_http_connector(http)
                    .build()
                    .map_err(|e| e.to_string())?,
            ),
            Ok(StorageType::AzureBlob) => {
                let azure = reference.azure_blob.unwrap_or_default();
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_container_name(&location.location)
                    .with_http_connector(http);
                let env_account =
                    std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_some_and(|v| !v.is_empty());
                if let Some(account) = azure
                    .storage_account_resource_id
                    .rsplit('/')
                    .next()
                    .filter(|a| !a.is_empty() && !env_account)
                {
                    builder = builder.with_account(account);
                }
                Arc::new(builder.build().map_err(|e| e.to_string())?)
            }
            _ => return Ok(None),
        };
        Ok(Some(store))
    }
}

/// Every object of a store: its key and last modification time (µs since the epoch).
pub(crate) async fn list(store: &dyn ObjectStore) -> object_store::Result<Vec<(String, i64)>> {
    store
        .list(None)
        .map_ok(|meta| {
            (
                meta.location.to_string(),
                meta.last_modified.timestamp_micros(),
            )
        })
        .try_collect()
        .await
}
