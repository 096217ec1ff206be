//! A hand-written strict codec for the session row (`Kind::Session`, a [`proto::Session`]
//! body), the structure a store reads and writes on every message.
//!
//! Its bytes are exactly prost's: the reader accepts exactly the canonical encodings that
//! [`super::decode`] accepts and the writer produces exactly what [`super::encode_secret`]
//! produces (both checked against prost in the tests below). What it saves is the decoding
//! into a `Vec` per field, the re-encoding for the canonicity check and the `proto::Session`
//! full of fresh `Vec`s on the way out: the reader borrows every field from the row, the writer
//! fills one buffer whose length it computed first.
//!
//! Both codecs meet in [`SessionFields`], the fields of a stored session borrowed from
//! wherever they are (a row, a decoded [`proto::Session`] of a whole record, or a live
//! session). The session and the ratchet build themselves from it, and describe themselves
//! as one, so every field check is made in one place whichever codec read the bytes.

use zeroize::{Zeroize, Zeroizing};

use super::strict::Reader;
use super::{Kind, proto};
use crate::error::{Error, Result};

/// The fields of a stored session, borrowed. Empty slices, `0` and `false` stand for absent
/// fields, as in proto3.
pub(crate) struct SessionFields<'a> {
    pub(crate) local_identity: &'a [u8],
    pub(crate) remote_identity: &'a [u8],
    pub(crate) initiator: bool,
    pub(crate) base_key: &'a [u8],
    pub(crate) ratchet: RatchetState<'a>,
    pub(crate) pending_prekey: Option<PendingFields<'a>>,
    pub(crate) setup_digest: &'a [u8],
    pub(crate) simultaneous_with: &'a [u8],
    /// The highest device list version the peer's messages carried (field 17).
    pub(crate) peer_list_version: u64,
}

/// The ratchet's fields of a stored session.
pub(crate) struct RatchetState<'a> {
    pub(crate) root_key: &'a [u8],
    pub(crate) sending_chain: Option<ChainFields<'a>>,
    pub(crate) previous_counter: u32,
    pub(crate) receiving_chain: Option<ChainFields<'a>>,
    /// Oldest chain first.
    pub(crate) skipped_chains: Vec<SkippedChainFields<'a>>,
    pub(crate) send_header_key: &'a [u8],
    pub(crate) next_send_header_key: &'a [u8],
    pub(crate) next_receive_header_key: &'a [u8],
    pub(crate) next_skipped_chain: u64,
}

/// A stored sending or receiving chain ([`proto::Chain`]).
#[derive(Default)]
pub(crate) struct ChainFields<'a> {
    pub(crate) ratchet_key: &'a [u8],
    pub(crate) chain_key: &'a [u8],
    pub(crate) index: u32,
    pub(crate) ratchet_private: &'a [u8],
    pub(crate) header_key: &'a [u8],
}

/// The ledger entry of one chain's skipped keys ([`proto::SkippedChain`]).
pub(crate) struct SkippedChainFields<'a> {
    pub(crate) header_key: &'a [u8],
    pub(crate) ratchet_key: &'a [u8],
    pub(crate) number: u64,
    pub(crate) count: u32,
}

/// What an initiator repeats until the first reply ([`proto::PendingPreKey`]).
pub(crate) struct PendingFields<'a> {
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
    pub(crate) kem_prekey_id: u32,
    pub(crate) kem_ciphertext: &'a [u8],
}

// ---- From and to prost's messages (sessions nested in a whole record) ----------------------

impl<'a> SessionFields<'a> {
    /// The fields of a session decoded by prost, borrowed from it.
    pub(crate) fn from_proto(s: &'a proto::Session) -> Self {
        SessionFields {
            local_identity: &s.local_identity,
            remote_identity: &s.remote_identity,
            initiator: s.initiator,
            base_key: &s.base_key,
            ratchet: RatchetState::from_proto(s),
            pending_prekey: s.pending_prekey.as_ref().map(|p| PendingFields {
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                kem_prekey_id: p.kem_prekey_id,
                kem_ciphertext: &p.kem_ciphertext,
            }),
            setup_digest: &s.setup_digest,
            simultaneous_with: &s.simultaneous_with,
            peer_list_version: s.peer_list_version,
        }
    }

