//! `AgentCore`: the connection settings of one agent client, its REST calls and its streams.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyString;
use reqwest::Method;

use crate::error::{Error, Secrets};
use crate::net::tls::{TlsOptions, Verify};
use crate::net::{Transport, TransportOptions};
use crate::py::aio::AsyncLineStream;
use crate::py::call::AsyncCall;
use crate::py::exceptions::IntoPyResult;
use crate::py::many::{AsyncManyStream, ManyStream};
use crate::py::stream::LineStream;
use crate::py::{json, resume, utils, wait};
use crate::rest::{self, Body, Call};
use crate::rest::{body, urls};
use crate::stream::limits::Limits;
use crate::stream::many::{self, Many, Settings};
use crate::stream::spec::{Protocol, ResumePolicy, TailSpec};
use crate::stream::tail;

/// `StreamLimits` as the Python layer hands it over.
type LimitsTuple = (Option<u64>, Option<u64>, Option<u64>, Option<u64>, usize);

/// One agent: base URL, headers, the pooled HTTP client. Tokens are kept out of `repr`.
#[pyclass(module = "synapse_agent_rs._core", frozen)]
pub struct AgentCore {
    base_url: String,
    headers: Arc<Vec<(String, String)>>,
    secrets: Arc<Secrets>,
    /// `None` once closed: dropping it drops the pooled connections (streams hold their own).
    transport: RwLock<Option<Arc<Transport>>>,
    read_timeout: Duration,
    /// `max_response_size`: the largest REST answer held in memory, in bytes.
    max_response: AtomicU64,
}

fn seconds(value: f64, what: &str) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::InvalidArgument(format!("{what} must be a positive number of seconds, not {value}")))
}

