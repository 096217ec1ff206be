//! The protobuf messages of keylink v1. Private to the crate: every public type parses these
//! into validated values. Field numbers are normative and documented in `docs/PROTOCOL.md`.
//!
//! The messages that hold secrets (records, chains, skipped keys, the store snapshot) skip
//! prost's derived `Debug`, which would print every byte; theirs below names only public
//! counters and flags.

use core::fmt;

use zeroize::Zeroize;

/// A published prekey bundle.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Bundle {
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

/// A Double Ratchet message: the encrypted header and the body.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RatchetMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub enc_header: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// A PreKey message: session setup data plus the first ratchet message.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PreKeyMessage {
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

/// Stored identity key pair.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct IdentityRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub seed: Vec<u8>,
}

/// Stored account key pair (`AIK`).
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct AccountKeyRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub seed: Vec<u8>,
}

/// An account's signed device list (PROTOCOL.md §11.6).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DeviceList {
    #[prost(bytes = "vec", tag = "1")]
    pub account_key: Vec<u8>,
    #[prost(string, tag = "2")]
    pub phone: String,
    #[prost(uint64, tag = "3")]
    pub version: u64,
    #[prost(uint64, tag = "4")]
    pub issued_at: u64,
    #[prost(message, repeated, tag = "5")]
    pub devices: Vec<DeviceListEntry>,
    #[prost(bytes = "vec", tag = "6")]
    pub signature: Vec<u8>,
}

/// One device of a [`DeviceList`].
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DeviceListEntry {
    #[prost(uint32, tag = "1")]
    pub device_id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub identity_key: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub linked_at: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub account_signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub device_signature: Vec<u8>,
}

/// A device's prekey upkeep state (PROTOCOL.md §11.5).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PreKeyState {
    #[prost(message, optional, tag = "1")]
    pub current: Option<PreKeyGeneration>,
    #[prost(message, repeated, tag = "2")]
    pub retired: Vec<RetiredGeneration>,
    #[prost(uint32, tag = "3")]
    pub next_signed_prekey_id: u32,
    #[prost(uint32, tag = "4")]
    pub next_one_time_prekey_id: u32,
    #[prost(uint32, tag = "5")]
    pub next_kem_prekey_id: u32,
}

/// The signed and last-resort KEM prekey published together.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PreKeyGeneration {
    #[prost(uint32, tag = "1")]
    pub signed_prekey_id: u32,
    #[prost(uint32, tag = "2")]
    pub last_resort_kem_prekey_id: u32,
    #[prost(uint64, tag = "3")]
    pub created_at: u64,
}

/// A replaced generation, kept until `retired_at` + the grace period.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetiredGeneration {
    #[prost(message, optional, tag = "1")]
    pub generation: Option<PreKeyGeneration>,
    #[prost(uint64, tag = "2")]
    pub retired_at: u64,
    #[prost(uint32, tag = "3")]
    pub one_time_prekeys_below: u32,
    #[prost(uint32, tag = "4")]
    pub kem_prekeys_below: u32,
}

/// Stored X25519 prekey (signed or one-time).
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct PreKeyRecord {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub private_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
}

/// Stored ML-KEM-1024 prekey.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct KemPreKeyRecord {
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
#[prost(skip_debug)]
pub(crate) struct Chain {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub chain_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub index: u32,
    /// Only for the sending chain: the private half of `ratchet_key`.
    #[prost(bytes = "vec", tag = "4")]
    pub ratchet_private: Vec<u8>,
    /// Only for the receiving chain: `HKr`, as `hk_enc || hk_nonce`.
    #[prost(bytes = "vec", tag = "5")]
    pub header_key: Vec<u8>,
}

/// The skipped message keys of one chain, stored under its header key.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SkippedChain {
    /// `hk_enc || hk_nonce` of the chain's header key.
    #[prost(bytes = "vec", tag = "1")]
    pub header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub ratchet_key: Vec<u8>,
    /// Names the chain's key rows within the session.
    #[prost(uint64, tag = "3")]
    pub number: u64,
    /// How many of its keys are stored (at least one).
    #[prost(uint32, tag = "4")]
    pub count: u32,
}

