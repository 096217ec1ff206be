//! The writes of one protocol operation: a list of [`Change`]s that a store applies all or
//! nothing.

use crate::keys::{IdentityKey, KemPreKeyId, OneTimePreKeyId, PublicKey, SignedPreKeyId};
use crate::session::{ConsumedPreKeys, SessionRecord};
use crate::store::Address;

/// One write. A store applies each kind as its own small row update.
///
/// **Match it exhaustively, with no wildcard arm.** A later version of keylink that adds a
/// kind of change adds a variant here (a breaking release), so a store written against this
/// version fails to compile instead of silently dropping a write it does not know.
#[derive(Debug)]
pub enum Change {
    /// Replace the session record of `address` (insert it if there is none).
    Session {
        /// The peer device.
        address: Address,
        /// Its new record (boxed: a record is large beside the other changes).
        record: Box<SessionRecord>,
    },
    /// Remember `identity` for `address` (first contact, or a change the user accepted).
    PeerIdentity {
        /// The peer device.
        address: Address,
        /// Its identity key.
        identity: IdentityKey,
    },
    /// Delete this one-time prekey: a session set up with it authenticated its first message.
    RemoveOneTimePreKey(OneTimePreKeyId),
    /// Delete this one-time KEM prekey, for the same reason. Never the last-resort one.
    RemoveKemPreKey(KemPreKeyId),
    /// Remember that `base_key` was used with this signed prekey (replay protection). This
    /// covers the last-resort KEM prekey too: a second PreKey message with the same (KEM
    /// prekey, signed prekey, base key) necessarily repeats the (signed prekey, base key)
    /// pair. Forget the pairs of a signed prekey when deleting it.
    UsedBaseKey {
        /// The signed prekey the PreKey message named.
        signed_prekey: SignedPreKeyId,
        /// The message's base key `EK_A`.
        base_key: PublicKey,
    },
}

/// All the writes of one protocol operation, to be applied atomically (one database
/// transaction), in any order: no two changes in one `Changes` touch the same row.
#[derive(Debug, Default)]
#[must_use = "changes do nothing until a store commits them"]
pub struct Changes(Vec<Change>);

impl Changes {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `change`.
    pub fn push(&mut self, change: Change) {
        self.0.push(change);
    }

    /// These changes and `change`.
    pub fn with(mut self, change: Change) -> Self {
        self.push(change);
        self
    }

    /// The changes, in the order they were added.
    pub fn iter(&self) -> core::slice::Iter<'_, Change> {
        self.0.iter()
    }

    /// How many changes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add what a PreKey message used up.
    pub(crate) fn consumed(&mut self, consumed: ConsumedPreKeys) {
        let ConsumedPreKeys {
            one_time_prekey,
            kem_prekey,
            used_base_key,
        } = consumed;
        self.0
            .extend(one_time_prekey.map(Change::RemoveOneTimePreKey));
        self.0.extend(kem_prekey.map(Change::RemoveKemPreKey));
        let used = used_base_key.map(|(signed_prekey, base_key)| Change::UsedBaseKey {
            signed_prekey,
            base_key,
        });
        self.0.extend(used);
    }
}

impl From<Change> for Changes {
    fn from(change: Change) -> Self {
        Changes(vec![change])
    }
}

impl FromIterator<Change> for Changes {
    fn from_iter<I: IntoIterator<Item = Change>>(iter: I) -> Self {
        Changes(iter.into_iter().collect())
    }
}

impl Extend<Change> for Changes {
    fn extend<I: IntoIterator<Item = Change>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Changes {
    type Item = Change;
    type IntoIter = std::vec::IntoIter<Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Changes {
    type Item = &'a Change;
    type IntoIter = core::slice::Iter<'a, Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
