//! The bounded queue between a stream's reader task and its consumer, in batches of lines.
//!
//! The reader pushes whole batches; the consumer takes a whole batch at a time and drains it
//! without touching shared state, so the per-line cost on the consumer side is only the
//! creation of the Python string. Capacity is counted in lines and includes the batch the
//! consumer is still draining, so the reader never runs more than `capacity` lines ahead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::error::{Error, Result};
use crate::stream::stats::Stats;

/// Lines packed in one buffer: one allocation per batch, not per line.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    text: String,
    ends: Vec<usize>,
}

impl Batch {
    /// An empty batch with room for about `lines` lines.
    pub fn with_capacity(lines: usize) -> Self {
        Self { text: String::with_capacity(lines * 128), ends: Vec::with_capacity(lines) }
    }

    /// Appends one line.
    #[inline]
    pub fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    /// Number of lines.
    #[inline]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch holds no line.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i`; panics when out of range, like slice indexing.
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Empties the batch, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Bytes of text held.
    #[inline]
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// All the lines' text, back to back (for bulk copies such as `stream::arrow`).
    #[inline]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where each line ends in [`Self::text`].
    #[inline]
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }
}

/// A byte budget shared by many queues: queued and held batches take their text's bytes
/// from it, so that many streams together stay under one bound (`many.rs`).
#[derive(Clone)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl Budget {
    /// A budget of `total` bytes (at least 1, at most what a semaphore can count).
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self { bytes: Arc::new(Semaphore::new(total)), total }
    }

    /// What a batch takes: its bytes, at least 1, and never more than the whole budget
    /// (a batch larger than the budget waits for all of it).
    fn cost(&self, batch: &Batch) -> usize {
        batch.text.len().clamp(1, self.total)
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.bytes.add_permits(bytes);
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// The bound.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Bytes taken from a [`Budget`] for a batch not yet queued: given back when dropped, unless kept.
struct Reserved<'a> {
    budget: Option<&'a Budget>,
    bytes: usize,
}

impl Reserved<'_> {
    /// The batch is queued: its bytes stay taken (the consumer gives them back).
    fn keep(mut self) {
        self.bytes = 0;
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(budget) = self.budget {
            budget.release(self.bytes);
        }
    }
}

/// A hook the reader calls when the consumer may have something new to take.
pub type Wake = Box<dyn FnOnce() + Send>;

struct State {
    batches: VecDeque<Batch>,
    /// Lines queued plus the lines of the batch the consumer holds.
    held: usize,
    end: Option<Result<()>>,
    consumer_gone: bool,
    waker: Option<Wake>,
    /// A drained batch handed back by the consumer, so the reader reuses its buffers
    /// instead of allocating (and page-faulting in) fresh ones for every batch.
    spare: Option<Batch>,
    /// While a consumer waits in [`Waiter::wait_for`]: the lines held that are worth waking it
    /// for (0 otherwise: every push wakes).
    wake_at: usize,
}

impl State {
    /// Keeps the consumer's drained batch for the reader's reuse; its `lines` stop counting as held.
    fn give_back(&mut self, mut drained: Batch, lines: usize) {
        if self.spare.is_none() && drained.text.capacity() > 0 {
            drained.clear();
            self.spare = Some(drained);
        }
        self.held -= lines;
    }
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    space: Notify,
    /// Lines; only ever raised (see [`Consumer::widen`]).
    capacity: AtomicUsize,
    budget: Option<Budget>,
    /// Protocol and counters, for the consumer to report (written per batch).
    stats: Arc<Stats>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }
}

/// Creates a queue of `capacity` lines (at least 1).
pub fn channel(capacity: usize) -> (Producer, Consumer) {
    channel_in(capacity, None)
}

/// Creates a queue of `capacity` lines whose batches also take their bytes from `budget`.
pub fn channel_in(capacity: usize, budget: Option<Budget>) -> (Producer, Consumer) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            batches: VecDeque::new(),
            held: 0,
            end: None,
            consumer_gone: false,
            waker: None,
            spare: None,
            wake_at: 0,
        }),
        ready: Condvar::new(),
        space: Notify::new(),
        capacity: AtomicUsize::new(capacity.max(1)),
        budget,
        stats: Arc::default(),
    });
    let producer = Producer { shared: Arc::clone(&shared), on_open: Mutex::new(None) };
    (producer, Consumer { shared, holding: 0, holding_bytes: 0 })
}

/// The reader's end.
pub struct Producer {
    shared: Arc<Shared>,
    /// Called once when the connection is established (see [`Producer::opened`]).
    on_open: Mutex<Option<Wake>>,
}

impl Producer {
    /// The stream's protocol and counters, for the reader to update.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Largest batch worth building: a batch never exceeds the capacity.
    pub fn max_batch(&self) -> usize {
        self.shared.capacity()
    }

