//! The line splitter: any bytes, cut anywhere, with or without a line limit, give the same
//! lines as the whole input at once, never hold more than the limit, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synapse_agent_rs_fuzz::stream::lines::{LineSplitter, Piece};

#[derive(Debug, PartialEq, Eq)]
enum Out {
    Line(Vec<u8>),
    TooLong(u64),
}

fn split(chunks: &[&[u8]], max: Option<u64>) -> Vec<Out> {
    let mut splitter = LineSplitter::new(max);
    let mut out = Vec::new();
    let mut sink = |p: Piece<'_>| {
        out.push(match p {
            Piece::Line(l) => Out::Line(l.to_vec()),
            Piece::TooLong(n) => Out::TooLong(n),
        });
        Ok::<bool, ()>(true)
    };
    for chunk in chunks {
        assert_eq!(splitter.push(chunk, &mut sink), Ok(chunk.len()));
        if let Some(max) = max {
            // One byte of slack: a line of exactly `max` bytes may still be followed by `\r`.
            assert!(splitter.pending_len() as u64 <= max + 1, "held {} bytes", splitter.pending_len());
        }
    }
    splitter.finish(&mut sink).unwrap();
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    let max = (head & 0x80 != 0).then_some(u64::from(head & 0x1f));
    let step = usize::from(head & 0x0f) + 1;
    let whole = split(&[rest], max);
    let chunks: Vec<&[u8]> = rest.chunks(step).collect();
    assert_eq!(split(&chunks, max), whole);
    for piece in &whole {
        match piece {
            Out::Line(line) => {
                // Only one `\r` before the `\n` belongs to the line ending: `a\r\r\n` is `a\r`.
                assert!(!line.is_empty() && !line.contains(&b'\n'));
                assert!(max.is_none_or(|m| line.len() as u64 <= m));
            }
            Out::TooLong(n) => assert!(max.is_some_and(|m| *n > m)),
        }
    }
});
