//! All sessions with one peer device: the current one plus up to
//! [`MAX_ARCHIVED_SESSIONS`] archived ones, most recent first.

use std::collections::VecDeque;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::session::message::{Message, PreKeyMessage, RatchetMessage};
use crate::session::state::Session;
use crate::wire::{self, Kind, proto};

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

    /// The archived sessions, most recent first.
    pub fn archived(&self) -> impl Iterator<Item = &Session> {
        self.archived.iter()
    }

    /// Make `session` current, archiving the previous current session (dropping the oldest
    /// archived one beyond the limit).
    pub fn set_current(&mut self, session: Session) {
        if let Some(old) = self.current.replace(session) {
            self.archive(old);
        }
    }

    fn archive(&mut self, session: Session) {
        self.archived.push_front(session);
        self.archived.truncate(MAX_ARCHIVED_SESSIONS);
    }

    /// Whether some session in this record was set up by `base_key`.
    pub fn has_base_key(&self, base_key: &PublicKey) -> bool {
        self.position_of(base_key).is_some()
    }

    /// `Some(None)` for the current session, `Some(Some(i))` for archived session `i`.
    fn position_of(&self, base_key: &PublicKey) -> Option<Option<usize>> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.base_key() == base_key)
        {
            return Some(None);
        }
        self.archived
            .iter()
            .position(|s| s.base_key() == base_key)
            .map(Some)
    }

    /// Encrypt with the current session.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Message> {
        self.current
            .as_mut()
            .ok_or(Error::NoSession)?
            .encrypt(plaintext)
    }

    /// Decrypt with the current session, else with the archived ones; a session that works is
    /// promoted to current. On failure nothing changes.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &RatchetMessage,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        if let Some(current) = self.current.as_mut()
            && let Ok((plaintext, update)) = current.try_decrypt(message)
        {
            current.commit(update, rng)?;
            return Ok(plaintext);
        }
        let (index, plaintext, update) = self
            .archived
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.try_decrypt(message).ok().map(|(p, u)| (i, p, u)))
            .ok_or(Error::DecryptionFailed)?;
        let mut session = self.archived.remove(index).ok_or(Error::DecryptionFailed)?;
        if let Err(e) = session.commit(update, rng) {
            self.archived.insert(index, session);
            return Err(e);
        }
        self.set_current(session);
        Ok(plaintext)
    }

    /// Decrypt a repeated PreKey message in the session it set up, promoting that session to
    /// current. Its setup fields must be exactly those of the first copy.
    pub(crate) fn decrypt_repeated<R: CryptoRng + ?Sized>(
        &mut self,
        prekey_message: &PreKeyMessage,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let position = self.position_of(prekey_message.base_key());
        let session = match position {
            Some(None) => self.current.as_ref(),
            Some(Some(index)) => self.archived.get(index),
            None => None,
        };
        if !session.is_some_and(|s| s.was_set_up_by(prekey_message)) {
            return Err(Error::DecryptionFailed);
        }
        let message = &prekey_message.message;
        match position {
            Some(None) => {
                let current = self.current.as_mut().ok_or(Error::DecryptionFailed)?;
                current.decrypt(message, rng)
            }
            Some(Some(index)) => {
                let session = self
                    .archived
                    .get_mut(index)
                    .ok_or(Error::DecryptionFailed)?;
                let plaintext = session.decrypt(message, rng)?;
                if let Some(session) = self.archived.remove(index) {
                    self.set_current(session);
                }
                Ok(plaintext)
            }
            None => Err(Error::DecryptionFailed),
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
        let record: proto::SessionRecord = wire::decode(Kind::SessionRecord, bytes)?;
        if record.archived.len() > MAX_ARCHIVED_SESSIONS {
            return Err(Error::Malformed("session record"));
        }
        // Sized once: collecting would grow the deque and move sessions while parsing.
        let mut archived = VecDeque::with_capacity(record.archived.len());
        for session in &record.archived {
            archived.push_back(Session::from_proto(session)?);
        }
        Ok(SessionRecord {
            current: record
                .current
                .as_ref()
                .map(Session::from_proto)
                .transpose()?,
            archived,
        })
    }
}
