//! Stores in SQLite files (feature `sqlite`): a temp path removed with its WAL files, and a
//! device whose keys are kept in one.

use std::path::{Path, PathBuf};

use keylink::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, SignedPreKey};
use keylink::store::at_rest::StorageKey;
use keylink::store::{Address, SqliteStore};

use super::{rng, stored_bundle};

/// A fresh path in the temp directory, removed (with its WAL files) when dropped.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new(name: &str) -> Self {
        let unique = format!(
            "keylink-{name}-{}-{:x}",
            std::process::id(),
            rand_core::Rng::next_u64(&mut rng())
        );
        TempDb(std::env::temp_dir().join(unique))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A device in a file: identity, signed prekey 1, one-time prekeys 1..=5, KEM prekeys 1..=5
/// and last-resort KEM prekey 100. Returns the store and the identity.
pub fn device(path: &Path, key: &StorageKey) -> (SqliteStore, IdentityKeyPair) {
    let mut r = rng();
    let identity = IdentityKeyPair::generate(&mut r);
    let mut store = SqliteStore::open(path, key).unwrap();
    store.set_local_identity(&identity).unwrap();
    store
        .add_signed_prekey(&SignedPreKey::generate(1, &identity, &mut r))
        .unwrap();
    store
        .add_one_time_prekeys(&OneTimePreKey::generate_batch(1, 5, &mut r))
        .unwrap();
    let mut kem = KemPreKey::generate_batch(1, 5, &identity, &mut r);
    kem.push(KemPreKey::generate_last_resort(100, &identity, &mut r));
    store.add_kem_prekeys(&kem).unwrap();
    (store, identity)
}

/// Alice (`alice`, 1) starts a session with Bob (`bob`, 1) from his bundle (one-time prekey 1,
/// KEM prekey 1) and Bob decrypts her first message, "hello".
pub fn introduce(alice: &mut SqliteStore, bob: &mut SqliteStore) {
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let bundle = stored_bundle(bob, 1, 1, Some(1), 1).verify().unwrap();
    keylink::start_session(alice, &bob_addr, &bundle, &mut rng()).unwrap();
    let hello = keylink::encrypt(alice, &bob_addr, b"hello")
        .unwrap()
        .to_bytes();
    let received = keylink::decrypt(bob, &alice_addr, &hello, &mut rng()).unwrap();
    assert_eq!(received, b"hello");
}
