//! One Double Ratchet session with a peer device, set up by PQXDH.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::{ENC_HEADER_LEN, LIST_VERSION_LEN};
use crate::primitives::TAG_LEN;

use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemCiphertext, KemPreKeyId, KeyPair, OneTimePreKeyId, PublicKey,
    SignedPreKeyId, VerifiedBundle,
};
use crate::pqxdh::{self, ResponderKeys};
use crate::ratchet::{
    Body, NoSkippedKeys, Opened, PendingUpdate, Ratchet, Reseal, SkippedDelta, SkippedKeySource,
};
use crate::session::message::{Message, PreKeyMessage, RatchetMessage};
use crate::session::rows::SessionId;
use crate::wire::{self, proto};

const WHAT: &str = "session record";

/// What turns a message encrypted in place back into its plaintext, for when the session that
/// sealed it could not be persisted: that message must never be sent, and the caller gets
/// its plaintext back to try again. Dropping it wipes what it holds.
pub(crate) enum Unsend {
    /// A ratchet message: `head` leading bytes, the body (list version and plaintext)
    /// encrypted in place, then its tag.
    Ratchet {
        /// How many bytes precede the body.
        head: usize,
        /// The body's key, nonce and AAD.
        reseal: Reseal,
    },
    /// A PreKey message, built from a copy of the plaintext: the original buffer.
    PreKey(Zeroizing<Vec<u8>>),
}

impl Unsend {
    /// Put the plaintext back into `buffer`, which holds the message encrypted from it.
    pub(crate) fn restore(self, buffer: &mut Vec<u8>) -> Result<()> {
        match self {
            Unsend::Ratchet { head, reseal } => {
                let end = buffer.len().checked_sub(TAG_LEN);
                let end =
                    end.filter(|end| *end >= head + LIST_VERSION_LEN)
                        .ok_or(Error::Internal(
                            "an encrypted message shorter than its head",
                        ))?;
                let tag: [u8; TAG_LEN] = buffer
                    .get(end..)
                    .and_then(|tag| tag.try_into().ok())
                    .ok_or(Error::Internal("an encrypted message's tag"))?;
                let body = buffer.get_mut(head..end);
                reseal.unseal(body.ok_or(Error::Internal("a body"))?, &tag)?;
                buffer.truncate(end);
                buffer.drain(..head + LIST_VERSION_LEN);
                Ok(())
            }
            Unsend::PreKey(mut plaintext) => {
                core::mem::swap(buffer, &mut *plaintext);
                Ok(())
            }
        }
    }
}

/// What the initiator repeats in each PreKey message until the responder replies.
#[derive(Clone, Debug)]
struct PendingPreKey {
    /// Our identity key, as the PreKey message carries it.
    local_identity: IdentityKey,
    signed_prekey_id: SignedPreKeyId,
    one_time_prekey_id: Option<OneTimePreKeyId>,
    kem_prekey_id: KemPreKeyId,
    kem_ciphertext: KemCiphertext,
}

/// One session: the ratchet, the identities it binds and how it was set up.
///
/// This is the sans-IO core: it never touches storage. Apps that keep their own storage use
/// it through [`SessionRecord`](crate::session::SessionRecord), which applies every rule the
/// store-backed functions at the crate root apply; most apps use those functions instead.
pub struct Session {
    /// Our identity key's bytes: only `AD` needs them (and a pending PreKey message, which
    /// keeps the parsed key), so a stored session does not decode the point.
    local_identity: [u8; 32],
    remote_identity: IdentityKey,
    initiator: bool,
    base_key: PublicKey,
    ratchet: Ratchet,
    /// Boxed: rare (only until the first reply), and large beside the rest of a session.
    pending: Option<Box<PendingPreKey>>,
    /// Responder only: [`PreKeyMessage::setup_digest`] of the message that set it up.
    setup_digest: Option<[u8; 32]>,
    /// The base key of the session this one was started simultaneously with, if both sides
    /// started one at once (see `SessionRecord`'s simultaneous-start rule).
    simultaneous_with: Option<PublicKey>,
    /// The highest device list version the peer's messages on this session carried.
    peer_list_version: u64,
}

/// A decryption computed and not applied yet: the ratchet's update, and the sender's device
/// list version that led the message's plaintext.
pub(crate) struct SessionUpdate {
    ratchet: PendingUpdate,
    list_version: u64,
}

impl SessionUpdate {
    /// The sender's device list version the message carried.
    pub(crate) fn list_version(&self) -> u64 {
        self.list_version
    }
}

