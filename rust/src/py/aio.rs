//! `AsyncLineStream`: the `async for` side of a stream, an awaitable that only touches the
//! event loop when nothing is ready.

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration, PyTypeError};
use pyo3::prelude::*;

use crate::error::Result;
use crate::py::cell::GilCell;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::to_pyerr_in;
use crate::py::exceptions::IntoPyResult;
use crate::py::hub::Parking;
use crate::py::step;
use crate::stream::tail::Tail;

/// The lines of one job's log for `async for`: what `AsyncAgentClient.tail_job_logs` returns.
///
/// Use `async for line in stream` (or `async for batch in stream.batches()` for `list[str]`
/// per batch received); `async with stream:` closes it on exit, as do `aclose()`, `close()`,
/// cancelling the task and garbage collection. `for`/`list()` raise `TypeError`. `protocol`,
/// `state` and the counters `lines`, `messages` and `bytes` say what it did so far.
///
/// `async for` runs on an iterator that is also the awaitable of every step, so a buffered
/// line costs no future and no loop round trip (on Python 3.10/3.11 not even an exception).
/// Only when nothing is buffered does a step park on one future, which the hub resolves when
/// the next batch arrives. `anext(stream)` awaits a single step the same way.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct AsyncLineStream {
    state: GilCell<State>,
}

struct State {
    cursor: Cursor,
    parking: Parking,
    batches: bool,
    /// The awaitable `__anext__` hands out, while at rest (see `step.rs`).
    step: Option<Py<PyAny>>,
}

/// What one await step found.
pub enum Stepped<'py> {
    /// The await's result: a line, or a batch with `.batches()`.
    Ready(Bound<'py, PyAny>),
    /// Nothing yet: the future to wait on.
    Wait(Bound<'py, PyAny>),
}

impl State {
    /// The next item of a ready batch: a line, or the rest of the batch with `.batches()`.
    #[inline]
    fn item<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(if self.batches { self.cursor.rest(py)?.into_any() } else { self.cursor.line(py).into_any() })
    }

    fn end(&mut self, py: Python<'_>, outcome: Result<()>) -> PyErr {
        self.parking.forget();
        match outcome {
            Ok(()) => PyStopAsyncIteration::new_err(()),
            Err(e) => to_pyerr_in(py, e, Some(self.cursor.job_id())),
        }
    }

    fn close(&mut self, py: Python<'_>) {
        self.parking.wake();
        self.cursor.close(py);
    }
}

impl AsyncLineStream {
    /// Wraps a started stream; `log` is the `synapse_agent_rs` logger when it is enabled.
    pub fn new(tail: Tail, log: Option<Py<PyAny>>) -> Self {
        let state = State { cursor: Cursor::new(tail, log), parking: Parking::new(), batches: false, step: None };
        Self { state: GilCell::new(state) }
    }

    fn not_sync() -> PyErr {
        PyTypeError::new_err(
            "AsyncLineStream is an async iterator: use `async for line in stream`, not `for` or `list()`",
        )
    }

    /// One step of an await (run by the step `__anext__` handed out): the next item, or a
    /// future to wait on when nothing is buffered; the end as `StopAsyncIteration` or the
    /// stream's error.
    pub fn step<'py>(&self, py: Python<'py>) -> PyResult<Stepped<'py>> {
        let mut state = self.state.borrow_mut(py)?;
        match state.cursor.advance(py) {
            Step::Ready => Ok(Stepped::Ready(state.item(py)?)),
            Step::End(outcome) => Err(state.end(py, outcome)),
            Step::Empty => {
                let State { cursor, parking, .. } = &mut *state;
                let Some(tail) = cursor.tail() else { return Err(PyStopAsyncIteration::new_err(())) };
                let consumer = &tail.consumer;
                let future = parking.park(py, |wake| consumer.on_ready(wake))?;
                Ok(Stepped::Wait(future.into_bound(py)))
            }
        }
    }

    /// The next item when it is already in the batch at hand (no queue, no Python call, no
    /// reference dropped: the raw fast path of a step); `None` otherwise.
    #[inline]
    pub fn buffered<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut state = self.state.borrow_mut(py)?;
        if !state.cursor.has_line() {
            return Ok(None);
        }
        state.item(py).map(Some)
    }

    /// The stream's cursor, for the Arrow view (`py/arrow.rs`).
    pub fn cursor(&self, py: Python<'_>) -> PyResult<std::cell::RefMut<'_, Cursor>> {
        Ok(std::cell::RefMut::map(self.state.borrow_mut(py)?, |state| &mut state.cursor))
    }

    /// Takes back a finished step, to hand it out again.
    pub fn shelve(&self, py: Python<'_>, step: &Bound<'_, PyAny>) {
        if let Ok(mut state) = self.state.borrow_mut(py) {
            if state.step.is_none() {
                state.step = Some(step.clone().unbind());
            }
        }
    }
}

