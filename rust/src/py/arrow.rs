//! `.arrow()`: a stream's lines as Arrow record batches (`ArrowStream`, `AsyncArrowStream`).
//!
//! Both views take the queue's batches where `.batches()` does (the stream's cursor, or the
//! bulk stream's ready list) and copy their lines into a [`Builder`]; a batch is handed out when
//! it is full (rows or bytes), when its first row has waited `max_delay`, or at the end. The
//! waiting is the line API's: GIL released in slices that let Ctrl-C through (sync), or a
//! future parked on the loop's hub (async).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

use crate::error::Error;
use crate::py::aio::AsyncLineStream;
use crate::py::arrow_ffi::{self, ArrowBatch};
use crate::py::cell::GilCell;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::{to_pyerr, to_pyerr_in};
use crate::py::hub::Parking;
use crate::py::many::{AsyncManyStream, ManyStream, Reader};
use crate::py::stream::LineStream;
use crate::py::wait::SLICE;
use crate::stream::arrow::{Builder, Sizing};
use crate::stream::many::{Event, Many, Next};
use crate::stream::queue::Batch;

/// The batch sizing from `.arrow()`'s arguments (`None`: the default), checked.
pub fn sizing(py: Python<'_>, rows: Option<usize>, bytes: Option<usize>, delay: Option<f64>) -> PyResult<Sizing> {
    let mut sizing = Sizing::default();
    let bad = |what: &str| to_pyerr(py, Error::InvalidArgument(format!("{what} must be positive")));
    if let Some(rows) = rows {
        sizing.max_rows = if rows > 0 { rows } else { return Err(bad("max_rows")) };
    }
    if let Some(bytes) = bytes {
        sizing.max_bytes = if bytes > 0 { bytes } else { return Err(bad("max_bytes")) };
    }
    if let Some(delay) = delay {
        if !(0.0..=86_400.0).contains(&delay) {
            return Err(to_pyerr(py, Error::InvalidArgument("max_delay must be between 0 and 86400 seconds".into())));
        }
        sizing.max_delay = Duration::from_secs_f64(delay);
    }
    Ok(sizing)
}

/// The most lines a single stream's reader runs ahead for its Arrow view (see [`State::new`]).
const MAX_READ_AHEAD: usize = 8_192;

/// Waits up to a time for the source to have something, with the GIL released.
type Wait = Box<dyn Fn(Duration) + Send + Sync>;

/// Where the lines come from.
enum Source {
    Line(Py<LineStream>),
    AsyncLine(Py<AsyncLineStream>),
    Many(Py<ManyStream>),
    AsyncMany(Py<AsyncManyStream>),
}

/// What a pull found.
enum Pulled {
    /// The batch is full.
    Full,
    /// Nothing more now.
    Empty,
    /// The stream is over (a single stream's error comes with its job id).
    End(std::result::Result<(), PyErr>),
}

/// The bulk stream's batch being copied: its stream key, job, lines and next line.
struct Current {
    key: u64,
    job: Arc<str>,
    batch: Batch,
    pos: usize,
}

struct State {
    source: Source,
    sizing: Sizing,
    builder: Builder,
    /// A single stream's job and next line number.
    job: Arc<str>,
    seq: u64,
    /// The bulk stream's batch being copied, and each stream's next line number.
    current: Option<Current>,
    seqs: HashMap<u64, u64>,
    /// The end, kept while a last batch is handed out before it.
    end: Option<std::result::Result<(), PyErr>>,
    done: bool,
    parking: Parking,
}

impl State {
    fn new(py: Python<'_>, source: Source, sizing: Sizing) -> PyResult<Self> {
        let line = |cursor: std::cell::RefMut<'_, Cursor>| {
            // The batch being filled holds up to `max_rows` lines anyway: let the reader run as far
            // ahead, so that a pause of this thread (a Parquet write, a busy machine) does not stall it.
            if let Some(tail) = cursor.tail() {
                tail.consumer.widen(sizing.max_rows.min(MAX_READ_AHEAD));
            }
            Arc::from(cursor.job_id())
        };
        let job = match &source {
            Source::Line(s) => line(s.get().cursor(py)?),
            Source::AsyncLine(s) => line(s.get().cursor(py)?),
            Source::Many(_) | Source::AsyncMany(_) => Arc::from(""),
        };
        Ok(Self {
            source,
            sizing,
            builder: Builder::default(),
            job,
            seq: 0,
            current: None,
            seqs: HashMap::new(),
            end: None,
            done: false,
            parking: Parking::new(),
        })
    }

    fn reader<'a>(&'a self, py: Python<'_>) -> Option<std::sync::MutexGuard<'a, Reader>> {
        reader(&self.source, py)
    }
}

