//! Our own tunnel under reqwest: REST calls and HTTP streams to an agent behind a tunnelling
//! proxy reach it through the same CONNECT (and SOCKS5) code as WebSockets.
//!
//! reqwest 0.13 has no hook to hand it a connection we opened, and its own CONNECT writes
//! header names in lower case (`proxy-authorization`), which proxies that match names
//! case-sensitively refuse with 407. So the pooled client is told to connect to a Unix socket
//! of ours instead (reqwest still speaks TLS to the agent over it, end to end), and a connector
//! layer opens the tunnel with [`Transport`](super::Transport)'s code *before* reqwest connects
//! to that socket: a refused tunnel is the request's error, with our message. The socket's
//! accept loop pairs each connection with a tunnel opened for it and copies bytes both ways
//! until either side closes.
//!
//! The socket lives in a fresh directory only the current user can enter (mode 0700), serves
//! only this process, and is removed once the client and its streams are gone. Any tunnel
//! serves any connection: a client talks to one agent, and only on the agent's own origin
//! (`redirect`).

use std::collections::VecDeque;
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tower_layer::Layer;
use tower_service::Service;

use super::BoxIo;
use crate::error::{Error, Result};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens one tunnel to the agent (through the proxy, no TLS: reqwest adds it).
pub type Opener = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<BoxIo>> + Send>> + Send + Sync>;

/// Tunnels opened for connections reqwest is about to make, oldest first, with when each was
/// opened.
type Ready = Arc<Mutex<VecDeque<(Instant, BoxIo)>>>;

/// A queued tunnel older than this is closed rather than used: reqwest connects to the socket
/// right after queueing one, so an old one was left by a connection that never came, and the
/// proxy may have dropped it since.
const STALE: Duration = Duration::from_secs(30);

/// At most this many tunnels wait; more means connections keep failing to arrive.
const MAX_READY: usize = 256;

/// The Unix socket reqwest connects to, its accept loop and the tunnels waiting for it.
pub struct Relay {
    dir: PathBuf,
    socket: PathBuf,
    serving: Mutex<Serving>,
    ready: Ready,
    open: Opener,
    /// The process that made the relay: a forked child must not remove its parent's socket.
    pid: u32,
}

/// The listener, until the accept loop takes it on the first connection, and that loop.
struct Serving {
    listener: Option<std::os::unix::net::UnixListener>,
    task: Option<JoinHandle<()>>,
    /// Device and inode of the directory we made: one found there later is ours only if they match.
    dir_id: (u64, u64),
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl Relay {
    /// Binds the relay's socket in a new private directory; `open` makes one tunnel.
    pub fn new(open: Opener) -> Result<Arc<Self>> {
        let dir = private_dir()?;
        let socket = dir.join("s");
        let made = std::fs::symlink_metadata(&dir).map(|m| (m.dev(), m.ino()));
        let bound = made.and_then(|id| bind(&socket).map(|listener| (id, listener)));
        let (dir_id, listener) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(Error::connection("could not set up the proxy relay socket", e));
            }
        };
        Ok(Arc::new(Self {
            dir,
            socket,
            serving: Mutex::new(Serving { listener: Some(listener), task: None, dir_id }),
            ready: Arc::default(),
            open,
            pid: std::process::id(),
        }))
    }

    /// Where reqwest connects.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The connector layer that opens a tunnel before each of reqwest's connections.
    pub fn layer(self: &Arc<Self>) -> TunnelLayer {
        TunnelLayer(Arc::clone(self))
    }

    /// Opens a tunnel and queues it for the next accepted connection; starts the accept loop.
    async fn prepare(&self) -> Result<()> {
        let tunnel = (self.open)().await?;
        self.serve()?;
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        if ready.len() >= MAX_READY {
            ready.pop_front();
        }
        ready.push_back((Instant::now(), tunnel));
        Ok(())
    }

    /// Starts the accept loop on the first connection, and binds the socket again (same path:
    /// reqwest knows no other) when something removed it: a temporary-file cleaner such as
    /// systemd-tmpfiles deletes old entries of `/tmp` under a client that lives for weeks.
    fn serve(&self) -> Result<()> {
        let mut serving = self.serving.lock().unwrap_or_else(PoisonError::into_inner);
        if std::fs::symlink_metadata(&self.socket).is_err() {
            let listener = self
                .rebind(&mut serving.dir_id)
                .map_err(|e| Error::connection("could not set up the proxy relay socket", e))?;
            if let Some(old) = serving.task.take() {
                old.abort();
            }
            serving.listener = Some(listener);
        }
        if let Some(listener) = serving.listener.take() {
            let owner = std::fs::symlink_metadata(&self.dir).map(|m| m.uid()).ok();
            serving.task = Some(crate::runtime::spawn(accept_loop(listener, Arc::clone(&self.ready), owner)));
        }
        Ok(())
    }

    /// The socket bound again in our directory, made again if it is gone; a directory at that
    /// place that is not the one we made (another owner could have put it there) is refused.
    fn rebind(&self, dir_id: &mut (u64, u64)) -> std::io::Result<std::os::unix::net::UnixListener> {
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {
                let made = std::fs::symlink_metadata(&self.dir)?;
                *dir_id = (made.dev(), made.ino());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let found = std::fs::symlink_metadata(&self.dir)?;
                if !found.is_dir() || (found.dev(), found.ino()) != *dir_id || found.mode() & 0o077 != 0 {
                    return Err(std::io::Error::other(format!(
                        "{} was replaced by something this client did not make",
                        self.dir.display()
                    )));
                }
            }
            Err(e) => return Err(e),
        }
        bind(&self.socket)
    }
}

