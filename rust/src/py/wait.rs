//! Waiting for a future from a Python thread: GIL released, Ctrl-C answered.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::runtime;

/// How long a waiting thread stays away from Python before checking for signals.
pub const SLICE: Duration = Duration::from_millis(100);

/// Runs `fut` on the shared runtime and waits for it in slices of [`SLICE`] with the GIL
/// released, checking for signals between slices; a signal aborts the future.
pub fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let task = runtime::spawn(async move {
        let _ = tx.send(fut.await);
    });
    let mut rx = rx;
    loop {
        // The receiver moves into the detached closure and back: it is Send, not Sync.
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(SLICE);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(out) => return Ok(out),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    task.abort();
                    return Err(e);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("the synapse-agent-rs runtime dropped a request"));
            }
        }
    }
}
