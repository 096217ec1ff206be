//! Two parties driven through seeded random schedules: sends, reordered delivery, drops,
//! duplicates, tampering and restarts. What must always hold: every genuine message decrypts
//! exactly once to what was sent, and every rejected message leaves the receiver unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Device, FIRST_OTPK, TestRng};
use keylink::store::ProtocolStore;
use rand_core::Rng;

/// A message on its way, from party `from` (0 or 1) to the other.
struct InFlight {
    from: usize,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    delivered: bool,
}

struct World {
    parties: [Device; 2],
    flight: Vec<InFlight>,
    rng: TestRng,
    sent: usize,
    log: Vec<String>,
    reinit: bool,
}

impl World {
    fn new(seed: u64, both_initiate: bool, reinit: bool) -> World {
        let mut parties = [Device::new("alice", 1), Device::new("bob", 1)];
        let [a, b] = &mut parties;
        a.start(b, Some(FIRST_OTPK));
        if both_initiate {
            b.start(a, Some(FIRST_OTPK));
        }
        World {
            parties,
            flight: Vec::new(),
            rng: TestRng::new(seed),
            sent: 0,
            log: Vec::new(),
            reinit,
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n as u64) as usize
    }

    fn other(i: usize) -> usize {
        1 - i
    }

    fn can_send(&self, i: usize) -> bool {
        let peer = &self.parties[Self::other(i)].addr;
        self.parties[i].store.session(peer).unwrap().is_some()
    }

    fn send(&mut self, i: usize) {
        if !self.can_send(i) {
            return;
        }
        let to = self.parties[Self::other(i)].addr.clone();
        let plaintext = format!("message {} from {i}", self.sent).into_bytes();
        self.sent += 1;
        let bytes = self.parties[i].send_bytes(&to, &plaintext);
        self.log
            .push(format!("send {} from {i}", self.flight.len()));
        self.flight.push(InFlight {
            from: i,
            bytes,
            plaintext,
            delivered: false,
        });
    }

    fn deliver(&mut self, k: usize) {
        let m = &self.flight[k];
        let (from, to) = (m.from, Self::other(m.from));
        let sender = self.parties[from].addr.clone();
        let (bytes, delivered) = (m.bytes.clone(), m.delivered);
        self.log.push(format!("deliver {k} (again: {delivered})"));
        let before = self.parties[to].snapshot();
        let result = self.parties[to].recv(&sender, &bytes);
        if delivered {
            let e = result.expect_err("a duplicate decrypted");
            assert!(matches!(e, keylink::Error::DecryptionFailed), "{e:?}");
            assert!(
                self.parties[to].snapshot() == before,
                "duplicate changed state"
            );
        } else {
            let plaintext = result.unwrap_or_else(|e| panic!("message {k}: {e:?}"));
            assert_eq!(plaintext, self.flight[k].plaintext);
            self.flight[k].delivered = true;
        }
    }

    fn tamper(&mut self, k: usize) {
        let m = &self.flight[k];
        let (from, to) = (m.from, Self::other(m.from));
        let sender = self.parties[from].addr.clone();
        let mut bytes = m.bytes.clone();
        let at = self.pick(bytes.len());
        let mask = (self.rng.next_u32() as u8).max(1);
        bytes[at] ^= mask;
        self.log
            .push(format!("tamper {k} at {at} with {mask:#04x}"));
        let before = self.parties[to].snapshot();
        let result = self.parties[to].recv(&sender, &bytes);
        assert!(result.is_err(), "a tampered message decrypted");
        assert!(
            self.parties[to].snapshot() == before,
            "tampering changed state"
        );
    }

    fn step(&mut self) {
        let action = self.pick(100);
        let n = self.flight.len();
        match action {
            0..=34 => {
                let i = self.pick(2);
                self.send(i);
            }
            35..=74 if n > 0 => {
                // Prefer undelivered messages, in any order.
                let waiting: Vec<usize> = (0..n).filter(|&k| !self.flight[k].delivered).collect();
                if !waiting.is_empty() {
                    let k = waiting[self.pick(waiting.len())];
                    self.deliver(k);
                }
            }
            75..=81 if n > 0 => {
                let k = self.pick(n);
                if self.flight[k].delivered {
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
                if !self.flight[k].delivered {
                    self.log.push(format!("drop {k}"));
                    self.flight.swap_remove(k);
                }
            }
            95..=97 => {
                let i = self.pick(2);
                self.log.push(format!("restart {i}"));
                self.parties[i].restart();
            }
            98..=99 if self.reinit => {
                // A new session from a fresh bundle (no one-time prekey), replacing the
                // current one: earlier sessions' messages still decrypt from the archive.
                let i = self.pick(2);
                self.log.push(format!("new session by {i}"));
                let [a, b] = &mut self.parties;
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
        for k in 0..self.flight.len() {
            if !self.flight[k].delivered {
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
            let k = world.flight.len() - 1;
            world.deliver(k);
        }
    }));
    if let Err(panic) = outcome {
        let tail = world.log.len().saturating_sub(40);
        eprintln!(
            "seed {seed} (both initiate: {both_initiate}, new sessions: {reinit}) failed; \
             last steps:\n{}",
            world.log[tail..].join("\n")
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
