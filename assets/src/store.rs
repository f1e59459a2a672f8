//! Choosing an object store for a location: the href's scheme says which kind, the location's STAC
//! storage scheme adds region, endpoint and requester-pays, the environment supplies credentials
//! (as object_store's `from_env` builders read them), and public locations are read anonymously.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use tilebox_core::Transport;
use tilebox_core::assets::AssetLocation;
use tilebox_core::wire::datasets::stac::v1 as stac;

use crate::error::FetchError;
use crate::http::TransportConnector;

/// Whether requests to cloud stores are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// Signed with credentials from the environment when there are any, or when the location declares an
    /// authentication scheme or requester-pays; anonymous otherwise (public buckets).
    #[default]
    Auto,
    /// Always signed with credentials from the environment.
    Environment,
    /// Never signed (public data only).
    Anonymous,
}

/// Which store serves a location; equal keys share one store (and its connection pool and tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum StoreKey {
    Local,
    Http {
        origin: String,
    },
    S3 {
        bucket: String,
        region: Option<String>,
        endpoint: Option<String>,
        virtual_hosted: bool,
        requester_pays: bool,
        anonymous: bool,
    },
    Gcs {
        bucket: String,
        anonymous: bool,
    },
    Azure {
        url: String,
        account: Option<String>,
        anonymous: bool,
    },
}

fn unsupported(href: &str, reason: impl Into<String>) -> FetchError {
    FetchError::UnsupportedLocation {
        href: href.to_owned(),
        reason: reason.into(),
    }
}

fn env_has(names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
}

/// The first storage scheme of the location of this kind.
fn scheme_of<'a>(
    location: &'a AssetLocation,
    kinds: &[stac::KnownStorageType],
) -> Option<&'a stac::StorageScheme> {
    location.storage_schemes.values().find(|s| {
        s.known_type
            .and_then(|k| stac::KnownStorageType::try_from(k).ok())
            .is_some_and(|k| kinds.contains(&k))
    })
}

