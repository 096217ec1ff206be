//! Helpers shared by the `session_*` integration tests: devices backed by a [`MemoryStore`],
//! a seeded test RNG, a store whose commit can be made to fail, and mirrors of the private
//! protobuf records (for crafting records and reading secrets in Debug-redaction checks).
#![allow(dead_code)]

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;

use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PublicKey, SignedPreKey,
    VerifiedBundle,
};
use keylink::session::{Message, SessionRecord};
use keylink::store::{Address, Changes, MemoryStore, ProtocolStore};

/// The system RNG, as the crate's docs use it.
pub type SysRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// A fresh handle to the system RNG (stateless, so a new one per call is fine).
pub fn rng() -> SysRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A deterministic SplitMix64 generator. Not secure: for reproducible tests only.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }
}

impl rand_core::TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

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
                .expect("no last-resort KEM prekey"),
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
        self.store
            .bundle(self.addr.device(), SPK_ID, otpk, kem)
            .unwrap()
            .to_bytes()
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

    /// The whole store, serialized.
    pub fn snapshot(&self) -> Vec<u8> {
        self.store.to_bytes().to_vec()
    }

    /// The session record kept for `peer`, read through the store trait.
    pub fn record(&self, peer: &Address) -> SessionRecord {
        self.store
            .session(peer)
            .unwrap()
            .expect("no session record")
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
        self.store.one_time_prekey_ids()
    }

    /// Ids of the one-time KEM prekeys not used yet.
    pub fn kem_ids(&self) -> Vec<u32> {
        self.store.one_time_kem_prekey_ids()
    }

    /// Whether the store still holds KEM prekey `id` (one-time or last resort).
    pub fn has_kem(&self, id: u32) -> bool {
        self.store.kem_prekey(id).unwrap().is_some()
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
        Message::PreKey(m) => (m.one_time_prekey_id(), m.kem_prekey_id()),
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

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replace the single occurrence of `old` in `bytes` with `new` (same length).
pub fn replace(bytes: &mut [u8], old: &[u8], new: &[u8]) {
    assert_eq!(old.len(), new.len());
    let at = find(bytes, old).expect("pattern not found");
    assert!(
        find(&bytes[at + 1..], old).is_none(),
        "pattern occurs more than once"
    );
    bytes[at..at + old.len()].copy_from_slice(new);
}

// ---- A store whose commit fails on demand ---------------------------------------------------

/// The error [`FailingStore`] returns.
#[derive(Debug)]
pub enum TestStoreError {
    /// The armed commit failure.
    CommitFailed,
    /// The inner store failed (not expected in these tests).
    Inner(String),
}

impl fmt::Display for TestStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestStoreError::CommitFailed => f.write_str("test store: commit failed (armed)"),
            TestStoreError::Inner(e) => write!(f, "test store: inner store failed: {e}"),
        }
    }
}

impl std::error::Error for TestStoreError {}

/// A [`MemoryStore`] whose next commit fails when `fail_next` is set (then disarms).
pub struct FailingStore {
    pub inner: MemoryStore,
    pub fail_next: bool,
}

fn inner_err(e: keylink::Error) -> TestStoreError {
    TestStoreError::Inner(e.to_string())
}

