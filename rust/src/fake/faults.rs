//! Faults of single stream connections, for tests of resuming: connection `k` of a job plays
//! the job's `connections[k]` plan (later ones, and jobs without plans, play the script as usual).
//!
//! A plan can refuse the connection with a status, serve a truncated or rewritten log, group
//! lines into messages (or SSE events) its own way, and cut the connection after any number of
//! bytes of the wire (inside a frame, a chunk or a UTF-8 character) or of messages. The wire is
//! built whole in memory (a planned connection of a million-line firehose holds ~100 MB) and
//! written as it is.

use std::sync::atomic::Ordering;

use bytes::{BufMut, BytesMut};

use super::encode;
use super::script::{HttpFormat, JobScript, WsFormat};

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

/// The lines a plan serves, grouped into items.
fn items(script: &JobScript, plan: &ConnPlan) -> Vec<String> {
    let (mut lines, mut line) = (Vec::new(), Vec::new());
    let mut source = script.line_source();
    while source.next_into(&mut line) {
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    if let Some(n) = plan.truncate {
        lines.truncate(n);
    }
    if let Some(line) = plan.rewrite.and_then(|n| lines.get_mut(n)) {
        line.push('~');
    }
    let group = plan.group.unwrap_or(1);
    if group == 1 {
        return lines;
    }
    // Grouped, empty lines are left out: a message `a\n\nb` would hand out an empty line
    // that the ungrouped stream skips, and the text would depend on the grouping.
    lines.retain(|l| !l.is_empty());
    lines.chunks(group).map(|c| c.join("\n")).collect()
}

/// Where the wire is cut: after `drop_after_bytes`, or after the messages, whichever is first.
fn cut(plan: &ConnPlan, ends: &[usize], total: usize) -> Option<usize> {
    let by_messages = plan.drop_after_messages.map(|n| if n == 0 { 0 } else { ends.get(n - 1).copied().unwrap_or(total) });
    match (plan.drop_after_bytes, by_messages) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The WebSocket frames of a connection (server frames: unmasked), ending with the complete
/// event and a normal close unless cut; and where to cut them.
pub fn ws_wire(script: &JobScript, plan: &ConnPlan) -> (Vec<u8>, Option<usize>) {
    let (mut out, mut ends) = (BytesMut::new(), Vec::new());
    for item in items(script, plan) {
        let mut payload = BytesMut::new();
        encode::push_ws_line(script.ws_format, item.as_bytes(), &mut payload);
        let opcode = if script.ws_format == WsFormat::Binary { 0x2 } else { 0x1 };
        frame(&mut out, opcode, &payload);
        ends.push(out.len());
    }
    frame(&mut out, 0x1, &encode::event("complete", None));
    frame(&mut out, 0x8, &1000u16.to_be_bytes());
    let total = out.len();
    (out.to_vec(), cut(plan, &ends, total).filter(|&c| c < total))
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

/// The HTTP body of a connection (ending with the complete event in SSE) and where to cut it.
pub fn http_wire(script: &JobScript, plan: &ConnPlan) -> (Vec<u8>, Option<usize>) {
    let (mut out, mut ends) = (BytesMut::new(), Vec::new());
    let mut clean = script.clone();
    clean.fault = None;
    for item in items(script, plan) {
        match script.http_format {
            // A plain body has no messages: a group is its lines.
            HttpFormat::Plain | HttpFormat::Raw => {
                for line in item.split('\n') {
                    encode::push_http_line(&clean, line.as_bytes(), &mut out);
                }
            }
            HttpFormat::Sse => encode::push_http_line(&clean, item.as_bytes(), &mut out),
        }
        ends.push(out.len());
    }
    encode::push_http_end(&clean, &mut out);
    let total = out.len();
    (out.to_vec(), cut(plan, &ends, total).filter(|&c| c < total))
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

    #[test]
    fn plans_apply_to_their_connection_only() {
        let s = script(&["a"]);
        assert_eq!(next(&s).and_then(|p| p.group), Some(2));
        assert_eq!(next(&s), Some(ConnPlan::default()));
        assert_eq!(next(&s), None);
    }

    #[test]
    fn items_are_grouped_truncated_and_rewritten() {
        let s = script(&["a", "b", "c"]);
        let plan = ConnPlan { group: Some(2), rewrite: Some(2), ..ConnPlan::default() };
        assert_eq!(items(&s, &plan), ["a\nb", "c~"]);
        let plan = ConnPlan { truncate: Some(1), ..ConnPlan::default() };
        assert_eq!(items(&s, &plan), ["a"]);
    }

    #[test]
    fn cuts_fall_after_bytes_or_messages() {
        let s = script(&["a", "b"]);
        let (wire, cut_at) = http_wire(&s, &ConnPlan { drop_after_messages: Some(1), ..ConnPlan::default() });
        assert_eq!((&wire[..], cut_at), (&b"a\nb\n"[..], Some(2)));
        let (wire, cut_at) = ws_wire(&s, &ConnPlan { drop_after_bytes: Some(3), ..ConnPlan::default() });
        assert_eq!(wire[0], 0x81);
        assert_eq!(cut_at, Some(3));
    }
}
