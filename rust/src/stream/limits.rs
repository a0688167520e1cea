//! Stream limits (`StreamLimits`) and the counters that enforce them.

use crate::error::{Error, Result};

/// The limits of one stream; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// WebSocket data messages, the final `complete` excepted.
    pub max_messages: Option<u64>,
    /// HTTP lines (non-empty, after `\r` stripping), a final `complete` excepted.
    pub max_lines: Option<u64>,
    /// Payload bytes of messages or lines, on either protocol.
    pub max_bytes: Option<u64>,
    /// UTF-8 bytes of one message or line; a longer one is skipped.
    pub max_message_size: Option<u64>,
    /// Items the reader may run ahead of the consumer.
    pub queue_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_messages: Some(10_000),
            max_lines: Some(50_000),
            max_bytes: Some(50 * 1024 * 1024),
            max_message_size: Some(10_240),
            queue_size: 1_000,
        }
    }
}

impl Limits {
    /// No limit at all, for benchmarks and trusted servers.
    pub fn unlimited() -> Self {
        Self { max_messages: None, max_lines: None, max_bytes: None, max_message_size: None, ..Self::default() }
    }

    /// Whether an item of `len` bytes must be skipped.
    #[inline]
    pub fn too_large(&self, len: usize) -> bool {
        self.max_message_size.is_some_and(|max| len as u64 > max)
    }
}

/// Which counted unit a stream uses: WebSocket messages or HTTP lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Messages,
    Lines,
}

/// Counts what a stream received and fails once a limit is passed.
#[derive(Debug, Clone)]
pub struct Counter {
    max_items: Option<u64>,
    max_bytes: Option<u64>,
    unit: Unit,
    items: u64,
    bytes: u64,
}

impl Counter {
    /// A counter for `unit` under `limits`.
    pub fn new(limits: &Limits, unit: Unit) -> Self {
        let max_items = match unit {
            Unit::Messages => limits.max_messages,
            Unit::Lines => limits.max_lines,
        };
        Self { max_items, max_bytes: limits.max_bytes, unit, items: 0, bytes: 0 }
    }

    /// Counts one received item of `len` payload bytes.
    #[inline]
    pub fn count(&mut self, len: usize) -> Result<()> {
        self.items += 1;
        self.bytes += len as u64;
        if let Some(max) = self.max_items {
            if self.items > max {
                let limit = match self.unit {
                    Unit::Messages => "messages (max_messages)",
                    Unit::Lines => "lines (max_lines)",
                };
                return Err(Error::LimitExceeded { limit, max });
            }
        }
        if let Some(max) = self.max_bytes {
            if self.bytes > max {
                return Err(Error::LimitExceeded { limit: "bytes (max_bytes)", max });
            }
        }
        Ok(())
    }

    /// Fails when the bytes counted so far plus `partial` bytes of an item still arriving pass
    /// `max_bytes`, or when `partial` passes `hard_cap` (the bound of an item held whole).
    #[inline]
    pub fn check_partial(&self, partial: u64, hard_cap: u64) -> Result<()> {
        if let Some(max) = self.max_bytes {
            if self.bytes.saturating_add(partial) > max {
                return Err(Error::LimitExceeded { limit: "bytes (max_bytes)", max });
            }
        }
        if partial > hard_cap {
            return Err(Error::LimitExceeded { limit: "bytes in one line (the hard cap)", max: hard_cap });
        }
        Ok(())
    }

    /// Items and bytes counted so far.
    #[inline]
    pub fn totals(&self) -> (u64, u64) {
        (self.items, self.bytes)
    }

    /// Undoes the item count of the final `complete`, which the limits do not count.
    #[inline]
    pub fn uncount_complete(&mut self) {
        self.items = self.items.saturating_sub(1);
    }
}
