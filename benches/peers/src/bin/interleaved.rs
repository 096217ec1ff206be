//! The interleaved runner: every operation of issue 10's table of goals, and every comparison
//! with vodozemac, timed once per round in a fixed order, each ratio taken within its round.
//!
//! On a shared machine criterion's separate groups drift by 2x between the minute an
//! operation is measured and the minute its reference is; here an operation and its reference
//! are measured milliseconds apart, R times, and the table shows the median and the range of
//! the per-round ratios. Each "once" is a batch of k iterations, k fixed before the rounds so
//! that a batch takes about 3 ms.
//!
//! ```sh
//! cd benches/peers && cargo run --release --bin interleaved -- [--rounds N] [--quick] [--batch-ms MS]
//! ```
//!
//! `--quick` (CI) runs 3 rounds; `PEERS_ROUNDS` sets the default round count. Build with
//! `--features in-place` to measure keylink's in-place API in the 1 MiB rows. The markdown
//! table goes to standard output, progress to standard error.

#![allow(clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use keylink_peers::primitives::{
    self, DECRYPT_100, DH_STEP, ENCRYPT_100, INITIATOR, RESPONDER, Sum,
};
use keylink_peers::{Op, goals, peer};

/// The fixed order of a round: each operation right after its reference.
const ORDER: &[&str] = &[
    "prim.hmac1",
    "prim.hmac41",
    "prim.hkdf44",
    "prim.seal100",
    "prim.seal41",
    "kl.encrypt100",
    "olm.encrypt100",
    "prim.open100",
    "prim.open41",
    "prim.open41_fails",
    "kl.decrypt100",
    "olm.decrypt100",
    "record.encrypt",
    "store.encrypt.fresh",
    "store.encrypt.skipped",
    "store.encrypt.archived",
    "record.decrypt",
    "store.decrypt.fresh",
    "store.decrypt.skipped",
    "store.decrypt.archived",
    "prim.seal1mib",
    "kl.encrypt1mib",
    "prim.open1mib",
    "kl.decrypt1mib",
    "prim.x25519_keygen",
    "prim.x25519_dh",
    "prim.mlkem_encaps",
    "prim.mlkem_decaps",
    "prim.hkdf192",
    "kl.initiator",
    "olm.initiator",
    "kl.responder",
    "olm.responder",
    "kl.dh_step",
    "kl.pingpong",
    "olm.pingpong",
    "kl.serialize",
    "olm.serialize",
    "kl.deserialize",
    "kl.deserialize_for_peer",
    "olm.deserialize",
    "olm.serialize_encrypted",
    "olm.deserialize_encrypted",
    "kl.fanout",
    "olm.fanout",
];

