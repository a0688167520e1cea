//! Opening one byte stream to a URL's host: TCP, then TLS for `https`/`wss`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::Url;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_socks::tcp::Socks5Stream;
use tokio_socks::TargetAddr;

use super::proxy::Proxy;
use super::{tls as settings, BoxIo};
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
    let stream = TlsConnector::from(config).connect(name, io).await.map_err(|e| match settings::failure(&e, host) {
        Some(detail) => Error::Connection { detail, source: Some(Arc::new(e)) },
        None => Error::connection(&format!("TLS handshake with {host} failed"), e),
    })?;
    Ok(Box::new(stream))
}

/// How many bytes of a proxy's answer to CONNECT we read at most.
const MAX_PROXY_ANSWER: usize = 8 * 1024;

/// Asks an HTTP proxy to open a tunnel to `host:port` over `io`; the tunnel is `io` itself.
/// Header names are written as `Proxy-Authorization` and `User-Agent`: some proxies match
/// them case-sensitively.
///
/// The answer is read byte-bounded; the caller bounds it in time.
pub async fn http_tunnel(
    mut io: BoxIo,
    proxy: &Proxy,
    host: &str,
    port: u16,
    user_agent: Option<&str>,
) -> Result<BoxIo> {
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(agent) = user_agent {
        request.push_str(&format!("User-Agent: {agent}\r\n")); // checked as a header value
    }
    if let Some((user, password)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let broken =
        |e: std::io::Error| Error::connection(&format!("the proxy {} broke the connection", proxy.display()), e);
    io.write_all(request.as_bytes()).await.map_err(broken)?;
    let mut answer = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    // One byte at a time: the tunnel's first bytes after the answer belong to the agent.
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_PROXY_ANSWER {
            return Err(Error::connection_msg(format!(
                "the proxy {} sent an over-long answer to CONNECT",
                proxy.display()
            )));
        }
        if io.read(&mut byte).await.map_err(broken)? == 0 {
            return Err(Error::connection_msg(format!(
                "the proxy {} closed the connection during CONNECT",
                proxy.display()
            )));
        }
        answer.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let code = match response.parse(&answer) {
        Ok(httparse::Status::Complete(_)) => response.code.unwrap_or(0),
        _ => {
            return Err(Error::connection_msg(format!(
                "the proxy {} gave an invalid answer to CONNECT",
                proxy.display()
            )))
        }
    };
    let reason = response.reason.unwrap_or("").chars().filter(|c| !c.is_control()).take(100).collect::<String>();
    match code {
        200..=299 => Ok(io),
        407 => Err(Error::connection_msg(format!(
            "the proxy {} requires authentication (407 {reason}): {}",
            proxy.display(),
            proxy.auth_hint()
        ))),
        _ => Err(Error::connection_msg(format!(
            "the proxy {} refused the tunnel to {authority} ({code} {reason})",
            proxy.display()
        ))),
    }
}

/// Asks a SOCKS5 proxy, reached over `tcp`, for a connection to `host:port`.
pub async fn socks5(tcp: TcpStream, proxy: &Proxy, host: &str, port: u16, remote_dns: bool) -> Result<BoxIo> {
    let target = if remote_dns {
        TargetAddr::Domain(host.to_owned().into(), port)
    } else {
        let addr = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| Error::connection_msg(format!("could not resolve {host}")))?;
        TargetAddr::Ip(addr)
    };
    let refused = |e: tokio_socks::Error| {
        let detail = format!("the SOCKS proxy {} refused the connection to {host}:{port}: {e}", proxy.display());
        Error::Connection { detail, source: Some(Arc::new(e)) }
    };
    let stream = match &proxy.credentials {
        Some((user, password)) => Socks5Stream::connect_with_password_and_socket(tcp, target, user, password).await,
        None => Socks5Stream::connect_with_socket(tcp, target).await,
    };
    Ok(Box::new(stream.map_err(refused)?))
}