    /// An empty batch to fill: a recycled one when the consumer handed one back.
    pub fn empty_batch(&self, lines: usize) -> Batch {
        self.shared.lock().spare.take().unwrap_or_else(|| Batch::with_capacity(lines))
    }

    /// Sets the hook [`Producer::opened`] calls.
    pub fn on_open(&self, hook: Wake) {
        *self.on_open.lock().unwrap_or_else(PoisonError::into_inner) = Some(hook);
    }

    /// Says the connection is established: calls the `on_open` hook, once.
    pub fn opened(&self) {
        let hook = self.on_open.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Takes a batch's bytes from the budget, waiting for them; `None` once the consumer is gone.
    ///
    /// The bytes are held by the returned guard until the batch is queued: a send that is
    /// dropped meanwhile (its task aborted by `remove()` or `close()`) gives them back.
    async fn reserve(&self, cost: usize) -> Option<Reserved<'_>> {
        let Some(budget) = &self.shared.budget else { return Some(Reserved { budget: None, bytes: 0 }) };
        // NOTE: cost <= total <= u32::MAX (Budget::new clamps), so the cast is exact.
        let want = u32::try_from(cost).unwrap_or(u32::MAX);
        loop {
            let space = self.shared.space.notified();
            if self.consumer_gone() {
                return None;
            }
            tokio::select! {
                permit = budget.bytes.acquire_many(want) => {
                    // The semaphore is never closed; the guard gives the bytes back unless the
                    // batch is queued, and then the consumer releases them.
                    if let Ok(permit) = permit {
                        permit.forget();
                    }
                    return Some(Reserved { budget: Some(budget), bytes: cost });
                }
                () = space => {}
            }
        }
    }

    /// Queues a batch, waiting while the queue is full. Returns `false` once the consumer is gone.
    pub async fn send(&self, batch: Batch) -> bool {
        let cost = self.shared.budget.as_ref().map_or(0, |b| b.cost(&batch));
        let Some(reserved) = self.reserve(cost).await else { return false };
        loop {
            let space = self.shared.space.notified();
            {
                let mut st = self.shared.lock();
                if st.consumer_gone {
                    drop(st);
                    drop(reserved); // gives the bytes back
                    return false;
                }
                if st.held == 0 || st.held + batch.len() <= self.shared.capacity() {
                    st.held += batch.len();
                    st.batches.push_back(batch);
                    // Queued: the bytes now count with the batch, released by the consumer.
                    reserved.keep();
                    self.wake(st);
                    return true;
                }
            }
            space.await;
        }
    }

    /// Ends the stream with its outcome, after the batches already queued.
    pub fn finish(self, outcome: Result<()>) {
        let mut st = self.shared.lock();
        if st.end.is_none() {
            st.end = Some(outcome);
        }
        self.wake(st);
    }

    /// Whether the consumer has gone away (closed or dropped).
    pub fn consumer_gone(&self) -> bool {
        self.shared.lock().consumer_gone
    }

    fn wake(&self, mut st: MutexGuard<'_, State>) {
        let waker = st.waker.take();
        let notify = st.held >= st.wake_at || st.end.is_some();
        drop(st);
        if notify {
            self.shared.ready.notify_one();
        }
        if let Some(wake) = waker {
            wake();
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // A reader task that was aborted or panicked never said how it ended.
        let mut st = self.shared.lock();
        if st.end.is_none() {
            st.end = Some(Err(Error::connection_msg("the stream's reader stopped unexpectedly")));
            self.wake(st);
        }
    }
}

/// What the consumer finds when it looks.
#[derive(Debug)]
pub enum Take {
    /// The next batch.
    Batch(Batch),
    /// Nothing yet; the stream goes on.
    Empty,
    /// The stream is over, with this outcome (given once; later calls see `Ok`).
    End(Result<()>),
}

/// The consumer's end.
pub struct Consumer {
    shared: Arc<Shared>,
    /// Lines of the batch taken last, released when the next one is taken.
    holding: usize,
    /// Budget bytes of the batch taken last.
    holding_bytes: usize,
}

impl Consumer {
    /// The stream's protocol and counters; they outlive the queue.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Takes the next batch, or the end, without waiting; `drained` (the batch taken last,
    /// fully consumed) goes back to the reader for reuse.
    pub fn try_take(&mut self, drained: Batch) -> Take {
        let mut st = self.shared.lock();
        st.give_back(drained, std::mem::take(&mut self.holding));
        let released = st.held < self.shared.capacity();
        let freed = std::mem::take(&mut self.holding_bytes);
        let take = if let Some(batch) = st.batches.pop_front() {
            self.holding = batch.len();
            self.holding_bytes = self.shared.budget.as_ref().map_or(0, |b| b.cost(&batch));
            Take::Batch(batch)
        } else if let Some(end) = st.end.take() {
            st.end = Some(Ok(()));
            Take::End(end)
        } else {
            Take::Empty
        };
        drop(st);
        if let Some(budget) = &self.shared.budget {
            budget.release(freed);
        }
        if released {
            self.shared.space.notify_one();
        }
        take
    }

