//! Loopback tests of the server with bare-bones blocking clients, and the firehose throughput check.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::{FakeAgent, JobScript, Lines, StreamStats, WsFormat};

fn agent_with(script: JobScript) -> (FakeAgent, SocketAddr) {
    let agent = FakeAgent::new();
    agent.add_job(script).unwrap();
    let addr = agent.start("127.0.0.1", 0, Some("tok".to_owned())).unwrap();
    (agent, addr)
}

/// Sends a GET and returns the reader positioned after the response headers, with the status.
fn get(addr: SocketAddr, path: &str, extra: &str) -> (u16, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: tok\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    (status, reader)
}

/// Reads a chunked body to its end; returns the number of `\n` in it and whether it ended cleanly.
fn count_chunked_lines(reader: &mut BufReader<TcpStream>) -> (u64, bool) {
    let (mut lines, mut size_line, mut chunk) = (0, String::new(), Vec::new());
    loop {
        size_line.clear();
        if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
            return (lines, false);
        }
        let size = usize::from_str_radix(size_line.trim_end(), 16).unwrap();
        chunk.resize(size + 2, 0);
        if reader.read_exact(&mut chunk).is_err() {
            return (lines, false);
        }
        if size == 0 {
            return (lines, true);
        }
        lines += memchr::memchr_iter(b'\n', &chunk[..size]).count() as u64;
    }
}

/// Reads WebSocket frames to the close frame; returns the data messages (payloads of whole messages).
fn read_ws_messages(reader: &mut BufReader<TcpStream>, keep: bool) -> (u64, Vec<Vec<u8>>) {
    let (mut count, mut kept, mut message, mut header) = (0, Vec::new(), Vec::new(), [0u8; 2]);
    let mut payload = Vec::new();
    loop {
        reader.read_exact(&mut header).unwrap();
        let (fin, opcode) = (header[0] & 0x80 != 0, header[0] & 0x0f);
        let len = match header[1] & 0x7f {
            126 => read_be(reader, 2),
            127 => read_be(reader, 8),
            n => u64::from(n),
        };
        payload.resize(usize::try_from(len).unwrap(), 0);
        reader.read_exact(&mut payload).unwrap();
        if opcode == 8 {
            return (count, kept);
        }
        if keep {
            message.extend_from_slice(&payload);
        }
        if fin {
            count += 1;
            if keep {
                kept.push(std::mem::take(&mut message));
            }
        }
    }
}

fn read_be(reader: &mut BufReader<TcpStream>, n: usize) -> u64 {
    let mut buf = [0u8; 8];
    reader.read_exact(&mut buf[8 - n..]).unwrap();
    u64::from_be_bytes(buf)
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[test]
fn http_stream_ends_cleanly_and_is_counted() {
    let (agent, addr) = agent_with(JobScript::new("j", Lines::Given(vec!["a".into(), "b".into()])));
    let (status, mut reader) = get(addr, "/jobs/j/logs/stream/", "");
    assert_eq!(status, 200);
    assert_eq!(count_chunked_lines(&mut reader), (2, true));
    drop(reader);
    assert!(agent.stop());
    assert_eq!(agent.stream_stats(), StreamStats { opened: 1, open: 0, closed: 1 });
}

#[test]
fn websocket_fragments_and_completes() {
    let mut script = JobScript::new("j", Lines::Given(vec!["hello".into()]));
    script.fragment = Some(3);
    let (_agent, addr) = agent_with(script);
    let (status, mut reader) = get(addr, "/jobs/j/logs/", UPGRADE);
    assert_eq!(status, 101);
    let (count, messages) = read_ws_messages(&mut reader, true);
    assert_eq!(count, 2);
    assert_eq!(messages[0], br#"{"type":"log","message":"hello"}"#);
    assert_eq!(messages[1], br#"{"type":"complete"}"#);
}

#[test]
fn wrong_token_is_refused() {
    let (_agent, addr) = agent_with(JobScript::new("j", Lines::Given(vec![])));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /health/ HTTP/1.1\r\nHost: x\r\nAuthorization: nope\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.ends_with(r#"{"detail":"Invalid agent token"}"#), "{answer}");
}

/// Lines per second the server sends to a client that only counts them.
fn firehose_rate(ws_format: Option<WsFormat>, lines: u64) -> f64 {
    let mut script = JobScript::new("fh", Lines::Firehose(lines));
    let (path, extra) = match ws_format {
        Some(format) => {
            script.ws_format = format;
            ("/jobs/fh/logs/", UPGRADE)
        }
        None => ("/jobs/fh/logs/stream/", ""),
    };
    let (_agent, addr) = agent_with(script);
    let started = Instant::now();
    let (_, mut reader) = get(addr, path, extra);
    let received = match ws_format {
        Some(_) => read_ws_messages(&mut reader, false).0 - 1,
        None => count_chunked_lines(&mut reader).0,
    };
    assert_eq!(received, lines);
    lines as f64 / started.elapsed().as_secs_f64()
}

/// Every firehose line arrives, over each format (its speed is measured in `benches/`, not here).
#[test]
fn firehose_delivers_every_line() {
    for format in [None, Some(WsFormat::Json), Some(WsFormat::Raw)] {
        let rate = firehose_rate(format, 20_000);
        assert!(rate > 0.0);
    }
}
