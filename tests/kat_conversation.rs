//! keylink's own known-answer vector for a 14-message conversation with ratchet steps both ways
//! and out-of-order delivery (`test-vectors/keylink/conversation.json`). What the checker does
//! is described in `tests/kat.rs`.
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;
#[path = "common/kat/mod.rs"]
mod kat;

use kat::*;

#[test]
fn conversation() {
    let file = load("conversation.json");
    let messages = file["messages"].as_array().unwrap();
    assert!(messages.len() >= 12);
    // Out of order: the delivery order is not the send order.
    let order: Vec<u64> = file["delivery_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(order.len(), messages.len());
    assert!(order.windows(2).any(|w| w[0] > w[1]));
    // Several ratchet steps each way.
    let keys = file["ratchet_keys"].as_array().unwrap();
    for owner in ["alice", "bob"] {
        assert!(keys.iter().filter(|k| k["owner"] == owner).count() >= 3);
    }
    check_file("conversation.json");
}
