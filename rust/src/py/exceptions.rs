//! The one place where core errors become Python exceptions (`synapse_agent_rs.clients.exceptions`):
//! the class, the attributes it declares (`.limit`, `.max`, `.job_id`) and the `__cause__`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::error::Error;
use crate::py::json;

/// The class of `synapse_agent_rs.clients.exceptions` for an error.
fn class_name(error: &Error) -> &'static str {
    match error {
        Error::InvalidArgument(_) => "ValidationError",
        Error::Timeout(_) => "ClientTimeoutError",
        Error::LimitExceeded { .. } => "StreamLimitExceededError",
        Error::TooLarge { .. } => "ResponseTooLargeError",
        Error::Remote(_) => "ServerError",
        Error::Connection { .. } => "ClientConnectionError",
        Error::Incomplete { .. } => "ClientResponseIncompleteError",
        Error::WebSocket { .. } => "WebSocketError",
        Error::ReplayMismatch { .. } => "LogReplayMismatchError",
        Error::Status { code, .. } => match code {
            400 | 422 => "ValidationError",
            401 => "AuthenticationError",
            403 => "AuthorizationError",
            404 => "NotFoundError",
            408 => "ClientTimeoutError",
            429 => "RateLimitError",
            500..=599 => "ServerError",
            _ => "HTTPError",
        },
    }
}

/// The server's error answer as Python `detail`: its JSON parsed, else its text.
fn body_detail(py: Python<'_>, error: &Error) -> PyResult<Py<PyAny>> {
    match error {
        Error::Status { body: Some(body), .. } => match serde_json::from_str::<serde_json::Value>(body) {
            Ok(value) => json::to_py(py, &value),
            Err(_) => Ok(body.into_pyobject(py)?.into_any().unbind()),
        },
        _ => Ok(py.None()),
    }
}

/// Converts a core error into the matching `ClientError` subclass.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    to_pyerr_in(py, error, None)
}

/// [`to_pyerr`] for an error of the stream of `job_id`, which becomes `.job_id`.
pub fn to_pyerr_in(py: Python<'_>, error: Error, job_id: Option<&str>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("synapse_agent_rs.clients.exceptions")?;
        // The factory, since the classes' own constructors take the SDK's varied arguments.
        let exc = module.getattr("_from_core")?.call1((
            class_name(&error),
            error.status_code(),
            error.to_string(),
            body_detail(py, &error)?,
        ))?;
        if let Error::LimitExceeded { limit, max } | Error::TooLarge { limit, max } = &error {
            exc.setattr("limit", *limit)?;
            exc.setattr("max", *max)?;
        }
        if let Error::ReplayMismatch { handed_out, diverged_at, .. } = &error {
            exc.setattr("handed_out", *handed_out)?;
            exc.setattr("diverged_at", *diverged_at)?;
        }
        if let Some(job_id) = job_id {
            exc.setattr("job_id", job_id)?;
        }
        let err = PyErr::from_value(exc);
        if let Some(cause) = cause(py, &error) {
            err.set_cause(py, Some(cause));
        }
        Ok(err)
    };
    build().unwrap_or_else(|e| PyRuntimeError::new_err(format!("could not raise a ClientError ({e}): {error}")))
}

/// The Python form of the underlying failure: an `OSError` subclass for socket errors
/// (`ConnectionRefusedError`, `ConnectionResetError`, ...), `ssl.SSLError` for TLS ones.
/// Their texts come from the OS or rustls, never from the peer, so they hold no secret.
fn cause(py: Python<'_>, error: &Error) -> Option<PyErr> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = error.source_error().map(|e| e as _);
    while let Some(e) = at {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return ssl_error(py, tls);
            }
            let copy = match io.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(io.kind(), io.to_string()),
            };
            return Some(PyErr::from(copy));
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return ssl_error(py, tls);
        }
        at = e.source();
    }
    None
}

fn ssl_error(py: Python<'_>, tls: &rustls::Error) -> Option<PyErr> {
    let class = match tls {
        rustls::Error::InvalidCertificate(_) => "SSLCertVerificationError",
        _ => "SSLError",
    };
    let exc = py.import("ssl").and_then(|ssl| ssl.getattr(class)).and_then(|c| c.call1((tls.to_string(),)));
    exc.ok().map(PyErr::from_value)
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
