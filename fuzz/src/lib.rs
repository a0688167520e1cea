//! The sans-IO modules of the core, compiled on their own for fuzzing: the line splitter,
//! the event decoder (SSE fields and JSON events), the limit counters and the scrubber.
#![allow(dead_code)]

#[path = "../../rust/src/error.rs"]
pub mod error;
#[path = "../../rust/src/events.rs"]
pub mod events;
#[path = "../../rust/src/limits.rs"]
pub mod limits;
#[path = "../../rust/src/lines.rs"]
pub mod lines;
#[path = "../../rust/src/text.rs"]
pub mod text;