    /// The prost message with these fields.
    pub(crate) fn to_proto(&self) -> proto::Session {
        let mut out = proto::Session::default();
        out.local_identity = self.local_identity.to_vec();
        out.remote_identity = self.remote_identity.to_vec();
        out.initiator = self.initiator;
        out.base_key = self.base_key.to_vec();
        out.pending_prekey = self.pending_prekey.as_ref().map(|p| proto::PendingPreKey {
            signed_prekey_id: p.signed_prekey_id,
            one_time_prekey_id: p.one_time_prekey_id,
            kem_prekey_id: p.kem_prekey_id,
            kem_ciphertext: p.kem_ciphertext.to_vec(),
        });
        out.setup_digest = self.setup_digest.to_vec();
        out.simultaneous_with = self.simultaneous_with.to_vec();
        out.peer_list_version = self.peer_list_version;
        self.ratchet.write_proto(&mut out);
        out
    }
}

impl<'a> RatchetState<'a> {
    /// The ratchet fields of a session decoded by prost, borrowed from it.
    pub(crate) fn from_proto(s: &'a proto::Session) -> Self {
        RatchetState {
            root_key: &s.root_key,
            sending_chain: s.sending_chain.as_ref().map(ChainFields::from_proto),
            previous_counter: s.previous_counter,
            receiving_chain: s.receiving_chain.as_ref().map(ChainFields::from_proto),
            skipped_chains: (s.skipped_chains.iter())
                .map(|c| SkippedChainFields {
                    header_key: &c.header_key,
                    ratchet_key: &c.ratchet_key,
                    number: c.number,
                    count: c.count,
                })
                .collect(),
            send_header_key: &s.send_header_key,
            next_send_header_key: &s.next_send_header_key,
            next_receive_header_key: &s.next_receive_header_key,
            next_skipped_chain: s.next_skipped_chain,
        }
    }

    /// Set the ratchet fields of `out`.
    pub(crate) fn write_proto(&self, out: &mut proto::Session) {
        out.root_key = self.root_key.to_vec();
        out.sending_chain = self.sending_chain.as_ref().map(ChainFields::to_proto);
        out.previous_counter = self.previous_counter;
        out.receiving_chain = self.receiving_chain.as_ref().map(ChainFields::to_proto);
        out.skipped_chains = (self.skipped_chains.iter())
            .map(|c| proto::SkippedChain {
                header_key: c.header_key.to_vec(),
                ratchet_key: c.ratchet_key.to_vec(),
                number: c.number,
                count: c.count,
            })
            .collect();
        out.send_header_key = self.send_header_key.to_vec();
        out.next_send_header_key = self.next_send_header_key.to_vec();
        out.next_receive_header_key = self.next_receive_header_key.to_vec();
        out.next_skipped_chain = self.next_skipped_chain;
    }
}

impl<'a> ChainFields<'a> {
    fn from_proto(c: &'a proto::Chain) -> Self {
        ChainFields {
            ratchet_key: &c.ratchet_key,
            chain_key: &c.chain_key,
            index: c.index,
            ratchet_private: &c.ratchet_private,
            header_key: &c.header_key,
        }
    }

    fn to_proto(&self) -> proto::Chain {
        proto::Chain {
            ratchet_key: self.ratchet_key.to_vec(),
            chain_key: self.chain_key.to_vec(),
            index: self.index,
            ratchet_private: self.ratchet_private.to_vec(),
            header_key: self.header_key.to_vec(),
        }
    }
}

// ---- Reader ---------------------------------------------------------------------------------

/// Parse a session row (leading byte included), borrowing every field from it. Encoding
/// errors are the ones [`super::decode`] reports; the fields are checked by whoever builds
/// a session from them.
pub(crate) fn read(bytes: &[u8]) -> Result<SessionFields<'_>> {
    let body = super::body(Kind::Session, bytes)?;
    session(body).ok_or(Error::Malformed(Kind::Session.name()))
}

