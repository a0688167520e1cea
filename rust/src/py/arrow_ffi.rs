//! `ArrowBatch` and the Arrow PyCapsule interface: record batches and streams handed to pyarrow,
//! Polars, DuckDB and any other reader of `__arrow_c_array__` / `__arrow_c_stream__`, without a copy.

use std::ffi::CStr;

use arrow_array::ffi::{to_ffi, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchReader, StructArray};
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::py::arrow::ArrowStream;
use crate::stream::arrow;

const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";
const STREAM: &CStr = c"arrow_array_stream";

fn arrow_err(e: &ArrowError) -> PyErr {
    PyValueError::new_err(format!("arrow: {e}"))
}

/// A capsule holding the schema every batch has.
pub fn schema_capsule(py: Python<'_>) -> PyResult<Bound<'_, PyCapsule>> {
    let schema = FFI_ArrowSchema::try_from(arrow::schema().as_ref()).map_err(|e| arrow_err(&e))?;
    // The consumer moves the struct out and clears its `release`; dropping the capsule then
    // releases nothing (`FFI_ArrowSchema`'s Drop releases only what was not moved).
    PyCapsule::new_with_value(py, schema, SCHEMA)
}

/// One Arrow record batch of log lines: columns `job_id`, `seq`, `line` (see `docs/arrow.md`).
///
/// Hand it to `pyarrow.record_batch(batch)`, `polars.DataFrame(batch)` or any reader of the
/// Arrow PyCapsule interface; the buffers are shared, not copied.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

impl ArrowBatch {
    pub fn new(batch: RecordBatch) -> Self {
        Self { batch }
    }
}

#[pymethods]
impl ArrowBatch {
    /// The batch as a pair of capsules `(arrow_schema, arrow_array)`: a struct array of the columns.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        // NOTE: the interface lets a producer ignore a requested schema it cannot produce;
        // the consumer casts if it wants another type.
        let _ = requested_schema;
        let data = StructArray::from(self.batch.clone()).into_data();
        let (array, schema) = to_ffi(&data).map_err(|e| arrow_err(&e))?;
        let schema = PyCapsule::new_with_value(py, schema, SCHEMA)?;
        let array = PyCapsule::new_with_value(py, array, ARRAY)?;
        PyTuple::new(py, [schema, array])
    }

    /// The schema as an `arrow_schema` capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py)
    }

    /// Rows in the batch.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    /// Bytes of the batch's buffers.
    #[getter]
    fn nbytes(&self) -> usize {
        self.batch.columns().iter().map(|c| c.get_array_memory_size()).sum()
    }

    fn __repr__(&self) -> String {
        format!("<ArrowBatch rows={} (job_id, seq, line)>", self.batch.num_rows())
    }
}

/// The C stream behind `ArrowStream.__arrow_c_stream__`: each `get_next` takes the next batch
/// from the Python object, attaching to the interpreter for it (any thread may call).
struct StreamReader {
    stream: Py<ArrowStream>,
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        Python::attach(|py| match self.stream.get().next_batch(py) {
            Ok(batch) => batch.map(|b| Ok(b.batch)),
            Err(e) => {
                let message = e.to_string();
                if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                    // The reader's caller turns our error into its own exception: trip the
                    // interrupt again (after the message is made: it runs Python code) so that
                    // Python raises KeyboardInterrupt right after it.
                    // SAFETY: `py` proves the thread is attached; the call only sets a flag.
                    unsafe { pyo3::ffi::PyErr_SetInterrupt() };
                }
                Some(Err(ArrowError::ExternalError(Box::new(std::io::Error::other(message)))))
            }
        })
    }
}

impl RecordBatchReader for StreamReader {
    fn schema(&self) -> SchemaRef {
        arrow::schema()
    }
}

/// An `arrow_array_stream` capsule reading `stream` to its end.
pub fn stream_capsule(py: Python<'_>, stream: Py<ArrowStream>) -> PyResult<Bound<'_, PyCapsule>> {
    let ffi = FFI_ArrowArrayStream::new(Box::new(StreamReader { stream }));
    PyCapsule::new_with_value(py, ffi, STREAM)
}
