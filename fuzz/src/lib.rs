//! The sans-IO modules of the core, compiled on their own for fuzzing: the line splitter,
//! the event decoder (SSE fields and JSON events), the limit counters and the scrubber.
#![allow(dead_code)]

#[path = "../../rust/src/error.rs"]
pub mod error;
#[path = "../../rust/src/stream/events.rs"]
pub mod events;
#[path = "../../rust/src/stream/limits.rs"]
pub mod limits;
#[path = "../../rust/src/stream/lines.rs"]
pub mod lines;
/// The same paths as in the main crate (`crate::stream::…`).
pub mod stream {
    pub use super::{events, limits, lines};
}
#[path = "../../rust/src/text.rs"]
pub mod text;
