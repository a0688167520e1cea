//! The awaitables of `async for` over an `AsyncLineStream`, as raw types:
//!
//! - `AsyncLineIter`, what `__aiter__` returns: for the whole loop it is the iterator and the
//!   awaitable of each step at once (`__anext__` and `__await__` give itself back), so a line
//!   costs no pyo3 call at all;
//! - `AsyncLineStep`, what the stream's own `__anext__` returns (`anext(stream)`): the
//!   awaitable of one step, awaited once.
//!
//! Raw, because pyo3 cannot define `am_send`: through that slot Python 3.10 and 3.11 take each
//! line as a plain return value, with no `StopIteration` raised and caught per line. Python
//! 3.12+ only calls `__next__` (`tp_iternext`) on awaitables that are not coroutines, so there
//! the line still comes back as `StopIteration`'s value.
//!
//! No reference cycle ever forms, so a cancelled task's stream closes at once: an iterator
//! holds its stream, never the reverse. A step's ownership flips: at rest the stream holds
//! its step; `__anext__` hands the step out holding the stream; when the step finishes it
//! drops the stream and goes back to it. A step abandoned midway releases the stream when freed.

use std::ffi::{c_void, CStr};
use std::ptr;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use pyo3::Borrowed;

use crate::py::aio::{AsyncLineStream, Stepped};
use crate::py::raw;

#[repr(C)]
struct StepObject {
    ob_base: ffi::PyObject,
    /// The stream: an iterator's for its whole life, a step's while it runs (a strong
    /// reference, or null).
    stream: *mut ffi::PyObject,
    /// An `AsyncLineIter` (keeps its stream), not an `AsyncLineStep` (single await).
    looping: bool,
    /// The `StopIteration` that carries results out of `__next__`, reused (owned, or null).
    stop: *mut ffi::PyObject,
}

/// What one run of the step gives back to the interpreter.
enum Out {
    /// The await is over: its result (a new reference).
    Return(*mut ffi::PyObject),
    /// A future to wait on before the next run (a new reference).
    Yield(*mut ffi::PyObject),
}

static STEP_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ITER_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Makes one of the two types (the iterator is also an async iterator; both are awaitables).
fn make_type(py: Python<'_>, name: &'static CStr, doc: &'static CStr, looping: bool) -> PyResult<Py<PyType>> {
    let mut slots = vec![
        (ffi::Py_am_await, raw::itself as *mut c_void),
        (ffi::Py_am_send, step_send as *mut c_void),
        (ffi::Py_tp_iter, raw::itself as *mut c_void),
        (ffi::Py_tp_iternext, step_next as *mut c_void),
        (ffi::Py_tp_dealloc, step_dealloc as *mut c_void),
    ];
    if looping {
        slots.push((ffi::Py_am_aiter, raw::itself as *mut c_void));
        slots.push((ffi::Py_am_anext, raw::itself as *mut c_void));
    }
    raw::make_type(py, name, doc, std::mem::size_of::<StepObject>(), &slots)
}

/// A new object of one of the two types, holding `stream`.
fn new_object<'py>(stream: &Bound<'py, AsyncLineStream>, looping: bool) -> PyResult<Bound<'py, PyAny>> {
    let py = stream.py();
    let ty = if looping {
        let doc = c"The iterator of `async for` over an AsyncLineStream (what `__aiter__` returns).";
        ITER_TYPE.get_or_try_init(py, || make_type(py, c"synapse_agent_rs._core.AsyncLineIter", doc, true))?
    } else {
        let doc = c"One step of `async for` over an AsyncLineStream (what `__anext__` returns).";
        STEP_TYPE.get_or_try_init(py, || make_type(py, c"synapse_agent_rs._core.AsyncLineStep", doc, false))?
    };
    let obj = raw::alloc(ty.bind(py))?;
    // SAFETY: a StepObject, just made (zeroed); the GIL is held.
    unsafe {
        let step = obj.as_ptr().cast::<StepObject>();
        (*step).stream = stream.clone().into_any().into_ptr();
        (*step).looping = looping;
    }
    Ok(obj)
}

/// The iterator of one `async for` over `stream` (its `__aiter__`).
pub fn iterate<'py>(stream: &Bound<'py, AsyncLineStream>) -> PyResult<Bound<'py, PyAny>> {
    new_object(stream, true)
}

/// The step to hand out for one `__anext__` of `stream`: `cached` (the stream's step at rest)
/// when nothing else holds it, else a new one. It holds `stream` until it finishes.
pub fn arm<'py>(stream: &Bound<'py, AsyncLineStream>, cached: Option<Py<PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let py = stream.py();
    match cached.map(|step| step.into_bound(py)) {
        // Only the cache held it: a caller that kept an earlier awaitable never sees it reused.
        // SAFETY: a live object; the GIL is held.
        Some(step) if unsafe { ffi::Py_REFCNT(step.as_ptr()) } == 1 => {
            // SAFETY: a cached step is a StepObject at rest (`stream` null); the GIL is held.
            unsafe { (*step.as_ptr().cast::<StepObject>()).stream = stream.clone().into_any().into_ptr() };
            Ok(step)
        }
        _ => new_object(stream, false),
    }
}

unsafe extern "C" fn step_send(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: the interpreter passes a live step and a place for the result.
    let (out, status) = match unsafe { run(obj) } {
        Some(Out::Return(value)) => (value, ffi::PySendResult::PYGEN_RETURN),
        Some(Out::Yield(future)) => (future, ffi::PySendResult::PYGEN_NEXT),
        None => (ptr::null_mut(), ffi::PySendResult::PYGEN_ERROR),
    };
    // SAFETY: as above.
    unsafe { *result = out };
    status
}

