//! Wording of the messages people read: counts with the right plural, close codes without
//! empty brackets.

/// `1 line`, `2 lines`, `0 lines` (`unit` is the singular).
pub fn plural(count: u64, unit: &str) -> String {
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// `count` followed by a phrase whose first word is a plural noun, made singular for 1:
/// `(1, "messages (max_messages)")` gives `1 message (max_messages)`.
pub fn count_of(count: u64, phrase: &str) -> String {
    let (noun, rest) = phrase.split_once(' ').map_or((phrase, ""), |(noun, rest)| (noun, rest));
    let noun = noun.strip_suffix('s').unwrap_or(noun);
    let counted = plural(count, noun);
    if rest.is_empty() {
        counted
    } else {
        format!("{counted} {rest}")
    }
}

/// `code 4000`, or `code 4000 (going away)` when the peer gave a reason.
pub fn close_code(code: u16, reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        format!("code {code}")
    } else {
        format!("code {code} ({reason})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(plural(1, "line"), "1 line");
        assert_eq!(plural(0, "line"), "0 lines");
        assert_eq!(plural(2, "byte"), "2 bytes");
        assert_eq!(count_of(1, "messages (max_messages)"), "1 message (max_messages)");
        assert_eq!(count_of(5, "bytes (max_bytes)"), "5 bytes (max_bytes)");
        assert_eq!(count_of(1, "lines"), "1 line");
    }

    #[test]
    fn close_codes_have_no_empty_brackets() {
        assert_eq!(close_code(4000, ""), "code 4000");
        assert_eq!(close_code(4000, "  "), "code 4000");
        assert_eq!(close_code(1011, "boom"), "code 1011 (boom)");
    }
}
