//! `ResumePolicy`, and the `resume=` / `resume_from=` arguments of the tails.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::error::Error;
use crate::py::exceptions::IntoPyResult;
use crate::stream::cursor::{self, Position};
use crate::stream::spec;

/// How a log stream resumes after a transient failure (``resume=ResumePolicy(...)``).
///
/// A new connection replays the log from its start; the stream skips what it already handed
/// out, checks that it is the same text, and goes on after it. ``attempts`` and ``deadline``
/// bound one outage (both start again once a new line comes through), so a stream may resume
/// any number of times over its life. Waits grow from ``backoff`` (doubling) to
/// ``max_backoff``; ``jitter`` is the share of each wait drawn at random.
///
/// Args:
///     attempts: new connections tried in a row without a new line before giving up (default 10).
///     deadline: seconds one outage may last, from the failure to the last attempt (default 300).
///     backoff: seconds before the first new attempt (default 0.2).
///     max_backoff: the longest wait between two attempts, in seconds (default 10).
///     jitter: 0 to 1, the share of each wait drawn at random (default 0.5).
///
/// Raises:
///     ValidationError: (400) a value out of range.
#[pyclass(module = "synapse_agent_rs._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct ResumePolicy {
    pub policy: spec::ResumePolicy,
}

fn duration(py: Python<'_>, value: f64, name: &str, zero: bool) -> PyResult<Duration> {
    let ok = value.is_finite() && (value > 0.0 || (zero && value == 0.0)) && value <= 86_400.0;
    if !ok {
        let e = Error::InvalidArgument(format!("{name} must be a number of seconds between 0 and 86400, not {value}"));
        return Err(e).into_py_result(py);
    }
    Ok(Duration::from_secs_f64(value))
}

#[pymethods]
impl ResumePolicy {
    #[new]
    #[pyo3(signature = (*, attempts=10, deadline=300.0, backoff=0.2, max_backoff=10.0, jitter=0.5))]
    fn new(
        py: Python<'_>,
        attempts: u32,
        deadline: f64,
        backoff: f64,
        max_backoff: f64,
        jitter: f64,
    ) -> PyResult<Self> {
        let policy = spec::ResumePolicy {
            attempts,
            deadline: duration(py, deadline, "deadline", false)?,
            backoff: duration(py, backoff, "backoff", true)?,
            max_backoff: duration(py, max_backoff, "max_backoff", true)?,
            jitter,
        };
        policy.validate().into_py_result(py)?;
        Ok(Self { policy })
    }

    /// New connections tried in a row without a new line before giving up.
    #[getter]
    fn attempts(&self) -> u32 {
        self.policy.attempts
    }

    /// Seconds one outage may last.
    #[getter]
    fn deadline(&self) -> f64 {
        self.policy.deadline.as_secs_f64()
    }

    /// Seconds before the first new attempt.
    #[getter]
    fn backoff(&self) -> f64 {
        self.policy.backoff.as_secs_f64()
    }

    /// The longest wait between two attempts, in seconds.
    #[getter]
    fn max_backoff(&self) -> f64 {
        self.policy.max_backoff.as_secs_f64()
    }

    /// The share of each wait drawn at random.
    #[getter]
    fn jitter(&self) -> f64 {
        self.policy.jitter
    }

    fn __repr__(&self) -> String {
        let p = &self.policy;
        format!(
            "ResumePolicy(attempts={}, deadline={:?}, backoff={:?}, max_backoff={:?}, jitter={:?})",
            p.attempts,
            p.deadline.as_secs_f64(),
            p.backoff.as_secs_f64(),
            p.max_backoff.as_secs_f64(),
            p.jitter
        )
    }
}

/// `resume=`: `False`/`None` (no resume), `True` (the default policy) or a `ResumePolicy`.
pub fn policy(py: Python<'_>, resume: Option<&Bound<'_, PyAny>>) -> PyResult<Option<spec::ResumePolicy>> {
    let Some(resume) = resume.filter(|r| !r.is_none()) else { return Ok(None) };
    if let Ok(flag) = resume.cast::<PyBool>() {
        return Ok(flag.is_true().then(spec::ResumePolicy::default));
    }
    if let Ok(policy) = resume.cast::<ResumePolicy>() {
        return Ok(Some(policy.get().policy));
    }
    let e = Error::InvalidArgument("resume must be True, False or a ResumePolicy".to_owned());
    Err(e).into_py_result(py)
}

/// `resume_from=`: a checkpoint string of `job_id`'s stream, read before any I/O.
pub fn checkpoint(py: Python<'_>, job_id: &str, resume_from: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Position>> {
    let Some(value) = resume_from.filter(|r| !r.is_none()) else { return Ok(None) };
    let Ok(text) = value.extract::<String>() else {
        let e = Error::InvalidArgument("resume_from must be a checkpoint string (from stream.checkpoint())".into());
        return Err(e).into_py_result(py);
    };
    cursor::decode_checkpoint(job_id, &text).map(Some).into_py_result(py)
}
