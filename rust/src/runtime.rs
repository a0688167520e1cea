//! The one tokio runtime shared by every client, stream and fake agent of the process.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// The environment variable that sizes the runtime: its number of worker threads.
pub const WORKER_THREADS_VAR: &str = "SYNAPSE_AGENT_RS_WORKER_THREADS";

/// The most worker threads the variable may ask for (a larger number is surely a typo).
pub const MAX_WORKER_THREADS: usize = 1024;

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

/// The default number of worker threads: one per available CPU (which honours CPU affinity and
/// cgroup quotas), at least 2 and at most 8.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// The worker threads asked for by [`WORKER_THREADS_VAR`]'s value: a whole number from 1 to
/// [`MAX_WORKER_THREADS`] (surrounding whitespace allowed), or what is wrong with it.
pub fn parse_workers(value: &str) -> Result<usize, String> {
    let text = value.trim();
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_WORKER_THREADS).contains(&n) => Ok(n),
        _ => {
            // The value is the user's own setting, but keep the message one short line.
            let shown: String = value.chars().take(40).flat_map(char::escape_debug).collect();
            Err(format!("{WORKER_THREADS_VAR}=\"{shown}\" is not a whole number from 1 to {MAX_WORKER_THREADS}"))
        }
    }
}

/// The worker threads to start: [`WORKER_THREADS_VAR`] when it is set (read once, when the
/// runtime is built), else [`default_workers`]. A bad value is reported on stderr, in one line,
/// and the default is used: the client still works, and the line says why the setting did not.
fn workers() -> usize {
    let Some(value) = std::env::var_os(WORKER_THREADS_VAR) else { return default_workers() };
    let parsed =
        value.to_str().ok_or_else(|| format!("{WORKER_THREADS_VAR} is not UTF-8 text")).and_then(parse_workers);
    parsed.unwrap_or_else(|why| {
        let workers = default_workers();
        eprintln!("synapse-agent-rs: warning: {why}; using the default, {workers} worker threads");
        workers
    })
}

fn build() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_take_a_whole_number_from_1_to_the_maximum() {
        assert_eq!(parse_workers("1"), Ok(1));
        assert_eq!(parse_workers(" 4\n"), Ok(4));
        assert_eq!(parse_workers("1024"), Ok(MAX_WORKER_THREADS));
        for bad in ["", "0", "-1", "2.5", "two", "1025", "99999999999999999999999"] {
            let why = parse_workers(bad).unwrap_err();
            assert!(why.starts_with(WORKER_THREADS_VAR), "{why}");
            assert!(why.contains("from 1 to 1024"), "{why}");
        }
        // A control character is shown escaped, and a long value cut.
        let why = parse_workers(&format!("\u{1b}[2J{}", "9".repeat(100))).unwrap_err();
        assert!(!why.contains('\u{1b}') && why.contains("\\u{1b}") && why.len() < 160, "{why}");
    }
}
