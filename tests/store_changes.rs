//! What the store-backed operations hand to `ProtocolStore::commit`, and the edges a user of
//! the crate met: a bundle for another device, and the session after `accept_identity`.
#![cfg(test)]

mod common;

use std::cell::RefCell;

use common::{Device, FIRST_KEM, FIRST_OTPK, LAST_RESORT_KEM, rng};
use keylink::AccountTrust;
use keylink::Error;
use keylink::account::{AccountKey, AccountKeyPair, PhoneNumber};
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use keylink::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
use keylink::store::{Address, Change, Changes, MemoryStore, MemoryStoreError, ProtocolStore};

/// A store that records the kinds of change of every commit before applying it, and counts
/// the session rows read.
struct Recording {
    inner: MemoryStore,
    commits: RefCell<Vec<Vec<&'static str>>>,
    reads: RefCell<Reads>,
}

/// Session rows read since the last reset: (indexes, sessions, skipped message keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reads {
    indexes: usize,
    sessions: usize,
    skipped_keys: usize,
}

impl Recording {
    /// Takes over `device`'s store.
    fn new(device: &mut Device) -> Self {
        Recording {
            inner: std::mem::take(&mut device.store),
            commits: RefCell::new(Vec::new()),
            reads: RefCell::default(),
        }
    }

    fn last_commit(&self) -> Vec<&'static str> {
        self.commits.borrow().last().cloned().unwrap_or_default()
    }

    /// The rows read since the last call.
    fn take_reads(&self) -> Reads {
        std::mem::take(&mut *self.reads.borrow_mut())
    }
}

/// The kind of a change. No wildcard arm: a new kind must be named here to compile.
fn kind(change: &Change) -> &'static str {
    match change {
        Change::SessionIndex { .. } => "session index",
        Change::Session { .. } => "session",
        Change::RemoveSession { .. } => "remove session",
        Change::SkippedMessageKeys { .. } => "skipped message keys",
        Change::RemoveSkippedMessageKey { .. } => "remove skipped message key",
        Change::EvictSkippedMessageKeys { .. } => "evict skipped message keys",
        Change::PeerIdentity { .. } => "peer identity",
        Change::PeerAccount { .. } => "peer account",
        Change::RemoveOneTimePreKey(_) => "remove one-time prekey",
        Change::RemoveKemPreKey(_) => "remove KEM prekey",
        Change::UsedBaseKey { .. } => "used base key",
        Change::PreKeyState(_) => "prekey state",
        Change::DeviceList { .. } => "device list",
        Change::LocalAccount(_) => "local account",
        Change::SignedPreKey(_) => "signed prekey",
        Change::OneTimePreKeys(_) => "one-time prekeys",
        Change::KemPreKeys(_) => "KEM prekeys",
        Change::RemoveSignedPreKey(_) => "remove signed prekey",
        Change::RemoveLastResortKemPreKey(_) => "remove last-resort KEM prekey",
        Change::RemoveOneTimePreKeysBelow { .. } => "remove one-time prekeys below",
    }
}