/// A non-blocking listener on a new socket at `path`.
fn bind(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            return; // inherited over fork(): the socket and the task are the parent's
        }
        if let Some(task) = self.serving.get_mut().unwrap_or_else(PoisonError::into_inner).task.take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Accepts reqwest's connections and joins each to a queued tunnel. Only this process is
/// served (the peer's credentials say who connected); a connection with no fresh tunnel
/// waiting is closed at once.
async fn accept_loop(listener: std::os::unix::net::UnixListener, ready: Ready, owner: Option<u32>) {
    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, most likely: let some close before trying again.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !from_this_process(&stream, owner) {
            continue;
        }
        let tunnel = {
            let mut ready = ready.lock().unwrap_or_else(PoisonError::into_inner);
            while ready.front().is_some_and(|(opened, _)| opened.elapsed() > STALE) {
                ready.pop_front();
            }
            ready.pop_front()
        };
        if let Some((_, tunnel)) = tunnel {
            tokio::spawn(pipe(stream, tunnel));
        }
    }
}

/// Whether the peer of `stream` is this process (or, where the system does not tell the
/// peer's process, a process of the socket's owner).
fn from_this_process(stream: &tokio::net::UnixStream, owner: Option<u32>) -> bool {
    match stream.peer_cred() {
        Ok(cred) => match cred.pid() {
            Some(pid) => u32::try_from(pid).is_ok_and(|pid| pid == std::process::id()),
            None => owner == Some(cred.uid()),
        },
        Err(_) => false,
    }
}

/// Copies bytes both ways until either side is done; then both are closed.
async fn pipe(local: tokio::net::UnixStream, tunnel: BoxIo) {
    let (mut local_read, mut local_write) = tokio::io::split(local);
    let (mut tunnel_read, mut tunnel_write) = tokio::io::split(tunnel);
    let up = async {
        let _ = tokio::io::copy(&mut local_read, &mut tunnel_write).await;
        let _ = tunnel_write.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut tunnel_read, &mut local_write).await;
        let _ = local_write.shutdown().await;
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// A new directory in the temporary directory that only this user can enter.
fn private_dir() -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut bases = vec![std::env::temp_dir()];
    if Path::new("/tmp").is_dir() {
        bases.push(PathBuf::from("/tmp")); // a long TMPDIR may not fit a socket path (108 bytes)
    }
    let mut last = None;
    for base in bases {
        for _ in 0..16 {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let name =
                format!("synapse-agent-rs-{}-{}-{nanos:x}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let dir = base.join(name);
            if dir.join("s").as_os_str().len() >= 100 {
                break;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) => last = Some(e),
            }
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("the temporary directory's path is too long"));
    Err(Error::connection("could not set up the proxy relay directory", e))
}

/// reqwest connector layer: see the module documentation.
#[derive(Clone)]
pub struct TunnelLayer(Arc<Relay>);

impl<S> Layer<S> for TunnelLayer {
    type Service = TunnelService<S>;

    fn layer(&self, inner: S) -> TunnelService<S> {
        TunnelService { inner, relay: Arc::clone(&self.0) }
    }
}

/// Opens our tunnel, then lets reqwest's connector (set to the relay's socket) connect.
#[derive(Clone)]
pub struct TunnelService<S> {
    inner: S,
    relay: Arc<Relay>,
}

impl<S, R> Service<R> for TunnelService<S>
where
    S: Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The clone that was polled ready makes the call (tower's rule for services moved
        // into a future).
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let relay = Arc::clone(&self.relay);
        Box::pin(async move {
            relay.prepare().await.map_err(|e| Box::new(e) as BoxError)?;
            // Connecting to our own socket does not fail; a failure after it (TLS with the
            // agent) happens once the accept loop has taken the tunnel, which then closes.
            inner.call(request).await
        })
    }
}