#[pymethods]
impl AsyncLineStream {
    /// The iterator of one `async for` (an `AsyncLineIter`, see `step.rs`).
    fn __aiter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        step::iterate(slf)
    }

    /// The awaitable of the next item (a reusable `AsyncLineStep`, see `step.rs`).
    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let cached = slf.get().state.borrow_mut(slf.py())?.step.take();
        step::arm(slf, cached)
    }

    /// Iterating synchronously (`for`, `list()`) is a mistake, and says so.
    fn __iter__(&self) -> PyResult<()> {
        Err(Self::not_sync())
    }

    /// `await client.tail_job_logs(...)` is a mistake too (it is no coroutine), and says so.
    fn __await__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "tail_job_logs() returns an async iterator, not an awaitable: drop the `await` and use \
             `async for line in client.tail_job_logs(job_id)`",
        ))
    }

    /// Makes `async for` yield `list[str]` per batch received instead of single lines.
    fn batches(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().state.borrow_mut(slf.py())?.batches = true;
        Ok(slf)
    }

    /// Async-iterates Arrow record batches of the lines (`job_id`, `seq`, `line`); see `docs/arrow.md`.
    #[pyo3(signature = (*, max_rows = None, max_bytes = None, max_delay = None))]
    fn arrow(
        slf: Py<Self>,
        py: Python<'_>,
        max_rows: Option<usize>,
        max_bytes: Option<usize>,
        max_delay: Option<f64>,
    ) -> PyResult<crate::py::arrow::AsyncArrowStream> {
        let sizing = crate::py::arrow::sizing(py, max_rows, max_bytes, max_delay)?;
        crate::py::arrow::AsyncArrowStream::of_line(py, slf, sizing)
    }

    /// Closes the connection at once; the iteration ends, also for a task already waiting
    /// in `__anext__` (it is woken and gets `StopAsyncIteration`).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.state.borrow_mut(py)?.close(py);
        Ok(())
    }

    /// Closes the connection (awaitable, like an async generator's `aclose`).
    fn aclose(&self, py: Python<'_>) -> PyResult<Done> {
        self.close(py)?;
        Ok(Done { value: None })
    }

    /// `async with stream:` gives the stream and closes it on exit.
    fn __aenter__(slf: Bound<'_, Self>) -> Done {
        Done { value: Some(slf.into_any().unbind()) }
    }

    fn __aexit__(&self, py: Python<'_>, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) -> PyResult<Done> {
        self.aclose(py)
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.state.borrow_mut(py)?.cursor.tail().is_some())
    }

    /// The job whose log this is.
    #[getter]
    fn job_id(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.state.borrow_mut(py)?.cursor.job_id().to_owned())
    }

    /// The protocol in use once connected, `'websocket'` or `'http'` (what `'auto'` chose); `None` before.
    #[getter]
    fn protocol(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        Ok(self.state.borrow_mut(py)?.cursor.report.protocol())
    }

    /// `'connecting'`, `'open'`, `'ended'` (normally), `'failed'` (with an error) or `'closed'` (by you).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.state.borrow_mut(py)?.cursor.report.state())
    }

    /// Lines received for you so far (at most `queue_size` ahead of what you iterated).
    #[getter]
    fn lines(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.borrow_mut(py)?.cursor.report.lines())
    }

    /// Items received so far, as the limits count them: WebSocket messages or HTTP lines.
    #[getter]
    fn messages(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.borrow_mut(py)?.cursor.report.messages())
    }

    /// Payload bytes received so far, as `max_bytes` counts them.
    #[getter]
    fn bytes(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.borrow_mut(py)?.cursor.report.bytes())
    }

    /// How many times the stream resumed on a new connection after a transient failure.
    #[getter]
    fn resumes(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.state.borrow_mut(py)?.cursor.report.resumes())
    }

    /// The cursor after the last line handed out, as a string (at most 128 characters) naming
    /// the job; `tail_job_logs(job_id, resume_from=...)` starts right after that line.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<String> {
        self.state.borrow_mut(py)?.cursor.checkpoint().into_py_result(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.state.borrow_mut(py) {
            Ok(state) => state.cursor.report.repr(py, "AsyncLineStream"),
            Err(_) => "<AsyncLineStream in use>".to_owned(),
        }
    }
}

impl Drop for AsyncLineStream {
    fn drop(&mut self) {
        self.state.get_mut().parking.forget();
    }
}

/// An awaitable that is already finished.
#[pyclass(module = "synapse_agent_rs._core")]
pub struct Done {
    value: Option<Py<PyAny>>,
}

impl Done {
    /// An awaitable whose result is `value` (`None` gives Python's `None`).
    pub fn new(value: Option<Py<PyAny>>) -> Self {
        Self { value }
    }
}

#[pymethods]
impl Done {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `yield from awaitable.__await__()` (asyncio's wrappers) wants an iterable.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }
}
