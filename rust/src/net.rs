//! Opening connections: TCP, TLS with rustls (ring provider), and the shared TLS settings.
//!
//! Streams are opened here rather than by the WebSocket library so that a later proxy
//! (an HTTP CONNECT tunnel) or custom CAs only change this module.

use std::sync::{Arc, OnceLock};

use reqwest::Url;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Result};

/// A byte stream we opened ourselves: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// The TLS client settings shared by REST, HTTP streams and WebSockets: webpki roots, ring.
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        // NOTE: the ring provider supports the default versions; failing here is a build bug.
        Arc::new(config.expect("ring supports the default TLS versions"))
    }))
}

/// Builds a reqwest client on the shared TLS settings.
pub fn http_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client> {
    let tls = (*tls_config()).clone();
    builder
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .map_err(|e| Error::connection("could not set up the HTTP client", e))
}

/// The one pooled HTTP client of an agent client, for REST calls and HTTP streams alike.
///
/// Rebuilt in a child after `fork()`: pooled connections are driven by tasks of the parent's
/// runtime, which the child does not have, so reusing them would hang.
pub struct PooledClient {
    connect_timeout: std::time::Duration,
    built: std::sync::Mutex<(u32, reqwest::Client)>,
}

impl PooledClient {
    /// Builds the client; every connection it opens must connect within `connect_timeout`.
    pub fn new(connect_timeout: std::time::Duration) -> Result<Self> {
        let client = http_client(reqwest::Client::builder().connect_timeout(connect_timeout))?;
        Ok(Self { connect_timeout, built: std::sync::Mutex::new((std::process::id(), client)) })
    }

    /// The client of this process.
    pub fn get(&self) -> Result<reqwest::Client> {
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pid = std::process::id();
        if built.0 != pid {
            *built = (pid, http_client(reqwest::Client::builder().connect_timeout(self.connect_timeout))?);
        }
        Ok(built.1.clone())
    }
}

/// Opens a connection to the host of `url`, with TLS for `https`/`wss`.
pub async fn connect(url: &Url) -> Result<BoxIo> {
    let host = url.host_str().ok_or_else(|| Error::InvalidArgument(format!("the URL has no host: {url}")))?;
    let tls = matches!(url.scheme(), "https" | "wss");
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    // Strip the brackets of an IPv6 literal: the resolver wants the bare address.
    let addr_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((addr_host, port))
        .await
        .map_err(|e| Error::connection(&format!("could not connect to {host}:{port}"), e))?;
    tcp.set_nodelay(true).ok();
    if !tls {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(addr_host.to_owned())
        .map_err(|e| Error::InvalidArgument(format!("invalid TLS server name {host}: {e}")))?;
    let stream = TlsConnector::from(tls_config())
        .connect(name, tcp)
        .await
        .map_err(|e| Error::connection(&format!("TLS handshake with {host} failed"), e))?;
    Ok(Box::new(stream))
}