/// Keys (tag and wire type) of the fields of `proto::Session`; all length-delimited but
/// `initiator` (3), `previous_counter` (7), `next_skipped_chain` (16, two bytes) and
/// `peer_list_version` (17, two bytes).
mod key {
    pub(super) const LOCAL_IDENTITY: &[u8] = &[0x0A];
    pub(super) const REMOTE_IDENTITY: &[u8] = &[0x12];
    pub(super) const INITIATOR: &[u8] = &[0x18];
    pub(super) const BASE_KEY: &[u8] = &[0x22];
    pub(super) const ROOT_KEY: &[u8] = &[0x2A];
    pub(super) const SENDING_CHAIN: &[u8] = &[0x32];
    pub(super) const PREVIOUS_COUNTER: &[u8] = &[0x38];
    pub(super) const RECEIVING_CHAIN: &[u8] = &[0x42];
    pub(super) const SKIPPED_CHAIN: &[u8] = &[0x4A];
    pub(super) const PENDING_PREKEY: &[u8] = &[0x52];
    pub(super) const SETUP_DIGEST: &[u8] = &[0x5A];
    pub(super) const SIMULTANEOUS_WITH: &[u8] = &[0x62];
    pub(super) const SEND_HEADER_KEY: &[u8] = &[0x6A];
    pub(super) const NEXT_SEND_HEADER_KEY: &[u8] = &[0x72];
    pub(super) const NEXT_RECEIVE_HEADER_KEY: &[u8] = &[0x7A];
    pub(super) const NEXT_SKIPPED_CHAIN: &[u8] = &[0x80, 0x01];
    pub(super) const PEER_LIST_VERSION: &[u8] = &[0x88, 0x01];

    /// Fields 1 to 5 of a nested message, length-delimited (`b`) or varint (`v`).
    pub(super) const B1: &[u8] = &[0x0A];
    pub(super) const B2: &[u8] = &[0x12];
    pub(super) const V1: &[u8] = &[0x08];
    pub(super) const V2: &[u8] = &[0x10];
    pub(super) const V3: &[u8] = &[0x18];
    pub(super) const V4: &[u8] = &[0x20];
    pub(super) const B4: &[u8] = &[0x22];
    pub(super) const B5: &[u8] = &[0x2A];
}

/// Every field at most once (`skipped_chains` consecutively), in ascending order, defaults
/// left out, and nothing after the last.
fn session(body: &[u8]) -> Option<SessionFields<'_>> {
    let mut r = Reader::new(body);
    let local_identity = r.bytes_field(key::LOCAL_IDENTITY)?;
    let remote_identity = r.bytes_field(key::REMOTE_IDENTITY)?;
    let initiator = r.bool_field(key::INITIATOR)?;
    let base_key = r.bytes_field(key::BASE_KEY)?;
    let root_key = r.bytes_field(key::ROOT_KEY)?;
    let sending_chain = r.message_field(key::SENDING_CHAIN, chain)?;
    let previous_counter = r.u32_field(key::PREVIOUS_COUNTER)?;
    let receiving_chain = r.message_field(key::RECEIVING_CHAIN, chain)?;
    let mut skipped_chains = Vec::new();
    while let Some(c) = r.message_field(key::SKIPPED_CHAIN, skipped_chain)? {
        skipped_chains.push(c);
    }
    let pending_prekey = r.message_field(key::PENDING_PREKEY, pending)?;
    let setup_digest = r.bytes_field(key::SETUP_DIGEST)?;
    let simultaneous_with = r.bytes_field(key::SIMULTANEOUS_WITH)?;
    let ratchet = RatchetState {
        root_key,
        sending_chain,
        previous_counter,
        receiving_chain,
        skipped_chains,
        send_header_key: r.bytes_field(key::SEND_HEADER_KEY)?,
        next_send_header_key: r.bytes_field(key::NEXT_SEND_HEADER_KEY)?,
        next_receive_header_key: r.bytes_field(key::NEXT_RECEIVE_HEADER_KEY)?,
        next_skipped_chain: r.u64_field(key::NEXT_SKIPPED_CHAIN)?,
    };
    let peer_list_version = r.u64_field(key::PEER_LIST_VERSION)?;
    r.is_empty().then_some(SessionFields {
        local_identity,
        remote_identity,
        initiator,
        base_key,
        ratchet,
        pending_prekey,
        setup_digest,
        simultaneous_with,
        peer_list_version,
    })
}

