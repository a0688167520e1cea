//! `AsyncCall`: an awaitable over a future running on the shared runtime (REST calls).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::py::hub::Parking;
use crate::runtime;
use crate::stream::queue::Wake;

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
#[pyclass(module = "synapse_agent_rs._core")]
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
