//! Sans-IO WebSocket frame reader (the client side of RFC 6455): bytes in, messages and
//! control frames out, over-long messages discarded as they stream.
//!
//! tungstenite assembles every message whole before handing it over, which makes a bound on
//! memory impossible; this reader hands out a frame that lies whole in the chunk without a
//! copy, holds at most `max_message_size` bytes of a fragmented message, and only counts
//! (and checks) the bytes of one that will be skipped.

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
const MAX_HEADER: usize = 14;

/// The limit on one message when the caller sets none: a message is held whole in that
/// case, so something must bound it.
pub const HARD_MESSAGE_CAP: u64 = 64 << 20;

/// A buffer for a fragmented message is released when it grew beyond this.
const KEEP_CAPACITY: usize = 1 << 20;

/// One piece of output of the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A text message, valid UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A data message over the size limit, already discarded (text was still checked to be
    /// UTF-8); only its length in bytes is known.
    Skipped(u64),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// A close frame: its code and reason, if it had any. Nothing after it is read.
    Close(Option<(u16, &'a str)>),
}

/// A protocol violation by the server: the connection must be failed with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The close code to send: 1002 (protocol error), 1007 (invalid UTF-8) or 1009 (too big).
    pub code: u16,
    /// What was wrong, for the error message.
    pub what: &'static str,
}

impl Violation {
    const fn protocol(what: &'static str) -> Self {
        Self { code: 1002, what }
    }

    const fn utf8() -> Self {
        Self { code: 1007, what: "a text message or close reason is not valid UTF-8" }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close code {})", self.what, self.code)
    }
}

impl std::error::Error for Violation {}

/// Opcodes of RFC 6455 section 5.2.
mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A parsed, checked frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
}

impl Header {
    /// Parses a header from the start of `bytes`; `None` when more bytes are needed.
    #[inline]
    fn parse(bytes: &[u8]) -> Result<Option<(Self, usize)>, Violation> {
        let [b0, b1, ..] = *bytes else { return Ok(None) };
        let extra = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let masked = b1 & 0x80 != 0;
        let size = 2 + extra + if masked { 4 } else { 0 };
        if bytes.len() < size {
            return Ok(None);
        }
        let len = match extra {
            0 => u64::from(b1 & 0x7F),
            2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            _ => {
                let mut be = [0; 8];
                be.copy_from_slice(&bytes[2..10]);
                u64::from_be_bytes(be)
            }
        };
        let header = Self { fin: b0 & 0x80 != 0, opcode: b0 & 0x0F, len };
        if b0 & 0x70 != 0 {
            return Err(Violation::protocol("a frame has reserved bits set but no extension was negotiated"));
        }
        if !matches!(header.opcode, op::CONTINUATION | op::TEXT | op::BINARY | op::CLOSE | op::PING | op::PONG) {
            return Err(Violation::protocol("a frame has a reserved opcode"));
        }
        if masked {
            return Err(Violation::protocol("the server sent a masked frame"));
        }
        if len >> 63 != 0 {
            return Err(Violation::protocol("a frame length has its most significant bit set"));
        }
        if header.is_control() {
            if !header.fin {
                return Err(Violation::protocol("a control frame is fragmented"));
            }
            if len > 125 {
                return Err(Violation::protocol("a control frame is longer than 125 bytes"));
            }
        }
        Ok(Some((header, size)))
    }

    #[inline]
    fn is_control(self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Incremental UTF-8 check over pieces cut anywhere, even inside a character.
#[derive(Debug, Default, Clone)]
struct Utf8Check {
    /// The start of a character cut at the end of the previous piece.
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Check {
    /// Checks the next piece; fails as soon as the bytes so far cannot start valid UTF-8.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        if self.carry_len > 0 {
            let width = match self.carry[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.carry_len).min(bytes.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&bytes[..take]);
            self.carry_len += take;
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                // Still a valid prefix: the piece ended inside the same character.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(Violation::utf8()),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let rest = &bytes[e.valid_up_to()..];
                self.carry[..rest.len()].copy_from_slice(rest);
                self.carry_len = rest.len();
                Ok(())
            }
            Err(_) => Err(Violation::utf8()),
        }
    }

    /// Ends the text: a character still cut off is invalid.
    fn finish(&mut self) -> Result<(), Violation> {
        let cut = self.carry_len != 0;
        self.carry_len = 0;
        if cut {
            Err(Violation::utf8())
        } else {
            Ok(())
        }
    }
}

