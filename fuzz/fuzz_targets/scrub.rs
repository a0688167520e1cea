//! The scrubber on any text and any secrets: never panics, and no secret that stands as a
//! word of its own (or is long) survives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synapse_agent_rs_fuzz::error::{sanitize, Secrets};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        let _ = sanitize(&text, &Secrets::default());
        return;
    };
    let body = parts.next().unwrap_or_default();
    let secrets = Secrets::new([a, b]);
    let _ = sanitize(body, &secrets);
    for secret in [a, b] {
        // Secrets made only of `*` would be indistinguishable from the redaction mark.
        if secret.is_empty() || secret.chars().all(|c| c == '*') {
            continue;
        }
        let framed = format!("{body} \u{2}{secret}\u{2} {body}");
        let out = sanitize(&framed, &secrets);
        assert!(
            !out.contains(&format!("\u{2}{secret}\u{2}")),
            "{secret:?} survived in {out:?}"
        );
    }
});
