//! All sessions with one peer device, whole and in memory: the current one plus up to
//! [`MAX_ARCHIVED_SESSIONS`] archived ones, most recently used first, and their skipped
//! message keys.
//!
//! The record applies every rule about which session handles a message: the peer's
//! identity, repeated and replayed PreKey messages, and which session is current, including
//! the rule that makes two devices that started sessions with each other at once settle on one
//! ([`SessionRecord::decrypt_prekey`]). The store-backed operations apply the same rules
//! (one implementation, in `view.rs`) while reading only the rows a message needs.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey};
use crate::ratchet::{Body, MessageKey, Opened, SkippedDelta};
use crate::session::message::{Message, PreKeyMessage, RatchetMessage, ratchet_parts_mut};
use crate::session::responder::{ConsumedPreKeys, Decrypted, ResponderPreKeys};
use crate::session::rows::{SessionId, SkippedKeyId, SkippedMessageKey};
use crate::session::state::{IdentityCache, Session, in_place_plaintext};
use crate::session::view::{RecordSource, RecordView, Writes, owned};
use crate::wire::{self, Kind, proto};

const WHAT: &str = "session record";

/// The sessions kept for one peer address, with every skipped message key they hold.
///
/// This is the sans-IO form for apps that keep a peer's record as one value. The
/// store-backed functions keep the same state as separate rows instead (see
/// [`ProtocolStore`](crate::store::ProtocolStore)), so that a message touches only what it
/// needs.
#[derive(Default)]
pub struct SessionRecord {
    view: RecordView,
    keys: SkippedKeys,
}

/// The skipped message keys of a whole record.
#[derive(Default)]
struct SkippedKeys(BTreeMap<SkippedKeyId, Box<MessageKey>>);

impl RecordSource for SkippedKeys {
    fn session(&self, _: &SessionId) -> Result<Option<Session>> {
        // A whole record holds every session loaded.
        Ok(None)
    }

    fn skipped_key(&self, id: &SkippedKeyId) -> Result<Option<Box<MessageKey>>> {
        let key = self.0.get(id);
        Ok(key.map(|k| MessageKey::boxed(k.as_bytes(), k.index())))
    }
}

impl SkippedKeys {
    /// The ids of chain `chain` of session `session`, ascending.
    fn chain(&self, session: SessionId, chain: u64) -> impl Iterator<Item = &SkippedKeyId> {
        let ids = SkippedKeyId::chain(session, chain);
        self.0.range(ids).map(|(id, _)| id)
    }

    fn apply(&mut self, session: SessionId, delta: SkippedDelta) {
        let SkippedDelta {
            inserted,
            evicted,
            removed,
        } = delta;
        for (chain, count) in evicted {
            let oldest: Vec<SkippedKeyId> = self
                .chain(session, chain)
                .take(count as usize)
                .copied()
                .collect();
            oldest.iter().for_each(|id| drop(self.0.remove(id)));
        }
        if let Some((chain, counter)) = removed {
            self.0.remove(&SkippedKeyId {
                session,
                chain,
                counter,
            });
        }
        for (chain, keys) in inserted {
            for key in keys {
                let id = SkippedKeyId {
                    session,
                    chain,
                    counter: key.index(),
                };
                self.0.insert(id, key);
            }
        }
    }

    fn remove_session(&mut self, session: SessionId) {
        self.0.retain(|id, _| id.session != session);
    }
}