/// The data message whose frames are being read.
#[derive(Debug)]
struct Message {
    text: bool,
    /// Payload bytes announced so far by its frame headers.
    len: u64,
    /// Over the limit: its bytes are only checked and counted.
    skip: bool,
    utf8: Utf8Check,
}

/// The frame whose payload is streaming in.
#[derive(Debug, Clone, Copy)]
struct Current {
    header: Header,
    remaining: u64,
}

/// What to do with a message over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oversize {
    /// Discard it as it streams and report [`Item::Skipped`].
    Skip(u64),
    /// Fail the connection with 1009: there is no limit to skip by, only the hard cap.
    Fail(u64),
}

/// Reads server frames from a byte stream, whatever the chunk boundaries.
#[derive(Debug)]
pub struct FrameReader {
    oversize: Oversize,
    /// The bytes of a header cut by the end of a chunk.
    head: [u8; MAX_HEADER],
    head_len: usize,
    current: Option<Current>,
    message: Option<Message>,
    /// The payload of a fragmented (or chunk-crossing) message within the limit.
    pending: Vec<u8>,
    /// The payload of a control frame cut by the end of a chunk.
    control: Vec<u8>,
    /// A close frame was read: the connection is over, later bytes are ignored.
    closed: bool,
}

impl FrameReader {
    /// A reader that skips messages over `max_message_size` bytes; with no limit, one over
    /// [`HARD_MESSAGE_CAP`] fails the connection with 1009.
    pub fn new(max_message_size: Option<u64>) -> Self {
        Self {
            oversize: max_message_size.map_or(Oversize::Fail(HARD_MESSAGE_CAP), Oversize::Skip),
            head: [0; MAX_HEADER],
            head_len: 0,
            current: None,
            message: None,
            pending: Vec::new(),
            control: Vec::new(),
            closed: false,
        }
    }

