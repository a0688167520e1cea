//! Unit tests of the frame reader, and a differential test against tungstenite's reader.

use std::collections::VecDeque;
use std::io::{Read, Write};

use proptest::prelude::*;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::*;

/// An owned item, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Skipped(u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

/// How a read ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Close(Option<(u16, String)>),
    /// A protocol violation (close code 1002).
    Protocol,
    /// Invalid UTF-8 in a text message or close reason (close code 1007).
    Utf8,
    TooBig,
    /// The bytes ended without a close frame.
    Eof,
}

#[derive(Debug)]
struct Stop(Violation);

impl From<Violation> for Stop {
    fn from(v: Violation) -> Self {
        Self(v)
    }
}

fn own(item: Item<'_>) -> Result<Out, Option<(u16, String)>> {
    Ok(match item {
        Item::Text(t) => Out::Text(t.to_owned()),
        Item::Binary(b) => Out::Binary(b.to_vec()),
        Item::Skipped(n) => Out::Skipped(n),
        Item::Ping(p) => Out::Ping(p.to_vec()),
        Item::Pong(p) => Out::Pong(p.to_vec()),
        Item::Close(c) => return Err(c.map(|(code, reason)| (code, reason.to_owned()))),
    })
}

/// Runs our reader over `chunks`.
fn ours(chunks: &[Vec<u8>], max: Option<u64>) -> (Vec<Out>, End) {
    let mut reader = FrameReader::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut close = None;
        let result = reader.push(chunk, |item| match own(item) {
            Ok(o) => {
                out.push(o);
                Ok(true)
            }
            Err(c) => {
                close = Some(c);
                Ok(false)
            }
        });
        match result {
            Err(Stop(v)) => {
                let end = match v.code {
                    1002 => End::Protocol,
                    1007 => End::Utf8,
                    1009 => End::TooBig,
                    _ => panic!("unexpected close code {v:?}"),
                };
                return (out, end);
            }
            Ok(used) => {
                if let Some(c) = close {
                    return (out, End::Close(c));
                }
                assert_eq!(used, chunk.len(), "the reader consumes every byte unless paused");
            }
        }
    }
    (out, End::Eof)
}

/// The chunks as a byte stream for tungstenite; writes (pongs, close replies) are dropped.
struct Chunks(VecDeque<Vec<u8>>);

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(mut chunk) = self.0.pop_front() else { return Ok(0) };
        if chunk.len() > buf.len() {
            self.0.push_front(chunk.split_off(buf.len()));
        }
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(chunk.len())
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs tungstenite's client reader over `chunks`.
fn theirs(chunks: &[Vec<u8>]) -> (Vec<Out>, End) {
    let stream = Chunks(chunks.iter().filter(|c| !c.is_empty()).cloned().collect());
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, Some(WebSocketConfig::default()));
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(WsMessage::Text(t)) => out.push(Out::Text(t.as_str().to_owned())),
            Ok(WsMessage::Binary(b)) => out.push(Out::Binary(b.to_vec())),
            Ok(WsMessage::Ping(p)) => out.push(Out::Ping(p.to_vec())),
            Ok(WsMessage::Pong(p)) => out.push(Out::Pong(p.to_vec())),
            Ok(WsMessage::Close(None)) => return (out, End::Close(None)),
            // tungstenite replaces a code a peer may not send with its own 1002.
            Ok(WsMessage::Close(Some(f))) if f.code == CloseCode::Protocol && f.reason == "Protocol violation" => {
                return (out, End::Protocol)
            }
            Ok(WsMessage::Close(Some(f))) => return (out, End::Close(Some((f.code.into(), f.reason.to_string())))),
            Ok(WsMessage::Frame(_)) => unreachable!("tungstenite yields no raw frames when reading"),
            Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => return (out, End::Eof),
            Err(WsError::Protocol(_)) => return (out, End::Protocol),
            Err(WsError::Utf8(_)) => return (out, End::Utf8),
            Err(e) => panic!("unexpected tungstenite error {e}"),
        }
    }
}

fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader { is_final: fin, opcode: OpCode::from(opcode), ..FrameHeader::default() };
    let mut out = Vec::new();
    Frame::from_payload(header, bytes::Bytes::copy_from_slice(payload)).format(&mut out).unwrap();
    out
}

fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(0x8, true, &payload)
}

