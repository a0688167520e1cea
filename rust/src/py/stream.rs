//! `LineStream`: the sync iterator over a stream's lines, and its `.batches()` view.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::py::exceptions::to_pyerr;
use crate::py::wait::SLICE;
use crate::queue::{Batch, Take};
use crate::tail::Tail;

/// The lines of one job's log, as they arrive.
///
/// `__next__` hands out lines of the batch it holds without releasing the GIL or touching
/// shared state; only when the batch is used up does it take the next one, and only when
/// none is queued does it wait, with the GIL released, in slices that let Ctrl-C through.
#[pyclass(module = "synapse_sdk._core")]
pub struct LineStream {
    tail: Option<Tail>,
    batch: Batch,
    pos: usize,
}

impl LineStream {
    /// Wraps a started stream.
    pub fn new(tail: Tail) -> Self {
        Self { tail: Some(tail), batch: Batch::default(), pos: 0 }
    }

    /// Loads the next batch; `false` at the normal end, the stream's error at a failed end.
    fn refill(&mut self, py: Python<'_>) -> PyResult<bool> {
        loop {
            let Some(tail) = self.tail.as_mut() else { return Ok(false) };
            match tail.consumer.try_take() {
                Take::Batch(batch) => {
                    self.batch = batch;
                    self.pos = 0;
                    return Ok(true);
                }
                Take::End(outcome) => {
                    self.tail = None;
                    return outcome.map(|()| false).map_err(|e| to_pyerr(py, e));
                }
                Take::Empty => {
                    let consumer = &tail.consumer;
                    py.detach(|| consumer.wait(SLICE));
                    py.check_signals()?;
                }
            }
        }
    }

    /// The rest of the current batch, or the next one, as a list; `None` at the end.
    fn next_list<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if self.pos >= self.batch.len() && !self.refill(py)? {
            return Ok(None);
        }
        let lines = (self.pos..self.batch.len()).map(|i| PyString::new(py, self.batch.get(i)));
        let list = PyList::new(py, lines)?;
        self.pos = self.batch.len();
        Ok(Some(list))
    }
}

#[pymethods]
impl LineStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        if self.pos >= self.batch.len() && !self.refill(py)? {
            return Ok(None);
        }
        let line = PyString::new(py, self.batch.get(self.pos));
        self.pos += 1;
        Ok(Some(line))
    }

    /// Iterates over lists of lines, one per batch received, for bulk consumers.
    fn batches(slf: Py<Self>) -> BatchIter {
        BatchIter { stream: slf }
    }

    /// Closes the connection at once; the iteration ends. Safe to call more than once.
    fn close(&mut self) {
        self.tail = None;
        self.batch = Batch::default();
        self.pos = 0;
    }

    /// Whether the stream is still open (not ended, failed or closed).
    #[getter]
    fn open(&self) -> bool {
        self.tail.is_some()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&mut self, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) {
        self.close();
    }
}

/// The `.batches()` view of a [`LineStream`]: `list[str]` per batch.
#[pyclass(module = "synapse_sdk._core")]
pub struct BatchIter {
    stream: Py<LineStream>,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.stream.bind(py).borrow_mut().next_list(py)
    }

    /// Closes the underlying stream.
    fn close(&self, py: Python<'_>) {
        self.stream.bind(py).borrow_mut().close();
    }
}
