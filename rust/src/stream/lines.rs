//! Sans-IO line splitter: bytes in, complete lines out, over-long lines dropped as they stream.

use memchr::memchr;

/// One piece of output of the splitter.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete, non-empty line without its `\n` or trailing `\r`.
    Line(&'a [u8]),
    /// A line longer than the limit, already discarded; only its length is known.
    TooLong(u64),
}

/// Splits a byte stream on `\n`, whatever the chunk boundaries.
///
/// A trailing `\r` is dropped and empty lines are skipped. A line longer than `max_line`
/// bytes is never held whole: once the pending part passes the limit it is discarded and
/// the rest of that line is only counted.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    /// Once the current line is known to be too long: its bytes so far, and whether the
    /// last of them was `\r` (not part of the line if `\n` follows).
    skipped: Option<(u64, bool)>,
    max_line: Option<usize>,
}

impl LineSplitter {
    /// A splitter that drops lines longer than `max_line` bytes (`None`: no limit).
    pub fn new(max_line: Option<u64>) -> Self {
        let max_line = max_line.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        Self { pending: Vec::new(), skipped: None, max_line }
    }

    /// Feeds one chunk; `emit` gets every line it completes and answers whether to go on
    /// (`Ok(false)` pauses after that line) or fails the feed. Returns how many bytes of
    /// `chunk` were consumed: all of them unless `emit` paused; feed the rest later.
    pub fn push<E>(&mut self, chunk: &[u8], mut emit: impl FnMut(Piece<'_>) -> Result<bool, E>) -> Result<usize, E> {
        let mut at = 0;
        while let Some(nl) = memchr(b'\n', &chunk[at..]) {
            let head = &chunk[at..at + nl];
            at += nl + 1;
            let go_on = if let Some(skipped) = self.skipped.take() {
                emit(Piece::TooLong(skipped_len(skipped, head)))?
            } else if self.pending.is_empty() {
                self.emit_line(head, &mut emit)?
            } else {
                self.pending.extend_from_slice(head);
                let mut line = std::mem::take(&mut self.pending);
                let go_on = self.emit_line(&line, &mut emit)?;
                line.clear();
                self.pending = line;
                go_on
            };
            if !go_on {
                return Ok(at);
            }
        }
        self.keep_partial(&chunk[at..]);
        Ok(chunk.len())
    }

    /// Ends the stream: a last line without `\n` is emitted too.
    pub fn finish<E>(&mut self, mut emit: impl FnMut(Piece<'_>) -> Result<bool, E>) -> Result<(), E> {
        if let Some(skipped) = self.skipped.take() {
            return emit(Piece::TooLong(skipped_len(skipped, b""))).map(drop);
        }
        let line = std::mem::take(&mut self.pending);
        self.emit_line(&line, &mut emit).map(drop)
    }

    fn emit_line<E>(&self, line: &[u8], emit: &mut impl FnMut(Piece<'_>) -> Result<bool, E>) -> Result<bool, E> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(true);
        }
        match self.max_line {
            Some(max) if line.len() > max => emit(Piece::TooLong(line.len() as u64)),
            _ => emit(Piece::Line(line)),
        }
    }

    /// Keeps the tail of a chunk that has no `\n` yet, or only counts it when it is too long.
    fn keep_partial(&mut self, tail: &[u8]) {
        if let Some((seen, last_cr)) = self.skipped.as_mut() {
            *seen += tail.len() as u64;
            if let Some(&last) = tail.last() {
                *last_cr = last == b'\r';
            }
            return;
        }
        // One byte of slack: a line of exactly `max` bytes may still be followed by `\r`.
        let total = self.pending.len() + tail.len();
        if self.max_line.is_some_and(|max| total > max.saturating_add(1)) {
            let last = tail.last().or(self.pending.last());
            self.skipped = Some((total as u64, last == Some(&b'\r')));
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(tail);
        }
    }

    /// Bytes received so far of the incomplete line, held or (when too long) only counted.
    pub fn partial_len(&self) -> u64 {
        self.skipped.map_or(self.pending.len() as u64, |(seen, _)| seen)
    }

    /// Bytes currently held for an incomplete line.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// The length of a discarded line, given the bytes that end it, without a final `\r`.
fn skipped_len((seen, last_cr): (u64, bool), head: &[u8]) -> u64 {
    let ends_with_cr = head.last().map_or(last_cr, |&b| b == b'\r');
    seen + head.len() as u64 - u64::from(ends_with_cr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Out {
        Line(Vec<u8>),
        TooLong(u64),
    }

    fn split(chunks: &[&[u8]], max: Option<u64>) -> Vec<Out> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut sink = |p: Piece<'_>| {
            out.push(match p {
                Piece::Line(l) => Out::Line(l.to_vec()),
                Piece::TooLong(n) => Out::TooLong(n),
            });
            Ok::<bool, ()>(true)
        };
        for c in chunks {
            assert_eq!(s.push(c, &mut sink).unwrap(), c.len());
        }
        s.finish(&mut sink).unwrap();
        out
    }

    fn line(s: &str) -> Out {
        Out::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_strips_cr_and_skips_empty_lines() {
        assert_eq!(split(&[b"a\r\n\nb\n\r\nc"], None), vec![line("a"), line("b"), line("c")]);
    }

    #[test]
    fn cr_and_lf_in_different_chunks() {
        assert_eq!(split(&[b"ab\r", b"\ncd\r", b"\n"], None), vec![line("ab"), line("cd")]);
    }

    #[test]
    fn utf8_character_cut_between_chunks_is_rejoined() {
        let bytes = "h\u{e9}llo\n".as_bytes();
        assert_eq!(split(&[&bytes[..2], &bytes[2..]], None), vec![line("h\u{e9}llo")]);
    }

    #[test]
    fn limit_is_inclusive_and_counts_bytes() {
        assert_eq!(split(&[b"abcd\nabcde\n"], Some(4)), vec![line("abcd"), Out::TooLong(5)]);
        // "é" is two bytes: four characters but five bytes.
        assert_eq!(split(&["abc\u{e9}\n".as_bytes()], Some(4)), vec![Out::TooLong(5)]);
    }

    #[test]
    fn line_of_exactly_max_followed_by_crlf_across_chunks_is_kept() {
        assert_eq!(split(&[b"abcd\r", b"\nx\n"], Some(4)), vec![line("abcd"), line("x")]);
    }

    #[test]
    fn long_line_is_never_held_whole() {
        let mut s = LineSplitter::new(Some(8));
        let mut got = Vec::new();
        for _ in 0..1000 {
            s.push(b"0123456789", |p| {
                got.push(format!("{p:?}"));
                Ok::<bool, ()>(true)
            })
            .unwrap();
            assert!(s.pending_len() <= 9);
        }
        s.push(b"\nok\n", |p| {
            got.push(format!("{p:?}"));
            Ok::<bool, ()>(true)
        })
        .unwrap();
        assert_eq!(got, vec!["TooLong(10000)".to_owned(), format!("{:?}", Piece::Line(b"ok"))]);
    }

    #[test]
    fn emit_error_stops_the_feed() {
        let mut s = LineSplitter::new(None);
        let mut n = 0;
        let r = s.push(b"a\nb\nc\n", |_| {
            n += 1;
            if n == 2 {
                Err("stop")
            } else {
                Ok(true)
            }
        });
        assert_eq!((r, n), (Err("stop"), 2));
    }

    #[test]
    fn pause_returns_the_unconsumed_rest() {
        let mut s = LineSplitter::new(None);
        let mut got = Vec::new();
        let chunk = b"a\r\nbb\ncc";
        let used = s
            .push(chunk, |p| {
                got.push(format!("{p:?}"));
                Ok::<bool, ()>(false)
            })
            .unwrap();
        assert_eq!((used, got.len()), (3, 1));
        let used2 = s.push(&chunk[used..], |_| Ok::<bool, ()>(true)).unwrap();
        assert_eq!(used2, chunk.len() - used);
        assert_eq!(s.pending_len(), 2);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_lines(
            text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\n'), Just(b'\r'), Just(0xc3u8), Just(0xa9u8)], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..20),
            max in proptest::option::of(0u64..12),
        ) {
            let whole = split(&[&text], max);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&text[at..c]);
                at = c;
            }
            chunks.push(&text[at..]);
            prop_assert_eq!(split(&chunks, max), whole);
        }
    }
}
