//! Client configuration: where the API is, how to authenticate, retries, concurrency and timeouts.
//!
//! Defaults come from the environment: `TILEBOX_API_URL` (else `https://api.tilebox.com`) and
//! `TILEBOX_API_KEY` (else anonymous).
//!
//! **The `/public` rule**: when the URL is exactly the hosted service (`https://api.tilebox.com` or
//! `https://api.tilebox.dev`, trailing `/` ignored) and no API key is set, every RPC path is prefixed with
//! `/public` (the hosted API's read-only, rate-limited anonymous access). Other URLs never get the prefix.

use std::time::Duration;

use crate::retry::RetryPolicy;

/// The hosted Tilebox API.
pub const DEFAULT_URL: &str = "https://api.tilebox.com";
/// Environment variable holding the API URL.
pub const ENV_API_URL: &str = "TILEBOX_API_URL";
/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "TILEBOX_API_KEY";
/// Default number of concurrent requests when loading many collections/pages.
pub const DEFAULT_CONCURRENCY: usize = 8;

const PUBLIC_HOSTS: [&str; 2] = ["https://api.tilebox.com", "https://api.tilebox.dev"];

/// Which response encodings the client asks for (`Accept-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseCompression {
    /// gzip, except when the server is on a loopback address (`localhost`, `127.0.0.0/8`, `::1`), where
    /// compressing costs both sides CPU and saves no network time.
    #[default]
    Auto,
    /// Always ask for gzip (what the hosted API sends when offered).
    Gzip,
    /// Never ask for compressed responses.
    Identity,
}

/// Configuration of a client. Build with [`ClientConfig::builder`].
#[derive(Clone, PartialEq)]
pub struct ClientConfig {
    base_url: String,
    api_key: Option<String>,
    retry: RetryPolicy,
    concurrency: usize,
    user_agent: String,
    timeout: Option<Duration>,
    gzip_requests: bool,
    response_compression: ResponseCompression,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the API key.
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .field("gzip_requests", &self.gzip_requests)
            .field("response_compression", &self.response_compression)
            .finish()
    }
}

impl Default for ClientConfig {
    /// The configuration [`ClientConfig::builder`] builds without any setting (reads the environment).
    fn default() -> Self {
        ClientConfig::builder().build()
    }
}

impl ClientConfig {
    /// A builder; unset values fall back to the environment, then to the defaults.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder::default()
    }

    /// The base URL without a trailing `/` (and without the `/public` prefix).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API key, if any.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The maximum number of requests in flight when loading concurrently (at least 1).
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The `User-Agent` header value.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The per-request timeout (sent as `Connect-Timeout-Ms`; adapters enforce it too), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether request bodies are gzip-compressed.
    pub fn gzip_requests(&self) -> bool {
        self.gzip_requests
    }

    /// The configured response compression.
    pub fn response_compression(&self) -> ResponseCompression {
        self.response_compression
    }

    /// Whether requests ask for gzip-compressed responses, resolving [`ResponseCompression::Auto`] by the
    /// base URL's host.
    pub fn accepts_gzip(&self) -> bool {
        match self.response_compression {
            ResponseCompression::Gzip => true,
            ResponseCompression::Identity => false,
            ResponseCompression::Auto => !is_loopback_url(&self.base_url),
        }
    }

    /// Whether RPC paths get the `/public` prefix (hosted URL and no API key; see the module docs).
    pub fn uses_public_prefix(&self) -> bool {
        self.api_key.is_none() && PUBLIC_HOSTS.contains(&self.base_url.as_str())
    }

    /// The absolute URL of an RPC, from `"<pkg>.<Service>/<Method>"` (a leading `/` is accepted).
    pub fn rpc_url(&self, service_method: &str) -> String {
        let method = service_method.trim_start_matches('/');
        let prefix = if self.uses_public_prefix() {
            "/public"
        } else {
            ""
        };
        format!("{}{prefix}/{method}", self.base_url)
    }
}

/// Builder of a [`ClientConfig`].
#[derive(Debug, Clone, Default)]
pub struct ClientConfigBuilder {
    url: Option<String>,
    api_key: Option<Option<String>>,
    retry: Option<RetryPolicy>,
    concurrency: Option<usize>,
    user_agent: Option<String>,
    timeout: Option<Duration>,
    gzip_requests: bool,
    response_compression: ResponseCompression,
}

