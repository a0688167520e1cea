//! The argument checks and URL helpers of `synapse_agent_rs.utils.network`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::error::{self, Error, Secrets};
use crate::py::exceptions::IntoPyResult;
use crate::urls;

/// Checks a job, node or task id (1 to 100 of `A-Z a-z 0-9 - _`); returns it.
///
/// Raises:
///     ValidationError: (400) the id is not valid.
#[pyfunction]
#[pyo3(signature = (value, name = "resource_id"))]
pub fn validate_resource_id(py: Python<'_>, value: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    let Ok(id) = value.extract::<String>() else {
        return Err(Error::InvalidArgument(format!("{name} must be a string"))).into_py_result(py);
    };
    urls::validate_resource_id(&id, name).into_py_result(py)?;
    Ok(id)
}

/// Checks a streaming timeout: an int or float (not bool), `0 < timeout <= 300`; returns it as float.
///
/// Raises:
///     ValidationError: (400) the timeout is not valid.
#[pyfunction]
pub fn validate_timeout(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    let number = if value.is_instance_of::<PyBool>() {
        None
    } else if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        value.extract::<f64>().ok()
    } else {
        None
    };
    let Some(seconds) = number else {
        return Err(Error::InvalidArgument("timeout must be an int or a float".into())).into_py_result(py);
    };
    urls::validate_timeout(seconds).into_py_result(py)?;
    Ok(seconds)
}

/// Encodes a free-form name (serve application, plugin release lookup) as one path segment.
///
/// Raises:
///     ValidationError: (400) the name is empty, `.` or `..`.
#[pyfunction]
#[pyo3(signature = (value, name = "name"))]
pub fn path_segment(py: Python<'_>, value: &str, name: &str) -> PyResult<String> {
    urls::path_segment(value, name).into_py_result(py)
}

/// `http://` → `ws://` and `https://` → `wss://`.
#[pyfunction]
pub fn http_to_websocket_url(url: &str) -> String {
    urls::http_to_websocket(url)
}

/// Redacts the given secrets, and values that follow secret-looking keys, from a message.
#[pyfunction]
#[pyo3(signature = (message, secrets = Vec::new()))]
pub fn sanitize_error_message(message: &str, secrets: Vec<String>) -> String {
    error::sanitize(message, &Secrets::new(secrets.iter().map(String::as_str)))
}
