//! `SqliteStore` shared by two writers (two processes, or two stores on one file): a commit
//! that finds a row it read changed by the other writer applies nothing, and the operation
//! runs again holding the write lock. Each test makes the other writer act at the worst
//! moment, between an operation's reads and its commit.
#![cfg(test)]
#![cfg(feature = "sqlite")]

mod common;

use std::time::Duration;

use common::sqlite::{TempDb, device, introduce};
use common::{rng, stored_bundle};
use keylink::Error;
use keylink::account::{AccountKey, PhoneNumber};
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use keylink::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
use keylink::store::at_rest::StorageKey;
use keylink::store::{
    Address, Changes, ProtocolStore, SqliteConfig, SqliteStore, SqliteStoreError,
};

/// A `SqliteStore` that runs `interfere(commit number)` just before each of its commits,
/// and counts the runs of each operation.
struct Interfering<'a> {
    inner: SqliteStore,
    interfere: Box<dyn FnMut(u32) + 'a>,
    commits: u32,
    runs: u32,
}

impl<'a> Interfering<'a> {
    fn into_inner(self) -> SqliteStore {
        self.inner
    }

    fn new(inner: SqliteStore, interfere: impl FnMut(u32) + 'a) -> Self {
        Interfering {
            inner,
            interfere: Box::new(interfere),
            commits: 0,
            runs: 0,
        }
    }
}

type R<T> = Result<T, SqliteStoreError>;

impl ProtocolStore for Interfering<'_> {
    type Error = SqliteStoreError;

    fn local_identity(&self) -> R<Option<IdentityKeyPair>> {
        self.inner.local_identity()
    }
    fn peer_identity(&self, address: &Address) -> R<Option<IdentityKey>> {
        self.inner.peer_identity(address)
    }
    fn peer_account(&self, phone: &PhoneNumber) -> R<Option<AccountKey>> {
        self.inner.peer_account(phone)
    }
    fn signed_prekey(&self, id: SignedPreKeyId) -> R<Option<SignedPreKey>> {
        self.inner.signed_prekey(id)
    }
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> R<Option<OneTimePreKey>> {
        self.inner.one_time_prekey(id)
    }
    fn kem_prekey(&self, id: KemPreKeyId) -> R<Option<KemPreKey>> {
        self.inner.kem_prekey(id)
    }
    fn base_key_used(&self, signed: SignedPreKeyId, base_key: &PublicKey) -> R<bool> {
        self.inner.base_key_used(signed, base_key)
    }
    fn session_index(&self, address: &Address) -> R<Option<SessionIndex>> {
        self.inner.session_index(address)
    }
    fn session(&self, address: &Address, id: &SessionId) -> R<Option<Session>> {
        self.inner.session(address, id)
    }
    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> R<Option<SkippedMessageKey>> {
        self.inner.skipped_message_key(address, id)
    }
    fn device_list(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> R<Option<keylink::account::SignedDeviceList>> {
        self.inner.device_list(phone)
    }
    fn prekey_state(&self) -> R<Option<keylink::account::PreKeyState>> {
        self.inner.prekey_state()
    }
    fn local_account(&self) -> R<Option<keylink::account::PhoneNumber>> {
        self.inner.local_account()
    }
    fn commit(&mut self, changes: Changes) -> R<()> {
        self.commits += 1;
        (self.interfere)(self.commits);
        self.inner.commit(changes)
    }
    fn begin_operation(&mut self, attempt: u32) -> R<()> {
        self.runs += 1;
        self.inner.begin_operation(attempt)
    }
    fn end_operation(&mut self) {
        self.inner.end_operation();
    }
    fn retry_operation(&mut self, error: &SqliteStoreError, attempt: u32) -> bool {
        self.inner.retry_operation(error, attempt)
    }
}

/// Alice's database opened twice (`a1`, `a2`), with a session to Bob (his own file) that
/// both directions have used.
struct Setup {
    a_db: TempDb,
    _b_db: TempDb,
    a_key: StorageKey,
    a1: SqliteStore,
    a2: SqliteStore,
    bob: SqliteStore,
    alice_addr: Address,
    bob_addr: Address,
}

