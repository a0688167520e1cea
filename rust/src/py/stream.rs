//! `LineStream`: the sync iterator over a stream's lines, and its `.batches()` view.

use std::cell::RefMut;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::py::cell::GilCell;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::{to_pyerr_in, IntoPyResult};
use crate::py::line_iter;
use crate::py::wait::SLICE;
use crate::stream::tail::Tail;

/// The lines of one job's log, as they arrive: what `AgentClient.tail_job_logs` returns.
///
/// Iterate it (`for line in stream`), or iterate `stream.batches()` for `list[str]` per
/// batch received. `close()`, leaving a `with stream:` block, `break` or garbage collection
/// close the connection at once. `protocol`, `state` and the counters `lines`, `messages`
/// and `bytes` say what the stream did so far (the counters are updated once per batch).
///
/// A `for` loop runs on a `LineIter`, which hands out the lines of the batch at hand in one C
/// call each, without releasing the GIL or touching shared state; only when the batch is used
/// up does it take the next one, and only when none is queued does it wait, with the GIL
/// released, in slices that let Ctrl-C through. `next(stream)` does the same through pyo3.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct LineStream {
    cursor: GilCell<Cursor>,
}

impl LineStream {
    /// Wraps a started stream.
    pub fn new(tail: Tail, log: Option<Py<PyAny>>) -> Self {
        Self { cursor: GilCell::new(Cursor::new(tail, log)) }
    }

    /// The next line when it is already in the batch at hand (no waiting, no Python call, no
    /// reference dropped: the raw fast path of `LineIter`); `None` otherwise.
    #[inline]
    pub fn buffered<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        let mut cursor = self.cursor.borrow_mut(py)?;
        Ok(cursor.has_line().then(|| cursor.line(py)))
    }

    /// The next line, waiting for it; `None` at the normal end.
    pub fn next_line<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        if let Some(line) = self.buffered(py)? {
            return Ok(Some(line));
        }
        Ok(self.ready(py)?.map(|mut cursor| cursor.line(py)))
    }

    /// The stream's cursor, for the Arrow view (`py/arrow.rs`).
    pub fn cursor(&self, py: Python<'_>) -> PyResult<RefMut<'_, Cursor>> {
        self.cursor.borrow_mut(py)
    }

    /// Waits until lines are ready and returns the cursor borrowed with them; `None` at the
    /// normal end, the stream's error at a failed end.
    ///
    /// No borrow is held while waiting, so `close()` from another thread gets in, and wakes
    /// the wait at once (the iteration then ends).
    fn ready<'a>(&'a self, py: Python<'_>) -> PyResult<Option<RefMut<'a, Cursor>>> {
        loop {
            let mut cursor = self.cursor.borrow_mut(py)?;
            let waiter = match cursor.advance(py) {
                Step::Ready => return Ok(Some(cursor)),
                Step::End(Ok(())) => return Ok(None),
                Step::End(Err(e)) => return Err(to_pyerr_in(py, e, Some(cursor.job_id()))),
                Step::Empty => cursor.tail().map(|tail| tail.consumer.waiter()),
            };
            drop(cursor);
            if let Some(waiter) = waiter {
                py.detach(|| waiter.wait(SLICE));
            }
            if let Err(interrupt) = py.check_signals() {
                // Ctrl-C abandons the stream: its connection closes now, not at garbage collection.
                if let Ok(mut cursor) = self.cursor.borrow_mut(py) {
                    cursor.close(py);
                }
                return Err(interrupt);
            }
        }
    }
}

#[pymethods]
impl LineStream {
    /// The iterator of a `for` loop (a `LineIter`, see `line_iter.rs`).
    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        line_iter::iterate(slf)
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.next_line(py)
    }

    /// Iterates over lists of lines, one per batch received, for bulk consumers.
    fn batches(slf: Py<Self>) -> BatchIter {
        BatchIter { stream: slf }
    }

    /// Iterates Arrow record batches of the lines (`job_id`, `seq`, `line`); see `docs/arrow.md`.
    #[pyo3(signature = (*, max_rows = None, max_bytes = None, max_delay = None))]
    fn arrow(
        slf: Py<Self>,
        py: Python<'_>,
        max_rows: Option<usize>,
        max_bytes: Option<usize>,
        max_delay: Option<f64>,
    ) -> PyResult<crate::py::arrow::ArrowStream> {
        let sizing = crate::py::arrow::sizing(py, max_rows, max_bytes, max_delay)?;
        crate::py::arrow::ArrowStream::of_line(py, slf, sizing)
    }

    /// Closes the connection at once; the iteration ends. Safe to call more than once.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.cursor.borrow_mut(py)?.close(py);
        Ok(())
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.cursor.borrow_mut(py)?.tail().is_some())
    }

    /// The job whose log this is.
    #[getter]
    fn job_id(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.cursor.borrow_mut(py)?.job_id().to_owned())
    }

    /// The protocol in use once connected, `'websocket'` or `'http'` (what `'auto'` chose); `None` before.
    #[getter]
    fn protocol(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        Ok(self.cursor.borrow_mut(py)?.report.protocol())
    }

    /// `'connecting'`, `'open'`, `'ended'` (normally), `'failed'` (with an error) or `'closed'` (by you).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.cursor.borrow_mut(py)?.report.state())
    }

    /// Lines received for you so far (at most `queue_size` ahead of what you iterated).
    #[getter]
    fn lines(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.cursor.borrow_mut(py)?.report.lines())
    }

    /// Items received so far, as the limits count them: WebSocket messages or HTTP lines.
    #[getter]
    fn messages(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.cursor.borrow_mut(py)?.report.messages())
    }

    /// Payload bytes received so far, as `max_bytes` counts them.
    #[getter]
    fn bytes(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.cursor.borrow_mut(py)?.report.bytes())
    }

    /// How many times the stream resumed on a new connection after a transient failure.
    #[getter]
    fn resumes(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.cursor.borrow_mut(py)?.report.resumes())
    }

    /// The cursor after the last line handed out, as a string (at most 128 characters) naming
    /// the job; `tail_job_logs(job_id, resume_from=...)` starts right after that line. A batch
    /// from `.batches()` counts whole once handed out.
    ///
    /// Raises:
    ///     ValidationError: (400) the stream keeps no cursor (opened without `resume` or `resume_from`).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<String> {
        self.cursor.borrow_mut(py)?.checkpoint().into_py_result(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.cursor.borrow_mut(py) {
            Ok(cursor) => cursor.report.repr(py, "LineStream"),
            Err(_) => "<LineStream in use>".to_owned(),
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) -> PyResult<()> {
        self.close(py)
    }
}

/// The `.batches()` view of a `LineStream`: iterates `list[str]`, one list per batch received.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct BatchIter {
    stream: Py<LineStream>,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let stream = self.stream.get();
        {
            let mut cursor = stream.cursor.borrow_mut(py)?;
            if cursor.has_line() {
                return cursor.rest(py).map(Some);
            }
        }
        stream.ready(py)?.map(|mut cursor| cursor.rest(py)).transpose()
    }

    /// Closes the underlying stream.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.stream.get().close(py)
    }

    /// The stream these batches come from.
    #[getter]
    fn stream(&self, py: Python<'_>) -> Py<LineStream> {
        self.stream.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.stream.get().cursor.borrow_mut(py) {
            Ok(cursor) => format!("<BatchIter of {}>", cursor.report.repr(py, "LineStream")),
            Err(_) => "<BatchIter of a LineStream in use>".to_owned(),
        }
    }
}
