//! Faults of single stream connections, for tests of resuming: connection `k` of a job plays
//! the job's `connections[k]` plan (later ones, and jobs without plans, play the script as usual).
//!
//! A plan can refuse the connection with a status, serve a truncated or rewritten log, group
//! lines into messages (or SSE events) its own way, and cut the connection after any number of
//! bytes of the wire (inside a frame, a chunk or a UTF-8 character) or of messages. The wire is
//! made as it is written, 64 KiB at a time.

use std::sync::atomic::Ordering;

use bytes::{BufMut, BytesMut};

use super::encode;
use super::script::{HttpFormat, JobScript, LineSource, WsFormat};

/// What one connection of a job does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnPlan {
    /// Answer the stream request (upgrade or HTTP) with this status and nothing else.
    pub refuse: Option<u16>,
    /// Serve only the first this many lines of the log, then end normally.
    pub truncate: Option<usize>,
    /// Serve line `n` changed (`~` appended).
    pub rewrite: Option<usize>,
    /// Put this many lines in each WebSocket message or SSE event, joined by `\n`.
    pub group: Option<usize>,
    /// Kill the connection after this many bytes of the stream (frames or body).
    pub drop_after_bytes: Option<usize>,
    /// Kill the connection after this many messages (WebSocket messages, SSE events or body lines).
    pub drop_after_messages: Option<usize>,
}

impl ConnPlan {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.group == Some(0) {
            return Err("group must be at least 1".to_owned());
        }
        if let Some(code) = self.refuse {
            if !(400..=599).contains(&code) {
                return Err(format!("refuse must be an HTTP error status (400-599), not {code}"));
            }
        }
        Ok(())
    }
}

/// The plan of the next connection to `script`'s job, if it has one (counting the connection).
pub fn next(script: &JobScript) -> Option<ConnPlan> {
    if script.connections.is_empty() {
        return None;
    }
    let n = script.served.fetch_add(1, Ordering::Relaxed);
    script.connections.get(n).cloned()
}

/// The items a plan serves, one at a time: its lines truncated, rewritten and grouped.
pub struct Items<'a> {
    source: LineSource<'a>,
    plan: ConnPlan,
    /// Lines taken from the source so far.
    taken: usize,
    line: Vec<u8>,
}

impl<'a> Items<'a> {
    fn new(script: &'a JobScript, plan: &ConnPlan) -> Self {
        Self { source: script.line_source(), plan: plan.clone(), taken: 0, line: Vec::new() }
    }

    /// The next line of the plan's log.
    fn next_line(&mut self) -> Option<String> {
        if self.plan.truncate.is_some_and(|n| self.taken >= n) || !self.source.next_into(&mut self.line) {
            return None;
        }
        let mut line = String::from_utf8_lossy(&self.line).into_owned();
        if self.plan.rewrite == Some(self.taken) {
            line.push('~');
        }
        self.taken += 1;
        Some(line)
    }
}

impl Iterator for Items<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let group = self.plan.group.unwrap_or(1);
        if group == 1 {
            return self.next_line();
        }
        // Grouped, empty lines are left out: a message `a\n\nb` would hand out an empty line
        // that the ungrouped stream skips, and the text would depend on the grouping.
        let mut item: Option<String> = None;
        let mut count = 0;
        while count < group {
            let Some(line) = self.next_line() else { break };
            if line.is_empty() {
                continue;
            }
            match item.as_mut() {
                Some(item) => {
                    item.push('\n');
                    item.push_str(&line);
                }
                None => item = Some(line),
            }
            count += 1;
        }
        item
    }
}

/// A connection's output, made as it is written: WebSocket frames (server frames: unmasked)
/// or an HTTP body, up to the plan's cut.
pub struct Wire<'a> {
    items: Items<'a>,
    script: &'a JobScript,
    /// The script's HTTP layout without its fault: what `encode` needs, and cheap to make.
    clean: JobScript,
    /// The payload of one message, reused.
    payload: BytesMut,
    websocket: bool,
    /// Bytes and messages made so far.
    offset: usize,
    messages: usize,
    done: bool,
    /// Whether the output was cut (the connection is then killed).
    pub cut: bool,
}

/// Bytes made at a time.
const CHUNK: usize = 64 * 1024;

impl<'a> Wire<'a> {
    /// The WebSocket frames of a connection, ending with the complete event and a normal close.
    pub fn websocket(script: &'a JobScript, plan: &ConnPlan) -> Self {
        Self::new(script, plan, true)
    }

    /// The HTTP body of a connection (ending with the complete event in SSE).
    pub fn http(script: &'a JobScript, plan: &ConnPlan) -> Self {
        Self::new(script, plan, false)
    }

