//! keylink next to vodozemac's Olm, operation by operation, each pair in one criterion group.
//!
//! Both sides do the same work: encrypt to wire bytes, decrypt from wire bytes, set up from
//! keys already fetched (keylink's bundle already verified, as vodozemac's caller checks the
//! one-time key's signature itself) and from a parsed first message, serialize one session.
//! keylink carries ML-KEM-1024 in its setup and encrypts its headers; Olm does neither.

use std::hint::black_box;

use keylink::keys::IdentityKeyPair;
use keylink::session::{Message, RatchetMessage, Session, SessionRecord};
use vodozemac::olm::{Account, OlmMessage, SessionPickle};

use crate::olm_fixtures::{self as olm, PICKLE_KEY};
use crate::{Op, PLAINTEXT, keylink_fixtures as kl, time_each, time_n};

/// How many sessions a fan-out encrypts to.
pub const FAN_OUT: usize = 1_000;

fn wire(message: Message) -> Vec<u8> {
    message.to_bytes()
}

/// Encrypt 100 B on an existing chain, to wire bytes.
pub fn encrypt() -> Vec<Op> {
    let (mut alice, _) = kl::confirmed_pair();
    let (mut olm_alice, _) = olm::confirmed_pair();
    vec![
        Op::new("kl.encrypt100", "encrypt 100 B", "keylink", move |n| {
            time_n(n, || {
                black_box(wire(alice.encrypt(0, &PLAINTEXT).expect("encrypt")));
            })
        }),
        Op::new("olm.encrypt100", "encrypt 100 B", "vodozemac", move |n| {
            time_n(n, || {
                black_box(olm_alice.encrypt(PLAINTEXT).expect("encrypt").to_parts());
            })
        }),
    ]
}

/// Decrypt 100 B on an existing chain, from wire bytes; the messages are encrypted, in order,
/// before the clock starts.
pub fn decrypt() -> Vec<Op> {
    let (mut alice, mut bob) = kl::confirmed_pair();
    let mut rng = keylink::os_rng();
    let (mut olm_alice, mut olm_bob) = olm::confirmed_pair();
    vec![
        Op::new("kl.decrypt100", "decrypt 100 B", "keylink", move |n| {
            let messages = (0..n)
                .map(|_| wire(alice.encrypt(0, &PLAINTEXT).expect("encrypt")))
                .collect();
            time_each(messages, |bytes: Vec<u8>| {
                let message = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                black_box(
                    bob.decrypt(&message, None, &mut rng)
                        .expect("decrypts")
                        .plaintext,
                );
            })
        }),
        Op::new("olm.decrypt100", "decrypt 100 B", "vodozemac", move |n| {
            let messages = (0..n)
                .map(|_| olm_alice.encrypt(PLAINTEXT).expect("encrypt").to_parts())
                .collect();
            time_each(messages, |(kind, bytes): (usize, Vec<u8>)| {
                let message = OlmMessage::from_parts(kind, &bytes).expect("parses");
                black_box(olm_bob.decrypt(&message).expect("decrypts"));
            })
        }),
    ]
}

/// The initiator's setup: keylink's PQXDH (`Session::initiate` from a verified bundle with a
/// one-time prekey) and Olm's 3DH (`create_outbound_session` with a one-time key). No message.
pub fn initiator() -> Vec<Op> {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = kl::Responder::new();
    let olm_alice = Account::new();
    let (_, identity, one_time) = olm::bob();
    vec![
        Op::new(
            "kl.initiator",
            "setup, initiator",
            "keylink (PQXDH)",
            move |n| {
                time_n(n, || {
                    black_box(Session::initiate(&alice, &bob.bundle, &mut rng).expect("initiate"));
                })
            },
        ),
        Op::new(
            "olm.initiator",
            "setup, initiator",
            "vodozemac (3DH)",
            move |n| {
                time_n(n, || {
                    let session =
                        olm_alice.create_outbound_session(olm::config(), identity, one_time);
                    black_box(session.expect("outbound"));
                })
            },
        ),
    ]
}

/// The responder's setup from a parsed first message of 100 B, which it decrypts: keylink's
/// `SessionRecord::decrypt_prekey` into an empty record with the prekeys the message names,
/// Olm's `create_inbound_session` on a copy of the account (it uses the one-time key up).
/// Looking the prekeys up and copying the account are off the clock.
pub fn responder() -> Vec<Op> {
    let bob = kl::Responder::new();
    let (first, _) = bob.first_message(PLAINTEXT.len());
    let mut rng = keylink::os_rng();
    let olm_bob = olm::Responder::new(PLAINTEXT.len());
    vec![
        Op::new(
            "kl.responder",
            "setup, responder (incl. first message)",
            "keylink (PQXDH)",
            move |n| {
                let prekeys = (0..n).map(|_| bob.prekeys()).collect();
                time_each(prekeys, |prekeys| {
                    let mut record = SessionRecord::new();
                    let decrypted =
                        record.decrypt_prekey(&bob.identity, None, &first, prekeys, &mut rng);
                    black_box((decrypted.expect("decrypts").plaintext, record));
                })
            },
        ),
        Op::new(
            "olm.responder",
            "setup, responder (incl. first message)",
            "vodozemac (3DH)",
            move |n| {
                let accounts = (0..n).map(|_| olm_bob.account()).collect();
                time_each(accounts, |mut account: Account| {
                    let created = account.create_inbound_session(
                        olm::config(),
                        olm_bob.alice,
                        &olm_bob.first,
                    );
                    black_box(created.expect("inbound"));
                })
            },
        ),
    ]
}

