//! Tailing a job's log over chunked HTTP (reqwest), split into lines by the sans-IO splitter.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use tokio::time::timeout;

use crate::error::{Error, Result};
use crate::rest::{self, urls};
use crate::stream::cursor::Track;
use crate::stream::emitter::{Emitter, Halt};
use crate::stream::limits::Unit;
use crate::stream::lines::LineSplitter;
use crate::stream::queue::Producer;
use crate::stream::spec::TailSpec;

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Opens `jobs/{id}/logs/stream/` and reads it to the end.
/// `opened` is called once the agent answered with a success.
pub async fn tail(spec: &TailSpec, tx: &Producer, track: &mut Track, opened: &(dyn Fn() + Sync)) -> Result<()> {
    let url = urls::join(&spec.base_url, &format!("jobs/{}/logs/stream/", spec.job_id));
    let mut request = spec.transport.http()?.get(&url);
    for (name, value) in spec.headers.iter() {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = match timeout(spec.timeout, request.send()).await {
        Err(_) => {
            return Err(Error::Timeout(format!(
                "the agent did not answer the log stream request within {:?}",
                spec.timeout
            )));
        }
        Ok(Err(e)) => return Err(rest::failed(&spec.transport, e)),
        Ok(Ok(response)) => response,
    };
    spec.transport.proxy_status(response.status().as_u16())?;
    let response = rest::check_status(response, &spec.secrets, spec.timeout).await?;
    opened();
    tx.stats().set_protocol(crate::stream::spec::Protocol::Http);
    let event_stream = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    let mut reader = Reader {
        body: Box::pin(response.bytes_stream()),
        rest: Bytes::new(),
        splitter: LineSplitter::new(spec.limits.max_message_size),
        event_stream,
    };
    reader.read(spec, tx, track).await
}

/// The body being read, with the part of a chunk left over when a batch filled up.
struct Reader {
    body: Body,
    rest: Bytes,
    splitter: LineSplitter,
    event_stream: bool,
}

impl Reader {
    /// Reads to the end; `timeout` seconds without a byte fail the stream with 408.
    async fn read(&mut self, spec: &TailSpec, tx: &Producer, track: &mut Track) -> Result<()> {
        let mut em = Emitter::new(spec, tx, Unit::Lines, track);
        loop {
            let step = timeout(spec.timeout, poll_fn(|cx| self.fill(&mut em, cx))).await;
            let halt = match step {
                Err(_) => Err(Error::Timeout(format!("no data from the agent for {:?}", spec.timeout))),
                Ok(Ok(())) => Ok(false),
                Ok(Err(Halt::Complete)) => Ok(true),
                Ok(Err(Halt::Fail(e))) => Err(e),
            };
            let more = em.flush().await;
            match halt {
                Err(e) => return Err(e),
                Ok(true) => return Ok(()),
                Ok(false) if !more => return Ok(()),
                Ok(false) => {}
            }
        }
    }

    /// Splits what is ready, up to a full batch. `Ready` once anything was decoded.
    fn fill(&mut self, em: &mut Emitter<'_>, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Halt>> {
        let event_stream = self.event_stream;
        let mut active = false;
        loop {
            if !self.rest.is_empty() {
                active = true;
                let used = self.splitter.push(&self.rest, |piece| em.http_line(piece, event_stream))?;
                self.rest.advance(used);
                if !self.rest.is_empty() {
                    return Poll::Ready(Ok(())); // the batch is full
                }
                // Bytes of a line still growing count now, not when (if ever) its `\n` comes.
                em.partial(self.splitter.partial_len())?;
            }
            match self.body.as_mut().poll_next(cx) {
                Poll::Pending if active => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.rest = chunk,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Halt::Fail(em.dropped_by(e)))),
                Poll::Ready(None) => {
                    // A body that ends cleanly is the agent saying the log is over.
                    self.splitter.finish(|piece| em.http_line(piece, event_stream))?;
                    return Poll::Ready(Err(Halt::Complete));
                }
            }
        }
    }
}
