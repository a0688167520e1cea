//! Lines and end-of-stream events as WebSocket payloads and HTTP body bytes, appended to buffers.

use bytes::{BufMut, BytesMut};

use super::script::{Fault, HttpFormat, JobScript, WsFormat};

/// Appends the WebSocket payload of one log line.
pub fn push_ws_line(format: WsFormat, line: &[u8], out: &mut BytesMut) {
    match format {
        WsFormat::Json => push_event(out, "log", Some(line)),
        WsFormat::Raw | WsFormat::Binary => out.put_slice(line),
    }
}

/// Appends the HTTP body bytes of one log line.
pub fn push_http_line(script: &JobScript, line: &[u8], out: &mut BytesMut) {
    match script.http_format {
        HttpFormat::Plain | HttpFormat::Raw => out.put_slice(line),
        HttpFormat::Sse => push_sse(out, "log", Some(line), script.crlf),
    }
    push_newline(out, script.crlf);
}

/// Appends what the HTTP body carries after the lines: the complete or error event, if any.
pub fn push_http_end(script: &JobScript, out: &mut BytesMut) {
    match (script.fault, script.http_format) {
        (None, HttpFormat::Sse) => {
            push_sse(out, "complete", None, script.crlf);
            push_newline(out, script.crlf);
        }
        (Some(Fault::Error), HttpFormat::Sse) => {
            push_sse(out, "error", Some(script.error_message.as_bytes()), script.crlf);
            push_newline(out, script.crlf);
        }
        // A plain body has no events of its own: the error travels as one SSE data line.
        (Some(Fault::Error), HttpFormat::Plain | HttpFormat::Raw) => {
            push_sse(out, "error", Some(script.error_message.as_bytes()), script.crlf);
        }
        _ => {}
    }
}

/// The text of an event: `{"type":"complete"}` or `{"type":"error","message":"..."}`.
pub fn event(kind: &str, message: Option<&str>) -> BytesMut {
    let mut out = BytesMut::new();
    push_event(&mut out, kind, message.map(str::as_bytes));
    out
}

/// `data: {event}` and one line end (the caller adds the blank line that ends an SSE event).
fn push_sse(out: &mut BytesMut, kind: &str, message: Option<&[u8]>, crlf: bool) {
    out.put_slice(b"data: ");
    push_event(out, kind, message);
    push_newline(out, crlf);
}

fn push_event(out: &mut BytesMut, kind: &str, message: Option<&[u8]>) {
    out.put_slice(b"{\"type\":");
    push_json_str(out, kind.as_bytes());
    if let Some(message) = message {
        out.put_slice(b",\"message\":");
        push_json_str(out, message);
    }
    out.put_u8(b'}');
}

fn push_newline(out: &mut BytesMut, crlf: bool) {
    out.put_slice(if crlf { b"\r\n" } else { b"\n" });
}

/// Appends UTF-8 `bytes` as a JSON string literal; the run between two escapes is copied in one go.
pub fn push_json_str(out: &mut BytesMut, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.put_u8(b'"');
    // Most lines need no escape at all. Without an early exit this check vectorises; the loop below does not.
    if !bytes.iter().fold(false, |found, &b| found | (b < 0x20) | (b == b'"') | (b == b'\\')) {
        out.put_slice(bytes);
        out.put_u8(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]],
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        out.put_slice(escape);
        start = i + 1;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::script::Lines;

    fn text(buf: &BytesMut) -> &str {
        std::str::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_strings_match_serde() {
        for s in ["plain", "quote \" back \\ nl \n tab \t", "\u{1}\u{1f} é ✓", ""] {
            let mut out = BytesMut::new();
            push_json_str(&mut out, s.as_bytes());
            assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s);
        }
    }

    #[test]
    fn sse_lines_and_complete() {
        let mut script = JobScript::new("j", Lines::Given(vec![]));
        script.http_format = HttpFormat::Sse;
        script.crlf = true;
        let mut out = BytesMut::new();
        push_http_line(&script, b"a\"b", &mut out);
        push_http_end(&script, &mut out);
        assert_eq!(
            text(&out),
            "data: {\"type\":\"log\",\"message\":\"a\\\"b\"}\r\n\r\ndata: {\"type\":\"complete\"}\r\n\r\n"
        );
    }

    #[test]
    fn plain_error_is_one_data_line() {
        let mut script = JobScript::new("j", Lines::Given(vec![]));
        script.fault = Some(Fault::Error);
        let mut out = BytesMut::new();
        push_http_line(&script, b"x", &mut out);
        push_http_end(&script, &mut out);
        assert_eq!(text(&out), "x\ndata: {\"type\":\"error\",\"message\":\"job failed\"}\n");
    }

    #[test]
    fn ws_json_line() {
        let mut out = BytesMut::new();
        push_ws_line(WsFormat::Json, b"hi", &mut out);
        assert_eq!(text(&out), r#"{"type":"log","message":"hi"}"#);
        assert_eq!(text(&event("complete", None)), r#"{"type":"complete"}"#);
    }
}