/// Where the app's plaintext is in a body of `len` bytes decrypted in place: after the list
/// version.
pub(crate) fn in_place_plaintext(len: usize) -> core::ops::Range<usize> {
    LIST_VERSION_LEN.min(len)..len
}

/// The list version leading an opened body, and the body without it (an in-place body keeps
/// it: see [`in_place_plaintext`]). A body too short to hold one (only a buggy peer sends
/// it) fails as any body that does not decrypt, with an in-place body restored.
fn split_list_version(opened: Opened, body: &mut Body<'_>) -> Result<(Opened, u64)> {
    match opened {
        Opened::Owned(mut plaintext) => {
            let version = plaintext.first_chunk::<LIST_VERSION_LEN>();
            let version = u64::from_be_bytes(*version.ok_or(Error::DecryptionFailed)?);
            plaintext.drain(..LIST_VERSION_LEN);
            Ok((Opened::Owned(plaintext), version))
        }
        Opened::InPlace(len, reseal) => {
            let version = match &*body {
                Body::InPlace(sealed) => sealed.get(..len).and_then(|p| p.first_chunk().copied()),
                Body::Borrowed(_) => None,
            };
            let opened = Opened::InPlace(len, reseal);
            match version {
                Some(version) => Ok((opened, u64::from_be_bytes(version))),
                None => {
                    opened.undo(body)?;
                    Err(Error::DecryptionFailed)
                }
            }
        }
    }
}

impl Session {
    /// Start a session as the initiator from a verified bundle, with PQXDH. The session sends
    /// [`PreKeyMessage`]s until the first reply arrives.
    pub fn initiate<R: CryptoRng + ?Sized>(
        ours: &IdentityKeyPair,
        bundle: &VerifiedBundle,
        rng: &mut R,
    ) -> Result<Session> {
        let base_key = KeyPair::generate(rng);
        let base_public = *base_key.public();
        let secret = pqxdh::initiate(ours, base_key, bundle, rng)?;
        let (signed_prekey_id, signed_prekey) = bundle.signed_prekey();
        let ratchet = Ratchet::initiator(&secret.sk, signed_prekey, rng)?;
        Ok(Session {
            local_identity: ours.public().to_bytes(),
            remote_identity: *bundle.identity_key(),
            initiator: true,
            base_key: base_public,
            ratchet,
            setup_digest: None,
            simultaneous_with: None,
            peer_list_version: 0,
            pending: Some(Box::new(PendingPreKey {
                local_identity: *ours.public(),
                signed_prekey_id,
                one_time_prekey_id: bundle.one_time_prekey().map(|(id, _)| id),
                kem_prekey_id: bundle.kem_prekey().0,
                kem_ciphertext: secret.kem_ciphertext,
            })),
        })
    }

    /// Set up a session as the responder from a PreKey message and the prekeys it names, and
    /// decrypt its inner message. Nothing is returned unless that message authenticated.
    ///
    /// This is only the cryptography: it does not check for replays, repeated PreKey messages
    /// or the peer's identity. Apps use
    /// [`SessionRecord::decrypt_prekey`](crate::session::SessionRecord::decrypt_prekey), which
    /// does; this is exposed for test vectors (feature `hazmat`).
    ///
    /// The session comes in a record of its own, which also holds the message keys the
    /// first message skipped (if it was not message 0).
    #[cfg(feature = "hazmat")]
    pub fn respond<R: CryptoRng + ?Sized>(
        ours: &IdentityKeyPair,
        signed_prekey: &crate::keys::SignedPreKey,
        one_time_prekey: Option<&crate::keys::OneTimePreKey>,
        kem_prekey: &crate::keys::KemPreKey,
        message: &PreKeyMessage,
        rng: &mut R,
    ) -> Result<(crate::session::SessionRecord, Vec<u8>)> {
        let keys = ResponderKeys {
            signed: signed_prekey,
            one_time: one_time_prekey,
            kem: kem_prekey,
        };
        let (session, plaintext, skipped) = Self::respond_with(ours, &keys, message, rng)?;
        let record = crate::session::SessionRecord::with_responder(session, skipped);
        Ok((record, plaintext.to_vec()))
    }

