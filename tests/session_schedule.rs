//! Two parties driven through seeded random schedules: sends, reordered delivery, drops,
//! duplicates, tampering and restarts. What must always hold: every genuine message decrypts
//! exactly once to what was sent, and every rejected message leaves the receiver unchanged.
#![cfg(test)]

mod common;

use common::sim::Sim;
use common::{Device, FIRST_OTPK, TestRng};
use rand_core::Rng;

struct World {
    sim: Sim,
    rng: TestRng,
    reinit: bool,
}

impl World {
    fn new(seed: u64, both_initiate: bool, reinit: bool) -> World {
        let mut a = Device::new("alice", 1);
        let mut b = Device::new("bob", 1);
        a.start(&b, Some(FIRST_OTPK));
        if both_initiate {
            b.start(&a, Some(FIRST_OTPK));
        }
        World {
            sim: Sim::new([a, b]),
            rng: TestRng::new(seed),
            reinit,
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    fn other(i: usize) -> usize {
        1 - i
    }

    fn send(&mut self, i: usize) {
        if self.sim.can_send(i, Self::other(i)) {
            self.sim.send(i, Self::other(i)).unwrap();
        }
    }

    fn deliver(&mut self, k: usize) {
        if let Some(e) = self.sim.deliver(k) {
            let refused = matches!(
                e,
                keylink::Error::DecryptionFailed | keylink::Error::DuplicateMessage
            );
            assert!(refused, "{e:?}");
        }
    }

    fn tamper(&mut self, k: usize) {
        let at = self.pick(self.sim.flight[k].bytes.len());
        let mask = (self.rng.next_u32() as u8).max(1);
        self.sim.tamper(k, at, mask);
    }

    fn step(&mut self) {
        let action = self.pick(100);
        let n = self.sim.flight.len();
        match action {
            0..=34 => {
                let i = self.pick(2);
                self.send(i);
            }
            35..=74 if n > 0 => {
                // Prefer undelivered messages, in any order.
                let waiting: Vec<usize> =
                    (0..n).filter(|&k| !self.sim.flight[k].delivered).collect();
                if !waiting.is_empty() {
                    let k = waiting[self.pick(waiting.len())];
                    self.deliver(k);
                }
            }
            75..=81 if n > 0 => {
                let k = self.pick(n);
                if self.sim.flight[k].delivered {
                    self.deliver(k);
                }
            }
            82..=89 if n > 0 => {
                let k = self.pick(n);
                self.tamper(k);
            }
            90..=94 if n > 0 => {
                // Lost for good: mark it as if delivered, without delivering it.
                let k = self.pick(n);
                if !self.sim.flight[k].delivered {
                    self.sim.log.push(format!("drop {k}"));
                    self.sim.flight.swap_remove(k);
                }
            }
            95..=97 => {
                let i = self.pick(2);
                self.sim.restart(i);
            }
            98..=99 if self.reinit => {
                // A new session from a fresh bundle (no one-time prekey), replacing the
                // current one: earlier sessions' messages still decrypt from the archive.
                let i = self.pick(2);
                self.sim.log.push(format!("new session by {i}"));
                let [a, b] = &mut self.sim.parties[..] else {
                    unreachable!("two parties")
                };
                match i {
                    0 => a.start(b, None),
                    _ => b.start(a, None),
                }
            }
            _ => {}
        }
    }

    /// Deliver everything still waiting; all of it must decrypt.
    fn drain(&mut self) {
        for k in 0..self.sim.flight.len() {
            if !self.sim.flight[k].delivered {
                self.deliver(k);
            }
        }
    }
}

fn run(seed: u64, both_initiate: bool, reinit: bool, steps: usize) {
    let mut world = World::new(seed, both_initiate, reinit);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..steps {
            world.step();
        }
        world.drain();
        // And the conversation still works both ways.
        for i in [0, 1, 0, 1] {
            world.send(i);
            let k = world.sim.flight.len() - 1;
            world.deliver(k);
        }
    }));
    if let Err(panic) = outcome {
        let tail = world.sim.log.len().saturating_sub(40);
        eprintln!(
            "seed {seed} (both initiate: {both_initiate}, new sessions: {reinit}) failed; \
             last steps:\n{}",
            world.sim.log[tail..].join("\n")
        );
        std::panic::resume_unwind(panic);
    }
}

/// Seeds per test: many in release (the mode the suite is run in), a few in debug builds,
/// where every X25519 and every snapshot is far slower.
const SEEDS: u64 = if cfg!(debug_assertions) { 3 } else { 48 };

#[test]
fn random_schedules_one_initiator() {
    for seed in 0..SEEDS {
        run(seed, false, false, 300);
    }
}

#[test]
fn random_schedules_both_initiate() {
    for seed in 100..100 + SEEDS {
        run(seed, true, false, 300);
    }
}

#[test]
fn random_schedules_with_new_sessions() {
    for seed in 200..200 + SEEDS {
        run(seed, seed % 2 == 0, true, 300);
    }
}
