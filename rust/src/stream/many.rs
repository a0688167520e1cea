//! Many log streams read as one (`tail_many`, `follow_jobs`).
//!
//! Every stream is the usual reader task with its own bounded queue ([`tail::start_on`]).
//! A stream with something to take puts its key on one ready list, and only the push that
//! makes the list non-empty wakes the consumer: a thousand streams cost one waiter and one
//! wake-up per burst, not a thousand. Connections are opened through a gate (at most
//! `max_connecting` handshakes in flight) and every queue also draws on one byte budget, so
//! the lines buffered by all streams together stay under `max_buffered_bytes`.
//!
//! In follow mode a task polls the agent's job list: it starts at most `max_followed` streams
//! (the other listed jobs wait, [`Many::waiting`]), backs off while the listing fails, and
//! reports each change of the listing's state once ([`Next::Listing`]). Closing the set aborts
//! that task and drops the stream template, so nothing of the client's transport is held.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::rest::urls;
use crate::runtime;
use crate::stream::cursor::{Position, Running};
use crate::stream::queue::{self, Batch, Budget, Take, Wake};
use crate::stream::spec::TailSpec;
use crate::stream::stats::Level;
use crate::stream::tail::{self, Tail};

/// The ready-list key of the follow-mode listing (stream keys count up from 0).
const LISTING: u64 = u64::MAX;
/// Changes of the listing's state kept for the consumer; the oldest go beyond this.
const MAX_LISTING_EVENTS: usize = 64;
/// The longest wait between two polls while the listing fails (or `interval`, if longer).
pub const MAX_POLL_BACKOFF: Duration = Duration::from_secs(30);

/// Bounds shared by all the streams of one [`Many`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Connections being opened at once (handshake or response headers pending).
    pub max_connecting: usize,
    /// Bytes of line text buffered by all streams together, batches being drained included.
    pub max_buffered_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { max_connecting: 64, max_buffered_bytes: 64 << 20 }
    }
}

/// What happened on one stream.
#[derive(Debug)]
pub enum Event {
    /// Lines received.
    Batch(Batch),
    /// The stream is over: `Ok` when it completed, else why it failed.
    End(Result<()>),
}

/// One event of one stream.
#[derive(Debug)]
pub struct Item {
    /// The stream, for [`Many::release`].
    pub key: u64,
    pub job: Arc<str>,
    pub event: Event,
    /// Where a batch starts and ends in its job's text, when the streams keep a cursor.
    pub marks: Option<(Running, Running)>,
    /// The stream's log records (resume attempts) since its last item.
    pub notes: Option<Vec<(Level, String)>>,
}

/// What [`Many::next`] found.
#[derive(Debug)]
pub enum Next {
    Item(Item),
    /// Follow mode: the job listing started failing (`Some`), fails differently, or works
    /// again (`None`). Reported once per change, not per poll.
    Listing(Option<Error>),
    /// Nothing now; streams are running (or jobs may still be picked up).
    Empty,
    /// Nothing more will come: every stream ended or was removed (and nothing is followed), or closed.
    Idle,
}

/// The ready list and the consumer's wake-up, guarded together.
struct Ready {
    keys: VecDeque<u64>,
    waker: Option<Wake>,
    /// Streams running.
    live: usize,
    following: bool,
    closed: bool,
}

impl Ready {
    fn idle(&self) -> bool {
        self.closed || (self.live == 0 && !self.following)
    }
}

