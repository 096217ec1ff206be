//! The sessions of one peer as an operation sees them: the index, the current session, and
//! the archived sessions and skipped message keys it had to read. Every rule about which
//! session handles a message lives here, once, for both the whole in-memory
//! [`SessionRecord`](crate::session::SessionRecord) and the store-backed operations.
//!
//! A view reads archived sessions and skipped keys through a [`RecordSource`] only when a
//! message needs them, and remembers what it changed: the index, the sessions it wrote, the
//! sessions it dropped, and the writes to skipped-key rows.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::ENC_HEADER_LEN;
use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, IdentityKeyPair, PublicKey};
use crate::pqxdh::ResponderKeys;
use crate::ratchet::{Body, MessageKey, Opened, SkippedDelta, SkippedKeySource};
use crate::session::message::{Message, PreKeyMessage};
use crate::session::responder::{ConsumedPreKeys, Decrypted, PreKeyIds, ResponderPreKeys};
use crate::session::rows::{SessionId, SessionIndex, SkippedKeyId};
use crate::session::state::{Session, Unsend};

/// Where a view reads what it has not loaded.
pub(crate) trait RecordSource {
    /// The session `id` of this peer, if it is stored.
    fn session(&self, id: &SessionId) -> Result<Option<Session>>;

    /// The stored skipped message key `id`, if it is stored.
    fn skipped_key(&self, id: &SkippedKeyId) -> Result<Option<Box<MessageKey>>>;
}

/// One session's skipped keys, read through a [`RecordSource`].
struct SessionKeys<'a> {
    session: SessionId,
    source: &'a dyn RecordSource,
}

impl SkippedKeySource for SessionKeys<'_> {
    fn skipped_key(&self, chain: u64, counter: u32) -> Result<Option<Box<MessageKey>>> {
        let id = SkippedKeyId {
            session: self.session,
            chain,
            counter,
        };
        self.source.skipped_key(&id)
    }
}

/// A session read into the view (boxed: a session is moved between slots and into the
/// store's changes, and a box moves as a pointer), and whether it changed.
pub(crate) struct Loaded {
    pub(crate) session: Box<Session>,
    pub(crate) dirty: bool,
}

impl Loaded {
    fn new(session: Session) -> Self {
        Loaded {
            session: Box::new(session),
            dirty: true,
        }
    }

    fn stored(session: Session) -> Self {
        Loaded {
            session: Box::new(session),
            dirty: false,
        }
    }
}

/// Where a session sits in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Current,
    Archived(usize),
}

/// What a view changed since it was read (or since the last [`RecordView::take_writes`]).
#[derive(Default)]
pub(crate) struct Writes {
    /// The new index, if it changed.
    pub(crate) index: Option<SessionIndex>,
    /// Sessions dropped from the record, with every skipped key they had.
    pub(crate) removed: Vec<SessionId>,
    /// Writes to skipped-key rows, per session.
    pub(crate) skipped: Vec<(SessionId, SkippedDelta)>,
}

/// The sessions of one peer as one operation sees them.
#[derive(Default)]
pub(crate) struct RecordView {
    current: Option<Loaded>,
    /// Most recently used first.
    archived: Vec<SessionId>,
    /// The archived sessions read so far.
    loaded: Vec<Loaded>,
    index_changed: bool,
    writes: Writes,
}

impl RecordView {
    /// A view of a stored record: its index and its current session, if any.
    pub(crate) fn stored(index: SessionIndex, current: Option<Session>) -> Self {
        RecordView {
            current: current.map(Loaded::stored),
            archived: index.archived,
            ..Self::default()
        }
    }

