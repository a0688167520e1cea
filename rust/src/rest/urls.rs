//! Building request URLs and checking arguments before any I/O.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;

use crate::error::{Error, Result};

/// Characters kept as they are in a free-form path segment: unreserved ones and `@`
/// (`code@version`). Everything else, `/`, `?`, `#` and `%` included, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'@');

/// Checks a job, node or task id: 1 to 100 characters of `A-Z a-z 0-9 - _`.
pub fn validate_resource_id(id: &str, name: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::InvalidArgument(format!("{name} must not be empty")));
    }
    if id.len() > 100 {
        return Err(Error::InvalidArgument(format!("{name} must be at most 100 characters")));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::InvalidArgument(format!("{name} may contain only letters, digits, '-' and '_'")));
    }
    Ok(())
}

/// Checks a streaming timeout in seconds: `0 < timeout <= 300`.
pub fn validate_timeout(timeout: f64) -> Result<()> {
    validate_timeout_max(timeout, 300.0)
}

/// Checks a timeout in seconds against another maximum: `0 < timeout <= max`.
pub fn validate_timeout_max(timeout: f64, max: f64) -> Result<()> {
    if timeout.is_nan() || timeout <= 0.0 || timeout > max {
        return Err(Error::InvalidArgument(format!(
            "timeout must be greater than 0 and at most {max} seconds, not {timeout}"
        )));
    }
    Ok(())
}

/// Encodes a free-form name as one path segment; `.`/`..` and empty names are refused
/// because URL parsers resolve them even when percent-encoded.
pub fn path_segment(name: &str, what: &str) -> Result<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidArgument(format!("{what} must be a non-empty name other than '.' and '..'")));
    }
    Ok(utf8_percent_encode(name, SEGMENT).to_string())
}

/// Joins the base URL and a path with exactly one `/` between them. An absolute `http(s)://`
/// path is a link the agent gave (`list_all`'s `next`): it is kept whole, and the REST call
/// refuses it unless it is on the agent's origin (`net::redirect::check_origin`).
pub fn join(base: &str, path: &str) -> String {
    let absolute = ["http://", "https://"]
        .iter()
        .any(|scheme| path.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)));
    if absolute {
        return path.to_owned();
    }
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Parses the base URL given to a client: `http` or `https` with a host.
///
/// A URL without a scheme (`agent.example.com`, `localhost:8000`) says to add one. Messages
/// never repeat the URL: it may carry credentials.
pub fn parse_base(base: &str) -> Result<Url> {
    if base.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "base_url is empty: pass the agent's URL, such as https://agent.example.com".into(),
        ));
    }
    let has_scheme = base.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !has_scheme {
        return Err(Error::InvalidArgument(
            "base_url has no scheme: add http:// or https:// (for example https://agent.example.com)".into(),
        ));
    }
    let url = Url::parse(base).map_err(|e| Error::InvalidArgument(format!("invalid base_url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::InvalidArgument("base_url must be an http:// or https:// URL with a host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidArgument("base_url must not have a ?query or #fragment".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidArgument("base_url must not carry credentials; pass tokens as arguments".into()));
    }
    Ok(url)
}

/// `http`→`ws` and `https`→`wss`, whatever the case of the scheme (`HTTP://` is valid);
/// other URLs are returned unchanged.
pub fn http_to_websocket(url: &str) -> String {
    let has = |scheme: &str| url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme));
    if has("https://") {
        format!("wss://{}", &url["https://".len()..])
    } else if has("http://") {
        format!("ws://{}", &url["http://".len()..])
    } else {
        url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids() {
        assert!(validate_resource_id("raysubmit_abc-123", "job_id").is_ok());
        for bad in ["", "a/b", "a b", "../x", "é", &"x".repeat(101)] {
            assert_eq!(validate_resource_id(bad, "job_id").unwrap_err().status_code(), 400, "{bad}");
        }
        assert!(validate_resource_id(&"x".repeat(100), "job_id").is_ok());
    }

    #[test]
    fn timeouts() {
        assert!(validate_timeout(0.001).is_ok() && validate_timeout(300.0).is_ok());
        for bad in [0.0, -1.0, 300.5, f64::NAN, f64::INFINITY] {
            assert!(validate_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_cannot_escape_their_place() {
        assert_eq!(path_segment("../admin?x=1#f", "name").unwrap(), "..%2Fadmin%3Fx%3D1%23f");
        assert_eq!(path_segment("code@1.2.0", "lookup").unwrap(), "code@1.2.0");
        assert_eq!(path_segment("a b%", "name").unwrap(), "a%20b%25");
        assert!(path_segment("..", "name").is_err() && path_segment("", "name").is_err());
    }

    #[test]
    fn joining_and_schemes() {
        assert_eq!(join("http://h:1/api/", "/jobs/"), "http://h:1/api/jobs/");
        assert_eq!(join("http://h:1", "jobs/"), "http://h:1/jobs/");
        assert_eq!(join("http://h:1/api", "HTTPS://other/x/"), "HTTPS://other/x/");
        assert_eq!(http_to_websocket("https://h/x"), "wss://h/x");
        assert_eq!(http_to_websocket("http://h/x"), "ws://h/x");
        assert_eq!(http_to_websocket("HTTP://h/x"), "ws://h/x");
        assert_eq!(http_to_websocket("HttpS://h/x"), "wss://h/x");
        assert_eq!(http_to_websocket("é"), "é");
        assert!(parse_base("http://h/?q=1").is_err() && parse_base("http://h/#f").is_err());
        assert!(parse_base("HTTP://h:1/api").is_ok());
        assert!(parse_base("ftp://h").is_err() && parse_base("http://u:p@h").is_err() && parse_base("nope").is_err());
        for bare in ["agent.example.com", "localhost:8000", "127.0.0.1:8000/api", "user:secret@host", "h/?u=http://x"] {
            let e = parse_base(bare).unwrap_err().to_string();
            assert!(e.contains("add http:// or https://") && !e.contains("secret"), "{bare}: {e}");
        }
        assert!(parse_base(" ").unwrap_err().to_string().contains("base_url is empty"));
    }
}
