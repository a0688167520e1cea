//! [`Transport`]: the connection settings of one agent client, and its pooled HTTP client.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::Url;
use tokio::time::timeout;

use super::proxy::{self, Kind, Proxy};
#[cfg(unix)]
use super::relay;
use super::tls::{self, TlsOptions};
use super::{connect, redirect, BoxIo};
use crate::error::{Error, Result};

/// The `User-Agent` sent unless the client sets another.
pub const DEFAULT_USER_AGENT: &str = concat!("synapse-agent-rs/", env!("CARGO_PKG_VERSION"));

/// Headers `headers=` may not set: the tokens have their own arguments, and the rest belong to
/// the HTTP and WebSocket framing.
const RESERVED: [&str; 9] = [
    "authorization",
    "synapse-user",
    "synapse-tenant",
    "host",
    "connection",
    "upgrade",
    "content-length",
    "transfer-encoding",
    "proxy-authorization",
];

/// What a transport is built from.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Every connection (TCP, and the proxy's answer) must be made within this.
    pub connect_timeout: Duration,
    pub tls: TlsOptions,
    /// `proxy=`: a proxy URL that overrides the environment.
    pub proxy: Option<String>,
    /// Whether proxy variables and `SSL_CERT_FILE`/`SSL_CERT_DIR` are read.
    pub trust_env: bool,
    /// `user_agent=`; `None` sends [`DEFAULT_USER_AGENT`] (or a `User-Agent` of `headers`).
    pub user_agent: Option<String>,
    /// `headers=`: extra headers on every request.
    pub headers: Vec<(String, String)>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            tls: TlsOptions { trust_env: true, ..TlsOptions::default() },
            proxy: None,
            trust_env: true,
            user_agent: None,
            headers: Vec::new(),
        }
    }
}

/// How one agent client reaches its agent, shared by REST calls, HTTP streams and WebSockets.
pub struct Transport {
    /// The agent's base URL: where the relay's tunnels lead (see [`route`]).
    agent: Url,
    tls: Arc<rustls::ClientConfig>,
    proxy: Option<Proxy>,
    connect_timeout: Duration,
    /// `User-Agent` and the `headers=` of every request.
    headers: HeaderMap,
    /// The pooled client and the process that built it.
    ///
    /// Rebuilt in a child after `fork()`: pooled connections are driven by tasks of the
    /// parent's runtime, which the child does not have, so reusing them would hang.
    pooled: Mutex<(u32, reqwest::Client)>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("proxy", &self.proxy)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Builds the settings for reaching `agent` (the base URL): TLS, proxy, headers, pool.
    pub fn new(agent: &Url, options: TransportOptions) -> Result<Self> {
        let tls = tls::client_config(&options.tls)?;
        let proxy = proxy::resolve(options.proxy.as_deref(), options.trust_env, agent)?;
        let headers = default_headers(options.user_agent.as_deref(), &options.headers)?;
        let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        let routed = route(&tls, proxy.as_ref(), options.connect_timeout, agent, user_agent)?;
        let client = build_client(&tls, routed, options.connect_timeout, &headers)?;
        Ok(Self {
            agent: agent.clone(),
            tls,
            proxy,
            connect_timeout: options.connect_timeout,
            headers,
            pooled: Mutex::new((std::process::id(), client)),
        })
    }

    /// The agent's base URL.
    pub fn agent(&self) -> &Url {
        &self.agent
    }

    /// The proxy in use, if any.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// A clear error naming the proxy (never its credentials) when a reqwest failure came
    /// from it: refused tunnel (407, 403, 502...), SOCKS refusal, or no connection to it.
    pub fn proxy_error(&self, error: &reqwest::Error) -> Option<String> {
        let proxy = self.proxy.as_ref()?;
        if super::redirect::find_refused(error).is_some() || super::tls_failure(error).is_some() {
            return None; // the agent's own problem, through the tunnel
        }
        if !error.is_connect() || error.is_timeout() {
            return None;
        }
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        let mut innermost = String::new();
        while let Some(e) = current {
            let text = e.to_string();
            if text.ends_with("failed to create underlying connection") {
                current = e.source(); // the proxy could not be reached: its cause says why
                continue;
            }
            if text.starts_with("tunnel error: proxy authorization required") {
                return Some(format!(
                    "the proxy {} requires authentication (407): {}",
                    proxy.display(),
                    proxy.auth_hint()
                ));
            }
            if text.starts_with("tunnel error: unsuccessful") {
                return Some(format!(
                    "the proxy {} refused the tunnel to the agent (a non-2xx answer to CONNECT, such as 403 or 502)",
                    proxy.display()
                ));
            }
            if text.starts_with("SOCKS error") {
                return Some(format!("the SOCKS proxy {} refused the connection: {text}", proxy.display()));
            }
            innermost = text;
            current = e.source();
        }
        Some(format!("could not connect through the proxy {}: {innermost}", proxy.display()))
    }

