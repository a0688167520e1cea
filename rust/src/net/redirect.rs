//! The agent pointing us at another origin: a redirect (of a REST call, an HTTP stream or a
//! WebSocket upgrade) or a link in an answer (`list_all`'s `next`). One rule for all of them:
//! only the agent's own origin (scheme, host and port) is followed, so tokens, request bodies
//! and our URL never reach another server and https is never downgraded; anything else is
//! [`other_origin`]'s `ClientConnectionError` (503) naming that origin, raised before anything
//! is sent there.

use reqwest::redirect::{Attempt, Policy};
use reqwest::Url;

use crate::error::Error;

/// At most this many same-origin redirects in a row.
const MAX_REDIRECTS: usize = 10;

/// A redirect we refused to follow: the status and the origin it pointed to.
#[derive(Debug)]
pub struct Refused {
    pub code: u16,
    pub target: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to {} refused", self.target)
    }
}

impl std::error::Error for Refused {}

/// reqwest's policy: follow same-origin redirects, refuse the rest before sending anything.
pub fn policy() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        if first.origin() != attempt.url().origin() {
            let refused = Refused { code: attempt.status().as_u16(), target: origin(attempt.url()) };
            return attempt.error(refused);
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        attempt.follow()
    })
}

/// `scheme://host[:port]` of a URL: what messages name (never a path, query or user info).
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The error users get when the agent pointed us at another origin `target`
/// (`scheme://host[:port]`), by `how` ("a 302 redirect"): 503, as the protocol page says.
pub fn other_origin(target: &str, how: &str) -> Error {
    Error::connection_msg(format!(
        "the agent pointed us at another origin, {target} ({how}); not followed, so nothing (no token, \
         header or body) was sent there: only the agent's own origin (scheme, host and port) is followed"
    ))
}

/// The error users get for a refused redirect.
pub fn refused_error(code: u16, target: &str) -> Error {
    other_origin(target, &format!("a {code} redirect"))
}

/// Refuses `url` when it is not on the `agent`'s origin: `how` says where the agent named it.
pub fn check_origin(agent: &Url, url: &Url, how: &str) -> Result<(), Error> {
    if url.origin() == agent.origin() {
        Ok(())
    } else {
        Err(other_origin(&origin(url), how))
    }
}

/// The refusal in a reqwest error's chain, as the error users get.
pub fn find_refused(error: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused_error(refused.code, &refused.target));
        }
        current = e.source();
    }
    None
}

/// For a 3xx answer to the WebSocket upgrade of `request`: the refusal when its `Location`
/// leaves the agent's origin (compared as http/https).
pub fn websocket_refusal(code: u16, location: Option<&str>, request: &Url) -> Option<Error> {
    if !(300..400).contains(&code) {
        return None;
    }
    let mut base = request.clone();
    let http_scheme = if request.scheme() == "wss" { "https" } else { "http" };
    base.set_scheme(http_scheme).ok()?;
    let target = base.join(location?).ok()?;
    let same = match target.scheme() {
        "ws" | "wss" => {
            let mut as_http = target.clone();
            let scheme = if target.scheme() == "wss" { "https" } else { "http" };
            as_http.set_scheme(scheme).ok().map(|()| as_http.origin() == base.origin())
        }
        _ => Some(target.origin() == base.origin()),
    };
    (same != Some(true)).then(|| refused_error(code, &origin(&target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_redirects_to_other_origins_are_refused() {
        let request = Url::parse("wss://agent.example/jobs/j/logs/").unwrap();
        assert!(websocket_refusal(302, Some("/jobs/j/logs/stream/"), &request).is_none());
        assert!(websocket_refusal(302, Some("https://agent.example/x"), &request).is_none());
        let e = websocket_refusal(302, Some("http://agent.example/x"), &request).unwrap();
        assert!(e.to_string().contains("http://agent.example"), "{e}");
        let e = websocket_refusal(307, Some("https://evil.example:8443/x?token=1"), &request).unwrap();
        assert!(e.to_string().contains("https://evil.example:8443") && !e.to_string().contains("token=1"), "{e}");
        assert_eq!(e.status_code(), 503);
        assert!(websocket_refusal(404, Some("https://evil.example"), &request).is_none());
    }

    #[test]
    fn links_must_stay_on_the_agents_origin() {
        let agent = Url::parse("https://agent.example/api").unwrap();
        let link = |text: &str| check_origin(&agent, &Url::parse(text).unwrap(), "a link");
        assert!(link("https://agent.example:443/elsewhere/?page=2").is_ok());
        for other in ["http://agent.example/api/", "https://agent.example:8443/api/", "https://u:p@evil.example/x"] {
            let e = link(other).unwrap_err();
            assert_eq!(e.status_code(), 503, "{other}");
            assert!(e.to_string().contains("another origin") && !e.to_string().contains("u:p"), "{e}");
        }
    }
}
