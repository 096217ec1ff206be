//! One Double Ratchet session with a peer device, set up by PQXDH.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::ENC_HEADER_LEN;
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
    /// A ratchet message: `head` leading bytes, the body encrypted in place, then its tag.
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
                let body = buffer
                    .len()
                    .checked_sub(head + TAG_LEN)
                    .ok_or(Error::Internal(
                        "an encrypted message shorter than its head",
                    ))?;
                let tag: [u8; TAG_LEN] = buffer
                    .get(head + body..)
                    .and_then(|tag| tag.try_into().ok())
                    .ok_or(Error::Internal("an encrypted message's tag"))?;
                buffer.truncate(head + body);
                buffer.drain(..head);
                reseal.unseal(buffer, &tag)
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

    /// Encrypt a message to the peer.
    ///
    /// The session has advanced when this returns: **persist it before you send the
    /// message** (or at least in the same transaction), else a restart could encrypt the next
    /// message with the same key.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Message> {
        let mut ciphertext = Vec::with_capacity(plaintext.len() + TAG_LEN);
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
    /// (no reallocation if `buffer` has 94 bytes of spare capacity). A PreKey message (sent
    /// until the peer replies) is built as by [`Session::encrypt`] and copied into `buffer`.
    ///
    /// Persist the session before sending, as for [`Session::encrypt`].
    pub fn encrypt_in_place(&mut self, buffer: &mut Vec<u8>) -> Result<()> {
        self.encrypt_in_place_undoable(buffer).map(drop)
    }

    /// [`Session::encrypt_in_place`], and what gives the plaintext back if the advanced
    /// session cannot be persisted (the message must then not be sent).
    pub(crate) fn encrypt_in_place_undoable(&mut self, buffer: &mut Vec<u8>) -> Result<Unsend> {
        if self.pending.is_some() {
            let message = self.encrypt(buffer)?.to_bytes();
            let plaintext = Zeroizing::new(core::mem::replace(buffer, message));
            return Ok(Unsend::PreKey(plaintext));
        }
        let (enc_header, tag, reseal) = self.ratchet.encrypt_in_place(&self.ad(), buffer)?;
        buffer.extend_from_slice(&tag);
        let head = RatchetMessage::head(&enc_header, buffer.len());
        buffer.splice(0..0, head.iter().copied());
        Ok(Unsend::Ratchet {
            head: head.len(),
            reseal,
        })
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
    /// chain's header key.
    pub(crate) fn try_decrypt(
        &self,
        enc_header: &[u8; ENC_HEADER_LEN],
        body: &mut Body<'_>,
        stored: &dyn SkippedKeySource,
    ) -> Result<Option<(Opened, PendingUpdate)>> {
        self.ratchet
            .try_decrypt(&self.ad(), enc_header, body, stored)
    }

    /// Apply a decryption; returns the writes to this session's skipped-key rows.
    pub(crate) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        update: PendingUpdate,
        rng: &mut R,
    ) -> Result<SkippedDelta> {
        let skipped = self.ratchet.commit(update, rng)?;
        // A message from the peer proves it has the session: stop sending PreKey messages.
        self.pending = None;
        Ok(skipped)
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
