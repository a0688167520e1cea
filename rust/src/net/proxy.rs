//! Which proxy, if any, carries the connections of one client: the `proxy=` argument, else
//! the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, lower-case first, as
//! curl and requests read them), else none.
//!
//! A client talks to one agent, so the choice is made once, when the transport is built.

use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use reqwest::Url;

use crate::error::{Error, Result};

/// How to reach a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP proxy (`http://`), or one reached over TLS (`https://`): forwards plain HTTP,
    /// tunnels everything else with CONNECT.
    Http { tls: bool },
    /// SOCKS5; `remote_dns` for `socks5h://` (the proxy resolves the agent's name).
    Socks5 { remote_dns: bool },
}

/// The proxy of a client.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    /// User name and password, percent-decoded.
    pub credentials: Option<(String, String)>,
    /// The URL as given, credentials included (for reqwest).
    url: Url,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.display())
    }
}

impl Proxy {
    /// Parses a proxy URL; `host:port` alone means an HTTP proxy.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let text = text.trim();
        let with_scheme = if text.contains("://") { text.to_owned() } else { format!("http://{text}") };
        // The URL may hold a password: errors name only where it came from.
        let invalid = |why: &str| Error::InvalidArgument(format!("invalid proxy URL in {source}: {why}"));
        let url = Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
        let kind = match url.scheme() {
            "http" => Kind::Http { tls: false },
            "https" => Kind::Http { tls: true },
            "socks5" => Kind::Socks5 { remote_dns: false },
            "socks5h" => Kind::Socks5 { remote_dns: true },
            other => return Err(invalid(&format!("unsupported scheme {other:?} (http, https, socks5, socks5h)"))),
        };
        let host = url.host_str().ok_or_else(|| invalid("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port().unwrap_or(match kind {
            Kind::Http { tls: false } => 80,
            Kind::Http { tls: true } => 443,
            Kind::Socks5 { .. } => 1080,
        });
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credentials = (!url.username().is_empty() || url.password().is_some())
            .then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        Ok(Self { kind, host, port, credentials, url })
    }

    /// `scheme://host:port`, never the credentials: what messages show.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}://{host}:{}", self.url.scheme(), self.port)
    }

    /// What to do about a 407 from this proxy.
    pub fn auth_hint(&self) -> &'static str {
        if self.credentials.is_some() {
            "it refused the credentials of the proxy URL"
        } else {
            "put user:password in the proxy URL"
        }
    }

    /// The same proxy for reqwest (which reads the credentials from the URL).
    pub fn for_reqwest(&self) -> Result<reqwest::Proxy> {
        let invalid = || Error::InvalidArgument(format!("invalid proxy {}", self.display()));
        match (self.kind, &self.credentials) {
            // reqwest reads SOCKS credentials from the URL, but sends HTTP proxy credentials only
            // when given explicitly.
            (Kind::Http { .. }, Some((user, password))) => {
                let mut bare = self.url.clone();
                bare.set_username("").map_err(|()| invalid())?;
                bare.set_password(None).map_err(|()| invalid())?;
                Ok(reqwest::Proxy::all(bare.as_str()).map_err(|_| invalid())?.basic_auth(user, password))
            }
            _ => reqwest::Proxy::all(self.url.as_str()).map_err(|_| invalid()),
        }
    }
}

/// The proxy for `target` (the agent's base URL): the argument, else the environment when
/// `trust_env`, else none.
pub fn resolve(argument: Option<&str>, trust_env: bool, target: &Url) -> Result<Option<Proxy>> {
    if let Some(text) = argument {
        return Proxy::parse(text, "proxy=").map(Some);
    }
    if !trust_env {
        return Ok(None);
    }
    resolve_with(target, |name| std::env::var(name).ok())
}