struct Signal {
    ready: Mutex<Ready>,
    cond: Condvar,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, Ready> {
        self.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a stream's key; the first key of a burst wakes the consumer.
    fn push(&self, key: u64) {
        let mut ready = self.lock();
        let first = ready.keys.is_empty();
        ready.keys.push_back(key);
        if first {
            self.wake(ready);
        }
    }

    /// Wakes the consumer (after the guard is released).
    fn wake(&self, mut ready: MutexGuard<'_, Ready>) {
        let waker = ready.waker.take();
        drop(ready);
        self.cond.notify_all();
        if let Some(wake) = waker {
            wake();
        }
    }
}

struct Entry {
    job: Arc<str>,
    tail: Tail,
}

#[derive(Default)]
struct Streams {
    by_key: HashMap<u64, Entry>,
    by_job: HashMap<Arc<str>, u64>,
    next_key: u64,
}

/// The follow-mode listing as the consumer sees it.
#[derive(Default)]
struct Listing {
    /// The last poll's failure, cleared by a good poll.
    error: Option<Error>,
    /// Changes not yet taken by the consumer (`Some` failing, `None` working again).
    changes: VecDeque<Option<Error>>,
    /// Listed jobs not followed for want of a slot (`max_followed`), from the last good poll.
    waiting: Vec<String>,
}

/// What makes two poll failures "the same" for reporting: the kind of error and its status.
fn failure_kind(error: &Error) -> (std::mem::Discriminant<Error>, u16) {
    (std::mem::discriminant(error), error.status_code())
}

/// The wait before the next poll after `failures` failed polls in a row: `interval`, then
/// doubling from the second failure on, up to [`MAX_POLL_BACKOFF`] (or `interval` if longer).
pub fn poll_delay(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval.saturating_mul(factor).min(MAX_POLL_BACKOFF.max(interval))
}

/// A set of log streams read through one ready list.
pub struct Many {
    signal: Arc<Signal>,
    streams: Mutex<Streams>,
    /// The spec every stream is made from (its `job_id` replaced); dropped on close, so a
    /// closed set holds nothing of the client's transport (its pooled connections).
    template: Mutex<Option<TailSpec>>,
    gate: Arc<Semaphore>,
    budget: Budget,
    listing: Mutex<Listing>,
    /// The follow-mode poll task, aborted on close.
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Checkpoints to start jobs from when they are added (`resume_from`), taken on use.
    origins: Mutex<HashMap<String, Position>>,
    /// Whether the streams keep a cursor (resume, or checkpoints to start from).
    cursors: bool,
    /// job -> the cursor at the start of the last batch of it taken, or after the lines of it
    /// a view said it handed out ([`Self::note_cursor`]); bounded.
    taken: Mutex<HashMap<Arc<str>, Position>>,
}

impl Many {
    /// An empty set whose streams are made from `template`.
    pub fn new(template: TailSpec, settings: Settings) -> Arc<Self> {
        let cursors = template.resume.is_some() || template.track;
        Arc::new(Self {
            signal: Arc::new(Signal {
                ready: Mutex::new(Ready {
                    keys: VecDeque::new(),
                    waker: None,
                    live: 0,
                    following: false,
                    closed: false,
                }),
                cond: Condvar::new(),
            }),
            streams: Mutex::new(Streams::default()),
            template: Mutex::new(Some(template)),
            gate: Arc::new(Semaphore::new(settings.max_connecting.max(1))),
            budget: Budget::new(settings.max_buffered_bytes),
            listing: Mutex::new(Listing::default()),
            follower: Mutex::new(None),
            origins: Mutex::new(HashMap::new()),
            cursors,
            taken: Mutex::new(HashMap::new()),
        })
    }

    /// Jobs to start from these cursors when they are added (by [`Self::add`] or the follow poll).
    pub fn start_from(&self, origins: HashMap<String, Position>) {
        self.origins.lock().unwrap_or_else(PoisonError::into_inner).extend(origins);
    }

    /// Records the cursor after the lines of `job` handed out (the consumer's, when it hands
    /// out part of a batch and stops).
    pub fn note_cursor(&self, job: &Arc<str>, at: Position) {
        let streams = self.streams();
        self.note_cursor_in(&streams, job, at);
    }

    /// Cursors kept at most; beyond, those of jobs no longer streaming are forgotten.
    const MAX_CURSORS: usize = 100_000;

    fn note_cursor_in(&self, streams: &Streams, job: &Arc<str>, at: Position) {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.len() >= Self::MAX_CURSORS && !taken.contains_key(job) {
            taken.retain(|j, _| streams.by_job.contains_key(j));
        }
        taken.insert(Arc::clone(job), at);
    }

