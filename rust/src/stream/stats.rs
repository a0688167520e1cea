//! What a running stream reports about itself: the protocol it ended up using and its
//! counters, written by the reader once per batch and read by the consumer at any time.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::stream::spec::Protocol;

/// Protocol and counters of one stream. Shared by the reader and the consumer.
#[derive(Debug, Default)]
pub struct Stats {
    /// 0 while not known yet, then 1 (WebSocket) or 2 (HTTP).
    protocol: AtomicU8,
    lines: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    /// Why `auto` fell back from WebSocket to HTTP, when it did.
    fallback: OnceLock<String>,
    /// How many times the stream resumed on a new connection.
    resumes: AtomicU64,
    /// Log records of the reader (resume attempts) for the consumer to write; `pending` says
    /// whether there are any, so that looking costs one load.
    notes: Mutex<Vec<(Level, String)>>,
    pending: AtomicBool,
}

/// The level of a reader's log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
}

/// Records kept for the consumer at most; older ones beyond it are dropped.
const MAX_NOTES: usize = 64;

/// A consistent-enough copy of the counters (each one exact, read one after the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Lines handed to the consumer's queue.
    pub lines: u64,
    /// Items received and counted by the limits: WebSocket messages, or HTTP lines.
    pub messages: u64,
    /// Payload bytes of those items.
    pub bytes: u64,
}

impl Stats {
    /// Records the protocol the stream uses (WebSocket or HTTP).
    pub fn set_protocol(&self, protocol: Protocol) {
        let code = match protocol {
            Protocol::Auto => 0,
            Protocol::WebSocket => 1,
            Protocol::Http => 2,
        };
        self.protocol.store(code, Relaxed);
    }

    /// The protocol in use, once known (never `Auto`).
    pub fn protocol(&self) -> Option<Protocol> {
        match self.protocol.load(Relaxed) {
            1 => Some(Protocol::WebSocket),
            2 => Some(Protocol::Http),
            _ => None,
        }
    }

    /// Records that `auto` falls back to HTTP, and why (the protocol is set once HTTP answers).
    pub fn set_fallback(&self, reason: String) {
        let _ = self.fallback.set(reason);
    }

    /// Why `auto` fell back to HTTP, if it did.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.get().map(String::as_str)
    }

    /// Counts one resume: a new connection after a failure.
    pub fn resumed(&self) {
        self.resumes.fetch_add(1, Relaxed);
    }

    /// How many times the stream resumed.
    pub fn resumes(&self) -> u64 {
        self.resumes.load(Relaxed)
    }

    /// A replay was skipped and checked up to the cursor, `bytes` into the text.
    pub fn verified(&self, bytes: u64) {
        self.note(Level::Info, format!("the replay matched the {bytes} bytes handed out; resuming after them"));
    }

    /// Keeps a log record for the consumer to write (bounded: the oldest go first).
    pub fn note(&self, level: Level, message: String) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        if notes.len() >= MAX_NOTES {
            notes.remove(0);
        }
        notes.push((level, message));
        self.pending.store(true, Relaxed);
    }

    /// Takes the records kept, if any.
    #[inline]
    pub fn take_notes(&self) -> Option<Vec<(Level, String)>> {
        if !self.pending.load(Relaxed) {
            return None;
        }
        self.pending.store(false, Relaxed);
        Some(std::mem::take(&mut *self.notes.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Publishes the reader's running totals (once per batch, not per line).
    #[inline]
    pub fn publish(&self, counts: Counts) {
        self.lines.store(counts.lines, Relaxed);
        self.messages.store(counts.messages, Relaxed);
        self.bytes.store(counts.bytes, Relaxed);
    }

    /// The totals published so far.
    pub fn counts(&self) -> Counts {
        Counts {
            lines: self.lines.load(Relaxed),
            messages: self.messages.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_is_unknown_until_set() {
        let stats = Stats::default();
        assert_eq!(stats.protocol(), None);
        stats.set_fallback("refused".into());
        assert_eq!((stats.protocol(), stats.fallback()), (None, Some("refused")));
        stats.set_protocol(Protocol::Http);
        assert_eq!(stats.protocol(), Some(Protocol::Http));
    }

    #[test]
    fn published_counts_are_read_back() {
        let stats = Stats::default();
        let counts = Counts { lines: 3, messages: 4, bytes: 50 };
        stats.publish(counts);
        assert_eq!(stats.counts(), counts);
    }
}
