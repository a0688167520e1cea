//! Fuzzes the WebSocket frame reader with arbitrary server bytes, cut into arbitrary chunks.
//!
//! `frames.rs` has no dependencies, so it is compiled here alone (the main crate would bring
//! pyo3, tokio and rustls into every sanitizer build). Checked: no panic; the same items and
//! the same end whatever the chunking; never more held than the limit allows.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../rust/src/stream/frames.rs"]
mod frames;

use frames::{FrameReader, Item, Violation};

#[derive(Debug, PartialEq, Eq)]
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Skipped(u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Violation(u16),
}

struct Stop(Violation);

impl From<Violation> for Stop {
    fn from(v: Violation) -> Self {
        Self(v)
    }
}

/// Reads `bytes` in chunks of the sizes `sizes` cycles through; every item, then how it ended.
fn read(bytes: &[u8], sizes: &[usize], max: Option<u64>) -> Vec<Out> {
    let mut reader = FrameReader::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let end = (at + sizes[i % sizes.len()]).min(bytes.len());
        i += 1;
        let mut closed = false;
        let result = reader.push(&bytes[at..end], |item| {
            out.push(match item {
                Item::Text(t) => Out::Text(t.to_owned()),
                Item::Binary(b) => Out::Binary(b.to_vec()),
                Item::Skipped(n) => Out::Skipped(n),
                Item::Ping(p) => Out::Ping(p.to_vec()),
                Item::Pong(p) => Out::Pong(p.to_vec()),
                Item::Close(c) => {
                    closed = true;
                    Out::Close(c.map(|(code, reason)| (code, reason.to_owned())))
                }
            });
            Ok::<bool, Stop>(true)
        });
        let bound = max.unwrap_or(frames::HARD_MESSAGE_CAP).min(1 << 26) as usize + 14 + 125;
        assert!(reader.held() <= bound, "held {} bytes over the bound {bound}", reader.held());
        match result {
            Err(Stop(v)) => {
                assert!(matches!(v.code, 1002 | 1007 | 1009));
                out.push(Out::Violation(v.code));
                return out;
            }
            Ok(used) if closed => {
                assert!(used <= end - at);
                return out;
            }
            Ok(used) => assert_eq!(used, end - at, "every byte is consumed unless paused"),
        }
        at = end;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [mode, a, b, c, bytes @ ..] = data else { return };
    let max = match mode & 3 {
        0 => None,
        1 => Some(0),
        2 => Some(u64::from(*a)),
        _ => Some(10_240),
    };
    let whole = read(bytes, &[bytes.len().max(1)], max);
    let sizes = [usize::from(*a % 17) + 1, usize::from(*b) + 1, usize::from(*c % 5) + 1];
    assert_eq!(read(bytes, &sizes, max), whole);
    assert_eq!(read(bytes, &[1], max), whole);
});
