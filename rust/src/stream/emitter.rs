//! Decoding received items into batches for the queue, shared by the WebSocket and HTTP readers.

use crate::error::{Error, Secrets};
use crate::stream::cursor::{self, Fed, Running, Track};
use crate::stream::events::{self, Event};
use crate::stream::limits::{Counter, Limits, Unit};
use crate::stream::lines::Piece;
use crate::stream::queue::{Batch, Producer};
use crate::stream::spec::TailSpec;
use crate::stream::stats::Counts;
use crate::text::plural;

/// The most bytes of one HTTP line held in memory when `max_message_size` is `None`: the
/// same bound as one WebSocket message, so no setting lets a line without `\n` grow forever.
pub const HARD_LINE_CAP: u64 = 64 << 20;

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
    /// Lines handed to the queue so far (all connections of the stream), for error messages.
    pub lines: u64,
    /// The stream's cursor, kept across its connections.
    track: &'a mut Track,
    /// The cursor at the start of the current batch, queued with it.
    mark: Option<Running>,
    job_id: &'a str,
}

impl<'a> Emitter<'a> {
    /// An emitter counting `unit` under the spec's limits.
    pub fn new(spec: &'a TailSpec, tx: &'a Producer, unit: Unit, track: &'a mut Track) -> Self {
        // Decoding starts once the connection is established: a connection slot is free again.
        tx.opened();
        track.established = true;
        let max_batch = tx.max_batch().min(4096);
        Self {
            tx,
            secrets: &spec.secrets,
            limits: spec.limits,
            counter: Counter::new(&spec.limits, unit),
            batch: Batch::with_capacity(max_batch.min(512)),
            max_batch,
            lines: track.lines,
            track,
            mark: None,
            job_id: &spec.job_id,
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
        self.message_with(size, || events::decode(text))
    }

    /// Handles one message of `size` bytes, decoded by `decode` unless it is over the size limit.
    #[inline]
    fn message_with<'t>(&mut self, size: usize, decode: impl FnOnce() -> Event<'t>) -> std::result::Result<(), Halt> {
        if self.limits.too_large(size) {
            return Ok(self.counter.count(size)?);
        }
        match decode() {
            Event::Complete => Err(Halt::Complete),
            Event::Error(m) => Err(Halt::Fail(Error::Remote(self.secrets.clean(&m)))),
            Event::Line(line) => {
                self.counter.count(size)?;
                self.push(&line)
            }
            Event::Skip => Ok(self.counter.count(size)?),
        }
    }

    /// Counts a message that was over `max_message_size` and discarded as it streamed.
    #[inline]
    pub fn oversized(&mut self, size: u64) -> std::result::Result<(), Halt> {
        Ok(self.counter.count(usize::try_from(size).unwrap_or(usize::MAX))?)
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
        // The splitter already dropped lines over the size limit; count the whole line.
        if let Some(event) = events::sse_compact(bytes) {
            self.message_with(bytes.len(), || event)?;
            return Ok(!self.full());
        }
        let line = events::utf8_lossy(bytes);
        if let Some(payload) = events::sse_data(&line) {
            self.message(payload, bytes.len())?;
        } else {
            self.counter.count(bytes.len())?;
            if !(event_stream && events::sse_other(&line)) {
                self.push(&line)?;
            }
        }
        Ok(!self.full())
    }

    /// Queues one line, moving the cursor past it; while the connection's replay is being
    /// skipped, feeds it to the replay instead.
    #[inline]
    fn push(&mut self, line: &str) -> std::result::Result<(), Halt> {
        if self.track.enabled {
            let Some(running) = self.track.running.as_mut() else { return self.replayed(line) };
            if self.batch.is_empty() {
                self.mark = Some(running.clone());
            }
            running.line(line);
        }
        self.batch.push(line);
        self.lines += 1;
        Ok(())
    }

    /// A line of the replay: skipped up to the cursor, checked there, and its rest queued.
    #[cold]
    fn replayed(&mut self, line: &str) -> std::result::Result<(), Halt> {
        let Some(replay) = self.track.replay.as_mut() else { return Ok(()) };
        let target = replay.target();
        let rest = match replay.feed(line) {
            Ok(Fed::Skip) => return Ok(()),
            Ok(Fed::Done) => None,
            Ok(Fed::Rest(rest)) => Some(rest),
            Err(mismatch) => return Err(Halt::Fail(cursor::mismatch_error(self.job_id, target, &mismatch))),
        };
        if let Some(replay) = self.track.replay.take() {
            self.track.running = Some(replay.into_running());
        }
        self.tx.stats().verified(target.bytes);
        match rest {
            Some(rest) => self.push(rest),
            None => Ok(()),
        }
    }

    /// Checks the bytes of a line still arriving against `max_bytes`, and, when lines are not
    /// skipped by `max_message_size` (so the line is held whole), against [`HARD_LINE_CAP`].
    #[inline]
    pub fn partial(&self, bytes: u64) -> std::result::Result<(), Halt> {
        let cap = if self.limits.max_message_size.is_some() { u64::MAX } else { HARD_LINE_CAP };
        Ok(self.counter.check_partial(bytes, cap)?)
    }

    /// Hands the current batch to the queue, waiting for room. `false`: the consumer is gone.
    pub async fn flush(&mut self) -> bool {
        // The counters the stream reports: three relaxed stores per batch, none per line.
        let (messages, bytes) = self.counter.totals();
        let (messages, bytes) = (self.track.messages + messages, self.track.bytes + bytes);
        self.tx.stats().publish(Counts { lines: self.lines, messages, bytes });
        if self.batch.is_empty() {
            return !self.tx.consumer_gone();
        }
        if let (Some(start), Some(end)) = (self.mark.take(), self.track.running.as_ref()) {
            // Before the batch: the consumer may take it at once.
            self.track.ledger.queued(start, end.clone());
        }
        let next = self.tx.empty_batch(self.max_batch.min(512));
        self.tx.send(std::mem::replace(&mut self.batch, next)).await
    }

    /// The error for a connection that ended without `complete`.
    pub fn dropped(&self, cause: impl std::fmt::Display) -> Error {
        Error::connection_msg(self.dropped_context(cause))
    }

    /// [`Self::dropped`] with the failure that broke the connection as its source.
    pub fn dropped_by<E: std::error::Error + Send + Sync + 'static>(&self, cause: E) -> Error {
        Error::connection(&self.dropped_context(""), cause)
    }

    fn dropped_context(&self, cause: impl std::fmt::Display) -> String {
        let lines = self.lines;
        let text =
            format!("the connection to the agent dropped after {} without a complete event", plural(lines, "line"));
        let cause = cause.to_string();
        if cause.is_empty() {
            text
        } else {
            format!("{text}: {cause}")
        }
    }

    /// Says the failure must not be retried on a new connection.
    pub fn no_retry(&mut self) {
        self.track.no_retry = true;
    }

    /// Server text (an error event, a close reason) with secrets removed.
    pub fn clean(&self, text: &str) -> String {
        self.secrets.clean(text)
    }
}

/// Carries the totals over to the stream's next connection.
impl Drop for Emitter<'_> {
    fn drop(&mut self) {
        let (messages, bytes) = self.counter.totals();
        self.track.lines = self.lines;
        self.track.messages += messages;
        self.track.bytes += bytes;
    }
}
