//! One Double Ratchet session with a peer device, set up by PQXDH.

use core::fmt;

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemCiphertext, KemPreKey, KeyPair, OneTimePreKey, PublicKey,
    SignedPreKey, VerifiedBundle,
};
use crate::pqxdh::{self, ResponderKeys};
use crate::ratchet::{PendingUpdate, Ratchet};
use crate::session::message::{Message, PreKeyMessage, RatchetMessage};
use crate::wire::{self, proto};

const WHAT: &str = "session record";

/// What the initiator repeats in each PreKey message until the responder replies.
#[derive(Clone, Debug)]
struct PendingPreKey {
    local_identity: IdentityKey,
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
    kem_prekey_id: u32,
    kem_ciphertext: KemCiphertext,
}

/// One session: the ratchet, the identities it binds and how it was set up.
///
/// This is the sans-IO core: it never touches storage. Apps that keep their own storage can
/// use it directly together with [`SessionRecord`](crate::session::SessionRecord); most apps
/// use the store-backed functions at the crate root instead.
pub struct Session {
    local_identity: [u8; 32],
    remote_identity: [u8; 32],
    initiator: bool,
    base_key: PublicKey,
    ratchet: Ratchet,
    pending: Option<PendingPreKey>,
    /// Responder only: [`PreKeyMessage::setup_digest`] of the message that set it up.
    setup_digest: Option<[u8; 32]>,
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
            remote_identity: bundle.identity_key().to_bytes(),
            initiator: true,
            base_key: base_public,
            ratchet,
            setup_digest: None,
            pending: Some(PendingPreKey {
                local_identity: *ours.public(),
                signed_prekey_id,
                one_time_prekey_id: bundle.one_time_prekey().map(|(id, _)| id),
                kem_prekey_id: bundle.kem_prekey().0,
                kem_ciphertext: secret.kem_ciphertext,
            }),
        })
    }

    /// Set up a session as the responder from a PreKey message and the prekeys it names, and
    /// decrypt its inner message. Nothing is returned unless that message authenticated; only
    /// then may the caller delete the one-time prekey.
    pub fn respond<R: CryptoRng + ?Sized>(
        ours: &IdentityKeyPair,
        signed_prekey: &SignedPreKey,
        one_time_prekey: Option<&OneTimePreKey>,
        kem_prekey: &KemPreKey,
        message: &PreKeyMessage,
        rng: &mut R,
    ) -> Result<(Session, Vec<u8>)> {
        let keys = ResponderKeys {
            signed: signed_prekey,
            one_time: one_time_prekey,
            kem: kem_prekey,
        };
        check_prekeys(&keys, message)?;
        let sk = pqxdh::respond(
            ours,
            &keys,
            &message.identity_key,
            &message.base_key,
            &message.kem_ciphertext,
        )?;
        let mut session = Session {
            local_identity: ours.public().to_bytes(),
            remote_identity: message.identity_key.to_bytes(),
            initiator: false,
            base_key: message.base_key,
            ratchet: Ratchet::responder(&sk, signed_prekey.key_pair().clone()),
            pending: None,
            setup_digest: Some(message.setup_digest()),
        };
        let plaintext = session.decrypt(&message.message, rng)?;
        Ok((session, plaintext))
    }

    /// Encrypt a message to the peer.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Message> {
        let (header, ciphertext) = self.ratchet.encrypt(&self.ad(), plaintext)?;
        let message = RatchetMessage { header, ciphertext };
        Ok(match &self.pending {
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
        })
    }

    /// Decrypt a message from the peer. On any failure the session is unchanged.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &RatchetMessage,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let (plaintext, update) = self.try_decrypt(message)?;
        self.commit(update, rng)?;
        Ok(plaintext)
    }

    pub(crate) fn try_decrypt(&self, message: &RatchetMessage) -> Result<(Vec<u8>, PendingUpdate)> {
        self.ratchet
            .try_decrypt(&self.ad(), &message.header, &message.ciphertext)
    }

    pub(crate) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        update: PendingUpdate,
        rng: &mut R,
    ) -> Result<()> {
        self.ratchet.commit(update, rng)?;
        // A message from the peer proves it has the session: stop sending PreKey messages.
        self.pending = None;
        Ok(())
    }

    /// `AD = IK_A || IK_B`, initiator first.
    fn ad(&self) -> [u8; 64] {
        let (initiator, responder) = match self.initiator {
            true => (&self.local_identity, &self.remote_identity),
            false => (&self.remote_identity, &self.local_identity),
        };
        pqxdh::associated_data(initiator, responder)
    }

    /// The peer's identity key bytes, as remembered by this session.
    pub(crate) fn remote_identity_bytes(&self) -> &[u8; 32] {
        &self.remote_identity
    }

    /// The peer's identity key.
    pub fn remote_identity(&self) -> Result<IdentityKey> {
        IdentityKey::from_bytes(&self.remote_identity)
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
}

