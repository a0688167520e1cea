//! `AsyncLineStream`: the `async for` side of a stream, an awaitable that only touches the
//! event loop when nothing is ready.

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;

use crate::error::Result;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::to_pyerr_in;
use crate::py::hub::Parking;
use crate::tail::Tail;

/// The lines of one job's log for `async for`.
///
/// The stream is its own awaitable: `__anext__` returns it, and awaiting it finishes at once
/// (no future, no loop round trip) while lines are buffered. Only when nothing is buffered
/// does it park on one future, which the hub resolves when the next batch arrives.
#[pyclass(module = "synapse_agent_rs._core")]
pub struct AsyncLineStream {
    cursor: Cursor,
    parking: Parking,
    batches: bool,
}

impl AsyncLineStream {
    /// Wraps a started stream.
    pub fn new(tail: Tail) -> Self {
        Self { cursor: Cursor::new(tail), parking: Parking::new(), batches: false }
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
        if let Step::End(outcome) = slf.cursor.advance() {
            let py = slf.py();
            return Err(slf.end(py, outcome));
        }
        Ok(slf)
    }

    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `yield from awaitable.__await__()` (asyncio's wrappers) wants an iterable.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// One step of the await: the next item as `StopIteration`'s value, or a future to wait on.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.cursor.advance() {
            Step::Ready => {
                let item =
                    if self.batches { self.cursor.rest(py)?.into_any() } else { self.cursor.line(py).into_any() };
                Ok(return_from_await(&item))
            }
            Step::End(outcome) => Err(self.end(py, outcome)),
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
    fn close(&mut self) {
        self.parking.wake();
        self.cursor.close();
    }

    /// Closes the connection (awaitable, like an async generator's `aclose`).
    fn aclose(&mut self) -> Done {
        self.close();
        Done { value: None }
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self) -> bool {
        self.cursor.tail().is_some()
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