/// A message each way (100 B), each starting a new chain: two DH ratchet steps.
pub fn ping_pong() -> Vec<Op> {
    let (mut alice, mut bob) = kl::confirmed_pair();
    let mut rng = keylink::os_rng();
    let (mut olm_alice, mut olm_bob) = olm::confirmed_pair();
    vec![
        Op::new(
            "kl.pingpong",
            "ping-pong (100 B each way)",
            "keylink",
            move |n| {
                time_n(n, || {
                    let Ok(Message::Ratchet(ping)) = alice.encrypt(0, &PLAINTEXT) else {
                        panic!("ping")
                    };
                    let _ = bob.decrypt(&ping, None, &mut rng).expect("ping decrypts");
                    let Ok(Message::Ratchet(pong)) = bob.encrypt(0, &PLAINTEXT) else {
                        panic!("pong")
                    };
                    black_box(
                        alice
                            .decrypt(&pong, None, &mut rng)
                            .expect("pong decrypts")
                            .plaintext,
                    );
                })
            },
        ),
        Op::new(
            "olm.pingpong",
            "ping-pong (100 B each way)",
            "vodozemac",
            move |n| {
                time_n(n, || {
                    let ping = olm_alice.encrypt(PLAINTEXT).expect("ping");
                    olm_bob.decrypt(&ping).expect("ping decrypts");
                    let pong = olm_bob.encrypt(PLAINTEXT).expect("pong");
                    black_box(olm_alice.decrypt(&pong).expect("pong decrypts"));
                })
            },
        ),
    ]
}

/// One confirmed session to storage bytes and back: keylink's `SessionRecord` (protobuf,
/// not encrypted: the app's database is) and vodozemac's `SessionPickle` as JSON (not
/// encrypted; the criterion bench also times its encrypted pickle).
pub fn serialization() -> Vec<Op> {
    let (alice, _) = kl::confirmed_pair();
    let record = alice;
    let bytes = record.to_bytes().to_vec();
    let peer = record.current().map(|s| *s.remote_identity());
    let (olm_alice, _) = olm::confirmed_pair();
    let json = serde_json::to_vec(&olm_alice.pickle()).expect("json");
    let olm_alice_again = olm::confirmed_pair().0;
    let json_again = json.clone();
    let bytes_again = bytes.clone();
    vec![
        Op::new(
            "kl.serialize",
            "serialize a session",
            "keylink (SessionRecord::to_bytes)",
            move |n| time_n(n, || drop(black_box(record.to_bytes()))),
        ),
        Op::new(
            "olm.serialize",
            "serialize a session",
            "vodozemac (pickle, JSON)",
            move |n| {
                time_n(n, || {
                    black_box(serde_json::to_vec(&olm_alice.pickle()).expect("json"));
                })
            },
        ),
        Op::new(
            "kl.deserialize",
            "deserialize a session",
            "keylink (SessionRecord::from_bytes)",
            move |n| {
                time_n(n, || {
                    black_box(SessionRecord::from_bytes(&bytes).expect("record"));
                })
            },
        ),
        Op::new(
            "kl.deserialize_for_peer",
            "deserialize a session",
            "keylink (from_bytes_for_peer, as a store does)",
            move |n| {
                time_n(n, || {
                    let record = SessionRecord::from_bytes_for_peer(&bytes_again, peer.as_ref());
                    black_box(record.expect("record"));
                })
            },
        ),
        Op::new(
            "olm.deserialize",
            "deserialize a session",
            "vodozemac (pickle, JSON)",
            move |n| {
                time_n(n, || {
                    let pickle: SessionPickle = serde_json::from_slice(&json_again).expect("json");
                    black_box(vodozemac::olm::Session::from_pickle(pickle));
                })
            },
        ),
        Op::new(
            "olm.serialize_encrypted",
            "serialize a session",
            "vodozemac (pickle, encrypted)",
            move |n| {
                time_n(n, || {
                    drop(black_box(olm_alice_again.pickle().encrypt(&PICKLE_KEY)))
                })
            },
        ),
        Op::new(
            "olm.deserialize_encrypted",
            "deserialize a session",
            "vodozemac (pickle, encrypted)",
            {
                let encrypted = olm::confirmed_pair().0.pickle().encrypt(&PICKLE_KEY);
                move |n| {
                    time_n(n, || {
                        let pickle = SessionPickle::from_encrypted(&encrypted, &PICKLE_KEY);
                        black_box(vodozemac::olm::Session::from_pickle(
                            pickle.expect("pickle"),
                        ));
                    })
                }
            },
        ),
    ]
}

/// One 100 B message encrypted to each of [`FAN_OUT`] confirmed sessions, to wire bytes.
pub fn fan_out() -> Vec<Op> {
    let mut sessions: Vec<SessionRecord> = (0..FAN_OUT).map(|_| kl::confirmed_pair().0).collect();
    let mut olm_sessions: Vec<_> = (0..FAN_OUT).map(|_| olm::confirmed_pair().0).collect();
    vec![
        Op::new(
            "kl.fanout",
            "fan-out: encrypt 100 B to 1,000 sessions",
            "keylink",
            move |n| {
                time_n(n, || {
                    for session in &mut sessions {
                        black_box(wire(session.encrypt(0, &PLAINTEXT).expect("encrypt")));
                    }
                })
            },
        ),
        Op::new(
            "olm.fanout",
            "fan-out: encrypt 100 B to 1,000 sessions",
            "vodozemac",
            move |n| {
                time_n(n, || {
                    for session in &mut olm_sessions {
                        black_box(session.encrypt(PLAINTEXT).expect("encrypt").to_parts());
                    }
                })
            },
        ),
    ]
}

/// Every comparison with vodozemac, in the order the criterion bench shows them.
pub fn all() -> Vec<Op> {
    [
        encrypt(),
        decrypt(),
        initiator(),
        responder(),
        ping_pong(),
        serialization(),
        fan_out(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
