//! The rows a peer's sessions are stored in: a small [`SessionIndex`] per peer, one
//! [`Session`](crate::session::Session) per session, and one [`SkippedMessageKey`] per
//! stored skipped message key. An operation reads only the rows it needs and writes only the
//! rows it changed, so its cost does not grow with the history a peer's record holds.

use core::fmt;

use zeroize::Zeroizing;

use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::error::{Error, Result};
use crate::ratchet::MessageKey;
use crate::wire::{self, Kind, proto};

/// Names a session within its peer's record: its base key `EK_A`, which no two sessions of
/// a record share.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId([u8; 32]);

impl SessionId {
    /// The id's 32 bytes (the session's base key), e.g. for a row key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// An id read back from a row key.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionId(bytes)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", crate::hex::encode(&self.0))
    }
}

/// Names one stored skipped message key: the session, the chain within it (a number the
/// session gives each chain it stores keys of) and the message number.
///
/// Ids order as the tuple `(session, chain, counter)`, so a chain's keys are one range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkippedKeyId {
    /// The session the key belongs to.
    pub session: SessionId,
    /// The chain within the session.
    pub chain: u64,
    /// The message number `N`.
    pub counter: u32,
}

impl SkippedKeyId {
    /// The ids of every key of chain `chain` of session `session`, as one range of the
    /// ordering: what [`Change::EvictSkippedMessageKeys`](crate::store::Change) takes the
    /// lowest of.
    pub fn chain(session: SessionId, chain: u64) -> core::ops::RangeInclusive<SkippedKeyId> {
        let id = |counter| SkippedKeyId {
            session,
            chain,
            counter,
        };
        id(0)..=id(u32::MAX)
    }
}

/// A stored message key for a message that has not arrived yet (a secret: persist it
/// sealed, see PROTOCOL.md).
pub struct SkippedMessageKey {
    pub(crate) id: SkippedKeyId,
    pub(crate) key: Box<MessageKey>,
}

impl SkippedMessageKey {
    /// The row this key is stored in.
    pub fn id(&self) -> &SkippedKeyId {
        &self.id
    }

    /// The value to store: the 32-byte message key.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.key.as_bytes())
    }

    /// Read back the key stored in row `id`.
    pub fn from_bytes(id: SkippedKeyId, bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Malformed("skipped message key (must be 32 bytes)"))?;
        Ok(SkippedMessageKey {
            id,
            key: MessageKey::boxed(bytes, id.counter),
        })
    }
}

impl fmt::Debug for SkippedMessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkippedMessageKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Which sessions a peer's record holds, in order: the current one (if any) and up to
/// [`MAX_ARCHIVED_SESSIONS`] archived ones, most recently used first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionIndex {
    pub(crate) current: Option<SessionId>,
    pub(crate) archived: Vec<SessionId>,
}

impl SessionIndex {
    /// The session new messages are encrypted with.
    pub fn current(&self) -> Option<&SessionId> {
        self.current.as_ref()
    }

    /// The archived sessions, most recently used first.
    pub fn archived(&self) -> &[SessionId] {
        &self.archived
    }

    /// Every session, current first.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionId> {
        self.current.iter().chain(&self.archived)
    }

    /// Whether the index names no session.
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.archived.is_empty()
    }

    /// Serialize for the application's storage (versioned; holds no secret).
    pub fn to_bytes(&self) -> Vec<u8> {
        let index = proto::SessionIndex {
            current: self.current.map_or_else(Vec::new, |id| id.0.to_vec()),
            archived: self.archived.iter().flat_map(|id| id.0).collect(),
        };
        wire::encode(Kind::SessionIndex, &index)
    }

    /// Parse what [`SessionIndex::to_bytes`] produced: at most
    /// [`MAX_ARCHIVED_SESSIONS`] archived sessions, no session named twice.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "session index";
        let index: proto::SessionIndex = wire::decode(Kind::SessionIndex, bytes)?;
        let current = match index.current.is_empty() {
            true => None,
            false => Some(SessionId(wire::array(&index.current, WHAT)?)),
        };
        let (ids, rest) = index.archived.as_chunks::<32>();
        if !rest.is_empty() || ids.len() > MAX_ARCHIVED_SESSIONS {
            return Err(Error::Malformed(WHAT));
        }
        let index = SessionIndex {
            current,
            archived: ids.iter().copied().map(SessionId).collect(),
        };
        let mut seen: Vec<&SessionId> = index.sessions().collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(Error::Malformed(WHAT));
        }
        Ok(index)
    }
}