impl ProtocolStore for FailingStore {
    type Error = TestStoreError;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, TestStoreError> {
        self.inner.local_identity().map_err(inner_err)
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, TestStoreError> {
        self.inner.peer_identity(address).map_err(inner_err)
    }

    fn signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, TestStoreError> {
        self.inner.signed_prekey(id).map_err(inner_err)
    }

    fn one_time_prekey(&self, id: u32) -> Result<Option<OneTimePreKey>, TestStoreError> {
        self.inner.one_time_prekey(id).map_err(inner_err)
    }

    fn kem_prekey(&self, id: u32) -> Result<Option<KemPreKey>, TestStoreError> {
        self.inner.kem_prekey(id).map_err(inner_err)
    }

    fn base_key_used(
        &self,
        signed_prekey_id: u32,
        base_key: &PublicKey,
    ) -> Result<bool, TestStoreError> {
        self.inner
            .base_key_used(signed_prekey_id, base_key)
            .map_err(inner_err)
    }

    fn session(&self, address: &Address) -> Result<Option<SessionRecord>, TestStoreError> {
        self.inner.session(address).map_err(inner_err)
    }

    fn commit(&mut self, changes: Changes) -> Result<(), TestStoreError> {
        if std::mem::take(&mut self.fail_next) {
            return Err(TestStoreError::CommitFailed);
        }
        self.inner.commit(changes).map_err(inner_err)
    }
}

// ---- Mirrors of the private protobuf records ------------------------------------------------
// Field numbers as in `src/wire/proto.rs` (normative, documented in docs/PROTOCOL.md).

pub mod proto {
    /// Stored identity key pair.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IdentityRecord {
        #[prost(bytes = "vec", tag = "1")]
        pub seed: Vec<u8>,
    }

