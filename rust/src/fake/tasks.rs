//! The server's tasks: spawned on the shared runtime, all ended by `stop`, which waits for them.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::state::lock;

/// Owns the stop signal of one run of the server.
#[derive(Debug)]
pub(super) struct Supervisor {
    stop: watch::Sender<bool>,
    tasks: Tasks,
}

/// Spawns tasks that end when the server stops; cheap to clone into the tasks themselves.
#[derive(Debug, Clone)]
pub(super) struct Tasks {
    stop: watch::Receiver<bool>,
    live: Arc<Live>,
}

#[derive(Debug, Default)]
struct Live {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Supervisor {
    /// A supervisor with no tasks yet.
    pub fn new() -> Self {
        let (stop, rx) = watch::channel(false);
        Self { stop, tasks: Tasks { stop: rx, live: Arc::default() } }
    }

    /// The spawner of this run.
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// Ends every task (dropping a task closes its sockets) and waits up to `grace` for them to be gone.
    ///
    /// Returns `false` if some task was still running when `grace` ran out.
    pub fn shutdown(self, grace: Duration) -> bool {
        self.stop.send_replace(true);
        let count = lock(&self.tasks.live.count);
        let (count, timeout) = self
            .tasks
            .live
            .idle
            .wait_timeout_while(count, grace, |n| *n > 0)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *count == 0 || !timeout.timed_out()
    }
}

impl Tasks {
    /// Runs `fut` on the shared runtime until it ends or the server stops.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        *lock(&self.live.count) += 1;
        let guard = TaskGuard(Arc::clone(&self.live));
        let mut stop = self.stop.clone();
        crate::runtime::spawn(async move {
            let _guard = guard;
            tokio::select! {
                () = fut => {}
                // An error means the supervisor is gone, which also means stop.
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        });
    }
}

/// Counts a task as live until dropped, whether the task ended, was stopped or its runtime died.
struct TaskGuard(Arc<Live>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut count = lock(&self.0.count);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}