fn one(bytes: Vec<u8>) -> (Vec<Out>, End) {
    ours(&[bytes], None)
}

fn text(s: &str) -> Out {
    Out::Text(s.to_owned())
}

#[test]
fn whole_and_fragmented_messages_with_a_ping_inside() {
    let mut bytes = frame(0x1, true, b"one");
    bytes.extend(frame(0x1, false, "t\u{e9}".as_bytes()));
    bytes.extend(frame(0x9, true, b"hi"));
    bytes.extend(frame(0x0, false, b""));
    bytes.extend(frame(0x0, true, b"wo"));
    bytes.extend(frame(0x2, true, &[0, 255]));
    bytes.extend(close(1000, b"bye"));
    bytes.extend(b"ignored after the close");
    let want = vec![text("one"), Out::Ping(b"hi".to_vec()), text("t\u{e9}wo"), Out::Binary(vec![0, 255])];
    assert_eq!(one(bytes.clone()), (want.clone(), End::Close(Some((1000, "bye".into())))));
    // Byte by byte: every header, character and payload is cut somewhere.
    let bytewise: Vec<Vec<u8>> = bytes.iter().map(|b| vec![*b]).collect();
    assert_eq!(ours(&bytewise, None), (want, End::Close(Some((1000, "bye".into())))));
}

#[test]
fn every_listed_protocol_error_is_a_1002() {
    let masked = {
        let header = FrameHeader { mask: Some([1, 2, 3, 4]), ..FrameHeader::default() };
        let mut out = Vec::new();
        Frame::from_payload(header, bytes::Bytes::from_static(b"x")).format(&mut out).unwrap();
        out
    };
    let rsv = {
        let mut f = frame(0x1, true, b"x");
        f[0] |= 0x40;
        f
    };
    let top_bit = vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("masked", masked),
        ("rsv", rsv),
        ("reserved data opcode", frame(0x3, true, b"")),
        ("reserved control opcode", frame(0xB, true, b"")),
        ("control over 125", frame(0x9, true, &[b'a'; 126])),
        ("fragmented control", frame(0x9, false, b"")),
        ("top bit", top_bit),
        ("continuation without start", frame(0x0, true, b"x")),
        ("new message inside fragmented", [frame(0x1, false, b"a"), frame(0x2, true, b"b")].concat()),
        ("one-byte close", frame(0x8, true, b"\x03")),
        ("close code 1005", close(1005, b"")),
        ("close code 999", close(999, b"")),
    ];
    for (name, bytes) in cases {
        assert_eq!(one(bytes), (vec![], End::Protocol), "{name}");
    }
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_fragment() {
    // The second fragment cannot continue the character the first one started.
    let bytes = [frame(0x1, false, b"ok \xe2\x82"), frame(0x0, false, b"A"), frame(0x9, true, b"")].concat();
    assert_eq!(one(bytes), (vec![], End::Utf8));
    // A character cut by the end of the message.
    assert_eq!(one(frame(0x1, true, b"\xe2\x82")), (vec![], End::Utf8));
    assert_eq!(one(close(1000, b"\xff")), (vec![], End::Utf8));
    // Binary messages are not checked.
    assert_eq!(one(frame(0x2, true, b"\xff")), (vec![Out::Binary(vec![255])], End::Eof));
}

#[test]
fn over_long_messages_are_skipped_as_they_stream() {
    let mut bytes = frame(0x1, true, b"12345");
    bytes.extend(frame(0x1, true, b"123456"));
    bytes.extend(frame(0x1, false, b"123"));
    bytes.extend(frame(0x9, true, b"p"));
    bytes.extend(frame(0x0, true, b"456"));
    bytes.extend(frame(0x1, true, b"after"));
    let want = vec![text("12345"), Out::Skipped(6), Out::Ping(b"p".to_vec()), Out::Skipped(6), text("after")];
    assert_eq!(ours(&[bytes], Some(5)), (want, End::Eof));
    // Skipped text is still checked.
    assert_eq!(ours(&[frame(0x1, true, b"abcdef\xff")], Some(5)), (vec![], End::Utf8));
}

