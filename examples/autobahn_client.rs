//! An echo client for the Autobahn|Testsuite fuzzing server (`make autobahn`), built on our
//! WebSocket connect path (`ws::handshake`) and frame reader (`ws::Conn`, `frames.rs`).
//!
//! `autobahn_client [SERVER_URL [AGENT]]` asks the server for its case count, runs every case
//! (echoing each message it reads, as text or binary), then asks it to write its reports.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use _core::error::Secrets;
use _core::stream::frames::Item;
use _core::stream::limits::Limits;
use _core::stream::spec::{Protocol, TailSpec};
use _core::stream::ws::{self, Conn, OpenError, Stop};
use tokio_tungstenite::tungstenite::Message;

/// A case that sends nothing for this long has hung.
const QUIET: Duration = Duration::from_secs(60);

fn spec(server: &str) -> Result<TailSpec, String> {
    let url = reqwest::Url::parse(server).map_err(|e| e.to_string())?;
    let transport = _core::net::Transport::new(&url, Default::default()).map_err(|e| e.to_string())?;
    Ok(TailSpec {
        base_url: server.to_owned(),
        job_id: String::new(),
        headers: Arc::new(Vec::new()),
        secrets: Arc::new(Secrets::new([])),
        protocol: Protocol::WebSocket,
        timeout: Duration::from_secs(10),
        limits: Limits::unlimited(),
        transport: Arc::new(transport),
        resume: None,
        track: false,
        resume_from: None,
    })
}

async fn open(url: &str, spec: &TailSpec) -> Result<Conn, String> {
    match ws::handshake(url, spec).await {
        Ok(socket) => Ok(Conn::new(socket, spec.limits.max_message_size)),
        Err(OpenError::Unavailable(e) | OpenError::Failed(e)) => Err(format!("{url}: {e}")),
    }
}

/// Echoes every message until the connection ends; returns the texts it read.
async fn echo(url: &str, spec: &TailSpec) -> Result<Vec<String>, String> {
    let mut conn = open(url, spec).await?;
    let mut texts = Vec::new();
    let mut outbox = Vec::new();
    loop {
        let step = poll_fn(|cx| {
            conn.poll_fill(cx, &mut |item| {
                match item {
                    Item::Text(text) => outbox.push(Message::Text(text.into())),
                    Item::Binary(bytes) => outbox.push(Message::Binary(bytes::Bytes::copy_from_slice(bytes))),
                    _ => {}
                }
                Ok(true)
            })
        });
        let step = tokio::time::timeout(QUIET, step).await.map_err(|_| format!("{url}: no frame for {QUIET:?}"))?;
        // Everything in the outbox arrived before a ping that paused the reading: echo first.
        for message in outbox.drain(..) {
            if let Message::Text(text) = &message {
                texts.push(text.to_string());
            }
            conn.send(message, spec.timeout).await;
        }
        conn.answer_ping(spec.timeout).await;
        if let Err(stop) = step {
            conn.finish(&stop, spec.timeout).await;
            if matches!(stop, Stop::Close(_) | Stop::Violation(_)) {
                // The server closes TCP after the close handshake; wait for it, briefly.
                let drain = poll_fn(|cx| conn.poll_fill(cx, &mut |_| Ok(true)));
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    let mut drain = std::pin::pin!(drain);
                    while drain.as_mut().await.is_ok() {}
                })
                .await;
            }
            return Ok(texts);
        }
    }
}

async fn run(server: &str, agent: &str) -> Result<(), String> {
    let spec = spec(server)?;
    let count = echo(&format!("{server}/getCaseCount"), &spec).await?;
    let count: u32 = count.first().and_then(|c| c.parse().ok()).ok_or("the server sent no case count")?;
    for case in 1..=count {
        echo(&format!("{server}/runCase?case={case}&agent={agent}"), &spec).await?;
    }
    echo(&format!("{server}/updateReports?agent={agent}"), &spec).await?;
    println!("autobahn_client: ran {count} cases");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "synapse-agent-rs".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&server, &agent)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
