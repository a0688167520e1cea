//! The Python bridge: the only modules that know pyo3.

pub mod aio;
pub mod arrow;
pub mod arrow_ffi;
pub mod call;
pub mod cell;
pub mod client;
pub mod cursor;
pub mod exceptions;
pub mod fake;
pub mod hub;
pub mod json;
pub mod line_iter;
pub mod many;
pub mod raw;
pub mod report;
pub mod resume;
pub mod step;
pub mod stream;
pub mod utils;
pub mod wait;
pub mod wakeup;
