//! The one error type of the core, with the status code each kind of failure carries.

use std::fmt;

/// Everything that can go wrong in a request or a stream.
///
/// Messages are written for users and never contain a token: details that come from the
/// server are scrubbed with [`Secrets::scrub`] before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A bad argument, caught before any I/O.
    #[error("{0}")]
    InvalidArgument(String),
    /// The server answered with a non-success status.
    #[error("{detail}")]
    Status { code: u16, detail: String },
    /// Connecting, or waiting for data, took longer than the timeout.
    #[error("{0}")]
    Timeout(String),
    /// A stream limit of `StreamLimits` was exceeded.
    #[error("stream limit exceeded: more than {max} {limit}")]
    LimitExceeded { limit: &'static str, max: u64 },
    /// The job reported an error event.
    #[error("{0}")]
    Remote(String),
    /// The connection could not be made, or broke.
    #[error("{0}")]
    Connection(String),
    /// The WebSocket peer violated the protocol.
    #[error("{0}")]
    WebSocket(String),
}

impl Error {
    /// The status code users see as `ClientError.status_code`.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::InvalidArgument(_) => 400,
            Self::Status { code, .. } => *code,
            Self::Timeout(_) => 408,
            Self::LimitExceeded { .. } => 429,
            Self::Remote(_) => 500,
            Self::Connection(_) | Self::WebSocket(_) => 503,
        }
    }

    /// A connection-level failure with a short context ("connecting to the agent failed: ...").
    pub fn connection(context: &str, cause: impl fmt::Display) -> Self {
        Self::Connection(format!("{context}: {cause}"))
    }
}

/// The result type of the core.
pub type Result<T> = std::result::Result<T, Error>;

/// The tokens of one client, to be scrubbed from any text that came from the server.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Collects the non-empty tokens.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        Self(tokens.into_iter().filter(|t| !t.is_empty()).map(str::to_owned).collect())
    }

    /// Replaces every occurrence of a token with `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for token in &self.0 {
            if out.contains(token.as_str()) {
                out = out.replace(token.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_follow_the_protocol_table() {
        assert_eq!(Error::InvalidArgument(String::new()).status_code(), 400);
        assert_eq!(Error::Status { code: 404, detail: String::new() }.status_code(), 404);
        assert_eq!(Error::Timeout(String::new()).status_code(), 408);
        assert_eq!(Error::LimitExceeded { limit: "lines", max: 1 }.status_code(), 429);
        assert_eq!(Error::Remote(String::new()).status_code(), 500);
        assert_eq!(Error::Connection(String::new()).status_code(), 503);
        assert_eq!(Error::WebSocket(String::new()).status_code(), 503);
    }

    #[test]
    fn scrub_removes_every_token() {
        let secrets = Secrets::new(["agent-secret", "", "user-secret"]);
        let text = "bad agent-secret and user-secret and agent-secret";
        assert_eq!(secrets.scrub(text), "bad *** and *** and ***");
    }
}

/// Keys whose values are redacted from free text: `token=abc`, `Authorization: Token abc`.
const SECRET_KEYS: [&str; 6] = ["authorization", "token", "api_key", "apikey", "password", "secret"];

/// Redacts the given secrets and any value that follows a secret-looking key.
pub fn sanitize(text: &str, secrets: &Secrets) -> String {
    let text = secrets.scrub(text);
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let Some(key) = SECRET_KEYS.iter().find(|k| lower[i..].starts_with(**k)) else {
            i += 1;
            continue;
        };
        let mut j = i + key.len();
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'-') {
            j += 1; // the rest of a longer key such as `agent_token` or `token-id`
        }
        let sep = text[j..].find(|c: char| c != ' ' && c != '"' && c != '\'').map_or(j, |k| j + k);
        if sep >= bytes.len() || !(bytes[sep] == b'=' || bytes[sep] == b':') {
            i = j;
            continue;
        }
        let mut v = sep + 1;
        while v < bytes.len() && matches!(bytes[v], b' ' | b'"' | b'\'') {
            v += 1;
        }
        for scheme in ["token ", "bearer ", "basic "] {
            if lower[v..].starts_with(scheme) {
                v += scheme.len();
            }
        }
        let end = text[v..].find(|c: char| c.is_whitespace() || "\"'&,;}".contains(c)).map_or(text.len(), |k| v + k);
        if end > v {
            out.push_str(&text[at..v]);
            out.push_str("***");
            at = end;
        }
        i = end.max(j);
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod sanitize_tests {
    use super::*;

    #[test]
    fn redacts_known_secrets_and_secret_looking_values() {
        let s = Secrets::new(["s3cr3t"]);
        assert_eq!(sanitize("failed with s3cr3t", &s), "failed with ***");
        assert_eq!(sanitize("GET /x?token=abc&y=1", &s), "GET /x?token=***&y=1");
        assert_eq!(sanitize("Authorization: Token abc def", &s), "Authorization: Token *** def");
        assert_eq!(sanitize(r#"{"agent_token": "xyz"}"#, &s), r#"{"agent_token": "***"}"#);
        assert_eq!(sanitize("no tokens here", &s), "no tokens here");
    }
}
