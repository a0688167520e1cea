//! The consumer side of a stream, shared by the sync and async iterators: the batch being
//! drained and the queue to refill it from.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::py::report::Report;
use crate::stream::cursor::{self, Ledger, Position, Running};
use crate::stream::queue::{Batch, Take};
use crate::stream::tail::Tail;

/// What the cursor found when asked for more.
pub enum Step {
    /// Lines are ready in the current batch.
    Ready,
    /// Nothing yet: wait for the queue.
    Empty,
    /// The stream is over, normally or with an error.
    End(Result<()>),
}

/// A stream's consumer end plus the batch it is draining.
pub struct Cursor {
    tail: Option<Tail>,
    batch: Batch,
    pos: usize,
    /// State, protocol, counters and log records; kept after the end.
    pub report: Report,
    /// Where each batch starts in the text handed out (kept after the end).
    ledger: Arc<Ledger>,
    /// Where the current batch starts and ends; `None` before the first batch (or without a cursor).
    start: Option<Running>,
    end: Option<Running>,
}

impl Cursor {
    /// Wraps a started stream; `log` is the `synapse_agent_rs` logger when it is enabled.
    pub fn new(tail: Tail, log: Option<Py<PyAny>>) -> Self {
        let report = Report::new(tail.job_id.clone(), tail.requested, tail.consumer.stats(), log);
        let ledger = Arc::clone(&tail.ledger);
        Self { tail: Some(tail), batch: Batch::default(), pos: 0, report, ledger, start: None, end: None }
    }

    /// The cursor after the last line handed out: the current batch's start plus the lines of
    /// it handed out, hashed now (a batch handed out as a list counts whole).
    pub fn position(&self) -> Result<Position> {
        if !self.ledger.enabled {
            return Err(Error::InvalidArgument(
                "this stream keeps no cursor: open it with resume=True (or a ResumePolicy) or resume_from= to \
                 take checkpoints"
                    .to_owned(),
            ));
        }
        Ok(match (&self.start, &self.end) {
            // The whole batch handed out: its end, hashed by the reader already.
            (_, Some(end)) if self.pos == self.batch.len() => end.position(),
            (Some(start), _) => start.after((0..self.pos).map(|i| self.batch.get(i))),
            (None, _) => self.ledger.origin(),
        })
    }

    /// `checkpoint()`: the cursor after the last line handed out, as a string naming the job.
    pub fn checkpoint(&self) -> Result<String> {
        Ok(cursor::encode_checkpoint(self.job_id(), self.position()?))
    }

    /// Whether the current batch still has lines: the fast path, no shared state touched.
    #[inline]
    pub fn has_line(&self) -> bool {
        self.pos < self.batch.len()
    }

    /// Takes the next line of the current batch as a Python string; call after [`Self::has_line`].
    #[inline]
    pub fn line<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyString> {
        let line = PyString::new(py, self.batch.get(self.pos));
        self.pos += 1;
        line
    }

    /// Takes the rest of the current batch as a list; call after [`Self::has_line`].
    pub fn rest<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::new(py, (self.pos..self.batch.len()).map(|i| PyString::new(py, self.batch.get(i))))?;
        self.pos = self.batch.len();
        Ok(list)
    }

    /// The current batch and the position of its next line, for bulk consumers (`py/arrow.rs`).
    pub fn pending(&self) -> (&Batch, usize) {
        (&self.batch, self.pos)
    }

    /// Marks `n` more lines of the current batch as taken (after [`Self::pending`]).
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.batch.len());
    }

    /// Makes lines ready if the queue has some, without waiting.
    pub fn advance(&mut self, py: Python<'_>) -> Step {
        if self.has_line() {
            return Step::Ready;
        }
        self.report.on_notes(py);
        let Some(tail) = self.tail.as_mut() else { return Step::End(Ok(())) };
        if let Some(end) = self.end.take() {
            // The batch was handed out whole: the cursor is at its end, hashed by the reader.
            self.start = Some(end);
            self.pos = 0;
        }
        match tail.consumer.try_take(std::mem::take(&mut self.batch)) {
            Take::Batch(batch) => {
                if self.ledger.enabled {
                    if let Some((start, end)) = self.ledger.taken() {
                        (self.start, self.end) = (Some(start), Some(end));
                    }
                }
                self.batch = batch;
                self.pos = 0;
                self.report.on_batch(py);
                Step::Ready
            }
            Take::Empty => Step::Empty,
            Take::End(outcome) => {
                self.tail = None;
                self.report.on_end(py, &outcome);
                Step::End(outcome)
            }
        }
    }

    /// The job whose log this is.
    pub fn job_id(&self) -> &str {
        self.report.job_id()
    }

    /// The running stream, while it runs.
    pub fn tail(&self) -> Option<&Tail> {
        self.tail.as_ref()
    }

    /// Closes the connection at once and forgets buffered lines (the cursor stays after the
    /// last line handed out).
    pub fn close(&mut self, py: Python<'_>) {
        if self.tail.is_some() {
            self.report.on_close(py);
        }
        self.tail = None;
        if self.ledger.enabled {
            if let Some(start) = &mut self.start {
                (0..self.pos).for_each(|i| start.line(self.batch.get(i)));
            }
            // The batch is gone: the cursor is the start just moved, not the batch's end.
            self.end = None;
        }
        self.batch = Batch::default();
        self.pos = 0;
    }
}
