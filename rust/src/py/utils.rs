//! The argument checks and URL helpers of `synapse_agent_rs.utils.network`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::error::{self, Error, Secrets};
use crate::py::exceptions::IntoPyResult;
use crate::rest::urls;

/// Checks a job, node or task id (1 to 100 of `A-Z a-z 0-9 - _`); returns it.
///
/// Raises:
///     ValidationError: (400) the id is not valid.
#[pyfunction]
#[pyo3(signature = (resource_id, resource_name = "resource"))]
pub fn validate_resource_id(py: Python<'_>, resource_id: &Bound<'_, PyAny>, resource_name: &str) -> PyResult<String> {
    let Ok(id) = resource_id.extract::<String>() else {
        return Err(Error::InvalidArgument(format!("{resource_name} must be a string"))).into_py_result(py);
    };
    urls::validate_resource_id(&id, resource_name).into_py_result(py)?;
    Ok(id)
}

/// Checks a timeout: an int or float (not bool), `0 < timeout <= max_timeout`; returns it as float.
///
/// Raises:
///     ValidationError: (400) the timeout is not valid.
#[pyfunction]
#[pyo3(signature = (timeout, max_timeout = 300.0))]
pub fn validate_timeout(py: Python<'_>, timeout: &Bound<'_, PyAny>, max_timeout: f64) -> PyResult<f64> {
    let value = timeout;
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
    urls::validate_timeout_max(seconds, max_timeout).into_py_result(py)?;
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

/// Redacts the given secrets, and values that follow secret-looking keys, from a message;
/// a `context` is put in front as `"context: message"`.
#[pyfunction]
#[pyo3(signature = (error_msg, context = "", *, secrets = Vec::new()))]
pub fn sanitize_error_message(error_msg: &str, context: &str, secrets: Vec<String>) -> String {
    let clean = error::sanitize(error_msg, &Secrets::new(secrets.iter().map(String::as_str)));
    if context.is_empty() {
        clean
    } else {
        format!("{context}: {clean}")
    }
}