fn setup() -> Setup {
    let (a_db, b_db) = (TempDb::new("conflict-a"), TempDb::new("conflict-b"));
    let a_key = StorageKey::generate(&mut rng());
    let (mut a1, _) = device(&a_db.0, &a_key);
    let (mut bob, _) = device(&b_db.0, &StorageKey::generate(&mut rng()));
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    introduce(&mut a1, &mut bob);
    let reply = keylink::encrypt(&mut bob, &alice_addr, b"hi")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut a1, &bob_addr, &reply, &mut rng()).unwrap();
    let a2 = SqliteStore::open(&a_db.0, &a_key).unwrap();
    Setup {
        a_db,
        _b_db: b_db,
        a_key,
        a1,
        a2,
        bob,
        alice_addr,
        bob_addr,
    }
}

#[test]
fn two_writers_encrypting_never_share_a_message_key() {
    let mut s = setup();
    let mut other = None;
    let (a2, bob_addr) = (&mut s.a2, &s.bob_addr);
    let mut alice = Interfering::new(s.a1, |commit| {
        if commit == 1 {
            other = Some(keylink::encrypt(a2, bob_addr, b"from the other writer").unwrap());
        }
    });
    let mine = keylink::encrypt(&mut alice, &s.bob_addr, b"from this writer").unwrap();
    assert_eq!(
        (alice.runs, alice.commits),
        (2, 2),
        "one conflict, one more run"
    );
    assert_eq!(alice.inner.conflicts(), 1);
    drop(alice);
    // Had both used one message key, the second would be a duplicate at Bob.
    let other = other.unwrap().to_bytes();
    for (bytes, expected) in [
        (mine.to_bytes(), &b"from this writer"[..]),
        (other, b"from the other writer"),
    ] {
        let pt = keylink::decrypt(&mut s.bob, &s.alice_addr, &bytes, &mut rng()).unwrap();
        assert_eq!(pt, expected);
    }
}

#[test]
fn two_writers_remembering_an_account_key_do_not_overwrite_each_other() {
    let mut s = setup();
    let phone = PhoneNumber::parse("+447700900123").unwrap();
    let [mine, theirs] =
        [0, 1].map(|_| *keylink::account::AccountKeyPair::generate(&mut rng()).public());
    let (a2, phone_ref) = (&mut s.a2, &phone);
    let mut alice = Interfering::new(s.a1, |commit| {
        if commit == 1 {
            let trust = keylink::check_account(a2, phone_ref, &theirs).unwrap();
            assert_eq!(trust, keylink::AccountTrust::FirstUse);
        }
    });
    // This writer also read "none remembered", but the other one committed first: run again,
    // it finds the other key, and the first use it saw is refused, not written over it.
    let e = keylink::check_account(&mut alice, &phone, &mine).unwrap_err();
    assert!(matches!(e, Error::UntrustedAccount), "{e:?}");
    assert_eq!((alice.runs, alice.commits), (2, 1));
    drop(alice);
    let fresh = SqliteStore::open(&s.a_db.0, &s.a_key).unwrap();
    assert_eq!(fresh.peer_account(&phone).unwrap(), Some(theirs));
}

#[test]
fn two_writers_decrypting_lose_no_update() {
    let mut s = setup();
    let m1 = keylink::encrypt(&mut s.bob, &s.alice_addr, b"one")
        .unwrap()
        .to_bytes();
    let m2 = keylink::encrypt(&mut s.bob, &s.alice_addr, b"two")
        .unwrap()
        .to_bytes();
    let (a2, bob_addr, m2_ref) = (&mut s.a2, &s.bob_addr, &m2);
    let mut alice = Interfering::new(s.a1, |commit| {
        if commit == 1 {
            let pt = keylink::decrypt(a2, bob_addr, m2_ref, &mut rng()).unwrap();
            assert_eq!(pt, b"two");
        }
    });
    let pt = keylink::decrypt(&mut alice, &s.bob_addr, &m1, &mut rng()).unwrap();
    assert_eq!(pt, b"one");
    assert_eq!(alice.runs, 2);
    drop(alice);
    // Both decryptions are in the file: neither message opens again.
    let mut fresh = SqliteStore::open(&s.a_db.0, &s.a_key).unwrap();
    for m in [&m1, &m2] {
        let e = keylink::decrypt(&mut fresh, &s.bob_addr, m, &mut rng()).unwrap_err();
        assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
    }
}