    /// A view with every session loaded: `archived` in record order.
    pub(crate) fn whole(current: Option<Session>, archived: Vec<Session>) -> Self {
        RecordView {
            current: current.map(Loaded::stored),
            archived: archived.iter().map(Session::id).collect(),
            loaded: archived.into_iter().map(Loaded::stored).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn current(&self) -> Option<&Session> {
        self.current.as_ref().map(|l| &*l.session)
    }

    /// The index as it is now.
    pub(crate) fn index(&self) -> SessionIndex {
        SessionIndex {
            current: self.current().map(Session::id),
            archived: self.archived.clone(),
        }
    }

    /// The archived sessions that are loaded, in record order.
    pub(crate) fn archived(&self) -> impl Iterator<Item = &Session> {
        self.archived
            .iter()
            .filter_map(|id| self.loaded_session(id))
    }

    fn loaded_session(&self, id: &SessionId) -> Option<&Session> {
        let loaded = self.loaded.iter().find(|l| l.session.id() == *id);
        loaded.map(|l| &*l.session)
    }

    /// Make `session` current, archiving the previous current session (dropping the oldest
    /// archived one beyond the limit).
    pub(crate) fn set_current(&mut self, session: Session) {
        self.promote(Loaded::new(session));
    }

    fn promote(&mut self, loaded: Loaded) {
        self.index_changed = true;
        if let Some(old) = self.current.replace(loaded) {
            self.archive(old);
        }
    }

    /// Archive the current session, if any.
    pub(crate) fn archive_current(&mut self) {
        if let Some(old) = self.current.take() {
            self.archive(old);
        }
    }

    fn archive(&mut self, session: Loaded) {
        self.index_changed = true;
        self.archived.insert(0, session.session.id());
        self.loaded.push(session);
        while self.archived.len() > MAX_ARCHIVED_SESSIONS {
            let Some(dropped) = self.archived.pop() else {
                break;
            };
            self.loaded.retain(|l| l.session.id() != dropped);
            self.writes.skipped.retain(|(id, _)| *id != dropped);
            self.writes.removed.push(dropped);
        }
    }

    /// Whether some session, current or archived, was set up with `base_key`.
    pub(crate) fn has_base_key(&self, base_key: &PublicKey) -> bool {
        self.slot_of(base_key).is_some()
    }

    fn slot_of(&self, base_key: &PublicKey) -> Option<Slot> {
        let id = SessionId::from_bytes(base_key.to_bytes());
        if self.current().is_some_and(|c| c.id() == id) {
            return Some(Slot::Current);
        }
        self.archived
            .iter()
            .position(|a| *a == id)
            .map(Slot::Archived)
    }

    /// Every slot in trial order: current first, then archived, most recently used first.
    fn slots(&self) -> impl Iterator<Item = Slot> + use<> {
        let current = self.current.is_some().then_some(Slot::Current);
        current
            .into_iter()
            .chain((0..self.archived.len()).map(Slot::Archived))
    }

    /// The session in `slot`, read through `source` if it is not loaded yet.
    fn get(&mut self, slot: Slot, source: &dyn RecordSource) -> Result<&mut Loaded> {
        let id = match slot {
            Slot::Current => return self.current.as_mut().ok_or(Error::NoSession),
            Slot::Archived(i) => *self.archived.get(i).ok_or(Error::NoSession)?,
        };
        let position = self.loaded.iter().position(|l| l.session.id() == id);
        let position = match position {
            Some(p) => p,
            None => {
                let session = source.session(&id)?.ok_or(Error::Malformed(
                    "session index (names a session that is not stored)",
                ))?;
                if session.id() != id {
                    return Err(Error::Malformed("session (stored under another id)"));
                }
                self.loaded.push(Loaded::stored(session));
                self.loaded.len() - 1
            }
        };
        self.loaded.get_mut(position).ok_or(Error::NoSession)
    }

    fn note_skipped(&mut self, session: SessionId, delta: SkippedDelta) {
        if !delta.is_empty() {
            self.writes.skipped.push((session, delta));
        }
    }

    /// The current session's peer list version (0 without a current session).
    pub(crate) fn peer_list_version(&self) -> u64 {
        self.current().map_or(0, Session::peer_list_version)
    }

    /// Encrypt with the current session, carrying `list_version` (see [`Session::encrypt`]).
    pub(crate) fn encrypt(&mut self, list_version: u64, plaintext: &[u8]) -> Result<Message> {
        let current = self.current.as_mut().ok_or(Error::NoSession)?;
        let message = current.session.encrypt(list_version, plaintext)?;
        current.dirty = true;
        Ok(message)
    }

    /// Encrypt the plaintext in `buffer` in place with the current session (see
    /// [`Session::encrypt_in_place`]).
    pub(crate) fn encrypt_in_place(
        &mut self,
        list_version: u64,
        buffer: &mut Vec<u8>,
    ) -> Result<Unsend> {
        let current = self.current.as_mut().ok_or(Error::NoSession)?;
        let unsend = current
            .session
            .encrypt_in_place_undoable(list_version, buffer)?;
        current.dirty = true;
        Ok(unsend)
    }

    /// Decrypt a ratchet message, its encrypted header and `body`: see
    /// [`SessionRecord::decrypt`](crate::session::SessionRecord::decrypt). Returns the
    /// plaintext, the sender's identity and the list version the message carried.
    pub(crate) fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        enc_header: &[u8; ENC_HEADER_LEN],
        body: &mut Body<'_>,
        trusted: Option<&IdentityKey>,
        source: &dyn RecordSource,
        rng: &mut R,
    ) -> Result<(Opened, IdentityKey, u64)> {
        for slot in self.slots() {
            let loaded = self.get(slot, source)?;
            let session = &loaded.session;
            if trusted.is_some_and(|t| t != session.remote_identity()) {
                continue;
            }
            let id = session.id();
            let keys = SessionKeys {
                session: id,
                source,
            };
            let Some((opened, update)) = session.try_decrypt(enc_header, body, &keys)? else {
                continue;
            };
            let list_version = update.list_version();
            let skipped = match loaded.session.commit(update, rng) {
                Ok(skipped) => skipped,
                Err(e) => return Err(opened.undo(body).err().unwrap_or(e)),
            };
            loaded.dirty = true;
            self.note_skipped(id, skipped);
            return match self.used_by(slot) {
                Ok(sender) => Ok((opened, sender, list_version)),
                Err(e) => Err(opened.undo(body).err().unwrap_or(e)),
            };
        }
        Err(Error::DecryptionFailed)
    }

    /// Decrypt a PreKey message: see
    /// [`SessionRecord::decrypt_prekey`](crate::session::SessionRecord::decrypt_prekey).
    pub(crate) fn decrypt_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        ours: &IdentityKeyPair,
        trusted: Option<&IdentityKey>,
        message: &PreKeyMessage,
        prekeys: ResponderPreKeys,
        source: &dyn RecordSource,
        rng: &mut R,
    ) -> Result<Decrypted> {
        if trusted.is_some_and(|t| t != message.identity_key()) {
            return Err(Error::UntrustedIdentity);
        }
        match self.slot_of(message.base_key()) {
            Some(slot) => self.decrypt_repeated(slot, message, source, rng),
            None => self.respond(ours, message, prekeys, rng),
        }
    }

