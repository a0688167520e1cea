//! `ManyStream` / `AsyncManyStream`: the Python side of [`crate::stream::many`] (`tail_many`, `follow_jobs`).
//!
//! Items are `(job_id, line)`, `(job_id, list[str])` with `.batches()`, and with `.events()`
//! also `(job_id, None)` when a job completed and `(job_id, ClientError)` when it failed;
//! in follow mode `.events()` also yields `(None, ClientError)` when the job listing starts
//! failing (or fails differently) and `(None, None)` when it works again.
//! Ends are recorded in `.ended` and failures in `.failures` whatever the view, so a
//! caller iterating lines still learns how every job ended.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::py::aio::Done;
use crate::py::exceptions::{to_pyerr, to_pyerr_in, IntoPyResult};
use crate::py::hub::Parking;
use crate::py::wait::SLICE;
use std::collections::HashMap;

use crate::error::Error;
use crate::stream::cursor::{self, Position, Running};
use crate::stream::many::{Event, Many, Next};
use crate::stream::queue::Batch;
use crate::stream::stats::Level;

/// Ends kept in `.ended`: the oldest are forgotten beyond this, so a long `follow_jobs` stays bounded.
const MAX_ENDED: usize = 10_000;

/// What one step of the iteration hands out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Lines,
    Batches,
    Events,
}

/// The batch being drained, with its job.
struct Current {
    key: u64,
    job: Py<PyString>,
    batch: Batch,
    pos: usize,
    /// Where the batch starts and ends in its job's text (with a cursor).
    marks: Option<(Running, Running)>,
    name: Arc<str>,
}

/// The consumer side: the batch being drained and how the jobs ended so far.
pub(crate) struct Reader {
    many: Arc<Many>,
    current: Option<Current>,
    /// job id -> `None` (completed) or the `ClientError`, in the order the jobs ended.
    ended: Py<PyDict>,
}

enum Step {
    Item(Py<PyAny>),
    Empty,
    Done,
}

impl Reader {
    fn new(py: Python<'_>, many: Arc<Many>) -> Self {
        Self { many, current: None, ended: PyDict::new(py).unbind() }
    }

    /// The cursor after the last line of `job` handed out.
    fn position(&self, job: &str) -> Result<Position, Error> {
        if let Some(cur) = self.current.as_ref().filter(|c| &*c.name == job) {
            if let Some((start, end)) = &cur.marks {
                return Ok(if cur.pos == cur.batch.len() {
                    end.position()
                } else {
                    start.after((0..cur.pos).map(|i| cur.batch.get(i)))
                });
            }
        }
        if let Some(at) = self.many.cursor(job) {
            return Ok(at);
        }
        if !self.many.keeps_cursors() {
            return Err(Error::InvalidArgument(
                "this bulk tail keeps no cursors: open it with resume=True (the default) to take checkpoints".into(),
            ));
        }
        self.many.origin(job).ok_or_else(|| Error::InvalidArgument(format!("job {job:?} is not tailed here")))
    }

    /// Every job's checkpoint: the jobs streaming and those that handed out lines.
    fn checkpoints(&self) -> Result<HashMap<String, String>, Error> {
        let mut jobs: Vec<String> = self.many.cursor_jobs();
        jobs.extend(self.many.jobs());
        jobs.sort_unstable();
        jobs.dedup();
        jobs.into_iter()
            .map(|job| self.position(&job).map(|at| (cursor::encode_checkpoint(&job, at), job)))
            .map(|r| r.map(|(c, j)| (j, c)))
            .collect()
    }

    /// A batch handed out whole: its job's cursor moves to its end.
    fn drained(&self, cur: &Current) {
        if let Some((_, end)) = &cur.marks {
            self.many.note_cursor(&cur.name, end.position());
        }
    }

    /// Drops the batch being drained (at close), keeping its job's cursor after the lines of it
    /// handed out.
    fn stop_current(&mut self) {
        if let Some(cur) = self.current.as_ref() {
            if let (Some(_), Ok(at)) = (&cur.marks, self.position(&cur.name)) {
                self.many.note_cursor(&cur.name, at);
            }
        }
        self.current = None;
    }