#[test]
fn a_gibibyte_frame_and_a_fragmented_256_mib_message_hold_no_payload() {
    let mut reader = FrameReader::new(Some(10_240));
    let mut items = Vec::new();
    let zeros = vec![0u8; 1 << 20];
    let mut feed = |reader: &mut FrameReader, bytes: &[u8]| {
        let used = reader
            .push(bytes, |item| {
                items.push(own(item).unwrap());
                Ok::<bool, Stop>(true)
            })
            .unwrap();
        assert_eq!(used, bytes.len());
        assert!(reader.held() <= MAX_HEADER, "held {} bytes", reader.held());
    };
    feed(&mut reader, &[0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0]);
    for _ in 0..1024 {
        feed(&mut reader, &zeros);
    }
    for i in 0..256 {
        let opcode = if i == 0 { 0x02 } else { 0x00 };
        let fin = if i == 255 { 0x80 } else { 0 };
        feed(&mut reader, &[opcode | fin, 127, 0, 0, 0, 0, 0, 0x10, 0, 0]);
        feed(&mut reader, &zeros);
    }
    feed(&mut reader, &frame(0x1, true, b"next"));
    assert_eq!(items, vec![Out::Skipped(1 << 30), Out::Skipped(256 << 20), text("next")]);
}

#[test]
fn without_a_limit_the_hard_cap_fails_with_1009() {
    let header = [0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0];
    assert_eq!(ours(&[header.to_vec()], None), (vec![], End::TooBig));
}

#[test]
fn pausing_returns_the_unconsumed_rest() {
    let bytes = [frame(0x1, true, b"a"), frame(0x1, true, b"b"), frame(0x1, true, b"c")].concat();
    let mut reader = FrameReader::new(None);
    let mut got = Vec::new();
    let used = reader
        .push(&bytes, |item| {
            got.push(own(item).unwrap());
            Ok::<bool, Stop>(false)
        })
        .unwrap();
    assert_eq!((used, got.len()), (3, 1));
    let rest = reader
        .push(&bytes[used..], |item| {
            got.push(own(item).unwrap());
            Ok::<bool, Stop>(true)
        })
        .unwrap();
    assert_eq!(rest, bytes.len() - used);
    assert_eq!(got, vec![text("a"), text("b"), text("c")]);
}

// The differential test: random streams, encoded by tungstenite, cut anywhere.

#[derive(Debug, Clone)]
enum Op {
    /// A data message, cut into fragments at `cuts`, with a ping or pong after some fragments.
    Data {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        controls: Vec<(usize, bool, Vec<u8>)>,
    },
    Control {
        ping: bool,
        payload: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
enum Tail {
    Eof,
    Close(Option<(u16, String)>),
    /// Raw bytes of a faulty frame (or message), then the end.
    Fault(Vec<u8>),
}

fn payload_text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("\u{e9}"), Just("\u{20ac}"), Just("\u{1f600}"), Just(" ")],
        0..40,
    )
    .prop_map(|parts| parts.concat().into_bytes())
}

fn op() -> impl Strategy<Value = Op> {
    let data = (
        any::<bool>(),
        prop_oneof![payload_text(), proptest::collection::vec(any::<u8>(), 0..300)],
        proptest::collection::vec(0usize..300, 0..4),
        proptest::collection::vec((0usize..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..6)), 0..2),
    )
        .prop_map(|(text, payload, cuts, controls)| {
            // Binary payloads may be any bytes; a text message gets a valid text payload.
            let payload = if text && std::str::from_utf8(&payload).is_err() {
                String::from_utf8_lossy(&payload).into_owned().into_bytes()
            } else {
                payload
            };
            Op::Data { text, payload, cuts, controls }
        });
    let control = (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..126))
        .prop_map(|(ping, payload)| Op::Control { ping, payload });
    prop_oneof![4 => data, 1 => control]
}

fn tail() -> impl Strategy<Value = Tail> {
    let code = prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1003),
        Just(1011),
        Just(3000),
        Just(4999),
        Just(0),
        Just(1004),
        Just(1005),
        Just(1006),
        Just(1015),
        Just(2000),
        Just(5000)
    ];
    let fault = prop_oneof![
        (1u8..=15).prop_filter("reserved", |o| !matches!(o, 0 | 1 | 2 | 8 | 9 | 10)).prop_map(|o| frame(o, true, b"x")),
        (0u8..8).prop_map(|rsv| {
            let mut f = frame(0x1, true, b"x");
            f[0] |= (rsv.max(1)) << 4;
            f
        }),
        Just(frame(0x9, false, b"")),
        Just(frame(0xA, true, &[0; 126])),
        Just(frame(0x0, true, b"orphan")),
        Just([frame(0x1, false, b"a"), frame(0x1, true, b"b")].concat()),
        Just(frame(0x8, true, b"\x03")),
        Just(frame(0x1, true, b"bad \xff text")),
        Just([frame(0x2, false, b"a"), frame(0x9, true, b"p"), frame(0x0, true, b"\xff")].concat()),
        Just([frame(0x1, false, b"\xf0\x9f"), frame(0x0, true, b"\x98")].concat()),
        Just(close(1000, b"\xc3")),
    ];
    prop_oneof![
        1 => Just(Tail::Eof),
        2 => (code, "[a-z ]{0,20}").prop_map(|(c, r)| Tail::Close(Some((c, r)))),
        1 => Just(Tail::Close(None)),
        2 => fault.prop_map(Tail::Fault),
    ]
}