impl ClientConfigBuilder {
    /// The API base URL (e.g. `http://127.0.0.1:8080`); overrides `TILEBOX_API_URL`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The API key; overrides `TILEBOX_API_KEY`. An empty key means anonymous.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Some(key.into()));
        self
    }

    /// Anonymous access, even if `TILEBOX_API_KEY` is set.
    pub fn anonymous(mut self) -> Self {
        self.api_key = Some(None);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The maximum number of concurrent requests when loading (default 8; 0 is treated as 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// The `User-Agent` header (default `tilebox-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// A per-request timeout (default none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Gzip request bodies (default off; responses are always accepted gzipped).
    pub fn gzip_requests(mut self, gzip: bool) -> Self {
        self.gzip_requests = gzip;
        self
    }

    /// The configuration, with unset values taken from the process environment.
    pub fn build(self) -> ClientConfig {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    /// The configuration, with unset values taken from `env` (a lookup of environment variables by name).
    pub fn build_with_env(self, env: impl Fn(&str) -> Option<String>) -> ClientConfig {
        let url = self
            .url
            .or_else(|| env(ENV_API_URL).filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let base_url = url.trim().trim_end_matches('/').to_owned();
        let api_key = match self.api_key {
            Some(key) => key,
            None => env(ENV_API_KEY),
        }
        .filter(|k| !k.is_empty());
        ClientConfig {
            base_url,
            api_key,
            retry: self.retry.unwrap_or_default(),
            concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
            user_agent: self
                .user_agent
                .unwrap_or_else(|| format!("tilebox-rust/{}", env!("CARGO_PKG_VERSION"))),
            timeout: self.timeout,
            gzip_requests: self.gzip_requests,
            response_compression: self.response_compression,
        }
    }

    /// Which response encodings to ask for (default [`ResponseCompression::Auto`]).
    pub fn response_compression(mut self, compression: ResponseCompression) -> Self {
        self.response_compression = compression;
        self
    }
}

/// Whether `url`'s host is `localhost` or a loopback IP address.
fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_without_env() {
        let c = ClientConfig::builder().build_with_env(no_env);
        assert_eq!(c.base_url(), DEFAULT_URL);
        assert_eq!(c.api_key(), None);
        assert_eq!(c.concurrency(), 8);
        assert_eq!(c.retry(), &RetryPolicy::default());
        assert!(c.uses_public_prefix());
        assert_eq!(
            c.rpc_url("datasets.v1.DatasetService/ListDatasets"),
            "https://api.tilebox.com/public/datasets.v1.DatasetService/ListDatasets"
        );
    }

    #[test]
    fn env_values_are_used_and_overridden() {
        let env = |name: &str| match name {
            ENV_API_URL => Some("http://127.0.0.1:9000/".to_owned()),
            ENV_API_KEY => Some("tbx-api-secret".to_owned()),
            _ => None,
        };
        let c = ClientConfig::builder().build_with_env(env);
        assert_eq!(c.base_url(), "http://127.0.0.1:9000");
        assert_eq!(c.api_key(), Some("tbx-api-secret"));
        assert!(!format!("{c:?}").contains("secret"));
        let c = ClientConfig::builder()
            .url("http://x:1")
            .anonymous()
            .build_with_env(env);
        assert_eq!(c.base_url(), "http://x:1");
        assert_eq!(c.api_key(), None);
    }

    #[test]
    fn public_prefix_rule() {
        let hosted = |url: &str, key: Option<&str>| {
            let b = ClientConfig::builder().url(url);
            let b = match key {
                Some(k) => b.api_key(k),
                None => b.anonymous(),
            };
            b.build_with_env(no_env).uses_public_prefix()
        };
        assert!(hosted("https://api.tilebox.com", None));
        assert!(hosted("https://api.tilebox.com/", None));
        assert!(hosted("https://api.tilebox.dev", None));
        assert!(hosted("https://api.tilebox.com", Some("")));
        assert!(!hosted("https://api.tilebox.com", Some("key")));
        assert!(!hosted("http://api.tilebox.com", None));
        assert!(!hosted("http://127.0.0.1:8080", None));
        let c = ClientConfig::builder()
            .url("http://127.0.0.1:8080")
            .build_with_env(no_env);
        assert_eq!(c.rpc_url("/a.B/C"), "http://127.0.0.1:8080/a.B/C");
    }
}