    /// The responder's setup, after checking that `keys` are the prekeys `message` names:
    /// the session, the plaintext, and the message keys the first message skipped.
    pub(crate) fn respond_with<R: CryptoRng + ?Sized>(
        ours: &IdentityKeyPair,
        keys: &ResponderKeys<'_>,
        message: &PreKeyMessage,
        rng: &mut R,
    ) -> Result<(Session, Zeroizing<Vec<u8>>, SkippedDelta)> {
        keys.check(message)?;
        let sk = pqxdh::respond(
            ours,
            keys,
            &message.identity_key,
            &message.base_key,
            &message.kem_ciphertext,
        )?;
        let mut session = Session {
            local_identity: ours.public().to_bytes(),
            remote_identity: message.identity_key,
            initiator: false,
            base_key: message.base_key,
            ratchet: Ratchet::responder(&sk, keys.signed.key_pair().clone())?,
            pending: None,
            setup_digest: Some(message.setup_digest()),
            simultaneous_with: None,
            peer_list_version: 0,
        };
        let inner = &message.message;
        let mut body = Body::Borrowed(&inner.ciphertext);
        let (opened, update) = session
            .try_decrypt(&inner.enc_header, &mut body, &NoSkippedKeys)?
            .ok_or(Error::DecryptionFailed)?;
        let Opened::Owned(plaintext) = opened else {
            return Err(Error::Internal(
                "a borrowed body decrypts into a new buffer",
            ));
        };
        let skipped = session.commit(update, rng)?;
        Ok((session, plaintext, skipped))
    }

    /// Encrypt a message to the peer. `list_version` is the version of the device list of
    /// this device's own account (0 outside accounts): it leads the AEAD plaintext, so the
    /// peer learns it authenticated (PROTOCOL.md §6.4, §11.6).
    ///
    /// The session has advanced when this returns: **persist it before you send the
    /// message** (or at least in the same transaction), else a restart could encrypt the next
    /// message with the same key.
    pub fn encrypt(&mut self, list_version: u64, plaintext: &[u8]) -> Result<Message> {
        let mut ciphertext = Vec::with_capacity(LIST_VERSION_LEN + plaintext.len() + TAG_LEN);
        ciphertext.extend_from_slice(&list_version.to_be_bytes());
        ciphertext.extend_from_slice(plaintext);
        let (enc_header, tag, _) = self.ratchet.encrypt_in_place(&self.ad(), &mut ciphertext)?;
        ciphertext.extend_from_slice(&tag);
        let message = RatchetMessage {
            enc_header,
            ciphertext,
        };
        Ok(self.frame(message))
    }

    /// Encrypt the plaintext in `buffer` in place: on return `buffer` holds the serialized
    /// message ([`Message::to_bytes`]). A ratchet message costs one AES-GCM pass over the
    /// plaintext and one move of it to make room for the message's 73 to 78 leading bytes
    /// and the 8-byte list version (no reallocation if `buffer` has 102 bytes of spare
    /// capacity: those, and the 16-byte tag). A PreKey message (sent until the peer replies)
    /// is built as by [`Session::encrypt`] and copied into `buffer`. `list_version` as for
    /// [`Session::encrypt`].
    ///
    /// Persist the session before sending, as for [`Session::encrypt`].
    pub fn encrypt_in_place(&mut self, list_version: u64, buffer: &mut Vec<u8>) -> Result<()> {
        self.encrypt_in_place_undoable(list_version, buffer)
            .map(drop)
    }

    /// [`Session::encrypt_in_place`], and what gives the plaintext back if the advanced
    /// session cannot be persisted (the message must then not be sent).
    pub(crate) fn encrypt_in_place_undoable(
        &mut self,
        list_version: u64,
        buffer: &mut Vec<u8>,
    ) -> Result<Unsend> {
        if self.pending.is_some() {
            let message = self.encrypt(list_version, buffer)?.to_bytes();
            let plaintext = Zeroizing::new(core::mem::replace(buffer, message));
            return Ok(Unsend::PreKey(plaintext));
        }
        let body_len = LIST_VERSION_LEN + buffer.len() + TAG_LEN;
        let head = RatchetMessage::head_len(body_len);
        // The one move: room for the head, then the version, before the plaintext.
        let room = head + LIST_VERSION_LEN;
        buffer.splice(0..0, core::iter::repeat_n(0, room));
        let (enc_header, reseal) = match self.seal_after_head(list_version, head, buffer) {
            Ok(sealed) => sealed,
            Err(e) => {
                buffer.drain(..room);
                return Err(e);
            }
        };
        let lead = RatchetMessage::head(&enc_header, body_len);
        match buffer.get_mut(..head) {
            Some(slot) if slot.len() == lead.len() => slot.copy_from_slice(&lead),
            _ => return Err(Error::Internal("a ratchet message's head")),
        }
        Ok(Unsend::Ratchet { head, reseal })
    }