    /// Gives the batch taken last back, drained, without taking another: its lines and
    /// bytes stop counting, so the reader may go on while the consumer has nothing to take.
    pub fn release(&mut self, drained: Batch) {
        let mut st = self.shared.lock();
        st.give_back(drained, std::mem::take(&mut self.holding));
        drop(st);
        if let Some(budget) = &self.shared.budget {
            budget.release(std::mem::take(&mut self.holding_bytes));
        }
        self.shared.space.notify_one();
    }

    /// Lets the reader run up to `lines` lines ahead (never less than before), for a consumer that
    /// holds that many itself anyway (the Arrow view's batch), so a short pause of the consumer
    /// does not stall the reader.
    pub fn widen(&self, lines: usize) {
        self.shared.capacity.fetch_max(lines, Ordering::Relaxed);
        self.shared.space.notify_one();
    }

    /// Waits up to `timeout` for something to take (or the close); returns whether it came.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.waiter().wait(timeout)
    }

    /// A handle to wait on this queue without borrowing the consumer, so that another thread
    /// can close the stream while one waits.
    pub fn waiter(&self) -> Waiter {
        Waiter(Arc::clone(&self.shared))
    }

    /// Registers a hook called once when something arrives; called at once if something is there.
    pub fn on_ready(&self, wake: Wake) {
        let mut st = self.shared.lock();
        if st.batches.is_empty() && st.end.is_none() {
            st.waker = Some(wake);
        } else {
            drop(st);
            wake();
        }
    }

    /// Tells the reader to stop; queued lines are dropped, and a consumer waiting (in
    /// [`Waiter::wait`] or on its [`Self::on_ready`] hook) is woken to find the stream closed.
    pub fn close(&mut self) {
        let mut st = self.shared.lock();
        st.consumer_gone = true;
        let queued = std::mem::take(&mut st.batches);
        let waker = st.waker.take();
        drop(st);
        if let Some(budget) = &self.shared.budget {
            let queued: usize = queued.iter().map(|b| budget.cost(b)).sum();
            budget.release(queued + std::mem::take(&mut self.holding_bytes));
        }
        self.shared.space.notify_one();
        self.shared.ready.notify_all();
        if let Some(wake) = waker {
            wake();
        }
    }
}

/// Waits on a queue for its consumer; see [`Consumer::waiter`].
#[derive(Clone)]
pub struct Waiter(Arc<Shared>);

impl Waiter {
    /// [`Consumer::wait`]: returns at once when the stream was closed meanwhile.
    pub fn wait(&self, timeout: Duration) -> bool {
        let st = self.0.lock();
        let (st, _) = self
            .0
            .ready
            .wait_timeout_while(st, timeout, |st| st.batches.is_empty() && st.end.is_none() && !st.consumer_gone)
            .unwrap_or_else(PoisonError::into_inner);
        !st.batches.is_empty() || st.end.is_some() || st.consumer_gone
    }

    /// Like [`Self::wait`], but waits until `lines` lines are queued (at most the capacity), so a
    /// consumer that drains faster than the reader fills is woken once per `lines`, not per batch.
    pub fn wait_for(&self, lines: usize, timeout: Duration) -> bool {
        let mut st = self.0.lock();
        st.wake_at = lines.clamp(1, self.0.capacity());
        let (mut st, _) = self
            .0
            .ready
            .wait_timeout_while(st, timeout, |st| st.held < st.wake_at && st.end.is_none() && !st.consumer_gone)
            .unwrap_or_else(PoisonError::into_inner);
        st.wake_at = 0;
        !st.batches.is_empty() || st.end.is_some() || st.consumer_gone
    }

