//! What a fake job streams, in which format, and how its stream ends or breaks.

use std::str::FromStr;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::StatusCode;
use tokio::time::Instant;

use super::firehose;

/// How lines travel as WebSocket messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsFormat {
    /// `{"type": "log", "message": line}` text messages.
    Json,
    /// Each line verbatim as a text message.
    Raw,
    /// Each line verbatim as a binary message.
    Binary,
}

/// How lines are laid out in the chunked HTTP body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFormat {
    /// `line\n`, served as `text/plain`.
    Plain,
    /// `data: {"type": "log", "message": line}\n\n`, served as `text/event-stream`, then a complete event.
    Sse,
    /// `line\n` verbatim, served as `application/octet-stream`; never a complete event.
    Raw,
}

/// What the stream does after its last line, instead of ending normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send an error event, then end.
    Error,
    /// Close the TCP connection abruptly: no complete, no close frame, no final chunk.
    Drop,
    /// Send nothing more and keep the connection open.
    Silence,
    /// WebSocket: send a close frame with the script's close code and no complete.
    Close,
}

macro_rules! parse_names {
    ($ty:ident, $what:literal, $($name:literal => $variant:ident),+) => {
        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(format!(concat!("unknown ", $what, " {:?}, expected one of: ", $($name, " "),+), s)),
                }
            }
        }
    };
}

parse_names!(WsFormat, "ws_format", "json" => Json, "raw" => Raw, "binary" => Binary);
parse_names!(HttpFormat, "http_format", "plain" => Plain, "sse" => Sse, "raw" => Raw);
parse_names!(Fault, "fault", "error" => Error, "drop" => Drop, "silence" => Silence, "close" => Close);

/// The lines a job streams.
#[derive(Debug, Clone)]
pub enum Lines {
    /// These lines, in order.
    Given(Vec<String>),
    /// This many synthetic log lines, generated on the fly.
    Firehose(u64),
}

/// Everything a fake job streams and how its stream misbehaves.
#[derive(Debug, Clone)]
pub struct JobScript {
    /// The job id clients ask for.
    pub job_id: String,
    /// The log lines.
    pub lines: Lines,
    /// How lines travel on the WebSocket.
    pub ws_format: WsFormat,
    /// How lines are laid out in the HTTP stream.
    pub http_format: HttpFormat,
    /// Overrides the Content-Type of the HTTP stream.
    pub content_type: Option<String>,
    /// End HTTP lines with `\r\n` instead of `\n`.
    pub crlf: bool,
    /// Lines per second; `None` sends as fast as the socket takes them.
    pub pace: Option<f64>,
    /// What happens after the lines; `None` ends the stream normally.
    pub fault: Option<Fault>,
    /// The message of the error event (fault `Error`).
    pub error_message: String,
    /// The code of the close frame (fault `Close`).
    pub close_code: u16,
    /// Whether WebSocket pings are answered while the stream is silent.
    pub answer_pings: bool,
    /// Answer the WebSocket upgrade with this status instead of 101.
    pub refuse_websocket: Option<u16>,
    /// Split each WebSocket message into this many frames.
    pub fragment: Option<usize>,
    /// Byte offsets at which the HTTP body is cut into separately flushed chunks.
    pub chunk_cuts: Vec<usize>,
    /// Wait this long before answering a stream request.
    pub stall: Option<Duration>,
    /// The job's status in REST answers.
    pub status: String,
    /// Faults of single connections: connection `k` plays `connections[k]` (see `faults.rs`).
    pub connections: Vec<super::faults::ConnPlan>,
    /// Stream connections served so far (for `connections`).
    pub served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JobScript {
    /// A job that streams `lines` and then completes normally, with every other option at its default.
    pub fn new(job_id: impl Into<String>, lines: Lines) -> Self {
        Self {
            job_id: job_id.into(),
            lines,
            ws_format: WsFormat::Json,
            http_format: HttpFormat::Plain,
            content_type: None,
            crlf: false,
            pace: None,
            fault: None,
            error_message: "job failed".to_owned(),
            close_code: 1000,
            answer_pings: true,
            refuse_websocket: None,
            fragment: None,
            chunk_cuts: Vec::new(),
            stall: None,
            status: "RUNNING".to_owned(),
            connections: Vec::new(),
            served: std::sync::Arc::default(),
        }
    }

    /// Checks the options that the server could not honour, with a message for users.
    pub fn validate(&self) -> Result<(), String> {
        if self.job_id.is_empty() {
            return Err("job_id must not be empty".to_owned());
        }
        if self.pace.is_some_and(|p| !(p.is_finite() && p > 0.0)) {
            return Err("pace must be a positive number of lines per second".to_owned());
        }
        if !(1000..=4999).contains(&self.close_code) {
            return Err(format!("close_code must be between 1000 and 4999, not {}", self.close_code));
        }
        if let Some(code) = self.refuse_websocket {
            if code == 101 || !(200..=599).contains(&code) || StatusCode::from_u16(code).is_err() {
                return Err(format!("refuse_websocket must be an HTTP status between 200 and 599, not {code}"));
            }
        }
        for plan in &self.connections {
            plan.validate()?;
        }
        if self.fragment == Some(0) {
            return Err("fragment must be at least 1".to_owned());
        }
        if let Some(ct) = &self.content_type {
            if HeaderValue::from_str(ct).is_err() {
                return Err(format!("content_type {ct:?} is not a valid header value"));
            }
        }
        Ok(())
    }

    /// The lines, one at a time.
    pub fn line_source(&self) -> LineSource<'_> {
        match &self.lines {
            Lines::Given(lines) => LineSource::Given(lines.iter()),
            Lines::Firehose(count) => LineSource::Firehose { next: 0, end: *count },
        }
    }

