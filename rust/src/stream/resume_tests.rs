//! Resuming against the in-process FakeAgent: seeded random schedules of drops at any byte,
//! refusals, protocol switches (`auto` refused its WebSocket), regroupings, truncated and
//! rewritten replays, over logs with multi-byte characters and empty lines. Every run ends
//! with the whole text of the log, or with a typed error and a prefix of it.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Secrets};
use crate::fake::{ConnPlan, FakeAgent, HttpFormat, JobScript, Lines};
use crate::stream::cursor::{Position, Running};
use crate::stream::limits::Limits;
use crate::stream::queue::{Batch, Take};
use crate::stream::spec::{Protocol, ResumePolicy, TailSpec};
use crate::stream::tail;

/// A small seeded generator (xorshift64*), so that a failing schedule can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const PIECES: [&str; 9] = ["a", "b", " ", "\u{e9}", "\u{20ac}", "\u{1f600}", "\"", "{", "z9"];

fn random_log(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(30) + 1)
        .map(|_| {
            if rng.chance(10) {
                return String::new();
            }
            (0..rng.below(12) + 1).map(|_| PIECES[rng.below(PIECES.len() as u64) as usize]).collect()
        })
        .collect()
}

/// The text a connection playing `plan` hands out in full: non-empty lines, each with `\n`.
fn text_of(lines: &[String], plan: Option<&ConnPlan>) -> String {
    let mut lines = lines.to_vec();
    if let Some(n) = plan.and_then(|p| p.truncate) {
        lines.truncate(n);
    }
    if let Some(line) = plan.and_then(|p| p.rewrite).and_then(|n| lines.get_mut(n)) {
        line.push('~');
    }
    lines.iter().filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect()
}

fn spec(base: &str, job_id: &str, protocol: Protocol) -> TailSpec {
    let url = reqwest::Url::parse(base).unwrap();
    TailSpec {
        base_url: base.to_owned(),
        job_id: job_id.to_owned(),
        headers: Arc::new(Vec::new()),
        secrets: Arc::new(Secrets::default()),
        protocol,
        timeout: Duration::from_secs(10),
        limits: Limits { queue_size: 7, ..Limits::default() },
        transport: Arc::new(crate::net::Transport::new(&url, crate::net::TransportOptions::default()).unwrap()),
        resume: Some(ResumePolicy {
            attempts: 4,
            deadline: Duration::from_secs(60),
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            jitter: 0.0,
        }),
        track: false,
        resume_from: None,
    }
}