unsafe extern "C" fn step_next(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter passes a live step.
    match unsafe { run(obj) } {
        Some(Out::Return(value)) => {
            // SAFETY: a live step; the GIL is held; `value` is a new reference, handed over.
            unsafe { raise_stop_iteration(obj, value) };
            ptr::null_mut()
        }
        Some(Out::Yield(future)) => future,
        None => ptr::null_mut(),
    }
}

unsafe extern "C" fn step_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: the interpreter frees a StepObject of our heap type, with the GIL held: the
    // stream reference (if the step was abandoned midway) is dropped, then the memory, then
    // the reference every instance of a heap type holds on its type.
    unsafe {
        let step = obj.cast::<StepObject>();
        let stream = std::mem::replace(&mut (*step).stream, ptr::null_mut());
        let stop = std::mem::replace(&mut (*step).stop, ptr::null_mut());
        raw::free(obj);
        ffi::Py_XDECREF(stream);
        ffi::Py_XDECREF(stop);
    }
}

/// Runs one step; `None` with the Python error set.
///
/// # Safety
/// `obj` is a live StepObject and the GIL is held (the interpreter calls slots so).
unsafe fn run(obj: *mut ffi::PyObject) -> Option<Out> {
    let step = obj.cast::<StepObject>();
    // SAFETY: per the contract.
    let (stream_ptr, looping) = unsafe { ((*step).stream, (*step).looping) };
    // SAFETY: the GIL is held.
    let py = unsafe { Python::assume_attached() };
    if stream_ptr.is_null() {
        let message = "cannot reuse an already awaited __anext__() of an AsyncLineStream";
        PyRuntimeError::new_err(message).restore(py);
        return None;
    }
    // SAFETY (also of each `raw::borrowed` here): a set `stream` is a strong reference to an
    // AsyncLineStream (see `arm`), alive at least until the end of this function; the GIL is
    // held (per the contract).
    // SAFETY: per the contract.
    let out = unsafe {
        raw::run(
            |py| {
                Ok(raw::borrowed::<AsyncLineStream>(py, stream_ptr)
                    .get()
                    .buffered(py)?
                    .map(|item| Out::Return(item.into_ptr())))
            },
            |py| {
                Ok(match raw::borrowed::<AsyncLineStream>(py, stream_ptr).get().step(py)? {
                    Stepped::Wait(future) => Out::Yield(future.into_ptr()),
                    Stepped::Ready(item) => Out::Return(item.into_ptr()),
                })
            },
        )
    };
    if looping || matches!(out, Some(Out::Yield(_))) {
        return out;
    }
    // A single step finished: back to the stream, and the stream's reference dropped.
    // SAFETY: per the contract.
    unsafe { (*step).stream = ptr::null_mut() };
    // SAFETY: as above (the stream reference is dropped only below).
    let stream = unsafe { raw::borrowed::<AsyncLineStream>(py, stream_ptr) };
    // SAFETY: `obj` is live (the caller holds it).
    stream.get().shelve(py, unsafe { &Borrowed::from_ptr(py, obj) });
    // SAFETY: the reference `arm` gave the step, not used after this.
    unsafe { ffi::Py_DECREF(stream_ptr) };
    out
}

/// Ends an await step with `value` as its result, as `return value` ends a coroutine (the
/// caller then returns NULL): the step's own `StopIteration`, carrying `value`, is raised.
///
/// NOTE: this is paid per line on Python 3.12+, where `await` takes results from `__next__`
/// and a raised type with a bare value is turned into a new exception instance (a call, an
/// argument tuple and a garbage-collected object per line). Reusing one instance costs an
/// attribute store instead. It is reused only when nothing else holds it and it carries no
/// traceback or context from an earlier escape; otherwise a fresh one replaces it.
///
/// # Safety
/// `obj` is a live StepObject, the GIL is held, and `value` is a new reference, which this takes.
unsafe fn raise_stop_iteration(obj: *mut ffi::PyObject, value: *mut ffi::PyObject) {
    // SAFETY: per the contract.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: per the contract; every pointer used is live, references are balanced.
    unsafe {
        let value = Bound::from_owned_ptr(py, value);
        let step = obj.cast::<StepObject>();
        if !reusable((*step).stop) {
            let fresh = ffi::PyObject_CallNoArgs(ffi::PyExc_StopIteration);
            if fresh.is_null() {
                return; // the error is set
            }
            ffi::Py_XDECREF(std::mem::replace(&mut (*step).stop, fresh));
        }
        let stop = (*step).stop;
        if ffi::PyObject_SetAttr(stop, pyo3::intern!(py, "value").as_ptr(), value.as_ptr()) < 0 {
            return; // the error is set
        }
        let ty = ffi::PyExc_StopIteration;
        ffi::Py_INCREF(ty);
        ffi::Py_INCREF(stop);
        ffi::PyErr_Restore(ty, stop, ptr::null_mut());
    }
}

/// Whether the kept `StopIteration` can carry another result: held only here, and clean.
///
/// # Safety
/// `stop` is null or a live exception; the GIL is held.
unsafe fn reusable(stop: *mut ffi::PyObject) -> bool {
    // SAFETY: per the contract; the Get functions return new references, dropped here.
    unsafe {
        if stop.is_null() || ffi::Py_REFCNT(stop) != 1 {
            return false;
        }
        let traceback = ffi::PyException_GetTraceback(stop);
        let context = ffi::PyException_GetContext(stop);
        let clean = traceback.is_null() && context.is_null();
        ffi::Py_XDECREF(traceback);
        ffi::Py_XDECREF(context);
        clean
    }
}
