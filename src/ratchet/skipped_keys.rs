//! Message keys of messages that have not arrived yet, oldest first, bounded by
//! [`MAX_STORED_SKIPPED_KEYS`].

use std::collections::VecDeque;

use crate::constants::MAX_STORED_SKIPPED_KEYS;
use crate::keys::PublicKey;
use crate::ratchet::message_key::MessageKey;

/// A message key kept for message `key.index()` of the chain of `ratchet_key`.
///
/// The key is boxed: the store below grows, evicts from the front and removes from the
/// middle, and each of those moves entries. Moving a box moves a pointer; the key stays
/// where it was made and is zeroized there when dropped, so no freed or stale slot of the
/// deque ever holds key bytes. (Pre-sizing the deque to its limit instead would cost
/// every session with a skipped key ~140 KiB.)
pub(crate) struct SkippedKey {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) key: Box<MessageKey>,
}

/// The bounded store of skipped message keys of one session.
#[derive(Default)]
pub(crate) struct SkippedKeys(VecDeque<SkippedKey>);

impl SkippedKeys {
    /// The position of the key for message `counter` of `ratchet_key`'s chain.
    pub(crate) fn find(&self, ratchet_key: &PublicKey, counter: u32) -> Option<usize> {
        self.0
            .iter()
            .position(|s| s.key.index() == counter && s.ratchet_key == *ratchet_key)
    }

    pub(crate) fn get(&self, position: usize) -> Option<&SkippedKey> {
        self.0.get(position)
    }

    /// Remove the key at `position` (its message authenticated).
    pub(crate) fn remove(&mut self, position: usize) {
        self.0.remove(position);
    }

    /// Append keys, evicting the oldest beyond the limit.
    pub(crate) fn extend(&mut self, keys: impl IntoIterator<Item = SkippedKey>) {
        self.0.extend(keys);
        let excess = self.0.len().saturating_sub(MAX_STORED_SKIPPED_KEYS);
        self.0.drain(..excess);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SkippedKey> {
        self.0.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
