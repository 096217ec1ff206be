//! vodozemac's parties: Olm accounts and sessions (3DH + Double Ratchet), version 1 (the one
//! Matrix uses: AES-256-CBC + HMAC-SHA-256 truncated to 8 bytes).

use vodozemac::Curve25519PublicKey;
use vodozemac::olm::{Account, AccountPickle, OlmMessage, PreKeyMessage, Session, SessionConfig};

/// The key vodozemac encrypts pickles with, as an app passes one.
pub const PICKLE_KEY: [u8; 32] = [3u8; 32];

/// The configuration Matrix uses.
pub fn config() -> SessionConfig {
    SessionConfig::version_1()
}

/// Bob's account with one published one-time key: its identity and that key.
pub fn bob() -> (Account, Curve25519PublicKey, Curve25519PublicKey) {
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let one_time = *bob.one_time_keys().values().next().expect("a one-time key");
    bob.mark_keys_as_published();
    let identity = bob.curve25519_key();
    (bob, identity, one_time)
}

/// A pair whose initiator has received a reply, so both send normal messages.
pub fn confirmed_pair() -> (Session, Session) {
    let alice = Account::new();
    let (mut bob, identity, one_time) = bob();
    let mut a = alice
        .create_outbound_session(config(), identity, one_time)
        .expect("outbound");
    let OlmMessage::PreKey(first) = a.encrypt(b"hi").expect("encrypt") else {
        panic!("first message")
    };
    let mut b = bob
        .create_inbound_session(config(), alice.curve25519_key(), &first)
        .expect("inbound")
        .session;
    let reply = b.encrypt(b"ok").expect("reply");
    a.decrypt(&reply).expect("reply decrypts");
    (a, b)
}

/// Bob's side of a setup: his account pickled (the inbound setup uses his one-time key up, so
/// every iteration starts from a copy) and a first message of `len` bytes from Alice.
pub struct Responder {
    pickle: String,
    /// Alice's first message.
    pub first: PreKeyMessage,
    /// Alice's identity key.
    pub alice: Curve25519PublicKey,
}

impl Responder {
    /// Bob's account and a first message of `len` bytes from a new Alice.
    pub fn new(len: usize) -> Responder {
        let alice = Account::new();
        let (bob, identity, one_time) = bob();
        let mut a = alice
            .create_outbound_session(config(), identity, one_time)
            .expect("outbound");
        let OlmMessage::PreKey(first) = a.encrypt(vec![7u8; len]).expect("encrypt") else {
            panic!("first message")
        };
        Responder {
            pickle: bob.pickle().encrypt(&PICKLE_KEY),
            first,
            alice: alice.curve25519_key(),
        }
    }

    /// A copy of Bob's account before the setup.
    pub fn account(&self) -> Account {
        Account::from_pickle(
            AccountPickle::from_encrypted(&self.pickle, &PICKLE_KEY).expect("pickle"),
        )
    }
}
