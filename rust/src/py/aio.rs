//! `AsyncLineStream`: the `async for` side of a stream, an awaitable that only touches the
//! event loop when nothing is ready.

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration, PyTypeError};
use pyo3::prelude::*;

use crate::error::Result;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::to_pyerr_in;
use crate::py::hub::Parking;
use crate::tail::Tail;

/// The lines of one job's log for `async for`: what `AsyncAgentClient.tail_job_logs` returns.
///
/// Use `async for line in stream` (or `async for batch in stream.batches()` for `list[str]`
/// per batch received); `async with stream:` closes it on exit, as do `aclose()`, `close()`,
/// cancelling the task and garbage collection. `for`/`list()` raise `TypeError`. `protocol`,
/// `state` and the counters `lines`, `messages` and `bytes` say what it did so far.
///
/// The stream is its own awaitable: `__anext__` returns it, and awaiting it finishes at once
/// (no future, no loop round trip) while lines are buffered. Only when nothing is buffered
/// does it park on one future, which the hub resolves when the next batch arrives.
#[pyclass(module = "synapse_agent_rs._core")]
pub struct AsyncLineStream {
    cursor: Cursor,
    parking: Parking,
    batches: bool,
    /// Set by `__await__`, cleared when the await step finishes: iterating the stream
    /// outside an await (`list(stream)`) is a mistake, and says so.
    awaiting: bool,
}

impl AsyncLineStream {
    /// Wraps a started stream; `log` is the `synapse_agent_rs` logger when it is enabled.
    pub fn new(tail: Tail, log: Option<Py<PyAny>>) -> Self {
        Self { cursor: Cursor::new(tail, log), parking: Parking::new(), batches: false, awaiting: false }
    }

    fn not_sync() -> PyErr {
        PyTypeError::new_err(
            "AsyncLineStream is an async iterator: use `async for line in stream`, not `for` or `list()`",
        )
    }

    fn end(&mut self, py: Python<'_>, outcome: Result<()>) -> PyErr {
        self.parking.forget();
        match outcome {
            Ok(()) => PyStopAsyncIteration::new_err(()),
            Err(e) => to_pyerr_in(py, e, Some(self.cursor.job_id())),
        }
    }
}

#[pymethods]
impl AsyncLineStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let py = slf.py();
        if let Step::End(outcome) = slf.cursor.advance(py) {
            return Err(slf.end(py, outcome));
        }
        Ok(slf)
    }

    fn __await__(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.awaiting = true;
        slf
    }

    /// `yield from awaitable.__await__()` (asyncio's wrappers) wants an iterable; anything
    /// else iterating the stream synchronously gets a `TypeError`.
    fn __iter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        if slf.awaiting {
            Ok(slf)
        } else {
            Err(Self::not_sync())
        }
    }

    /// One step of the await: the next item as `StopIteration`'s value, or a future to wait on.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if !self.awaiting {
            return Err(Self::not_sync());
        }
        match self.cursor.advance(py) {
            Step::Ready => {
                self.awaiting = false;
                let item =
                    if self.batches { self.cursor.rest(py)?.into_any() } else { self.cursor.line(py).into_any() };
                Ok(return_from_await(&item))
            }
            Step::End(outcome) => {
                self.awaiting = false;
                Err(self.end(py, outcome))
            }
            Step::Empty => {
                let Some(tail) = self.cursor.tail() else { return Err(PyStopAsyncIteration::new_err(())) };
                let consumer = &tail.consumer;
                self.parking.park(py, |wake| consumer.on_ready(wake)).map(Some)
            }
        }
    }

    /// Makes `async for` yield `list[str]` per batch received instead of single lines.
    fn batches(mut slf: PyRefMut<'_, Self>) -> PyRefMut<'_, Self> {
        slf.batches = true;
        slf
    }

    /// Closes the connection at once; the iteration ends, also for a task already waiting
    /// in `__anext__` (it is woken and gets `StopAsyncIteration`).
    fn close(&mut self, py: Python<'_>) {
        self.parking.wake();
        self.cursor.close(py);
    }

    /// Closes the connection (awaitable, like an async generator's `aclose`).
    fn aclose(&mut self, py: Python<'_>) -> Done {
        self.close(py);
        Done { value: None }
    }

    /// `async with stream:` gives the stream and closes it on exit.
    fn __aenter__(slf: Bound<'_, Self>) -> Done {
        Done { value: Some(slf.into_any().unbind()) }
    }

    fn __aexit__(&mut self, py: Python<'_>, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) -> Done {
        self.aclose(py)
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self) -> bool {
        self.cursor.tail().is_some()
    }

    /// The job whose log this is.
    #[getter]
    fn job_id(&self) -> &str {
        self.cursor.job_id()
    }

    /// The protocol in use once connected, `'websocket'` or `'http'` (what `'auto'` chose); `None` before.
    #[getter]
    fn protocol(&self) -> Option<&'static str> {
        self.cursor.report.protocol()
    }

    /// `'connecting'`, `'open'`, `'ended'` (normally), `'failed'` (with an error) or `'closed'` (by you).
    #[getter]
    fn state(&self) -> &'static str {
        self.cursor.report.state()
    }

    /// Lines received for you so far (at most `queue_size` ahead of what you iterated).
    #[getter]
    fn lines(&self) -> u64 {
        self.cursor.report.lines()
    }

    /// Items received so far, as the limits count them: WebSocket messages or HTTP lines.
    #[getter]
    fn messages(&self) -> u64 {
        self.cursor.report.messages()
    }

    /// Payload bytes received so far, as `max_bytes` counts them.
    #[getter]
    fn bytes(&self) -> u64 {
        self.cursor.report.bytes()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.cursor.report.repr(py, "AsyncLineStream")
    }
}

impl Drop for AsyncLineStream {
    fn drop(&mut self) {
        self.parking.forget();
    }
}

/// Ends an await step with `value` as its result, as `return value` ends a coroutine; the
/// caller returns the `None` this gives, which pyo3 passes on as NULL with the error kept.
///
/// NOTE: the raw `PyErr_SetObject` is the per-line cost of `async for`: pyo3's own
/// `StopIteration` error is normalized on Python < 3.12, which builds an exception instance
/// and an argument tuple per line. Set raw, CPython hands the bare value to the awaiting
/// frame (`_PyGen_FetchStopIterationValue`). `value` must not be a tuple (it would be taken
/// as arguments): lines are `str`, batches `list`.
fn return_from_await(value: &Bound<'_, PyAny>) -> Option<Py<PyAny>> {
    // SAFETY: `value` proves the thread is attached; PyErr_SetObject takes its own references.
    unsafe { pyo3::ffi::PyErr_SetObject(pyo3::ffi::PyExc_StopIteration, value.as_ptr()) };
    None
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
