//! synapse-agent-rs's Rust core: the streaming log reader, the REST client and the fake agent.
//!
//! Transport and framing modules (`lines`, `events`, `queue`, `ws`, `http`, `tail`, `rest`,
//! `fake`) know nothing of Python; `py` is the only bridge.

pub mod body;
pub mod emitter;
pub mod error;
pub mod events;
pub mod fake;
pub mod frames;
pub mod http;
pub mod limits;
pub mod lines;
pub mod many;
pub mod net;
mod py;
pub mod queue;
pub mod rest;
pub mod runtime;
pub mod spec;
pub mod stats;
pub mod tail;
pub mod text;
pub mod upgraded;
pub mod urls;
pub mod ws;

use pyo3::prelude::*;

/// The extension module `synapse_agent_rs._core`.
#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use crate::py::aio::{AsyncLineStream, Done};
    #[pymodule_export]
    use crate::py::call::AsyncCall;
    #[pymodule_export]
    use crate::py::client::AgentCore;
    #[pymodule_export]
    use crate::py::fake::FakeAgentCore;
    #[pymodule_export]
    use crate::py::hub::Hub;
    #[pymodule_export]
    use crate::py::many::{AsyncManyStream, ManyIter, ManyStream};
    #[pymodule_export]
    use crate::py::stream::{BatchIter, LineStream};
    #[pymodule_export]
    use crate::py::utils::{
        http_to_websocket_url, path_segment, sanitize_error_message, validate_resource_id, validate_timeout,
    };

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