    /// The cursor of `job` kept (see the `taken` field).
    pub fn cursor(&self, job: &str) -> Option<Position> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner).get(job).copied()
    }

    /// The jobs with a cursor kept.
    pub fn cursor_jobs(&self) -> Vec<String> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner).keys().map(|j| j.to_string()).collect()
    }

    /// Whether the streams keep a cursor (resume, or checkpoints to start from).
    pub fn keeps_cursors(&self) -> bool {
        self.cursors
    }

    /// Where a job being tailed started (its checkpoint's cursor, or the start).
    pub fn origin(&self, job: &str) -> Option<Position> {
        let streams = self.streams();
        let key = streams.by_job.get(job)?;
        streams.by_key.get(key).map(|e| e.tail.ledger.origin())
    }

    fn streams(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn listing(&self) -> MutexGuard<'_, Listing> {
        self.listing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn closed(&self) -> bool {
        self.signal.lock().closed
    }

    /// Starts tailing `job`; `false` when it is already tailed here or the set is closed.
    pub fn add(&self, job: &str) -> Result<bool> {
        urls::validate_resource_id(job, "job_id")?;
        let mut streams = self.streams();
        if streams.by_job.contains_key(job) || self.closed() {
            return Ok(false);
        }
        let Some(mut spec) = self.template.lock().unwrap_or_else(PoisonError::into_inner).clone() else {
            return Ok(false); // closed
        };
        spec.job_id = job.to_owned();
        spec.resume_from = self.origins.lock().unwrap_or_else(PoisonError::into_inner).remove(job);
        let queue = queue::channel_in(spec.limits.queue_size, Some(self.budget.clone()));
        let tail = tail::start_on(spec, queue, Some(Arc::clone(&self.gate)));
        let key = streams.next_key;
        streams.next_key += 1;
        let job: Arc<str> = Arc::from(job);
        streams.by_job.insert(Arc::clone(&job), key);
        self.arm(key, &tail);
        streams.by_key.insert(key, Entry { job, tail });
        self.signal.lock().live += 1;
        Ok(true)
    }

    /// Stops tailing `job` at once (its connection closes, its buffered lines are dropped,
    /// no end event follows); `false` when it was not tailed.
    pub fn remove(&self, job: &str) -> bool {
        let mut streams = self.streams();
        let Some(key) = streams.by_job.remove(job) else { return false };
        let entry = streams.by_key.remove(&key);
        drop(streams);
        drop(entry); // closes the connection
        let mut ready = self.signal.lock();
        ready.live -= 1;
        if ready.idle() {
            self.signal.wake(ready);
        }
        true
    }

    /// Asks `key`'s queue to push the key on the ready list when it has something.
    fn arm(&self, key: u64, tail: &Tail) {
        let signal = Arc::clone(&self.signal);
        tail.consumer.on_ready(Box::new(move || signal.push(key)));
    }

    /// The next batch or end of any stream, without waiting.
    ///
    /// Call [`Self::release`] with the previous batch before calling this again, so that its
    /// lines and bytes stop counting against its stream's queue and the shared budget.
    pub fn next(&self) -> Next {
        loop {
            let key = {
                let mut ready = self.signal.lock();
                match ready.keys.pop_front() {
                    Some(key) => key,
                    None if ready.idle() => return Next::Idle,
                    None => return Next::Empty,
                }
            };
            if key == LISTING {
                match self.listing().changes.pop_front() {
                    Some(change) => return Next::Listing(change),
                    None => continue, // dropped past the bound
                }
            }
            let mut streams = self.streams();
            let Some(entry) = streams.by_key.get_mut(&key) else { continue }; // removed meanwhile
            match entry.tail.consumer.try_take(Batch::default()) {
                Take::Batch(batch) => {
                    let job = Arc::clone(&entry.job);
                    let marks = entry.tail.ledger.taken();
                    let notes = entry.tail.consumer.stats().take_notes();
                    self.arm(key, &entry.tail);
                    // The batch's start: its lines count once the view says it handed them out
                    // (`note_cursor`), so a checkpoint is never ahead of what the caller got.
                    if let Some((start, _)) = &marks {
                        self.note_cursor_in(&streams, &job, start.position());
                    }
                    return Next::Item(Item { key, job, event: Event::Batch(batch), marks, notes });
                }
                Take::Empty => self.arm(key, &entry.tail),
                Take::End(outcome) => {
                    let notes = entry.tail.consumer.stats().take_notes();
                    let entry = streams.by_key.remove(&key);
                    let job = entry.map_or_else(|| Arc::from(""), |e| e.job);
                    streams.by_job.remove(&job);
                    drop(streams);
                    self.signal.lock().live -= 1;
                    return Next::Item(Item { key, job, event: Event::End(outcome), marks: None, notes });
                }
            }
        }
    }

    /// Gives back the batch of `key` taken last, drained (see [`Self::next`]).
    pub fn release(&self, key: u64, drained: Batch) {
        if let Some(entry) = self.streams().by_key.get_mut(&key) {
            entry.tail.consumer.release(drained);
        }
    }

    /// Waits up to `timeout` for something to take; returns whether there is (or nothing more will come).
    pub fn wait(&self, timeout: Duration) -> bool {
        let ready = self.signal.lock();
        let (ready, _) = self
            .signal
            .cond
            .wait_timeout_while(ready, timeout, |r| r.keys.is_empty() && !r.idle())
            .unwrap_or_else(PoisonError::into_inner);
        !ready.keys.is_empty() || ready.idle()
    }

    /// Registers a hook called once when something is to take; called at once if something is.
    pub fn on_ready(&self, wake: Wake) {
        let mut ready = self.signal.lock();
        if ready.keys.is_empty() && !ready.idle() {
            ready.waker = Some(wake);
        } else {
            drop(ready);
            wake();
        }
    }

    /// Closes every stream at once and stops the follow-mode poll (no listing is sent after
    /// this returns); [`Self::next`] answers `Idle` from now on.
    pub fn close(&self) {
        // Marked closed first: a poll task between two steps sees it before sending anything.
        self.signal.lock().closed = true;
        if let Some(follower) = self.follower.lock().unwrap_or_else(PoisonError::into_inner).take() {
            follower.abort();
        }
        let template = self.template.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(template);
        let mut streams = self.streams();
        let entries: Vec<Entry> = streams.by_key.drain().map(|(_, e)| e).collect();
        streams.by_job.clear();
        drop(streams);
        drop(entries);
        let mut ready = self.signal.lock();
        ready.closed = true;
        ready.live = 0;
        ready.keys.clear();
        self.signal.wake(ready);
    }

    /// The jobs being tailed.
    pub fn jobs(&self) -> Vec<String> {
        self.streams().by_job.keys().map(|j| j.to_string()).collect()
    }

    /// Bytes of line text buffered now, over all streams.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.total() - self.budget.available()
    }

    /// The last failure of the follow-mode poll, if the last poll failed.
    pub fn poll_error(&self) -> Option<Error> {
        self.listing().error.clone()
    }

    /// Follow mode: the listed jobs not followed for want of a slot (`max_followed`), as of
    /// the last good poll.
    pub fn waiting(&self) -> Vec<String> {
        self.listing().waiting.clone()
    }

    /// Keeps the set open (never `Idle`) when no stream is left, for callers that add jobs themselves.
    pub fn keep_open(&self) {
        self.signal.lock().following = true;
    }

    /// Follow mode: every `interval`, `poll` lists the running jobs, and each one not seen
    /// in the previous listings is tailed, while fewer than `max_followed` streams run (the
    /// other listed jobs wait for the next poll, see [`Self::waiting`]). The set stays open
    /// (never `Idle`) until closed.
    ///
    /// A job is tailed once while it stays listed: a job that ended, failed or was removed is
    /// not tailed again while the agent still lists it as running (its log would be replayed).
    /// A failed poll is kept ([`Self::poll_error`]); the next one comes after a growing delay
    /// ([`poll_delay`]), and each change of the listing's state is reported once
    /// ([`Next::Listing`]).
    pub fn follow<P, F>(self: &Arc<Self>, interval: Duration, max_followed: usize, poll: P)
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<Vec<String>>> + Send,
    {
        self.keep_open();
        let this: Weak<Self> = Arc::downgrade(self);
        let max_followed = max_followed.max(1);
        let task = runtime::spawn(async move {
            let mut seen: HashSet<String> = HashSet::new();
            let mut failures: u32 = 0;
            loop {
                // Checked before every poll: no listing (it carries the token) once closed.
                if this.upgrade().is_none_or(|many| many.closed()) {
                    return;
                }
                let listed = poll().await;
                let Some(many) = this.upgrade() else { return };
                if many.closed() {
                    return;
                }
                let good = many.take_listing(listed, &mut seen, max_followed);
                drop(many);
                failures = if good { 0 } else { failures.saturating_add(1) };
                tokio::time::sleep(poll_delay(interval, failures)).await;
            }
        });
        let mut follower = self.follower.lock().unwrap_or_else(PoisonError::into_inner);
        if self.closed() {
            task.abort();
        } else {
            *follower = Some(task);
        }
    }

    /// Takes one poll's outcome; `true` when the listing worked.
    fn take_listing(&self, listed: Result<Vec<String>>, seen: &mut HashSet<String>, max_followed: usize) -> bool {
        let jobs = match listed {
            Err(e) => {
                self.listing_state(Some(e));
                return false;
            }
            Ok(jobs) => jobs,
        };
        self.listing_state(None);
        let mut now = HashSet::with_capacity(jobs.len().min(max_followed));
        let mut waiting = Vec::new();
        let mut waiting_set = HashSet::new();
        for job in jobs {
            if now.contains(&job) || waiting_set.contains(&job) {
                continue; // listed twice
            }
            if !seen.contains(&job) {
                if self.streams().by_job.len() >= max_followed {
                    waiting_set.insert(job.clone());
                    waiting.push(job);
                    continue;
                }
                // An id the agent sent that we would refuse from a caller is skipped, not tailed.
                if self.add(&job).is_err() {
                    continue;
                }
            }
            now.insert(job);
        }
        // Forget jobs no longer listed, so the set stays as small as the listing.
        *seen = now;
        self.listing().waiting = waiting;
        true
    }

    /// Records a poll's outcome; a change of state (working, or failing with another kind of
    /// error) is queued for the consumer and wakes it.
    fn listing_state(&self, error: Option<Error>) {
        let mut listing = self.listing();
        let changed = listing.error.as_ref().map(failure_kind) != error.as_ref().map(failure_kind);
        listing.error.clone_from(&error);
        if !changed {
            return;
        }
        if listing.changes.len() >= MAX_LISTING_EVENTS {
            listing.changes.pop_front();
        }
        listing.changes.push_back(error);
        drop(listing);
        self.signal.push(LISTING);
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        self.close();
    }
}

