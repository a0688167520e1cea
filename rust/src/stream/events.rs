//! Decoding of one log message: a WebSocket text message or an SSE `data:` payload.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// What one message means for the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A log line to hand to the consumer.
    Line(Cow<'a, str>),
    /// Nothing to yield (an event with an empty or missing message).
    Skip,
    /// The stream ended normally.
    Complete,
    /// The job reported an error; the text is its message.
    Error(Cow<'a, str>),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    /// Any JSON value: only the strings `complete` and `error` mean something.
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
}

/// Decodes one message.
///
/// A JSON object `{"type", "message"}` is an event: `complete` ends, `error` fails, any
/// other type yields `message` (a non-empty string as is, other JSON values as their JSON
/// text, empty or missing: nothing). Anything that is not a JSON object is the line itself.
pub fn decode(text: &str) -> Event<'_> {
    // Events nearly always start with their brace: skip the Unicode-aware trim then.
    let trimmed = if text.starts_with('{') { text } else { text.trim_start() };
    if !trimmed.starts_with('{') {
        return plain(text);
    }
    if let Some(event) = fast::decode(trimmed) {
        return event;
    }
    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(trimmed) else {
        return plain(text);
    };
    let kind = envelope.kind.map(RawValue::get).filter(|k| k.starts_with('"'));
    let kind: Option<Cow<'_, str>> = kind.and_then(|k| serde_json::from_str(k).ok());
    match kind.as_deref() {
        Some("complete") => Event::Complete,
        Some("error") => Event::Error(match message(envelope.message) {
            Some(m) => m,
            None => Cow::Borrowed("the job reported an error"),
        }),
        _ => message(envelope.message).map_or(Event::Skip, Event::Line),
    }
}

fn plain(text: &str) -> Event<'_> {
    if text.is_empty() {
        Event::Skip
    } else {
        Event::Line(Cow::Borrowed(text))
    }
}

/// The text of a `message` field; `None` when it is missing, `null` or empty.
fn message(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?.get();
    if raw.starts_with('"') {
        let text: Cow<'_, str> = serde_json::from_str(raw).ok()?;
        return (!text.is_empty()).then_some(text);
    }
    (raw != "null").then_some(Cow::Borrowed(raw))
}

/// The common shape `{"type": "...", "message": "..."}` without escapes, decoded without
/// serde: on this path a log line costs one scan of its bytes. Anything else, escapes
/// included, returns `None` and goes through serde_json, so both paths agree.
mod fast {
    use std::borrow::Cow;

    use super::Event;

