//! Property tests: two users, one of them with a second device, driven through random
//! schedules of sends, deliveries in any order, drops, duplicates, tampering, restarts from the
//! serialized store and failing commits.
//!
//! What must always hold:
//! - every untampered message that is delivered decrypts exactly once, to its plaintext;
//! - every tampered or duplicated delivery is rejected;
//! - a rejected message leaves the receiver's serialized state byte-identical;
//! - a failed commit loses nothing: the state is unchanged and the retry works.
#![cfg(test)]

mod common;

use common::Device;
use common::sim::Sim;
use keylink::Error;
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property; the proof-harness issue asks for at least 1,000 in CI.
const CASES: u32 = if cfg!(debug_assertions) { 64 } else { 1_000 };

/// Parties: 0 = Alice, 1 = Bob's phone, 2 = Bob's laptop.
const PARTIES: usize = 3;
/// Channels (sender, receiver): Alice to each of Bob's devices and back.
const CHANNELS: [(usize, usize); 4] = [(0, 1), (0, 2), (1, 0), (2, 0)];

#[derive(Clone, Debug)]
enum Op {
    Send(usize),
    Deliver(Index),
    Tamper(Index, Index, u8),
    Reload(usize),
    FailCommit(Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CHANNELS.len()).prop_map(Op::Send),
        4 => any::<Index>().prop_map(Op::Deliver),
        1 => (any::<Index>(), any::<Index>(), 1..=255u8).prop_map(|(m, p, x)| Op::Tamper(m, p, x)),
        1 => (0..PARTIES).prop_map(Op::Reload),
        1 => any::<Index>().prop_map(Op::FailCommit),
    ]
}

/// Alice has started sessions with both of Bob's devices; nothing is sent yet.
fn world() -> Sim {
    let mut alice = Device::new("alice", 1);
    let phone = Device::new("bob", 1);
    let laptop = Device::new("bob", 2);
    alice.start(&phone, Some(common::FIRST_OTPK));
    alice.start(&laptop, None);
    Sim::new([alice, phone, laptop])
}

fn send(world: &mut Sim, channel: usize) {
    let (from, to) = CHANNELS[channel];
    match world.send(from, to) {
        Ok(_) => {}
        // Bob's devices have no session until Alice's first message reached them.
        Err(Error::NoSession) => assert!(from != 0, "Alice always has sessions"),
        Err(e) => panic!("encrypt failed: {e}"),
    }
}

fn tamper(world: &mut Sim, k: usize, position: Index, xor: u8) {
    let at = position.index(world.flight[k].bytes.len());
    world.tamper(k, at, xor);
}

fn apply(world: &mut Sim, op: &Op) {
    match op {
        Op::Send(channel) => send(world, *channel),
        Op::Reload(party) => world.restart(*party),
        _ if world.flight.is_empty() => {}
        Op::Deliver(i) => {
            world.deliver(i.index(world.flight.len()));
        }
        Op::Tamper(i, p, x) => tamper(world, i.index(world.flight.len()), *p, *x),
        Op::FailCommit(i) => world.fail_commit(i.index(world.flight.len())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Random schedules, then every message left over is delivered in order.
    #[test]
    fn every_message_decrypts_exactly_once(ops in prop::collection::vec(op(), 1..40)) {
        let mut world = world();
        for op in &ops {
            apply(&mut world, op);
        }
        world.drain();
    }

    /// Schedules where nothing is delivered twice on purpose but messages are dropped for
    /// good: the ones that are delivered still decrypt, in any order.
    #[test]
    fn dropped_messages_do_not_block_others(
        sends in prop::collection::vec(0..CHANNELS.len(), 1..30),
        order in prop::collection::vec(any::<Index>(), 1..30),
        keep in prop::collection::vec(any::<bool>(), 30),
    ) {
        let mut world = world();
        for (round, channel) in sends.iter().enumerate() {
            send(&mut world, *channel);
            // Deliver one pending message per round so both directions make progress.
            let pending: Vec<usize> = (0..world.flight.len())
                .filter(|&i| !world.flight[i].delivered && keep[i % keep.len()])
                .collect();
            if let Some(pick) = order.get(round % order.len()).filter(|_| !pending.is_empty()) {
                world.deliver(pending[pick.index(pending.len())]);
            }
        }
        for index in 0..world.flight.len() {
            if !world.flight[index].delivered && keep[index % keep.len()] {
                world.deliver(index);
            }
        }
    }
}
