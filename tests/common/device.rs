//! The party every session test drives: a device with its identity, prekeys and store, and the
//! helpers that set up and check a conversation between two of them.

use std::cell::Cell;

use keylink::Error;
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PublicKey, SignedPreKey,
    VerifiedBundle,
};
use keylink::session::{Message, SessionRecord};
use keylink::store::{Address, MemoryStore, ProtocolStore};

use super::{rng, stored_bundle};

/// Id of the signed prekey every [`Device`] publishes.
pub const SPK_ID: u32 = 1;
/// Id of a device's first one-time prekey.
pub const FIRST_OTPK: u32 = 100;
/// How many one-time prekeys a device starts with.
pub const OTPK_COUNT: u32 = 10;
/// Id of a device's first one-time KEM prekey.
pub const FIRST_KEM: u32 = 200;
/// How many one-time KEM prekeys a device starts with.
pub const KEM_COUNT: u32 = 10;
/// Id of a device's last-resort KEM prekey.
pub const LAST_RESORT_KEM: u32 = 999;

/// One device of a user: its address, identity and store.
pub struct Device {
    pub addr: Address,
    pub identity: IdentityKeyPair,
    pub signed_prekey: SignedPreKey,
    pub store: MemoryStore,
    /// The lowest one-time KEM prekey id not handed out in a bundle yet: like a server, a
    /// device hands out each one-time KEM prekey in one bundle only, then the last-resort one.
    next_kem: Cell<u32>,
}

impl Device {
    /// A new device with a signed prekey ([`SPK_ID`]), [`OTPK_COUNT`] one-time prekeys
    /// starting at [`FIRST_OTPK`], [`KEM_COUNT`] one-time KEM prekeys starting at
    /// [`FIRST_KEM`] and the last-resort KEM prekey [`LAST_RESORT_KEM`].
    pub fn new(user: &str, device: u32) -> Self {
        let mut rng = rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed_prekey = SignedPreKey::generate(SPK_ID, &identity, &mut rng);
        let mut store = MemoryStore::new(identity.clone());
        store.add_signed_prekey(signed_prekey.clone());
        store.add_one_time_prekeys(OneTimePreKey::generate_batch(
            FIRST_OTPK, OTPK_COUNT, &mut rng,
        ));
        let one_time_kem = KemPreKey::generate_batch(FIRST_KEM, KEM_COUNT, &identity, &mut rng);
        let last_resort = KemPreKey::generate_last_resort(LAST_RESORT_KEM, &identity, &mut rng);
        store.add_kem_prekeys(one_time_kem.into_iter().chain([last_resort]));
        Device {
            addr: Address::new(user, device),
            identity,
            signed_prekey,
            store,
            next_kem: Cell::new(FIRST_KEM),
        }
    }

    /// The KEM prekey id for the next bundle: a one-time one not handed out before while any
    /// remain in the store, else the last-resort one. Marks it as handed out.
    pub fn next_kem_id(&self) -> u32 {
        let next = self.next_kem.get();
        match self.kem_ids().into_iter().find(|&id| id >= next) {
            Some(id) => {
                self.next_kem.set(id + 1);
                id
            }
            None => self
                .store
                .last_resort_kem_prekey_id()
                .expect("no last-resort KEM prekey")
                .get(),
        }
    }

    pub fn identity_key(&self) -> IdentityKey {
        *self.identity.public()
    }

    /// The serialized bundle as published (signed prekey [`SPK_ID`], optional one-time key,
    /// the KEM prekey [`Device::next_kem_id`] picks).
    pub fn bundle_bytes(&self, otpk: Option<u32>) -> Vec<u8> {
        self.bundle_bytes_with(otpk, self.next_kem_id())
    }

    /// The serialized bundle with KEM prekey `kem` (which must be in the store).
    pub fn bundle_bytes_with(&self, otpk: Option<u32>, kem: u32) -> Vec<u8> {
        stored_bundle(&self.store, self.addr.device(), SPK_ID, otpk, kem).to_bytes()
    }

    /// The bundle as a peer gets it: serialized, parsed and verified.
    pub fn bundle(&self, otpk: Option<u32>) -> VerifiedBundle {
        verified(&self.bundle_bytes(otpk))
    }

    /// [`Device::bundle`] with KEM prekey `kem`.
    pub fn bundle_with(&self, otpk: Option<u32>, kem: u32) -> VerifiedBundle {
        verified(&self.bundle_bytes_with(otpk, kem))
    }

    /// Start a session with `peer` from its bundle.
    pub fn start(&mut self, peer: &Device, otpk: Option<u32>) {
        let bundle = peer.bundle(otpk);
        keylink::start_session(&mut self.store, &peer.addr, &bundle, &mut rng()).unwrap();
    }

    /// Start a session with `peer` from its bundle with KEM prekey `kem`.
    pub fn start_with(&mut self, peer: &Device, otpk: Option<u32>, kem: u32) {
        let bundle = peer.bundle_with(otpk, kem);
        keylink::start_session(&mut self.store, &peer.addr, &bundle, &mut rng()).unwrap();
    }

    /// Encrypt through the store; panics on error.
    pub fn send(&mut self, to: &Address, plaintext: &[u8]) -> Message {
        keylink::encrypt(&mut self.store, to, plaintext).unwrap()
    }