    /// Write `list_version` after the `head` bytes of `buffer`, encrypt the rest in place and
    /// append its tag: the encrypted header and what undoes the encryption.
    fn seal_after_head(
        &mut self,
        list_version: u64,
        head: usize,
        buffer: &mut Vec<u8>,
    ) -> Result<([u8; ENC_HEADER_LEN], Reseal)> {
        let version = buffer.get_mut(head..head + LIST_VERSION_LEN);
        let version = version.ok_or(Error::Internal("room for the list version"))?;
        version.copy_from_slice(&list_version.to_be_bytes());
        let body = buffer.get_mut(head..).ok_or(Error::Internal("a body"))?;
        let (enc_header, tag, reseal) = self.ratchet.encrypt_in_place(&self.ad(), body)?;
        buffer.extend_from_slice(&tag);
        Ok((enc_header, reseal))
    }

    /// `message`, as a PreKey message while no reply has arrived.
    fn frame(&self, message: RatchetMessage) -> Message {
        match &self.pending {
            None => Message::Ratchet(message),
            Some(p) => Message::PreKey(Box::new(PreKeyMessage {
                identity_key: p.local_identity,
                base_key: self.base_key,
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                kem_prekey_id: p.kem_prekey_id,
                kem_ciphertext: p.kem_ciphertext.clone(),
                message,
            })),
        }
    }

    /// Decrypt without changing anything: `Ok(None)` if no header key of this session opens
    /// the message's header; an error is final for the message (its header opened here).
    /// Stored skipped keys are read from `stored`, only when a header opens under their
    /// chain's header key. The opened plaintext is the app's (an in-place one starts after
    /// the list version: [`in_place_plaintext`]); the update holds the list version.
    pub(crate) fn try_decrypt(
        &self,
        enc_header: &[u8; ENC_HEADER_LEN],
        body: &mut Body<'_>,
        stored: &dyn SkippedKeySource,
    ) -> Result<Option<(Opened, SessionUpdate)>> {
        let opened = self
            .ratchet
            .try_decrypt(&self.ad(), enc_header, body, stored)?;
        let Some((opened, ratchet)) = opened else {
            return Ok(None);
        };
        let (opened, list_version) = split_list_version(opened, body)?;
        let update = SessionUpdate {
            ratchet,
            list_version,
        };
        Ok(Some((opened, update)))
    }

    /// Apply a decryption; returns the writes to this session's skipped-key rows. The peer's
    /// list version seen only grows (an older message may arrive late).
    pub(crate) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        update: SessionUpdate,
        rng: &mut R,
    ) -> Result<SkippedDelta> {
        let skipped = self.ratchet.commit(update.ratchet, rng)?;
        // A message from the peer proves it has the session: stop sending PreKey messages.
        self.pending = None;
        self.peer_list_version = self.peer_list_version.max(update.list_version);
        Ok(skipped)
    }

    /// The highest device list version the peer's messages on this session carried
    /// (PROTOCOL.md §11.6): the list of the peer's account is at least that new.
    pub fn peer_list_version(&self) -> u64 {
        self.peer_list_version
    }

    /// `AD = IK_A || IK_B`, initiator first.
    fn ad(&self) -> [u8; 64] {
        let (initiator, responder) = match self.initiator {
            true => (&self.local_identity, self.remote_identity.as_bytes()),
            false => (self.remote_identity.as_bytes(), &self.local_identity),
        };
        pqxdh::associated_data(initiator, responder)
    }

    /// The peer's identity key, bound into every message of this session.
    pub fn remote_identity(&self) -> &IdentityKey {
        &self.remote_identity
    }

    /// Whether `message` is a repetition of the PreKey message that set this session up (as
    /// the responder), with every setup field unchanged.
    pub(crate) fn was_set_up_by(&self, message: &PreKeyMessage) -> bool {
        self.base_key == message.base_key && self.setup_digest == Some(message.setup_digest())
    }

    /// The base key `EK_A` that set this session up.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The session's id within its record (its base key).
    pub fn id(&self) -> SessionId {
        SessionId::from_bytes(self.base_key.to_bytes())
    }

    /// Whether this side started the session.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether the session still sends PreKey messages (no reply received yet).
    pub fn awaiting_reply(&self) -> bool {
        self.pending.is_some()
    }

    /// How many skipped message keys the session holds.
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped_len()
    }

    /// The chains the session holds skipped keys of: `(number, how many keys)`.
    pub(crate) fn skipped_chains(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.ratchet.skipped_chains()
    }

    pub(crate) fn simultaneous_with(&self) -> Option<&PublicKey> {
        self.simultaneous_with.as_ref()
    }

    pub(crate) fn set_simultaneous_with(&mut self, base_key: PublicKey) {
        self.simultaneous_with = Some(base_key);
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("initiator", &self.initiator)
            .field("base_key", &self.base_key)
            .field("awaiting_reply", &self.pending.is_some())
            .field("skipped_keys", &self.ratchet.skipped_len())
            .finish_non_exhaustive()
    }
}

