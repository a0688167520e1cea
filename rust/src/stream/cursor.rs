//! The resume cursor: where a stream is in the text handed out, and how a new connection's
//! replay is skipped up to it and checked against it.
//!
//! The text is the sequence of lines handed out, each followed by `\n`: independent of how the
//! agent groups lines into WebSocket messages or SSE events, and of the protocol. Its cursor
//! ([`Position`]) is the number of those bytes and a 128-bit XXH3 hash of them: 24 bytes,
//! which a checkpoint string carries. Every new connection replays the log from its start; the
//! reader feeds the replay to a [`Replay`] that hashes and drops it up to the cursor, compares
//! the hashes there, and hands back the rest of an item the cursor cuts.
//!
//! XXH3-128 is chosen by measurement (about 14 ns per 130-byte line, against 72 ns for
//! SHA-256 with SHA-NI and 130 ns for BLAKE3 on the benchmark machine): it tells a truncated,
//! rotated or rewritten log apart from the one handed out with a chance of a miss of about
//! 2^-128 for accidents, but it is not a cryptographic hash: someone who controls the log can
//! craft a different text with the same hash. See `docs/reliability.md`.

use std::sync::{Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use xxhash_rust::xxh3::Xxh3Default;

use crate::error::{Error, Result};
use crate::text::plural;

/// The cursor over the text handed out: its length and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Bytes of text (each line plus its `\n`).
    pub bytes: u64,
    /// XXH3-128 of those bytes.
    pub digest: u128,
}

impl Position {
    /// The start: nothing handed out.
    pub fn start() -> Self {
        Running::new().position()
    }
}

/// A cursor being moved along: the length and the hash state, to go on hashing.
///
/// The state is boxed: it is 64-byte aligned, which objects that hold a cursor (Python's
/// among them, whose allocator aligns to 16) could not promise.
#[derive(Clone)]
pub struct Running {
    bytes: u64,
    hasher: Box<Xxh3Default>,
}

/// The length only: the hash state is of no use to read.
impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Running({} bytes)", self.bytes)
    }
}

impl Default for Running {
    fn default() -> Self {
        Self::new()
    }
}

impl Running {
    /// At the start of the text.
    pub fn new() -> Self {
        Self { bytes: 0, hasher: Box::new(Xxh3Default::new()) }
    }

    /// Moves past one line and its `\n`.
    #[inline]
    pub fn line(&mut self, line: &str) {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.bytes += line.len() as u64 + 1;
    }

    /// Moves past some bytes.
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    /// Bytes passed so far.
    #[inline]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Where it is.
    pub fn position(&self) -> Position {
        Position { bytes: self.bytes, digest: self.hasher.digest128() }
    }

    /// Where it is after `lines` more.
    pub fn after<'a>(&self, lines: impl Iterator<Item = &'a str>) -> Position {
        let mut at = self.clone();
        lines.for_each(|l| at.line(l));
        at.position()
    }
}

/// What to do with one replayed line.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed<'a> {
    /// Already handed out: drop it.
    Skip,
    /// It ended exactly at the cursor, which checked out: drop it, and hand out what follows.
    Done,
    /// The cursor cut it and checked out: hand out this rest of it, then what follows.
    Rest(&'a str),
}

/// Why a replay does not continue the text handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The replay ended after this many bytes, before the cursor.
    Shorter(u64),
    /// The replay's bytes up to the cursor hash differently.
    Different,
}

/// The replay of a new connection, hashed and dropped up to the cursor.
pub struct Replay {
    target: Position,
    seen: Running,
}

impl Replay {
    /// A replay to skip up to `target` (more than zero bytes).
    pub fn new(target: Position) -> Self {
        Self { target, seen: Running::new() }
    }

    /// The cursor to reach.
    pub fn target(&self) -> Position {
        self.target
    }

    /// Bytes of the replay seen so far.
    pub fn seen(&self) -> u64 {
        self.seen.bytes
    }

    /// Feeds one replayed line.
    #[inline]
    pub fn feed<'a>(&mut self, line: &'a str) -> std::result::Result<Fed<'a>, Mismatch> {
        let left = self.target.bytes - self.seen.bytes;
        let len = line.len() as u64 + 1;
        if len < left {
            self.seen.line(line);
            return Ok(Fed::Skip);
        }
        if len == left {
            self.seen.line(line);
            return self.check().map(|()| Fed::Done);
        }
        // The cursor falls inside this item: `cut` bytes of it (fewer than the line's, as the
        // line's `\n` is not reached) were handed out. Compared first, sliced after, so that a
        // cut inside a character is a mismatch, never a panic.
        let cut = usize::try_from(left).unwrap_or(usize::MAX).min(line.len());
        self.seen.raw(&line.as_bytes()[..cut]);
        self.check()?;
        line.get(cut..).map(Fed::Rest).ok_or(Mismatch::Different)
    }

    fn check(&self) -> std::result::Result<(), Mismatch> {
        if self.seen.position() == self.target {
            Ok(())
        } else {
            Err(Mismatch::Different)
        }
    }

    /// The cursor reached (after [`Fed::Done`] or [`Fed::Rest`]), to go on from.
    pub fn into_running(self) -> Running {
        self.seen
    }
}

