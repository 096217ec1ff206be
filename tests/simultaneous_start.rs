//! Two devices that start sessions with each other at the same time settle on one session
//! (docs/PROTOCOL.md, "Simultaneous session start"): whatever the order in which their
//! crossing messages arrive, once what is in flight has been delivered, one round in which
//! both send before either receives (messages still crossing) leaves both with the same
//! current session, and it stays so. Without the rule they would swap sessions every such
//! round.
#![cfg(test)]

mod common;

use common::{Device, FIRST_OTPK};
use keylink::keys::PublicKey;
use keylink::store::Address;
use proptest::prelude::*;

/// A device and the messages it sent to the other one, not delivered yet.
struct Peer {
    device: Device,
    outbox: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Peer {
    fn addr(&self) -> Address {
        self.device.addr.clone()
    }
}

/// Both devices start a session from the other's bundle before either has received anything.
fn simultaneous_start() -> (Peer, Peer) {
    let (mut a, mut b) = (Device::new("alice", 1), Device::new("bob", 1));
    a.start(&b, Some(FIRST_OTPK));
    b.start(&a, Some(FIRST_OTPK));
    let peer = |device| Peer {
        device,
        outbox: Vec::new(),
    };
    (peer(a), peer(b))
}

fn send(from: &mut Peer, to: &Address, n: usize) {
    let text = format!("{} #{n}", from.device.addr.user()).into_bytes();
    let wire = from.device.send_bytes(to, &text);
    from.outbox.push((wire, text));
}

/// Deliver the `pick`-th (modulo) in-flight message of `from` to `to`: it must decrypt.
fn deliver(from: &mut Peer, to: &mut Peer, pick: usize) {
    if from.outbox.is_empty() {
        return;
    }
    let (wire, text) = from.outbox.remove(pick % from.outbox.len());
    to.device.recv_ok(&from.device.addr, &wire, &text);
}

fn current_base_key(peer: &Peer, other: &Address) -> PublicKey {
    peer.device.current_base_key(other)
}

#[derive(Clone, Debug)]
enum Op {
    SendA,
    SendB,
    DeliverToB(usize),
    DeliverToA(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::SendA),
        Just(Op::SendB),
        any::<usize>().prop_map(Op::DeliverToB),
        any::<usize>().prop_map(Op::DeliverToA),
    ]
}

fn run(a: &mut Peer, b: &mut Peer, ops: &[Op]) {
    let (a_addr, b_addr) = (a.addr(), b.addr());
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::SendA => send(a, &b_addr, n),
            Op::SendB => send(b, &a_addr, n),
            Op::DeliverToB(pick) => deliver(a, b, *pick),
            Op::DeliverToA(pick) => deliver(b, a, *pick),
        }
    }
}

/// Deliver everything in flight, in an order taken from `picks`.
fn drain(a: &mut Peer, b: &mut Peer, picks: &[usize]) {
    let mut picks = picks.iter().cycle();
    while !a.outbox.is_empty() || !b.outbox.is_empty() {
        let pick = picks.next().copied().unwrap_or(0);
        match (pick % 2 == 0 && !a.outbox.is_empty()) || b.outbox.is_empty() {
            true => deliver(a, b, pick / 2),
            false => deliver(b, a, pick / 2),
        }
    }
}

/// Both send one message before either receives: the two messages cross.
fn crossing_round(a: &mut Peer, b: &mut Peer) {
    let (a_addr, b_addr) = (a.addr(), b.addr());
    send(a, &b_addr, 0);
    send(b, &a_addr, 0);
    deliver(a, b, 0);
    deliver(b, a, 0);
}

/// `first` sends one message to `second`, which replies.
fn round_trip(first: &mut Peer, second: &mut Peer) {
    let (first_addr, second_addr) = (first.addr(), second.addr());
    send(first, &second_addr, 0);
    deliver(first, second, 0);
    send(second, &first_addr, 0);
    deliver(second, first, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn simultaneous_starts_settle_on_one_session(
        ops in proptest::collection::vec(op(), 0..24),
        picks in proptest::collection::vec(any::<usize>(), 1..8),
        alice_first in any::<bool>(),
    ) {
        let (mut a, mut b) = simultaneous_start();
        // Both open with a PreKey message, which then cross in flight.
        run(&mut a, &mut b, &[Op::SendA, Op::SendB]);
        run(&mut a, &mut b, &ops);
        drain(&mut a, &mut b, &picks);
        crossing_round(&mut a, &mut b);
        let settled = current_base_key(&a, &b.addr());
        prop_assert_eq!(settled, current_base_key(&b, &a.addr()));
        // It stays settled: more crossing rounds and round trips, either side first.
        for _ in 0..3 {
            crossing_round(&mut a, &mut b);
            prop_assert_eq!(current_base_key(&a, &b.addr()), settled);
            prop_assert_eq!(current_base_key(&b, &a.addr()), settled);
        }
        match alice_first {
            true => round_trip(&mut a, &mut b),
            false => round_trip(&mut b, &mut a),
        }
        prop_assert_eq!(current_base_key(&a, &b.addr()), settled);
        prop_assert_eq!(current_base_key(&b, &a.addr()), settled);
    }
}

/// The rule in one schedule: both PreKey messages cross; each side keeps (or takes) the
/// session with the smaller base key, so both are on it without a further message.
#[test]
fn crossing_prekey_messages_pick_the_smaller_base_key_at_once() {
    let (mut a, mut b) = simultaneous_start();
    let (a_addr, b_addr) = (a.addr(), b.addr());
    let (a_base, b_base) = (current_base_key(&a, &b_addr), current_base_key(&b, &a_addr));
    send(&mut a, &b_addr, 0);
    send(&mut b, &a_addr, 1);
    deliver(&mut a, &mut b, 0);
    deliver(&mut b, &mut a, 0);
    let smaller = match a_base.as_bytes() < b_base.as_bytes() {
        true => a_base,
        false => b_base,
    };
    assert_eq!(current_base_key(&a, &b_addr), smaller);
    assert_eq!(current_base_key(&b, &a_addr), smaller);
}
