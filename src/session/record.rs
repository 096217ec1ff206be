//! All sessions with one peer device: the current one plus up to
//! [`MAX_ARCHIVED_SESSIONS`] archived ones, most recently used first.
//!
//! The record applies every rule about which session handles a message: the peer's
//! identity, repeated and replayed PreKey messages, and which session is current, including
//! the rule that makes two devices that started sessions with each other at once settle on one
//! ([`SessionRecord::decrypt_prekey`]).

use std::collections::VecDeque;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey};
use crate::pqxdh::ResponderKeys;
use crate::session::message::{Message, PreKeyMessage, RatchetMessage};
use crate::session::responder::{ConsumedPreKeys, Decrypted, PreKeyIds, ResponderPreKeys};
use crate::session::state::{IdentityCache, Session};
use crate::wire::{self, Kind, proto};

/// Where a session sits in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Current,
    Archived(usize),
}

/// The sessions kept for one peer address.
#[derive(Debug, Default)]
pub struct SessionRecord {
    current: Option<Session>,
    archived: VecDeque<Session>,
}

impl SessionRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// The session new messages are encrypted with.
    pub fn current(&self) -> Option<&Session> {
        self.current.as_ref()
    }

    /// The archived sessions, most recently used first.
    pub fn archived(&self) -> impl Iterator<Item = &Session> {
        self.archived.iter()
    }

    /// Make `session` current, archiving the previous current session (dropping the oldest
    /// archived one beyond the limit). This is what starting a session does.
    pub fn set_current(&mut self, session: Session) {
        if let Some(old) = self.current.replace(session) {
            self.archive(old);
        }
    }

    /// Archive the current session, if any, so that the next message needs a new session.
    pub fn archive_current(&mut self) {
        if let Some(old) = self.current.take() {
            self.archive(old);
        }
    }

    fn archive(&mut self, session: Session) {
        self.archived.push_front(session);
        self.archived.truncate(MAX_ARCHIVED_SESSIONS);
    }

    /// Whether some session in this record (initiator or responder) was set up with
    /// `base_key`.
    pub fn has_base_key(&self, base_key: &PublicKey) -> bool {
        self.slot_of(base_key).is_some()
    }

    /// Whether decrypting `message` needs the prekeys it names: `false` when it repeats the
    /// PreKey message of a session this record already has (that session decrypts it).
    pub fn needs_prekeys(&self, message: &PreKeyMessage) -> bool {
        !self.has_base_key(message.base_key())
    }

    fn slots(&self) -> impl Iterator<Item = (Slot, &Session)> {
        let current = self.current.iter().map(|s| (Slot::Current, s));
        let archived = self.archived.iter().enumerate();
        current.chain(archived.map(|(i, s)| (Slot::Archived(i), s)))
    }

    fn slot_of(&self, base_key: &PublicKey) -> Option<Slot> {
        self.slots()
            .find(|(_, s)| s.base_key() == base_key)
            .map(|(slot, _)| slot)
    }

    fn get_mut(&mut self, slot: Slot) -> Result<&mut Session> {
        match slot {
            Slot::Current => self.current.as_mut(),
            Slot::Archived(i) => self.archived.get_mut(i),
        }
        .ok_or(Error::DecryptionFailed)
    }

    /// Encrypt with the current session. The record has changed when this returns:
    /// **persist it before sending the message**, or a restart could reuse a message key.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Message> {
        self.current
            .as_mut()
            .ok_or(Error::NoSession)?
            .encrypt(plaintext)
    }

    /// Decrypt a ratchet message with the current session, else with the archived ones, most
    /// recently used first. Only sessions with `trusted`, the identity remembered for the
    /// sender's address, are tried (all of them if none is remembered yet). The first session
    /// with a header key that opens the message's header decides: the message decrypts
    /// there, or it is rejected ([`Error::DuplicateMessage`] for a message key used before,
    /// [`Error::DecryptionFailed`] otherwise) without trying another. On failure nothing
    /// changes.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &RatchetMessage,
        trusted: Option<&IdentityKey>,
        rng: &mut R,
    ) -> Result<Decrypted> {
        let (slot, (plaintext, update)) = self
            .slots()
            .filter(|(_, s)| trusted.is_none_or(|t| t == s.remote_identity()))
            .find_map(|(slot, s)| s.try_decrypt(message).transpose().map(|r| (slot, r)))
            .map(|(slot, r)| r.map(|opened| (slot, opened)))
            .ok_or(Error::DecryptionFailed)??;
        self.get_mut(slot)?.commit(update, rng)?;
        self.decrypted_in(slot, plaintext)
    }

    /// Decrypt a PreKey message: the one entry point for the responder side, applying every
    /// rule the store-backed [`decrypt`](crate::decrypt) applies.
    ///
    /// - The sender's identity must be `trusted` (the identity remembered for its address),
    ///   if one is remembered, else [`Error::UntrustedIdentity`].
    /// - A repeat of the PreKey message that set up a session in this record decrypts in that
    ///   session, only with exactly the same setup fields, and uses up nothing; like any
    ///   message, it makes an archived session current again (but see below).
    /// - Otherwise a new session is set up from `prekeys` (see [`ResponderPreKeys`]); a base
    ///   key already used with its signed prekey is a replay and fails. The new session
    ///   becomes current, except when both sides started a session at once: if the current
    ///   session is one this side started and no reply has arrived on it, the two sessions
    ///   are marked as simultaneous and the one with the smaller base key (compared as bytes)
    ///   is current. Between two sessions so marked, a message on the archived one does not
    ///   make it current if the current one's base key is smaller; the peer applies the same
    ///   rule, so both settle on one session.
    ///
    /// On success, persist the record, [`Decrypted::consumed`] and (if none was remembered)
    /// [`Decrypted::sender`] in one transaction before using the plaintext. On failure
    /// nothing changes.
    pub fn decrypt_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        ours: &IdentityKeyPair,
        trusted: Option<&IdentityKey>,
        message: &PreKeyMessage,
        prekeys: ResponderPreKeys,
        rng: &mut R,
    ) -> Result<Decrypted> {
        if trusted.is_some_and(|t| t != message.identity_key()) {
            return Err(Error::UntrustedIdentity);
        }
        match self.slot_of(message.base_key()) {
            Some(slot) => self.decrypt_repeated(slot, message, rng),
            None => self.respond(ours, message, prekeys, rng),
        }
    }

    fn decrypt_repeated<R: CryptoRng + ?Sized>(
        &mut self,
        slot: Slot,
        message: &PreKeyMessage,
        rng: &mut R,
    ) -> Result<Decrypted> {
        let session = self.get_mut(slot)?;
        if !session.was_set_up_by(message) {
            return Err(Error::DecryptionFailed);
        }
        let plaintext = session.decrypt(&message.message, rng)?;
        self.decrypted_in(slot, plaintext)
    }

    /// The outcome of a message that the session in `slot` decrypted, after [`Self::used`].
    fn decrypted_in(&mut self, slot: Slot, plaintext: Zeroizing<Vec<u8>>) -> Result<Decrypted> {
        let sender = *self.get_mut(slot)?.remote_identity();
        self.used(slot);
        Ok(Decrypted {
            plaintext,
            sender,
            consumed: ConsumedPreKeys::default(),
        })
    }

    fn respond<R: CryptoRng + ?Sized>(
        &mut self,
        ours: &IdentityKeyPair,
        message: &PreKeyMessage,
        prekeys: ResponderPreKeys,
        rng: &mut R,
    ) -> Result<Decrypted> {
        if prekeys.base_key_used {
            // A replay of a PreKey message whose session is no longer kept: its keys were
            // used, so it is a duplicate (never answered as a decryption failure).
            return Err(Error::DuplicateMessage);
        }
        let ids = PreKeyIds::from(message);
        let keys = prekeys.require(ids)?;
        let responder_keys = ResponderKeys {
            signed: &keys.signed,
            one_time: keys.one_time.as_ref(),
            kem: &keys.kem,
        };
        let (session, plaintext) = Session::respond_with(ours, &responder_keys, message, rng)?;
        let consumed = ConsumedPreKeys {
            one_time_prekey: ids.one_time,
            kem_prekey: (!keys.kem.is_last_resort()).then_some(ids.kem),
            used_base_key: Some((ids.signed, *message.base_key())),
        };
        self.insert_responder(session);
        Ok(Decrypted {
            plaintext,
            sender: *message.identity_key(),
            consumed,
        })
    }

    /// Add a session set up by the peer's PreKey message (see the simultaneous-start rule at
    /// [`SessionRecord::decrypt_prekey`]).
    fn insert_responder(&mut self, mut session: Session) {
        let Some(current) = self
            .current
            .as_mut()
            .filter(|c| c.is_initiator() && c.awaiting_reply())
        else {
            return self.set_current(session);
        };
        current.set_simultaneous_with(*session.base_key());
        session.set_simultaneous_with(*current.base_key());
        if current.base_key().as_bytes() < session.base_key().as_bytes() {
            self.archive(session);
        } else {
            self.set_current(session);
        }
    }

    /// Record that the session in `slot` just decrypted a message: an archived one becomes
    /// current again, unless it and the current one were started simultaneously and the
    /// current one's base key is smaller; then it only moves to the front of the archive.
    fn used(&mut self, slot: Slot) {
        let Slot::Archived(index) = slot else { return };
        let Some(session) = self.archived.remove(index) else {
            return;
        };
        let stays_archived = self.current.as_ref().is_some_and(|current| {
            simultaneous(current, &session)
                && current.base_key().as_bytes() < session.base_key().as_bytes()
        });
        match stays_archived {
            true => self.archived.push_front(session),
            false => self.set_current(session),
        }
    }

    /// Serialize for the application's storage (versioned; holds secrets).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::SessionRecord {
            current: self.current.as_ref().map(Session::to_proto),
            archived: self.archived.iter().map(Session::to_proto).collect(),
        };
        wire::encode_secret(Kind::SessionRecord, &record)
    }

    /// Parse what [`SessionRecord::to_bytes`] produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_for_peer(bytes, None)
    }

    /// [`SessionRecord::from_bytes`] for a store that also keeps `peer`, the identity it
    /// remembers for this record's address: a session whose peer identity has exactly those
    /// bytes takes that already validated key instead of decoding the point again (the one
    /// costly step of loading a record). Any other identity is validated as usual.
    pub fn from_bytes_for_peer(bytes: &[u8], peer: Option<&IdentityKey>) -> Result<Self> {
        let record: proto::SessionRecord = wire::decode(Kind::SessionRecord, bytes)?;
        if record.archived.len() > MAX_ARCHIVED_SESSIONS {
            return Err(Error::Malformed("session record"));
        }
        let mut identities = IdentityCache::knowing(peer);
        let current = record.current.as_ref();
        let current = current
            .map(|s| Session::from_proto(s, &mut identities))
            .transpose()?;
        // Sized once: collecting would grow the deque and move sessions while parsing.
        let mut archived = VecDeque::with_capacity(record.archived.len());
        for session in &record.archived {
            archived.push_back(Session::from_proto(session, &mut identities)?);
        }
        Ok(SessionRecord { current, archived })
    }
}

/// Whether `a` and `b` were marked as started simultaneously with each other.
fn simultaneous(a: &Session, b: &Session) -> bool {
    a.simultaneous_with() == Some(b.base_key()) || b.simultaneous_with() == Some(a.base_key())
}