/// A message key kept for a message that has not arrived yet, in a whole record.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SkippedKey {
    /// The base key of the session it belongs to.
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub chain: u64,
    #[prost(uint32, tag = "3")]
    pub counter: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub message_key: Vec<u8>,
}

/// The order of the sessions kept for one peer device.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SessionIndex {
    /// The current session's id (base key), or empty.
    #[prost(bytes = "vec", tag = "1")]
    pub current: Vec<u8>,
    /// The archived sessions' ids, 32 bytes each, most recently used first.
    #[prost(bytes = "vec", tag = "2")]
    pub archived: Vec<u8>,
}

/// What an initiator repeats in every PreKey message until the responder replies.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PendingPreKey {
    #[prost(uint32, tag = "1")]
    pub signed_prekey_id: u32,
    #[prost(uint32, optional, tag = "2")]
    pub one_time_prekey_id: Option<u32>,
    #[prost(uint32, tag = "3")]
    pub kem_prekey_id: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub kem_ciphertext: Vec<u8>,
}

/// One Double Ratchet session.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct Session {
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
    /// The current receiving chain (`DHr`, `CKr`, `HKr`), once there is one.
    #[prost(message, optional, tag = "8")]
    pub receiving_chain: Option<Chain>,
    /// Skipped message keys by chain, oldest chain first.
    #[prost(message, repeated, tag = "9")]
    pub skipped_chains: Vec<SkippedChain>,
    #[prost(message, optional, tag = "10")]
    pub pending_prekey: Option<PendingPreKey>,
    #[prost(bytes = "vec", tag = "11")]
    pub setup_digest: Vec<u8>,
    #[prost(bytes = "vec", tag = "12")]
    pub simultaneous_with: Vec<u8>,
    /// `HKs` (absent until the responder's first step), `NHKs`, `NHKr`: each as
    /// `hk_enc || hk_nonce`.
    #[prost(bytes = "vec", tag = "13")]
    pub send_header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "14")]
    pub next_send_header_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "15")]
    pub next_receive_header_key: Vec<u8>,
    /// The number the next chain with skipped keys gets.
    #[prost(uint64, tag = "16")]
    pub next_skipped_chain: u64,
    /// The highest device list version the peer's messages carried (§11.6); absent = 0.
    #[prost(uint64, tag = "17")]
    pub peer_list_version: u64,
}

/// All sessions with one peer device.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SessionRecord {
    #[prost(message, optional, tag = "1")]
    pub current: Option<Session>,
    #[prost(message, repeated, tag = "2")]
    pub archived: Vec<Session>,
    /// Every stored skipped message key of these sessions, in ascending
    /// (session, chain, counter) order.
    #[prost(message, repeated, tag = "3")]
    pub skipped_keys: Vec<SkippedKey>,
}

/// A peer identity remembered by the in-memory store.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PeerIdentity {
    #[prost(string, tag = "1")]
    pub user: String,
    #[prost(uint32, tag = "2")]
    pub device: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub identity_key: Vec<u8>,
}

/// A peer account key remembered by the in-memory store, by phone number.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PeerAccount {
    /// The E.164 form, `+` included.
    #[prost(string, tag = "1")]
    pub phone: String,
    #[prost(bytes = "vec", tag = "2")]
    pub account_key: Vec<u8>,
}

/// A base key already accepted under a signed prekey.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct UsedBaseKey {
    #[prost(uint32, tag = "1")]
    pub signed_prekey_id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub base_key: Vec<u8>,
}

/// A session record kept by the in-memory store.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct StoredSession {
    #[prost(string, tag = "1")]
    pub user: String,
    #[prost(uint32, tag = "2")]
    pub device: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub record: Vec<u8>,
}

