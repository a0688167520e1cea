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
    /// Whether and how to resume on a new connection after a transient failure.
    pub resume: Option<ResumePolicy>,
    /// Keep the cursor (for `checkpoint()` and resuming) even without `resume`.
    pub track: bool,
    /// Start right after this cursor (a checkpoint's): skip and verify it first.
    pub resume_from: Option<crate::stream::cursor::Position>,
}

/// How a stream resumes after a transient failure: how many attempts in a row, for how long,
/// and how long to wait between them (exponential backoff with jitter).
///
/// `attempts` and `deadline` bound one outage: both start again once a new connection hands
/// out a line past the cursor, so a stream that runs for days may resume any number of times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumePolicy {
    /// New connections tried in a row without progress before giving up.
    pub attempts: u32,
    /// The longest one outage may last, from the failure to the last attempt.
    pub deadline: Duration,
    /// The wait before the first new attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// The share of each wait drawn at random (0: none, 1: anywhere from zero to the wait).
    pub jitter: f64,
}

impl Default for ResumePolicy {
    /// 10 attempts within 300 s, waiting 0.2 s, 0.4 s, ... up to 10 s, half of each at random.
    fn default() -> Self {
        Self {
            attempts: 10,
            deadline: Duration::from_secs(300),
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            jitter: 0.5,
        }
    }
}

impl ResumePolicy {
    /// Checks the values (400 when out of range).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::InvalidArgument(format!("jitter must be between 0 and 1, not {}", self.jitter)));
        }
        if self.max_backoff < self.backoff {
            return Err(Error::InvalidArgument("max_backoff must not be less than backoff".to_owned()));
        }
        Ok(())
    }

    /// The wait before attempt `n` (1 for the first new attempt), `random` in `[0, 1)`.
    pub fn wait(&self, n: u32, random: f64) -> Duration {
        let full = self.backoff.saturating_mul(1u32 << n.saturating_sub(1).min(20)).min(self.max_backoff);
        full.mul_f64(1.0 - self.jitter * random.clamp(0.0, 1.0))
    }
}
