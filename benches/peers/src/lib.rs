//! keylink beside its peers and its primitives: every operation as a closure that runs it `n`
//! times and returns the time of the measured part only, so one definition serves criterion
//! (`iter_custom`) and the interleaved runner (`src/bin/interleaved.rs`).
//!
//! - [`peer`]: keylink next to vodozemac's Olm (3DH + Double Ratchet), operation by operation.
//! - [`goals`]: the rows of issue 10's table of goals: store-backed operations on records with
//!   history, the sans-IO core under the store, 1 MiB messages, and the primitives whose sums
//!   the protocol operations are compared with.
//!
//! Setup code panics on failure: this is a bench crate, and a failed setup is a broken bench.

#![allow(clippy::expect_used, clippy::panic)]

pub mod goals;
pub mod keylink_fixtures;
pub mod olm_fixtures;
pub mod peer;
pub mod primitives;

use std::time::{Duration, Instant};

/// The plaintext of every small message.
pub const PLAINTEXT: [u8; 100] = [7u8; 100];

/// Runs an operation `n` times and returns the time of the measured part.
pub type Run = Box<dyn FnMut(u64) -> Duration>;

/// One measured operation.
pub struct Op {
    /// A stable key the interleaved runner's rows refer to.
    pub id: &'static str,
    /// The criterion group it belongs to (operations compared with each other share one).
    pub group: &'static str,
    /// Its name inside the group.
    pub name: &'static str,
    /// The measurement.
    pub run: Run,
}

impl Op {
    /// An operation measured by `run`.
    pub fn new(
        id: &'static str,
        group: &'static str,
        name: &'static str,
        run: impl FnMut(u64) -> Duration + 'static,
    ) -> Op {
        Op {
            id,
            group,
            name,
            run: Box::new(run),
        }
    }
}

/// Times `n` calls of `f`.
pub fn time_n(n: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

/// Times `f` over each input, prepared before the clock starts.
pub fn time_each<I>(inputs: Vec<I>, mut f: impl FnMut(I)) -> Duration {
    let start = Instant::now();
    for input in inputs {
        f(input);
    }
    start.elapsed()
}

/// Adds up the time of the parts it is handed: for iterations that must refill a large buffer
/// first, which the clock must not see.
#[derive(Default)]
pub struct Stopwatch {
    /// The time measured so far.
    pub total: Duration,
}

impl Stopwatch {
    /// Runs `f` on the clock.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.total += start.elapsed();
        out
    }
}
