//! `LineStream`: the sync iterator over a stream's lines, and its `.batches()` view.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::to_pyerr_in;
use crate::py::wait::SLICE;
use crate::tail::Tail;

/// The lines of one job's log, as they arrive.
///
/// `__next__` hands out lines of the batch it holds without releasing the GIL or touching
/// shared state; only when the batch is used up does it take the next one, and only when
/// none is queued does it wait, with the GIL released, in slices that let Ctrl-C through.
#[pyclass(module = "synapse_agent_rs._core")]
pub struct LineStream {
    cursor: Cursor,
}

impl LineStream {
    /// Wraps a started stream.
    pub fn new(tail: Tail) -> Self {
        Self { cursor: Cursor::new(tail) }
    }

    /// Waits until lines are ready: `false` at the normal end, the stream's error at a failed end.
    fn ready(&mut self, py: Python<'_>) -> PyResult<bool> {
        loop {
            match self.cursor.advance() {
                Step::Ready => return Ok(true),
                Step::End(outcome) => {
                    return outcome.map(|()| false).map_err(|e| to_pyerr_in(py, e, Some(self.cursor.job_id())));
                }
                Step::Empty => {
                    if let Some(tail) = self.cursor.tail() {
                        let consumer = &tail.consumer;
                        py.detach(|| consumer.wait(SLICE));
                    }
                    py.check_signals()?;
                }
            }
        }
    }
}

#[pymethods]
impl LineStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        if self.cursor.has_line() || self.ready(py)? {
            Ok(Some(self.cursor.line(py)))
        } else {
            Ok(None)
        }
    }

    /// Iterates over lists of lines, one per batch received, for bulk consumers.
    fn batches(slf: Py<Self>) -> BatchIter {
        BatchIter { stream: slf }
    }

    /// Closes the connection at once; the iteration ends. Safe to call more than once.
    fn close(&mut self) {
        self.cursor.close();
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self) -> bool {
        self.cursor.tail().is_some()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&mut self, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) {
        self.close();
    }
}

/// The `.batches()` view of a [`LineStream`]: `list[str]` per batch.
#[pyclass(module = "synapse_agent_rs._core")]
pub struct BatchIter {
    stream: Py<LineStream>,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let mut stream = self.stream.bind(py).borrow_mut();
        if stream.cursor.has_line() || stream.ready(py)? {
            stream.cursor.rest(py).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Closes the underlying stream.
    fn close(&self, py: Python<'_>) {
        self.stream.bind(py).borrow_mut().close();
    }
}
