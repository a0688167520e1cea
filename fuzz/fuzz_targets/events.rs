//! The event decoder on any text: plain lines, SSE fields and JSON events (the serde-free
//! fast path and serde_json alike) never panic, and a line is only ever text of the input
//! or the JSON text of a value in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synapse_agent_rs_fuzz::stream::events::{self, Event};

fuzz_target!(|data: &[u8]| {
    let text = events::utf8_lossy(data);
    for line in text.split('\n') {
        let payload = events::sse_data(line).unwrap_or(line);
        let _ = events::sse_other(line);
        match events::decode(payload) {
            Event::Line(l) => assert!(!l.is_empty()),
            Event::Error(_) | Event::Skip | Event::Complete => {}
        }
    }
    // A JSON event around arbitrary text takes the serde path with escapes.
    let wrapped = serde_json::json!({"type": "log", "message": &*text}).to_string();
    match events::decode(&wrapped) {
        Event::Line(l) => assert_eq!(&*l, &*text),
        Event::Skip => assert!(text.is_empty()),
        other => panic!("{other:?}"),
    }
});
