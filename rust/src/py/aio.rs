//! The asyncio bridge: one wake-up socket per event loop, and awaitables that only touch
//! the loop when nothing is ready.
//!
//! Reader tasks never take the GIL: to wake a parked consumer they push its id on the hub's
//! ready list and, if the list was empty, write one byte to a socket the loop watches
//! (`loop.add_reader`). The loop then resolves every parked future on the list at once, so
//! a thousand streams cost one loop wake-up per burst, not one per stream or per line.

use std::collections::HashMap;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::error::Result;
use crate::py::cursor::{Cursor, Step};
use crate::py::exceptions::to_pyerr;
use crate::queue::Wake;
use crate::runtime;
use crate::tail::Tail;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The thread-safe half of a hub: what reader tasks touch.
struct Signal {
    ready: Mutex<Vec<u64>>,
    wake_tx: UnixStream,
}

impl Signal {
    fn ready(&self, id: u64) {
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        let first = ready.is_empty();
        ready.push(id);
        drop(ready);
        if first {
            // A full socket already holds a pending wake-up: nothing is lost by ignoring it.
            let _ = (&self.wake_tx).write(&[1]);
        }
    }
}

/// The wake-up point of one event loop (created by `synapse_sdk.clients.agent._hub`).
#[pyclass(module = "synapse_sdk._core", frozen)]
pub struct Hub {
    signal: Arc<Signal>,
    wake_rx: UnixStream,
    /// Futures of parked consumers, by id. Only touched with the GIL held.
    parked: Mutex<HashMap<u64, Py<PyAny>>>,
}

#[pymethods]
impl Hub {
    #[new]
    fn new() -> PyResult<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Self {
            signal: Arc::new(Signal { ready: Mutex::new(Vec::new()), wake_tx }),
            wake_rx,
            parked: Mutex::new(HashMap::new()),
        })
    }

    /// The file descriptor the event loop watches.
    fn fileno(&self) -> i32 {
        self.wake_rx.as_raw_fd()
    }

    /// Resolves the futures of every consumer woken since the last call (the loop's reader callback).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 256];
        loop {
            match (&self.wake_rx).read(&mut buf) {
                Ok(n) if n == buf.len() => {}
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let ids = std::mem::take(&mut *self.signal.ready.lock().unwrap_or_else(PoisonError::into_inner));
        // Every woken consumer gets its wake-up even if one of them fails: an error stops
        // nothing else and is raised (to the loop's exception handler) at the end.
        let mut first_error = None;
        for id in ids {
            let future = self.parked().remove(&id);
            if let Some(future) = future {
                if let Err(e) = wake_future(py, future.bind(py)) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Consumers currently parked (for leak tests).
    fn parked_count(&self) -> usize {
        self.parked().len()
    }
}

/// Resolves a parked consumer's future, unless it was cancelled meanwhile.
fn wake_future(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<()> {
    if !future.call_method0(intern!(py, "done"))?.is_truthy()? {
        future.call_method1(intern!(py, "set_result"), (py.None(),))?;
    }
    Ok(())
}

impl Hub {
    fn parked(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Py<PyAny>>> {
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn waker(&self, id: u64) -> Wake {
        let signal = Arc::clone(&self.signal);
        Box::new(move || signal.ready(id))
    }

    fn forget(&self, id: u64) {
        self.parked().remove(&id);
    }
}

/// Where a consumer parks: the running loop's hub, looked up at each park (once per batch
/// at most), so a stream can be awaited from one loop and then another.
struct Parking {
    id: u64,
    hub: Option<Py<Hub>>,
}

impl Parking {
    fn new() -> Self {
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), hub: None }
    }

    /// Creates a future on the running loop, to be resolved when `register`'s hook is called.
    fn park(&mut self, py: Python<'_>, register: impl FnOnce(Wake)) -> PyResult<Py<PyAny>> {
        static CURRENT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let current = CURRENT.import(py, "synapse_sdk.clients.agent._hub", "current")?;
        let (event_loop, hub): (Bound<'_, PyAny>, Bound<'_, Hub>) = current.call0()?.extract()?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        future.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
        self.forget(); // a previous park may have been on another loop's hub
        hub.get().parked().insert(self.id, future.clone().unbind());
        register(hub.get().waker(self.id));
        self.hub = Some(hub.unbind());
        Ok(future.unbind())
    }

    fn forget(&self) {
        if let Some(hub) = &self.hub {
            hub.get().forget(self.id);
        }
    }
}

/// The lines of one job's log for `async for`.
///
/// The stream is its own awaitable: `__anext__` returns it, and awaiting it finishes at once
/// (no future, no loop round trip) while lines are buffered. Only when nothing is buffered
/// does it park on one future, which the hub resolves when the next batch arrives.
#[pyclass(module = "synapse_sdk._core")]
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
            Err(e) => to_pyerr(py, e),
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

    /// Closes the connection at once; the iteration ends.
    fn close(&mut self) {
        self.parking.forget();
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
#[pyclass(module = "synapse_sdk._core")]
pub struct Done {
    value: Option<Py<PyAny>>,
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

/// The result of a background future, with the hook that announces it.
struct Slot<T> {
    state: Mutex<(Option<T>, Option<Wake>)>,
}

impl<T> Slot<T> {
    fn put(&self, value: T) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = Some(value);
        let wake = state.1.take();
        drop(state);
        if let Some(wake) = wake {
            wake();
        }
    }

    fn take(&self) -> Option<T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0.take()
    }

    fn on_ready(&self, wake: Wake) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0.is_some() {
            drop(state);
            wake();
        } else {
            state.1 = Some(wake);
        }
    }
}

/// Converts the output of an [`AsyncCall`]'s future into its Python result, on the loop's thread.
pub type Convert<T> = fn(Python<'_>, T) -> PyResult<Py<PyAny>>;

/// Takes the finished output of an [`AsyncCall`], converted, if there is one yet.
type Finish = dyn Fn(Python<'_>) -> Option<PyResult<Py<PyAny>>> + Send + Sync;

/// An awaitable over a future running on the shared runtime (REST calls).
#[pyclass(module = "synapse_sdk._core")]
pub struct AsyncCall {
    finish: Box<Finish>,
    register: Box<dyn Fn(Wake) + Send + Sync>,
    task: tokio::task::JoinHandle<()>,
    parking: Parking,
    awaited: bool,
}

impl AsyncCall {
    /// Starts `fut` now; awaiting the call gives `convert(output)`.
    pub fn spawn<T, F>(fut: F, convert: Convert<T>) -> Self
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let slot = Arc::new(Slot { state: Mutex::new((None, None)) });
        let task = runtime::spawn({
            let slot = Arc::clone(&slot);
            async move { slot.put(fut.await) }
        });
        let taken = Arc::clone(&slot);
        Self {
            finish: Box::new(move |py| taken.take().map(|out| convert(py, out))),
            register: Box::new(move |wake| slot.on_ready(wake)),
            task,
            parking: Parking::new(),
            awaited: false,
        }
    }
}

#[pymethods]
impl AsyncCall {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `yield from awaitable.__await__()` (asyncio's wrappers) wants an iterable.
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.awaited {
            return Err(pyo3::exceptions::PyRuntimeError::new_err("this call was already awaited"));
        }
        match (self.finish)(py) {
            Some(result) => {
                self.awaited = true;
                self.parking.forget();
                Err(PyStopIteration::new_err((result?,)))
            }
            None => self.parking.park(py, &self.register),
        }
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        // An abandoned or cancelled call stops its request.
        self.task.abort();
        self.parking.forget();
    }
}
