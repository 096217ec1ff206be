//! keylink's parties, built through the public API (and `hazmat`'s `Session::respond` for the
//! bare sans-IO pair, as `benches/ratchet.rs` does).

use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey,
    VerifiedBundle,
};
use keylink::session::{Message, PreKeyMessage, ResponderPreKeys, Session, SessionRecord};
use keylink::store::{Address, MemoryStore, ProtocolStore};

/// A sans-IO pair of records, set up from a bundle without a one-time prekey (as
/// `benches/ratchet.rs`).
pub fn pair() -> (SessionRecord, SessionRecord) {
    let mut rng = keylink::os_rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &bob, &mut rng);
    let kem = KemPreKey::generate(1, &bob, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let mut a = Session::initiate(&alice, &bundle, &mut rng).expect("initiate");
    let Ok(Message::PreKey(first)) = a.encrypt(0, b"hi") else {
        panic!("first message")
    };
    let (b, _) = Session::respond(&bob, &spk, None, &kem, &first, &mut rng).expect("respond");
    (record_of(a), b)
}

/// A pair whose initiator has received a reply, so both send plain ratchet messages.
pub fn confirmed_pair() -> (SessionRecord, SessionRecord) {
    let (mut alice, mut bob) = pair();
    let Ok(Message::Ratchet(reply)) = bob.encrypt(0, b"ok") else {
        panic!("reply")
    };
    let _ = alice
        .decrypt(&reply, None, &mut keylink::os_rng())
        .expect("reply decrypts");
    (alice, bob)
}

/// A record holding `session` as its current one.
pub fn record_of(session: Session) -> SessionRecord {
    let mut record = SessionRecord::new();
    record.set_current(session);
    record
}

/// Bob's side of a PQXDH setup: his keys and his bundle with a one-time prekey, as
/// `benches/setup.rs` measures it.
pub struct Responder {
    /// Bob's identity.
    pub identity: IdentityKeyPair,
    signed: SignedPreKey,
    one_time: Vec<u8>,
    kem: Vec<u8>,
    /// His bundle, verified.
    pub bundle: VerifiedBundle,
}

impl Responder {
    /// New keys and their bundle.
    pub fn new() -> Responder {
        let mut rng = keylink::os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1, &identity, &mut rng);
        let one_time = OneTimePreKey::generate(2, &mut rng);
        let kem = KemPreKey::generate(3, &identity, &mut rng);
        let bundle = PreKeyBundle::new(1, &identity, &signed, Some(&one_time), &kem)
            .verify()
            .expect("bundle");
        Responder {
            identity,
            signed,
            one_time: one_time.to_bytes().to_vec(),
            kem: kem.to_bytes().to_vec(),
            bundle,
        }
    }

    /// The prekeys a PreKey message to this bundle names, as an app looks them up.
    pub fn prekeys(&self) -> ResponderPreKeys {
        ResponderPreKeys {
            signed_prekey: Some(self.signed.clone()),
            one_time_prekey: Some(OneTimePreKey::from_bytes(&self.one_time).expect("one-time")),
            kem_prekey: Some(KemPreKey::from_bytes(&self.kem).expect("KEM prekey")),
            base_key_used: false,
        }
    }

    /// A first message of `len` bytes from a new initiator, and the initiator's identity.
    pub fn first_message(&self, len: usize) -> (PreKeyMessage, IdentityKey) {
        let mut rng = keylink::os_rng();
        let alice = IdentityKeyPair::generate(&mut rng);
        let mut session = Session::initiate(&alice, &self.bundle, &mut rng).expect("initiate");
        let Ok(Message::PreKey(first)) = session.encrypt(0, &vec![7u8; len]) else {
            panic!("first message")
        };
        (*first, *alice.public())
    }
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new()
    }
}

/// Two devices, each with its in-memory store, that have exchanged a message each way.
#[derive(Clone)]
pub struct StorePair {
    /// Alice's store.
    pub alice: MemoryStore,
    /// Bob's store.
    pub bob: MemoryStore,
    /// Alice's address, as Bob knows her.
    pub alice_addr: Address,
    /// Bob's address, as Alice knows him.
    pub bob_addr: Address,
}

