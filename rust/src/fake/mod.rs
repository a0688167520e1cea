//! The fake agent: a real HTTP/1.1 and WebSocket server on loopback, for tests and demos.
//!
//! It answers the agent's REST routes from in-memory jobs, streams job logs over WebSocket
//! (`jobs/{id}/logs/` upgraded) and chunked HTTP (`jobs/{id}/logs/stream/`), and misbehaves
//! on request (see [`JobScript`]). Every task runs on the shared runtime and ends on [`FakeAgent::stop`].

mod admin;
mod encode;
mod faults;
mod firehose;
mod http;
mod records;
mod reply;
mod rest;
mod script;
mod state;
mod tasks;
#[cfg(test)]
mod tests;
mod tls;
mod ws;

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

pub use faults::ConnPlan;
pub use script::{Fault, HttpFormat, JobScript, LineSource, Lines, Pacer, WsFormat};
pub use state::{CannedBody, CannedReply, RecordedRequest, StreamStats};
pub use tls::server_config;

use reply::Body;
use state::{lock, State};
use tasks::{Supervisor, Tasks};

/// Pending connections the listener queues (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;
/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// How long `stop` waits for the server's tasks to be gone.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A fake Synapse agent: jobs, canned answers and a record of requests, served while started.
///
/// The state (jobs, canned answers, recorded requests, stream counts) survives `stop`, so a
/// stopped agent can be inspected and started again.
#[derive(Debug, Default)]
pub struct FakeAgent {
    state: Arc<State>,
    running: Mutex<Option<Running>>,
    /// Serve HTTPS/WSS with this configuration (set before starting).
    tls: Mutex<Option<Arc<rustls::ServerConfig>>>,
}

#[derive(Debug)]
struct Running {
    addr: SocketAddr,
    supervisor: Supervisor,
}

impl FakeAgent {
    /// A stopped agent with no jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `host:port` (port 0 picks a free port) and serves until [`stop`](Self::stop).
    ///
    /// Requests must carry `Authorization: <agent_token>` unless the token is `None`.
    /// Starting a running agent does nothing and returns its address.
    pub fn start(&self, host: &str, port: u16, agent_token: Option<String>) -> io::Result<SocketAddr> {
        let mut running = lock(&self.running);
        if let Some(run) = running.as_ref() {
            return Ok(run.addr);
        }
        // NOTE: binding without awaiting keeps `start` synchronous and instant, even from an
        // event loop. The backlog is large because load tests open a thousand streams at once:
        // with the usual 128, the rest wait for SYN retransmits (1 s, then 3 s).
        let addr = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("no address for {host}")))?;
        let listener = {
            let runtime = crate::runtime::get();
            let _context = runtime.enter();
            let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(LISTEN_BACKLOG)?
        };
        let addr = listener.local_addr()?;
        let supervisor = Supervisor::new();
        let tls = lock(&self.tls).clone().map(tokio_rustls::TlsAcceptor::from);
        let server =
            Arc::new(Server { state: Arc::clone(&self.state), token: agent_token, tasks: supervisor.tasks(), tls });
        supervisor.tasks().spawn(accept_loop(listener, server));
        *running = Some(Running { addr, supervisor });
        Ok(addr)
    }

    /// Stops serving: closes the listener and every open connection, and waits (briefly) for them.
    ///
    /// Returns `false` if some connection task had not ended within the grace period.
    /// Stopping a stopped agent does nothing.
    pub fn stop(&self) -> bool {
        let run = lock(&self.running).take();
        run.is_none_or(|run| run.supervisor.shutdown(STOP_GRACE))
    }

    /// Serves TLS (`https`/`wss`) from the next start on; `None` goes back to plain TCP.
    pub fn set_tls(&self, config: Option<Arc<rustls::ServerConfig>>) {
        *lock(&self.tls) = config;
    }

    /// The bound address while running.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.running).as_ref().map(|run| run.addr)
    }

    /// Adds a job (replacing one with the same id), after checking its script.
    pub fn add_job(&self, script: JobScript) -> Result<(), String> {
        script.validate()?;
        self.state.add_job(script);
        Ok(())
    }

    /// Replaces the answer to `method path` (`path` relative to the base, e.g. `health/`).
    pub fn set_response(&self, method: &str, path: &str, reply: CannedReply) -> Result<(), String> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("{method:?} is not an HTTP method"))?;
        self.state.set_canned(method, path, reply);
        Ok(())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many log streams were opened, are open and were closed.
    pub fn stream_stats(&self) -> StreamStats {
        self.state.stream_stats()
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        // Signal only: a drop (from Python's garbage collector, say) must not block.
        if let Some(run) = lock(&self.running).take() {
            run.supervisor.shutdown(Duration::ZERO);
        }
    }
}

/// What every connection of one run shares.
struct Server {
    state: Arc<State>,
    token: Option<String>,
    tasks: Tasks,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => server.tasks.spawn(serve_connection(stream, Arc::clone(&server))),
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, server: Arc<Server>) {
    // Small writes (one paced line) must leave at once.
    let _ = stream.set_nodelay(true);
    match server.tls.clone() {
        None => serve_http(stream, server).await,
        Some(acceptor) => {
            // A client that fails the handshake (untrusted certificate, none given) just leaves.
            if let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                serve_http(stream, server).await;
            }
        }
    }
}

async fn serve_http<S>(stream: S, server: Arc<Server>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |req| {
        let server = Arc::clone(&server);
        async move { Ok::<_, Infallible>(server.handle(req).await) }
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await;
}

/// The two ways of streaming a job's log.
enum Stream {
    WebSocket,
    Http,
}

/// The job id and kind of a stream path (`jobs/{id}/logs/` or `jobs/{id}/logs/stream/`).
fn stream_route(path: &str) -> Option<(&str, Stream)> {
    let (job_id, tail) = path.strip_prefix("jobs/")?.split_once('/')?;
    match tail {
        "logs/" => Some((job_id, Stream::WebSocket)),
        "logs/stream/" => Some((job_id, Stream::Http)),
        _ => None,
    }
}

impl Server {
    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let upgrade = ws::wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(http_body_util::Collected::to_bytes).unwrap_or_default();
        self.state.record(&parts, &body);
        if !self.authorized(&parts.headers) {
            return reply::detail(StatusCode::UNAUTHORIZED, "Invalid agent token");
        }
        let path = parts.uri.path().strip_prefix('/').unwrap_or(parts.uri.path());
        // Canned answers replace REST answers; a WebSocket upgrade is never one.
        if let Some(canned) = upgrade.is_none().then(|| self.state.canned(&parts.method, path)).flatten() {
            return canned;
        }
        if parts.method == Method::GET {
            let job = |id: &str| self.state.job(&rest::decode(id)).map(|job| job.script);
            match (stream_route(path), upgrade) {
                (Some((id, Stream::WebSocket)), Some(upgrade)) => {
                    return match job(id) {
                        Some(script) => ws::answer(script, &parts.headers, upgrade, &self.state, &self.tasks).await,
                        None => rest::job_not_found(),
                    };
                }
                (Some((id, Stream::Http)), _) => {
                    return match job(id) {
                        Some(script) => http::answer(script, &self.state, &self.tasks).await,
                        None => rest::job_not_found(),
                    };
                }
                _ => {}
            }
        }
        let host = parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        rest::answer(&self.state, &parts.method, path, parts.uri.query().unwrap_or_default(), host, &body)
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.token
            .as_ref()
            .is_none_or(|token| headers.get(AUTHORIZATION).is_some_and(|v| v.as_bytes() == token.as_bytes()))
    }
}