impl ProtocolStore for Recording {
    type Error = MemoryStoreError;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Self::Error> {
        self.inner.local_identity()
    }
    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, Self::Error> {
        self.inner.peer_identity(address)
    }
    fn peer_account(&self, phone: &PhoneNumber) -> Result<Option<AccountKey>, Self::Error> {
        self.inner.peer_account(phone)
    }
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, Self::Error> {
        self.inner.signed_prekey(id)
    }
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, Self::Error> {
        self.inner.one_time_prekey(id)
    }
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, Self::Error> {
        self.inner.kem_prekey(id)
    }
    fn base_key_used(&self, spk: SignedPreKeyId, key: &PublicKey) -> Result<bool, Self::Error> {
        self.inner.base_key_used(spk, key)
    }
    fn session_index(&self, address: &Address) -> Result<Option<SessionIndex>, Self::Error> {
        self.reads.borrow_mut().indexes += 1;
        self.inner.session_index(address)
    }
    fn session(&self, address: &Address, id: &SessionId) -> Result<Option<Session>, Self::Error> {
        self.reads.borrow_mut().sessions += 1;
        self.inner.session(address, id)
    }
    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, Self::Error> {
        self.reads.borrow_mut().skipped_keys += 1;
        self.inner.skipped_message_key(address, id)
    }
    fn device_list(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::SignedDeviceList>, Self::Error> {
        self.inner.device_list(phone)
    }
    fn prekey_state(&self) -> Result<Option<keylink::account::PreKeyState>, Self::Error> {
        self.inner.prekey_state()
    }
    fn local_account(&self) -> Result<Option<keylink::account::PhoneNumber>, Self::Error> {
        self.inner.local_account()
    }
    fn commit(&mut self, changes: Changes) -> Result<(), Self::Error> {
        let mut kinds: Vec<_> = changes.iter().map(kind).collect();
        kinds.sort_unstable();
        self.commits.borrow_mut().push(kinds);
        self.inner.commit(changes)
    }
}

#[test]
fn a_prekey_message_commits_its_session_identity_and_used_prekeys_at_once() {
    let mut alice = Device::new("alice", 1);
    let mut bob_device = Device::new("bob", 1);
    alice.start(&bob_device, Some(FIRST_OTPK));
    let mut bob = Recording::new(&mut bob_device);
    let first = alice.send_bytes(&bob_device.addr, b"hi");
    keylink::decrypt(&mut bob, &alice.addr, &first, &mut rng()).unwrap();
    let expected = [
        "peer identity",
        "remove KEM prekey",
        "remove one-time prekey",
        "session",
        "session index",
        "used base key",
    ];
    assert_eq!(bob.last_commit(), expected);
    assert!(!bob.inner.one_time_prekey_ids().contains(&FIRST_OTPK.into()));
    assert!(
        !bob.inner
            .one_time_kem_prekey_ids()
            .contains(&FIRST_KEM.into())
    );

    // A repeated PreKey message touches the session record alone.
    let second = alice.send_bytes(&bob_device.addr, b"again");
    keylink::decrypt(&mut bob, &alice.addr, &second, &mut rng()).unwrap();
    assert_eq!(bob.last_commit(), ["session"]);
}

#[test]
fn the_last_resort_kem_prekey_is_kept() {
    let mut alice = Device::new("alice", 1);
    let mut bob_device = Device::new("bob", 1);
    alice.start_with(&bob_device, None, LAST_RESORT_KEM);
    let mut bob = Recording::new(&mut bob_device);
    let first = alice.send_bytes(&bob_device.addr, b"hi");
    keylink::decrypt(&mut bob, &alice.addr, &first, &mut rng()).unwrap();
    let expected = ["peer identity", "session", "session index", "used base key"];
    assert_eq!(bob.last_commit(), expected);
    let last_resort = bob.inner.last_resort_kem_prekey_id();
    assert_eq!(last_resort, Some(LAST_RESORT_KEM.into()));
}

#[test]
fn a_bundle_for_another_device_does_not_start_a_session() {
    let mut alice = Device::new("alice", 1);
    let bob = Device::new("bob", 2);
    let bundle = bob.bundle(None);
    let wrong = Address::new("bob", 1);
    let e = keylink::start_session(&mut alice.store, &wrong, &bundle, &mut rng()).unwrap_err();
    assert!(matches!(
        e,
        Error::WrongDevice { address, bundle } if address.get() == 1 && bundle.get() == 2
    ));
    assert!(e.to_string().contains("fetch the bundle of device 1"));
    assert!(alice.store.session_record(&wrong).is_none());
    assert!(alice.store.known_identity(&wrong).is_none());
}

#[test]
fn after_accepting_a_new_identity_the_app_is_told_to_start_a_new_session() {
    let (mut alice, mut bob) = common::established();
    let late = bob.send_bytes(&alice.addr, b"late");

    // Bob reinstalls: a new identity, a new bundle. Alice is refused until she accepts it.
    let mut new_bob = Device::new("bob", 1);
    let new_bundle = new_bob.bundle(None);
    let started = keylink::start_session(&mut alice.store, &bob.addr, &new_bundle, &mut rng());
    let e = started.unwrap_err();
    assert!(matches!(e, Error::UntrustedIdentity));
    assert!(e.to_string().contains("start a new session"));
    let new_identity = new_bob.identity_key();
    keylink::accept_identity(&mut alice.store, &bob.addr, &new_identity).unwrap();

    // The old session is archived with the change: encrypt says what to do next.
    let e = keylink::encrypt(&mut alice.store, &bob.addr, b"x").unwrap_err();
    assert!(matches!(e, Error::NoSession));
    assert!(e.to_string().contains("start one"));
    // A late message of the old identity is not decrypted any more.
    let old = common::rejected(&mut alice, &bob.addr, &late);
    assert!(matches!(old, Error::DecryptionFailed));

    alice.start(&new_bob, None);
    let m = alice.send_bytes(&new_bob.addr, b"again");
    new_bob.recv_ok(&alice.addr, &m, b"again");
}

#[test]
fn account_keys_are_one_commit_on_first_use_and_on_acceptance_only() {
    let mut device = Device::new("alice", 1);
    let mut store = Recording::new(&mut device);
    let phone = PhoneNumber::parse("+447700900123").unwrap();
    let keys: Vec<AccountKey> = (0..2)
        .map(|_| *AccountKeyPair::generate(&mut rng()).public())
        .collect();
    let first = keylink::check_account(&mut store, &phone, &keys[0]).unwrap();
    assert_eq!(first, AccountTrust::FirstUse);
    assert_eq!(*store.commits.borrow(), [vec!["peer account"]]);
    // Known, and changed: read only, nothing committed.
    let known = keylink::check_account(&mut store, &phone, &keys[0]).unwrap();
    assert_eq!(known, AccountTrust::Known);
    let changed = keylink::check_account(&mut store, &phone, &keys[1]).unwrap_err();
    assert!(matches!(changed, Error::UntrustedAccount), "{changed:?}");
    assert_eq!(store.commits.borrow().len(), 1);
    keylink::accept_account(&mut store, &phone, &keys[1]).unwrap();
    assert_eq!(store.commits.borrow().len(), 2);
    assert_eq!(store.last_commit(), ["peer account"]);
}

#[test]
fn changes_can_be_built_by_a_store_author() {
    let address = Address::new("carol", 3);
    let identity = *IdentityKeyPair::generate(&mut rng()).public();
    let changes = Changes::new()
        .with(Change::PeerIdentity {
            address: address.clone(),
            identity,
        })
        .with(Change::RemoveOneTimePreKey(5.into()));
    assert_eq!(changes.len(), 2);
    let kinds: Vec<_> = changes.iter().map(kind).collect();
    assert_eq!(kinds, ["peer identity", "remove one-time prekey"]);
    let mut store = MemoryStore::new(IdentityKeyPair::generate(&mut rng()));
    store.commit(changes).unwrap();
    assert_eq!(store.known_identity(&address), Some(&identity));
}

/// Bob's record of Alice after `skipped` messages of hers were lost (their keys stored), and
/// with `archived` archived sessions before the current one.
fn bob_with_history(skipped: u32, archived: usize) -> (Device, Recording) {
    let mut alice = Device::new("alice", 1);
    let mut bob_device = Device::new("bob", 1);
    for _ in 0..archived {
        alice.start(&bob_device, None);
        let m = alice.send_bytes(&bob_device.addr, b"old");
        bob_device.recv_ok(&alice.addr, &m, b"old");
    }
    alice.start(&bob_device, None);
    let first = alice.send_bytes(&bob_device.addr, b"first");
    bob_device.recv_ok(&alice.addr, &first, b"first");
    let reply = bob_device.send_bytes(&alice.addr, b"reply");
    alice.recv_ok(&bob_device.addr, &reply, b"reply");
    for _ in 0..skipped {
        alice.send_bytes(&bob_device.addr, b"lost");
    }
    let last = alice.send_bytes(&bob_device.addr, b"last");
    bob_device.recv_ok(&alice.addr, &last, b"last");
    let record = bob_device.record(&alice.addr);
    assert_eq!(record.archived().count(), archived);
    assert_eq!(record.skipped_keys(), skipped as usize);
    let bob = Recording::new(&mut bob_device);
    (alice, bob)
}

#[test]
fn a_message_reads_and_writes_the_same_rows_whatever_the_history() {
    for (skipped, archived) in [(0, 0), (2_000, 0), (0, 40), (2_000, 40)] {
        let (mut alice, mut bob) = bob_with_history(skipped, archived);
        let bob_addr = Address::new("bob", 1);
        let (sessions, keys) = bob.inner.session_rows(&alice.addr);
        assert_eq!((sessions, keys), (archived + 1, skipped as usize));
        bob.take_reads();

        keylink::encrypt(&mut bob, &alice.addr, b"to alice").unwrap();
        let one_session = Reads {
            indexes: 1,
            sessions: 1,
            skipped_keys: 0,
        };
        assert_eq!(bob.take_reads(), one_session, "{skipped} {archived}");
        assert_eq!(bob.last_commit(), ["session"]);

        let next = alice.send_bytes(&bob_addr, b"next");
        keylink::decrypt(&mut bob, &alice.addr, &next, &mut rng()).unwrap();
        assert_eq!(bob.take_reads(), one_session, "{skipped} {archived}");
        assert_eq!(bob.last_commit(), ["session"]);
    }
}

#[test]
fn a_late_message_reads_and_deletes_only_its_own_key() {
    let mut alice = Device::new("alice", 1);
    let mut bob_device = Device::new("bob", 1);
    alice.start(&bob_device, None);
    let bob_addr = bob_device.addr.clone();
    let sent: Vec<_> = (0..4).map(|_| alice.send_bytes(&bob_addr, b"m")).collect();
    let mut bob = Recording::new(&mut bob_device);
    keylink::decrypt(&mut bob, &alice.addr, &sent[3], &mut rng()).unwrap();
    let first = [
        "peer identity",
        "remove KEM prekey",
        "session",
        "session index",
    ];
    let mut expected = first.to_vec();
    expected.extend(["skipped message keys", "used base key"]);
    expected.sort_unstable();
    assert_eq!(bob.last_commit(), expected);
    assert_eq!(bob.inner.session_rows(&alice.addr), (1, 3));
    bob.take_reads();

    keylink::decrypt(&mut bob, &alice.addr, &sent[1], &mut rng()).unwrap();
    let reads = bob.take_reads();
    assert_eq!((reads.sessions, reads.skipped_keys), (1, 1));
    assert_eq!(bob.last_commit(), ["remove skipped message key", "session"]);
    assert_eq!(bob.inner.session_rows(&alice.addr), (1, 2));

    // The same message again: its key is gone, a duplicate, nothing written.
    let commits = bob.commits.borrow().len();
    let again = keylink::decrypt(&mut bob, &alice.addr, &sent[1], &mut rng()).unwrap_err();
    assert!(matches!(again, Error::DuplicateMessage));
    assert_eq!(bob.commits.borrow().len(), commits);
}

#[test]
fn evictions_and_dropped_sessions_are_row_deletes() {
    // Beyond the key limit: the oldest keys are evicted by count, in the same commit.
    let (mut alice, mut bob) = bob_with_history(2_000, 0);
    let bob_addr = Address::new("bob", 1);
    for _ in 0..10 {
        alice.send_bytes(&bob_addr, b"lost");
    }
    let m = alice.send_bytes(&bob_addr, b"m");
    keylink::decrypt(&mut bob, &alice.addr, &m, &mut rng()).unwrap();
    assert_eq!(
        bob.last_commit(),
        [
            "evict skipped message keys",
            "session",
            "skipped message keys"
        ]
    );
    assert_eq!(bob.inner.session_rows(&alice.addr), (1, 2_000));
    let record = bob.inner.session_record(&alice.addr).unwrap();
    assert_eq!(record.skipped_keys(), 2_000);

    // Beyond the archive limit: the oldest session row goes with its keys.
    let (mut alice, mut bob) = bob_with_history(0, 40);
    let mut bob_device = Device::new("bob", 1);
    bob_device.store = std::mem::take(&mut bob.inner);
    alice.start(&bob_device, None);
    bob.inner = std::mem::take(&mut bob_device.store);
    let m = alice.send_bytes(&bob_addr, b"41st");
    keylink::decrypt(&mut bob, &alice.addr, &m, &mut rng()).unwrap();
    let commit = bob.last_commit();
    assert!(commit.contains(&"remove session"), "{commit:?}");
    assert!(commit.contains(&"session index"), "{commit:?}");
    assert_eq!(bob.inner.session_rows(&alice.addr).0, 41);
}

mod rows_property {
    use super::*;
    use keylink::constants::MAX_ARCHIVED_SESSIONS;
    use proptest::prelude::*;
    use proptest::sample::Index;