impl SessionRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A record holding a session just set up as the responder.
    #[cfg(feature = "hazmat")]
    pub(crate) fn with_responder(session: Session, skipped: SkippedDelta) -> Self {
        let mut record = SessionRecord::new();
        record.keys.apply(session.id(), skipped);
        record.view.set_current(session);
        record.applied();
        record
    }

    /// The session new messages are encrypted with.
    pub fn current(&self) -> Option<&Session> {
        self.view.current()
    }

    /// The archived sessions, most recently used first.
    pub fn archived(&self) -> impl Iterator<Item = &Session> {
        self.view.archived()
    }

    /// Make `session` current, archiving the previous current session (dropping the oldest
    /// archived one beyond the limit). This is what starting a session does.
    pub fn set_current(&mut self, session: Session) {
        self.view.set_current(session);
        self.applied();
    }

    /// Archive the current session, if any, so that the next message needs a new session.
    pub fn archive_current(&mut self) {
        self.view.archive_current();
        self.applied();
    }

    /// Whether some session in this record (initiator or responder) was set up with
    /// `base_key`.
    pub fn has_base_key(&self, base_key: &PublicKey) -> bool {
        self.view.has_base_key(base_key)
    }

    /// Whether decrypting `message` needs the prekeys it names: `false` when it repeats the
    /// PreKey message of a session this record already has (that session decrypts it).
    pub fn needs_prekeys(&self, message: &PreKeyMessage) -> bool {
        !self.has_base_key(message.base_key())
    }

    /// How many skipped message keys the record holds, over all its sessions.
    pub fn skipped_keys(&self) -> usize {
        self.keys.0.len()
    }

    /// Encrypt with the current session. `list_version` is the version of the device list
    /// of this device's own account, 0 outside accounts (see [`Session::encrypt`]). The
    /// record has changed when this returns: **persist it before sending the message**, or a
    /// restart could reuse a message key.
    ///
    /// This layer does not refuse to send to an account whose devices sent a newer list
    /// version than the one accepted; apps doing their own I/O compare
    /// [`Session::peer_list_version`] with their accepted list themselves (the store-backed
    /// [`encrypt`](crate::encrypt) does, PROTOCOL.md §11.6).
    pub fn encrypt(&mut self, list_version: u64, plaintext: &[u8]) -> Result<Message> {
        let message = self.view.encrypt(list_version, plaintext)?;
        self.applied();
        Ok(message)
    }

    /// [`SessionRecord::encrypt`] in place: `buffer` holds the plaintext and, on success, the
    /// serialized message (see [`Session::encrypt_in_place`]).
    pub fn encrypt_in_place(&mut self, list_version: u64, buffer: &mut Vec<u8>) -> Result<()> {
        drop(self.view.encrypt_in_place(list_version, buffer)?);
        self.applied();
        Ok(())
    }

    /// [`SessionRecord::decrypt`] in place, for a serialized ratchet message in `buffer`: its
    /// ciphertext is authenticated and decrypted where it is, in one AES-GCM pass. Returns
    /// the plaintext, part of `buffer`, the sender's identity and the list version the
    /// message carried (as [`Decrypted::sender_list_version`]). On failure `buffer` and the
    /// record are unchanged. (A PreKey message goes through
    /// [`SessionRecord::decrypt_prekey`].)
    pub fn decrypt_in_place<'b, R: CryptoRng + ?Sized>(
        &mut self,
        buffer: &'b mut [u8],
        trusted: Option<&IdentityKey>,
        rng: &mut R,
    ) -> Result<(&'b mut [u8], IdentityKey, u64)> {
        let (enc_header, sealed) = ratchet_parts_mut(buffer)?;
        let mut body = Body::InPlace(sealed);
        let (opened, sender, list_version) =
            self.view
                .decrypt(&enc_header, &mut body, trusted, &self.keys, rng)?;
        self.applied();
        let (Opened::InPlace(len, _), Body::InPlace(sealed)) = (opened, body) else {
            return Err(Error::Internal("an in-place body decrypts in place"));
        };
        let plaintext = sealed.get_mut(in_place_plaintext(len));
        let plaintext = plaintext.ok_or(Error::Internal("a plaintext outside its body"))?;
        Ok((plaintext, sender, list_version))
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
        let mut body = Body::Borrowed(&message.ciphertext);
        let enc_header = &message.enc_header;
        let (opened, sender, sender_list_version) = self
            .view
            .decrypt(enc_header, &mut body, trusted, &self.keys, rng)?;
        self.applied();
        Ok(Decrypted {
            plaintext: owned(opened)?,
            sender,
            sender_list_version,
            consumed: ConsumedPreKeys::default(),
        })
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
        let view = &mut self.view;
        let decrypted = view.decrypt_prekey(ours, trusted, message, prekeys, &self.keys, rng)?;
        self.applied();
        Ok(decrypted)
    }

    /// Apply the view's writes to the record's own keys.
    fn applied(&mut self) {
        let Writes {
            index: _,
            removed,
            skipped,
        } = self.view.take_writes();
        for session in removed {
            self.keys.remove_session(session);
        }
        for (session, delta) in skipped {
            self.keys.apply(session, delta);
        }
        self.view.mark_clean();
    }

    /// Serialize for the application's storage (versioned; holds secrets).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::SessionRecord {
            current: self.current().map(Session::to_proto),
            archived: self.archived().map(Session::to_proto).collect(),
            skipped_keys: self
                .keys
                .0
                .iter()
                .map(|(id, k)| skipped_to_proto(id, k))
                .collect(),
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
            return Err(Error::Malformed(WHAT));
        }
        let mut identities = IdentityCache::knowing(peer);
        let current = record.current.as_ref();
        let current = current
            .map(|s| Session::from_proto(s, &mut identities))
            .transpose()?;
        let archived = record
            .archived
            .iter()
            .map(|s| Session::from_proto(s, &mut identities))
            .collect::<Result<Vec<_>>>()?;
        let ascending = record.skipped_keys.windows(2).all(|w| match w {
            [a, b] => (&a.session, a.chain, a.counter) < (&b.session, b.chain, b.counter),
            _ => true,
        });
        if !ascending {
            return Err(Error::Malformed(WHAT));
        }
        let keys = record.skipped_keys.iter().map(skipped_from_proto);
        Self::from_parts(current, archived, keys.collect::<Result<_>>()?)
    }

    /// A record from its sessions and their stored skipped keys, checked to agree: no session
    /// twice, and exactly the keys each session's chains say they hold.
    pub(crate) fn from_parts(
        current: Option<Session>,
        archived: Vec<Session>,
        keys: Vec<SkippedMessageKey>,
    ) -> Result<Self> {
        let mut ids: Vec<SessionId> = current.iter().chain(&archived).map(Session::id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(Error::Malformed(WHAT));
        }
        let mut map = BTreeMap::new();
        for key in keys {
            if map.insert(key.id, key.key).is_some() {
                return Err(Error::Malformed(WHAT));
            }
        }
        let record = SessionRecord {
            view: RecordView::whole(current, archived),
            keys: SkippedKeys(map),
        };
        record.check_keys()?;
        Ok(record)
    }

    /// Every key belongs to a chain of a session of this record, and every chain holds as
    /// many keys as it says.
    fn check_keys(&self) -> Result<()> {
        let sessions = self.current().into_iter().chain(self.archived());
        let mut expected = 0usize;
        for session in sessions {
            for (chain, count) in session.skipped_chains() {
                let held = self.keys.chain(session.id(), chain).count();
                if held != count as usize {
                    return Err(Error::Malformed(WHAT));
                }
                expected += held;
            }
        }
        match expected == self.keys.0.len() {
            true => Ok(()),
            false => Err(Error::Malformed(WHAT)),
        }
    }

    /// The record's stored skipped keys, as the rows a store holds.
    pub(crate) fn skipped_rows(&self) -> impl Iterator<Item = SkippedMessageKey> + '_ {
        self.keys.0.iter().map(|(id, key)| SkippedMessageKey {
            id: *id,
            key: MessageKey::boxed(key.as_bytes(), key.index()),
        })
    }

    /// The record's sessions, current first, taken apart (for a store to hold as rows).
    pub(crate) fn into_sessions(self) -> (crate::session::SessionIndex, Vec<Session>) {
        let index = self.view.index();
        (index, self.view.into_sessions().collect())
    }
}

impl core::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current", &self.current())
            .field("archived", &self.archived().count())
            .field("skipped_keys", &self.keys.0.len())
            .finish()
    }
}

fn skipped_to_proto(id: &SkippedKeyId, key: &MessageKey) -> proto::SkippedKey {
    proto::SkippedKey {
        session: id.session.as_bytes().to_vec(),
        chain: id.chain,
        counter: id.counter,
        message_key: key.as_bytes().to_vec(),
    }
}

fn skipped_from_proto(key: &proto::SkippedKey) -> Result<SkippedMessageKey> {
    let id = SkippedKeyId {
        session: SessionId::from_bytes(wire::array(&key.session, WHAT)?),
        chain: key.chain,
        counter: key.counter,
    };
    SkippedMessageKey::from_bytes(id, &key.message_key)
}
