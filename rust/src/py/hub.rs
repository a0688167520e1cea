//! One wake-up socket per asyncio event loop, shared by every stream and call on it.
//!
//! Reader tasks never take the GIL: to wake a parked consumer they push its id on the hub's
//! ready list and, if the list was empty, write one byte to a socket the loop watches
//! (`loop.add_reader`). The loop then resolves every parked future on the list at once, so
//! a thousand streams cost one loop wake-up per burst, not one per stream or per line.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::py::wakeup::{self, Socket};
use crate::stream::queue::Wake;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The thread-safe half of a hub: what reader tasks touch.
struct Signal {
    ready: Mutex<Vec<u64>>,
    wake_tx: Socket,
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

/// The wake-up point of one event loop (created by `synapse_agent_rs.clients.agent._hub`).
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct Hub {
    signal: Arc<Signal>,
    wake_rx: Socket,
    /// Futures of parked consumers, by id. Only touched with the GIL held.
    parked: Mutex<HashMap<u64, Py<PyAny>>>,
}

#[pymethods]
impl Hub {
    #[new]
    fn new() -> PyResult<Self> {
        let (wake_tx, wake_rx) = wakeup::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Self {
            signal: Arc::new(Signal { ready: Mutex::new(Vec::new()), wake_tx }),
            wake_rx,
            parked: Mutex::new(HashMap::new()),
        })
    }

    /// The file descriptor the event loop watches.
    fn fileno(&self) -> i64 {
        wakeup::fileno(&self.wake_rx)
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
pub struct Parking {
    id: u64,
    hub: Option<Py<Hub>>,
}

impl Parking {
    pub fn new() -> Self {
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), hub: None }
    }

    /// Creates a future on the running loop, to be resolved when `register`'s hook is called.
    pub fn park(&mut self, py: Python<'_>, register: impl FnOnce(Wake)) -> PyResult<Py<PyAny>> {
        static CURRENT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let current = CURRENT.import(py, "synapse_agent_rs.clients.agent._hub", "current")?;
        let (event_loop, hub): (Bound<'_, PyAny>, Bound<'_, Hub>) = current.call0()?.extract()?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        future.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
        self.forget(); // a previous park may have been on another loop's hub
        hub.get().parked().insert(self.id, future.clone().unbind());
        register(hub.get().waker(self.id));
        self.hub = Some(hub.unbind());
        Ok(future.unbind())
    }

    /// Resolves the parked future (through the hub, so from any thread): the task awaiting
    /// it runs again and finds the stream closed. For `close()` from another task or thread.
    pub fn wake(&self) {
        if let Some(hub) = &self.hub {
            hub.get().signal.ready(self.id);
        }
    }

    pub fn forget(&self) {
        if let Some(hub) = &self.hub {
            hub.get().forget(self.id);
        }
    }
}
