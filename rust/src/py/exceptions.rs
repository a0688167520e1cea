//! The one place where core errors become Python exceptions (`synapse_agent_rs.clients.exceptions`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::error::Error;

/// The class of `synapse_agent_rs.clients.exceptions` for an error.
fn class_name(error: &Error) -> &'static str {
    match error {
        Error::InvalidArgument(_) => "ValidationError",
        Error::Timeout(_) => "ClientTimeoutError",
        Error::LimitExceeded { .. } => "StreamLimitExceededError",
        Error::Remote(_) => "ServerError",
        Error::Connection(_) => "ClientConnectionError",
        Error::WebSocket(_) => "WebSocketError",
        Error::Status { code, .. } => match code {
            400 | 422 => "ValidationError",
            401 => "AuthenticationError",
            403 => "AuthorizationError",
            404 => "NotFoundError",
            408 => "ClientTimeoutError",
            429 => "RateLimitError",
            500..=599 => "ServerError",
            _ => "ClientError",
        },
    }
}

/// Converts a core error into the matching `ClientError` subclass.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("synapse_agent_rs.clients.exceptions")?;
        let class = module.getattr(class_name(&error))?;
        let exc = class.call1((error.status_code(), error.to_string()))?;
        if let Error::LimitExceeded { limit, max } = &error {
            exc.setattr("limit", *limit)?;
            exc.setattr("max", *max)?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| PyRuntimeError::new_err(format!("could not raise a ClientError ({e}): {error}")))
}

/// `?`-friendly conversion for core results.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_pyerr`].
    fn into_py_result(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::error::Result<T> {
    fn into_py_result(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}
