//! A second, hand-written copy of the private protobuf records in `src/wire/proto.rs`, with the
//! field numbers that docs/PROTOCOL.md makes normative. Kept on purpose as an independent check:
//! the library encodes and decodes with one set of structs, so renumbering a field there would
//! round-trip fine and go unnoticed; the tests that decode stored records and wire messages with
//! these mirrors (to craft bad bundles, or to find secrets in Debug output) fail instead.

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
    #[prost(bytes = "vec", tag = "5")]
    pub header_key: Vec<u8>,
}

/// The skipped message keys of one chain, under its header key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SkippedChain {
    #[prost(bytes = "vec", tag = "1")]
    pub header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub ratchet_key: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub number: u64,
    #[prost(uint32, tag = "4")]
    pub count: u32,
}

/// A skipped message key of a whole record.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SkippedKey {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub chain: u64,
    #[prost(uint32, tag = "3")]
    pub counter: u32,
    #[prost(bytes = "vec", tag = "4")]
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
    #[prost(message, optional, tag = "8")]
    pub receiving_chain: Option<Chain>,
    #[prost(message, repeated, tag = "9")]
    pub skipped_chains: Vec<SkippedChain>,
    #[prost(message, optional, tag = "10")]
    pub pending_prekey: Option<PendingPreKey>,
    #[prost(bytes = "vec", tag = "11")]
    pub setup_digest: Vec<u8>,
    #[prost(bytes = "vec", tag = "12")]
    pub simultaneous_with: Vec<u8>,
    #[prost(bytes = "vec", tag = "13")]
    pub send_header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "14")]
    pub next_send_header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "15")]
    pub next_receive_header_key: Vec<u8>,
    #[prost(uint64, tag = "16")]
    pub next_skipped_chain: u64,
}

/// All sessions with one peer device.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionRecord {
    #[prost(message, optional, tag = "1")]
    pub current: Option<Session>,
    #[prost(message, repeated, tag = "2")]
    pub archived: Vec<Session>,
    #[prost(message, repeated, tag = "3")]
    pub skipped_keys: Vec<SkippedKey>,
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
    pub enc_header: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
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

/// A sender-key distribution (PROTOCOL.md §13.1), after `0x17 0x10`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyDistribution {
    #[prost(bytes = "vec", tag = "1")]
    pub distribution_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub group_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub signing_key: Vec<u8>,
    #[prost(uint64, tag = "6")]
    pub list_version: u64,
}

/// A group message (PROTOCOL.md §13.2), after `0x17 0x11`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub distribution_id: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}