#[test]
fn a_message_both_writers_received_is_delivered_once() {
    let mut s = setup();
    let m = keylink::encrypt(&mut s.bob, &s.alice_addr, b"once")
        .unwrap()
        .to_bytes();
    let (a2, bob_addr, m_ref) = (&mut s.a2, &s.bob_addr, &m);
    let mut alice = Interfering::new(s.a1, |commit| {
        if commit == 1 {
            let pt = keylink::decrypt(a2, bob_addr, m_ref, &mut rng()).unwrap();
            assert_eq!(pt, b"once");
        }
    });
    let e = keylink::decrypt(&mut alice, &s.bob_addr, &m, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
    assert_eq!(alice.runs, 2);
}

#[test]
fn a_prekey_message_both_writers_received_is_delivered_once() {
    let (a_db, b_db) = (TempDb::new("pk-a"), TempDb::new("pk-b"));
    let b_key = StorageKey::generate(&mut rng());
    let (mut alice, _) = device(&a_db.0, &StorageKey::generate(&mut rng()));
    let (b1, _) = device(&b_db.0, &b_key);
    let mut b2 = SqliteStore::open(&b_db.0, &b_key).unwrap();
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let bundle = stored_bundle(&b1, 1, 1, Some(3), 2).verify().unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng()).unwrap();
    let m = keylink::encrypt(&mut alice, &bob_addr, b"first")
        .unwrap()
        .to_bytes();
    let (addr, m_ref) = (&alice_addr, &m);
    let mut bob = Interfering::new(b1, |commit| {
        if commit == 1 {
            let pt = keylink::decrypt(&mut b2, addr, m_ref, &mut rng()).unwrap();
            assert_eq!(pt, b"first");
        }
    });
    let e = keylink::decrypt(&mut bob, &alice_addr, &m, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
    assert_eq!(bob.runs, 2);
    // The one-time prekeys were consumed once, by the writer that committed.
    assert!(bob.one_time_prekey(3.into()).unwrap().is_none());
    assert!(bob.kem_prekey(2.into()).unwrap().is_none());
}

#[test]
fn the_second_run_holds_the_write_lock() {
    let mut s = setup();
    // The other writer gives up waiting after 100 ms.
    let quick = SqliteConfig::default().busy_timeout(Duration::from_millis(100));
    let mut a2 = SqliteStore::open_with(&s.a_db.0, &s.a_key, quick).unwrap();
    drop(std::mem::replace(
        &mut s.a2,
        SqliteStore::open(&s.a_db.0, &s.a_key).unwrap(),
    ));
    let mut outcomes = Vec::new();
    let bob_addr = s.bob_addr.clone();
    let mut alice = Interfering::new(s.a1, |_| {
        outcomes.push(keylink::encrypt(&mut a2, &bob_addr, b"other").map(|m| m.to_bytes()));
    });
    keylink::encrypt(&mut alice, &s.bob_addr, b"mine").unwrap();
    assert_eq!(alice.runs, 2);
    drop(alice);
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes[0].is_ok(), "the first interference commits");
    let Err(Error::Store(e)) = &outcomes[1] else {
        panic!(
            "the second interference must wait for the lock: {:?}",
            outcomes[1]
        );
    };
    let e = e.downcast_ref::<SqliteStoreError>().unwrap();
    assert!(matches!(e, SqliteStoreError::Busy), "{e}");
    assert!(e.to_string().contains("busy timeout"), "{e}");
}

