//! What a stream needs to connect: the protocol choice and the owned stream settings.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result, Secrets};
use crate::net::Transport;
use crate::stream::limits::Limits;

/// Which protocol to stream with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// WebSocket first; HTTP only when the WebSocket could not be established.
    Auto,
    WebSocket,
    Http,
}

impl Protocol {
    /// Parses `'auto' | 'websocket' | 'http'`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "auto" => Ok(Self::Auto),
            "websocket" => Ok(Self::WebSocket),
            "http" => Ok(Self::Http),
            _ => Err(Error::InvalidArgument(format!("protocol must be 'auto', 'websocket' or 'http', not {name:?}"))),
        }
    }
}

/// Everything a stream needs to connect, owned so that the task can run on its own.
#[derive(Clone)]
pub struct TailSpec {
    /// The agent's base URL (`http` or `https`).
    pub base_url: String,
    pub job_id: String,
    /// Headers of every request: authorization, user and tenant.
    pub headers: Arc<Vec<(String, String)>>,
    pub secrets: Arc<Secrets>,
    pub protocol: Protocol,
    /// Connect timeout and liveness deadline.
    pub timeout: Duration,
    pub limits: Limits,
    /// How the agent client reaches its agent: TLS, proxy, connect timeout, pooled HTTP client.
    pub transport: Arc<Transport>,
}
