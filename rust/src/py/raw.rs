//! What the raw (non-pyo3) types of the per-line hot path share: making a type from slots,
//! allocating and freeing its objects, and running a slot's body.
//!
//! The per-line iterators are raw because a pyo3 method costs a trampoline per call (attach
//! bookkeeping in thread-local storage, a panic guard, a borrow flag), a fifth of a line's
//! cost on the sync path, and because pyo3 cannot define `am_send` at all (`step.rs`).

use std::ffi::{c_int, c_uint, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::Borrowed;

/// A heap type of `basicsize` bytes with these slots (plus its doc), not instantiable from Python.
pub fn make_type(
    py: Python<'_>,
    name: &'static CStr,
    doc: &'static CStr,
    basicsize: usize,
    slots: &[(c_int, *mut c_void)],
) -> PyResult<Py<PyType>> {
    let mut slots: Vec<ffi::PyType_Slot> =
        slots.iter().map(|&(slot, pfunc)| ffi::PyType_Slot { slot, pfunc }).collect();
    slots.push(ffi::PyType_Slot { slot: ffi::Py_tp_doc, pfunc: doc.as_ptr() as *mut c_void });
    slots.push(ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() });
    let mut spec = ffi::PyType_Spec {
        // The type keeps this pointer as its `tp_name`: a static string.
        name: name.as_ptr(),
        basicsize: c_int::try_from(basicsize).map_err(|_| PyRuntimeError::new_err("type too large"))?,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as c_uint,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: the spec and slots are valid for the call, which copies what it keeps (besides
    // the static name).
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec)) }?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

/// A new object of `ty` (one of ours), zeroed past its header.
pub fn alloc<'py>(ty: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the type is a heap type made by `make_type`; GenericAlloc zeroes the object.
    unsafe { Bound::from_owned_ptr_or_err(ty.py(), ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0)) }
}

/// Frees an object of one of our types, once its own references are dropped.
///
/// # Safety
/// `obj` is an object of a type made by `make_type`, being deallocated, with the GIL held.
pub unsafe fn free(obj: *mut ffi::PyObject) {
    // SAFETY: per the contract: the memory goes back, then the reference every instance of a
    // heap type holds on its type.
    unsafe {
        let ty = ffi::Py_TYPE(obj);
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(ty, ffi::Py_tp_free));
        free(obj.cast());
        ffi::Py_DECREF(ty.cast());
    }
}

/// `tp_iter` / `am_await` / `am_aiter` / `am_anext` of an object that is its own answer.
pub unsafe extern "C" fn itself(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter passes a live object.
    unsafe { ffi::Py_INCREF(obj) };
    obj
}

/// The object at `ptr` as a `T`, borrowed.
///
/// # Safety
/// `ptr` is a live `T` for `'a`; the GIL is held.
pub unsafe fn borrowed<'a, 'py, T>(py: Python<'py>, ptr: *mut ffi::PyObject) -> Borrowed<'a, 'py, T> {
    // SAFETY: per the contract.
    unsafe { Borrowed::from_ptr(py, ptr).cast_unchecked() }
}

/// Runs the body of a raw slot: `fast` with the GIL held as the interpreter called us (no
/// pyo3 bookkeeping: it must drop no `Py` and never release the GIL), and when it has no
/// answer, `slow` inside `Python::attach`, where dropping, detaching and calling back into
/// Python work as in any pyo3 method. `None` with the Python error set on failure; a panic
/// stops here, as a `RuntimeError`.
///
/// # Safety
/// Called from a slot, by the interpreter, with the GIL held.
pub unsafe fn run<T>(
    fast: impl FnOnce(Python<'_>) -> PyResult<Option<T>>,
    slow: impl for<'py> FnOnce(Python<'py>) -> PyResult<T>,
) -> Option<T> {
    // SAFETY: per the contract.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| match fast(py) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Python::attach(slow),
        Err(e) => Err(e),
    }));
    match outcome {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            e.restore(py);
            None
        }
        Err(_) => {
            PyRuntimeError::new_err("internal error in a stream iterator (a bug: please report it)").restore(py);
            None
        }
    }
}
