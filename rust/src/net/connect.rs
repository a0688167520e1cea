//! Opening one byte stream to a URL's host: TCP, then TLS for `https`/`wss`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::BoxIo;
use crate::error::{Error, Result};

/// Host (without IPv6 brackets), port and whether TLS is wanted, for `http(s)`/`ws(s)` URLs.
pub fn target(url: &Url) -> Result<(String, u16, bool)> {
    let host = url.host_str().ok_or_else(|| Error::InvalidArgument(format!("the URL has no host: {url}")))?;
    let tls = matches!(url.scheme(), "https" | "wss");
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    // Strip the brackets of an IPv6 literal: the resolver and the TLS name want the bare address.
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port, tls))
}

/// A TCP connection to `host:port` within `limit`, with Nagle off (small frames leave at once).
pub async fn tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream> {
    let tcp = match timeout(limit, TcpStream::connect((host, port))).await {
        Err(_) => return Err(Error::Timeout(format!("could not connect to {host}:{port} within {limit:?}"))),
        Ok(result) => result.map_err(|e| Error::connection(&format!("could not connect to {host}:{port}"), e))?,
    };
    tcp.set_nodelay(true).ok();
    Ok(tcp)
}

/// TLS to `host` over an established stream.
pub async fn tls<S>(config: Arc<rustls::ClientConfig>, host: &str, io: S) -> Result<BoxIo>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::InvalidArgument(format!("invalid TLS server name {host}: {e}")))?;
    let stream = TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| Error::connection(&format!("TLS handshake with {host} failed"), e))?;
    Ok(Box::new(stream))
}