    /// Encrypt through the store and serialize.
    pub fn send_bytes(&mut self, to: &Address, plaintext: &[u8]) -> Vec<u8> {
        self.send(to, plaintext).to_bytes()
    }

    /// Decrypt through the store.
    pub fn recv(&mut self, from: &Address, bytes: &[u8]) -> keylink::Result<Vec<u8>> {
        keylink::decrypt(&mut self.store, from, bytes, &mut rng())
    }

    /// Decrypt and check the plaintext.
    pub fn recv_ok(&mut self, from: &Address, bytes: &[u8], expected: &[u8]) {
        let plaintext = self
            .recv(from, bytes)
            .unwrap_or_else(|e| panic!("{} could not decrypt from {from}: {e:?}", self.addr));
        assert_eq!(plaintext, expected);
    }

    /// The whole store, serialized, after checking that the session rows of every address
    /// assemble into a whole record (its sessions, and exactly the skipped keys their chains
    /// count).
    pub fn snapshot(&self) -> Vec<u8> {
        for address in self.store.session_addresses() {
            let record = self.store.session_record(address);
            assert!(record.is_some(), "the rows of {address} do not assemble");
        }
        self.store.to_bytes().to_vec()
    }

    /// The session record kept for `peer`, assembled from the store's rows.
    pub fn record(&self, peer: &Address) -> SessionRecord {
        self.store.session_record(peer).expect("no session record")
    }

    /// The base key of the current session with `peer`.
    pub fn current_base_key(&self, peer: &Address) -> PublicKey {
        *self
            .record(peer)
            .current()
            .expect("no current session")
            .base_key()
    }

    /// Skipped message keys held by the current session with `peer`.
    pub fn skipped(&self, peer: &Address) -> usize {
        self.record(peer).current().unwrap().skipped_keys()
    }

    pub fn otpk_ids(&self) -> Vec<u32> {
        let ids = self.store.one_time_prekey_ids();
        ids.into_iter().map(|id| id.get()).collect()
    }

    /// Ids of the one-time KEM prekeys not used yet.
    pub fn kem_ids(&self) -> Vec<u32> {
        let ids = self.store.one_time_kem_prekey_ids();
        ids.into_iter().map(|id| id.get()).collect()
    }

    /// Whether the store still holds KEM prekey `id` (one-time or last resort).
    pub fn has_kem(&self, id: u32) -> bool {
        self.store.kem_prekey(id.into()).unwrap().is_some()
    }

    /// Serialize, drop and restore the store, as an app restart would.
    pub fn restart(&mut self) {
        let bytes = self.snapshot();
        drop(std::mem::take(&mut self.store));
        self.store = MemoryStore::from_bytes(&bytes).unwrap();
        assert_eq!(self.snapshot(), bytes, "store round trip changed bytes");
    }
}

/// Parse, verify and return a serialized bundle.
pub fn verified(bytes: &[u8]) -> VerifiedBundle {
    PreKeyBundle::try_from(bytes).unwrap().verify().unwrap()
}

/// The (one-time prekey id, KEM prekey id) a serialized PreKey message names.
pub fn prekey_ids(bytes: &[u8]) -> (Option<u32>, u32) {
    match Message::try_from(bytes).unwrap() {
        Message::PreKey(m) => (
            m.one_time_prekey_id().map(|id| id.get()),
            m.kem_prekey_id().get(),
        ),
        Message::Ratchet(_) => panic!("expected a PreKey message"),
    }
}

/// `a` starts a session with `b` (one-time prekey [`FIRST_OTPK`], KEM prekey [`FIRST_KEM`]),
/// sends a PreKey message, `b` replies and `a` reads the reply: the session is confirmed on
/// both sides.
pub fn established() -> (Device, Device) {
    let mut a = Device::new("alice", 1);
    let mut b = Device::new("bob", 1);
    a.start(&b, Some(FIRST_OTPK));
    let m = a.send_bytes(&b.addr, b"hello bob");
    b.recv_ok(&a.addr, &m, b"hello bob");
    let r = b.send_bytes(&a.addr, b"hello alice");
    a.recv_ok(&b.addr, &r, b"hello alice");
    (a, b)
}

/// Deliver `bytes`, expect an error, and check that the receiver's store did not change.
pub fn rejected(to: &mut Device, from: &Address, bytes: &[u8]) -> Error {
    let before = to.snapshot();
    let e = match to.recv(from, bytes) {
        Ok(p) => panic!("accepted a bad message, plaintext {p:?}"),
        Err(e) => e,
    };
    assert!(
        to.snapshot() == before,
        "state changed after rejecting ({e:?})"
    );
    e
}

/// Rejected as [`Error::DecryptionFailed`], state unchanged.
/// `bytes` is refused as a duplicate (its key was used, or evicted), and nothing changes.
pub fn duplicate(to: &mut Device, from: &Address, bytes: &[u8]) {
    let e = rejected(to, from, bytes);
    assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
}

pub fn decryption_failed(to: &mut Device, from: &Address, bytes: &[u8]) {
    let e = rejected(to, from, bytes);
    assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
}