/// The error of a replay that does not continue what was handed out (409).
pub fn mismatch_error(job_id: &str, target: Position, mismatch: &Mismatch) -> Error {
    let handed = plural(target.bytes, "byte");
    let detail = match mismatch {
        Mismatch::Shorter(seen) => format!(
            "job {job_id}: the agent's replay of the log ended after {}, before the {handed} already handed \
             out: the log was truncated or rotated (the replay diverged at byte {seen}); nothing of the new \
             connection was handed out",
            plural(*seen, "byte")
        ),
        Mismatch::Different => format!(
            "job {job_id}: the agent's replay of the log differs from the {handed} already handed out (the \
             replay diverged within its first {handed}: their hashes differ): the log was rewritten; nothing \
             of the new connection was handed out"
        ),
    };
    let diverged = match mismatch {
        Mismatch::Shorter(seen) => *seen,
        Mismatch::Different => target.bytes,
    };
    Error::ReplayMismatch { detail, handed_out: target.bytes, diverged_at: diverged }
}

/// The version tag of checkpoint strings.
const TAG: &str = "c1";
/// The longest checkpoint string.
pub const MAX_CHECKPOINT: usize = 128;

/// A checkpoint's string: `c1.<bytes, hex>.<digest, base64url>.<job id>`, at most 128
/// characters. A job id too long to fit is named by `~` and a hash of it instead.
pub fn encode_checkpoint(job_id: &str, at: Position) -> String {
    let digest = URL_SAFE_NO_PAD.encode(at.digest.to_be_bytes());
    let head = format!("{TAG}.{:x}.{digest}.", at.bytes);
    if head.len() + job_id.len() <= MAX_CHECKPOINT {
        format!("{head}{job_id}")
    } else {
        format!("{head}~{}", job_name_hash(job_id))
    }
}

/// The hash naming a job id too long to be spelled in a checkpoint.
fn job_name_hash(job_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(xxhash_rust::xxh3::xxh3_128(job_id.as_bytes()).to_be_bytes())
}

/// Reads a checkpoint string for `job_id`: 400 when it is malformed or names another job.
pub fn decode_checkpoint(job_id: &str, text: &str) -> Result<Position> {
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "resume_from is not a checkpoint of this client ({why}); pass what stream.checkpoint() returned"
        ))
    };
    if text.len() > MAX_CHECKPOINT || !text.is_ascii() {
        return Err(bad("too long or not ASCII"));
    }
    let mut parts = text.splitn(4, '.');
    let (Some(tag), Some(bytes), Some(digest), Some(job)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("it has too few parts"));
    };
    if tag != TAG {
        return Err(bad("unknown version"));
    }
    let bytes = u64::from_str_radix(bytes, 16).map_err(|_| bad("bad length"))?;
    let digest: [u8; 16] =
        URL_SAFE_NO_PAD.decode(digest).ok().and_then(|d| d.try_into().ok()).ok_or_else(|| bad("bad hash"))?;
    let named = match job.strip_prefix('~') {
        Some(hash) => hash == job_name_hash(job_id),
        None => job == job_id,
    };
    if !named {
        let shown = if job.starts_with('~') { "a job with a long id".to_owned() } else { format!("job {job:?}") };
        return Err(Error::InvalidArgument(format!("resume_from is a checkpoint of {shown}, not of job {job_id:?}")));
    }
    let at = Position { bytes, digest: u128::from_be_bytes(digest) };
    if bytes == 0 && at != Position::start() {
        return Err(bad("bad hash"));
    }
    Ok(at)
}

/// The cursor's side of one stream shared by its reader and its consumer: the start of every
/// batch queued, so that the consumer can tell the cursor after the lines it handed out
/// without hashing them on its own thread until a checkpoint is asked for.
pub struct Ledger {
    inner: Mutex<LedgerState>,
    /// Whether the cursor is kept at all (resume or a checkpoint was asked for).
    pub enabled: bool,
}

struct LedgerState {
    /// The cursor at the start and at the end of each batch queued and not yet taken, oldest first.
    marks: std::collections::VecDeque<(Running, Running)>,
    /// Where the stream started (a checkpoint's cursor, or the start).
    origin: Position,
}

