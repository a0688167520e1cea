//! The byte stream under a WebSocket: it gives the handshake no byte past the `101` answer's
//! head, so the frames that follow are read by `frames.rs` and never buffered by tungstenite.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::BoxIo;

/// The read size while the response head is awaited (tungstenite reads no more at a time).
const HEAD_READ: usize = 4096;

/// A connection whose reads stop at the end of the HTTP response head once.
pub struct Upgraded {
    io: BoxIo,
    /// Bytes read while the head was awaited, from the start of the response.
    held: Vec<u8>,
    /// How many of `held` were handed out.
    at: usize,
    /// The head was handed out whole (or the answer is not a `101`): reads pass through.
    head_done: bool,
}

impl Upgraded {
    /// Wraps a connection before the handshake is written.
    pub fn new(io: BoxIo) -> Self {
        Self { io, held: Vec::new(), at: 0, head_done: false }
    }

    /// Where the handed-out bytes must stop, and whether that is the end of the head: the
    /// end of a `101` answer's head, or everything held for any other answer (its body is
    /// the error detail).
    fn boundary(&self) -> (usize, bool) {
        if self.held.len() >= 12 && self.held[9..12] != *b"101" {
            return (self.held.len(), true);
        }
        match memchr::memmem::find(&self.held, b"\r\n\r\n") {
            Some(end) => (end + 4, true),
            None => (self.held.len(), false),
        }
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.head_done && this.at == this.held.len() {
            return Pin::new(&mut this.io).poll_read(cx, out);
        }
        if !this.head_done && this.at == this.held.len() {
            let mut tmp = [0u8; HEAD_READ];
            let mut buf = ReadBuf::new(&mut tmp);
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.held.extend_from_slice(buf.filled());
        }
        let (stop, head_end) = if this.head_done { (this.held.len(), true) } else { this.boundary() };
        let n = (stop - this.at).min(out.remaining());
        out.put_slice(&this.held[this.at..this.at + n]);
        this.at += n;
        if head_end && this.at == stop {
            this.head_done = true;
        }
        if this.head_done && this.at == this.held.len() {
            this.held = Vec::new();
            this.at = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