    /// The queue's capacity, in lines.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        lines.iter().for_each(|l| b.push(l));
        b
    }

    #[test]
    fn batch_packs_lines() {
        let b = batch(&["a", "", "ccc"]);
        assert_eq!(b.iter().collect::<Vec<_>>(), ["a", "", "ccc"]);
    }

    #[tokio::test]
    async fn reader_waits_until_the_consumer_releases_its_batch() {
        let (tx, mut rx) = channel(2);
        assert!(tx.send(batch(&["1", "2"])).await);
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(batch(&["3"]))).await;
        assert!(blocked.is_err(), "the queue is full");
        assert!(matches!(rx.try_take(Batch::default()), Take::Batch(b) if b.len() == 2));
        // The consumer still holds its two lines: no room yet.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(batch(&["3"]))).await;
        assert!(blocked.is_err(), "the held batch counts");
        assert!(matches!(rx.try_take(Batch::default()), Take::Empty));
        assert!(tx.send(batch(&["3"])).await);
        tx.finish(Err(Error::Remote("x".into())));
        assert!(matches!(rx.try_take(Batch::default()), Take::Batch(b) if b.get(0) == "3"));
        assert!(matches!(rx.try_take(Batch::default()), Take::End(Err(Error::Remote(_)))));
        assert!(matches!(rx.try_take(Batch::default()), Take::End(Ok(()))));
    }

    #[tokio::test]
    async fn closing_the_consumer_unblocks_the_reader() {
        let (tx, mut rx) = channel(1);
        assert!(tx.send(batch(&["1"])).await);
        let reader = tokio::spawn(async move { tx.send(batch(&["2"])).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        rx.close();
        assert!(!reader.await.unwrap());
    }

    #[tokio::test]
    async fn drained_batches_go_back_to_the_reader() {
        let (tx, mut rx) = channel(8);
        assert!(tx.send(batch(&["a", "b"])).await);
        let Take::Batch(taken) = rx.try_take(Batch::default()) else { panic!("a batch is queued") };
        let buffer = taken.text.as_ptr();
        assert!(matches!(rx.try_take(taken), Take::Empty));
        let reused = tx.empty_batch(4);
        assert!(reused.is_empty());
        assert_eq!(reused.text.as_ptr(), buffer, "the drained buffer is reused");
    }

    #[tokio::test]
    async fn a_shared_budget_bounds_queues_together() {
        let budget = Budget::new(4);
        let (tx1, mut rx1) = channel_in(100, Some(budget.clone()));
        let (tx2, mut rx2) = channel_in(100, Some(budget.clone()));
        assert!(tx1.send(batch(&["abc"])).await);
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx2.send(batch(&["de"]))).await;
        assert!(blocked.is_err(), "3 of 4 bytes are taken");
        assert!(tx2.send(batch(&["d"])).await);
        assert_eq!(budget.available(), 0);
        let Take::Batch(taken) = rx1.try_take(Batch::default()) else { panic!("a batch is queued") };
        assert_eq!(budget.available(), 0, "a batch being drained still counts");
        rx1.release(taken);
        assert_eq!(budget.available(), 3);
        rx2.close();
        assert_eq!(budget.available(), 4, "closing gives queued bytes back");
        assert!(!tx2.send(batch(&["e"])).await);
        assert_eq!(budget.available(), 4);
    }

    #[tokio::test]
    async fn an_aborted_send_gives_its_reserved_bytes_back() {
        let budget = Budget::new(100);
        let (tx, mut rx) = channel_in(1, Some(budget.clone()));
        assert!(tx.send(batch(&["0123456789"])).await);
        // The queue is full: this send takes its bytes, then waits for room.
        let reader = tokio::spawn(async move { tx.send(batch(&["abcdefghij"])).await });
        while budget.available() > 80 {
            tokio::task::yield_now().await;
        }
        reader.abort();
        assert!(reader.await.unwrap_err().is_cancelled());
        assert_eq!(budget.available(), 90, "the aborted send gave its 10 bytes back");
        rx.close();
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn wait_for_sleeps_until_enough_lines_are_queued() {
        let (tx, mut rx) = channel(10);
        let waiter = rx.waiter();
        let consumer = std::thread::spawn(move || {
            let woke = waiter.wait_for(4, Duration::from_secs(20));
            (woke, std::time::Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tx.send(batch(&["1", "2"])).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!consumer.is_finished(), "two lines are not worth a wake-up");
        let sent = std::time::Instant::now();
        assert!(tx.send(batch(&["3", "4"])).await);
        let (woke, at) = consumer.join().unwrap();
        assert!(woke && at >= sent);
        assert!(matches!(rx.try_take(Batch::default()), Take::Batch(b) if b.len() == 2));
    }

    #[tokio::test]
    async fn widening_lets_a_blocked_reader_go_on() {
        let (tx, rx) = channel(2);
        assert!(tx.send(batch(&["1", "2"])).await);
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(batch(&["3"]))).await;
        assert!(blocked.is_err(), "the queue is full");
        let reader = tokio::spawn(async move { tx.send(batch(&["3"])).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        rx.widen(4);
        rx.widen(1); // never narrows
        assert!(reader.await.unwrap());
        assert_eq!(rx.waiter().capacity(), 4);
    }

    #[test]
    fn the_open_hook_runs_once() {
        let (tx, _rx) = channel(1);
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        tx.on_open(Box::new(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        tx.opened();
        tx.opened();
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_producer_ends_with_an_error() {
        let (tx, mut rx) = channel(4);
        drop(tx);
        assert!(matches!(rx.try_take(Batch::default()), Take::End(Err(Error::Connection { .. }))));
    }
}