fn encode(ops: &[Op], tail: &Tail) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Control { ping, payload } => out.extend(frame(if *ping { 0x9 } else { 0xA }, true, payload)),
            Op::Data { text, payload, cuts, controls } => {
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
                cuts.sort_unstable();
                cuts.push(payload.len());
                let mut at = 0;
                for (i, &cut) in cuts.iter().enumerate() {
                    let opcode = match (i, text) {
                        (0, true) => 0x1,
                        (0, false) => 0x2,
                        _ => 0x0,
                    };
                    out.extend(frame(opcode, i + 1 == cuts.len(), &payload[at..cut]));
                    at = cut;
                    for (after, ping, p) in controls {
                        if *after == i && i + 1 < cuts.len() {
                            out.extend(frame(if *ping { 0x9 } else { 0xA }, true, p));
                        }
                    }
                }
            }
        }
    }
    match tail {
        Tail::Eof => {}
        Tail::Close(None) => out.extend(frame(0x8, true, b"")),
        Tail::Close(Some((code, reason))) => out.extend(close(*code, reason.as_bytes())),
        Tail::Fault(bytes) => out.extend(bytes),
    }
    out
}

fn chunk(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for c in cuts {
        chunks.push(bytes[at..c].to_vec());
        at = c;
    }
    chunks.push(bytes[at..].to_vec());
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn same_items_and_end_as_tungstenite(
        ops in proptest::collection::vec(op(), 0..8),
        tail in tail(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = encode(&ops, &tail);
        let chunks = chunk(&bytes, &cuts);
        let (mut got, end) = ours(&chunks, None);
        let (mut want, want_end) = theirs(&chunks);
        prop_assert_eq!(&end, &want_end);
        if end == End::Utf8 {
            // We fail at the first bad fragment; tungstenite reads on to the end of the message,
            // answering control frames in between. The data messages must agree.
            let data = |o: &Out| matches!(o, Out::Text(_) | Out::Binary(_));
            got.retain(data);
            want.retain(data);
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_chunking_gives_the_same_items_with_a_limit(
        ops in proptest::collection::vec(op(), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in 0u64..64,
    ) {
        let bytes = encode(&ops, &Tail::Eof);
        prop_assert_eq!(ours(&chunk(&bytes, &cuts), Some(max)), ours(std::slice::from_ref(&bytes), Some(max)));
        // The items are tungstenite's, with long messages replaced by their length.
        let (want, _) = theirs(std::slice::from_ref(&bytes));
        let want: Vec<Out> = want
            .into_iter()
            .map(|o| match o {
                Out::Text(t) if t.len() as u64 > max => Out::Skipped(t.len() as u64),
                Out::Binary(b) if b.len() as u64 > max => Out::Skipped(b.len() as u64),
                o => o,
            })
            .collect();
        prop_assert_eq!(ours(&[bytes], Some(max)).0, want);
    }
}

#[test]
fn data_and_control_opcodes_match_tungstenite() {
    // The opcode table above and tungstenite's agree.
    assert_eq!(OpCode::from(op::TEXT), OpCode::Data(Data::Text));
    assert_eq!(OpCode::from(op::BINARY), OpCode::Data(Data::Binary));
    assert_eq!(OpCode::from(op::CONTINUATION), OpCode::Data(Data::Continue));
    assert_eq!(OpCode::from(op::CLOSE), OpCode::Control(Control::Close));
    assert_eq!(OpCode::from(op::PING), OpCode::Control(Control::Ping));
    assert_eq!(OpCode::from(op::PONG), OpCode::Control(Control::Pong));
}
