//! The operations issue 10's table of goals compares: store-backed encrypt and decrypt on
//! records with and without history, the sans-IO core they are built on, the DH ratchet step,
//! and 1 MiB messages (with keylink's in-place API under feature `in-place`).

use std::hint::black_box;

use keylink::session::{Message, RatchetMessage, SessionRecord};

use crate::keylink_fixtures::{StorePair, confirmed_pair};
use crate::primitives::MIB;
use crate::{Op, PLAINTEXT, time_each, time_n};

/// Skipped message keys in Bob's record: `MAX_STORED_SKIPPED_KEYS`, the most a record keeps.
pub const SKIPPED: usize = 2_000;
/// Archived sessions in Bob's record: `MAX_ARCHIVED_SESSIONS`, the most a record keeps.
pub const ARCHIVED: usize = 40;

/// Bob's `keylink::encrypt` of 100 B to Alice, and his `keylink::decrypt` of 100 B from her,
/// through his in-memory store (load the record, compute, commit it). Alice's messages are
/// encrypted before the clock starts, continue her current chain and are decrypted in order,
/// so Bob's record keeps its history (no skipped key is used), and Alice never reads Bob's,
/// so no DH ratchet step happens: every round measures the same record.
fn store_ops(pair: StorePair, ids: [&'static str; 2], names: [&'static str; 2]) -> Vec<Op> {
    let mut sender = pair.clone();
    let history = pair.history();
    let mut receiver = pair;
    let mut rng = keylink::os_rng();
    vec![
        Op::new(ids[0], "store-backed, by history", names[0], move |n| {
            let (store, to) = (&mut sender.bob, &sender.alice_addr);
            time_n(n, || {
                black_box(keylink::encrypt(store, to, &PLAINTEXT).expect("encrypt"));
            })
        }),
        Op::new(ids[1], "store-backed, by history", names[1], move |n| {
            let messages = (0..n).map(|_| receiver.alice_sends(&PLAINTEXT)).collect();
            let (store, from) = (&mut receiver.bob, &receiver.alice_addr);
            let took = time_each(messages, |bytes: Vec<u8>| {
                black_box(keylink::decrypt(store, from, &bytes, &mut rng).expect("decrypts"));
            });
            // Off the clock: the record still holds its history.
            assert_eq!(receiver.history(), history, "the measured record changed");
            took
        }),
    ]
}