    #[derive(Clone, Debug)]
    enum Step {
        /// Alice sends a message to Bob (put in flight).
        AliceSends,
        /// Bob replies.
        BobSends,
        /// One message in flight to Bob is delivered (any order; a few are never delivered).
        Deliver(Index),
        /// Alice starts a new session: Bob's current one will be archived when it arrives.
        AliceRestarts,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::AliceSends),
            2 => Just(Step::BobSends),
            4 => any::<Index>().prop_map(Step::Deliver),
            1 => Just(Step::AliceRestarts),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 16 } else { 200 }))]

        /// Whatever the history, an encrypt reads one index and one session row and no key;
        /// a decrypt reads at most one skipped key, and an archived session only when the
        /// message is not for the current one; and the rows always assemble into a record.
        #[test]
        fn reads_are_bounded_by_the_message_not_the_history(
            steps in prop::collection::vec(step(), 1..60)
        ) {
            let mut alice = Device::new("alice", 1);
            let mut bob_device = Device::new("bob", 1);
            alice.start(&bob_device, None);
            let bob_addr = bob_device.addr.clone();
            let mut bob = Recording::new(&mut bob_device);
            let mut in_flight: Vec<Vec<u8>> = Vec::new();
            for step in &steps {
                match step {
                    Step::AliceSends => in_flight.push(alice.send_bytes(&bob_addr, b"a")),
                    Step::BobSends => {
                        bob.take_reads();
                        if let Ok(m) = keylink::encrypt(&mut bob, &alice.addr, b"b") {
                            let reads = bob.take_reads();
                            prop_assert_eq!((reads.indexes, reads.sessions), (1, 1));
                            prop_assert_eq!(reads.skipped_keys, 0);
                            let _ = alice.recv(&bob_addr, &m.to_bytes());
                        }
                    }
                    Step::Deliver(i) if !in_flight.is_empty() => {
                        let bytes = in_flight.swap_remove(i.index(in_flight.len()));
                        let archived = bob
                            .inner
                            .session_record(&alice.addr)
                            .map_or(0, |r| r.archived().count());
                        bob.take_reads();
                        let _ = keylink::decrypt(&mut bob, &alice.addr, &bytes, &mut rng());
                        let reads = bob.take_reads();
                        prop_assert!(reads.indexes <= 1);
                        prop_assert!(reads.sessions <= 1 + archived.min(MAX_ARCHIVED_SESSIONS));
                        prop_assert!(reads.skipped_keys <= 1);
                    }
                    Step::Deliver(_) => {}
                    Step::AliceRestarts => {
                        let mut bob_view = Device::new("bob", 1);
                        bob_view.store = std::mem::take(&mut bob.inner);
                        alice.start(&bob_view, None);
                        bob.inner = std::mem::take(&mut bob_view.store);
                    }
                }
                if let Some(record) = bob.inner.session_record(&alice.addr) {
                    let rows = bob.inner.session_rows(&alice.addr);
                    let sessions = usize::from(record.current().is_some())
                        + record.archived().count();
                    prop_assert_eq!(rows, (sessions, record.skipped_keys()));
                } else {
                    prop_assert_eq!(bob.inner.session_rows(&alice.addr), (0, 0));
                }
            }
        }
    }
}
