//! Limit accounting: any sequence of item sizes and partial (still arriving) sizes under any
//! limits fails exactly when the running totals pass a limit, never overflows, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synapse_agent_rs_fuzz::stream::limits::{Counter, Limits, Unit};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let opt = |b: u8| (b & 0x80 != 0).then_some(u64::from(b & 0x7f) * 7);
    let limits = Limits {
        max_messages: opt(data[0]),
        max_lines: opt(data[0].rotate_left(3)),
        max_bytes: opt(data[1]),
        max_message_size: opt(data[2]),
        queue_size: 1,
    };
    let unit = if data[2] & 1 == 0 { Unit::Messages } else { Unit::Lines };
    let max_items = match unit {
        Unit::Messages => limits.max_messages,
        Unit::Lines => limits.max_lines,
    };
    let mut counter = Counter::new(&limits, unit);
    let (mut items, mut bytes) = (0u64, 0u64);
    for pair in data[3..].chunks(2) {
        let size = u64::from(pair[0]) * u64::from(pair.get(1).copied().unwrap_or(1));
        if pair[0] & 1 == 0 {
            let partial = counter.check_partial(size, 4000);
            let over = limits.max_bytes.is_some_and(|m| bytes + size > m) || size > 4000;
            assert_eq!(partial.is_err(), over);
            continue;
        }
        let result = counter.count(size as usize);
        items += 1;
        bytes += size;
        let over = max_items.is_some_and(|m| items > m) || limits.max_bytes.is_some_and(|m| bytes > m);
        assert_eq!(result.is_err(), over, "items {items} bytes {bytes} {limits:?}");
        if over {
            assert_eq!(result.unwrap_err().status_code(), 429);
            return;
        }
        let _ = limits.too_large(size as usize);
    }
});