/// Drains a stream; checks on the way that each batch's recorded start is the cursor after
/// everything taken before it. Returns the text and the outcome.
fn drain(spec: TailSpec) -> (String, crate::error::Result<()>) {
    let mut stream = tail::start(spec);
    let mut text = String::new();
    let mut at = Running::new();
    let mut drained = Batch::default();
    loop {
        match stream.consumer.try_take(std::mem::take(&mut drained)) {
            Take::Batch(batch) => {
                let (start, end) = stream.ledger.taken().expect("every batch has its marks");
                assert_eq!(start.position(), at.position(), "a batch starts where the last one ended");
                for line in batch.iter() {
                    text.push_str(line);
                    text.push('\n');
                    at.line(line);
                }
                assert_eq!(end.position(), at.position());
                drained = batch;
            }
            Take::Empty => {
                stream.consumer.wait(Duration::from_millis(200));
            }
            Take::End(outcome) => return (text, outcome),
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    complete: u32,
    mismatch: u32,
    gave_up: u32,
    never_started: u32,
}

fn run_schedules(seed: u64, count: u32) -> Tally {
    let agent = FakeAgent::new();
    let addr = agent.start("127.0.0.1", 0, None).unwrap();
    let base = format!("http://{addr}");
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    for n in 0..count {
        let lines = random_log(&mut rng);
        let full = text_of(&lines, None);
        let job_id = format!("s{seed}x{n}");
        let protocol = [Protocol::Auto, Protocol::WebSocket, Protocol::Http][rng.below(3) as usize];
        let mut plans = Vec::new();
        for k in 0..rng.below(5) {
            let mut plan = ConnPlan::default();
            // A refused first connection never starts the stream (`auto` falls back to HTTP, though).
            if rng.chance(15) && (k > 0 || protocol == Protocol::Auto) {
                plan.refuse = Some([502, 503, 504][rng.below(3) as usize]);
            } else {
                plan.group = Some(rng.below(4) + 1).map(|g| g as usize);
                if rng.chance(75) {
                    // Anywhere in the wire, frames and events included.
                    plan.drop_after_bytes = Some(rng.below(full.len() as u64 * 2 + 40) as usize);
                }
                if rng.chance(5) {
                    plan.truncate = Some(rng.below(lines.len() as u64) as usize);
                }
                if rng.chance(5) {
                    plan.rewrite = Some(rng.below(lines.len() as u64) as usize);
                }
            }
            plans.push(plan);
        }
        let mut script = JobScript::new(job_id.clone(), Lines::Given(lines.clone()));
        script.http_format = if rng.chance(50) { HttpFormat::Sse } else { HttpFormat::Plain };
        script.connections = plans.clone();
        let served = Arc::clone(&script.served);
        agent.add_job(script).unwrap();
        let started = Instant::now();
        let spec = spec(&base, &job_id, protocol);
        let (text, outcome) = drain(spec);
        let last = served.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(1);
        let last_plan = plans.get(last);
        let context =
            format!("seed {seed} schedule {n}: {protocol:?} {plans:?} lines {lines:?} took {:?}", started.elapsed());
        match outcome {
            Ok(()) => {
                assert_eq!(text, text_of(&lines, last_plan), "{context}");
                tally.complete += 1;
            }
            Err(Error::ReplayMismatch { handed_out, .. }) => {
                assert_eq!(handed_out, text.len() as u64, "{context}");
                let replay = text_of(&lines, last_plan);
                assert!(!replay.starts_with(&text), "a replay that continues the text is no mismatch: {context}");
                let served_texts = plans.iter().map(|p| text_of(&lines, Some(p)));
                assert!(served_texts.chain([full.clone()]).any(|t| t.starts_with(&text)), "{context}");
                assert!(plans.iter().any(|p| p.truncate.is_some() || p.rewrite.is_some()), "{context}");
                tally.mismatch += 1;
            }
            Err(e) if text.is_empty() && plans.first().is_some_and(|p| p.refuse.is_some()) => {
                // The stream never started: its first connection was refused, and raised at once.
                assert!(protocol != Protocol::Auto || plans.get(1).is_some_and(|p| p.refuse.is_some()), "{context}");
                assert!(!e.to_string().contains("gave up resuming"), "{e}: {context}");
                tally.never_started += 1;
            }
            Err(e) => {
                assert!(e.transient(), "{e}: {context}");
                assert!(e.to_string().contains("gave up resuming"), "{e}: {context}");
                assert!(
                    full.starts_with(&text) || plans.iter().any(|p| text_of(&lines, Some(p)).starts_with(&text)),
                    "{context}"
                );
                tally.gave_up += 1;
            }
        }
    }
    agent.stop();
    tally
}

use std::time::Instant;

#[test]
fn a_thousand_random_schedules_hand_out_every_line_exactly_once() {
    // Four seeds side by side: the runs mostly wait on sockets and on the fake's pauses.
    let runs: Vec<_> = (1..=4u64)
        .map(|seed| std::thread::spawn(move || run_schedules(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 250)))
        .collect();
    let mut total = Tally::default();
    for run in runs {
        let t = run.join().expect("a schedule failed");
        total.complete += t.complete;
        total.mismatch += t.mismatch;
        total.gave_up += t.gave_up;
        total.never_started += t.never_started;
    }
    eprintln!("resume schedules: {total:?}");
    assert_eq!(total.complete + total.mismatch + total.gave_up + total.never_started, 1000);
    assert!(total.complete > 500, "{total:?}");
}

#[test]
fn the_start_position_is_the_hash_of_nothing() {
    assert_eq!(Position::start().bytes, 0);
}
