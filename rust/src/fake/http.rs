//! The chunked HTTP log stream: a response body fed, chunk by chunk, by a task that plays the job script.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use tokio::sync::mpsc;

use super::encode;
use super::faults;
use super::reply::Body;
use super::script::{Fault, JobScript};
use super::state::{State, StreamGuard};
use super::tasks::Tasks;

/// Lines are gathered into chunks of about this size, unless paced or cut.
const CHUNK: usize = 64 * 1024;
/// The pause after a cut, so the pieces reach the client as separate reads.
const CUT_PAUSE: Duration = Duration::from_millis(10);
/// The pause before a dropped connection dies, so hyper has flushed the bytes it already took.
const DROP_DELAY: Duration = Duration::from_millis(50);

/// Answers the stream request of a known job: headers now, the body as the script plays.
pub(super) async fn answer(script: Arc<JobScript>, state: &State, tasks: &Tasks) -> Response<Body> {
    if let Some(stall) = script.stall {
        tokio::time::sleep(stall).await;
    }
    let plan = faults::next(&script);
    if let Some(code) = plan.as_ref().and_then(|p| p.refuse) {
        let status = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::SERVICE_UNAVAILABLE);
        return super::reply::detail(status, "this connection is refused (fault)");
    }
    let (tx, rx) = mpsc::channel(2);
    let content_type = HeaderValue::from_str(script.content_type()).unwrap_or(HeaderValue::from_static("text/plain"));
    let body = LogBody { rx, _open: state.open_stream() };
    match plan {
        Some(plan) => tasks.spawn(produce_wire(script.clone(), plan, Chunks::new(tx, &script.chunk_cuts))),
        None => tasks.spawn(produce(script.clone(), Chunks::new(tx, &script.chunk_cuts))),
    }
    let mut response = Response::new(body.boxed());
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The response body: what the producer sends, then the end (or an error that kills the connection).
struct LogBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    _open: StreamGuard,
}

impl hyper::body::Body for LogBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }
}

/// The client went away (hyper dropped the body).
struct Gone;

async fn produce(script: Arc<JobScript>, mut out: Chunks) {
    if play(&script, &mut out).await.is_err() {
        return;
    }
    match script.fault {
        Some(Fault::Drop) => out.abort().await,
        // Holding the sender keeps the body open until the client leaves or the server stops.
        Some(Fault::Silence) => out.tx.closed().await,
        _ => {}
    }
}

/// A planned body: the wire up to the cut, then the connection dies; or whole, then the end.
async fn produce_wire(script: Arc<JobScript>, plan: faults::ConnPlan, mut out: Chunks) {
    let mut wire = faults::Wire::http(&script, &plan);
    while let Some(chunk) = wire.next_chunk() {
        if !chunk.is_empty() && out.send(Bytes::from(chunk)).await.is_err() {
            return;
        }
    }
    if wire.cut {
        out.abort().await;
    }
}

async fn play(script: &JobScript, out: &mut Chunks) -> Result<(), Gone> {
    let mut pacer = script.pacer();
    let mut source = script.line_source();
    let (mut line, mut buf) = (Vec::new(), fresh_buffer());
    while source.next_into(&mut line) {
        if let Some(pacer) = &mut pacer {
            tokio::time::sleep_until(pacer.tick()).await;
        }
        encode::push_http_line(script, &line, &mut buf);
        if pacer.is_some() || buf.len() >= CHUNK {
            out.send(std::mem::replace(&mut buf, fresh_buffer()).freeze()).await?;
        }
    }
    encode::push_http_end(script, &mut buf);
    if !buf.is_empty() {
        out.send(buf.freeze()).await?;
    }
    Ok(())
}

fn fresh_buffer() -> BytesMut {
    BytesMut::with_capacity(CHUNK + 8 * 1024)
}

/// Sends body bytes to hyper, cutting them at the script's offsets into separately flushed chunks.
struct Chunks {
    tx: mpsc::Sender<io::Result<Bytes>>,
    cuts: Vec<usize>,
    next_cut: usize,
    offset: usize,
}

impl Chunks {
    fn new(tx: mpsc::Sender<io::Result<Bytes>>, cuts: &[usize]) -> Self {
        let mut cuts = cuts.to_vec();
        cuts.sort_unstable();
        cuts.dedup();
        Self { tx, cuts, next_cut: 0, offset: 0 }
    }

    async fn send(&mut self, mut bytes: Bytes) -> Result<(), Gone> {
        while let Some(&cut) = self.cuts.get(self.next_cut) {
            let room = cut.saturating_sub(self.offset);
            if room > bytes.len() {
                break;
            }
            self.next_cut += 1;
            // A cut at offset 0 would only make an empty chunk.
            if room > 0 {
                self.emit(bytes.split_to(room)).await?;
                tokio::time::sleep(CUT_PAUSE).await;
            }
        }
        if !bytes.is_empty() {
            self.emit(bytes).await?;
        }
        Ok(())
    }

    async fn emit(&mut self, bytes: Bytes) -> Result<(), Gone> {
        self.offset += bytes.len();
        self.tx.send(Ok(bytes)).await.map_err(|_| Gone)
    }

    /// Kills the connection once hyper has written what it took: no final chunk is ever sent.
    async fn abort(&mut self) {
        while self.tx.capacity() < self.tx.max_capacity() && !self.tx.is_closed() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(DROP_DELAY).await;
        let _ = self.tx.send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: drop"))).await;
    }
}
