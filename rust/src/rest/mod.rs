//! REST calls to the agent: JSON in, JSON out, statuses mapped to errors; `body` reads and
//! scrubs answers, `urls` builds and checks the agent's URLs.

pub mod body;
pub mod urls;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::error::{Error, Result, Secrets};
use crate::net::Transport;

/// The decoded body of a REST answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// 204 or an empty body.
    Empty,
    Json(Value),
    /// A body that is not JSON.
    Text(String),
}

/// One REST request.
pub struct Call<'a> {
    pub method: Method,
    pub url: String,
    pub headers: &'a [(String, String)],
    pub query: &'a [(String, String)],
    /// A JSON body, already encoded.
    pub json: Option<String>,
    /// The largest answer body accepted, in bytes (`max_response_size`).
    pub max_response: u64,
}

/// Sends a request and decodes the answer.
///
/// `read_timeout` bounds the whole exchange after connecting (reqwest's connect timeout is
/// set on the client); exceeding either gives 408.
pub async fn call(transport: &Transport, call: Call<'_>, read_timeout: Duration, secrets: &Secrets) -> Result<Body> {
    let context = match reqwest::Url::parse(&call.url) {
        Ok(url) => format!("{} {}", call.method, url.path()),
        Err(_) => call.method.to_string(),
    };
    exchange(transport, call, read_timeout, secrets).await.map_err(|e| e.context(&context))
}

async fn exchange(transport: &Transport, call: Call<'_>, read_timeout: Duration, secrets: &Secrets) -> Result<Body> {
    let client = transport.http()?;
    let mut url = reqwest::Url::parse(&call.url).map_err(|e| Error::InvalidArgument(format!("invalid URL: {e}")))?;
    // A link from the agent's answer may name any URL: only its own origin is followed.
    crate::net::redirect::check_origin(transport.agent(), &url, "a link in its answer")?;
    if !call.query.is_empty() {
        url.query_pairs_mut().extend_pairs(call.query);
    }
    let call_max = call.max_response;
    let mut request = client.request(call.method, url).timeout(read_timeout);
    for (name, value) in call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(json) = call.json {
        request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(json);
    }
    let response = request.send().await.map_err(|e| failed(transport, e))?;
    transport.proxy_status(response.status().as_u16())?;
    let response = check_status(response, secrets, read_timeout).await?;
    let status = response.status();
    let bytes = body::whole(response, call_max).await?;
    Ok(decode(status, &bytes))
}

