//! Building the server's responses: JSON, text, empty and `{"detail": ...}` errors.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The body of every response: a full buffer or a live log stream.
pub type Body = BoxBody<Bytes, io::Error>;

/// A response with this body and Content-Type.
pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).map_err(never).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    // Serialising a `Value` cannot fail: its map keys are always strings.
    let body = serde_json::to_vec(value).unwrap_or_default();
    bytes(status, "application/json", Bytes::from(body))
}

/// A 200 JSON response.
pub fn ok(value: &Value) -> Response<Body> {
    json(StatusCode::OK, value)
}

/// An error response `{"detail": detail}`, as the agent sends them.
pub fn detail(status: StatusCode, detail: &str) -> Response<Body> {
    json(status, &json!({ "detail": detail }))
}

/// A response without a body (204 and friends).
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(never).boxed());
    *response.status_mut() = status;
    response
}

fn never(never: Infallible) -> io::Error {
    match never {}
}