#[test]
fn in_place_operations_run_again_on_a_conflict() {
    let mut s = setup();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let incoming = keylink::encrypt(&mut s.bob, &s.alice_addr, &big)
        .unwrap()
        .to_bytes();
    let other_incoming = keylink::encrypt(&mut s.bob, &s.alice_addr, b"x")
        .unwrap()
        .to_bytes();
    let mut sent_by_other = Vec::new();
    let (a2, bob_addr) = (&mut s.a2, &s.bob_addr);
    let mut alice = Interfering::new(s.a1, |commit| match commit {
        1 => sent_by_other.push(keylink::encrypt(a2, bob_addr, b"other").unwrap().to_bytes()),
        3 => {
            keylink::decrypt(a2, bob_addr, &other_incoming, &mut rng()).unwrap();
        }
        _ => {}
    });
    let mut buffer = big.clone();
    keylink::encrypt_in_place(&mut alice, &s.bob_addr, &mut buffer).unwrap();
    let mut incoming_buffer = incoming.clone();
    let pt = keylink::decrypt_in_place(&mut alice, &s.bob_addr, &mut incoming_buffer, &mut rng())
        .unwrap();
    assert_eq!(pt, big.as_slice());
    assert_eq!(alice.runs, 4, "each operation ran twice");
    drop(alice);
    for (bytes, expected) in [(&buffer, big.as_slice()), (&sent_by_other[0], b"other")] {
        let pt = keylink::decrypt(&mut s.bob, &s.alice_addr, bytes, &mut rng()).unwrap();
        assert_eq!(pt, expected);
    }
}

// ---- Random schedules ------------------------------------------------------------------------

use proptest::prelude::*;
use proptest::sample::Index;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What one writer does in a step.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Alice encrypts a new message to Bob.
    Send,
    /// Alice decrypts one of Bob's undelivered messages (any of them: reordering).
    Receive(Index),
}

/// One step: Alice's connection `writer` acts, and at its first commit the other connection
/// acts first (`interference`), between the operation's reads and its commit. Bob sends or
/// receives after the step.
#[derive(Clone, Debug)]
struct Step {
    writer: usize,
    act: Act,
    interference: Option<Act>,
    bob_sends: bool,
    bob_receives: Option<Index>,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![Just(Act::Send), any::<Index>().prop_map(Act::Receive)]
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..2usize,
        act(),
        proptest::option::of(act()),
        any::<bool>(),
        proptest::option::of(any::<Index>()),
    )
        .prop_map(
            |(writer, act, interference, bob_sends, bob_receives)| Step {
                writer,
                act,
                interference,
                bob_sends,
                bob_receives,
            },
        )
}

/// Messages in flight and what was delivered, shared by the two writers.
#[derive(Default)]
struct Mail {
    sent_by_alice: u32,
    to_bob: Vec<(u32, Vec<u8>)>,
    /// Bob's messages not delivered yet, by number.
    to_alice: BTreeMap<u32, Vec<u8>>,
    /// Bob's messages delivered to Alice, and how often.
    delivered_to_alice: BTreeMap<u32, u32>,
}

fn text(from: &str, n: u32) -> Vec<u8> {
    format!("{from} message {n}, long enough to cover a block").into_bytes()
}

/// `store` (one of Alice's connections) does `act`.
fn perform<S: ProtocolStore>(store: &mut S, act: Act, bob: &Address, mail: &RefCell<Mail>) {
    match act {
        Act::Send => {
            let n = {
                let mut mail = mail.borrow_mut();
                mail.sent_by_alice += 1;
                mail.sent_by_alice
            };
            let message = keylink::encrypt(store, bob, &text("alice", n)).unwrap();
            mail.borrow_mut().to_bob.push((n, message.to_bytes()));
        }
        Act::Receive(index) => {
            let picked = {
                let mail = mail.borrow();
                let pending: Vec<_> = mail.to_alice.iter().collect();
                (!pending.is_empty())
                    .then(|| pending[index.index(pending.len())])
                    .map(|(n, bytes)| (*n, bytes.clone()))
            };
            let Some((n, bytes)) = picked else { return };
            match keylink::decrypt(store, bob, &bytes, &mut rng()) {
                Ok(plaintext) => {
                    assert_eq!(plaintext, text("bob", n));
                    let mut mail = mail.borrow_mut();
                    mail.to_alice.remove(&n);
                    *mail.delivered_to_alice.entry(n).or_default() += 1;
                }
                // The other writer delivered it between this run's reads and its commit. A
                // message whose skipped chain that delivery emptied no longer opens under any
                // header key: a replay of it is DecryptionFailed rather than DuplicateMessage
                // (PROTOCOL.md §6.5), as with one writer.
                Err(Error::DuplicateMessage | Error::DecryptionFailed) => {
                    assert!(mail.borrow().delivered_to_alice.contains_key(&n), "{n}");
                }
                Err(e) => panic!("Bob's message {n}: {e}"),
            }
        }
    }
}

