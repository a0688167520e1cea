//! Tailing a job's log over WebSocket (tokio-tungstenite on a stream we open ourselves).

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::error::{Error, Result, Secrets};
use crate::net;
use crate::rest::body;
use crate::rest::urls;
use crate::stream::cursor::Track;
use crate::stream::emitter::{Emitter, Halt};
use crate::stream::events;
use crate::stream::frames::{FrameReader, Item, Violation};
use crate::stream::limits::Unit;
use crate::stream::queue::Producer;
use crate::stream::spec::TailSpec;
use crate::stream::upgraded::Upgraded;
use crate::text::close_code;

/// An established WebSocket; tungstenite only writes on it, `frames.rs` reads.
pub type Socket = WebSocketStream<Upgraded>;

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
pub async fn tail(spec: &TailSpec, tx: &Producer, track: &mut Track) -> Result<()> {
    let socket = open(spec).await.map_err(OpenError::into_error)?;
    read(socket, spec, tx, track).await
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

/// Opens the WebSocket at `url` with the spec's headers (no timeout of its own).
pub async fn handshake(url: &str, spec: &TailSpec) -> std::result::Result<Socket, OpenError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| OpenError::Failed(Error::InvalidArgument(e.to_string())))?;
    let mut request =
        url.into_client_request().map_err(|e| OpenError::Failed(Error::InvalidArgument(e.to_string())))?;
    for (name, value) in spec.transport.headers() {
        request.headers_mut().insert(name, value.clone());
    }
    for (name, value) in spec.headers.iter() {
        // A token that cannot be a header value is refused, as REST refuses it (400).
        let (name, value) = net::header(name, value).map_err(OpenError::Failed)?;
        request.headers_mut().insert(name, value);
    }
    let io = spec.transport.connect(&parsed).await.map_err(|e| match e {
        Error::Connection { .. } => OpenError::Unavailable(e),
        other => OpenError::Failed(other),
    })?;
    // tungstenite reads nothing after the handshake; its limits only matter if it did.
    let config = WebSocketConfig::default().max_message_size(Some(0)).max_frame_size(Some(0));
    match tokio_tungstenite::client_async_with_config(request, Upgraded::new(io), Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(response)) => {
            let location = response.headers().get("location").and_then(|v| v.to_str().ok());
            if let Some(refused) = net::redirect::websocket_refusal(response.status().as_u16(), location, &parsed) {
                return Err(OpenError::Failed(refused)); // `auto` must not follow it over HTTP either
            }
            Err(OpenError::Unavailable(refused(&response, &spec.secrets)))
        }
        Err(WsError::Io(e)) => {
            Err(OpenError::Unavailable(match net::tls::failure(&e, parsed.host_str().unwrap_or("")) {
                // The agent refused our client certificate, say.
                Some(detail) => Error::Connection { detail, source: Some(std::sync::Arc::new(e)) },
                None => Error::connection("the WebSocket handshake failed", WsError::Io(e)),
            }))
        }
        Err(e @ (WsError::Protocol(_) | WsError::ConnectionClosed | WsError::Url(_))) => {
            Err(OpenError::Unavailable(Error::connection("the WebSocket handshake failed", e)))
        }
        Err(e) => Err(OpenError::Failed(Error::websocket("the WebSocket handshake failed", e))),
    }
}

/// The error for an upgrade answered with something other than 101: the status's own error
/// for 4xx/5xx, a WebSocket error naming the status otherwise (a 200 is no agent of ours).
fn refused(response: &tokio_tungstenite::tungstenite::handshake::client::Response, secrets: &Secrets) -> Error {
    let status = response.status();
    let code = status.as_u16();
    if code < 400 {
        let reason = status.canonical_reason().unwrap_or("");
        return Error::websocket_msg(format!(
            "the agent refused the WebSocket: it answered the upgrade with {code} {reason} instead of 101"
        ));
    }
    let raw = response.body().as_deref().unwrap_or_default();
    let chunked = response
        .headers()
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    // tungstenite hands over the body bytes as they came: undo the chunked framing.
    let body = if chunked { body::dechunk(raw) } else { raw.to_vec() };
    crate::rest::status_error(code, &String::from_utf8_lossy(&body), secrets)
}

