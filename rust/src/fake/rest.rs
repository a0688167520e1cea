//! The REST routes of the fake agent, answered from its state (log streams live in `ws` and `http`).

use std::borrow::Cow;

use hyper::{Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::admin;
use super::records::Records;
use super::reply::{self, Body};
use super::state::{Job, State};

/// Answers a REST request; `path` is the raw path without its leading `/`, `host` the
/// request's `Host` (for the absolute `next` links of paginated lists).
pub(super) fn answer(
    state: &State,
    method: &Method,
    path: &str,
    query: &str,
    host: &str,
    body: &[u8],
) -> Response<Body> {
    let (trimmed, slash) = match path.strip_suffix('/') {
        Some(trimmed) => (trimmed, true),
        None => (path, false),
    };
    let segments: Vec<&str> = trimmed.split('/').collect();
    let list_url = format!("http://{host}/{path}");
    let raw_query: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or((p.to_owned(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    if let Some(response) = admin::answer(&state.records, method, &segments, &list_url, &raw_query, body) {
        return response;
    }
    match (method.as_str(), segments.as_slice(), slash) {
        ("GET", ["health"], true) => reply::ok(&json!({ "status": "healthy" })),
        ("GET" | "POST", ["jobs", ..], true) => jobs(state, method, &segments[1..]),
        ("GET", ["gpu_status"], true) => reply::ok(&gpu_status()),
        ("GET", ["nodes"], true) => reply::ok(&json!([node("node-1"), node("node-2")])),
        ("GET", ["nodes", id], true) => reply::ok(&node(&decode(id))),
        ("GET", ["tasks"], true) => reply::ok(&json!([task("task-1")])),
        ("GET", ["tasks", id], true) => reply::ok(&task(&decode(id))),
        ("GET", ["serve_applications"], true) => reply::ok(&json!([serve_app("default")])),
        ("GET", ["serve_applications", name], true) => reply::ok(&serve_app(&decode(name))),
        ("DELETE", ["serve_applications", _], true) => reply::empty(StatusCode::NO_CONTENT),
        ("GET" | "POST" | "DELETE", ["plugin_releases", ..], _) => {
            plugin_releases(&state.records, method, &segments[1..], slash, (&list_url, query, &raw_query), body)
        }
        _ => not_found(),
    }
}

fn jobs(state: &State, method: &Method, rest: &[&str]) -> Response<Body> {
    match (method.as_str(), rest) {
        ("GET", []) => reply::ok(&Value::Array(state.jobs().iter().map(job_json).collect())),
        ("GET", [id]) => state.job(&decode(id)).map_or_else(job_not_found, |job| reply::ok(&job_json(&job))),
        ("GET", [id, "logs"]) => match state.job(&decode(id)) {
            Some(job) => reply::ok(&Value::String(job.script.full_log())),
            None => job_not_found(),
        },
        ("POST", [id, "stop"]) => {
            let id = decode(id);
            if state.set_status(&id, "STOPPED") {
                reply::ok(&json!({ "job_id": id, "status": "STOPPED" }))
            } else {
                job_not_found()
            }
        }
        _ => not_found(),
    }
}

/// The list URL, the raw query string and its raw pairs of a request.
type ListQuery<'a> = (&'a str, &'a str, &'a [(String, String)]);

/// Plugin releases: created ones are stored, listed by page, found by id or `code`; an unknown
/// lookup is echoed back, so that clients can see how a name was encoded.
fn plugin_releases(
    records: &Records,
    method: &Method,
    rest: &[&str],
    slash: bool,
    list: ListQuery<'_>,
    body: &[u8],
) -> Response<Body> {
    let (list_url, query, raw_query) = list;
    match (method.as_str(), rest, slash) {
        ("GET", [], true) => {
            let mut page = records.page("plugin_releases", list_url, raw_query);
            page["query"] = query_json(query);
            reply::ok(&page)
        }
        ("POST", [], true) => {
            let mut fields = match body_json(body) {
                Value::Object(map) => map,
                other => Map::from_iter([("body".to_owned(), other)]),
            };
            let code = format!(
                "{}@{}",
                fields.get("plugin").and_then(Value::as_str).unwrap_or(""),
                fields.get("version").and_then(Value::as_str).unwrap_or("")
            );
            fields.insert("code".into(), Value::String(code));
            reply::ok(&records.create("plugin_releases", fields, |n| json!(n)))
        }
        ("POST", ["run_debug"], true) => reply::ok(&json!({ "debug": true, "body": body_json(body) })),
        ("POST", [lookup, "run"], true) => reply::ok(&json!({ "lookup": decode(lookup), "body": body_json(body) })),
        ("GET", [lookup], _) => {
            let lookup = decode(lookup);
            reply::ok(&records.find("plugin_releases", &lookup, "code").unwrap_or_else(|| json!({ "lookup": lookup })))
        }
        ("DELETE", [lookup], _) => {
            records.remove("plugin_releases", &decode(lookup), "code");
            reply::empty(StatusCode::NO_CONTENT)
        }
        _ => not_found(),
    }
}

/// The 404 of an unknown job, on REST and stream routes alike.
pub(super) fn job_not_found() -> Response<Body> {
    reply::detail(StatusCode::NOT_FOUND, "Job not found")
}

fn not_found() -> Response<Body> {
    reply::detail(StatusCode::NOT_FOUND, "Not found")
}

fn job_json(job: &Job) -> Value {
    json!({
        "job_id": job.script.job_id,
        "status": job.status,
        "entrypoint": format!("python -m fake_job {}", job.script.job_id),
    })
}

fn gpu_status() -> Value {
    json!({
        "gpus": [{ "index": 0, "name": "Fake GPU", "memory_total_mb": 16384, "memory_used_mb": 0, "utilization": 0 }],
        "count": 1,
    })
}

fn node(id: &str) -> Value {
    json!({ "node_id": id, "alive": true, "resources": { "CPU": 8.0, "GPU": 1.0 } })
}

fn task(id: &str) -> Value {
    json!({ "task_id": id, "state": "RUNNING", "name": "fake_task" })
}

fn serve_app(name: &str) -> Value {
    json!({ "name": name, "status": "RUNNING", "route_prefix": format!("/{name}") })
}

/// A path segment, percent-decoded (invalid UTF-8 replaced).
pub(super) fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Query parameters as a JSON object, form-decoded (`+` is a space); the last of repeated keys wins.
fn query_json(query: &str) -> Value {
    let decode_form = |s: &str| -> String {
        let spaced = if s.contains('+') { Cow::Owned(s.replace('+', " ")) } else { Cow::Borrowed(s) };
        decode(&spaced)
    };
    let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| match pair.split_once('=') {
        Some((k, v)) => (decode_form(k), Value::String(decode_form(v))),
        None => (decode_form(pair), Value::String(String::new())),
    });
    Value::Object(pairs.collect::<Map<String, Value>>())
}

/// A request body as JSON: `null` when empty, its text when it is not JSON.
pub(super) fn body_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_form_decoded() {
        let q = query_json("page=2&search=a+b%2Fc&flag&page_size=10");
        assert_eq!(q, json!({ "page": "2", "search": "a b/c", "flag": "", "page_size": "10" }));
        assert_eq!(query_json(""), json!({}));
    }

    #[test]
    fn bodies_that_are_not_json_become_text() {
        assert_eq!(body_json(b""), Value::Null);
        assert_eq!(body_json(br#"{"a":1}"#), json!({ "a": 1 }));
        assert_eq!(body_json(b"oops"), json!("oops"));
    }
}