/// The bulk stream's consumer side, for a bulk source.
fn reader<'a>(source: &'a Source, py: Python<'_>) -> Option<std::sync::MutexGuard<'a, Reader>> {
    match source {
        Source::Many(s) => Some(s.get().lock(py)),
        Source::AsyncMany(s) => Some(s.get().lock(py)),
        Source::Line(_) | Source::AsyncLine(_) => None,
    }
}

/// [`reader`] where only a bulk source can be: an error, never a panic, if that ever broke.
fn bulk_reader<'a>(source: &'a Source, py: Python<'_>) -> PyResult<std::sync::MutexGuard<'a, Reader>> {
    reader(source, py).ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("not a bulk stream's Arrow view"))
}

impl State {
    /// Copies what is ready into the builder, without waiting.
    fn pull(&mut self, py: Python<'_>) -> PyResult<Pulled> {
        match &self.source {
            Source::Line(s) => {
                let stream = s.clone_ref(py);
                let cursor = stream.get().cursor(py)?;
                Ok(self.pull_line(py, cursor))
            }
            Source::AsyncLine(s) => {
                let stream = s.clone_ref(py);
                let cursor = stream.get().cursor(py)?;
                Ok(self.pull_line(py, cursor))
            }
            Source::Many(_) | Source::AsyncMany(_) => self.pull_many(py),
        }
    }

    fn pull_line(&mut self, py: Python<'_>, mut cursor: std::cell::RefMut<'_, Cursor>) -> Pulled {
        loop {
            let (batch, pos) = cursor.pending();
            if pos < batch.len() {
                let n = self.builder.append(0, &self.job, self.seq, batch, pos, &self.sizing);
                cursor.consume(n);
                self.seq += n as u64;
                if self.builder.full(&self.sizing) {
                    return Pulled::Full;
                }
                continue;
            }
            match cursor.advance(py) {
                Step::Ready => {}
                Step::Empty => return Pulled::Empty,
                Step::End(outcome) => {
                    return Pulled::End(outcome.map_err(|e| to_pyerr_in(py, e, Some(cursor.job_id()))));
                }
            }
        }
    }

    fn pull_many(&mut self, py: Python<'_>) -> PyResult<Pulled> {
        let many = {
            let mut reader = bulk_reader(&self.source, py)?;
            // Lines left by the line views come first.
            if let Some((key, job, batch, pos)) = reader.take_current(py) {
                self.current = Some(Current { key, job: Arc::from(job), batch, pos });
            }
            Arc::clone(reader.many())
        };
        loop {
            if let Some(cur) = self.current.as_mut() {
                if cur.pos < cur.batch.len() {
                    let seq = self.seqs.entry(cur.key).or_insert(0);
                    let n = self.builder.append(cur.key, &cur.job, *seq, &cur.batch, cur.pos, &self.sizing);
                    cur.pos += n;
                    *seq += n as u64;
                    if self.builder.full(&self.sizing) {
                        return Ok(Pulled::Full);
                    }
                    continue;
                }
            }
            // Drained: its lines and bytes stop counting before the next batch is taken.
            if let Some(cur) = self.current.take() {
                many.release(cur.key, cur.batch);
            }
            match many.next() {
                Next::Empty => return Ok(Pulled::Empty),
                Next::Idle => return Ok(Pulled::End(Ok(()))),
                // The job listing's changes (follow mode) are in `.poll_error` and `.events()`,
                // as the lines and batches views leave them out.
                Next::Listing(_) => continue,
                Next::Item(item) => match item.event {
                    Event::Batch(batch) => self.current = Some(Current { key: item.key, job: item.job, batch, pos: 0 }),
                    Event::End(outcome) => {
                        self.seqs.remove(&item.key);
                        bulk_reader(&self.source, py)?.note_end(py, &item.job, outcome)?;
                    }
                },
            }
        }
    }

    /// One step: a batch to hand out, `Ok(None)` to wait (see [`Self::due`]), or the end.
    fn step(&mut self, py: Python<'_>) -> PyResult<Option<Option<ArrowBatch>>> {
        if self.done {
            return match self.end.take() {
                Some(Err(e)) => Err(e),
                _ => Ok(Some(None)),
            };
        }
        match self.pull(py)? {
            Pulled::Full => self.finish(py).map(Some),
            Pulled::End(outcome) => {
                self.done = true;
                self.end = Some(outcome);
                self.parking.forget();
                match self.finish(py)? {
                    Some(batch) => Ok(Some(Some(batch))),
                    None => self.step(py),
                }
            }
            Pulled::Empty if self.builder.due_in(&self.sizing) == Some(Duration::ZERO) => self.finish(py).map(Some),
            Pulled::Empty => Ok(None),
        }
    }