/// The ids of the jobs in a `list_jobs` answer whose status is one of `statuses`: a job's
/// `submission_id` when it has one (what the log routes take), else its `job_id`.
pub fn listed_jobs(answer: &serde_json::Value, statuses: &[String]) -> Result<Vec<String>> {
    let Some(jobs) = answer.as_array() else {
        return Err(Error::Remote("the agent's job list is not a JSON list".into()));
    };
    Ok(jobs
        .iter()
        .filter(|job| job.get("status").and_then(|s| s.as_str()).is_some_and(|s| statuses.iter().any(|w| w == s)))
        .filter_map(|job| {
            let id = |key: &str| job.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty());
            id("submission_id").or_else(|| id("job_id")).map(str::to_owned)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_polls_back_off_up_to_a_bound() {
        let second = Duration::from_secs(1);
        let waits: Vec<u64> = (0..8).map(|n| poll_delay(second, n).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(poll_delay(second, u32::MAX), MAX_POLL_BACKOFF);
        assert_eq!(poll_delay(Duration::from_secs(60), 5), Duration::from_secs(60), "never below the interval");
    }

    #[test]
    fn listed_jobs_takes_running_ids() {
        let answer = json!([
            {"job_id": "a", "status": "RUNNING"},
            {"job_id": "b", "status": "SUCCEEDED"},
            {"job_id": "c", "submission_id": "raysubmit_c", "status": "RUNNING"},
            {"job_id": null, "submission_id": "raysubmit_d", "status": "PENDING"},
            {"status": "RUNNING"},
            "junk",
        ]);
        let running = vec!["RUNNING".to_owned()];
        assert_eq!(listed_jobs(&answer, &running).unwrap(), ["a", "raysubmit_c"]);
        let both = vec!["RUNNING".to_owned(), "PENDING".to_owned()];
        assert_eq!(listed_jobs(&answer, &both).unwrap(), ["a", "raysubmit_c", "raysubmit_d"]);
        assert!(listed_jobs(&json!({"jobs": []}), &running).is_err());
    }
}
