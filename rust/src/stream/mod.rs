//! From a socket to lines: the WebSocket frame reader and connection (`frames`, `upgraded`,
//! `ws`), the HTTP stream (`http`), the sans-IO line splitter, event decoder and limit counters
//! (`lines`, `events`, `limits`), where lines go (`emitter`, `queue`, `stats`), and what starts
//! a stream (`spec`, `tail`) or many (`many`), and lines as Arrow batches (`arrow`).

pub mod arrow;
pub mod cursor;
pub mod emitter;
pub mod events;
pub mod frames;
pub mod http;
pub mod limits;
pub mod lines;
pub mod many;
pub mod queue;
#[cfg(test)]
mod resume_tests;
pub mod spec;
pub mod stats;
pub mod tail;
pub mod upgraded;
pub mod ws;