    fn decrypt_repeated<R: CryptoRng + ?Sized>(
        &mut self,
        slot: Slot,
        message: &PreKeyMessage,
        source: &dyn RecordSource,
        rng: &mut R,
    ) -> Result<Decrypted> {
        let loaded = self.get(slot, source)?;
        if !loaded.session.was_set_up_by(message) {
            return Err(Error::DecryptionFailed);
        }
        let id = loaded.session.id();
        let keys = SessionKeys {
            session: id,
            source,
        };
        let inner = &message.message;
        let mut body = Body::Borrowed(&inner.ciphertext);
        let (opened, update) = loaded
            .session
            .try_decrypt(&inner.enc_header, &mut body, &keys)?
            .ok_or(Error::DecryptionFailed)?;
        let sender_list_version = update.list_version();
        let skipped = loaded.session.commit(update, rng)?;
        loaded.dirty = true;
        self.note_skipped(id, skipped);
        Ok(Decrypted {
            plaintext: owned(opened)?,
            sender: self.used_by(slot)?,
            sender_list_version,
            consumed: ConsumedPreKeys::default(),
        })
    }

    /// The identity of the session in `slot`, which just decrypted a message, after
    /// [`Self::used`].
    fn used_by(&mut self, slot: Slot) -> Result<IdentityKey> {
        let session = match slot {
            Slot::Current => self.current(),
            Slot::Archived(i) => self.archived.get(i).and_then(|id| self.loaded_session(id)),
        };
        let sender = session.map(|s| *s.remote_identity());
        let sender = sender.ok_or(Error::Internal("the session that decrypted"))?;
        self.used(slot);
        Ok(sender)
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
        let (session, plaintext, skipped) =
            Session::respond_with(ours, &responder_keys, message, rng)?;
        let consumed = ConsumedPreKeys {
            one_time_prekey: ids.one_time,
            kem_prekey: (!keys.kem.is_last_resort()).then_some(ids.kem),
            used_base_key: Some((ids.signed, *message.base_key())),
        };
        self.note_skipped(session.id(), skipped);
        // A new session has seen exactly the version of its first message.
        let sender_list_version = session.peer_list_version();
        self.insert_responder(session);
        Ok(Decrypted {
            plaintext,
            sender: *message.identity_key(),
            sender_list_version,
            consumed,
        })
    }