fn decode(status: StatusCode, bytes: &[u8]) -> Body {
    if status == StatusCode::NO_CONTENT || bytes.iter().all(u8::is_ascii_whitespace) {
        return Body::Empty;
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Body::Json(value),
        Err(_) => Body::Text(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Passes a 2xx answer through; anything else becomes `Error::Status` with the server's detail,
/// read up to [`body::ERROR_BODY_CAP`] bytes within `deadline` (a server that sends an error
/// status and then goes quiet must not hang us).
pub async fn check_status(mut response: Response, secrets: &Secrets, deadline: Duration) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // One byte over the cap tells a body that was cut from one that fit.
    let body = body::prefix(&mut response, body::ERROR_BODY_CAP + 1, deadline).await;
    Err(status_error(status.as_u16(), &String::from_utf8_lossy(&body), secrets))
}

/// Error answers longer than this keep only their short detail, not the whole body.
const MAX_ERROR_BODY: usize = body::ERROR_BODY_CAP;

/// The error of a non-success answer: its short detail, and its whole body (scrubbed) when
/// it is not empty and not too long.
pub fn status_error(code: u16, body: &str, secrets: &Secrets) -> Error {
    let trimmed = body.trim();
    let whole = (!trimmed.is_empty() && trimmed.len() <= MAX_ERROR_BODY)
        .then(|| parse_clean(trimmed, secrets).map_or_else(|| secrets.clean(trimmed), |v| v.to_string()));
    Error::Status { code, detail: detail_of(code, body, secrets), body: whole }
}

/// The user-facing detail of an error answer: its JSON `detail` (or the body), scrubbed and bounded.
pub fn detail_of(code: u16, body: &str, secrets: &Secrets) -> String {
    let from_json = parse_clean(body, secrets).and_then(|v| match v.get("detail") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => None,
    });
    // Scrub before truncating, so that a cut cannot leave part of a token behind.
    let mut detail = from_json.unwrap_or_else(|| secrets.clean(body.trim()));
    if detail.is_empty() {
        detail = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("error").to_owned();
    }
    if detail.len() > 1000 {
        let cut = (0..=1000).rev().find(|&i| detail.is_char_boundary(i)).unwrap_or(0);
        detail.truncate(cut);
        detail.push('…');
    }
    detail
}

/// A JSON body parsed, then scrubbed string by string. Scrubbing the raw text is not enough:
/// JSON may escape a token (`a\/b` for `a/b`, `\u00e9`), and parsing would restore it.
fn parse_clean(body: &str, secrets: &Secrets) -> Option<Value> {
    let mut value = serde_json::from_str::<Value>(body).ok()?;
    clean_json(&mut value, secrets);
    Some(value)
}

fn clean_json(value: &mut Value, secrets: &Secrets) {
    match value {
        Value::String(s) => *s = secrets.clean(s),
        Value::Array(items) => items.iter_mut().for_each(|v| clean_json(v, secrets)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                if v.is_string() && crate::error::is_secret_key(&key) {
                    v = Value::String("***".into());
                }
                clean_json(&mut v, secrets);
                map.insert(secrets.clean(&key), v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Maps a reqwest failure of a request through `transport`: our own error when our tunnel
/// failed (it names the proxy), else naming the proxy when it failed.
pub fn failed(transport: &Transport, e: reqwest::Error) -> Error {
    if let Some(own) = own_error(&e) {
        return own;
    }
    match transport.proxy_error(&e) {
        Some(detail) => Error::Connection { detail, source: Some(Arc::new(e)) },
        None => send_error(e),
    }
}

/// Maps a reqwest failure before or while receiving an answer.
pub fn send_error(e: reqwest::Error) -> Error {
    if let Some(refused) = crate::net::redirect::find_refused(&e) {
        return refused;
    }
    if let Some(detail) = crate::net::tls_failure(&e) {
        return Error::Connection { detail, source: Some(Arc::new(e)) };
    }
    if e.is_timeout() {
        Error::Timeout(format!("the agent did not answer in time: {}", cause(&e)))
    } else if e.is_builder() {
        Error::InvalidArgument(format!("invalid request: {}", cause(&e)))
    } else {
        Error::connection("connecting to the agent failed", e)
    }
}

/// Our own error in a reqwest error's chain: the proxy tunnel under reqwest (`net::relay`)
/// failed with it.
fn own_error(e: &reqwest::Error) -> Option<Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = current {
        if let Some(own) = error.downcast_ref::<Error>() {
            return Some(own.clone());
        }
        current = error.source();
    }
    None
}

/// The innermost cause of a reqwest error, without the URL.
pub fn cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_to_json_text_or_nothing() {
        assert_eq!(decode(StatusCode::OK, b"{\"a\":1}"), Body::Json(serde_json::json!({"a": 1})));
        assert_eq!(decode(StatusCode::OK, b"plain"), Body::Text("plain".into()));
        assert_eq!(decode(StatusCode::OK, b" \n"), Body::Empty);
        assert_eq!(decode(StatusCode::NO_CONTENT, b"x"), Body::Empty);
    }

    #[test]
    fn json_escapes_cannot_hide_a_token() {
        let secrets = Secrets::new(["ab/cd+ef=="]);
        let body = r#"{"detail": "bad ab\/cd+ef==", "echo": {"agent_token": "zz", "list": ["ab\/cd+ef=="]}}"#;
        assert_eq!(detail_of(401, body, &secrets), "bad ***");
        let Error::Status { body: Some(whole), .. } = status_error(401, body, &secrets) else { panic!() };
        assert!(!whole.contains("ab/cd") && !whole.contains("ab\\/cd") && !whole.contains("zz"), "{whole}");
    }

    #[test]
    fn details_are_scrubbed_and_bounded() {
        let secrets = Secrets::new(["tok"]);
        assert_eq!(detail_of(401, r#"{"detail":"bad tok"}"#, &secrets), "bad ***");
        assert_eq!(detail_of(500, "", &secrets), "Internal Server Error");
        assert!(detail_of(500, &"é".repeat(2000), &secrets).len() <= 1004);
    }

    #[test]
    fn status_errors_keep_the_scrubbed_body() {
        let secrets = Secrets::new(["tok"]);
        let Error::Status { code, detail, body } = status_error(404, r#"{"detail":"no tok"}"#, &secrets) else {
            panic!("not a status error");
        };
        assert_eq!((code, detail.as_str(), body.as_deref()), (404, "no ***", Some(r#"{"detail":"no ***"}"#)));
        assert!(matches!(status_error(500, " ", &secrets), Error::Status { body: None, .. }));
        assert!(matches!(
            status_error(500, &"x".repeat(MAX_ERROR_BODY + 1), &secrets),
            Error::Status { body: None, .. }
        ));
    }
}
