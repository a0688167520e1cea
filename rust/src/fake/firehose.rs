//! Synthetic, realistic log lines of about 100 bytes, generated on the fly for throughput tests.
//!
//! A line is a pure function of its sequence number, so any client can check what it received:
//! `2025-01-15T08:30:00.000037Z INFO  worker-07 batch seq=0000000001 rows=0512 latency_ms=012.345 status=ok`

/// The first line's time of day, in microseconds (08:30:00).
const START_MICROS: u64 = (8 * 3600 + 30 * 60) * 1_000_000;
/// Microseconds between two lines.
const STEP_MICROS: u64 = 37;
const DAY_MICROS: u64 = 86_400 * 1_000_000;

/// Appends line `seq` to `out` (about 100 ASCII bytes, no newline).
pub fn write_line(seq: u64, out: &mut Vec<u8>) {
    let micros = (START_MICROS + seq.wrapping_mul(STEP_MICROS)) % DAY_MICROS;
    let noise = mix(seq);
    out.extend_from_slice(b"2025-01-15T");
    push_padded(out, micros / 3_600_000_000, 2);
    out.push(b':');
    push_padded(out, micros / 60_000_000 % 60, 2);
    out.push(b':');
    push_padded(out, micros / 1_000_000 % 60, 2);
    out.push(b'.');
    push_padded(out, micros % 1_000_000, 6);
    // Mostly INFO, some DEBUG, a few WARN and ERROR, like a real worker.
    let (level, status): (&[u8], &[u8]) = match noise % 100 {
        0..=1 => (b"ERROR", b"failed"),
        2..=6 => (b"WARN ", b"retry"),
        7..=19 => (b"DEBUG", b"ok"),
        _ => (b"INFO ", b"ok"),
    };
    out.extend_from_slice(b"Z ");
    out.extend_from_slice(level);
    out.extend_from_slice(b" worker-");
    push_padded(out, (noise >> 8) % 16, 2);
    out.extend_from_slice(b" batch seq=");
    push_padded(out, seq, 10);
    out.extend_from_slice(b" rows=");
    push_padded(out, 1 + (noise >> 16) % 1024, 4);
    out.extend_from_slice(b" latency_ms=");
    push_padded(out, (noise >> 32) % 1000, 3);
    out.push(b'.');
    push_padded(out, (noise >> 44) % 1000, 3);
    out.extend_from_slice(b" status=");
    out.extend_from_slice(status);
}

/// A cheap, well-spread hash of the sequence number (splitmix64's finaliser).
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// "00" to "99": digits are written two at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                            2021222324252627282930313233343536373839\
                            4041424344454647484950515253545556575859\
                            6061626364656667686970717273747576777879\
                            8081828384858687888990919293949596979899";

/// Appends `value` in decimal, zero-padded to at least `width` digits (at most 20).
fn push_padded(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while value >= 10 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        digits[start - 2..start].copy_from_slice(&PAIRS[pair..pair + 2]);
        start -= 2;
    }
    if value > 0 {
        start -= 1;
        digits[start] = b'0' + value as u8;
    }
    out.extend_from_slice(&digits[start.min(digits.len().saturating_sub(width.max(1)))..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_about_100_bytes_and_deterministic() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for seq in [0, 1, 999_999, 12_345_678_901] {
            a.clear();
            b.clear();
            write_line(seq, &mut a);
            write_line(seq, &mut b);
            assert_eq!(a, b);
            assert!((95..=115).contains(&a.len()), "{a:?} is {} bytes", a.len());
            assert!(a.is_ascii() && !a.contains(&b'\n'));
        }
    }

    #[test]
    fn first_line_is_readable() {
        let mut line = Vec::new();
        write_line(1, &mut line);
        let line = String::from_utf8(line).unwrap();
        assert!(line.starts_with("2025-01-15T08:30:00.000037Z "), "{line}");
        assert!(line.contains(" seq=0000000001 "), "{line}");
    }

    #[test]
    fn padding_never_truncates() {
        let mut out = Vec::new();
        for (value, width) in [(7, 3), (12345, 2), (0, 1), (10, 2), (100, 2), (99, 4), (0, 3)] {
            push_padded(&mut out, value, width);
            out.push(b' ');
        }
        assert_eq!(out, b"007 12345 0 10 100 0099 000 ");
    }
}
