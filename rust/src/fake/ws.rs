//! The WebSocket log stream: the upgrade answer, then a session that plays a job script.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::encode;
use super::faults::{self, ConnPlan};
use super::reply::{self, Body};
use super::script::{Fault, JobScript, WsFormat};
use super::state::{State, StreamGuard};
use super::tasks::Tasks;

type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// Messages are fed without flushing until this many payload bytes are pending.
const FLUSH_EVERY: usize = 64 * 1024;
/// Payloads are cut from buffers of this size, so a message costs no allocation of its own.
const BUFFER: usize = 256 * 1024;
/// How long a closing server waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Whether the request asks for a WebSocket upgrade.
pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// Answers the upgrade of a known job: refused, or 101 with the session spawned on `tasks`.
pub(super) async fn answer(
    script: Arc<JobScript>,
    headers: &HeaderMap,
    upgrade: OnUpgrade,
    state: &State,
    tasks: &Tasks,
) -> Response<Body> {
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return reply::detail(StatusCode::BAD_REQUEST, "Missing Sec-WebSocket-Key header");
    };
    let Ok(accept) = HeaderValue::try_from(derive_accept_key(key.as_bytes())) else {
        return reply::detail(StatusCode::INTERNAL_SERVER_ERROR, "Bad Sec-WebSocket-Accept value");
    };
    if let Some(stall) = script.stall {
        tokio::time::sleep(stall).await;
    }
    if let Some(code) = script.refuse_websocket {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
        return reply::detail(status, "WebSocket connections are refused for this job");
    }
    match faults::next(&script) {
        Some(ConnPlan { refuse: Some(code), .. }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return reply::detail(status, "this connection is refused (fault)");
        }
        Some(plan) => tasks.spawn(serve_wire(upgrade, script, plan, state.open_stream())),
        None => tasks.spawn(serve(upgrade, script, state.open_stream())),
    }
    let mut response = reply::empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    response
}

/// A planned session: writes the wire as it is, up to the cut (then drops the connection), or
/// whole, then waits for the client's close.
async fn serve_wire(upgrade: OnUpgrade, script: Arc<JobScript>, plan: ConnPlan, _open: StreamGuard) {
    use tokio::io::AsyncWriteExt;
    let Ok(upgraded) = upgrade.await else { return };
    let mut io = TokioIo::new(upgraded);
    let mut wire = faults::Wire::websocket(&script, &plan);
    while let Some(chunk) = wire.next_chunk() {
        if io.write_all(&chunk).await.is_err() {
            return;
        }
    }
    if io.flush().await.is_err() {
        return;
    }
    if !wire.cut {
        let _ = tokio::time::timeout(CLOSE_GRACE, ignore_client(&mut io)).await;
    }
}

/// The session: waits for hyper to hand over the connection, plays the lines, then the ending.
async fn serve(upgrade: OnUpgrade, script: Arc<JobScript>, _open: StreamGuard) {
    let Ok(upgraded) = upgrade.await else { return };
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    if play(&mut ws, &script).await.is_ok() {
        finish(ws, &script).await;
    }
}

async fn play(ws: &mut Ws, script: &JobScript) -> Result<(), WsError> {
    let opcode = if script.ws_format == WsFormat::Binary { Data::Binary } else { Data::Text };
    let mut pacer = script.pacer();
    let mut source = script.line_source();
    let (mut line, mut buf, mut unflushed) = (Vec::new(), BytesMut::new(), 0);
    while source.next_into(&mut line) {
        if let Some(pacer) = &mut pacer {
            idle_until(ws, pacer.tick()).await?;
        }
        if buf.capacity() < line.len() + 64 {
            buf.reserve(BUFFER.max(2 * line.len() + 64));
        }
        encode::push_ws_line(script.ws_format, &line, &mut buf);
        let payload = buf.split().freeze();
        unflushed += payload.len();
        send(ws, payload, opcode, script.fragment.unwrap_or(1)).await?;
        if pacer.is_some() || unflushed >= FLUSH_EVERY {
            ws.flush().await?;
            unflushed = 0;
        }
    }
    ws.flush().await
}

/// Feeds one message as `pieces` frames (a first frame, then continuation frames), without flushing.
async fn send(ws: &mut Ws, payload: Bytes, opcode: Data, pieces: usize) -> Result<(), WsError> {
    // NOTE: raw frames skip tungstenite's UTF-8 check of text messages: the lines are `String`s already.
    if pieces <= 1 {
        return ws.feed(Message::Frame(Frame::message(payload, OpCode::Data(opcode), true))).await;
    }
    let len = payload.len();
    for i in 0..pieces {
        let piece = payload.slice(len * i / pieces..len * (i + 1) / pieces);
        let op = if i == 0 { opcode } else { Data::Continue };
        ws.feed(Message::Frame(Frame::message(piece, OpCode::Data(op), i + 1 == pieces))).await?;
    }
    Ok(())
}

/// Waits for `deadline` while reading, so pings are answered and a client that leaves is noticed.
async fn idle_until(ws: &mut Ws, deadline: Instant) -> Result<(), WsError> {
    let sleep = tokio::time::sleep_until(deadline);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            message = ws.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(WsError::ConnectionClosed),
            },
        }
    }
}

/// What happens after the lines: the complete or error event and a close, or the script's fault.
async fn finish(mut ws: Ws, script: &JobScript) {
    let closing = match script.fault {
        None => end_with(&mut ws, encode::event("complete", None), 1000).await,
        Some(Fault::Error) => end_with(&mut ws, encode::event("error", Some(&script.error_message)), 1000).await,
        Some(Fault::Close) => close(&mut ws, script.close_code).await,
        // The lines are flushed: dropping the socket now ends the stream with no close frame.
        Some(Fault::Drop) => return,
        Some(Fault::Silence) if script.answer_pings => Ok(()),
        Some(Fault::Silence) => return ignore_client(ws.get_mut()).await,
    };
    if closing.is_ok() {
        // Reading answers pings and the client's close frame; silence has no deadline.
        let drain = async { while let Some(Ok(_)) = ws.next().await {} };
        if script.fault == Some(Fault::Silence) {
            drain.await;
        } else {
            let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
        }
    }
}

async fn end_with(ws: &mut Ws, event: BytesMut, code: u16) -> Result<(), WsError> {
    ws.feed(Message::Frame(Frame::message(event.freeze(), OpCode::Data(Data::Text), true))).await?;
    close(ws, code).await
}

async fn close(ws: &mut Ws, code: u16) -> Result<(), WsError> {
    ws.close(Some(CloseFrame { code: code.into(), reason: "".into() })).await
}

/// Reads and discards raw bytes, so pings go unanswered, until the client leaves.
async fn ignore_client(io: &mut TokioIo<Upgraded>) {
    let mut sink = [0u8; 4096];
    while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
}
