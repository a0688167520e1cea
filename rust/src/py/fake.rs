//! Python binding of the fake agent, driven by `synapse_agent_rs.testing.FakeAgent`.

use std::time::Duration;

use hyper::StatusCode;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::fake::{CannedBody, CannedReply, ConnPlan, FakeAgent, JobScript, Lines};

/// One connection's fault plan as `testing.py` hands it over: `(refuse, truncate, rewrite,
/// group, drop_after_bytes, drop_after_messages)`.
type PlanTuple = (Option<u16>, Option<usize>, Option<usize>, Option<usize>, Option<usize>, Option<usize>);

/// The fake agent server; `synapse_agent_rs.testing.FakeAgent` is its documented face.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct FakeAgentCore {
    agent: FakeAgent,
}

#[pymethods]
impl FakeAgentCore {
    #[new]
    fn new() -> Self {
        Self { agent: FakeAgent::new() }
    }

    /// Starts serving on `host:port` (0: a free port) and returns the bound port.
    #[pyo3(signature = (host, port, agent_token))]
    fn start(&self, host: &str, port: u16, agent_token: Option<String>) -> PyResult<u16> {
        Ok(self.agent.start(host, port, agent_token)?.port())
    }

    /// Serves TLS from the next start: a PEM certificate chain and key, and the PEM CA whose
    /// client certificates are then required (mutual TLS).
    #[pyo3(signature = (chain_pem, key_pem, client_ca_pem=None))]
    fn set_tls(&self, chain_pem: &str, key_pem: &str, client_ca_pem: Option<&str>) -> PyResult<()> {
        let config = crate::fake::server_config(chain_pem, key_pem, client_ca_pem).map_err(PyValueError::new_err)?;
        self.agent.set_tls(Some(config));
        Ok(())
    }

    /// Stops serving and closes every connection; returns `False` if some did not end in time.
    fn stop(&self, py: Python<'_>) -> bool {
        py.detach(|| self.agent.stop())
    }

    /// The bound port while running, else `None`.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.agent.local_addr().map(|addr| addr.port())
    }

    /// Adds (or replaces) a job; see `FakeAgent.add_job` for the options.
    #[pyo3(signature = (
        job_id, lines, *, firehose=None, ws_format="json", http_format="plain", content_type=None,
        crlf=false, pace=None, fault=None, error_message="job failed", close_code=1000,
        answer_pings=true, refuse_websocket=None, fragment=None, chunk_cuts=Vec::new(), stall=None,
        status="RUNNING", connections=Vec::new(),
    ))]
    #[allow(clippy::too_many_arguments)]
    fn add_job(
        &self,
        job_id: String,
        lines: Vec<String>,
        firehose: Option<u64>,
        ws_format: &str,
        http_format: &str,
        content_type: Option<String>,
        crlf: bool,
        pace: Option<f64>,
        fault: Option<&str>,
        error_message: &str,
        close_code: u16,
        answer_pings: bool,
        refuse_websocket: Option<u16>,
        fragment: Option<usize>,
        chunk_cuts: Vec<usize>,
        stall: Option<f64>,
        status: &str,
        connections: Vec<PlanTuple>,
    ) -> PyResult<()> {
        let lines = firehose.map_or(Lines::Given(lines), Lines::Firehose);
        let stall = stall
            .map(Duration::try_from_secs_f64)
            .transpose()
            .map_err(|_| PyValueError::new_err("stall must be a non-negative number of seconds"))?;
        let script = JobScript {
            ws_format: ws_format.parse().map_err(PyValueError::new_err)?,
            http_format: http_format.parse().map_err(PyValueError::new_err)?,
            fault: fault.map(str::parse).transpose().map_err(PyValueError::new_err)?,
            content_type,
            crlf,
            pace,
            error_message: error_message.to_owned(),
            close_code,
            answer_pings,
            refuse_websocket,
            fragment,
            chunk_cuts,
            stall,
            status: status.to_owned(),
            connections: connections
                .into_iter()
                .map(|(refuse, truncate, rewrite, group, drop_after_bytes, drop_after_messages)| ConnPlan {
                    refuse,
                    truncate,
                    rewrite,
                    group,
                    drop_after_bytes,
                    drop_after_messages,
                })
                .collect(),
            ..JobScript::new(job_id, lines)
        };
        self.agent.add_job(script).map_err(PyValueError::new_err)
    }

    /// Replaces the answer to `method path`: `body` is JSON text, `text` a plain-text body.
    #[pyo3(signature = (method, path, status, body=None, text=None))]
    fn set_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<String>,
        text: Option<String>,
    ) -> PyResult<()> {
        let status = StatusCode::from_u16(status)
            .map_err(|_| PyValueError::new_err(format!("{status} is not an HTTP status code")))?;
        let body = match text {
            Some(text) => CannedBody::Text(text),
            None => CannedBody::Json(body.unwrap_or_else(|| "null".to_owned())),
        };
        self.agent.set_response(method, path, CannedReply { status, body }).map_err(PyValueError::new_err)
    }

    /// Every request received, in order, as dicts.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let mut out = Vec::new();
        for request in self.agent.requests() {
            let headers = PyDict::new(py);
            for (name, value) in &request.headers {
                // A repeated header reads as one, its values joined as HTTP allows.
                let joined = match headers.get_item(name)? {
                    Some(prev) => format!("{}, {value}", prev.extract::<String>()?),
                    None => value.clone(),
                };
                headers.set_item(name, joined)?;
            }
            let dict = PyDict::new(py);
            dict.set_item("method", request.method)?;
            dict.set_item("path", request.path)?;
            dict.set_item("query", request.query)?;
            dict.set_item("headers", headers)?;
            dict.set_item("body", request.body)?;
            out.push(dict);
        }
        Ok(out)
    }

    /// Log streams opened so far, open now and closed so far.
    fn stream_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.agent.stream_stats();
        let dict = PyDict::new(py);
        dict.set_item("opened", stats.opened)?;
        dict.set_item("open", stats.open)?;
        dict.set_item("closed", stats.closed)?;
        Ok(dict)
    }
}
