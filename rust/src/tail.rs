//! One log stream: the reader task that picks a protocol and feeds the queue.
//! Sync and async consumers both read from what this task produces.

use crate::error::Result;
use crate::queue::{self, Consumer, Producer};
use crate::spec::{Protocol, TailSpec};
use crate::{http, runtime, ws};

/// A running stream: the consumer's end of its queue and the handle of its task.
pub struct Tail {
    pub consumer: Consumer,
    /// The job whose log this is, for error attributes.
    pub job_id: String,
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
    let job_id = spec.job_id.clone();
    let task = runtime::spawn(async move {
        let outcome = run(&spec, &tx).await.map_err(|e| e.context(&format!("job {}", spec.job_id)));
        tx.finish(outcome);
    });
    Tail { consumer, job_id, task }
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
