//! `LineIter`: what `iter(LineStream)` returns, the iterator of `for line in stream`, as a raw
//! type: a line already in the batch at hand costs one C call, with no pyo3 trampoline.

use std::ffi::c_void;
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::py::raw;
use crate::py::stream::LineStream;

#[repr(C)]
struct IterObject {
    ob_base: ffi::PyObject,
    /// The stream, for the iterator's whole life (a strong reference).
    stream: *mut ffi::PyObject,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The iterator of one `for` over `stream` (its `__iter__`).
pub fn iterate<'py>(stream: &Bound<'py, LineStream>) -> PyResult<Bound<'py, PyAny>> {
    let py = stream.py();
    let ty = TYPE.get_or_try_init(py, || {
        let slots = [
            (ffi::Py_tp_iter, raw::itself as *mut c_void),
            (ffi::Py_tp_iternext, iter_next as *mut c_void),
            (ffi::Py_tp_dealloc, iter_dealloc as *mut c_void),
        ];
        let doc = c"The iterator of `for line in stream` over a LineStream (what `__iter__` returns).";
        raw::make_type(py, c"synapse_agent_rs._core.LineIter", doc, std::mem::size_of::<IterObject>(), &slots)
    })?;
    let obj = raw::alloc(ty.bind(py))?;
    // SAFETY: an IterObject, just made (zeroed); the GIL is held.
    unsafe { (*obj.as_ptr().cast::<IterObject>()).stream = stream.clone().into_any().into_ptr() };
    Ok(obj)
}

/// The next line; NULL with no error set at the end, NULL with the error on failure.
unsafe extern "C" fn iter_next(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter passes a live IterObject, whose `stream` is set for its life.
    let stream_ptr = unsafe { (*obj.cast::<IterObject>()).stream };
    // SAFETY: the interpreter calls slots with the GIL held; the stream lives as long as `obj`.
    let out = unsafe {
        raw::run(
            |py| Ok(raw::borrowed::<LineStream>(py, stream_ptr).get().buffered(py)?.map(Bound::into_ptr)),
            |py| {
                Ok(raw::borrowed::<LineStream>(py, stream_ptr)
                    .get()
                    .next_line(py)?
                    .map_or(ptr::null_mut(), Bound::into_ptr))
            },
        )
    };
    out.unwrap_or(ptr::null_mut())
}

unsafe extern "C" fn iter_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: the interpreter frees an IterObject with the GIL held; its stream reference is
    // dropped after the memory is gone (the stream may close its connection then).
    unsafe {
        let stream = std::mem::replace(&mut (*obj.cast::<IterObject>()).stream, ptr::null_mut());
        raw::free(obj);
        ffi::Py_XDECREF(stream);
    }
}