fn check_prekeys(keys: &ResponderKeys<'_>, message: &PreKeyMessage) -> Result<()> {
    if keys.kem.id() != message.kem_prekey_id {
        return Err(Error::UnknownPreKey {
            kind: "KEM",
            id: message.kem_prekey_id,
        });
    }
    if keys.signed.id() != message.signed_prekey_id {
        return Err(Error::UnknownPreKey {
            kind: "signed",
            id: message.signed_prekey_id,
        });
    }
    match (message.one_time_prekey_id, keys.one_time) {
        (None, None) => Ok(()),
        (Some(id), Some(k)) if k.id() == id => Ok(()),
        (Some(id), _) => Err(Error::UnknownPreKey {
            kind: "one-time",
            id,
        }),
        (None, Some(k)) => Err(Error::UnknownPreKey {
            kind: "one-time (not named by the message)",
            id: k.id(),
        }),
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

impl Session {
    pub(crate) fn to_proto(&self) -> proto::Session {
        let mut out = proto::Session::default();
        out.local_identity = self.local_identity.to_vec();
        out.remote_identity = self.remote_identity.to_vec();
        out.initiator = self.initiator;
        out.base_key = self.base_key.to_bytes().to_vec();
        out.setup_digest = self.setup_digest.map_or_else(Vec::new, |d| d.to_vec());
        out.pending_prekey = self.pending.as_ref().map(|p| proto::PendingPreKey {
            signed_prekey_id: p.signed_prekey_id,
            one_time_prekey_id: p.one_time_prekey_id,
            kem_prekey_id: p.kem_prekey_id,
            kem_ciphertext: p.kem_ciphertext.as_bytes().to_vec(),
        });
        self.ratchet.write(&mut out);
        out
    }

    pub(crate) fn from_proto(session: &proto::Session) -> Result<Session> {
        let local = wire::array::<32>(&session.local_identity, WHAT)?;
        let remote = wire::array::<32>(&session.remote_identity, WHAT)?;
        let pending = match &session.pending_prekey {
            None => None,
            Some(p) => Some(PendingPreKey {
                local_identity: IdentityKey::from_bytes(&local)?,
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                kem_prekey_id: p.kem_prekey_id,
                kem_ciphertext: KemCiphertext::try_from(p.kem_ciphertext.as_slice())?,
            }),
        };
        let ratchet = Ratchet::read(session)?;
        let setup_digest = match session.setup_digest.is_empty() {
            true => None,
            false => Some(wire::array(&session.setup_digest, WHAT)?),
        };
        if session.initiator != setup_digest.is_none() || (!session.initiator && pending.is_some())
        {
            return Err(Error::Malformed(WHAT));
        }
        Ok(Session {
            local_identity: local,
            remote_identity: remote,
            initiator: session.initiator,
            base_key: PublicKey::from_canonical(wire::array(&session.base_key, WHAT)?)?,
            ratchet,
            pending,
            setup_digest,
        })
    }
}