/// [`resolve`] from the environment, with the variables read through `var`.
fn resolve_with(target: &Url, var: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>> {
    let get = |name: &str| {
        [name.to_ascii_lowercase(), name.to_owned()]
            .into_iter()
            .find_map(|n| var(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
    };
    let scheme_var = if matches!(target.scheme(), "https" | "wss") { "HTTPS_PROXY" } else { "HTTP_PROXY" };
    let Some((name, value)) = get(scheme_var).or_else(|| get("ALL_PROXY")) else {
        return Ok(None);
    };
    if let Some((_, no_proxy)) = get("NO_PROXY") {
        let host = target.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        if bypassed(&no_proxy, host, target.port_or_known_default().unwrap_or(0)) {
            return Ok(None);
        }
    }
    Proxy::parse(&value, &name).map(Some)
}

/// Whether `NO_PROXY` lists `host` (and `port`): `*`, a name and its subdomains (a leading
/// `.` or `*.` is allowed), an IP address, or an IP network in CIDR form, each optionally
/// with `:port`.
pub fn bypassed(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let (pattern, entry_port) = split_port(entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let pattern =
            pattern.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
        match (ip, pattern.split_once('/')) {
            (Some(ip), Some((net, bits))) => in_network(ip, net, bits),
            (Some(ip), None) => pattern.parse::<IpAddr>().is_ok_and(|p| p == ip),
            (None, Some(_)) => false,
            (None, None) => host == pattern || host.ends_with(&format!(".{pattern}")),
        }
    })
}

/// `host:port`, `[v6]:port`, or the entry alone (a bare IPv6 address has no port).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_network(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_scheme_picks_the_variable_and_lower_case_wins() {
        let https = Url::parse("https://agent.example:8443").unwrap();
        let http = Url::parse("http://agent.example").unwrap();
        let vars = [("HTTPS_PROXY", "http://upper:1"), ("https_proxy", "http://lower:2"), ("HTTP_PROXY", "plain:3")];
        assert_eq!(resolve_with(&https, env(&vars)).unwrap().unwrap().display(), "http://lower:2");
        assert_eq!(resolve_with(&http, env(&vars)).unwrap().unwrap().display(), "http://plain:3");
        let all = [("ALL_PROXY", "socks5h://s:1080")];
        assert_eq!(resolve_with(&https, env(&all)).unwrap().unwrap().kind, Kind::Socks5 { remote_dns: true });
        assert!(resolve_with(&https, env(&[("HTTPS_PROXY", " ")])).unwrap().is_none());
    }

    #[test]
    fn no_proxy_matches_names_addresses_networks_and_ports() {
        assert!(bypassed("*", "x", 1));
        assert!(bypassed("example.com", "api.example.com", 443));
        assert!(bypassed(".example.com", "example.com", 443));
        assert!(!bypassed("example.com", "notexample.com", 443));
        assert!(bypassed("10.0.0.0/8, 127.0.0.1", "127.0.0.1", 80));
        assert!(bypassed("10.0.0.0/8", "10.1.2.3", 80));
        assert!(!bypassed("10.0.0.0/8", "11.1.2.3", 80));
        assert!(bypassed("::1", "::1", 80) && bypassed("[::1]:80", "::1", 80));
        assert!(bypassed("localhost:8080", "localhost", 8080) && !bypassed("localhost:8080", "localhost", 80));
        let target = Url::parse("http://127.0.0.1:9").unwrap();
        let vars = [("http_proxy", "http://p:1"), ("no_proxy", "127.0.0.1")];
        assert!(resolve_with(&target, env(&vars)).unwrap().is_none());
    }

    #[test]
    fn credentials_are_decoded_and_never_displayed() {
        let proxy = Proxy::parse("http://us%40er:p%3Ass@proxy:3128", "proxy=").unwrap();
        assert_eq!(proxy.credentials, Some(("us@er".to_owned(), "p:ss".to_owned())));
        assert_eq!(proxy.display(), "http://proxy:3128");
        assert!(!format!("{proxy:?}").contains("p:ss"));
        let e = Proxy::parse("ftp://user:hunter2@proxy", "HTTPS_PROXY").unwrap_err();
        assert!(!e.to_string().contains("hunter2") && e.to_string().contains("HTTPS_PROXY"), "{e}");
    }
}