impl Ledger {
    /// A ledger starting at `origin`.
    pub fn new(enabled: bool, origin: Position) -> Self {
        Self { inner: Mutex::new(LedgerState { marks: std::collections::VecDeque::new(), origin }), enabled }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader: the next batch queued starts and ends at these cursors.
    pub fn queued(&self, start: Running, end: Running) {
        self.lock().marks.push_back((start, end));
    }

    /// The consumer: took the next batch; returns where it starts and ends.
    pub fn taken(&self) -> Option<(Running, Running)> {
        self.lock().marks.pop_front()
    }

    /// Where the stream started.
    pub fn origin(&self) -> Position {
        self.lock().origin
    }
}

/// The reader's side of the cursor, across the connections of one stream.
pub struct Track {
    /// Whether the cursor is kept at all.
    pub enabled: bool,
    /// The cursor at the end of what was queued, with its hash state; `None` while a replay is
    /// being skipped (the state is rebuilt from the replay) or when not enabled.
    pub running: Option<Running>,
    /// The replay of the current connection being skipped, until it reached the cursor.
    pub replay: Option<Replay>,
    /// Where the stream starts (a checkpoint's cursor) when nothing was queued yet.
    origin: Position,
    /// The reader saw a failure that must not be retried (a WebSocket close code, say).
    pub no_retry: bool,
    /// A connection of this stream was established once (resuming starts from then on).
    pub established: bool,
    /// Totals of the connections before the current one.
    pub lines: u64,
    pub messages: u64,
    pub bytes: u64,
    /// Shared with the consumer: batch starts.
    pub ledger: std::sync::Arc<Ledger>,
}

impl Track {
    /// The reader's cursor of a stream starting at `ledger`'s origin.
    pub fn new(ledger: std::sync::Arc<Ledger>) -> Self {
        let origin = ledger.origin();
        Self {
            enabled: ledger.enabled,
            running: None,
            replay: None,
            origin,
            no_retry: false,
            established: false,
            lines: 0,
            messages: 0,
            bytes: 0,
            ledger,
        }
    }

    /// Where the text queued so far ends.
    pub fn position(&self) -> Position {
        match (&self.running, &self.replay) {
            (Some(running), _) => running.position(),
            (None, Some(replay)) => replay.target(),
            (None, None) => self.origin,
        }
    }

    /// Bytes of text queued so far (with the origin's).
    pub fn queued_bytes(&self) -> u64 {
        match (&self.running, &self.replay) {
            (Some(running), _) => running.bytes(),
            (None, Some(replay)) => replay.target().bytes,
            (None, None) => self.origin.bytes,
        }
    }

    /// A new connection starts: its replay is to be skipped up to the cursor.
    pub fn connecting(&mut self) {
        self.no_retry = false;
        if !self.enabled {
            return;
        }
        let at = self.position();
        if at.bytes == 0 {
            self.running = Some(Running::new());
            self.replay = None;
        } else {
            self.running = None;
            self.replay = Some(Replay::new(at));
        }
    }

    /// The stream ended normally: a replay still short of the cursor is a mismatch.
    pub fn ended(&self, job_id: &str) -> Result<()> {
        match &self.replay {
            Some(replay) => Err(mismatch_error(job_id, replay.target(), &Mismatch::Shorter(replay.seen()))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Position {
        let mut r = Running::new();
        for line in text.split_terminator('\n') {
            r.line(line);
        }
        r.position()
    }

    #[test]
    fn the_cursor_ignores_grouping() {
        let mut a = Running::new();
        a.line("x\ny");
        let mut b = Running::new();
        b.line("x");
        b.line("y");
        assert_eq!(a.position(), b.position());
        assert_eq!(a.position().bytes, 4);
    }

    #[test]
    fn a_replay_is_skipped_and_the_cut_item_continues() {
        let mut r = Replay::new(at("a\nb\n"));
        assert_eq!(r.feed("a"), Ok(Fed::Skip));
        assert_eq!(r.feed("b\nc"), Ok(Fed::Rest("c")));
        let mut r = Replay::new(at("a\nb\n"));
        assert_eq!(r.feed("a\nb"), Ok(Fed::Done));
        let running = r.into_running();
        assert_eq!(running.position(), at("a\nb\n"));
    }

    #[test]
    fn a_different_replay_is_a_mismatch() {
        let mut r = Replay::new(at("a\nb\n"));
        assert_eq!(r.feed("a"), Ok(Fed::Skip));
        assert_eq!(r.feed("c"), Err(Mismatch::Different));
        // A cut inside a character: a mismatch, not a panic.
        let mut r = Replay::new(Position { bytes: 2, digest: 0 });
        assert_eq!(r.feed("\u{e9}x"), Err(Mismatch::Different));
    }

    #[test]
    fn checkpoints_round_trip_and_name_their_job() {
        let p = at("hello\nw\u{f6}rld\n");
        let text = encode_checkpoint("raysubmit_abc123", p);
        assert!(text.len() <= MAX_CHECKPOINT);
        assert_eq!(decode_checkpoint("raysubmit_abc123", &text).unwrap(), p);
        let other = decode_checkpoint("raysubmit_other", &text).unwrap_err();
        assert!(other.to_string().contains("raysubmit_abc123"), "{other}");
        for bad in ["", "c1", "c2.1.AAAAAAAAAAAAAAAAAAAAAA.j", "c1.zz.AAAAAAAAAAAAAAAAAAAAAA.j", "c1.1.AA.j"] {
            assert!(matches!(decode_checkpoint("j", bad), Err(Error::InvalidArgument(_))), "{bad}");
        }
        let long = "j".repeat(100);
        let text = encode_checkpoint(&long, Position { bytes: u64::MAX, digest: u128::MAX });
        assert!(text.len() <= MAX_CHECKPOINT, "{}", text.len());
        assert_eq!(decode_checkpoint(&long, &text).unwrap().bytes, u64::MAX);
        assert!(decode_checkpoint(&"k".repeat(100), &text).is_err());
    }
}
