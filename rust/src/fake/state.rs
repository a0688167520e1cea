//! What the fake agent remembers: its jobs, canned answers, the requests it received and its streams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};

use super::records::Records;
use super::reply::{self, Body};
use super::script::JobScript;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`...
    pub method: String,
    /// The path as sent, still percent-encoded, e.g. `/jobs/abc/`.
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    /// Header names in lower case with their values (lossy UTF-8), in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

/// How many log streams (WebSocket and HTTP) the server has served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Streams opened so far.
    pub opened: u64,
    /// Streams open now.
    pub open: u64,
    /// Streams closed so far.
    pub closed: u64,
}

/// A canned REST answer that replaces the built-in route for one method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedReply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body; ignored for 204.
    pub body: CannedBody,
}

/// The body of a canned answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CannedBody {
    /// JSON text, sent as `application/json`.
    Json(String),
    /// Text, sent as `text/plain`.
    Text(String),
}

impl CannedReply {
    fn to_response(&self) -> Response<Body> {
        if self.status == StatusCode::NO_CONTENT {
            return reply::empty(self.status);
        }
        match &self.body {
            CannedBody::Json(json) => reply::bytes(self.status, "application/json", Bytes::from(json.clone())),
            CannedBody::Text(text) => reply::bytes(self.status, "text/plain; charset=utf-8", Bytes::from(text.clone())),
        }
    }
}

/// A job as the REST routes see it.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub script: Arc<JobScript>,
    pub status: String,
}

/// The agent's memory, shared by every connection and kept across restarts.
#[derive(Debug, Default)]
pub(super) struct State {
    jobs: Mutex<Vec<Job>>,
    canned: Mutex<HashMap<(Method, String), CannedReply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    streams: Arc<Counters>,
    /// Plugin releases, containers and the policy of the CRUD routes.
    pub records: Records,
}

impl State {
    /// Adds a job, replacing any job with the same id in place.
    pub fn add_job(&self, script: JobScript) {
        let job = Job { status: script.status.clone(), script: Arc::new(script) };
        let mut jobs = lock(&self.jobs);
        match jobs.iter_mut().find(|j| j.script.job_id == job.script.job_id) {
            Some(slot) => *slot = job,
            None => jobs.push(job),
        }
    }

    /// The job with this id.
    pub fn job(&self, job_id: &str) -> Option<Job> {
        lock(&self.jobs).iter().find(|j| j.script.job_id == job_id).cloned()
    }

    /// Every job, in the order added.
    pub fn jobs(&self) -> Vec<Job> {
        lock(&self.jobs).clone()
    }

    /// Sets the status of a job; `false` if there is no such job.
    pub fn set_status(&self, job_id: &str, status: &str) -> bool {
        let mut jobs = lock(&self.jobs);
        let found = jobs.iter_mut().find(|j| j.script.job_id == job_id);
        found.map(|j| status.clone_into(&mut j.status)).is_some()
    }

    /// Registers a canned answer; `path` is relative to the base (a leading `/` is ignored).
    pub fn set_canned(&self, method: Method, path: &str, reply: CannedReply) {
        lock(&self.canned).insert((method, path.trim_start_matches('/').to_owned()), reply);
    }

    /// The canned answer for this request, if one was registered.
    pub fn canned(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        let canned = lock(&self.canned);
        canned.get(&(method.clone(), path.to_owned())).map(CannedReply::to_response)
    }

    /// Remembers a request.
    pub fn record(&self, parts: &Parts, body: &[u8]) {
        let headers = parts.headers.iter();
        let request = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: headers
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        lock(&self.requests).push(request);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Counts a stream as open until the returned guard is dropped.
    pub fn open_stream(&self) -> StreamGuard {
        self.streams.opened.fetch_add(1, Ordering::SeqCst);
        StreamGuard(Arc::clone(&self.streams))
    }

    /// The stream counters now.
    pub fn stream_stats(&self) -> StreamStats {
        // Read `closed` first so that `open` can never underflow.
        let closed = self.streams.closed.load(Ordering::SeqCst);
        let opened = self.streams.opened.load(Ordering::SeqCst);
        StreamStats { opened, open: opened.saturating_sub(closed), closed }
    }
}

#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    closed: AtomicU64,
}

/// Keeps one stream counted as open; dropping it counts the stream as closed.
#[derive(Debug)]
pub(super) struct StreamGuard(Arc<Counters>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Locks a mutex; a panic elsewhere never leaves this state half-written, so poisoning is ignored.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
