//! The one tokio runtime shared by every client, stream and fake agent of the process.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// The runtime and the process that built it: a forked child must not use its parent's.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The shared runtime, built on first use and rebuilt in a child process after `fork()`.
///
/// A forked child inherits the runtime's memory but none of its worker threads, so the
/// inherited runtime can never make progress; it is leaked (dropping it would try to join
/// threads that do not exist) and a fresh one is built.
pub fn get() -> Arc<Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Arc::clone(rt);
        }
    }
    if let Some((_, inherited)) = slot.take() {
        std::mem::forget(inherited);
    }
    let rt = Arc::new(build());
    *slot = Some((pid, Arc::clone(&rt)));
    rt
}

fn build() -> Runtime {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("synapse-io")
        .enable_all()
        .build()
        // NOTE: building fails only when the OS refuses threads or an epoll fd; there is no
        // sensible recovery for a network client then.
        .expect("failed to start the synapse-sdk tokio runtime")
}

/// Spawns a task on the shared runtime.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    get().spawn(fut)
}