    /// The next item of `view`, without waiting.
    fn step(&mut self, py: Python<'_>, view: View) -> PyResult<Step> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                if cur.pos < cur.batch.len() {
                    let job = cur.job.clone_ref(py).into_any();
                    let value = if view == View::Lines {
                        let line = PyString::new(py, cur.batch.get(cur.pos));
                        cur.pos += 1;
                        line.into_any()
                    } else {
                        let lines = (cur.pos..cur.batch.len()).map(|i| PyString::new(py, cur.batch.get(i)));
                        let list = PyList::new(py, lines)?;
                        cur.pos = cur.batch.len();
                        list.into_any()
                    };
                    return Ok(Step::Item(PyTuple::new(py, [job.bind(py).clone(), value])?.into_any().unbind()));
                }
            }
            // The batch is drained: its lines and bytes stop counting before the next is taken.
            if let Some(cur) = self.current.take() {
                self.drained(&cur);
                self.many.release(cur.key, cur.batch);
            }
            match self.many.next() {
                Next::Empty => return Ok(Step::Empty),
                Next::Idle => return Ok(Step::Done),
                // Lines and batches views skip them: `.poll_error` keeps the state.
                Next::Listing(_) if view != View::Events => {}
                Next::Listing(change) => {
                    let outcome = match change {
                        None => py.None(),
                        Some(e) => to_pyerr(py, e).into_value(py).into_any(),
                    };
                    return Ok(Step::Item(PyTuple::new(py, [py.None(), outcome])?.into_any().unbind()));
                }
                Next::Item(mut item) => {
                    let (event, interrupt) = logged_event(py, &mut item);
                    match event {
                        Event::Batch(batch) => {
                            let job = PyString::new(py, &item.job).unbind();
                            let (key, marks, name) = (item.key, item.marks, item.job);
                            self.current = Some(Current { key, job, batch, pos: 0, marks, name });
                        }
                        Event::End(outcome) => {
                            let (job, outcome) = self.note_end(py, &item.job, outcome)?;
                            if let Some(e) = interrupt {
                                return Err(e); // the end is in `.ended`
                            }
                            if view == View::Events {
                                let pair = PyTuple::new(py, [job.into_any(), outcome])?;
                                return Ok(Step::Item(pair.into_any().unbind()));
                            }
                        }
                    }
                    // Kept as the batch being drained: the next step hands it out.
                    if let Some(e) = interrupt {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Records how a job ended in `.ended`; returns the job id and `None` or its `ClientError`.
    pub(crate) fn note_end<'py>(
        &self,
        py: Python<'py>,
        job: &str,
        outcome: crate::error::Result<()>,
    ) -> PyResult<(Bound<'py, PyString>, Bound<'py, PyAny>)> {
        let outcome = match outcome {
            Ok(()) => py.None().into_bound(py),
            Err(e) => to_pyerr_in(py, e, Some(job)).into_value(py).into_bound(py).into_any(),
        };
        let job = PyString::new(py, job);
        let ended = self.ended.bind(py);
        // Re-inserted at the end (a job tailed again), the oldest dropped past the bound.
        if ended.contains(&job)? {
            ended.del_item(&job)?;
        }
        ended.set_item(&job, &outcome)?;
        if ended.len() > MAX_ENDED {
            if let Some((oldest, _)) = ended.iter().next() {
                ended.del_item(oldest)?;
            }
        }
        Ok((job, outcome))
    }

    /// Takes the batch being drained, if any: `(stream key, job id, batch, next line)` (for `py/arrow.rs`).
    pub(crate) fn take_current(&mut self, py: Python<'_>) -> Option<(u64, String, Batch, usize)> {
        // The lines of it handed out so far count; what the taker hands out next does not.
        if let Some(cur) = self.current.as_ref().filter(|c| c.marks.is_some()) {
            if let Ok(at) = self.position(&cur.name) {
                self.many.note_cursor(&cur.name, at);
            }
        }
        let cur = self.current.take()?;
        let job = cur.job.bind(py).to_string();
        Some((cur.key, job, cur.batch, cur.pos))
    }

    /// The set of streams.
    pub(crate) fn many(&self) -> &Arc<Many> {
        &self.many
    }

    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let failures = PyDict::new(py);
        for (job, outcome) in self.ended.bind(py).iter() {
            if !outcome.is_none() {
                failures.set_item(job, outcome)?;
            }
        }
        Ok(failures)
    }
}

