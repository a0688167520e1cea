//! `GilCell`: the mutable state of a frozen pyclass, borrowed with the GIL held and checked
//! without atomics.
//!
//! A plain (non-frozen) pyclass pays an atomic compare-exchange per borrow, which for the
//! stream iterators is paid per line; here a borrow is one non-atomic flag check.

use std::cell::{RefCell, RefMut};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// State touched only by threads attached to the interpreter, one at a time.
pub struct GilCell<T>(RefCell<T>);

// SAFETY: the only access is `borrow_mut`, which takes a `Python` token: the calling thread
// holds the GIL, so accesses are serialized and ordered by the GIL's own synchronization.
// This holds because the extension is built for the stable ABI (abi3), which free-threaded
// interpreters (no GIL) refuse to build or load. `T: Send` since the borrowing thread may be
// any thread holding the GIL, and the last one drops it.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub fn new(value: T) -> Self {
        Self(RefCell::new(value))
    }

    /// The state, through exclusive access (no other borrow can exist).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// The state, or a `RuntimeError` if it is already borrowed (re-entered from Python code
    /// the borrower called, such as a log handler).
    #[inline]
    pub fn borrow_mut<'a>(&'a self, _py: Python<'_>) -> PyResult<RefMut<'a, T>> {
        self.0
            .try_borrow_mut()
            .map_err(|_| PyRuntimeError::new_err("the stream is in use by a call that has not returned"))
    }
}