fn chain(body: &[u8]) -> Option<ChainFields<'_>> {
    let mut r = Reader::new(body);
    let fields = ChainFields {
        ratchet_key: r.bytes_field(key::B1)?,
        chain_key: r.bytes_field(key::B2)?,
        index: r.u32_field(key::V3)?,
        ratchet_private: r.bytes_field(key::B4)?,
        header_key: r.bytes_field(key::B5)?,
    };
    r.is_empty().then_some(fields)
}

fn skipped_chain(body: &[u8]) -> Option<SkippedChainFields<'_>> {
    let mut r = Reader::new(body);
    let fields = SkippedChainFields {
        header_key: r.bytes_field(key::B1)?,
        ratchet_key: r.bytes_field(key::B2)?,
        number: r.u64_field(key::V3)?,
        count: r.u32_field(key::V4)?,
    };
    r.is_empty().then_some(fields)
}

fn pending(body: &[u8]) -> Option<PendingFields<'_>> {
    let mut r = Reader::new(body);
    let fields = PendingFields {
        signed_prekey_id: r.u32_field(key::V1)?,
        one_time_prekey_id: r.optional_u32_field(key::V2)?,
        kem_prekey_id: r.u32_field(key::V3)?,
        kem_ciphertext: r.bytes_field(key::B4)?,
    };
    r.is_empty().then_some(fields)
}

// ---- Writer ---------------------------------------------------------------------------------

/// The session row of `fields` (leading byte included), in one buffer of exactly its length.
pub(crate) fn write(fields: &SessionFields<'_>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    write_into(fields, &mut out);
    out
}

/// [`write`] into `out`, replacing what it held: its old contents are zeroized first, and
/// its buffer is reused when it is large enough (a store rewriting a session's row).
pub(crate) fn write_into(fields: &SessionFields<'_>, out: &mut Vec<u8>) {
    let mut len = Count(1);
    fields.encode(&mut len);
    out.zeroize();
    out.reserve_exact(len.0);
    out.push(Kind::Session.leading_byte());
    fields.encode(out);
}

/// Where an encoding goes: a buffer, or a count of its length.
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn varint(&mut self, mut value: u64) {
        if let Ok(byte @ 0..0x80) = u8::try_from(value) {
            return self.put(&[byte]);
        }
        let mut buf = [0u8; 10];
        let mut len = 0;
        for slot in &mut buf {
            len += 1;
            let low = (value & 0x7F) as u8;
            value >>= 7;
            if value == 0 {
                *slot = low;
                break;
            }
            *slot = low | 0x80;
        }
        if let Some(encoded) = buf.get(..len) {
            self.put(encoded);
        }
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        match bytes {
            // Keys and short varints: a push, not a call to `memcpy`.
            [byte] => self.push(*byte),
            _ => self.extend_from_slice(bytes),
        }
    }
}

/// The length of what would be written.
struct Count(usize);

impl Sink for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    fn varint(&mut self, value: u64) {
        // One byte per started group of 7 significant bits (at least one).
        self.0 += (64 - (value | 1).leading_zeros() as usize).div_ceil(7);
    }
}

/// A message that writes itself as prost does: fields in order, defaults left out.
trait Encode {
    fn encode<S: Sink>(&self, out: &mut S);
}

fn bytes_field<S: Sink>(out: &mut S, key: &[u8], value: &[u8]) {
    if !value.is_empty() {
        out.put(key);
        out.varint(value.len() as u64);
        out.put(value);
    }
}