/// A snapshot of the in-memory store. Nested records are the complete serialized records,
/// each with its own leading byte.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct MemoryStore {
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
    /// The prekey upkeep state record (§11.5), empty if there is none.
    #[prost(bytes = "vec", tag = "9")]
    pub prekey_state: Vec<u8>,
    #[prost(message, repeated, tag = "8")]
    pub peer_accounts: Vec<PeerAccount>,
    /// The device lists accepted, each a device list record (§11.6), by phone number.
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub device_lists: Vec<Vec<u8>>,
    /// The phone number of this device's own account (E.164), empty if there is none.
    #[prost(string, tag = "11")]
    pub local_account: String,
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        self.identity.zeroize();
        self.signed_prekeys.iter_mut().for_each(Zeroize::zeroize);
        self.one_time_prekeys.iter_mut().for_each(Zeroize::zeroize);
        self.kem_prekeys.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// Zeroize the secret fields of the record messages once they are dropped.
macro_rules! zeroize_on_drop {
    ($($ty:ident: $($field:ident),+;)+) => {$(
        impl Drop for $ty {
            fn drop(&mut self) {
                $(self.$field.zeroize();)+
            }
        }
    )+};
}

zeroize_on_drop! {
    IdentityRecord: seed;
    AccountKeyRecord: seed;
    PreKeyRecord: private_key;
    KemPreKeyRecord: private_key;
    Chain: chain_key, ratchet_private, header_key;
    SkippedChain: header_key;
    SkippedKey: message_key;
    Session: root_key, send_header_key, next_send_header_key, next_receive_header_key;
    StoredSession: record;
    LinkAccountPayload: history_key;
    SenderKeyDistribution: chain_key;
    SenderKeyRecord: chain_key, signing_seed;
    InboundSenderKeyRecord: chain_key;
    SenderSkippedKey: message_key;
}

/// A `Debug` for the secret-holding messages that prints the named public fields and
/// nothing else.
macro_rules! redacted_debug {
    ($($ty:ident: $($field:ident),*;)+) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    )+};
}

redacted_debug! {
    IdentityRecord: ;
    AccountKeyRecord: ;
    PreKeyRecord: id;
    KemPreKeyRecord: id, last_resort;
    Chain: index;
    SkippedChain: ;
    SkippedKey: counter;
    Session: initiator, previous_counter;
    SessionRecord: ;
    StoredSession: device;
    MemoryStore: ;
    LinkAccountPayload: device_id, linked_at;
    SenderKeyDistribution: iteration, list_version;
    SenderKeyRecord: iteration, list_version;
    InboundSenderKeyRecord: iteration, list_version;
    SenderSkippedKey: iteration;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A byte no public field below holds, so its decimal or hex form in the output can
    /// only come from a secret.
    const SECRET: u8 = 0xC3;

    fn secret(len: usize) -> Vec<u8> {
        vec![SECRET; len]
    }

    fn chain() -> Chain {
        Chain {
            ratchet_key: secret(32),
            chain_key: secret(32),
            index: 7,
            ratchet_private: secret(32),
            header_key: secret(64),
        }
    }

    fn session() -> Session {
        let mut session = Session::default();
        session.local_identity = secret(32);
        session.remote_identity = secret(32);
        session.base_key = secret(32);
        session.root_key = secret(32);
        session.sending_chain = Some(chain());
        session.previous_counter = 2;
        session.setup_digest = secret(32);
        session.receiving_chain = Some(chain());
        session.send_header_key = secret(64);
        session.next_send_header_key = secret(64);
        session.next_receive_header_key = secret(64);
        session.skipped_chains.push(SkippedChain {
            header_key: secret(64),
            ratchet_key: secret(32),
            number: 0,
            count: 1,
        });
        session
    }

    fn assert_redacted(debug: String) {
        let lower = debug.to_lowercase();
        assert!(!lower.contains("195"), "{debug}");
        assert!(!lower.contains("c3"), "{debug}");
    }

    #[test]
    fn debug_of_secret_messages_prints_no_secret_bytes() {
        assert_redacted(format!("{:?}", IdentityRecord { seed: secret(32) }));
        assert_redacted(format!(
            "{:?}",
            PreKeyRecord {
                id: 1,
                private_key: secret(32),
                signature: secret(64),
            }
        ));
        assert_redacted(format!(
            "{:?}",
            KemPreKeyRecord {
                id: 1,
                private_key: secret(3168),
                signature: secret(64),
                last_resort: true,
            }
        ));
        assert_redacted(format!("{:?}", chain()));
        assert_redacted(format!("{:?}", session().skipped_chains));
        assert_redacted(format!("{:?}", session()));
        assert_redacted(format!(
            "{:?}",
            SessionRecord {
                current: Some(session()),
                archived: vec![session()],
                skipped_keys: vec![SkippedKey {
                    session: secret(32),
                    chain: 0,
                    counter: 3,
                    message_key: secret(32),
                }],
            }
        ));
        assert_redacted(format!(
            "{:?}",
            StoredSession {
                user: "alice".into(),
                device: 1,
                record: secret(200),
            }
        ));
        let mut store = MemoryStore::default();
        store.identity = secret(40);
        store.signed_prekeys.push(secret(40));
        store.one_time_prekeys.push(secret(40));
        store.kem_prekeys.push(secret(3200));
        store.sessions.push(StoredSession {
            user: "bob".into(),
            device: 2,
            record: secret(200),
        });
        assert_redacted(format!("{store:?}"));
    }

    #[test]
    fn debug_keeps_the_public_counters() {
        assert_eq!(format!("{:?}", chain()), "Chain { index: 7, .. }");
        assert_eq!(
            format!("{:?}", session()),
            "Session { initiator: false, previous_counter: 2, .. }"
        );
    }
}

