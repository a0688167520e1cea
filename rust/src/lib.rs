//! synapse-agent-rs's Rust core: the streaming log reader, the REST client and the fake agent.
//!
//! Folders tell a line's path: `net` opens sockets (TLS, proxies), `stream` turns a socket into
//! lines (frames, WebSocket and HTTP readers, line splitter, event decoder, limits, the queue
//! and the bulk hub), `rest` holds the REST calls, `fake` the embedded agent. None of them knows
//! Python; `py` is the only bridge.

pub mod error;
pub mod fake;
pub mod net;
mod py;
pub mod rest;
pub mod runtime;
pub mod stream;
pub mod text;

use pyo3::prelude::*;

/// The extension module `synapse_agent_rs._core`.
#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use crate::py::aio::{AsyncLineStream, Done};
    #[pymodule_export]
    use crate::py::arrow::{ArrowStream, AsyncArrowStream};
    #[pymodule_export]
    use crate::py::arrow_ffi::ArrowBatch;
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
    use crate::py::resume::ResumePolicy;
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