    /// Feeds one chunk; `emit` gets every item it completes and answers whether to go on
    /// (`Ok(false)` pauses after that item) or fails the feed. A protocol violation fails it
    /// with `E::from(violation)`. Returns how many bytes of `chunk` were consumed: all of them
    /// unless `emit` paused; feed the rest later.
    pub fn push<E: From<Violation>>(
        &mut self,
        chunk: &[u8],
        mut emit: impl FnMut(Item<'_>) -> Result<bool, E>,
    ) -> Result<usize, E> {
        if self.closed {
            return Ok(chunk.len());
        }
        let mut at = 0;
        loop {
            if let Some(current) = self.current {
                let n = usize::try_from(current.remaining).unwrap_or(usize::MAX).min(chunk.len() - at);
                if n == 0 && current.remaining > 0 {
                    return Ok(at);
                }
                self.take(current.header, &chunk[at..at + n])?;
                at += n;
                let remaining = current.remaining - n as u64;
                if remaining > 0 {
                    self.current = Some(Current { remaining, ..current });
                    return Ok(at);
                }
                self.current = None;
                if !self.end_frame(current.header, &mut emit)? {
                    return Ok(at);
                }
                continue;
            }
            if at == chunk.len() {
                return Ok(at);
            }
            let Some(header) = self.header(chunk, &mut at)? else {
                return Ok(at);
            };
            // The common case: a whole unfragmented message lies in the chunk; no copy.
            let rest = &chunk[at..];
            if header.fin
                && matches!(header.opcode, op::TEXT | op::BINARY)
                && self.message.is_none()
                && header.len <= rest.len() as u64
                && header.len <= self.limit()
            {
                let payload = &rest[..header.len as usize];
                at += payload.len();
                let item = if header.opcode == op::TEXT {
                    Item::Text(std::str::from_utf8(payload).map_err(|_| Violation::utf8())?)
                } else {
                    Item::Binary(payload)
                };
                if !emit(item)? {
                    return Ok(at);
                }
                continue;
            }
            self.begin_frame(header)?;
        }
    }

    /// Payload bytes received so far of the data message still arriving (0 between messages),
    /// so that `max_bytes` counts a message as it streams in, not only once it is complete.
    pub fn partial_len(&self) -> u64 {
        let Some(message) = &self.message else { return 0 };
        let unread = self.current.filter(|c| !c.header.is_control()).map_or(0, |c| c.remaining);
        message.len.saturating_sub(unread)
    }

    /// The size limit of one message.
    #[inline]
    fn limit(&self) -> u64 {
        match self.oversize {
            Oversize::Skip(max) | Oversize::Fail(max) => max,
        }
    }

    /// Reads the next header, from the chunk or from a piece kept from the previous one.
    #[inline]
    fn header(&mut self, chunk: &[u8], at: &mut usize) -> Result<Option<Header>, Violation> {
        if self.head_len == 0 {
            if let Some((header, size)) = Header::parse(&chunk[*at..])? {
                *at += size;
                return Ok(Some(header));
            }
            let rest = &chunk[*at..];
            self.head[..rest.len()].copy_from_slice(rest);
            self.head_len = rest.len();
            *at = chunk.len();
            return Ok(None);
        }
        let old = self.head_len;
        let take = (MAX_HEADER - old).min(chunk.len() - *at);
        self.head[old..old + take].copy_from_slice(&chunk[*at..*at + take]);
        match Header::parse(&self.head[..old + take])? {
            Some((header, size)) => {
                self.head_len = 0;
                *at += size - old;
                Ok(Some(header))
            }
            None => {
                self.head_len = old + take;
                *at += take;
                Ok(None)
            }
        }
    }

    /// Checks a frame against the message in progress and starts reading its payload.
    fn begin_frame(&mut self, header: Header) -> Result<(), Violation> {
        self.current = Some(Current { header, remaining: header.len });
        if header.is_control() {
            self.control.clear();
            return Ok(());
        }
        let limit = self.limit();
        let message = match (header.opcode, self.message.as_mut()) {
            (op::CONTINUATION, None) => {
                return Err(Violation::protocol("a continuation frame has no message to continue"))
            }
            (op::CONTINUATION, Some(message)) => {
                message.len = message.len.saturating_add(header.len);
                message
            }
            (_, Some(_)) => return Err(Violation::protocol("a new message started inside a fragmented one")),
            (opcode, None) => self.message.insert(Message {
                text: opcode == op::TEXT,
                len: header.len,
                skip: false,
                utf8: Utf8Check::default(),
            }),
        };
        if message.len > limit && !message.skip {
            if let Oversize::Fail(_) = self.oversize {
                return Err(Violation { code: 1009, what: "a message is larger than the 64 MiB the reader can hold" });
            }
            message.skip = true;
            self.release_pending();
        }
        Ok(())
    }

    /// Takes payload bytes of the current frame.
    #[inline]
    fn take(&mut self, header: Header, bytes: &[u8]) -> Result<(), Violation> {
        if header.is_control() {
            self.control.extend_from_slice(bytes);
            return Ok(());
        }
        if let Some(message) = self.message.as_mut() {
            if message.text {
                message.utf8.feed(bytes)?;
            }
            if !message.skip {
                self.pending.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Handles the end of a frame's payload.
    fn end_frame<E: From<Violation>>(
        &mut self,
        header: Header,
        emit: &mut impl FnMut(Item<'_>) -> Result<bool, E>,
    ) -> Result<bool, E> {
        match header.opcode {
            op::PING => return emit(Item::Ping(&self.control)),
            op::PONG => return emit(Item::Pong(&self.control)),
            op::CLOSE => {
                let close = close_payload(&self.control)?;
                self.closed = true;
                emit(Item::Close(close))?;
                return Ok(false);
            }
            _ if !header.fin => return Ok(true),
            _ => {}
        }
        let Some(mut message) = self.message.take() else { return Ok(true) };
        if message.text {
            message.utf8.finish()?;
        }
        let go_on = if message.skip {
            emit(Item::Skipped(message.len))
        } else if message.text {
            emit(Item::Text(std::str::from_utf8(&self.pending).map_err(|_| Violation::utf8())?))
        } else {
            emit(Item::Binary(&self.pending))
        };
        self.release_pending();
        go_on
    }

    /// Empties the message buffer, giving its memory back when it grew large.
    fn release_pending(&mut self) {
        if self.pending.capacity() > KEEP_CAPACITY {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
    }

    /// Bytes held for a message or frame in progress (for tests of the memory bound).
    pub fn held(&self) -> usize {
        self.pending.len() + self.control.len() + self.head_len
    }
}

/// The code and reason of a close frame (RFC 6455 section 7.4: codes a peer may send).
fn close_payload(payload: &[u8]) -> Result<Option<(u16, &str)>, Violation> {
    let [a, b, reason @ ..] = payload else {
        return if payload.is_empty() {
            Ok(None)
        } else {
            Err(Violation::protocol("a close frame has a one-byte payload"))
        };
    };
    let code = u16::from_be_bytes([*a, *b]);
    if !matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999) {
        return Err(Violation::protocol("a close frame has a code that may not be sent"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| Violation::utf8())?;
    Ok(Some((code, reason)))
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