    /// How long to wait for more before the batch is due; `None` when it is empty.
    fn due(&self) -> Option<Duration> {
        self.builder.due_in(&self.sizing)
    }

    fn finish(&mut self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        let batch = self.builder.finish().map_err(|e| to_pyerr(py, Error::Remote(format!("arrow: {e}"))))?;
        Ok(batch.map(ArrowBatch::new))
    }

    /// A handle to wait on the source with the GIL released: `wait(timeout)`.
    fn waiter(&self, py: Python<'_>) -> PyResult<Option<Wait>> {
        Ok(match &self.source {
            Source::Line(s) => s.get().cursor(py)?.tail().map(|tail| {
                let waiter = tail.consumer.waiter();
                // A batch being filled waits for half a queue at a time: one wake-up per half
                // queue, not per received batch, while a flood lasts (the delay still bounds it).
                let lines = if self.builder.rows() == 0 {
                    1
                } else {
                    (waiter.capacity() / 2).min(self.sizing.max_rows.saturating_sub(self.builder.rows()))
                };
                Box::new(move |t| {
                    waiter.wait_for(lines, t);
                }) as Wait
            }),
            Source::Many(s) => {
                let many = Arc::clone(s.get().lock(py).many());
                Some(Box::new(move |t| {
                    many.wait(t);
                }))
            }
            Source::AsyncLine(_) | Source::AsyncMany(_) => None,
        })
    }

    /// Parks a future on the running loop, resolved when the source has something.
    fn park(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let many: Option<Arc<Many>> = self.reader(py).map(|r| Arc::clone(r.many()));
        if let Some(many) = many {
            return self.parking.park(py, |wake| many.on_ready(wake)).map(Some);
        }
        let Source::AsyncLine(s) = &self.source else { return Ok(None) };
        let stream = s.clone_ref(py);
        let cursor = stream.get().cursor(py)?;
        let Some(tail) = cursor.tail() else { return Ok(None) };
        self.parking.park(py, |wake| tail.consumer.on_ready(wake)).map(Some)
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        // A task awaiting the next batch wakes up and finds the end.
        self.parking.wake();
        self.current = None;
        self.builder = Builder::default();
        let stream: &Py<PyAny> = match &self.source {
            Source::Line(s) => s.as_any(),
            Source::AsyncLine(s) => s.as_any(),
            Source::Many(s) => s.as_any(),
            Source::AsyncMany(s) => s.as_any(),
        };
        stream.call_method0(py, "close")?;
        Ok(())
    }

    fn stream(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.source {
            Source::Line(s) => s.clone_ref(py).into_any(),
            Source::AsyncLine(s) => s.clone_ref(py).into_any(),
            Source::Many(s) => s.clone_ref(py).into_any(),
            Source::AsyncMany(s) => s.clone_ref(py).into_any(),
        }
    }
}

/// `synapse_agent_rs._arrow`, the thin pyarrow conveniences.
fn helpers(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static MODULE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("synapse_agent_rs._arrow").map(|m| m.into_any().unbind()))
        .map(|m| m.bind(py))
}

/// Arrow record batches of a stream's lines: what `.arrow()` returns (see `docs/arrow.md`).
///
/// Iterate it for `ArrowBatch`es, or hand it whole to a reader of `__arrow_c_stream__`
/// (`pyarrow.RecordBatchReader.from_stream`, `polars.DataFrame`, `duckdb.sql`).
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct ArrowStream {
    state: GilCell<State>,
}

impl ArrowStream {
    pub fn of_line(py: Python<'_>, stream: Py<LineStream>, sizing: Sizing) -> PyResult<Self> {
        Ok(Self { state: GilCell::new(State::new(py, Source::Line(stream), sizing)?) })
    }

    pub fn of_many(py: Python<'_>, stream: Py<ManyStream>, sizing: Sizing) -> PyResult<Self> {
        Ok(Self { state: GilCell::new(State::new(py, Source::Many(stream), sizing)?) })
    }