    struct Cursor<'a> {
        text: &'a str,
        at: usize,
    }

    impl<'a> Cursor<'a> {
        fn skip_ws(&mut self) {
            let rest = &self.text.as_bytes()[self.at..];
            self.at += rest.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
        }

        fn eat(&mut self, token: &str) -> Option<()> {
            self.skip_ws();
            self.text[self.at..].starts_with(token).then(|| self.at += token.len())
        }

        /// A string without escapes or control characters; the opening quote is eaten already.
        fn plain_string(&mut self) -> Option<&'a str> {
            let rest = &self.text.as_bytes()[self.at..];
            let end = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[end] != b'"' || !is_plain(&rest[..end], false) {
                return None;
            }
            let s = &self.text[self.at..self.at + end];
            self.at += end + 1;
            Some(s)
        }
    }

    /// Whether `bytes` holds no `"`, `\\` or control character (and, with `ascii`, no byte
    /// over 0x7f): a JSON string body that is its own text. One pass, eight bytes at a time
    /// (the usual "has a byte below / equal to" word tricks, exact for the whole word).
    #[inline]
    pub(super) fn is_plain(bytes: &[u8], ascii: bool) -> bool {
        const ONES: u64 = u64::MAX / 255;
        const HIGHS: u64 = ONES * 0x80;
        let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
        let equal = |word: u64, b: u8| below(word ^ (ONES * u64::from(b)), 1);
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let high = if ascii { word & HIGHS } else { 0 };
            if below(word, 0x20) | equal(word, b'"') | equal(word, b'\\') | high != 0 {
                return false;
            }
        }
        words.remainder().iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\' && (!ascii || b < 0x80))
    }

    /// The compact log event as most agents write it, checked with one comparison.
    const COMPACT_LOG: &str = r#"{"type":"log","message":""#;

    /// The message of a compact log event (`event` is all of it) when it is its own text (and,
    /// with `ascii`, ASCII): the bytes between the prefix and the closing `"}`.
    #[inline]
    pub(super) fn compact_message(event: &[u8], ascii: bool) -> Option<&[u8]> {
        let message = event.strip_prefix(COMPACT_LOG.as_bytes())?.strip_suffix(b"\"}")?;
        is_plain(message, ascii).then_some(message)
    }

    /// What a log event with this message yields: the line, or nothing when it is empty.
    #[inline]
    pub(super) fn log_line(message: &str) -> Event<'_> {
        if message.is_empty() {
            Event::Skip
        } else {
            Event::Line(Cow::Borrowed(message))
        }
    }

    pub(super) fn decode(text: &str) -> Option<Event<'_>> {
        if let Some(message) = compact_message(text.as_bytes(), false) {
            let start = COMPACT_LOG.len();
            // Both ends sit next to ASCII quotes, so on character boundaries.
            return text.get(start..start + message.len()).map(log_line);
        }
        let mut c = Cursor { text, at: 0 };
        c.eat("{")?;
        c.eat("\"type\"")?;
        c.eat(":")?;
        c.eat("\"")?;
        let kind = c.plain_string()?;
        let message = if c.eat(",").is_some() {
            c.eat("\"message\"")?;
            c.eat(":")?;
            c.eat("\"")?;
            Some(c.plain_string()?)
        } else {
            None
        };
        c.eat("}")?;
        c.skip_ws();
        if c.at != text.len() {
            return None;
        }
        let message = message.filter(|m| !m.is_empty()).map(Cow::Borrowed);
        Some(match kind {
            "complete" => Event::Complete,
            "error" => Event::Error(message.unwrap_or(Cow::Borrowed("the job reported an error"))),
            _ => message.map_or(Event::Skip, Event::Line),
        })
    }
}

/// An SSE `data:` line carrying the compact log event with a plain ASCII message, decoded
/// straight from the raw bytes: the one pass that finds no escape also proves the line valid
/// UTF-8. `None` for anything else, which takes [`utf8_lossy`], [`sse_data`] and [`decode`]
/// (with the same result for the lines this accepts).
#[inline]
pub fn sse_compact(line: &[u8]) -> Option<Event<'_>> {
    let rest = line.strip_prefix(b"data:")?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let message = fast::compact_message(rest, true)?;
    // SAFETY: every byte of `message` is ASCII (`compact_message` with `ascii`), so it is UTF-8.
    let message = unsafe { std::str::from_utf8_unchecked(message) };
    Some(fast::log_line(message))
}