fn varint_field<S: Sink>(out: &mut S, key: &[u8], value: u64) {
    if value != 0 {
        out.put(key);
        out.varint(value);
    }
}

fn message_field<S: Sink, M: Encode>(out: &mut S, key: &[u8], message: &M) {
    let mut len = Count(0);
    message.encode(&mut len);
    out.put(key);
    out.varint(len.0 as u64);
    message.encode(out);
}

impl Encode for SessionFields<'_> {
    fn encode<S: Sink>(&self, out: &mut S) {
        let r = &self.ratchet;
        bytes_field(out, key::LOCAL_IDENTITY, self.local_identity);
        bytes_field(out, key::REMOTE_IDENTITY, self.remote_identity);
        varint_field(out, key::INITIATOR, self.initiator.into());
        bytes_field(out, key::BASE_KEY, self.base_key);
        bytes_field(out, key::ROOT_KEY, r.root_key);
        if let Some(c) = &r.sending_chain {
            message_field(out, key::SENDING_CHAIN, c);
        }
        varint_field(out, key::PREVIOUS_COUNTER, r.previous_counter.into());
        if let Some(c) = &r.receiving_chain {
            message_field(out, key::RECEIVING_CHAIN, c);
        }
        for c in &r.skipped_chains {
            message_field(out, key::SKIPPED_CHAIN, c);
        }
        if let Some(p) = &self.pending_prekey {
            message_field(out, key::PENDING_PREKEY, p);
        }
        bytes_field(out, key::SETUP_DIGEST, self.setup_digest);
        bytes_field(out, key::SIMULTANEOUS_WITH, self.simultaneous_with);
        bytes_field(out, key::SEND_HEADER_KEY, r.send_header_key);
        bytes_field(out, key::NEXT_SEND_HEADER_KEY, r.next_send_header_key);
        bytes_field(out, key::NEXT_RECEIVE_HEADER_KEY, r.next_receive_header_key);
        varint_field(out, key::NEXT_SKIPPED_CHAIN, r.next_skipped_chain);
        varint_field(out, key::PEER_LIST_VERSION, self.peer_list_version);
    }
}

impl Encode for ChainFields<'_> {
    fn encode<S: Sink>(&self, out: &mut S) {
        bytes_field(out, key::B1, self.ratchet_key);
        bytes_field(out, key::B2, self.chain_key);
        varint_field(out, key::V3, self.index.into());
        bytes_field(out, key::B4, self.ratchet_private);
        bytes_field(out, key::B5, self.header_key);
    }
}

impl Encode for SkippedChainFields<'_> {
    fn encode<S: Sink>(&self, out: &mut S) {
        bytes_field(out, key::B1, self.header_key);
        bytes_field(out, key::B2, self.ratchet_key);
        varint_field(out, key::V3, self.number);
        varint_field(out, key::V4, self.count.into());
    }
}