/// The event of an item, its stream's records written first, and a KeyboardInterrupt (or
/// another `BaseException` that is no `Exception`) raised while writing them, to raise once the
/// event is kept.
fn logged_event(py: Python<'_>, item: &mut crate::stream::many::Item) -> (Event, Option<PyErr>) {
    let interrupt = item.notes.take().and_then(|notes| log_notes(py, &item.job, notes));
    (std::mem::replace(&mut item.event, Event::End(Ok(()))), interrupt)
}

/// Writes a stream's records (resume attempts) under the `synapse_agent_rs` logger.
/// A handler's own failure is reported as unraisable; a KeyboardInterrupt (any error that is no
/// `Exception`) is returned, so Ctrl-C during logging is never lost.
fn log_notes(py: Python<'_>, job: &str, notes: Vec<(Level, String)>) -> Option<PyErr> {
    let logger = py.import("logging").and_then(|logging| logging.call_method1("getLogger", ("synapse_agent_rs",)));
    let Ok(logger) = logger else { return None };
    let mut interrupt = None;
    for (level, message) in notes {
        let method = match level {
            Level::Info => "info",
            Level::Warning => "warning",
        };
        if let Err(e) = logger.call_method1(method, (format!("log stream of job {job}: {message}"),)) {
            if e.is_instance_of::<pyo3::exceptions::PyException>(py) {
                e.write_unraisable(py, None);
            } else {
                interrupt.get_or_insert(e);
            }
        }
    }
    interrupt
}

/// The methods both classes share, on their `Reader`.
macro_rules! common_methods {
    ($class:ty, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            /// Starts tailing one more job, right after `resume_from` (a checkpoint of it) if given;
            /// `False` if it is tailed already (or the stream is closed).
            #[pyo3(signature = (job_id, *, resume_from=None))]
            fn add(&self, py: Python<'_>, job_id: &Bound<'_, PyAny>, resume_from: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
                let job = crate::py::utils::validate_resource_id(py, job_id, "job_id")?;
                let from = crate::py::resume::checkpoint(py, &job, resume_from)?;
                let many = Arc::clone(&self.lock(py).many);
                if let Some(at) = from {
                    many.start_from(HashMap::from([(job.clone(), at)]));
                }
                py.detach(|| many.add(&job)).into_py_result(py)
            }

            /// The checkpoint of one job: the cursor after its last line handed out (a batch
            /// counts whole), for `resume_from`.
            ///
            /// Raises:
            ///     ValidationError: (400) the job is not tailed here, or no cursor is kept (`resume=False`).
            fn checkpoint(&self, py: Python<'_>, job_id: &str) -> PyResult<String> {
                let reader = self.lock(py);
                let at = reader.position(job_id).into_py_result(py)?;
                Ok(cursor::encode_checkpoint(job_id, at))
            }

            /// Every job's checkpoint at once (jobs streaming, and those that handed out lines):
            /// `{job_id: checkpoint}`, to store and pass back as `resume_from=`.
            fn checkpoints(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
                self.lock(py).checkpoints().into_py_result(py)
            }

            /// Stops tailing a job at once, dropping its buffered lines, the rest of the batch
            /// being read included (no end is reported for it); `False` if it was not tailed.
            fn remove(&self, py: Python<'_>, job_id: &str) -> bool {
                // Under the reader's lock, so no other thread takes one more batch of the job
                // between the two steps. `Many::remove` neither waits nor needs the GIL.
                let mut reader = self.lock(py);
                let removed = reader.many.remove(job_id);
                if reader.current.as_ref().is_some_and(|cur| cur.job.bind(py) == job_id) {
                    reader.stop_current();
                }
                removed
            }

            /// The jobs being tailed now (not yet ended, failed or removed).
            #[getter]
            fn jobs(&self, py: Python<'_>) -> Vec<String> {
                let mut jobs = self.lock(py).many.jobs();
                jobs.sort_unstable();
                jobs
            }

            /// The jobs that ended (the last 10,000): job id -> `None` (completed) or its `ClientError`.
            #[getter]
            fn ended<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                self.lock(py).ended.bind(py).copy()
            }

            /// The jobs that failed so far: job id -> `ClientError`.
            #[getter]
            fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                self.lock(py).failures(py)
            }

            /// `follow_jobs`: the listed jobs not followed for want of a slot (`max_followed`), as
            /// of the last good poll; they start as followed jobs end.
            #[getter]
            fn waiting(&self, py: Python<'_>) -> Vec<String> {
                let mut jobs = self.lock(py).many.waiting();
                jobs.sort_unstable();
                jobs
            }

            /// `follow_jobs`: the error of the last `list_jobs` poll if it failed, else `None`.
            #[getter]
            fn poll_error(&self, py: Python<'_>) -> Py<PyAny> {
                match self.lock(py).many.poll_error() {
                    Some(e) => to_pyerr(py, e).into_value(py).into_any(),
                    None => py.None(),
                }
            }

            /// Bytes of line text buffered now over all streams (bounded by `max_buffered_bytes`).
            #[getter]
            fn buffered_bytes(&self, py: Python<'_>) -> usize {
                self.lock(py).many.buffered_bytes()
            }
        }

        impl $class {
            pub(crate) fn lock(&self, py: Python<'_>) -> std::sync::MutexGuard<'_, Reader> {
                self.reader.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner)
            }
        }
    };
}

