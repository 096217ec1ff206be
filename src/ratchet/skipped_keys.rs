//! Message keys of messages that have not arrived yet, stored under `(HK, N)`: grouped by the
//! header key (and ratchet key) of the chain they belong to, oldest chain first. At most
//! [`MAX_SKIPPED_HEADER_KEYS`] chains (storing under another evicts every key of the oldest)
//! and [`MAX_STORED_SKIPPED_KEYS`] keys (the oldest evicted).

use std::collections::VecDeque;

use crate::constants::{MAX_SKIPPED_HEADER_KEYS, MAX_STORED_SKIPPED_KEYS};
use crate::keys::PublicKey;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::message_key::MessageKey;

/// The skipped keys of one chain.
///
/// Keys and header key are boxed: chains and keys are evicted from the front and removed
/// from the middle, and moving a box moves a pointer, so no freed or stale slot ever holds
/// key bytes.
pub(crate) struct SkippedChain {
    pub(crate) header_key: Box<HeaderKey>,
    pub(crate) ratchet_key: PublicKey,
    /// Ascending message numbers.
    pub(crate) keys: VecDeque<Box<MessageKey>>,
}

impl SkippedChain {
    /// The position of the key for message `counter`.
    pub(crate) fn find(&self, counter: u32) -> Option<usize> {
        self.keys.iter().position(|k| k.index() == counter)
    }
}

/// The bounded store of skipped message keys of one session.
#[derive(Default)]
pub(crate) struct SkippedKeys {
    chains: VecDeque<SkippedChain>,
    len: usize,
}

impl SkippedKeys {
    /// The chains, oldest first.
    pub(crate) fn chains(&self) -> impl Iterator<Item = &SkippedChain> {
        self.chains.iter()
    }

    pub(crate) fn chain(&self, index: usize) -> Option<&SkippedChain> {
        self.chains.get(index)
    }

    /// Remove key `key` of chain `chain` (its message authenticated); a chain left empty goes.
    pub(crate) fn remove(&mut self, chain: usize, key: usize) {
        let Some(c) = self.chains.get_mut(chain) else {
            return;
        };
        if c.keys.remove(key).is_some() {
            self.len -= 1;
        }
        if c.keys.is_empty() {
            self.chains.remove(chain);
        }
    }

    /// Store `keys` (ascending) of the chain of `ratchet_key` under `header_key`, then
    /// evict: whole oldest chains beyond [`MAX_SKIPPED_HEADER_KEYS`], then oldest keys
    /// beyond [`MAX_STORED_SKIPPED_KEYS`].
    pub(crate) fn extend(
        &mut self,
        header_key: &HeaderKey,
        ratchet_key: &PublicKey,
        keys: impl IntoIterator<Item = Box<MessageKey>>,
    ) {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return;
        }
        let known = self
            .chains
            .iter()
            .position(|c| c.header_key.same_as(header_key) && c.ratchet_key == *ratchet_key);
        let chain = match known {
            Some(i) => self.chains.get_mut(i),
            None => {
                self.chains.push_back(SkippedChain {
                    header_key: Box::new(header_key.clone()),
                    ratchet_key: *ratchet_key,
                    keys: VecDeque::new(),
                });
                self.chains.back_mut()
            }
        };
        if let Some(chain) = chain {
            let before = chain.keys.len();
            chain.keys.extend(keys);
            self.len += chain.keys.len() - before;
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.chains.len() > MAX_SKIPPED_HEADER_KEYS {
            if let Some(oldest) = self.chains.pop_front() {
                self.len -= oldest.keys.len();
            }
        }
        while self.len > MAX_STORED_SKIPPED_KEYS {
            let Some(oldest) = self.chains.front_mut() else {
                return;
            };
            let excess = (self.len - MAX_STORED_SKIPPED_KEYS).min(oldest.keys.len());
            oldest.keys.drain(..excess);
            self.len -= excess;
            if oldest.keys.is_empty() {
                self.chains.pop_front();
            }
        }
    }

    /// Read stored chains back (a record being loaded); the limits are checked by the caller.
    pub(crate) fn push_stored(&mut self, chain: SkippedChain) {
        self.len += chain.keys.len();
        self.chains.push_back(chain);
    }

    /// How many keys are stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
