//! What the store-backed operations hand to `ProtocolStore::commit`, and the edges a user of
//! the crate met: a bundle for another device, and the session after `accept_identity`.
#![cfg(test)]

use std::cell::RefCell;

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
    fn new(inner: MemoryStore) -> Self {
        Recording {
            inner,
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

fn device(name: &str, device: u32) -> (MemoryStore, Address) {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &identity, &mut rng);
    let kem = KemPreKey::generate_batch(1, 2, &identity, &mut rng);
    let last_resort = KemPreKey::generate_last_resort(100, &identity, &mut rng);
    let mut store = MemoryStore::new(identity);
    store.add_signed_prekey(signed);
    store.add_one_time_prekeys(OneTimePreKey::generate_batch(1, 2, &mut rng));
    store.add_kem_prekeys(kem.into_iter().chain([last_resort]));
    (store, Address::new(name, device))
}

#[test]
fn a_prekey_message_commits_its_session_identity_and_used_prekeys_at_once() {
    let mut rng = keylink::os_rng();
    let (mut alice, alice_addr) = device("alice", 1);
    let (bob, bob_addr) = device("bob", 1);
    let mut bob = Recording::new(bob);
    let bundle = bob.inner.bundle(1, 1, Some(1.into()), 1).unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle.verify().unwrap(), &mut rng).unwrap();
    let first = keylink::encrypt(&mut alice, &bob_addr, b"hi")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng).unwrap();
    let expected = [
        "peer identity",
        "remove KEM prekey",
        "remove one-time prekey",
        "session",
        "used base key",
    ];
    assert_eq!(bob.last_commit(), expected);
    assert_eq!(bob.inner.one_time_prekey_ids(), [2.into()]);
    assert_eq!(bob.inner.one_time_kem_prekey_ids(), [2.into()]);

    // A repeated PreKey message touches the session record alone.
    let second = keylink::encrypt(&mut alice, &bob_addr, b"again")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &second, &mut rng).unwrap();
    assert_eq!(bob.last_commit(), ["session"]);
}

#[test]
fn the_last_resort_kem_prekey_is_kept() {
    let mut rng = keylink::os_rng();
    let (mut alice, alice_addr) = device("alice", 1);
    let (bob, bob_addr) = device("bob", 1);
    let mut bob = Recording::new(bob);
    let bundle = bob.inner.bundle(1, 1, None, 100).unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle.verify().unwrap(), &mut rng).unwrap();
    let first = keylink::encrypt(&mut alice, &bob_addr, b"hi")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng).unwrap();
    assert_eq!(
        bob.last_commit(),
        ["peer identity", "session", "used base key"]
    );
    assert_eq!(bob.inner.last_resort_kem_prekey_id(), Some(100.into()));
}

#[test]
fn a_bundle_for_another_device_does_not_start_a_session() {
    let mut rng = keylink::os_rng();
    let (mut alice, _) = device("alice", 1);
    let (bob, _) = device("bob", 2);
    let bundle = bob.bundle(2, 1, None, 1).unwrap().verify().unwrap();
    let wrong = Address::new("bob", 1);
    let e = keylink::start_session(&mut alice, &wrong, &bundle, &mut rng).unwrap_err();
    assert!(matches!(
        e,
        Error::WrongDevice { address, bundle } if address.get() == 1 && bundle.get() == 2
    ));
    assert!(e.to_string().contains("fetch the bundle of device 1"));
    assert!(alice.session_record(&wrong).is_none());
    assert!(alice.known_identity(&wrong).is_none());
}

#[test]
fn after_accepting_a_new_identity_the_app_is_told_to_start_a_new_session() {
    let mut rng = keylink::os_rng();
    let (mut alice, alice_addr) = device("alice", 1);
    let (mut bob, bob_addr) = device("bob", 1);
    let bundle = bob.bundle(1, 1, None, 1).unwrap().verify().unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng).unwrap();
    let hello = keylink::encrypt(&mut alice, &bob_addr, b"hello")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &hello, &mut rng).unwrap();
    let late = keylink::encrypt(&mut bob, &alice_addr, b"late")
        .unwrap()
        .to_bytes();

    // Bob reinstalls: a new identity, a new bundle. Alice is refused until she accepts it.
    let (mut new_bob, _) = device("bob", 1);
    let new_bundle = new_bob.bundle(1, 1, None, 1).unwrap().verify().unwrap();
    let e = keylink::start_session(&mut alice, &bob_addr, &new_bundle, &mut rng).unwrap_err();
    assert!(matches!(e, Error::UntrustedIdentity));
    assert!(e.to_string().contains("start a new session"));
    keylink::accept_identity(&mut alice, &bob_addr, new_bundle.identity_key()).unwrap();

    // The old session is archived with the change: encrypt says what to do next.
    let e = keylink::encrypt(&mut alice, &bob_addr, b"x").unwrap_err();
    assert!(matches!(e, Error::NoSession));
    // A late message of the old identity is not decrypted any more.
    let old = keylink::decrypt(&mut alice, &bob_addr, &late, &mut rng);
    assert!(matches!(old, Err(Error::DecryptionFailed)));

    keylink::start_session(&mut alice, &bob_addr, &new_bundle, &mut rng).unwrap();
    let m = keylink::encrypt(&mut alice, &bob_addr, b"again")
        .unwrap()
        .to_bytes();
    let plaintext = keylink::decrypt(&mut new_bob, &alice_addr, &m, &mut rng).unwrap();
    assert_eq!(plaintext, b"again");
}

#[test]
fn changes_can_be_built_by_a_store_author() {
    let address = Address::new("carol", 3);
    let identity = *IdentityKeyPair::generate(&mut keylink::os_rng()).public();
    let changes = Changes::new()
        .with(Change::PeerIdentity {
            address: address.clone(),
            identity,
        })
        .with(Change::RemoveOneTimePreKey(5.into()));
    assert_eq!(changes.len(), 2);
    let kinds: Vec<_> = changes.iter().map(kind).collect();
    assert_eq!(kinds, ["peer identity", "remove one-time prekey"]);
    let mut store = MemoryStore::new(IdentityKeyPair::generate(&mut keylink::os_rng()));
    store.commit(changes).unwrap();
    assert_eq!(store.known_identity(&address), Some(&identity));
}
