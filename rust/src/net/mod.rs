//! Opening connections to the agent: one [`Transport`] per client holds the TLS settings,
//! the route (direct or through a proxy), the connect timeout and the default headers.
//!
//! REST calls and HTTP streams use the transport's pooled reqwest client; the WebSocket path
//! opens its stream with [`Transport::connect`] and hands it to the handshake. Nothing here is
//! process-wide: two clients of one process can trust different CAs or use different proxies.

mod connect;
mod tls;
mod transport;

use tokio::io::{AsyncRead, AsyncWrite};

pub use transport::{Transport, TransportOptions};

/// A byte stream we opened ourselves: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;