/// Many jobs' logs as one iterator of `(job_id, line)`.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct ManyStream {
    reader: Mutex<Reader>,
}

impl ManyStream {
    pub fn new(py: Python<'_>, many: Arc<Many>) -> Self {
        Self { reader: Mutex::new(Reader::new(py, many)) }
    }

    /// The next item, waiting with the GIL released in slices that let Ctrl-C through.
    fn next_item(&self, py: Python<'_>, view: View) -> PyResult<Option<Py<PyAny>>> {
        loop {
            let (step, many) = {
                let mut reader = self.lock(py);
                (reader.step(py, view)?, Arc::clone(&reader.many))
            };
            match step {
                Step::Item(item) => return Ok(Some(item)),
                Step::Done => return Ok(None),
                Step::Empty => {
                    py.detach(|| many.wait(SLICE));
                    py.check_signals()?;
                }
            }
        }
    }
}

common_methods!(ManyStream, {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.next_item(py, View::Lines)
    }

    /// Iterates Arrow record batches of every job's lines (`job_id`, `seq`, `line`); see `docs/arrow.md`.
    #[pyo3(signature = (*, max_rows = None, max_bytes = None, max_delay = None))]
    fn arrow(
        slf: Py<Self>,
        py: Python<'_>,
        max_rows: Option<usize>,
        max_bytes: Option<usize>,
        max_delay: Option<f64>,
    ) -> PyResult<crate::py::arrow::ArrowStream> {
        let sizing = crate::py::arrow::sizing(py, max_rows, max_bytes, max_delay)?;
        crate::py::arrow::ArrowStream::of_many(py, slf, sizing)
    }

    /// Iterates `(job_id, list[str])`, one per batch received.
    fn batches(slf: Py<Self>) -> ManyIter {
        ManyIter { stream: slf, view: View::Batches }
    }

    /// Iterates `(job_id, list[str])` per batch, `(job_id, None)` when a job completed and
    /// `(job_id, ClientError)` when it failed; with `follow_jobs`, also `(None, ClientError)`
    /// when the job listing starts failing or fails differently, `(None, None)` when it works again.
    fn events(slf: Py<Self>) -> ManyIter {
        ManyIter { stream: slf, view: View::Events }
    }

    /// Closes every connection at once; the iteration ends. Safe to call more than once.
    fn close(&self, py: Python<'_>) {
        let many = {
            let mut reader = self.lock(py);
            reader.stop_current();
            Arc::clone(&reader.many)
        };
        py.detach(|| many.close());
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) {
        self.close(py);
    }
});

/// The `.batches()` and `.events()` views of a [`ManyStream`].
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct ManyIter {
    stream: Py<ManyStream>,
    view: View,
}

