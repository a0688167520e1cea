//! [`Transport`]: the connection settings of one agent client, and its pooled HTTP client.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;

use super::{connect, tls, BoxIo};
use crate::error::{Error, Result};

/// What a transport is built from.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Every connection (TCP, and the proxy's answer) must be made within this.
    pub connect_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(3) }
    }
}

/// How one agent client reaches its agent, shared by REST calls, HTTP streams and WebSockets.
pub struct Transport {
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    /// The pooled client and the process that built it.
    ///
    /// Rebuilt in a child after `fork()`: pooled connections are driven by tasks of the
    /// parent's runtime, which the child does not have, so reusing them would hang.
    pooled: Mutex<(u32, reqwest::Client)>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("connect_timeout", &self.connect_timeout).finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the TLS settings and the pooled client.
    pub fn new(options: TransportOptions) -> Result<Self> {
        let tls = tls::client_config()?;
        let client = build_client(&tls, options.connect_timeout)?;
        Ok(Self { tls, connect_timeout: options.connect_timeout, pooled: Mutex::new((std::process::id(), client)) })
    }

    /// The pooled HTTP client of this process, for REST calls and HTTP streams.
    pub fn http(&self) -> Result<reqwest::Client> {
        let mut pooled = self.pooled.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if pooled.0 != pid {
            *pooled = (pid, build_client(&self.tls, self.connect_timeout)?);
        }
        Ok(pooled.1.clone())
    }

    /// Opens a byte stream to the host of `url`, with TLS for `https`/`wss`.
    pub async fn connect(&self, url: &Url) -> Result<BoxIo> {
        let (host, port, use_tls) = connect::target(url)?;
        let tcp = connect::tcp(&host, port, self.connect_timeout).await?;
        if use_tls {
            connect::tls(Arc::clone(&self.tls), &host, tcp).await
        } else {
            Ok(Box::new(tcp))
        }
    }
}

fn build_client(tls: &Arc<rustls::ClientConfig>, connect_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((**tls).clone())
        .connect_timeout(connect_timeout)
        .no_proxy()
        .build()
        .map_err(|e| Error::connection("could not set up the HTTP client", e))
}
