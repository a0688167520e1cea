//! One log stream: the reader task that picks a protocol, decodes, enforces limits and
//! feeds the queue. Sync and async consumers both read from what this task produces.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result, Secrets};
use crate::events::{self, Event};
use crate::limits::{Counter, Limits, Unit};
use crate::lines::Piece;
use crate::queue::{self, Batch, Consumer, Producer};
use crate::{http, runtime, ws};

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
    /// The pooled HTTP client of the agent client (its connect timeout applies too).
    pub http: reqwest::Client,
}

/// A running stream: the consumer's end of its queue and the handle of its task.
pub struct Tail {
    pub consumer: Consumer,
    task: tokio::task::JoinHandle<()>,
}

impl Tail {
    /// Stops the reader and closes its connection at once.
    pub fn close(&mut self) {
        self.consumer.close();
        self.task.abort();
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.close();
    }
}

/// Starts the reader task of a stream.
pub fn start(spec: TailSpec) -> Tail {
    let (tx, consumer) = queue::channel(spec.limits.queue_size);
    let task = runtime::spawn(async move {
        let outcome = run(&spec, &tx).await;
        tx.finish(outcome);
    });
    Tail { consumer, task }
}

async fn run(spec: &TailSpec, tx: &Producer) -> Result<()> {
    match spec.protocol {
        Protocol::WebSocket => ws::tail(spec, tx).await,
        Protocol::Http => http::tail(spec, tx).await,
        Protocol::Auto => match ws::open(spec).await {
            Ok(socket) => ws::read(socket, spec, tx).await,
            Err(ws::OpenError::Unavailable(_)) => http::tail(spec, tx).await,
            Err(ws::OpenError::Failed(e)) => Err(e),
        },
    }
}

/// Why decoding stopped early.
pub enum Halt {
    /// The `complete` event: the stream ended normally.
    Complete,
    Fail(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Self::Fail(e)
    }
}

/// Decodes received items into batches and hands them to the queue.
pub struct Emitter<'a> {
    tx: &'a Producer,
    secrets: &'a Secrets,
    limits: Limits,
    counter: Counter,
    batch: Batch,
    max_batch: usize,
    /// Lines handed to the queue so far, for error messages.
    pub lines: u64,
}

impl<'a> Emitter<'a> {
    /// An emitter counting `unit` under the spec's limits.
    pub fn new(spec: &'a TailSpec, tx: &'a Producer, unit: Unit) -> Self {
        let max_batch = tx.max_batch().min(4096);
        Self {
            tx,
            secrets: &spec.secrets,
            limits: spec.limits,
            counter: Counter::new(&spec.limits, unit),
            batch: Batch::with_capacity(max_batch.min(512)),
            max_batch,
            lines: 0,
        }
    }

    /// Whether the current batch should be handed over before decoding more.
    #[inline]
    pub fn full(&self) -> bool {
        self.batch.len() >= self.max_batch
    }

    /// Handles one message (a WebSocket message or an SSE `data:` payload) of `size` bytes.
    #[inline]
    pub fn message(&mut self, text: &str, size: usize) -> std::result::Result<(), Halt> {
        if self.limits.too_large(size) {
            return Ok(self.counter.count(size)?);
        }
        match events::decode(text) {
            Event::Complete => Err(Halt::Complete),
            Event::Error(m) => Err(Halt::Fail(Error::Remote(self.secrets.scrub(&m)))),
            Event::Line(line) => {
                self.counter.count(size)?;
                self.push(&line);
                Ok(())
            }
            Event::Skip => Ok(self.counter.count(size)?),
        }
    }

    /// Handles one HTTP line from the splitter; answers whether the batch has room for more.
    #[inline]
    pub fn http_line(&mut self, piece: Piece<'_>, event_stream: bool) -> std::result::Result<bool, Halt> {
        let bytes = match piece {
            Piece::TooLong(size) => {
                self.counter.count(usize::try_from(size).unwrap_or(usize::MAX))?;
                return Ok(true);
            }
            Piece::Line(bytes) => bytes,
        };
        let line = events::utf8_lossy(bytes);
        if let Some(payload) = events::sse_data(&line) {
            // The splitter already dropped lines over the size limit; count the whole line.
            self.message(payload, bytes.len())?;
        } else {
            self.counter.count(bytes.len())?;
            if !(event_stream && events::sse_other(&line)) {
                self.push(&line);
            }
        }
        Ok(!self.full())
    }

    #[inline]
    fn push(&mut self, line: &str) {
        self.batch.push(line);
        self.lines += 1;
    }

    /// Hands the current batch to the queue, waiting for room. `false`: the consumer is gone.
    pub async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.tx.consumer_gone();
        }
        let next = self.tx.empty_batch(self.max_batch.min(512));
        self.tx.send(std::mem::replace(&mut self.batch, next)).await
    }

    /// The error for a connection that ended without `complete`.
    pub fn dropped(&self, cause: impl std::fmt::Display) -> Error {
        Error::Connection(format!(
            "the connection to the agent dropped after {} lines without a complete event: {cause}",
            self.lines
        ))
    }
}