impl Encode for PendingFields<'_> {
    fn encode<S: Sink>(&self, out: &mut S) {
        varint_field(out, key::V1, self.signed_prekey_id.into());
        // Proto3 `optional`: written whenever present, even as 0.
        if let Some(id) = self.one_time_prekey_id {
            out.put(key::V2);
            out.varint(id.into());
        }
        varint_field(out, key::V3, self.kem_prekey_id.into());
        bytes_field(out, key::B4, self.kem_ciphertext);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, OneTimePreKeyId, SignedPreKey};
    use crate::session::{PreKeyIds, Session};
    use crate::store::ops::local_identity;
    use crate::store::{Address, MemoryStore, prekeys};
    use crate::wire;

    // ---- Real sessions, through the public API ----

    fn device(seed: u8) -> MemoryStore {
        let rng = &mut crate::os_rng();
        let identity = IdentityKeyPair::from_seed(&[seed; 32]);
        let mut store = MemoryStore::new(identity.clone());
        store.add_signed_prekey(SignedPreKey::generate(1, &identity, rng));
        store.add_one_time_prekeys(OneTimePreKey::generate_batch(0, 3, rng));
        store.add_kem_prekeys([KemPreKey::generate(1, &identity, rng)]);
        store
    }

    fn addr(name: &str) -> Address {
        Address::new(name, 1)
    }

    /// `from` starts a session with `to`, with one-time prekey `one_time` if given.
    fn start(from: &mut MemoryStore, to: &MemoryStore, to_name: &str, one_time: Option<u32>) {
        let ids = PreKeyIds {
            signed: 1.into(),
            one_time: one_time.map(OneTimePreKeyId::new),
            kem: 1.into(),
        };
        let identity = local_identity(to).unwrap();
        let bundle = prekeys::bundle(to, &identity, 1.into(), ids).unwrap();
        let bundle = bundle.verify().unwrap();
        crate::start_session(from, &addr(to_name), &bundle, &mut crate::os_rng()).unwrap();
    }

    fn send(from: &mut MemoryStore, to_name: &str) -> Vec<u8> {
        crate::encrypt(from, &addr(to_name), b"row")
            .unwrap()
            .to_bytes()
    }

    fn receive(to: &mut MemoryStore, from_name: &str, message: &[u8]) {
        crate::decrypt(to, &addr(from_name), message, &mut crate::os_rng()).unwrap();
    }

    /// The rows of every session `store` holds with `peer`.
    fn rows(store: &MemoryStore, peer: &str, out: &mut Vec<Vec<u8>>) {
        let record = store.session_record(&addr(peer)).unwrap();
        let sessions = record.current().into_iter().chain(record.archived());
        out.extend(sessions.map(|s| s.to_bytes().to_vec()));
    }

    /// Rows of sessions in many states: initiators before and after the reply (pending PreKey
    /// with one-time prekey 0, 2 or none), responders, 1 to 5 chains of skipped keys, and
    /// sessions marked simultaneous.
    fn sample_rows() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for one_time in [Some(0), Some(2), None] {
            let (mut alice, mut bob) = (device(0xA1), device(0xB0));
            start(&mut alice, &bob, "bob", one_time);
            rows(&alice, "bob", &mut out);
            let first = send(&mut alice, "bob");
            rows(&alice, "bob", &mut out);
            receive(&mut bob, "alice", &first);
            rows(&bob, "alice", &mut out);
            let reply = send(&mut bob, "alice");
            receive(&mut alice, "bob", &reply);
            rows(&alice, "bob", &mut out);
            rows(&bob, "alice", &mut out);
        }
        // Bob skips one message on each of Alice's chains: 1 to 5 chains of skipped keys
        // (and Alice's sending chains far from message 0).
        let (mut alice, mut bob) = (device(0xA1), device(0xB0));
        start(&mut alice, &bob, "bob", Some(1));
        for _ in 0..5 {
            let _skipped = send(&mut alice, "bob");
            let next = send(&mut alice, "bob");
            receive(&mut bob, "alice", &next);
            rows(&bob, "alice", &mut out);
            let reply = send(&mut bob, "alice");
            receive(&mut alice, "bob", &reply);
            rows(&alice, "bob", &mut out);
        }
        // Both start at once: each ends with two sessions, marked simultaneous.
        let (mut alice, mut bob) = (device(0xA1), device(0xB0));
        start(&mut alice, &bob, "bob", Some(1));
        start(&mut bob, &alice, "alice", Some(1));
        let (from_alice, from_bob) = (send(&mut alice, "bob"), send(&mut bob, "alice"));
        receive(&mut bob, "alice", &from_alice);
        receive(&mut alice, "bob", &from_bob);
        rows(&alice, "bob", &mut out);
        rows(&bob, "alice", &mut out);
        out
    }

    // ---- The two paths ----

    /// The old path: prost's strict decoding, then the session's checks.
    fn via_prost(bytes: &[u8]) -> Result<Session> {
        Session::from_bytes_via_prost(bytes)
    }

    /// Both paths accept `bytes` and agree on what it holds, or both reject it alike.
    fn assert_paths_agree(bytes: &[u8]) {
        match (Session::from_bytes(bytes), via_prost(bytes)) {
            (Ok(ours), Ok(prost)) => {
                assert_eq!(*ours.to_bytes(), *prost.to_bytes(), "{bytes:02x?}");
                assert_eq!(*ours.to_bytes(), bytes);
            }
            (Err(ours), Err(prost)) => {
                assert_eq!(format!("{ours:?}"), format!("{prost:?}"), "{bytes:02x?}");
            }
            (ours, prost) => panic!("{:?} vs {:?}: {bytes:02x?}", ours.err(), prost.err()),
        }
    }

    /// Only the encoding: the hand reader's fields, in prost's message, against prost's.
    fn assert_codecs_agree(bytes: &[u8]) {
        let ours = read(bytes).map(|f| f.to_proto());
        let prost = wire::decode::<proto::Session>(Kind::Session, bytes);
        match (ours, prost) {
            (Ok(ours), Ok(prost)) => assert!(ours == prost, "{bytes:02x?}"),
            (Err(ours), Err(prost)) => {
                assert_eq!(format!("{ours:?}"), format!("{prost:?}"), "{bytes:02x?}");
            }
            (ours, prost) => panic!("{:?} vs {:?}: {bytes:02x?}", ours.err(), prost.err()),
        }
    }

    /// Every truncation, a few appended fields and every single-byte xor of `row` with each
    /// of `xors`.
    fn variants(row: &[u8], xors: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![row.to_vec()];
        out.extend((0..row.len()).map(|len| row[..len].to_vec()));
        let tails: [&[u8]; 10] = [
            &[0x00],
            &[0x08],
            &[0x0A, 0x00],
            &[0x18, 0x01],
            &[0x4A, 0x00],
            &[0x52, 0x00],
            &[0x7A, 0x01, 0x00],
            &[0x80, 0x01, 0x01],
            &[0x88, 0x01, 0x01],
            &[0x80],
        ];
        for tail in tails {
            out.push([row, tail].concat());
        }
        for i in 0..row.len() {
            for &x in xors {
                let mut v = row.to_vec();
                v[i] ^= x;
                out.push(v);
            }
        }
        out
    }

    // ---- Proofs ----

    #[test]
    fn writer_writes_what_prost_writes() {
        let rows = sample_rows();
        assert!(rows.len() > 20, "{}", rows.len());
        for row in &rows {
            let session = Session::from_bytes(row).unwrap();
            let prost = wire::encode_secret(Kind::Session, &session.to_proto());
            assert_eq!(*session.to_bytes(), *prost);
            assert_eq!(*session.to_bytes(), *row);
            let fields = read(row).unwrap();
            assert_eq!(write(&fields).capacity(), row.len(), "one exact allocation");
        }
        let pending = rows.iter().filter_map(|r| read(r).unwrap().pending_prekey);
        let one_time: Vec<_> = pending.map(|p| p.one_time_prekey_id).collect();
        assert!(
            [Some(0), Some(2), None]
                .iter()
                .all(|id| one_time.contains(id))
        );
        let chains = rows
            .iter()
            .map(|r| read(r).unwrap().ratchet.skipped_chains.len());
        assert_eq!(chains.max(), Some(5));
        assert!(
            rows.iter()
                .any(|r| !read(r).unwrap().simultaneous_with.is_empty())
        );
    }

    /// Every single-byte change, truncation and extension of real rows is accepted by both
    /// paths with the same session, or rejected by both with the same error.
    #[test]
    fn reader_agrees_with_prost_on_mutated_rows() {
        let rows = sample_rows();
        // A pending initiator (with the KEM ciphertext), a responder with skipped keys, an
        // initiator after the reply, and one marked simultaneous.
        let picks = [
            rows.iter()
                .find(|r| read(r).unwrap().pending_prekey.is_some()),
            rows.iter()
                .find(|r| !read(r).unwrap().ratchet.skipped_chains.is_empty()),
            rows.iter().find(|r| {
                let f = read(r).unwrap();
                f.initiator && f.pending_prekey.is_none() && f.ratchet.receiving_chain.is_some()
            }),
            rows.iter()
                .find(|r| !read(r).unwrap().simultaneous_with.is_empty()),
        ];
        let mut checked = 0;
        for row in picks.into_iter().map(Option::unwrap) {
            for v in variants(row, &[0x01, 0x80, 0xFF, 0x7F]) {
                assert_codecs_agree(&v);
                assert_paths_agree(&v);
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    /// Rows no session writes: every field at its edge (the widest varints, optional
    /// messages present but empty, a one-time prekey id of 0), mutated at the encoding level.
    #[test]
    fn reader_agrees_with_prost_on_edge_encodings() {
        let chain = |index| proto::Chain {
            ratchet_key: vec![1; 3],
            chain_key: vec![2; 130],
            index,
            ratchet_private: vec![3],
            header_key: vec![4; 2],
        };
        let skipped = |number, count| proto::SkippedChain {
            header_key: vec![5; 2],
            ratchet_key: vec![6],
            number,
            count,
        };
        let mut full = proto::Session::default();
        full.local_identity = vec![7; 127];
        full.remote_identity = vec![8; 128];
        full.initiator = true;
        full.base_key = vec![9];
        full.root_key = vec![10];
        full.sending_chain = Some(chain(u32::MAX));
        full.previous_counter = 1 << 28;
        full.receiving_chain = Some(chain(127));
        full.skipped_chains = vec![skipped(u64::MAX, u32::MAX), skipped(0, 0), skipped(128, 1)];
        full.pending_prekey = Some(proto::PendingPreKey {
            signed_prekey_id: u32::MAX,
            one_time_prekey_id: Some(0),
            kem_prekey_id: 1,
            kem_ciphertext: vec![11; 16_384],
        });
        full.setup_digest = vec![12];
        full.simultaneous_with = vec![13];
        full.send_header_key = vec![14];
        full.next_send_header_key = vec![15];
        full.next_receive_header_key = vec![16];
        full.next_skipped_chain = u64::MAX;
        full.peer_list_version = u64::MAX;
        let mut empty_parts = proto::Session::default();
        empty_parts.sending_chain = Some(proto::Chain::default());
        empty_parts.receiving_chain = Some(proto::Chain::default());
        empty_parts.skipped_chains = vec![proto::SkippedChain::default()];
        empty_parts.pending_prekey = Some(proto::PendingPreKey::default());
        empty_parts.next_skipped_chain = 1 << 35;
        let mut small = full.clone();
        small.pending_prekey = None;
        small.next_skipped_chain = 1 << 63;
        small.peer_list_version = 300;
        small.skipped_chains.truncate(1);
        let mut checked = 0;
        for message in [full, empty_parts, small, proto::Session::default()] {
            let row = wire::encode_secret(Kind::Session, &message);
            let fields = read(&row).unwrap();
            assert!(fields.to_proto() == message);
            assert_eq!(*write(&fields), *row);
            // 0x02 and 0x40 also reach the top bits of a varint's last byte.
            let variants = variants(&row, &[0x01, 0x02, 0x40, 0x80, 0xFF, 0x7F]);
            // The long ciphertext's middle is the same at every byte.
            let step = if row.len() > 1000 { 7 } else { 1 };
            for v in variants.into_iter().step_by(step) {
                assert_codecs_agree(&v);
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn framing_errors_are_the_generic_decoders() {
        let row = sample_rows().swap_remove(0);
        for lead in [0x2E, 0x1B, 0x11] {
            let mut v = row.clone();
            v[0] = lead;
            assert_paths_agree(&v);
        }
        assert_paths_agree(&[]);
        assert!(matches!(
            read(&[0x1E, 0x00]),
            Err(Error::Malformed("session"))
        ));
        assert!(matches!(
            read(&[0x3E]),
            Err(Error::UnknownVersion { found: 3, .. })
        ));
    }
}