    /// A 407 answer can only come from a proxy forwarding plain HTTP: say so, naming it.
    pub fn proxy_status(&self, code: u16) -> Result<()> {
        match &self.proxy {
            Some(proxy) if code == 407 => Err(Error::connection_msg(format!(
                "the proxy {} requires authentication (407): {}",
                proxy.display(),
                proxy.auth_hint()
            ))),
            _ => Ok(()),
        }
    }

    /// The `User-Agent` of every request (and of our CONNECT), when it is plain text.
    fn user_agent(&self) -> Option<&str> {
        self.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
    }

    /// The headers every request carries besides the tokens (`User-Agent`, `headers=`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The pooled HTTP client of this process, for REST calls and HTTP streams.
    pub fn http(&self) -> Result<reqwest::Client> {
        let mut pooled = self.pooled.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if pooled.0 != pid {
            let routed = route(&self.tls, self.proxy.as_ref(), self.connect_timeout, &self.agent, self.user_agent())?;
            *pooled = (pid, build_client(&self.tls, routed, self.connect_timeout, &self.headers)?);
        }
        Ok(pooled.1.clone())
    }

    /// Opens a byte stream to the host of `url` (through the proxy, if any), with TLS for
    /// `https`/`wss`. TLS is always to the agent, end to end, also through a proxy.
    pub async fn connect(&self, url: &Url) -> Result<BoxIo> {
        let (host, port, use_tls) = connect::target(url)?;
        let io = match &self.proxy {
            None => Box::new(connect::tcp(&host, port, self.connect_timeout).await?) as BoxIo,
            Some(proxy) => tunnel(&self.tls, proxy, self.connect_timeout, (&host, port), self.user_agent()).await?,
        };
        if use_tls {
            connect::tls(Arc::clone(&self.tls), &host, io).await
        } else {
            Ok(io)
        }
    }
}

/// A connection to `host:port` through `proxy` (CONNECT or SOCKS5), made within
/// `connect_timeout`: the one tunnel code of WebSockets, REST calls and HTTP streams.
async fn tunnel(
    tls: &Arc<rustls::ClientConfig>,
    proxy: &Proxy,
    connect_timeout: Duration,
    (host, port): (&str, u16),
    user_agent: Option<&str>,
) -> Result<BoxIo> {
    let open = async {
        let tcp = connect::tcp(&proxy.host, proxy.port, connect_timeout).await.map_err(|e| match e {
            Error::Connection { detail, source } => Error::Connection {
                detail: format!(
                    "could not connect through the proxy {}: {}",
                    proxy.display(),
                    detail.rsplit(": ").next().unwrap_or(&detail)
                ),
                source,
            },
            other => other,
        })?;
        match proxy.kind {
            Kind::Http { tls: false } => connect::http_tunnel(Box::new(tcp), proxy, host, port, user_agent).await,
            Kind::Http { tls: true } => {
                let io = connect::tls(Arc::clone(tls), &proxy.host, tcp).await?;
                connect::http_tunnel(io, proxy, host, port, user_agent).await
            }
            Kind::Socks5 { remote_dns } => connect::socks5(tcp, proxy, host, port, remote_dns).await,
        }
    };
    match timeout(connect_timeout, open).await {
        Ok(io) => io,
        Err(_) => Err(Error::Timeout(format!(
            "the proxy {} did not open a connection to {host}:{port} within {connect_timeout:?}",
            proxy.display()
        ))),
    }
}

