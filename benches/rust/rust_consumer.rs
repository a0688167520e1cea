//! The ceiling of the Python benchmark rows: our Rust core tailing one stream, with no Python at all.
//!
//! `rust_consumer BASE_URL JOB_ID websocket|http` starts one stream at our rows' `StreamLimits`,
//! drains its queue on this plain (tokio-less) main thread, touching every line, and prints one
//! JSON object: `{"lines": .., "payload_bytes": .., "seconds": ..}`. The core runs the stream on
//! its own runtime. The harness (`benches/harness.py`) reads the CPU time and peak RSS of this
//! process from `wait4`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use _core::error::Secrets;
use _core::stream::limits::Limits;
use _core::stream::queue::{Batch, Take};
use _core::stream::spec::{Protocol, TailSpec};
use _core::stream::tail;

const TOKEN: &str = "bench-token";

/// What one stream delivered.
struct Drained {
    lines: u64,
    payload_bytes: u64,
    seconds: f64,
}

fn spec(base_url: &str, job_id: &str, protocol: &str) -> Result<TailSpec, String> {
    let protocol = Protocol::parse(protocol).map_err(|e| e.to_string())?;
    let url = reqwest::Url::parse(base_url).map_err(|e| e.to_string())?;
    let transport = _core::net::Transport::new(&url, Default::default()).map_err(|e| e.to_string())?;
    Ok(TailSpec {
        base_url: base_url.trim_end_matches('/').to_owned(),
        job_id: job_id.to_owned(),
        headers: Arc::new(vec![("Authorization".to_owned(), TOKEN.to_owned())]),
        secrets: Arc::new(Secrets::new([TOKEN])),
        protocol,
        timeout: Duration::from_secs(30),
        // The limits of our Python rows: the defaults, with the count and byte limits lifted.
        limits: Limits { max_messages: None, max_lines: None, max_bytes: None, ..Limits::default() },
        transport: Arc::new(transport),
        // `RESUME=1` keeps the cursor (the cost of resuming when nothing breaks).
        resume: std::env::var_os("RESUME").map(|_| Default::default()),
        track: false,
        resume_from: None,
    })
}

/// Tails the stream to its end, counting lines and their bytes.
fn drain(spec: TailSpec) -> Result<Drained, String> {
    let started = Instant::now();
    let mut stream = tail::start(spec);
    let (mut lines, mut payload_bytes) = (0u64, 0u64);
    let mut drained = Batch::default();
    loop {
        match stream.consumer.try_take(std::mem::take(&mut drained)) {
            Take::Batch(batch) => {
                lines += batch.len() as u64;
                payload_bytes += batch.iter().map(|line| line.len() as u64).sum::<u64>();
                drained = batch;
            }
            Take::Empty => {
                stream.consumer.wait(Duration::from_millis(100));
            }
            Take::End(Ok(())) => break,
            Take::End(Err(e)) => return Err(format!("the stream failed after {lines} lines: {e}")),
        }
    }
    Ok(Drained { lines, payload_bytes, seconds: started.elapsed().as_secs_f64() })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base_url, job_id, protocol] = args.as_slice() else {
        eprintln!("usage: rust_consumer BASE_URL JOB_ID websocket|http");
        return ExitCode::from(2);
    };
    match spec(base_url, job_id, protocol).and_then(drain) {
        Ok(d) => {
            println!(r#"{{"lines": {}, "payload_bytes": {}, "seconds": {:.6}}}"#, d.lines, d.payload_bytes, d.seconds);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rust_consumer: {e}");
            ExitCode::FAILURE
        }
    }
}
