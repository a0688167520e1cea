//! Reading answer bodies with a bound on size and on time: error bodies (kept for their
//! detail only) and REST answers (held whole, so capped by `max_response_size`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::Response;

use crate::error::{Error, Result};
use crate::rest::send_error;

/// At most this much of an error answer is read: only its first 1,000 characters are kept.
pub const ERROR_BODY_CAP: usize = 64 << 10;

/// The default bound of a REST answer held in memory (`max_response_size`).
pub const DEFAULT_MAX_RESPONSE: u64 = 64 << 20;

/// The first `cap` bytes of a body, read within `deadline`; whatever arrived by then if the
/// server stalls or breaks off (the status is what matters, the body only explains it).
pub async fn prefix(response: &mut Response, cap: usize, deadline: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let read = async {
        while out.len() < cap {
            match response.chunk().await {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(cap - out.len())]),
                Ok(None) | Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(deadline, read).await;
    out
}

/// The payload of a chunked body, as far as it goes: sizes and extensions dropped, stopping
/// at the last chunk, at a malformed size line or where the bytes run out.
pub fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&raw[..eol]);
        let size = line.split(';').next().map(str::trim).and_then(|s| usize::from_str_radix(s, 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else { break };
        raw = &raw[eol + 2..];
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        raw = raw.get(take + 2..).unwrap_or_default();
    }
    out
}

/// The whole body, failing with [`Error::TooLarge`] as soon as it passes `max` bytes, before
/// holding more than that (a declared `Content-Length` over `max` fails before reading).
pub async fn whole(mut response: Response, max: u64) -> Result<Bytes> {
    let too_large = || Error::TooLarge { limit: "max_response_size", max };
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut out = BytesMut::new();
    // Past the headers, a broken connection means the request was received: `Incomplete`.
    while let Some(chunk) = response.chunk().await.map_err(|e| send_error(e).incomplete())? {
        if (out.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_undoes_the_framing_as_far_as_it_goes() {
        assert_eq!(dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"), b"hello world");
        assert_eq!(dechunk(b"a\r\nshort"), b"short");
        assert_eq!(dechunk(b"zz\r\nx\r\n"), b"");
        assert_eq!(dechunk(b"ffffffffffffffffffff\r\nx"), b"");
        assert_eq!(dechunk(b""), b"");
    }
}
