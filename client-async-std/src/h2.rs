//! HTTP/2 connections: one multiplexed connection per origin, shared by every request to it.
//!
//! Unlike an HTTP/1.1 exchange, an HTTP/2 connection serves many requests at once, so its driver cannot
//! live inside one request future: it runs as a task on [`GlobalExecutor`], which spawns onto
//! `async-global-executor` (the executor async-std itself runs on; its threads drive the async-io reactor).
//! No tokio runtime is involved. A request future only holds a cheap clone of the connection's sender;
//! dropping it resets its stream (`RST_STREAM`), and the connection lives on for the others. The connection
//! closes when the transport (the last sender) is dropped.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use futures::lock::Mutex;
use hyper::client::conn::http2;
use tilebox_core::TransportError;

use crate::io::HyperIo;
use crate::pool::{Body, ExchangeError, read_response};
use crate::stream::{Origin, Stream};

/// hyper's executor for the HTTP/2 connection tasks: spawns onto `async-global-executor`, detached.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GlobalExecutor;

impl<F> hyper::rt::Executor<F> for GlobalExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        async_global_executor::spawn(future).detach();
    }
}

/// How an origin is spoken to, once known.
enum Known {
    /// An open HTTP/2 connection.
    H2(http2::SendRequest<Body>),
    /// TLS negotiation picked HTTP/1.1: use the keep-alive pool.
    Http1,
}

/// What [`H2Connections::sender`] found for an origin.
pub(crate) enum Route {
    /// Send on this HTTP/2 connection.
    H2(http2::SendRequest<Body>),
    /// The origin speaks HTTP/1.1; here is a fresh connection to it if one was just opened.
    Http1(Option<Stream>),
}

/// The shared HTTP/2 connections, one per origin.
pub(crate) struct H2Connections {
    // An async lock: while one request opens an origin's connection, the others wait for it instead of
    // opening connections of their own.
    known: Mutex<HashMap<Origin, Known>>,
}

impl H2Connections {
    pub(crate) fn new() -> Self {
        Self {
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The open connection to `origin`, or a new one made from `connect`'s stream. When the stream did not
    /// negotiate HTTP/2 (TLS without `h2` in ALPN), the origin is remembered as HTTP/1.1 and the stream is
    /// handed back for the keep-alive pool.
    pub(crate) async fn route<C, Fut>(
        &self,
        origin: &Origin,
        prior_knowledge: bool,
        connect: C,
    ) -> Result<Route, TransportError>
    where
        C: FnOnce() -> Fut,
        Fut: Future<Output = Result<Stream, TransportError>>,
    {
        let mut known = self.known.lock().await;
        match known.get(origin) {
            Some(Known::H2(sender)) if !sender.is_closed() => {
                return Ok(Route::H2(sender.clone()));
            }
            Some(Known::Http1) => return Ok(Route::Http1(None)),
            _ => {}
        }
        let stream = connect().await?;
        let h2 = match &stream {
            Stream::Plain(_) => prior_knowledge,
            Stream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        };
        if !h2 {
            known.insert(origin.clone(), Known::Http1);
            return Ok(Route::Http1(Some(stream)));
        }
        let (sender, connection) = http2::Builder::new(GlobalExecutor)
            .handshake::<_, Body>(HyperIo::new(stream))
            .await
            .map_err(|e| TransportError::Connect(format!("HTTP/2 handshake failed: {e}")))?;
        async_global_executor::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
            }
        })
        .detach();
        known.insert(origin.clone(), Known::H2(sender.clone()));
        Ok(Route::H2(sender))
    }

    /// Number of open HTTP/2 connections.
    pub(crate) fn open_count(&self) -> usize {
        self.known.try_lock().map_or(0, |known| {
            known
                .values()
                .filter(|k| matches!(k, Known::H2(s) if !s.is_closed()))
                .count()
        })
    }
}

/// One request on an HTTP/2 connection, the whole response body read.
pub(crate) async fn exchange(
    mut sender: http2::SendRequest<Body>,
    request: http::Request<Body>,
) -> Result<http::Response<Bytes>, ExchangeError> {
    if let Err(error) = sender.ready().await {
        return Err(ExchangeError::Hyper {
            error,
            not_sent: true,
        });
    }
    let response = sender.try_send_request(request).await.map_err(|e| {
        let not_sent = e.message().is_some();
        ExchangeError::Hyper {
            error: e.into_error(),
            not_sent,
        }
    })?;
    read_response(response).await
}