#[pymethods]
impl AgentCore {
    #[new]
    #[pyo3(signature = (
        base_url, agent_token, user_token=None, tenant=None, connect_timeout=3.0, read_timeout=10.0, *,
        verify=None, cert=None, proxy=None, trust_env=true, headers=None, user_agent=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: &str,
        agent_token: &str,
        user_token: Option<&str>,
        tenant: Option<&str>,
        connect_timeout: f64,
        read_timeout: f64,
        verify: Option<&Bound<'_, PyAny>>,
        cert: Option<(String, Option<String>)>,
        proxy: Option<String>,
        trust_env: bool,
        headers: Option<Vec<(String, String)>>,
        user_agent: Option<String>,
    ) -> PyResult<Self> {
        let verify = match verify {
            None => Verify::Default,
            Some(v) => match v.extract::<bool>() {
                Ok(true) => Verify::Default,
                Ok(false) => Verify::Off,
                Err(_) => Verify::Bundle(v.extract::<String>()?.into()),
            },
        };
        let build = || -> Result<Self, Error> {
            let url = urls::parse_base(base_url)?;
            let connect = seconds(connect_timeout, "the connect timeout")?;
            let read_timeout = seconds(read_timeout, "the read timeout")?;
            let mut headers_out = vec![("Authorization".to_owned(), agent_token.to_owned())];
            if let Some(user) = user_token {
                headers_out.push(("SYNAPSE-User".to_owned(), format!("Token {user}")));
            }
            if let Some(tenant) = tenant {
                headers_out.push(("SYNAPSE-Tenant".to_owned(), format!("Token {tenant}")));
            }
            let secrets = Secrets::new([Some(agent_token), user_token, tenant].into_iter().flatten());
            let options = TransportOptions {
                connect_timeout: connect,
                tls: TlsOptions { verify, client_cert: cert.map(|(c, k)| (c.into(), k.map(Into::into))), trust_env },
                proxy,
                trust_env,
                user_agent,
                headers: headers.unwrap_or_default(),
            };
            Ok(Self {
                base_url: base_url.trim_end_matches('/').to_owned(),
                headers: Arc::new(headers_out),
                secrets: Arc::new(secrets),
                transport: RwLock::new(Some(Arc::new(Transport::new(&url, options)?))),
                read_timeout,
                max_response: AtomicU64::new(body::DEFAULT_MAX_RESPONSE),
            })
        };
        build().into_py_result(py)
    }

    /// The largest REST answer body accepted, in bytes; a larger one raises
    /// `ResponseTooLargeError` (413) without being held whole.
    #[getter]
    fn max_response_size(&self) -> u64 {
        self.max_response.load(Ordering::Relaxed)
    }

    #[setter]
    fn set_max_response_size(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = value.extract::<u64>().ok().filter(|&n| n > 0 && !value.is_instance_of::<pyo3::types::PyBool>());
        let Some(bytes) = bytes else {
            let e = Error::InvalidArgument("max_response_size must be a positive number of bytes".into());
            return Err(e).into_py_result(py);
        };
        self.max_response.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Sends a REST request to `path` (relative to the base URL) and decodes the answer;
    /// `read_timeout` replaces the client's for this call.
    #[pyo3(signature = (method, path, params=None, body=None, read_timeout=None))]
    fn request(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        params: Option<Vec<(String, String)>>,
        body: Option<Bound<'_, PyAny>>,
        read_timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let call = self.call(py, method, path, params, body, read_timeout)?;
        let answer = wait::block_on(py, call)?;
        body_to_py(py, answer)
    }

    /// `request` as an awaitable; the request starts at once.
    #[pyo3(signature = (method, path, params=None, body=None, read_timeout=None))]
    fn request_async(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        params: Option<Vec<(String, String)>>,
        body: Option<Bound<'_, PyAny>>,
        read_timeout: Option<f64>,
    ) -> PyResult<AsyncCall> {
        let call = self.call(py, method, path, params, body, read_timeout)?;
        Ok(AsyncCall::spawn(call, body_to_py))
    }

    /// Starts tailing a job's log; arguments are checked first (400), then the connection
    /// is made in the background. `log`: the logger for the stream's records, or `None`.
    #[pyo3(signature = (job_id, timeout, protocol, limits, log=None, resume=None, resume_from=None))]
    #[allow(clippy::too_many_arguments)]
    fn tail(
        &self,
        py: Python<'_>,
        job_id: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
        log: Option<Py<PyAny>>,
        resume: Option<&Bound<'_, PyAny>>,
        resume_from: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<LineStream> {
        let mut spec = self.tail_spec(py, job_id, timeout, protocol, limits)?;
        spec.resume = resume::policy(py, resume)?;
        spec.resume_from = resume::checkpoint(py, &spec.job_id, resume_from)?;
        Ok(LineStream::new(tail::start(spec), log))
    }

    /// `tail` for `async for`.
    #[pyo3(signature = (job_id, timeout, protocol, limits, log=None, resume=None, resume_from=None))]
    #[allow(clippy::too_many_arguments)]
    fn tail_async(
        &self,
        py: Python<'_>,
        job_id: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
        log: Option<Py<PyAny>>,
        resume: Option<&Bound<'_, PyAny>>,
        resume_from: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<AsyncLineStream> {
        let mut spec = self.tail_spec(py, job_id, timeout, protocol, limits)?;
        spec.resume = resume::policy(py, resume)?;
        spec.resume_from = resume::checkpoint(py, &spec.job_id, resume_from)?;
        Ok(AsyncLineStream::new(tail::start(spec), log))
    }

    /// Starts tailing many jobs through one ready queue (`tail_many`; `follow_jobs` with
    /// `follow` = `(interval, statuses, max_followed)`); arguments are checked first (400).
    #[pyo3(signature = (job_ids, timeout, protocol, limits, max_connecting, max_buffered_bytes, follow=None, keep_open=false, resume=None, resume_from=None))]
    #[allow(clippy::too_many_arguments)]
    fn tail_many(
        &self,
        py: Python<'_>,
        job_ids: Vec<Bound<'_, PyAny>>,
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
        max_connecting: usize,
        max_buffered_bytes: usize,
        follow: Option<(f64, Vec<String>, usize)>,
        keep_open: bool,
        resume: Option<&Bound<'_, PyAny>>,
        resume_from: Option<std::collections::HashMap<String, Bound<'_, PyAny>>>,
    ) -> PyResult<ManyStream> {
        let bounds = (max_connecting, max_buffered_bytes);
        let resume = (resume::policy(py, resume)?, resume_from);
        let many = self.many(py, &job_ids, timeout, protocol, limits, bounds, follow, keep_open, resume)?;
        Ok(ManyStream::new(py, many))
    }

    /// `tail_many` for `async for`.
    #[pyo3(signature = (job_ids, timeout, protocol, limits, max_connecting, max_buffered_bytes, follow=None, keep_open=false, resume=None, resume_from=None))]
    #[allow(clippy::too_many_arguments)]
    fn tail_many_async(
        &self,
        py: Python<'_>,
        job_ids: Vec<Bound<'_, PyAny>>,
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
        max_connecting: usize,
        max_buffered_bytes: usize,
        follow: Option<(f64, Vec<String>, usize)>,
        keep_open: bool,
        resume: Option<&Bound<'_, PyAny>>,
        resume_from: Option<std::collections::HashMap<String, Bound<'_, PyAny>>>,
    ) -> PyResult<AsyncManyStream> {
        let bounds = (max_connecting, max_buffered_bytes);
        let resume = (resume::policy(py, resume)?, resume_from);
        let many = self.many(py, &job_ids, timeout, protocol, limits, bounds, follow, keep_open, resume)?;
        Ok(AsyncManyStream::new(py, many))
    }

    /// Drops the pooled connections; later requests and tails raise `ClientClosedError`.
    /// Streams already open go on until they end or are closed. Safe to call more than once.
    fn close(&self) {
        let transport = self.transport.write().unwrap_or_else(PoisonError::into_inner).take();
        drop(transport);
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.transport.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn __repr__(&self) -> String {
        format!("AgentCore(base_url={:?})", self.base_url)
    }
}

fn body_to_py(py: Python<'_>, answer: crate::error::Result<Body>) -> PyResult<Py<PyAny>> {
    match answer.into_py_result(py)? {
        Body::Empty => Ok(py.None()),
        Body::Json(value) => json::to_py(py, &value),
        Body::Text(text) => Ok(text.into_pyobject(py)?.into_any().unbind()),
    }
}

impl AgentCore {
    /// Checks the arguments of a bulk tail (every id before any I/O) and starts its streams.
    #[allow(clippy::too_many_arguments)]
    fn many(
        &self,
        py: Python<'_>,
        job_ids: &[Bound<'_, PyAny>],
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
        (max_connecting, max_buffered_bytes): (usize, usize),
        follow: Option<(f64, Vec<String>, usize)>,
        keep_open: bool,
        (policy, resume_from): (Option<ResumePolicy>, Option<std::collections::HashMap<String, Bound<'_, PyAny>>>),
    ) -> PyResult<Arc<Many>> {
        let ids = job_ids
            .iter()
            .map(|id| utils::validate_resource_id(py, id, "job_id"))
            .collect::<PyResult<Vec<String>>>()?;
        if max_connecting == 0 || max_buffered_bytes == 0 {
            let e = Error::InvalidArgument("max_connecting and max_buffered_bytes must be positive".into());
            return Err(e).into_py_result(py);
        }
        let interval =
            follow.as_ref().map(|(s, _, _)| seconds(*s, "the poll interval")).transpose().into_py_result(py)?;
        if follow.as_ref().is_some_and(|(_, _, max_followed)| *max_followed == 0) {
            return Err(Error::InvalidArgument("max_followed must be positive".into())).into_py_result(py);
        }
        // Checkpoints are read (400 for a bad one) before any I/O.
        let mut origins = std::collections::HashMap::new();
        for (job, checkpoint) in resume_from.unwrap_or_default() {
            utils::validate_resource_id(py, PyString::new(py, &job).as_any(), "job_id")?;
            if let Some(at) = resume::checkpoint(py, &job, Some(&checkpoint))? {
                origins.insert(job, at);
            }
        }
        // Every stream's spec is this one with its own job id.
        let mut template = self.tail_spec(py, PyString::new(py, "template").as_any(), timeout, protocol, limits)?;
        template.resume = policy;
        template.track = !origins.is_empty();
        let many = Many::new(template, Settings { max_connecting, max_buffered_bytes });
        many.start_from(origins);
        for id in &ids {
            many.add(id).into_py_result(py)?;
        }
        if keep_open {
            many.keep_open();
        }
        if let (Some(interval), Some((_, statuses, max_followed))) = (interval, follow) {
            let transport = self.transport(py)?;
            let (headers, secrets) = (Arc::clone(&self.headers), Arc::clone(&self.secrets));
            let (url, read_timeout) = (urls::join(&self.base_url, "jobs/"), self.read_timeout);
            let statuses = Arc::new(statuses);
            let max_response = self.max_response.load(Ordering::Relaxed);
            many.follow(interval, max_followed, move || {
                let (transport, headers, secrets) =
                    (Arc::clone(&transport), Arc::clone(&headers), Arc::clone(&secrets));
                let (url, statuses) = (url.clone(), Arc::clone(&statuses));
                async move {
                    let call =
                        Call { method: Method::GET, url, headers: &headers, query: &[], json: None, max_response };
                    match rest::call(&transport, call, read_timeout, &secrets).await? {
                        Body::Json(answer) => many::listed_jobs(&answer, &statuses),
                        _ => Err(Error::Remote("the agent's job list is not JSON".into())),
                    }
                }
            });
        }
        Ok(many)
    }

    /// Checks the arguments of a REST call and returns the future that makes it.
    fn call(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        params: Option<Vec<(String, String)>>,
        body: Option<Bound<'_, PyAny>>,
        read_timeout: Option<f64>,
    ) -> PyResult<impl std::future::Future<Output = crate::error::Result<Body>> + Send + 'static> {
        let read_timeout = match read_timeout {
            Some(value) => seconds(value, "the read timeout").into_py_result(py)?,
            None => self.read_timeout,
        };
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::InvalidArgument(format!("invalid HTTP method {method:?}")))
            .into_py_result(py)?;
        let json = body.map(|b| json::dumps(&b)).transpose()?;
        let transport = self.transport(py)?;
        let (headers, secrets) = (Arc::clone(&self.headers), Arc::clone(&self.secrets));
        let url = urls::join(&self.base_url, path);
        let query = params.unwrap_or_default();
        let max_response = self.max_response.load(Ordering::Relaxed);
        Ok(async move {
            let call = Call { method, url, headers: &headers, query: &query, json, max_response };
            rest::call(&transport, call, read_timeout, &secrets).await
        })
    }

    /// Checks the arguments of a tail (400 before any I/O) and builds its spec.
    fn tail_spec(
        &self,
        py: Python<'_>,
        job_id: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        limits: LimitsTuple,
    ) -> PyResult<TailSpec> {
        let job_id = utils::validate_resource_id(py, job_id, "job_id")?;
        let timeout = utils::validate_timeout(py, timeout, 300.0)?;
        let protocol = Protocol::parse(&protocol.extract::<String>().unwrap_or_default()).into_py_result(py)?;
        let (max_messages, max_lines, max_bytes, max_message_size, queue_size) = limits;
        Ok(TailSpec {
            base_url: self.base_url.clone(),
            job_id,
            headers: Arc::clone(&self.headers),
            secrets: Arc::clone(&self.secrets),
            protocol,
            timeout: Duration::from_secs_f64(timeout),
            limits: Limits { max_messages, max_lines, max_bytes, max_message_size, queue_size },
            transport: self.transport(py)?,
            resume: None,
            track: false,
            resume_from: None,
        })
    }

    /// The transport, or `ClientClosedError` once the client is closed.
    fn transport(&self, py: Python<'_>) -> PyResult<Arc<Transport>> {
        let transport = self.transport.read().unwrap_or_else(PoisonError::into_inner).clone();
        transport.ok_or_else(|| {
            let message = "the client is closed; create a new one to make more requests";
            let class = py.import("synapse_agent_rs.clients.exceptions").and_then(|m| m.getattr("ClientClosedError"));
            match class.and_then(|class| class.call1((message,))) {
                Ok(exc) => PyErr::from_value(exc),
                Err(e) => e,
            }
        })
    }
}