/// Bytes as text, invalid UTF-8 replaced. Valid text (nearly always) takes std's fast
/// validation and is borrowed; only invalid input pays for the lossy decoder.
#[inline]
pub fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The payload of an SSE `data:` line (one optional space after the colon), if it is one.
#[inline]
pub fn sse_data(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("data:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Whether a line is an SSE field other than `data:`, or a comment: skipped in an event stream.
#[inline]
pub fn sse_other(line: &str) -> bool {
    line.starts_with(':') || line.starts_with("event:") || line.starts_with("id:") || line.starts_with("retry:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Event<'_> {
        Event::Line(Cow::Borrowed(s))
    }

    #[test]
    fn log_event_yields_its_message() {
        assert_eq!(decode(r#"{"type":"log","message":"hello"}"#), line("hello"));
        assert_eq!(decode(r#"{"message":"a\"b\u00e9"}"#), Event::Line(Cow::Owned("a\"b\u{e9}".into())));
    }

    #[test]
    fn plain_string_bodies_are_told_apart_byte_by_byte() {
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(fast::is_plain(&clean, true), "{len}");
            for at in 0..len {
                for bad in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut dirty = clean.clone();
                    dirty[at] = bad;
                    assert!(!fast::is_plain(&dirty, false), "{len} {at} {bad}");
                }
                for good in [b' ', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'] {
                    let mut fine = clean.clone();
                    fine[at] = good;
                    assert!(fast::is_plain(&fine, false), "{len} {at} {good}");
                    assert_eq!(fast::is_plain(&fine, true), good < 0x80, "{len} {at} {good}");
                }
            }
        }
    }

    #[test]
    fn compact_events_with_escapes_or_trailing_text_take_the_full_path() {
        assert_eq!(decode(r#"{"type":"log","message":"a\"b"}"#), line("a\"b"));
        assert_eq!(decode(r#"{"type":"log","message":"a"} "#), line("a"));
        assert_eq!(decode(r#"{"type":"log","message":"a","x":1}"#), line("a"));
        assert_eq!(decode(r#"{"type":"log","message":""}"#), Event::Skip);
        assert_eq!(decode(r#"{"type":"log","message":"é ✓"}"#), line("é ✓"));
    }

    #[test]
    fn sse_compact_agrees_with_the_general_path_or_declines() {
        let lines: &[&[u8]] = &[
            br#"data: {"type":"log","message":"hello world"}"#,
            br#"data:{"type":"log","message":"x"}"#,
            br#"data: {"type":"log","message":""}"#,
            br#"data: {"type":"log","message":"caf\u00e9"}"#,
            "data: {\"type\":\"log\",\"message\":\"caf\u{e9}\"}".as_bytes(),
            b"data: {\"type\":\"log\",\"message\":\"bad \xff\"}",
            br#"data: {"type":"complete"}"#,
            br#"data:  {"type":"log","message":"two spaces"}"#,
            br#"event: {"type":"log","message":"x"}"#,
            br#"data: {"type":"log","message":"tab	in"}"#,
        ];
        for line in lines {
            let general = sse_data(&utf8_lossy(line)).map(|p| format!("{:?}", decode(p)));
            if let Some(fast) = sse_compact(line) {
                assert_eq!(Some(format!("{fast:?}")), general, "{}", String::from_utf8_lossy(line));
            }
        }
        assert_eq!(sse_compact(lines[0]), Some(line("hello world")));
        assert_eq!(sse_compact(lines[2]), Some(Event::Skip));
        for declined in [3, 4, 5, 6, 8, 9] {
            assert_eq!(sse_compact(lines[declined]), None, "{declined}");
        }
    }

    #[test]
    fn complete_and_error() {
        assert_eq!(decode(r#"{"type":"complete"}"#), Event::Complete);
        assert_eq!(decode(r#"{"type":"error","message":"boom"}"#), Event::Error(Cow::Borrowed("boom")));
        assert!(matches!(decode(r#"{"type":"error"}"#), Event::Error(_)));
    }

    #[test]
    fn non_string_messages_yield_json_text_and_empty_ones_skip() {
        assert_eq!(decode(r#"{"type":"log","message":{"a":1}}"#), line(r#"{"a":1}"#));
        assert_eq!(decode(r#"{"type":"log","message":42}"#), line("42"));
        assert_eq!(decode(r#"{"type":7,"message":"x"}"#), line("x"));
        assert_eq!(decode(r#"{"type":"compl\u0065te"}"#), Event::Complete);
        assert_eq!(decode(r#"{"type":"log","message":""}"#), Event::Skip);
        assert_eq!(decode(r#"{"type":"log","message":null}"#), Event::Skip);
        assert_eq!(decode(r#"{"type":"log"}"#), Event::Skip);
    }

    #[test]
    fn non_objects_are_the_line_itself() {
        assert_eq!(decode("plain text"), line("plain text"));
        assert_eq!(decode("{not json"), line("{not json"));
        assert_eq!(decode("[1,2]"), line("[1,2]"));
        assert_eq!(decode(r#""quoted""#), line(r#""quoted""#));
        assert_eq!(decode(""), Event::Skip);
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let cases = [
            r#"{"type":"log","message":"hello"}"#,
            r#"{"type": "log", "message": "spaced out"}"#,
            r#" { "type" : "log" , "message" : "x" } "#,
            r#"{"type":"log","message":""}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"error","message":"boom"}"#,
            r#"{"type":"error"}"#,
            r#"{"type":"log","message":"tab\there"}"#,
            "{\"type\":\"log\",\"message\":\"raw\ttab\"}",
            r#"{"type":"log","message":"x"} trailing"#,
            r#"{"type":"log","message":"x","extra":1}"#,
            r#"{"type":"log","message":"unterminated}"#,
        ];
        for text in cases {
            let serde = {
                let envelope = serde_json::from_str::<Envelope<'_>>(text.trim_start());
                envelope.ok().map(|_| ())
            };
            let fast = fast::decode(text.trim_start());
            if let Some(event) = &fast {
                assert!(serde.is_some(), "fast path accepted invalid JSON: {text}");
                // Decode again with the fast path disabled: the slow path must agree.
                let slow = {
                    let envelope = serde_json::from_str::<Envelope<'_>>(text.trim_start()).unwrap();
                    let kind: Option<Cow<'_, str>> = envelope.kind.and_then(|k| serde_json::from_str(k.get()).ok());
                    match kind.as_deref() {
                        Some("complete") => Event::Complete,
                        Some("error") => Event::Error(
                            message(envelope.message).unwrap_or(Cow::Borrowed("the job reported an error")),
                        ),
                        _ => message(envelope.message).map_or(Event::Skip, Event::Line),
                    }
                };
                assert_eq!(event, &slow, "{text}");
            }
        }
        assert!(fast::decode(r#"{"type":"log","message":"hello"}"#).is_some());
        assert!(fast::decode(r#"{"type":"log","message":"tab\there"}"#).is_none(), "escapes go to serde");
        assert!(fast::decode("{\"type\":\"log\",\"message\":\"raw\ttab\"}").is_none(), "control characters");
        assert_eq!(
            decode("{\"type\":\"log\",\"message\":\"raw\ttab\"}"),
            line("{\"type\":\"log\",\"message\":\"raw\ttab\"}")
        );
    }

    proptest::proptest! {
        /// Arbitrary Unicode, bare, as an SSE line and inside a JSON event: no panic, and a
        /// string message comes back as it was.
        #[test]
        fn arbitrary_unicode_decodes_without_panic(text in proptest::prelude::any::<String>()) {
            let _ = decode(&text);
            let _ = sse_data(&text).map(decode);
            let _ = sse_other(&text);
            let _ = utf8_lossy(text.as_bytes());
            let event = serde_json::json!({"type": "log", "message": &text}).to_string();
            match decode(&event) {
                Event::Line(line) => proptest::prop_assert_eq!(&*line, text.as_str()),
                Event::Skip => proptest::prop_assert!(text.is_empty()),
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_panics() {
        for depth in [127, 128, 129, 4_000, 1_000_000] {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let text = format!(r#"{{"type":"log","message":{nested}}}"#);
            match decode(&text) {
                Event::Line(line) => assert!(line == nested || line == text, "depth {depth}"),
                other => panic!("depth {depth}: {other:?}"),
            }
            let _ = decode(&"{".repeat(depth));
            let _ = decode(&format!(r#"{{"message":{}"#, "{\"a\":".repeat(depth)));
        }
    }

    #[test]
    fn sse_fields() {
        assert_eq!(sse_data("data: x"), Some("x"));
        assert_eq!(sse_data("data:x"), Some("x"));
        assert_eq!(sse_data("data:  x"), Some(" x"));
        assert_eq!(sse_data("datum"), None);
        assert!(sse_other(": comment") && sse_other("event: log") && sse_other("id: 1") && sse_other("retry: 5"));
        assert!(!sse_other("plain"));
    }
}