#[pymethods]
impl ManyIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.stream.get().next_item(py, self.view)
    }

    /// Closes the underlying stream.
    fn close(&self, py: Python<'_>) {
        self.stream.get().close(py);
    }
}

/// Many jobs' logs for `async for`: `(job_id, line)` items, one event-loop wake-up per burst.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct AsyncManyStream {
    reader: Mutex<Reader>,
    parking: Mutex<Parking>,
    view: Mutex<View>,
}

impl AsyncManyStream {
    pub fn new(py: Python<'_>, many: Arc<Many>) -> Self {
        Self {
            reader: Mutex::new(Reader::new(py, many)),
            parking: Mutex::new(Parking::new()),
            view: Mutex::new(View::Lines),
        }
    }

    fn set_view(&self, py: Python<'_>, view: View) {
        *self.view.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner) = view;
    }

    fn forget(&self, py: Python<'_>) {
        self.parking.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner).forget();
    }
}

common_methods!(AsyncManyStream, {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `yield from awaitable.__await__()` (asyncio's wrappers) wants an iterable.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// One step of the await: the next item as `StopIteration`'s value, or a future to wait on.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let view = *self.view.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner);
        let (step, many) = {
            let mut reader = self.lock(py);
            (reader.step(py, view)?, Arc::clone(&reader.many))
        };
        match step {
            Step::Item(item) => {
                // A tuple value would be taken as StopIteration's arguments: wrap it in one.
                let args = PyTuple::new(py, [item])?;
                // SAFETY: `py` proves the thread is attached; PyErr_SetObject takes its own references.
                unsafe { pyo3::ffi::PyErr_SetObject(pyo3::ffi::PyExc_StopIteration, args.as_ptr()) };
                Ok(None)
            }
            Step::Done => {
                self.forget(py);
                Err(PyStopAsyncIteration::new_err(()))
            }
            Step::Empty => {
                let mut parking = self.parking.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner);
                parking.park(py, |wake| many.on_ready(wake)).map(Some)
            }
        }
    }

    /// Async-iterates Arrow record batches of every job's lines (`job_id`, `seq`, `line`); see `docs/arrow.md`.
    #[pyo3(signature = (*, max_rows = None, max_bytes = None, max_delay = None))]
    fn arrow(
        slf: Py<Self>,
        py: Python<'_>,
        max_rows: Option<usize>,
        max_bytes: Option<usize>,
        max_delay: Option<f64>,
    ) -> PyResult<crate::py::arrow::AsyncArrowStream> {
        let sizing = crate::py::arrow::sizing(py, max_rows, max_bytes, max_delay)?;
        crate::py::arrow::AsyncArrowStream::of_many(py, slf, sizing)
    }

    /// Makes `async for` yield `(job_id, list[str])` per batch received.
    fn batches(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf.set_view(slf.py(), View::Batches);
        slf
    }

    /// Makes `async for` yield `(job_id, list[str])` per batch, `(job_id, None)` when a job
    /// completed and `(job_id, ClientError)` when it failed; with `follow_jobs`, also
    /// `(None, ClientError)` when the job listing starts failing or fails differently, `(None, None)`
    /// when it works again.
    fn events(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf.set_view(slf.py(), View::Events);
        slf
    }

    /// Closes every connection at once; the iteration ends, also for a task parked in
    /// `async for` (woken, it finds the stream closed).
    fn close(&self, py: Python<'_>) {
        self.parking.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner).wake();
        let many = {
            let mut reader = self.lock(py);
            reader.stop_current();
            Arc::clone(&reader.many)
        };
        py.detach(|| many.close());
    }

    /// Closes every connection (awaitable, like an async generator's `aclose`).
    fn aclose(&self, py: Python<'_>) -> Done {
        self.close(py);
        Done::new(None)
    }

    fn __aenter__(slf: Py<Self>) -> Done {
        Done::new(Some(slf.into_any()))
    }

    fn __aexit__(&self, py: Python<'_>, _exc_type: Py<PyAny>, _exc: Py<PyAny>, _tb: Py<PyAny>) -> Done {
        self.aclose(py)
    }
});

impl Drop for AsyncManyStream {
    fn drop(&mut self) {
        self.parking.get_mut().unwrap_or_else(PoisonError::into_inner).forget();
    }
}