    /// The whole log as one text, lines joined by `\n`.
    pub fn full_log(&self) -> String {
        let (mut log, mut line) = (Vec::new(), Vec::new());
        let mut source = self.line_source();
        while source.next_into(&mut line) {
            if !log.is_empty() {
                log.push(b'\n');
            }
            log.extend_from_slice(&line);
        }
        // Given lines are `String`s and synthetic ones ASCII: nothing is ever replaced.
        String::from_utf8_lossy(&log).into_owned()
    }

    /// The Content-Type of the HTTP stream.
    pub fn content_type(&self) -> &str {
        match (&self.content_type, self.http_format) {
            (Some(ct), _) => ct,
            (None, HttpFormat::Plain) => "text/plain; charset=utf-8",
            (None, HttpFormat::Sse) => "text/event-stream",
            (None, HttpFormat::Raw) => "application/octet-stream",
        }
    }

    /// A pacer for the script's `pace`, or `None` for full speed.
    pub fn pacer(&self) -> Option<Pacer> {
        self.pace.map(|per_second| Pacer { interval: Duration::from_secs_f64(1.0 / per_second), next: Instant::now() })
    }
}

/// The lines of a script, yielded as UTF-8 bytes into a reused buffer, so the firehose allocates nothing per line.
#[derive(Debug)]
pub enum LineSource<'a> {
    /// Given lines.
    Given(std::slice::Iter<'a, String>),
    /// Synthetic lines `next..end`.
    Firehose {
        /// The sequence number of the next line.
        next: u64,
        /// One past the last sequence number.
        end: u64,
    },
}

impl LineSource<'_> {
    /// Replaces `line` with the next line; `false` once the lines are exhausted.
    pub fn next_into(&mut self, line: &mut Vec<u8>) -> bool {
        line.clear();
        match self {
            Self::Given(lines) => lines.next().map(|l| line.extend_from_slice(l.as_bytes())).is_some(),
            Self::Firehose { next, end } => {
                if next >= end {
                    return false;
                }
                firehose::write_line(*next, line);
                *next += 1;
                true
            }
        }
    }
}

/// Spaces lines evenly at a fixed rate; deadlines are absolute so sleeps do not drift.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    /// The instant at which the next line may go out (the first one goes at once).
    pub fn tick(&mut self) -> Instant {
        let at = self.next;
        self.next += self.interval;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_names_are_explained() {
        assert_eq!("binary".parse::<WsFormat>(), Ok(WsFormat::Binary));
        assert_eq!("sse".parse::<HttpFormat>(), Ok(HttpFormat::Sse));
        assert_eq!("silence".parse::<Fault>(), Ok(Fault::Silence));
        let err = "nope".parse::<Fault>().unwrap_err();
        assert!(err.contains("\"nope\"") && err.contains("drop"), "{err}");
    }

    #[test]
    fn validate_rejects_what_the_server_cannot_do() {
        let mut script = JobScript::new("j", Lines::Given(vec![]));
        assert!(script.validate().is_ok());
        script.pace = Some(0.0);
        assert!(script.validate().is_err());
        script.pace = None;
        script.refuse_websocket = Some(101);
        assert!(script.validate().is_err());
        script.refuse_websocket = Some(403);
        script.content_type = Some("bad\nvalue".to_owned());
        assert!(script.validate().is_err());
    }

    #[test]
    fn full_log_joins_lines() {
        let script = JobScript::new("j", Lines::Given(vec!["a".into(), "b".into()]));
        assert_eq!(script.full_log(), "a\nb");
        let firehose = JobScript::new("j", Lines::Firehose(3));
        assert_eq!(firehose.full_log().lines().count(), 3);
    }
}