/// Reads messages until `complete`, a normal close, an error or the consumer leaving.
///
/// Liveness: after `timeout` without any frame a ping is sent; if nothing at all arrives
/// within another `timeout`, the stream fails with 408.
pub async fn read(socket: Socket, spec: &TailSpec, tx: &Producer, track: &mut Track) -> Result<()> {
    let mut em = Emitter::new(spec, tx, Unit::Messages, track);
    let mut conn = Conn::new(socket, spec.limits.max_message_size);
    let mut pinged = false;
    loop {
        let step =
            match timeout(spec.timeout, poll_fn(|cx| conn.poll_fill(cx, &mut |item| on_data(item, &mut em)))).await {
                Ok(step) => step,
                Err(_) if pinged => {
                    return Err(Error::Timeout(format!(
                        "no data and no answer to a ping from the agent for {:?}",
                        spec.timeout * 2
                    )));
                }
                Err(_) => {
                    pinged = true;
                    conn.send(Message::Ping(Default::default()), spec.timeout).await;
                    continue;
                }
            };
        pinged = false;
        // Bytes of a message still arriving count now, not when (if ever) its last frame comes.
        let step = step.and_then(|()| em.partial(conn.partial_len()).map_err(Stop::Halt));
        let done = match step {
            Ok(()) => false,
            Err(Stop::Halt(Halt::Complete)) => true,
            Err(stop) => {
                conn.finish(&stop, spec.timeout).await;
                em.flush().await;
                return stop_error(stop, &mut em).map_or(Ok(()), Err);
            }
        };
        conn.answer_ping(spec.timeout).await;
        if !em.flush().await || done {
            return Ok(());
        }
    }
}

#[inline]
fn on_data(item: Item<'_>, em: &mut Emitter<'_>) -> std::result::Result<bool, Halt> {
    match item {
        Item::Text(text) => em.message(text, text.len())?,
        Item::Binary(bytes) => em.message(&events::utf8_lossy(bytes), bytes.len())?,
        Item::Skipped(len) => em.oversized(len)?,
        Item::Ping(_) | Item::Pong(_) | Item::Close(_) => {}
    }
    Ok(!em.full())
}

/// Close codes after which a stream resumes on a new connection: going away, internal error,
/// service restart, try again later (1006, a connection lost without a close, is `Eof`/`Io`).
const TRANSIENT_CLOSES: [u16; 4] = [1001, 1011, 1012, 1013];

/// The error a stream raises when reading stopped (`None`: the server closed normally).
fn stop_error(stop: Stop, em: &mut Emitter<'_>) -> Option<Error> {
    if let Stop::Close(Some((code, _))) = &stop {
        if *code != 1000 && !TRANSIENT_CLOSES.contains(code) {
            em.no_retry();
        }
    }
    match stop {
        Stop::Halt(Halt::Complete) | Stop::Close(None | Some((1000, _))) => None,
        Stop::Halt(Halt::Fail(e)) => Some(e),
        Stop::Close(Some((code, reason))) => Some(
            em.dropped(format_args!("the agent closed the WebSocket with {}", close_code(code, &em.clean(&reason)))),
        ),
        Stop::Violation(v) => Some(Error::websocket("the agent broke the WebSocket protocol", v)),
        Stop::Eof => Some(em.dropped("the TCP connection was closed")),
        Stop::Io(e) => Some(em.dropped_by(e)),
    }
}

/// Bytes read from the socket at a time: large enough that a read costs little next to its
/// copy, small enough that a thousand streams hold only 32 MiB of buffers.
const READ_BUFFER: usize = 32 << 10;