/// What an operation is compared with, measured in the same round.
enum Reference {
    Op(&'static str),
    Sum(Sum, &'static str),
}

/// How the two are compared, and the bound the goal sets.
#[derive(Clone, Copy)]
enum Goal {
    /// `op / reference` at most this.
    RatioAtMost(f64),
    /// `op - reference` at most this many µs.
    ExtraAtMostMicros(f64),
    /// `reference / op` (the share of the reference's throughput) at least this.
    ShareAtLeast(f64),
    /// `op / reference`, no goal.
    Ratio,
}

impl Goal {
    fn compare(self, op: f64, reference: f64) -> f64 {
        match self {
            Goal::RatioAtMost(_) | Goal::Ratio => op / reference,
            Goal::ExtraAtMostMicros(_) => (op - reference) / 1000.0,
            Goal::ShareAtLeast(_) => reference / op,
        }
    }

    fn met(self, value: f64) -> &'static str {
        let met = match self {
            Goal::RatioAtMost(bound) | Goal::ExtraAtMostMicros(bound) => value <= bound,
            Goal::ShareAtLeast(bound) => value >= bound,
            Goal::Ratio => return "",
        };
        if met { "yes" } else { "**no**" }
    }

    fn text(self) -> String {
        match self {
            Goal::RatioAtMost(bound) => format!("≤ {bound}x"),
            Goal::ExtraAtMostMicros(bound) => format!("≤ +{bound} µs"),
            Goal::ShareAtLeast(bound) => format!("≥ {:.0}%", bound * 100.0),
            Goal::Ratio => "—".into(),
        }
    }

    fn format(self, value: f64) -> String {
        match self {
            Goal::RatioAtMost(_) | Goal::Ratio => format!("{value:.2}x"),
            Goal::ExtraAtMostMicros(_) => format!("{value:+.2} µs"),
            Goal::ShareAtLeast(_) => format!("{:.0}%", value * 100.0),
        }
    }
}

struct Row {
    what: &'static str,
    op: &'static str,
    reference: Reference,
    goal: Goal,
}

fn row(what: &'static str, op: &'static str, reference: Reference, goal: Goal) -> Row {
    Row {
        what,
        op,
        reference,
        goal,
    }
}

fn rows() -> Vec<Row> {
    use Goal::*;
    use Reference::{Op as R, Sum as S};
    vec![
        row(
            "store encrypt 100 B, record with 2,000 skipped keys",
            "store.encrypt.skipped",
            R("store.encrypt.fresh"),
            RatioAtMost(1.2),
        ),
        row(
            "store decrypt 100 B, record with 2,000 skipped keys",
            "store.decrypt.skipped",
            R("store.decrypt.fresh"),
            RatioAtMost(1.2),
        ),
        row(
            "store encrypt 100 B, record with 40 archived sessions",
            "store.encrypt.archived",
            R("store.encrypt.fresh"),
            RatioAtMost(1.2),
        ),
        row(
            "store decrypt 100 B, record with 40 archived sessions",
            "store.decrypt.archived",
            R("store.decrypt.fresh"),
            RatioAtMost(1.2),
        ),
        row(
            "MemoryStore encrypt 100 B over SessionRecord::encrypt",
            "store.encrypt.fresh",
            R("record.encrypt"),
            ExtraAtMostMicros(1.0),
        ),
        row(
            "MemoryStore decrypt 100 B over SessionRecord::decrypt",
            "store.decrypt.fresh",
            R("record.decrypt"),
            ExtraAtMostMicros(1.0),
        ),
        row(
            "sans-IO encrypt 100 B over its primitive sum",
            "kl.encrypt100",
            S(
                ENCRYPT_100,
                "2 HMAC + HKDF + seal 100 B + HMAC 41 B + seal 41 B",
            ),
            RatioAtMost(1.2),
        ),
        row(
            "sans-IO decrypt 100 B over its primitive sum",
            "kl.decrypt100",
            S(
                DECRYPT_100,
                "2 HMAC + HKDF + open 100 B + open 41 B + HMAC 41 B",
            ),
            RatioAtMost(1.2),
        ),
        row(
            "encrypt 1 MiB, share of raw AES-256-GCM throughput",
            "kl.encrypt1mib",
            R("prim.seal1mib"),
            ShareAtLeast(0.9),
        ),
        row(
            "decrypt 1 MiB, share of raw AES-256-GCM throughput",
            "kl.decrypt1mib",
            R("prim.open1mib"),
            ShareAtLeast(0.9),
        ),
        row(
            "PQXDH initiator over its primitive sum",
            "kl.initiator",
            S(INITIATOR, "2 keygen + 5 DH + encaps + 2 HKDF"),
            RatioAtMost(0.85),
        ),
        row(
            "PQXDH responder (incl. first message) over its primitive sum",
            "kl.responder",
            S(
                RESPONDER,
                "6 DH + keygen + decaps + 3 HKDF + decrypt 100 B sum",
            ),
            RatioAtMost(0.85),
        ),
        row(
            "DH ratchet step (first message of a new chain) over its primitive sum",
            "kl.dh_step",
            S(
                DH_STEP,
                "2 DH + keygen + 4 HKDF + decrypt 100 B sum + failing open 41 B",
            ),
            RatioAtMost(0.85),
        ),
        row(
            "setup, initiator: keylink PQXDH / vodozemac 3DH",
            "kl.initiator",
            R("olm.initiator"),
            RatioAtMost(1.5),
        ),
        row(
            "setup, responder: keylink PQXDH / vodozemac 3DH",
            "kl.responder",
            R("olm.responder"),
            RatioAtMost(1.5),
        ),
        row(
            "encrypt 100 B: keylink / vodozemac",
            "kl.encrypt100",
            R("olm.encrypt100"),
            RatioAtMost(1.0),
        ),
        row(
            "decrypt 100 B: keylink / vodozemac",
            "kl.decrypt100",
            R("olm.decrypt100"),
            RatioAtMost(1.0),
        ),
        row(
            "fan-out 100 B to 1,000 sessions: keylink / vodozemac",
            "kl.fanout",
            R("olm.fanout"),
            RatioAtMost(1.0),
        ),
        row(
            "ping-pong: keylink / vodozemac",
            "kl.pingpong",
            R("olm.pingpong"),
            Ratio,
        ),
        row(
            "serialize a session: keylink / vodozemac (JSON pickle)",
            "kl.serialize",
            R("olm.serialize"),
            Ratio,
        ),
        row(
            "deserialize a session: keylink / vodozemac (JSON pickle)",
            "kl.deserialize",
            R("olm.deserialize"),
            Ratio,
        ),
        row(
            "deserialize, peer identity known: keylink / vodozemac",
            "kl.deserialize_for_peer",
            R("olm.deserialize"),
            Ratio,
        ),
    ]
}

struct Args {
    rounds: usize,
    batch: Duration,
}

fn args() -> Args {
    let mut rounds = std::env::var("PEERS_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("PEERS_ROUNDS: a number"));
    let mut batch_ms = 3.0;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--quick" => rounds = Some(3),
            "--rounds" => {
                rounds = Some(
                    argv.next()
                        .and_then(|r| r.parse().ok())
                        .expect("--rounds: a number"),
                )
            }
            "--batch-ms" => {
                batch_ms = argv
                    .next()
                    .and_then(|m| m.parse().ok())
                    .expect("--batch-ms: a number")
            }
            "-h" | "--help" => {
                eprintln!(
                    "interleaved [--rounds N | --quick] [--batch-ms MS]  (PEERS_ROUNDS sets the default, 30)"
                );
                std::process::exit(0);
            }
            // `cargo bench` passes `--bench`; nothing else is expected.
            "--bench" => {}
            other => panic!("unknown argument {other:?}"),
        }
    }
    Args {
        rounds: rounds.unwrap_or(30).max(1),
        batch: Duration::from_secs_f64(batch_ms / 1000.0),
    }
}

