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

/// The whole body, failing with [`Error::TooLarge`] as soon as it passes `max` bytes, before
/// holding more than that (a declared `Content-Length` over `max` fails before reading).
pub async fn whole(mut response: Response, max: u64) -> Result<Bytes> {
    let too_large = || Error::TooLarge { limit: "max_response_size", max };
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut out = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(send_error)? {
        if (out.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