/// The new companion's first link message (PROTOCOL.md §12.3). The CPace fields and the
/// ephemeral key are present in the typed-code flow only (the QR code carries `E_C`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LinkHello {
    #[prost(bytes = "vec", tag = "1")]
    pub sid: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub cpace_share: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ephemeral: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub kem_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub identity_key: Vec<u8>,
}

/// The primary's answer to a [`LinkHello`]; `cpace_share` (`Yb`) in the typed-code flow only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LinkReply {
    #[prost(bytes = "vec", tag = "1")]
    pub cpace_share: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub ephemeral: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub kem_ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub confirmation: Vec<u8>,
}

/// The companion's key confirmation.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LinkConfirm {
    #[prost(bytes = "vec", tag = "1")]
    pub confirmation: Vec<u8>,
}

/// An encrypted link payload (the account payload, or the device signature).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LinkSealed {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
}

/// The plaintext of the primary's account payload (holds the history key).
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct LinkAccountPayload {
    #[prost(bytes = "vec", tag = "1")]
    pub account_key: Vec<u8>,
    #[prost(string, tag = "2")]
    pub phone: String,
    #[prost(uint32, tag = "3")]
    pub device_id: u32,
    #[prost(uint64, tag = "4")]
    pub linked_at: u64,
    #[prost(bytes = "vec", tag = "5")]
    pub account_signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub history_key: Vec<u8>,
}

/// A sender-key distribution (PROTOCOL.md §13.1); holds the chain key.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SenderKeyDistribution {
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

/// A group message (PROTOCOL.md §13.2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SenderKeyMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub distribution_id: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub ciphertext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

/// The sender's own sending state (PROTOCOL.md §13.3); holds the chain key and signing seed.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SenderKeyRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub distribution_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub group_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "4")]
    pub chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub signing_seed: Vec<u8>,
    #[prost(uint64, tag = "6")]
    pub list_version: u64,
}

/// A receiver's state of one sender's distribution (PROTOCOL.md §13.3).
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct InboundSenderKeyRecord {
    #[prost(bytes = "vec", tag = "1")]
    pub distribution_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub group_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub sender_identity: Vec<u8>,
    #[prost(uint32, tag = "4")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "5")]
    pub chain_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub signing_key: Vec<u8>,
    #[prost(uint64, tag = "7")]
    pub list_version: u64,
    #[prost(message, repeated, tag = "8")]
    pub skipped: Vec<SenderSkippedKey>,
}

/// One stored message key of a sender-key chain.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct SenderSkippedKey {
    #[prost(uint32, tag = "1")]
    pub iteration: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub message_key: Vec<u8>,
}
