//! What a stream says about itself: its state, protocol and counters (for `repr` and the
//! properties of both stream types), and its log records.
//!
//! Log records are written on the consumer's thread, when the consumer takes a batch or the
//! end: never per line, and not at all when the `synapse_agent_rs` logger was disabled for
//! warnings when the stream was opened (the Python layer passes no logger then).

use std::sync::Arc;

use pyo3::prelude::*;

use crate::error::Result;
use crate::stream::spec::Protocol;
use crate::stream::stats::{Level, Stats};
use crate::text::plural;

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting or streaming.
    Running,
    /// Ended normally.
    Ended,
    /// Ended with an error.
    Failed,
    /// Closed by the consumer before its end.
    Closed,
}

/// The report of one stream.
pub struct Report {
    job_id: String,
    requested: Protocol,
    stats: Arc<Stats>,
    state: State,
    /// The `synapse_agent_rs` logger, when enabled at WARNING or below.
    log: Option<Py<PyAny>>,
    /// Whether the opening (and a fallback) was logged.
    announced: bool,
}

impl Report {
    /// The report of a stream that just started.
    pub fn new(job_id: String, requested: Protocol, stats: Arc<Stats>, log: Option<Py<PyAny>>) -> Self {
        Self { job_id, requested, stats, state: State::Running, log, announced: false }
    }

    /// The job whose log this is.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// `'connecting'`, `'open'`, `'ended'`, `'failed'` or `'closed'`.
    pub fn state(&self) -> &'static str {
        match self.state {
            State::Running if self.stats.protocol().is_none() => "connecting",
            State::Running => "open",
            State::Ended => "ended",
            State::Failed => "failed",
            State::Closed => "closed",
        }
    }

    /// The protocol in use, once connected: `'websocket'` or `'http'`.
    pub fn protocol(&self) -> Option<&'static str> {
        self.stats.protocol().map(name)
    }

    /// Lines received for the consumer so far (updated once per batch).
    pub fn lines(&self) -> u64 {
        self.stats.counts().lines
    }

    /// Items received so far: WebSocket messages, or HTTP lines (updated once per batch).
    pub fn messages(&self) -> u64 {
        self.stats.counts().messages
    }

    /// Payload bytes received so far (updated once per batch).
    pub fn bytes(&self) -> u64 {
        self.stats.counts().bytes
    }

    /// `<Type job_id=... protocol=... state=... lines=... messages=... bytes=...>`.
    pub fn repr(&self, py: Python<'_>, type_name: &str) -> String {
        let counts = self.stats.counts();
        // Python's quoting of the job id, as any repr of a str shows it.
        let job_id = pyo3::types::PyString::new(py, &self.job_id).repr().map_or_else(|_| "?".into(), |r| r.to_string());
        let protocol = match self.protocol() {
            Some(used) if self.requested == Protocol::Auto => format!("'{used}' (auto)"),
            Some(used) => format!("'{used}'"),
            None => format!("'{}'", name(self.requested)),
        };
        format!(
            "<{type_name} job_id={job_id} protocol={protocol} state='{}' lines={} messages={} bytes={}>",
            self.state(),
            counts.lines,
            counts.messages,
            counts.bytes
        )
    }

    /// Called when a batch was taken: logs the opening (and a fallback) once it is known.
    #[inline]
    pub fn on_batch(&mut self, py: Python<'_>) {
        if self.log.is_some() && !self.announced {
            self.announce(py);
        }
    }

    /// Called at the end of the stream.
    pub fn on_end(&mut self, py: Python<'_>, outcome: &Result<()>) {
        self.state = if outcome.is_ok() { State::Ended } else { State::Failed };
        if self.log.is_some() {
            if !self.announced {
                self.announce(py);
            }
            let counts = self.stats.counts();
            let (job, lines, bytes) = (&self.job_id, plural(counts.lines, "line"), plural(counts.bytes, "byte"));
            match outcome {
                Ok(()) => self.debug(py, format!("log stream of job {job} ended after {lines} ({bytes})")),
                Err(e) => self.debug(py, format!("log stream of job {job} failed after {lines} ({bytes}): {e}")),
            }
        }
    }

    /// Called when the consumer closes a running stream.
    pub fn on_close(&mut self, py: Python<'_>) {
        if self.state != State::Running {
            return;
        }
        self.state = State::Closed;
        if self.log.is_some() {
            let counts = self.stats.counts();
            let (job, lines) = (&self.job_id, plural(counts.lines, "line"));
            self.debug(py, format!("log stream of job {job} closed by the consumer after {lines}"));
        }
    }

    /// Writes the reader's records (resume attempts) kept since the last look.
    #[inline]
    pub fn on_notes(&mut self, py: Python<'_>) {
        if let Some(notes) = self.stats.take_notes() {
            for (level, message) in notes {
                let level = match level {
                    Level::Info => "info",
                    Level::Warning => "warning",
                };
                self.emit(py, level, format!("log stream of job {}: {message}", self.job_id));
            }
        }
    }

    /// How many times the stream resumed on a new connection.
    pub fn resumes(&self) -> u64 {
        self.stats.resumes()
    }

    fn announce(&mut self, py: Python<'_>) {
        let Some(used) = self.stats.protocol() else { return };
        self.announced = true;
        if let Some(reason) = self.stats.fallback() {
            let message = format!(
                "log stream of job {}: the WebSocket could not be established ({reason}); fell back to HTTP",
                self.job_id
            );
            self.emit(py, "warning", message);
        }
        self.debug(py, format!("log stream of job {} opened over {}", self.job_id, name(used)));
    }

    fn debug(&self, py: Python<'_>, message: String) {
        self.emit(py, "debug", message);
    }

    fn emit(&self, py: Python<'_>, level: &str, message: String) {
        if let Some(log) = &self.log {
            // A failing handler is logging's business (it reports it itself); the stream goes on.
            if let Err(e) = log.call_method1(py, level, (message,)) {
                e.write_unraisable(py, None);
            }
        }
    }
}

fn name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Auto => "auto",
        Protocol::WebSocket => "websocket",
        Protocol::Http => "http",
    }
}