fn run_schedule(steps: &[Step]) {
    let db = TempDb::new("schedule");
    let key = StorageKey::generate(&mut rng());
    let (mut first, _) = device(&db.0, &key);
    let mut bob = common::Device::new("bob", 1);
    let alice_addr = Address::new("alice", 1);
    keylink::start_session(
        &mut first,
        &bob.addr,
        &bob.bundle(Some(common::FIRST_OTPK)),
        &mut rng(),
    )
    .unwrap();
    let mut writers = [Some(first), Some(SqliteStore::open(&db.0, &key).unwrap())];
    let mail = RefCell::new(Mail::default());
    let mut bob_sent = 0;
    for step in steps {
        let mut other = writers[1 - step.writer].take().unwrap();
        let actor = writers[step.writer].take().unwrap();
        let interference = step.interference;
        let bob_addr = bob.addr.clone();
        let actor = {
            let mut wrapped = Interfering::new(actor, |commit| {
                if let (1, Some(act)) = (commit, interference) {
                    perform(&mut other, act, &bob_addr, &mail);
                }
            });
            perform(&mut wrapped, step.act, &bob_addr, &mail);
            wrapped.into_inner()
        };
        writers[step.writer] = Some(actor);
        writers[1 - step.writer] = Some(other);
        // Bob answers only once Alice's first message reached him (he has no session before).
        if step.bob_sends && bob.store.session_index(&alice_addr).unwrap().is_some() {
            bob_sent += 1;
            let bytes = bob.send_bytes(&alice_addr, &text("bob", bob_sent));
            mail.borrow_mut().to_alice.insert(bob_sent, bytes);
        }
        if let Some(index) = step.bob_receives {
            let mut mail = mail.borrow_mut();
            if !mail.to_bob.is_empty() {
                let at = index.index(mail.to_bob.len());
                let (n, bytes) = mail.to_bob.remove(at);
                bob.recv_ok(&alice_addr, &bytes, &text("alice", n));
            }
        }
    }
    // Drain: every message reaches its receiver exactly once, with its plaintext.
    let mut mail = mail.into_inner();
    for (n, bytes) in mail.to_bob.drain(..) {
        bob.recv_ok(&alice_addr, &bytes, &text("alice", n));
    }
    let mut alice = writers[0].take().unwrap();
    for (n, bytes) in std::mem::take(&mut mail.to_alice) {
        let plaintext = keylink::decrypt(&mut alice, &bob.addr, &bytes, &mut rng()).unwrap();
        assert_eq!(plaintext, text("bob", n));
        *mail.delivered_to_alice.entry(n).or_default() += 1;
    }
    assert_eq!(mail.delivered_to_alice.len(), bob_sent as usize);
    assert!(mail.delivered_to_alice.values().all(|&times| times == 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Two writers on one file, the second acting between the first's reads and commit at
    /// random points: every message either sends is decrypted by Bob exactly once (a message
    /// key used twice would make the second a duplicate), and each of Bob's messages is
    /// delivered to exactly one writer, once.
    #[test]
    fn two_writers_on_random_schedules_lose_nothing_and_reuse_no_key(
        steps in proptest::collection::vec(step(), 1..24)
    ) {
        run_schedule(&steps);
    }
}