    fn new(script: &'a JobScript, plan: &ConnPlan, websocket: bool) -> Self {
        let clean = JobScript {
            http_format: script.http_format,
            crlf: script.crlf,
            ..JobScript::new("", crate::fake::script::Lines::Given(Vec::new()))
        };
        let items = Items::new(script, plan);
        Self {
            items,
            script,
            clean,
            payload: BytesMut::new(),
            websocket,
            offset: 0,
            messages: 0,
            done: false,
            cut: false,
        }
    }

    /// The next piece of output, `None` at its end (or its cut).
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let plan = &self.items.plan;
        let (max_bytes, max_messages) = (plan.drop_after_bytes, plan.drop_after_messages);
        let mut out = BytesMut::with_capacity(CHUNK + 1024);
        let clean = &self.clean;
        while out.len() < CHUNK {
            if max_messages.is_some_and(|n| self.messages >= n) {
                self.cut = true;
                break;
            }
            match self.items.next() {
                Some(item) if self.websocket => {
                    self.payload.clear();
                    encode::push_ws_line(self.script.ws_format, item.as_bytes(), &mut self.payload);
                    let opcode = if self.script.ws_format == WsFormat::Binary { 0x2 } else { 0x1 };
                    frame(&mut out, opcode, &self.payload);
                    self.messages += 1;
                }
                Some(item) => {
                    match self.script.http_format {
                        // A plain body has no messages: a group is its lines.
                        HttpFormat::Plain | HttpFormat::Raw => {
                            for line in item.split('\n') {
                                encode::push_http_line(clean, line.as_bytes(), &mut out);
                            }
                        }
                        HttpFormat::Sse => encode::push_http_line(clean, item.as_bytes(), &mut out),
                    }
                    self.messages += 1;
                }
                None => {
                    if self.websocket {
                        frame(&mut out, 0x1, &encode::event("complete", None));
                        frame(&mut out, 0x8, &1000u16.to_be_bytes());
                    } else {
                        encode::push_http_end(clean, &mut out);
                    }
                    self.done = true;
                }
            }
            if self.done {
                break;
            }
        }
        if let Some(max) = max_bytes {
            if self.offset + out.len() > max {
                out.truncate(max - self.offset);
                self.cut = true;
            }
        }
        if self.cut {
            // What remains is never sent.
            self.done = true;
        }
        self.offset += out.len();
        if out.is_empty() && self.done {
            return None;
        }
        Some(out.to_vec())
    }
}

fn frame(out: &mut BytesMut, opcode: u8, payload: &[u8]) {
    out.put_u8(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.put_u8(n as u8),
        n @ 126..=0xffff => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::script::Lines;

    fn script(lines: &[&str]) -> JobScript {
        let mut s = JobScript::new("j", Lines::Given(lines.iter().map(|l| (*l).to_owned()).collect()));
        s.connections = vec![ConnPlan { group: Some(2), ..ConnPlan::default() }, ConnPlan::default()];
        s
    }

    fn whole(mut wire: Wire<'_>) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        while let Some(chunk) = wire.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        (out, wire.cut)
    }

    #[test]
    fn plans_apply_to_their_connection_only() {
        let s = script(&["a"]);
        assert_eq!(next(&s).and_then(|p| p.group), Some(2));
        assert_eq!(next(&s), Some(ConnPlan::default()));
        assert_eq!(next(&s), None);
    }

    #[test]
    fn items_are_grouped_truncated_and_rewritten() {
        let s = script(&["a", "", "b", "c"]);
        let plan = ConnPlan { group: Some(2), rewrite: Some(3), ..ConnPlan::default() };
        assert_eq!(Items::new(&s, &plan).collect::<Vec<_>>(), ["a\nb", "c~"]);
        let plan = ConnPlan { truncate: Some(1), ..ConnPlan::default() };
        assert_eq!(Items::new(&s, &plan).collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn cuts_fall_after_bytes_or_messages() {
        let s = script(&["a", "b"]);
        let plan = ConnPlan { drop_after_messages: Some(1), ..ConnPlan::default() };
        assert_eq!(whole(Wire::http(&s, &plan)), (b"a\n".to_vec(), true));
        assert_eq!(whole(Wire::http(&s, &ConnPlan::default())), (b"a\nb\n".to_vec(), false));
        let plan = ConnPlan { drop_after_bytes: Some(3), ..ConnPlan::default() };
        let (wire, cut) = whole(Wire::websocket(&s, &plan));
        assert_eq!((wire.len(), wire[0], cut), (3, 0x81, true));
        let plan = ConnPlan { drop_after_bytes: Some(10_000), ..ConnPlan::default() };
        assert!(!whole(Wire::websocket(&s, &plan)).1, "a cut past the end is no cut");
    }
}