    /// The next batch, waiting for it; `None` at the end.
    pub fn next_batch(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        loop {
            let (wait, due) = {
                let mut state = self.state.borrow_mut(py)?;
                if let Some(batch) = state.step(py)? {
                    return Ok(batch);
                }
                (state.waiter(py)?, state.due())
            };
            // No borrow is held while waiting: `close()` from another thread gets in and wakes it.
            let slice = due.map_or(SLICE, |d| d.min(SLICE));
            if let Some(wait) = wait {
                py.detach(|| wait(slice));
            }
            if let Err(interrupt) = py.check_signals() {
                // Ctrl-C abandons the stream: its connections close now.
                if let Ok(mut state) = self.state.borrow_mut(py) {
                    state.done = true;
                    let _ = state.close(py);
                }
                return Err(interrupt);
            }
        }
    }
}

#[pymethods]
impl ArrowStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        self.next_batch(py)
    }

    /// The rest of the stream as one `arrow_array_stream` capsule (read to the end, or until closed).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        slf: Py<Self>,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        arrow_ffi::stream_capsule(py, slf)
    }

    /// The schema of every batch, as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        arrow_ffi::schema_capsule(py)
    }

    /// Writes the rest of the stream to a Parquet file, one row group per batch; returns the rows written.
    #[pyo3(signature = (path, **kwargs))]
    fn to_parquet(
        slf: Py<Self>,
        py: Python<'_>,
        path: Bound<'_, PyAny>,
        kwargs: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        helpers(py)?.call_method("to_parquet", (slf, path), kwargs.as_ref()).map(Bound::unbind)
    }

    /// Closes the stream (all its connections) at once; the iteration ends.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state.borrow_mut(py)?;
        state.done = true;
        state.close(py)
    }

    /// The stream the batches come from (a `LineStream` or `ManyStream`: its `.ended`, `.failures`).
    #[getter]
    fn stream(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.state.borrow_mut(py)?.stream(py))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _e: Py<PyAny>, _tb: Py<PyAny>) -> PyResult<()> {
        self.close(py)
    }
}

/// Arrow record batches of a stream's lines for `async for`: what the async `.arrow()` returns.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct AsyncArrowStream {
    state: GilCell<State>,
}

impl AsyncArrowStream {
    pub fn of_line(py: Python<'_>, stream: Py<AsyncLineStream>, sizing: Sizing) -> PyResult<Self> {
        Ok(Self { state: GilCell::new(State::new(py, Source::AsyncLine(stream), sizing)?) })
    }

    pub fn of_many(py: Python<'_>, stream: Py<AsyncManyStream>, sizing: Sizing) -> PyResult<Self> {
        Ok(Self { state: GilCell::new(State::new(py, Source::AsyncMany(stream), sizing)?) })
    }
}

#[pymethods]
impl AsyncArrowStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The awaitable of the next batch (a coroutine looping on `_step`).
    fn __anext__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        helpers(py)?.call_method1("anext_batch", (slf,)).map(Bound::unbind)
    }

    /// One step without waiting: the next `ArrowBatch`, or `(future, timeout)` to wait on
    /// (`timeout` in seconds, `None` for no bound); `StopAsyncIteration` at the end.
    fn _step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut state = self.state.borrow_mut(py)?;
        match state.step(py)? {
            Some(Some(batch)) => Ok(Py::new(py, batch)?.into_any()),
            Some(None) => Err(PyStopAsyncIteration::new_err(())),
            None => {
                let due = state.due().map(|d| d.as_secs_f64());
                match state.park(py)? {
                    Some(future) => {
                        Ok(PyTuple::new(py, [future, due.into_pyobject(py)?.into_any().unbind()])?.into_any().unbind())
                    }
                    // The stream closed meanwhile: the next step finds its end.
                    None => Ok(PyTuple::new(py, [py.None(), 0.0_f64.into_pyobject(py)?.into_any().unbind()])?
                        .into_any()
                        .unbind()),
                }
            }
        }
    }

    /// Writes the rest of the stream to a Parquet file (awaitable); returns the rows written.
    #[pyo3(signature = (path, **kwargs))]
    fn to_parquet(
        slf: Py<Self>,
        py: Python<'_>,
        path: Bound<'_, PyAny>,
        kwargs: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        helpers(py)?.call_method("ato_parquet", (slf, path), kwargs.as_ref()).map(Bound::unbind)
    }

    /// Closes the stream (all its connections) at once; the iteration ends.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state.borrow_mut(py)?;
        state.done = true;
        state.close(py)
    }

    /// The schema of every batch, as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        arrow_ffi::schema_capsule(py)
    }

    /// The stream the batches come from (an `AsyncLineStream` or `AsyncManyStream`).
    #[getter]
    fn stream(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.state.borrow_mut(py)?.stream(py))
    }
}

impl Drop for AsyncArrowStream {
    fn drop(&mut self) {
        self.state.get_mut().parking.forget();
    }
}