    /// Stored X25519 prekey.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PreKeyRecord {
        #[prost(uint32, tag = "1")]
        pub id: u32,
        #[prost(bytes = "vec", tag = "2")]
        pub private_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub signature: Vec<u8>,
    }

    /// Stored ML-KEM-1024 prekey.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KemPreKeyRecord {
        #[prost(uint32, tag = "1")]
        pub id: u32,
        #[prost(bytes = "vec", tag = "2")]
        pub private_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub signature: Vec<u8>,
        #[prost(bool, tag = "4")]
        pub last_resort: bool,
    }

    /// A sending or receiving chain.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chain {
        #[prost(bytes = "vec", tag = "1")]
        pub ratchet_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub chain_key: Vec<u8>,
        #[prost(uint32, tag = "3")]
        pub index: u32,
        #[prost(bytes = "vec", tag = "4")]
        pub ratchet_private: Vec<u8>,
    }

    /// A skipped message key.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SkippedKey {
        #[prost(bytes = "vec", tag = "1")]
        pub ratchet_key: Vec<u8>,
        #[prost(uint32, tag = "2")]
        pub counter: u32,
        #[prost(bytes = "vec", tag = "3")]
        pub message_key: Vec<u8>,
    }

    /// Pending PreKey data.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PendingPreKey {
        #[prost(uint32, tag = "1")]
        pub signed_prekey_id: u32,
        #[prost(uint32, optional, tag = "2")]
        pub one_time_prekey_id: Option<u32>,
        #[prost(uint32, tag = "3")]
        pub kem_prekey_id: u32,
        #[prost(bytes = "vec", tag = "4")]
        pub kem_ciphertext: Vec<u8>,
    }

    /// One session.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Session {
        #[prost(bytes = "vec", tag = "1")]
        pub local_identity: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub remote_identity: Vec<u8>,
        #[prost(bool, tag = "3")]
        pub initiator: bool,
        #[prost(bytes = "vec", tag = "4")]
        pub base_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "5")]
        pub root_key: Vec<u8>,
        #[prost(message, optional, tag = "6")]
        pub sending_chain: Option<Chain>,
        #[prost(uint32, tag = "7")]
        pub previous_counter: u32,
        #[prost(message, repeated, tag = "8")]
        pub receiving_chains: Vec<Chain>,
        #[prost(message, repeated, tag = "9")]
        pub skipped_keys: Vec<SkippedKey>,
        #[prost(message, optional, tag = "10")]
        pub pending_prekey: Option<PendingPreKey>,
        #[prost(bytes = "vec", tag = "11")]
        pub setup_digest: Vec<u8>,
    }

    /// All sessions with one peer device.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SessionRecord {
        #[prost(message, optional, tag = "1")]
        pub current: Option<Session>,
        #[prost(message, repeated, tag = "2")]
        pub archived: Vec<Session>,
    }

    /// A published prekey bundle.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bundle {
        #[prost(bytes = "vec", tag = "1")]
        pub identity_key: Vec<u8>,
        #[prost(uint32, tag = "2")]
        pub device_id: u32,
        #[prost(uint32, tag = "3")]
        pub signed_prekey_id: u32,
        #[prost(bytes = "vec", tag = "4")]
        pub signed_prekey: Vec<u8>,
        #[prost(bytes = "vec", tag = "5")]
        pub signed_prekey_signature: Vec<u8>,
        #[prost(uint32, optional, tag = "6")]
        pub one_time_prekey_id: Option<u32>,
        #[prost(bytes = "vec", optional, tag = "7")]
        pub one_time_prekey: Option<Vec<u8>>,
        #[prost(uint32, tag = "8")]
        pub kem_prekey_id: u32,
        #[prost(bytes = "vec", tag = "9")]
        pub kem_prekey: Vec<u8>,
        #[prost(bytes = "vec", tag = "10")]
        pub kem_prekey_signature: Vec<u8>,
    }

    /// A Double Ratchet message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RatchetMessage {
        #[prost(bytes = "vec", tag = "1")]
        pub ratchet_key: Vec<u8>,
        #[prost(uint32, tag = "2")]
        pub previous_counter: u32,
        #[prost(uint32, tag = "3")]
        pub counter: u32,
        #[prost(bytes = "vec", tag = "4")]
        pub ciphertext: Vec<u8>,
    }

    /// A PreKey message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PreKeyMessage {
        #[prost(bytes = "vec", tag = "1")]
        pub identity_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub base_key: Vec<u8>,
        #[prost(uint32, tag = "3")]
        pub signed_prekey_id: u32,
        #[prost(uint32, optional, tag = "4")]
        pub one_time_prekey_id: Option<u32>,
        #[prost(bytes = "vec", tag = "5")]
        pub message: Vec<u8>,
        #[prost(uint32, tag = "6")]
        pub kem_prekey_id: u32,
        #[prost(bytes = "vec", tag = "7")]
        pub kem_ciphertext: Vec<u8>,
    }

    /// A peer identity remembered by the in-memory store.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PeerIdentity {
        #[prost(string, tag = "1")]
        pub user: String,
        #[prost(uint32, tag = "2")]
        pub device: u32,
        #[prost(bytes = "vec", tag = "3")]
        pub identity_key: Vec<u8>,
    }

    /// A base key already accepted under a signed prekey.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UsedBaseKey {
        #[prost(uint32, tag = "1")]
        pub signed_prekey_id: u32,
        #[prost(bytes = "vec", tag = "2")]
        pub base_key: Vec<u8>,
    }

    /// A session record kept by the in-memory store.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StoredSession {
        #[prost(string, tag = "1")]
        pub user: String,
        #[prost(uint32, tag = "2")]
        pub device: u32,
        #[prost(bytes = "vec", tag = "3")]
        pub record: Vec<u8>,
    }

    /// A snapshot of the in-memory store.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MemoryStore {
        #[prost(bytes = "vec", tag = "1")]
        pub identity: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub peers: Vec<PeerIdentity>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub signed_prekeys: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub one_time_prekeys: Vec<Vec<u8>>,
        #[prost(message, repeated, tag = "5")]
        pub used_base_keys: Vec<UsedBaseKey>,
        #[prost(message, repeated, tag = "6")]
        pub sessions: Vec<StoredSession>,
        #[prost(bytes = "vec", repeated, tag = "7")]
        pub kem_prekeys: Vec<Vec<u8>>,
    }

    /// Decode a serialized keylink structure (leading byte, then protobuf).
    pub fn decode<M: prost::Message + Default>(bytes: &[u8]) -> M {
        M::decode(&bytes[1..]).unwrap()
    }

    /// Encode with the given leading byte.
    pub fn encode<M: prost::Message>(leading: u8, msg: &M) -> Vec<u8> {
        let mut out = vec![leading];
        out.extend_from_slice(&msg.encode_to_vec());
        out
    }
}