/// Idle pooled connections kept per host (REST calls and ended HTTP streams reuse them).
pub const POOL_MAX_IDLE_PER_HOST: usize = 16;
/// How long an idle pooled connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the pooled client reaches the agent: directly, through reqwest's proxy support (an
/// HTTP proxy forwarding plain `http://` requests), or through our own tunnel (everything a
/// proxy must tunnel: CONNECT for `https://` agents, and SOCKS5).
fn route(
    tls: &Arc<rustls::ClientConfig>,
    proxy: Option<&Proxy>,
    connect_timeout: Duration,
    agent: &Url,
    user_agent: Option<&str>,
) -> Result<Route> {
    let Some(proxy) = proxy else {
        return Ok(Route::Direct);
    };
    let forwards = matches!(proxy.kind, Kind::Http { .. }) && agent.scheme().eq_ignore_ascii_case("http");
    #[cfg(unix)]
    if !forwards {
        let (host, port, _) = connect::target(agent)?;
        let (tls, proxy, user_agent) = (Arc::clone(tls), proxy.clone(), user_agent.map(str::to_owned));
        let open: relay::Opener = Arc::new(move || {
            let (tls, proxy, host) = (Arc::clone(&tls), proxy.clone(), host.clone());
            let agent = user_agent.clone();
            Box::pin(async move { tunnel(&tls, &proxy, connect_timeout, (&host, port), agent.as_deref()).await })
        });
        // A system where no private socket can be made (no writable temporary directory)
        // still gets reqwest's own tunnel, which most proxies accept.
        if let Ok(relay) = relay::Relay::new(open) {
            return Ok(Route::Relay(relay));
        }
    }
    #[cfg(not(unix))]
    let _ = (tls, connect_timeout, forwards, user_agent); // no Unix socket for the relay: reqwest's own tunnel
    Ok(Route::Reqwest(Box::new(proxy.for_reqwest()?)))
}

/// See [`route`].
enum Route {
    Direct,
    Reqwest(Box<reqwest::Proxy>),
    #[cfg(unix)]
    Relay(Arc<relay::Relay>),
}

/// The pooled reqwest client on the transport's settings: same-origin redirects only, no
/// `Referer`, the proxy chosen once (reqwest's own environment lookup is off).
fn build_client(
    tls: &Arc<rustls::ClientConfig>,
    route: Route,
    connect_timeout: Duration,
    headers: &HeaderMap,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured((**tls).clone())
        .connect_timeout(connect_timeout)
        .default_headers(headers.clone())
        .redirect(redirect::policy())
        .referer(false)
        // `Proxy-Authorization`, not `proxy-authorization`, on requests forwarded by an HTTP
        // proxy: some proxies (pproxy, for one) match header names case-sensitively. (Tunnels
        // are ours, see `route`: reqwest's CONNECT writes every name in lower case.)
        .http1_title_case_headers()
        // Idle keep-alive connections kept per host: a bulk tail of thousands of HTTP streams
        // would otherwise leave one idle socket per ended stream for the pool's idle timeout.
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .no_proxy();
    match route {
        Route::Direct => {}
        Route::Reqwest(proxy) => builder = builder.proxy(*proxy),
        #[cfg(unix)]
        Route::Relay(relay) => builder = builder.unix_socket(relay.socket()).connector_layer(relay.layer()),
    }
    builder.build().map_err(|e| Error::connection("could not set up the HTTP client", e))
}

/// `User-Agent` and the extra headers, checked: a CR, LF or NUL in a value, an invalid name or
/// a reserved name is a 400.
fn default_headers(user_agent: Option<&str>, extra: &[(String, String)]) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in extra {
        let (name, value) = header(name, value)?;
        if RESERVED.contains(&name.as_str()) || name.as_str().starts_with("sec-websocket-") {
            return Err(Error::InvalidArgument(format!("headers= may not set {name}")));
        }
        headers.append(name, value);
    }
    if let Some(agent) = user_agent {
        headers.insert(USER_AGENT, header("User-Agent", agent)?.1);
    } else if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
    }
    Ok(headers)
}

/// One header, checked; the message names the header, never its value (it may be a secret).
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let parsed_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::InvalidArgument(format!("invalid header name {:?}", name.escape_debug().to_string())))?;
    let parsed_value = HeaderValue::from_str(value).map_err(|_| {
        Error::InvalidArgument(format!(
            "the value of the {name} header contains characters not allowed in HTTP headers (CR, LF, NUL or other controls)"
        ))
    })?;
    Ok((parsed_name, parsed_value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_and_the_user_agent_defaults() {
        let headers = default_headers(None, &[("X-Team".into(), "ml".into())]).unwrap();
        assert_eq!(headers[USER_AGENT], DEFAULT_USER_AGENT);
        assert_eq!(headers["x-team"], "ml");
        let own = default_headers(Some("mine/1"), &[("User-Agent".into(), "theirs".into())]).unwrap();
        assert_eq!(own[USER_AGENT], "mine/1");
        let bad = default_headers(None, &[("X-A".into(), "a\r\nInjected: 1".into())]).unwrap_err();
        assert_eq!(bad.status_code(), 400);
        assert!(!bad.to_string().contains("Injected"), "{bad}");
        assert_eq!(default_headers(None, &[("Authorization".into(), "x".into())]).unwrap_err().status_code(), 400);
        assert_eq!(default_headers(None, &[("Bad Name".into(), "x".into())]).unwrap_err().status_code(), 400);
    }
}
