//! Opening a connection: TCP with async-net, then TLS with futures-rustls (ring) for `https`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_net::TcpStream;
use futures::io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use futures_rustls::rustls;
use futures_rustls::rustls::pki_types::ServerName;
use tilebox_core::TransportError;

/// Where a connection goes; connections are pooled per origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// The origin of an absolute `http`/`https` URL.
    pub(crate) fn of(uri: &http::Uri) -> Result<Self, TransportError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(TransportError::Other(format!(
                    "unsupported URL scheme {other:?} in {uri} (expected http or https)"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| TransportError::Other(format!("URL without a host: {uri}")))?;
        // IPv6 literals come bracketed in URLs; sockets and TLS want them bare.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self { https, host, port })
    }
}

/// A plain or TLS-wrapped TCP stream.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The TLS settings shared by all connections of a transport: the bundled Mozilla roots plus `extra_roots`
/// (PEM), ALPN offering `h2` (when `http2`) and `http/1.1`.
pub(crate) fn tls_config(
    extra_roots: &[Vec<u8>],
    http2: bool,
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    use futures_rustls::rustls::pki_types::CertificateDer;
    use futures_rustls::rustls::pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for pem in extra_roots {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TransportError::Other(format!("invalid root certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TransportError::Other(
                "invalid root certificate PEM: no certificate found".to_owned(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| TransportError::Other(format!("invalid root certificate: {e}")))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Other(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// Connect to `origin`, with a TLS handshake for `https`.
pub(crate) async fn connect(
    origin: &Origin,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Stream, TransportError> {
    let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
        .await
        .map_err(|e| TransportError::Connect(format!("{}:{}: {e}", origin.host, origin.port)))?;
    // Requests are small and latency-bound.
    let _ = tcp.set_nodelay(true);
    if !origin.https {
        return Ok(Stream::Plain(tcp));
    }
    let name = ServerName::try_from(origin.host.clone()).map_err(|e| {
        TransportError::Connect(format!("invalid TLS server name {}: {e}", origin.host))
    })?;
    let stream = futures_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            TransportError::Connect(format!("TLS handshake with {} failed: {e}", origin.host))
        })?;
    Ok(Stream::Tls(Box::new(stream)))
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