/// Every operation, in [`ORDER`].
fn operations() -> Vec<Op> {
    let mut ops: Vec<Op> = [
        primitives::symmetric(),
        primitives::asymmetric(),
        primitives::aes_1mib(),
        peer::all(),
        goals::store_by_history(),
        goals::sans_io_record(),
        goals::dh_step(),
        goals::one_mib(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let position = |op: &Op| {
        ORDER
            .iter()
            .position(|id| *id == op.id)
            .unwrap_or(ORDER.len())
    };
    ops.sort_by_key(position);
    ops
}

/// The batch size that makes one batch of `op` take about `target`: grown until a batch takes
/// a quarter of it, then set from the fastest of three batches (the least disturbed by the
/// rest of the machine).
fn calibrate(op: &mut Op, target: Duration) -> u64 {
    const MAX: u64 = 1 << 24;
    let per_iteration =
        |took: Duration, k: u64| took.max(Duration::from_nanos(1)).as_secs_f64() / k as f64;
    (op.run)(1);
    let mut k = 1u64;
    loop {
        let took = (op.run)(k);
        if took >= target / 4 || k >= MAX {
            break;
        }
        k = (k * 2).max((target.as_secs_f64() / per_iteration(took, k) / 2.0) as u64);
    }
    let fastest = (0..3)
        .map(|_| per_iteration((op.run)(k), k))
        .fold(f64::INFINITY, f64::min);
    ((target.as_secs_f64() / fastest).round() as u64).clamp(1, MAX)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() % 2 {
        0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Nanoseconds as µs with 3 significant digits.
fn micros(ns: f64) -> String {
    let us = ns / 1000.0;
    match us {
        u if u < 10.0 => format!("{u:.3}"),
        u if u < 100.0 => format!("{u:.2}"),
        u if u < 1000.0 => format!("{u:.1}"),
        u => format!("{u:.0}"),
    }
}

fn time_span(values: &[f64]) -> String {
    let (min, max) = range(values);
    format!(
        "{} µs ({}–{})",
        micros(median(values)),
        micros(min),
        micros(max)
    )
}

fn shell(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |l| l.trim().to_string())
}

fn commit() -> String {
    let Some(head) = shell("git", &["rev-parse", "--short", "HEAD"]) else {
        return "unknown (no git)".into();
    };
    let dirty = shell("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    }
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{}, {cores} cores",
        model.unwrap_or_else(|| "unknown CPU".into())
    )
}

fn command(args: &Args) -> String {
    let features = if goals::IN_PLACE {
        " --features in-place"
    } else {
        ""
    };
    let passed: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let passed = if passed.is_empty() {
        String::new()
    } else {
        format!(" -- {}", passed.join(" "))
    };
    let env = match std::env::var("PEERS_ROUNDS") {
        Ok(r) => format!("PEERS_ROUNDS={r} "),
        Err(_) => String::new(),
    };
    format!(
        "cd benches/peers && {env}cargo run --release{features} --bin interleaved{passed}   # {} rounds",
        args.rounds
    )
}

/// The measurements: per operation, its batch size and its time per iteration in each round
/// (ns).
struct Measured {
    ops: Vec<Op>,
    ks: Vec<u64>,
    per_iteration: Vec<Vec<f64>>,
}

impl Measured {
    fn times(&self, id: &str) -> &[f64] {
        let i = self.ops.iter().position(|op| op.id == id);
        &self.per_iteration[i.unwrap_or_else(|| panic!("no operation {id}"))]
    }

    /// The reference's time in each round: one operation, or a sum of primitives.
    fn reference(&self, reference: &Reference, rounds: usize) -> (Vec<f64>, String) {
        match reference {
            Reference::Op(id) => (self.times(id).to_vec(), format!("`{id}`")),
            Reference::Sum(sum, label) => {
                let in_round = |r: usize| -> f64 {
                    sum.iter()
                        .map(|(count, id)| f64::from(*count) * self.times(id)[r])
                        .sum()
                };
                (
                    (0..rounds).map(in_round).collect(),
                    format!("primitive sum: {label}"),
                )
            }
        }
    }
}

/// Calibrates every operation, then runs the rounds.
fn measure(args: &Args) -> Measured {
    eprintln!(
        "building the parties (1,000 sessions each side for the fan-out, a record with 2,000 skipped keys, one with 40 archived sessions)..."
    );
    let mut ops = operations();
    eprintln!(
        "calibrating {} operations to {:?} a batch...",
        ops.len(),
        args.batch
    );
    let ks: Vec<u64> = ops.iter_mut().map(|op| calibrate(op, args.batch)).collect();
    let mut per_iteration = vec![Vec::with_capacity(args.rounds); ops.len()];
    for round in 0..args.rounds {
        eprintln!("round {}/{} (load {})", round + 1, args.rounds, loadavg());
        for ((op, k), times) in ops.iter_mut().zip(&ks).zip(&mut per_iteration) {
            let took = (op.run)(*k);
            times.push(took.as_nanos() as f64 / *k as f64);
        }
    }
    Measured {
        ops,
        ks,
        per_iteration,
    }
}

fn print_header(args: &Args, date: &str, loads: (&str, &str), took: Duration) {
    println!("### Interleaved run: {} rounds\n", args.rounds);
    println!("- date: {date}; commit: {}; machine: {}", commit(), cpu());
    println!(
        "- load average (/proc/loadavg) at start: `{}`; at end: `{}`",
        loads.0, loads.1
    );
    println!("- command: `{}`", command(args));
    println!(
        "- 1 MiB rows: {}",
        if goals::IN_PLACE {
            "keylink::encrypt_in_place / decrypt_in_place (feature `in-place`)"
        } else {
            "keylink::encrypt (to wire bytes) / keylink::decrypt (feature `in-place` off: the in-place API is not measured)"
        }
    );
    println!(
        "- each round times every operation once, as a batch of k iterations (k fixed before the rounds, a batch about {:?}); each ratio is taken within its round; figures are the median and (min–max) over the rounds, per iteration; \"fastest vs fastest\" compares the operation's fastest round with the reference's, the least disturbed on a shared machine; the run took {:.0} s\n",
        args.batch,
        took.as_secs_f64()
    );
}

fn print_goals(measured: &Measured, rounds: usize) {
    println!(
        "| goal row | operation | reference | operation time | reference time | compared, per round | fastest vs fastest | goal | median meets it |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows() {
        let op = measured.times(row.op);
        let (reference, reference_name) = measured.reference(&row.reference, rounds);
        let compared: Vec<f64> = op
            .iter()
            .zip(&reference)
            .map(|(o, r)| row.goal.compare(*o, *r))
            .collect();
        let (low, high) = range(&compared);
        let mid = median(&compared);
        // The least disturbed round of each, for a machine that others share.
        let fastest = row.goal.compare(range(op).0, range(&reference).0);
        let format = |v| row.goal.format(v);
        println!(
            "| {} | `{}` | {reference_name} | {} | {} | {} ({}–{}) | {} | {} | {} |",
            row.what,
            row.op,
            time_span(op),
            time_span(&reference),
            format(mid),
            format(low),
            format(high),
            format(fastest),
            row.goal.text(),
            row.goal.met(mid)
        );
    }
}

fn print_operations(measured: &Measured) {
    println!("\nEvery operation (per iteration, median and (min–max) over the rounds):\n");
    println!("| id | operation | k | time |");
    println!("| --- | --- | --- | --- |");
    let rows = measured
        .ops
        .iter()
        .zip(&measured.ks)
        .zip(&measured.per_iteration);
    for ((op, k), times) in rows {
        println!(
            "| `{}` | {}: {} | {k} | {} |",
            op.id,
            op.group,
            op.name,
            time_span(times)
        );
    }
}

fn main() {
    let args = args();
    let load_start = loadavg();
    let date = shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
    let started = Instant::now();
    let measured = measure(&args);
    let load_end = loadavg();
    print_header(&args, &date, (&load_start, &load_end), started.elapsed());
    print_goals(&measured, args.rounds);
    print_operations(&measured);
}
