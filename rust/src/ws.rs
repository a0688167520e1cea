//! Tailing a job's log over WebSocket (tokio-tungstenite on a stream we open ourselves).

use std::future::poll_fn;
use std::task::Poll;

use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::emitter::{Emitter, Halt};
use crate::error::{Error, Result};
use crate::limits::Unit;
use crate::net::BoxIo;
use crate::queue::Producer;
use crate::spec::TailSpec;
use crate::{events, urls};

/// An established WebSocket.
pub type Socket = WebSocketStream<BoxIo>;

/// Hard cap on one WebSocket message: tungstenite holds a message whole before we see it,
/// so larger ones fail the stream instead of being skipped like smaller over-long ones.
pub const HARD_MESSAGE_CAP: usize = 64 << 20;

/// Why no WebSocket could be had.
pub enum OpenError {
    /// Not established (refused, reset, non-101 answer, no WebSocket support): `auto` falls back to HTTP.
    Unavailable(Error),
    /// Any other failure, a timeout included.
    Failed(Error),
}

impl OpenError {
    fn into_error(self) -> Error {
        match self {
            Self::Unavailable(e) | Self::Failed(e) => e,
        }
    }
}

/// Connects and reads the whole stream.
pub async fn tail(spec: &TailSpec, tx: &Producer) -> Result<()> {
    let socket = open(spec).await.map_err(OpenError::into_error)?;
    read(socket, spec, tx).await
}

/// Opens the WebSocket of `jobs/{id}/logs/` within the spec's timeout.
pub async fn open(spec: &TailSpec) -> std::result::Result<Socket, OpenError> {
    let url = urls::http_to_websocket(&urls::join(&spec.base_url, &format!("jobs/{}/logs/", spec.job_id)));
    match timeout(spec.timeout, handshake(&url, spec)).await {
        Ok(result) => result,
        Err(_) => Err(OpenError::Failed(Error::Timeout(format!(
            "the WebSocket to the agent was not established within {:?}",
            spec.timeout
        )))),
    }
}

async fn handshake(url: &str, spec: &TailSpec) -> std::result::Result<Socket, OpenError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| OpenError::Failed(Error::InvalidArgument(e.to_string())))?;
    let mut request =
        url.into_client_request().map_err(|e| OpenError::Failed(Error::InvalidArgument(e.to_string())))?;
    for (name, value) in spec.headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes());
        let value = HeaderValue::from_str(value);
        if let (Ok(name), Ok(value)) = (name, value) {
            request.headers_mut().insert(name, value);
        }
    }
    let io = spec.transport.connect(&parsed).await.map_err(|e| match e {
        Error::Connection { .. } => OpenError::Unavailable(e),
        other => OpenError::Failed(other),
    })?;
    let config =
        WebSocketConfig::default().max_message_size(Some(HARD_MESSAGE_CAP)).max_frame_size(Some(HARD_MESSAGE_CAP));
    match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let code = response.status().as_u16();
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            Err(OpenError::Unavailable(crate::rest::status_error(code, &body, &spec.secrets)))
        }
        Err(e @ (WsError::Io(_) | WsError::Protocol(_) | WsError::ConnectionClosed | WsError::Url(_))) => {
            Err(OpenError::Unavailable(Error::connection("the WebSocket handshake failed", e)))
        }
        Err(e) => Err(OpenError::Failed(Error::websocket("the WebSocket handshake failed", e))),
    }
}

/// Reads messages until `complete`, a normal close, an error or the consumer leaving.
///
/// Liveness: after `timeout` without any frame a ping is sent; if nothing at all arrives
/// within another `timeout`, the stream fails with 408.
pub async fn read(mut socket: Socket, spec: &TailSpec, tx: &Producer) -> Result<()> {
    let mut em = Emitter::new(spec, tx, Unit::Messages);
    let mut pinged = false;
    loop {
        let step = match timeout(spec.timeout, poll_fn(|cx| fill(&mut socket, &mut em, cx))).await {
            Ok(step) => step,
            Err(_) if pinged => {
                return Err(Error::Timeout(format!(
                    "no data and no answer to a ping from the agent for {:?}",
                    spec.timeout * 2
                )));
            }
            Err(_) => {
                pinged = true;
                // A ping that cannot even be written in time means the peer is gone.
                let _ = timeout(spec.timeout, socket.send(Message::Ping(Default::default()))).await;
                continue;
            }
        };
        pinged = false;
        let done = match step {
            Ok(()) => false,
            Err(Halt::Complete) => true,
            Err(Halt::Fail(e)) => {
                em.flush().await;
                return Err(e);
            }
        };
        if !em.flush().await || done {
            return Ok(());
        }
    }
}

/// Decodes every message that is ready, up to a full batch. `Ready` once anything arrived.
fn fill(
    socket: &mut Socket,
    em: &mut Emitter<'_>,
    cx: &mut std::task::Context<'_>,
) -> Poll<std::result::Result<(), Halt>> {
    let mut active = false;
    while !em.full() {
        match socket.poll_next_unpin(cx) {
            Poll::Pending => break,
            Poll::Ready(None) => return Poll::Ready(Err(Halt::Fail(em.dropped("the WebSocket ended")))),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Halt::Fail(read_error(e, em)))),
            Poll::Ready(Some(Ok(message))) => {
                active = true;
                if let Err(halt) = on_message(message, em) {
                    return Poll::Ready(Err(halt));
                }
            }
        }
    }
    if active || em.full() {
        Poll::Ready(Ok(()))
    } else {
        Poll::Pending
    }
}

#[inline]
fn on_message(message: Message, em: &mut Emitter<'_>) -> std::result::Result<(), Halt> {
    match message {
        Message::Text(text) => em.message(text.as_str(), text.len()),
        Message::Binary(bytes) => em.message(&events::utf8_lossy(&bytes), bytes.len()),
        Message::Close(None) => Err(Halt::Complete),
        Message::Close(Some(frame)) if frame.code == CloseCode::Normal => Err(Halt::Complete),
        Message::Close(Some(frame)) => Err(Halt::Fail(em.dropped(format_args!(
            "the agent closed the WebSocket with code {} ({})",
            u16::from(frame.code),
            em.clean(&frame.reason)
        )))),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
    }
}

fn read_error(e: WsError, em: &Emitter<'_>) -> Error {
    match e {
        WsError::Io(_) | WsError::ConnectionClosed | WsError::AlreadyClosed => em.dropped_by(e),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => em.dropped("the TCP connection was closed"),
        other => Error::websocket("the agent broke the WebSocket protocol", other),
    }
}
