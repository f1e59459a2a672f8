//! Keep-alive HTTP/1.1 connections, checked out for one exchange at a time and returned when reusable.
//!
//! No background task drives a connection: the request future that holds a connection polls hyper's
//! connection driver itself, so the adapter needs no executor (and works under any runtime), and dropping a
//! request future closes its connection, which is how the server learns the request was abandoned.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use tilebox_core::BodyCollector;

use crate::io::HyperIo;
use crate::stream::{Origin, Stream};

/// The request body type sent over pooled connections.
pub(crate) type Body = Full<Bytes>;

/// One HTTP/1.1 connection: the handle to send on and the driver that moves its bytes.
pub(crate) struct Conn {
    sender: http1::SendRequest<Body>,
    driver: http1::Connection<HyperIo<Stream>, Body>,
    idle_since: Instant,
}

/// Why one exchange on a connection failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// hyper reported an error (`not_sent` when the request never left: safe to try another connection).
    Hyper { error: hyper::Error, not_sent: bool },
    /// The connection ended before the response was complete.
    Closed,
}

/// Reads a response's whole body (held once, see [`BodyCollector`]).
pub(crate) async fn read_response(
    response: http::Response<hyper::body::Incoming>,
) -> Result<http::Response<Bytes>, ExchangeError> {
    let (parts, mut body) = response.into_parts();
    let length = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let mut collected = BodyCollector::new(length);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| ExchangeError::Hyper {
            error,
            not_sent: false,
        })?;
        if let Ok(data) = frame.into_data() {
            collected.push(data);
        }
    }
    Ok(http::Response::from_parts(parts, collected.finish()))
}

impl Conn {
    /// Perform the HTTP/1.1 handshake on a fresh stream.
    pub(crate) async fn handshake(stream: Stream) -> Result<Self, hyper::Error> {
        let (sender, driver) = http1::Builder::new()
            .handshake(HyperIo::new(stream))
            .await?;
        Ok(Self {
            sender,
            driver,
            idle_since: Instant::now(),
        })
    }

    /// Send one request and read the whole response, driving the connection meanwhile.
    ///
    /// Returns the response and whether the connection can be reused.
    pub(crate) async fn exchange(
        &mut self,
        request: http::Request<Body>,
    ) -> Result<(http::Response<Bytes>, bool), ExchangeError> {
        let Conn { sender, driver, .. } = self;
        let mut driver_done = false;
        let result = {
            let mut exchange = pin!(async {
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
            });
            poll_fn(|cx| {
                if !driver_done {
                    // The driver ends when the connection closes (or fails); the exchange then sees an error.
                    driver_done = Pin::new(&mut *driver).poll(cx).is_ready();
                }
                match exchange.as_mut().poll(cx) {
                    Poll::Ready(result) => Poll::Ready(result),
                    Poll::Pending if driver_done => Poll::Ready(Err(ExchangeError::Closed)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
        }?;
        let reusable = !driver_done && !self.sender.is_closed();
        Ok((result, reusable))
    }

    /// Whether an idle connection is still usable: poll its driver once to notice a close by the server.
    fn still_open(&mut self) -> bool {
        (&mut self.driver).now_or_never().is_none() && !self.sender.is_closed()
    }
}

/// Idle connections per origin.
pub(crate) struct Pool {
    idle: Mutex<HashMap<Origin, Vec<Conn>>>,
    max_idle_per_origin: usize,
    idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle_per_origin: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_origin,
            idle_timeout,
        }
    }

    /// Take the most recently used open connection to `origin`, discarding stale ones.
    pub(crate) fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(origin)?;
        while let Some(mut conn) = conns.pop() {
            if conn.idle_since.elapsed() < self.idle_timeout && conn.still_open() {
                return Some(conn);
            }
        }
        None
    }

    /// Return a connection after a complete exchange.
    pub(crate) fn checkin(&self, origin: &Origin, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(origin.clone()).or_default();
        if conns.len() < self.max_idle_per_origin {
            conns.push(conn);
        }
    }

    /// Number of idle connections (all origins).
    pub(crate) fn idle_count(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.values().map(Vec::len).sum()
    }
}
