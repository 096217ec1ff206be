//! What the store-backed operations hand to `ProtocolStore::commit`, and the edges a user of
//! the crate met: a bundle for another device, and the session after `accept_identity`.
#![cfg(test)]

mod common;

use std::cell::RefCell;

use common::{Device, FIRST_KEM, FIRST_OTPK, LAST_RESORT_KEM, rng};
use keylink::Error;
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use keylink::session::SessionRecord;
use keylink::store::{Address, Change, Changes, MemoryStore, MemoryStoreError, ProtocolStore};

/// A store that records the kinds of change of every commit before applying it.
struct Recording {
    inner: MemoryStore,
    commits: RefCell<Vec<Vec<&'static str>>>,
}

impl Recording {
    /// Takes over `device`'s store.
    fn new(device: &mut Device) -> Self {
        Recording {
            inner: std::mem::take(&mut device.store),
            commits: RefCell::new(Vec::new()),
        }
    }

    fn last_commit(&self) -> Vec<&'static str> {
        self.commits.borrow().last().cloned().unwrap_or_default()
    }
}

/// The kind of a change. No wildcard arm: a new kind must be named here to compile.
fn kind(change: &Change) -> &'static str {
    match change {
        Change::Session { .. } => "session",
        Change::PeerIdentity { .. } => "peer identity",
        Change::RemoveOneTimePreKey(_) => "remove one-time prekey",
        Change::RemoveKemPreKey(_) => "remove KEM prekey",
        Change::UsedBaseKey { .. } => "used base key",
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
    fn session(&self, address: &Address) -> Result<Option<SessionRecord>, Self::Error> {
        self.inner.session(address)
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
    let expected = ["peer identity", "session", "used base key"];
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
