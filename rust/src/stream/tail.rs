//! One log stream: the reader task that picks a protocol and feeds the queue.
//! Sync and async consumers both read from what this task produces.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::runtime;
use crate::stream::queue::{self, Consumer, Producer};
use crate::stream::spec::{Protocol, TailSpec};
use crate::stream::{http, ws};

/// A running stream: the consumer's end of its queue and the handle of its task.
pub struct Tail {
    pub consumer: Consumer,
    /// The job whose log this is, for error attributes.
    pub job_id: String,
    /// The protocol asked for (`auto` included).
    pub requested: Protocol,
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
    let queue = queue::channel(spec.limits.queue_size);
    start_on(spec, queue, None)
}

/// Starts the reader task on a given queue; with a `gate`, the connection is opened only
/// once the gate grants a slot, held until the connection is established or has failed
/// (so that many streams never open more than the gate's number of connections at once).
pub fn start_on(spec: TailSpec, (tx, consumer): (Producer, Consumer), gate: Option<Arc<Semaphore>>) -> Tail {
    let job_id = spec.job_id.clone();
    let requested = spec.protocol;
    let task = runtime::spawn(async move {
        if let Some(gate) = gate {
            // NOTE: the gate is never closed, so acquiring fails only if it were; then go on ungated.
            if let Ok(slot) = gate.acquire_owned().await {
                tx.on_open(Box::new(move || drop(slot)));
            }
        }
        let outcome = run(&spec, &tx).await.map_err(|e| e.context(&format!("job {}", spec.job_id)));
        tx.opened();
        tx.finish(outcome);
    });
    Tail { consumer, job_id, requested, task }
}

async fn run(spec: &TailSpec, tx: &Producer) -> Result<()> {
    match spec.protocol {
        Protocol::WebSocket => {
            let socket = match ws::open(spec).await {
                Ok(socket) => socket,
                Err(ws::OpenError::Unavailable(e) | ws::OpenError::Failed(e)) => return Err(e),
            };
            tx.opened();
            tx.stats().set_protocol(Protocol::WebSocket);
            ws::read(socket, spec, tx).await
        }
        // `http::tail` records the protocol once the agent answered.
        Protocol::Http => http::tail(spec, tx).await,
        Protocol::Auto => match ws::open(spec).await {
            Ok(socket) => {
                tx.opened();
                tx.stats().set_protocol(Protocol::WebSocket);
                ws::read(socket, spec, tx).await
            }
            Err(ws::OpenError::Unavailable(e)) => {
                let reason = match &e {
                    Error::Status { code, .. } => format!("the agent answered {code}: {e}"),
                    other => other.to_string(),
                };
                tx.stats().set_fallback(reason);
                http::tail(spec, tx).await
            }
            Err(ws::OpenError::Failed(e)) => Err(e),
        },
    }
}