/// Why [`Conn::poll_fill`] stopped reading.
pub enum Stop {
    /// The data handler stopped.
    Halt(Halt),
    /// The server broke the protocol.
    Violation(Violation),
    /// The server sent a close frame.
    Close(Option<(u16, String)>),
    /// The TCP connection ended without a close frame.
    Eof,
    Io(std::io::Error),
}

impl From<Violation> for Stop {
    fn from(v: Violation) -> Self {
        Self::Violation(v)
    }
}

/// An established WebSocket: frames are read by [`FrameReader`], control frames are written
/// by tungstenite.
pub struct Conn {
    socket: Socket,
    frames: FrameReader,
    buf: Box<[u8]>,
    at: usize,
    end: usize,
    /// The payload of a ping to answer.
    pong: Option<Vec<u8>>,
}

impl Conn {
    /// Reads `socket`, skipping messages over `max_message_size` bytes.
    pub fn new(socket: Socket, max_message_size: Option<u64>) -> Self {
        Self {
            socket,
            frames: FrameReader::new(max_message_size),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            at: 0,
            end: 0,
            pong: None,
        }
    }

    /// Hands every data message that is ready to `on_data` until it answers `false`.
    /// `Ready` once anything arrived, or when a ping must be answered ([`Conn::answer_ping`]).
    pub fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        on_data: &mut impl FnMut(Item<'_>) -> std::result::Result<bool, Halt>,
    ) -> Poll<std::result::Result<(), Stop>> {
        let mut active = false;
        loop {
            if self.at < self.end {
                active = true;
                let mut paused = false;
                let pong = &mut self.pong;
                let used = self.frames.push(&self.buf[self.at..self.end], |item| match item {
                    Item::Ping(payload) => {
                        *pong = Some(payload.to_vec());
                        Ok(false)
                    }
                    Item::Pong(_) => Ok(true),
                    Item::Close(close) => Err(Stop::Close(close.map(|(code, reason)| (code, reason.to_owned())))),
                    data => {
                        let go_on = on_data(data).map_err(Stop::Halt)?;
                        paused |= !go_on;
                        Ok(go_on)
                    }
                });
                self.at += used?;
                // A long message in progress: hand back so its bytes are checked against the limits.
                if paused || self.pong.is_some() || self.frames.partial_len() >= READ_BUFFER as u64 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let mut buf = ReadBuf::new(&mut self.buf);
            match Pin::new(self.socket.get_mut()).poll_read(cx, &mut buf) {
                Poll::Pending if active => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Stop::Io(e))),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Err(Stop::Eof)),
                Poll::Ready(Ok(())) => (self.at, self.end) = (0, buf.filled().len()),
            }
        }
    }

    /// Payload bytes received so far of the data message still arriving.
    pub fn partial_len(&self) -> u64 {
        self.frames.partial_len()
    }

    /// Sends a control or data message through tungstenite; a write that cannot finish in
    /// time means the peer is gone, which the next read notices.
    pub async fn send(&mut self, message: Message, within: Duration) {
        let _ = timeout(within, self.socket.send(message)).await;
    }

    /// Answers the last ping received, if any.
    pub async fn answer_ping(&mut self, within: Duration) {
        if let Some(payload) = self.pong.take() {
            self.send(Message::Pong(payload.into()), within).await;
        }
    }

    /// Does what the protocol asks when reading stopped: echo a server's close frame, or
    /// close with the code of a violation.
    pub async fn finish(&mut self, stop: &Stop, within: Duration) {
        let reply = match stop {
            Stop::Close(close) => {
                close.as_ref().map(|(code, _)| CloseFrame { code: CloseCode::from(*code), reason: "".into() })
            }
            Stop::Violation(v) => Some(CloseFrame { code: CloseCode::from(v.code), reason: v.what.into() }),
            Stop::Halt(_) | Stop::Eof | Stop::Io(_) => return,
        };
        self.send(Message::Close(reply), within).await;
    }

    /// The socket, to write data messages (the Autobahn echo client does).
    pub fn socket_mut(&mut self) -> &mut Socket {
        &mut self.socket
    }
}
