//! Opening connections to the agent: one [`Transport`] per client holds the TLS settings,
//! the route (direct or through a proxy), the connect timeout and the default headers.
//!
//! REST calls and HTTP streams use the transport's pooled reqwest client; the WebSocket path
//! opens its stream with [`Transport::connect`] and hands it to the handshake. Through a proxy
//! that must tunnel (CONNECT to an `https://` agent, SOCKS5), all three go through the same
//! tunnel code: reqwest's connections are relayed to it (`relay`). Nothing here is
//! process-wide: two clients of one process can trust different CAs or use different proxies.

mod connect;
pub mod proxy;
pub mod redirect;
#[cfg(unix)]
mod relay;
pub mod tls;
mod transport;

use reqwest::Url;
use tokio::io::{AsyncRead, AsyncWrite};

pub use transport::{header, Transport, TransportOptions, DEFAULT_USER_AGENT};

/// A byte stream we opened ourselves: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

/// A clear message for a TLS problem behind a reqwest failure, naming the agent's host.
pub fn tls_failure(error: &reqwest::Error) -> Option<String> {
    let host = error.url().and_then(Url::host_str).unwrap_or("the agent");
    tls::failure(error, host.trim_start_matches('[').trim_end_matches(']'))
}
