//! One log stream: the reader task that picks a protocol, feeds the queue, and resumes on a
//! new connection after a transient failure (skipping and checking the replay up to the
//! cursor, see `cursor.rs`). Sync and async consumers both read from what this task produces.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::runtime;
use crate::stream::cursor::{Ledger, Position, Track};
use crate::stream::queue::{self, Consumer, Producer};
use crate::stream::spec::{Protocol, ResumePolicy, TailSpec};
use crate::stream::stats::Level;
use crate::stream::{http, ws};
use crate::text::plural;

/// A running stream: the consumer's end of its queue and the handle of its task.
pub struct Tail {
    pub consumer: Consumer,
    /// The job whose log this is, for error attributes.
    pub job_id: String,
    /// The protocol asked for (`auto` included).
    pub requested: Protocol,
    /// Where each queued batch starts in the text, for checkpoints.
    pub ledger: Arc<Ledger>,
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
    let enabled = spec.track || spec.resume.is_some() || spec.resume_from.is_some();
    let ledger = Arc::new(Ledger::new(enabled, spec.resume_from.unwrap_or_else(Position::start)));
    let mut track = Track::new(Arc::clone(&ledger));
    let task = runtime::spawn(async move {
        let outcome = resume(&spec, &tx, &mut track, gate.as_ref()).await;
        let outcome = outcome.map_err(|e| match e {
            e @ Error::ReplayMismatch { .. } => e,
            e => e.context(&format!("job {}", spec.job_id)),
        });
        tx.opened();
        tx.finish(outcome);
    });
    Tail { consumer, job_id, requested, ledger, task }
}

/// Runs connections until the stream ends, fails for good, or the policy gives up. Every
/// connection, a reconnect too, waits for a slot of the `gate`, held until it is established
/// or has failed: after an agent restart, a thousand streams reconnect a few at a time.
async fn resume(spec: &TailSpec, tx: &Producer, track: &mut Track, gate: Option<&Arc<Semaphore>>) -> Result<()> {
    let mut attempt = 0u32;
    let mut outage: Option<Instant> = None;
    let mut progress = track.queued_bytes();
    loop {
        if let Some(gate) = gate {
            // NOTE: the gate is never closed, so acquiring fails only if it were; then go on ungated.
            if let Ok(slot) = Arc::clone(gate).acquire_owned().await {
                tx.on_open(Box::new(move || drop(slot)));
            }
        }
        track.connecting();
        let outcome = run(spec, tx, track, attempt > 0).await;
        tx.opened(); // frees the slot if this connection failed before it was established
        let error = match outcome.and_then(|()| track.ended(&spec.job_id)) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        // Resuming continues a stream: a fresh stream's first connection that fails (a wrong
        // URL, a stopped agent) raises at once, as without resume; one from a checkpoint retries.
        // A stream from a checkpoint continues one that was established (here or in another
        // process): its first connection is resumed like any later one.
        let continues = track.established || spec.resume_from.is_some();
        let Some(policy) = spec.resume.filter(|_| continues) else { return Err(error) };
        if track.queued_bytes() > progress {
            // New lines came since the last failure: a new outage starts.
            (attempt, outage, progress) = (0, None, track.queued_bytes());
        }
        let since = *outage.get_or_insert_with(Instant::now);
        if !error.transient() || track.no_retry || tx.consumer_gone() {
            return Err(gave_up(error, attempt, since, "this failure is not resumed"));
        }
        attempt += 1;
        let wait = policy.wait(attempt, random());
        if attempt > policy.attempts || since.elapsed() + wait > policy.deadline {
            return Err(gave_up(error, attempt - 1, since, "out of attempts"));
        }
        tx.stats().note(Level::Warning, attempt_note(&error, attempt, &policy, wait, track.queued_bytes()));
        tokio::time::sleep(wait).await;
    }
}

fn attempt_note(error: &Error, attempt: u32, policy: &ResumePolicy, wait: std::time::Duration, at: u64) -> String {
    format!(
        "{error} ({}); resuming after the {} handed out, attempt {attempt} of {} in {:.2} s",
        error.status_code(),
        plural(at, "byte"),
        policy.attempts,
        wait.as_secs_f64()
    )
}

/// The last error of a stream that stops resuming, saying how many attempts were made.
fn gave_up(error: Error, attempts: u32, since: Instant, why: &str) -> Error {
    if attempts == 0 {
        return error;
    }
    error.note(&format!(
        " (gave up resuming after {} over {:.1} s: {why})",
        plural(u64::from(attempts), "attempt"),
        since.elapsed().as_secs_f64()
    ))
}

/// A number in `[0, 1)` for the backoff's jitter (randomly keyed by the standard library).
fn random() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// One connection: picks the protocol (`auto` decides again on every connection) and reads.
async fn run(spec: &TailSpec, tx: &Producer, track: &mut Track, again: bool) -> Result<()> {
    let opened = |tx: &Producer| {
        tx.opened();
        if again {
            tx.stats().resumed();
        }
    };
    match spec.protocol {
        Protocol::WebSocket => {
            let socket = match ws::open(spec).await {
                Ok(socket) => socket,
                Err(ws::OpenError::Unavailable(e) | ws::OpenError::Failed(e)) => return Err(e),
            };
            opened(tx);
            tx.stats().set_protocol(Protocol::WebSocket);
            ws::read(socket, spec, tx, track).await
        }
        // `http::tail` records the protocol once the agent answered.
        Protocol::Http => http::tail(spec, tx, track, &|| opened(tx)).await,
        Protocol::Auto => match ws::open(spec).await {
            Ok(socket) => {
                opened(tx);
                tx.stats().set_protocol(Protocol::WebSocket);
                ws::read(socket, spec, tx, track).await
            }
            Err(ws::OpenError::Unavailable(e)) => {
                let reason = match &e {
                    Error::Status { code, .. } => format!("the agent answered {code}: {e}"),
                    other => other.to_string(),
                };
                tx.stats().set_fallback(reason);
                http::tail(spec, tx, track, &|| opened(tx)).await
            }
            Err(ws::OpenError::Failed(e)) => Err(e),
        },
    }
}