// ---- Serialization ------------------------------------------------------------------------

use crate::wire::session_row::{self, PendingFields, SessionFields};

impl Session {
    /// Serialize this session alone, as a store keeps it in a row of its own (versioned;
    /// holds secrets). Its skipped message keys are not in it: they are rows of their own
    /// ([`SkippedMessageKey`](crate::session::SkippedMessageKey)).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.with_fields(session_row::write)
    }

    /// [`Session::to_bytes`] into `out`, replacing (and first zeroizing) what it held, and
    /// reusing its buffer when it is large enough.
    pub(crate) fn write_into(&self, out: &mut Vec<u8>) {
        self.with_fields(|fields| session_row::write_into(fields, out));
    }

    /// Parse what [`Session::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_for_peer(bytes, None)
    }

    /// [`Session::from_bytes`] for a store that also keeps `peer`, the identity it
    /// remembers for the session's address: if the session's peer identity has exactly those
    /// bytes, that already validated key is taken instead of decoding the point again.
    pub fn from_bytes_for_peer(bytes: &[u8], peer: Option<&IdentityKey>) -> Result<Self> {
        let fields = session_row::read(bytes)?;
        Self::from_fields(&fields, &mut IdentityCache::knowing(peer))
    }

    /// [`Session::from_bytes`] as it was before the hand codec: prost's strict decoding, then
    /// the same checks. The reference that the codec's tests and the `records` fuzz target
    /// hold it to.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_bytes_via_prost(bytes: &[u8]) -> Result<Self> {
        let session: proto::Session = wire::decode(wire::Kind::Session, bytes)?;
        Self::from_proto(&session, &mut IdentityCache::default())
    }

    /// This session as a message nested in a whole record.
    pub(crate) fn to_proto(&self) -> proto::Session {
        self.with_fields(|fields| fields.to_proto())
    }

    /// Parse a session nested in a whole record. `identities` parses identity keys, so that
    /// a record whose sessions share an identity decodes it once.
    pub(crate) fn from_proto(
        session: &proto::Session,
        identities: &mut IdentityCache,
    ) -> Result<Session> {
        Self::from_fields(&SessionFields::from_proto(session), identities)
    }

    /// Hand `f` this session's stored fields, borrowed from it.
    fn with_fields<T>(&self, f: impl FnOnce(&SessionFields<'_>) -> T) -> T {
        let pending = self.pending.as_ref().map(|p| PendingFields {
            signed_prekey_id: p.signed_prekey_id.get(),
            one_time_prekey_id: p.one_time_prekey_id.map(OneTimePreKeyId::get),
            kem_prekey_id: p.kem_prekey_id.get(),
            kem_ciphertext: p.kem_ciphertext.as_bytes(),
        });
        self.ratchet.with_fields(|ratchet| {
            f(&SessionFields {
                local_identity: &self.local_identity,
                remote_identity: self.remote_identity.as_bytes(),
                initiator: self.initiator,
                base_key: self.base_key.as_bytes(),
                ratchet,
                pending_prekey: pending,
                setup_digest: self.setup_digest.as_ref().map_or(&[], |d| d.as_slice()),
                simultaneous_with: (self.simultaneous_with.as_ref())
                    .map_or(&[], |k| k.as_bytes().as_slice()),
                peer_list_version: self.peer_list_version,
            })
        })
    }

    /// Build a stored session from its fields, whichever codec read them: every check of a
    /// stored session's fields is made here (and in the ratchet's `from_fields`).
    fn from_fields(session: &SessionFields<'_>, identities: &mut IdentityCache) -> Result<Session> {
        let local = wire::array::<32>(session.local_identity, WHAT)?;
        let remote = identities.parse(session.remote_identity)?;
        let pending = match &session.pending_prekey {
            None => None,
            Some(p) => Some(Box::new(PendingPreKey {
                local_identity: identities.parse(&local)?,
                signed_prekey_id: SignedPreKeyId::new(p.signed_prekey_id),
                one_time_prekey_id: p.one_time_prekey_id.map(OneTimePreKeyId::new),
                kem_prekey_id: KemPreKeyId::new(p.kem_prekey_id),
                kem_ciphertext: KemCiphertext::try_from(p.kem_ciphertext)?,
            })),
        };
        let ratchet = Ratchet::from_fields(&session.ratchet)?;
        let setup_digest = match session.setup_digest.is_empty() {
            true => None,
            false => Some(wire::array(session.setup_digest, WHAT)?),
        };
        if session.initiator != setup_digest.is_none() || (!session.initiator && pending.is_some())
        {
            return Err(Error::Malformed(WHAT));
        }
        let simultaneous_with = match session.simultaneous_with.is_empty() {
            true => None,
            false => Some(PublicKey::from_canonical(wire::array(
                session.simultaneous_with,
                WHAT,
            )?)?),
        };
        Ok(Session {
            local_identity: local,
            remote_identity: remote,
            initiator: session.initiator,
            base_key: PublicKey::from_canonical(wire::array(session.base_key, WHAT)?)?,
            ratchet,
            pending,
            setup_digest,
            simultaneous_with,
            peer_list_version: session.peer_list_version,
        })
    }
}

