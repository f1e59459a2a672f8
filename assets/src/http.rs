//! object_store's HTTP seam filled with the SDK's [`Transport`]: every store sends its requests through
//! the adapter the user already runs (reqwest on tokio, hyper on async-io, ureq on threads), so no second
//! HTTP stack, TLS stack or runtime is pulled in.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use tilebox_core::{Transport, TransportError};

/// An [`HttpService`] sending through a [`Transport`].
#[derive(Clone)]
pub(crate) struct TransportService {
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for TransportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportService").finish_non_exhaustive()
    }
}

fn kind(error: &TransportError) -> HttpErrorKind {
    match error {
        TransportError::Connect(_) => HttpErrorKind::Connect,
        TransportError::Timeout(_) => HttpErrorKind::Timeout,
        TransportError::Io(_) => HttpErrorKind::Interrupted,
        _ => HttpErrorKind::Request,
    }
}

impl TransportService {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
            .to_bytes();
        let response = self
            .transport
            .send(http::Request::from_parts(parts, body))
            .await
            .map_err(|e| HttpError::new(kind(&e), e))?;
        let (parts, body) = response.into_parts();
        let body = HttpResponseBody::new(
            Full::new(body)
                .map_err(|never: std::convert::Infallible| -> HttpError { match never {} }),
        );
        Ok(http::Response::from_parts(parts, body))
    }
}

impl HttpService for TransportService {
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

/// Hands object_store a [`TransportService`] whatever client options it asks for (timeouts, pooling
/// and TLS are the transport's, configured when the SDK client was built).
#[derive(Debug, Clone)]
pub(crate) struct TransportConnector {
    service: TransportService,
}

impl TransportConnector {
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Self {
        TransportConnector {
            service: TransportService { transport },
        }
    }
}

impl HttpConnector for TransportConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(self.service.clone()))
    }
}