/// Picks stores for locations and keeps one per [`StoreKey`].
pub(crate) struct Stores {
    connector: TransportConnector,
    credentials: Credentials,
    stores: Mutex<HashMap<StoreKey, Arc<dyn ObjectStore>>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Stores {
    pub(crate) fn new(transport: Arc<dyn Transport>, credentials: Credentials) -> Self {
        Stores {
            connector: TransportConnector::new(transport),
            credentials,
            stores: Mutex::new(HashMap::new()),
        }
    }

    fn anonymous(&self, location: &AssetLocation, env: &[&str], must_sign: bool) -> bool {
        match self.credentials {
            Credentials::Anonymous => true,
            Credentials::Environment => false,
            Credentials::Auto => {
                !must_sign && location.authentication_schemes.is_empty() && !env_has(env)
            }
        }
    }

    /// The store for `location` and the object's path in it.
    pub(crate) fn resolve(
        &self,
        location: &AssetLocation,
    ) -> Result<(Arc<dyn ObjectStore>, ObjectPath), FetchError> {
        let href = location.href.as_str();
        let url = url::Url::parse(href).map_err(|e| unsupported(href, e.to_string()))?;
        let url_path =
            || ObjectPath::from_url_path(url.path()).map_err(|e| unsupported(href, e.to_string()));
        let host = || {
            url.host_str()
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| unsupported(href, "no bucket or host"))
        };
        let (key, path) = match url.scheme() {
            "file" => {
                let file = url
                    .to_file_path()
                    .map_err(|()| unsupported(href, "not an absolute local path"))?;
                let path = ObjectPath::from_absolute_path(&file)
                    .map_err(|e| unsupported(href, e.to_string()))?;
                (StoreKey::Local, path)
            }
            "http" | "https" => {
                let origin = url.origin().ascii_serialization();
                (StoreKey::Http { origin }, url_path()?)
            }
            "s3" | "s3a" => {
                let scheme = scheme_of(
                    location,
                    &[
                        stac::KnownStorageType::AwsS3,
                        stac::KnownStorageType::CustomS3,
                    ],
                );
                let bucket = host()?;
                let region = scheme.and_then(|s| s.region.clone());
                let requester_pays = scheme.and_then(|s| s.requester_pays).unwrap_or(false);
                let custom = scheme.filter(|s| {
                    s.known_type == Some(stac::KnownStorageType::CustomS3 as i32)
                        && !s.platform.is_empty()
                });
                let endpoint = custom.map(|s| {
                    s.platform
                        .replace("{region}", region.as_deref().unwrap_or(""))
                        .replace("{bucket}", &bucket)
                });
                let virtual_hosted = custom.is_some_and(|s| s.platform.contains("{bucket}"));
                let anonymous = self.anonymous(
                    location,
                    &[
                        "AWS_ACCESS_KEY_ID",
                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    ],
                    requester_pays,
                );
                (
                    StoreKey::S3 {
                        bucket,
                        region,
                        endpoint,
                        virtual_hosted,
                        requester_pays,
                        anonymous,
                    },
                    url_path()?,
                )
            }
            "gs" | "gcs" => {
                let anonymous = self.anonymous(
                    location,
                    &[
                        "GOOGLE_SERVICE_ACCOUNT",
                        "GOOGLE_SERVICE_ACCOUNT_PATH",
                        "GOOGLE_SERVICE_ACCOUNT_KEY",
                        "GOOGLE_APPLICATION_CREDENTIALS",
                    ],
                    false,
                );
                (
                    StoreKey::Gcs {
                        bucket: host()?,
                        anonymous,
                    },
                    url_path()?,
                )
            }
            "az" | "azure" | "abfs" | "abfss" | "adl" => {
                let account = scheme_of(location, &[stac::KnownStorageType::MicrosoftAzure])
                    .and_then(|s| s.account.clone());
                let anonymous = self.anonymous(
                    location,
                    &[
                        "AZURE_STORAGE_ACCOUNT_KEY",
                        "AZURE_STORAGE_ACCESS_KEY",
                        "AZURE_STORAGE_SAS_KEY",
                        "AZURE_STORAGE_TOKEN",
                        "AZURE_CLIENT_ID",
                        "AZURE_FEDERATED_TOKEN_FILE",
                    ],
                    false,
                );
                // The container (and for abfs the account) is in the authority; object_store parses it.
                let mut base = url.clone();
                base.set_path("");
                (
                    StoreKey::Azure {
                        url: base.to_string(),
                        account,
                        anonymous,
                    },
                    url_path()?,
                )
            }
            other => return Err(unsupported(href, format!("unknown scheme {other:?}"))),
        };
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok((Arc::clone(store), path));
        }
        let store = self.build(&key).map_err(|source| FetchError::Store {
            href: href.to_owned(),
            source,
        })?;
        stores.insert(key, Arc::clone(&store));
        Ok((store, path))
    }

    fn build(&self, key: &StoreKey) -> object_store::Result<Arc<dyn ObjectStore>> {
        // Retries are ours (over the adapter's sleep): object_store's own back-off sleeps on tokio.
        let retry = RetryConfig {
            max_retries: 0,
            retry_timeout: std::time::Duration::ZERO,
            ..Default::default()
        };
        let connector = self.connector.clone();
        Ok(match key {
            StoreKey::Local => Arc::new(LocalFileSystem::new()),
            StoreKey::Http { origin } => Arc::new(
                HttpBuilder::new()
                    .with_url(origin.as_str())
                    .with_client_options(ClientOptions::new().with_allow_http(true))
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .build()?,
            ),
            StoreKey::S3 {
                bucket,
                region,
                endpoint,
                virtual_hosted,
                requester_pays,
                anonymous,
            } => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket.as_str())
                    .with_request_payer(*requester_pays)
                    .with_skip_signature(*anonymous)
                    .with_retry(retry)
                    .with_http_connector(connector);
                if let Some(region) = region {
                    builder = builder.with_region(region.as_str());
                }
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint.as_str())
                        .with_virtual_hosted_style_request(*virtual_hosted)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                Arc::new(builder.build()?)
            }
            StoreKey::Gcs { bucket, anonymous } => Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket.as_str())
                    .with_skip_signature(*anonymous)
                    .with_retry(retry)
                    .with_http_connector(connector)
                    .build()?,
            ),
            StoreKey::Azure {
                url,
                account,
                anonymous,
            } => {
                let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                if let Some(account) = account {
                    builder = builder.with_account(account.as_str());
                }
                Arc::new(
                    builder
                        .with_skip_signature(*anonymous)
                        .with_retry(retry)
                        .with_http_connector(connector)
                        .build()?,
                )
            }
        })
    }
}