/// Identity keys parsed while decoding one record: the sessions of a record nearly always
/// share the two identities, and decoding an Ed25519 point is the costly part of a record.
#[derive(Default)]
pub(crate) struct IdentityCache(Vec<IdentityKey>);

impl IdentityCache {
    /// A cache that starts with `known`, a key validated before.
    pub(crate) fn knowing(known: Option<&IdentityKey>) -> Self {
        IdentityCache(known.into_iter().copied().collect())
    }

    fn parse(&mut self, bytes: &[u8]) -> Result<IdentityKey> {
        let bytes = wire::array::<32>(bytes, WHAT)?;
        if let Some(known) = self.0.iter().find(|k| *k.as_bytes() == bytes) {
            return Ok(*known);
        }
        let key = IdentityKey::from_bytes(&bytes)?;
        self.0.push(key);
        Ok(key)
    }
}

#[cfg(test)]
mod list_version_tests {
    use super::*;
    use crate::ratchet::MessageKey;

    const AD: [u8; 64] = [3; 64];
    const ENC_HEADER: [u8; ENC_HEADER_LEN] = [4; ENC_HEADER_LEN];

    /// `body` sealed under a fixed message key, with its tag: `ciphertext || tag`.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut buf = body.to_vec();
        let key = MessageKey::new(&[9; 32], 0);
        let (tag, _) = key.seal_in_place(&AD, &ENC_HEADER, &mut buf).unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    fn open(body: &mut Body<'_>) -> Opened {
        let key = MessageKey::new(&[9; 32], 0);
        key.open(&AD, &ENC_HEADER, body).unwrap()
    }

    #[test]
    fn the_version_leads_the_body_and_is_split_off() {
        let message = sealed(&[&7u64.to_be_bytes()[..], b"app"].concat());
        let mut body = Body::Borrowed(&message);
        let opened = open(&mut body);
        let (Opened::Owned(plaintext), 7) = split_list_version(opened, &mut body).unwrap() else {
            panic!("version 7, into a new buffer");
        };
        assert_eq!(&plaintext[..], b"app");
        let mut in_place = message.clone();
        let mut body = Body::InPlace(&mut in_place);
        let opened = open(&mut body);
        let (Opened::InPlace(len, _), 7) = split_list_version(opened, &mut body).unwrap() else {
            panic!("version 7, in place");
        };
        assert_eq!(&in_place[in_place_plaintext(len)], b"app");
    }

    #[test]
    fn a_body_shorter_than_a_version_fails_and_is_restored() {
        for short in [&b""[..], b"1234567"] {
            let message = sealed(short);
            let mut body = Body::Borrowed(&message);
            let opened = open(&mut body);
            let Err(err) = split_list_version(opened, &mut body) else {
                panic!("a short body must fail");
            };
            assert!(matches!(err, Error::DecryptionFailed));
            let mut in_place = message.clone();
            let mut body = Body::InPlace(&mut in_place);
            let opened = open(&mut body);
            let Err(err) = split_list_version(opened, &mut body) else {
                panic!("a short body must fail");
            };
            assert!(matches!(err, Error::DecryptionFailed));
            assert_eq!(in_place, message, "the buffer holds the ciphertext again");
        }
    }
}