impl StorePair {
    /// A fresh pair: one session, confirmed both ways, no history.
    pub fn new() -> StorePair {
        let mut rng = keylink::os_rng();
        let bob_id = IdentityKeyPair::generate(&mut rng);
        let mut bob = MemoryStore::new(bob_id.clone());
        bob.add_signed_prekey(SignedPreKey::generate(1, &bob_id, &mut rng));
        // Last resort: every session Alice starts can use it.
        bob.add_kem_prekeys([KemPreKey::generate_last_resort(1, &bob_id, &mut rng)]);
        let mut pair = StorePair {
            alice: MemoryStore::new(IdentityKeyPair::generate(&mut rng)),
            bob,
            alice_addr: Address::new("alice", 1),
            bob_addr: Address::new("bob", 1),
        };
        pair.start_session();
        pair
    }

    /// Alice starts a new session from Bob's bundle; Bob decrypts her first message and
    /// answers, and Alice decrypts the answer. Bob's previous session with her is archived.
    pub fn start_session(&mut self) {
        let mut rng = keylink::os_rng();
        let bundle = self.bob_bundle().verify().expect("verified");
        keylink::start_session(&mut self.alice, &self.bob_addr, &bundle, &mut rng).expect("start");
        let first = self.alice_sends(b"hi");
        keylink::decrypt(&mut self.bob, &self.alice_addr, &first, &mut rng).expect("first");
        let reply = keylink::encrypt(&mut self.bob, &self.alice_addr, b"ok").expect("reply");
        keylink::decrypt(&mut self.alice, &self.bob_addr, &reply.to_bytes(), &mut rng)
            .expect("reply decrypts");
    }

    /// Bob's bundle: his signed prekey 1 and last-resort KEM prekey 1, read from his store.
    fn bob_bundle(&self) -> PreKeyBundle {
        let identity = self.bob.local_identity().expect("read").expect("identity");
        let signed = self.bob.signed_prekey(1.into()).expect("read");
        let kem = self.bob.kem_prekey(1.into()).expect("read");
        let (signed, kem) = (signed.expect("signed prekey"), kem.expect("KEM prekey"));
        PreKeyBundle::new(1, &identity, &signed, None, &kem)
    }

    /// The wire bytes of a message from Alice to Bob.
    pub fn alice_sends(&mut self, plaintext: &[u8]) -> Vec<u8> {
        keylink::encrypt(&mut self.alice, &self.bob_addr, plaintext)
            .expect("encrypt")
            .to_bytes()
    }

    /// A pair where Bob's record holds `skipped` message keys: Alice sends `skipped + 1`
    /// messages and Bob receives only the last.
    pub fn with_skipped_keys(skipped: usize) -> StorePair {
        let mut pair = StorePair::new();
        for _ in 0..skipped {
            pair.alice_sends(b"lost");
        }
        let last = pair.alice_sends(b"last");
        let mut rng = keylink::os_rng();
        keylink::decrypt(&mut pair.bob, &pair.alice_addr, &last, &mut rng).expect("last");
        assert_eq!(pair.bob_skipped_keys(), skipped);
        pair
    }

    /// A pair where Bob's record holds `archived` sessions with Alice besides the current
    /// one: Alice starts a session `archived + 1` times, each answered.
    pub fn with_archived_sessions(archived: usize) -> StorePair {
        let mut pair = StorePair::new();
        for _ in 0..archived {
            pair.start_session();
        }
        assert_eq!(pair.bob_archived_sessions(), archived);
        pair
    }

    /// Bob's history with Alice: (skipped message keys, archived sessions).
    pub fn history(&self) -> (usize, usize) {
        (self.bob_skipped_keys(), self.bob_archived_sessions())
    }

    /// How many skipped message keys Bob's current session with Alice holds.
    pub fn bob_skipped_keys(&self) -> usize {
        let record = self.bob.session_record(&self.alice_addr).expect("record");
        record.current().map_or(0, Session::skipped_keys)
    }

    /// How many archived sessions with Alice Bob's record holds.
    pub fn bob_archived_sessions(&self) -> usize {
        let record = self.bob.session_record(&self.alice_addr).expect("record");
        record.archived().count()
    }
}

impl Default for StorePair {
    fn default() -> Self {
        StorePair::new()
    }
}