/// Store-backed encrypt and decrypt of 100 B on Bob's record with no history, with
/// [`SKIPPED`] skipped keys and with [`ARCHIVED`] archived sessions.
pub fn store_by_history() -> Vec<Op> {
    let skipped = StorePair::with_skipped_keys(SKIPPED);
    let archived = StorePair::with_archived_sessions(ARCHIVED);
    [
        store_ops(
            StorePair::new(),
            ["store.encrypt.fresh", "store.decrypt.fresh"],
            ["encrypt 100 B, no history", "decrypt 100 B, no history"],
        ),
        store_ops(
            skipped,
            ["store.encrypt.skipped", "store.decrypt.skipped"],
            [
                "encrypt 100 B, 2,000 skipped keys",
                "decrypt 100 B, 2,000 skipped keys",
            ],
        ),
        store_ops(
            archived,
            ["store.encrypt.archived", "store.decrypt.archived"],
            [
                "encrypt 100 B, 40 archived sessions",
                "decrypt 100 B, 40 archived sessions",
            ],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the store-backed calls wrap: `SessionRecord::encrypt` and, from wire bytes,
/// `SessionRecord::decrypt` with the sender's identity known (as the store passes it), on a
/// record with no history.
pub fn sans_io_record() -> Vec<Op> {
    let pair = StorePair::new();
    let mut alice = pair.alice.session_record(&pair.bob_addr).expect("record");
    let mut bob = pair.bob.session_record(&pair.alice_addr).expect("record");
    let mut bob_sends = pair.bob.session_record(&pair.alice_addr).expect("record");
    let trusted = *pair.alice.identity().expect("identity").public();
    let mut rng = keylink::os_rng();
    vec![
        Op::new(
            "record.encrypt",
            "sans-IO record",
            "SessionRecord::encrypt 100 B",
            move |n| {
                time_n(n, || {
                    black_box(bob_sends.encrypt(0, &PLAINTEXT).expect("encrypt"));
                })
            },
        ),
        Op::new(
            "record.decrypt",
            "sans-IO record",
            "SessionRecord::decrypt 100 B (from wire bytes)",
            move |n| {
                let messages = (0..n)
                    .map(|_| alice.encrypt(0, &PLAINTEXT).expect("encrypt").to_bytes())
                    .collect();
                time_each(messages, |bytes: Vec<u8>| {
                    let message = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                    let decrypted = bob.decrypt(&message, Some(&trusted), &mut rng);
                    black_box(decrypted.expect("decrypts").plaintext);
                })
            },
        ),
    ]
}

/// The first message of a new chain (100 B) from a saved record: a DH ratchet step, as
/// `benches/ratchet.rs` measures it (the record is loaded off the clock).
pub fn dh_step() -> Vec<Op> {
    let (mut alice, mut bob) = confirmed_pair();
    let mut rng = keylink::os_rng();
    let Ok(Message::Ratchet(reply)) = alice.encrypt(0, b"a") else {
        panic!("message")
    };
    let _ = bob.decrypt(&reply, None, &mut rng).expect("decrypts");
    let Ok(Message::Ratchet(new_chain)) = bob.encrypt(0, &PLAINTEXT) else {
        panic!("message")
    };
    let saved = alice.to_bytes().to_vec();
    vec![Op::new(
        "kl.dh_step",
        "ratchet",
        "first message of a new chain (100 B): DH ratchet step",
        move |n| {
            let records = (0..n)
                .map(|_| SessionRecord::from_bytes(&saved).expect("record"))
                .collect();
            time_each(records, |mut record: SessionRecord| {
                black_box(
                    record
                        .decrypt(&new_chain, None, &mut rng)
                        .expect("decrypts")
                        .plaintext,
                );
            })
        },
    )]
}

/// Whether the 1 MiB rows measure keylink's in-place API (feature `in-place`).
pub const IN_PLACE: bool = cfg!(feature = "in-place");

/// 1 MiB through the store: Alice encrypts to wire bytes, Bob decrypts from wire bytes.
#[cfg(not(feature = "in-place"))]
pub fn one_mib() -> Vec<Op> {
    let mut sender = StorePair::new();
    let mut receiver = StorePair::new();
    let plaintext = vec![7u8; MIB];
    let mut rng = keylink::os_rng();
    vec![
        Op::new(
            "kl.encrypt1mib",
            "1 MiB",
            "keylink::encrypt 1 MiB (to wire bytes)",
            move |n| {
                let (store, to) = (&mut sender.alice, &sender.bob_addr);
                time_n(n, || {
                    black_box(
                        keylink::encrypt(store, to, &plaintext)
                            .expect("encrypt")
                            .to_bytes(),
                    );
                })
            },
        ),
        Op::new(
            "kl.decrypt1mib",
            "1 MiB",
            "keylink::decrypt 1 MiB (from wire bytes)",
            move |n| {
                let messages = (0..n).map(|_| receiver.alice_sends(&[7u8; MIB])).collect();
                let (store, from) = (&mut receiver.bob, &receiver.alice_addr);
                time_each(messages, |bytes: Vec<u8>| {
                    black_box(keylink::decrypt(store, from, &bytes, &mut rng).expect("decrypts"));
                })
            },
        ),
    ]
}

/// 1 MiB through the store with the in-place API: the buffer is refilled off the clock before
/// each call, with the plaintext (encrypt) or the wire bytes (decrypt).
#[cfg(feature = "in-place")]
pub fn one_mib() -> Vec<Op> {
    use crate::Stopwatch;
    let mut sender = StorePair::new();
    let mut receiver = StorePair::new();
    let plaintext = vec![7u8; MIB];
    let mut rng = keylink::os_rng();
    let mut buffer = Vec::with_capacity(MIB + 1024);
    let mut message = Vec::with_capacity(MIB + 1024);
    vec![
        Op::new(
            "kl.encrypt1mib",
            "1 MiB",
            "keylink::encrypt_in_place 1 MiB",
            move |n| {
                let (store, to) = (&mut sender.alice, &sender.bob_addr);
                let mut clock = Stopwatch::default();
                for _ in 0..n {
                    buffer.clear();
                    buffer.extend_from_slice(&plaintext);
                    let sealed = clock.time(|| keylink::encrypt_in_place(store, to, &mut buffer));
                    sealed.expect("encrypt");
                }
                clock.total
            },
        ),
        Op::new(
            "kl.decrypt1mib",
            "1 MiB",
            "keylink::decrypt_in_place 1 MiB",
            move |n| {
                let messages: Vec<Vec<u8>> =
                    (0..n).map(|_| receiver.alice_sends(&[7u8; MIB])).collect();
                let (store, from) = (&mut receiver.bob, &receiver.alice_addr);
                let mut clock = Stopwatch::default();
                for bytes in &messages {
                    message.clear();
                    message.extend_from_slice(bytes);
                    let opened = clock.time(|| {
                        keylink::decrypt_in_place(store, from, &mut message, &mut rng)
                            .map(|p| p.len())
                    });
                    black_box(opened.expect("decrypts"));
                }
                clock.total
            },
        ),
    ]
}