    /// Add a session set up by the peer's PreKey message (see the simultaneous-start rule at
    /// [`SessionRecord::decrypt_prekey`](crate::session::SessionRecord::decrypt_prekey)).
    pub(crate) fn insert_responder(&mut self, mut session: Session) {
        let Some(current) = self
            .current
            .as_mut()
            .filter(|c| c.session.is_initiator() && c.session.awaiting_reply())
        else {
            return self.set_current(session);
        };
        current.session.set_simultaneous_with(*session.base_key());
        current.dirty = true;
        session.set_simultaneous_with(*current.session.base_key());
        let current_key = current.session.base_key().as_bytes();
        if current_key < session.base_key().as_bytes() {
            self.archive(Loaded::new(session));
        } else {
            self.set_current(session);
        }
    }

    /// Record that the session in `slot` just decrypted a message: an archived one becomes
    /// current again, unless it and the current one were started simultaneously and the
    /// current one's base key is smaller; then it only moves to the front of the archive.
    fn used(&mut self, slot: Slot) {
        let Slot::Archived(index) = slot else { return };
        if index >= self.archived.len() {
            return;
        }
        let id = self.archived.remove(index);
        self.index_changed = true;
        let Some(position) = self.loaded.iter().position(|l| l.session.id() == id) else {
            return;
        };
        let session = self.loaded.swap_remove(position);
        let stays_archived = self.current().is_some_and(|current| {
            simultaneous(current, &session.session)
                && current.base_key().as_bytes() < session.session.base_key().as_bytes()
        });
        match stays_archived {
            true => {
                self.archived.insert(0, id);
                self.loaded.push(session);
            }
            false => self.promote(session),
        }
    }

    /// What changed since the last call: the new index (if it changed), dropped sessions and
    /// skipped-key writes. Sessions that changed are marked clean again; see
    /// [`Self::dirty_sessions`] for them.
    pub(crate) fn take_writes(&mut self) -> Writes {
        let mut writes = core::mem::take(&mut self.writes);
        if core::mem::take(&mut self.index_changed) {
            writes.index = Some(self.index());
        }
        writes
    }

    /// Every session that changed, taken out of the view (for a store to write).
    pub(crate) fn into_dirty_sessions(self) -> impl Iterator<Item = Box<Session>> {
        let loaded = self.current.into_iter().chain(self.loaded);
        loaded.filter(|l| l.dirty).map(|l| l.session)
    }

    /// Every session, current first, then the archived ones in record order (all of them
    /// must be loaded: a whole record).
    pub(crate) fn into_sessions(self) -> impl Iterator<Item = Session> {
        let RecordView {
            current,
            archived,
            mut loaded,
            ..
        } = self;
        let mut ordered = Vec::with_capacity(loaded.len());
        for id in &archived {
            if let Some(p) = loaded.iter().position(|l| l.session.id() == *id) {
                ordered.push(*loaded.swap_remove(p).session);
            }
        }
        current.map(|l| *l.session).into_iter().chain(ordered)
    }

    /// Mark every session clean (a whole record applied its writes).
    pub(crate) fn mark_clean(&mut self) {
        let loaded = self.current.iter_mut().chain(self.loaded.iter_mut());
        loaded.for_each(|l| l.dirty = false);
    }
}

/// The plaintext of a body that was decrypted into a new buffer.
pub(crate) fn owned(opened: Opened) -> Result<Zeroizing<Vec<u8>>> {
    match opened {
        Opened::Owned(plaintext) => Ok(plaintext),
        Opened::InPlace(..) => Err(Error::Internal("an in-place body where a buffer was due")),
    }
}

/// Whether `a` and `b` were marked as started simultaneously with each other.
fn simultaneous(a: &Session, b: &Session) -> bool {
    a.simultaneous_with() == Some(b.base_key()) || b.simultaneous_with() == Some(a.base_key())
}
