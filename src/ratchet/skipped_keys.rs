//! Message keys of messages that have not arrived yet, stored under `(HK, N)`: grouped by the
//! header key (and ratchet key) of the chain they belong to, oldest chain first. At most
//! [`MAX_SKIPPED_HEADER_KEYS`] chains (storing under another evicts every key of the oldest)
//! and [`MAX_STORED_SKIPPED_KEYS`] keys (the oldest evicted).
//!
//! A session keeps only the ledger: per chain its header key, ratchet key, number and how many
//! keys are stored. The keys themselves are rows of their own, read one at a time when a
//! header opens under a chain's header key, and written as a [`SkippedDelta`]: so a session's
//! cost does not grow with the keys it holds.

use std::collections::VecDeque;

use crate::constants::{MAX_SKIPPED_HEADER_KEYS, MAX_STORED_SKIPPED_KEYS};
use crate::error::Result;
use crate::keys::PublicKey;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::message_key::MessageKey;

/// The ledger entry of one chain with stored skipped keys.
pub(crate) struct SkippedChain {
    /// Names the chain's key rows; never reused within a session.
    pub(crate) number: u64,
    /// Boxed: chains are evicted from the front, and moving a box moves a pointer, so no
    /// freed or stale slot holds the key.
    pub(crate) header_key: Box<HeaderKey>,
    pub(crate) ratchet_key: PublicKey,
    /// How many keys of this chain are stored (at least one).
    pub(crate) count: u32,
}

/// Where one session's skipped message keys are read from, one key at a time.
pub(crate) trait SkippedKeySource {
    /// The stored key for message `counter` of chain `chain`, if it is stored.
    fn skipped_key(&self, chain: u64, counter: u32) -> Result<Option<Box<MessageKey>>>;
}

/// A source with no keys: a session that was just set up.
pub(crate) struct NoSkippedKeys;

impl SkippedKeySource for NoSkippedKeys {
    fn skipped_key(&self, _: u64, _: u32) -> Result<Option<Box<MessageKey>>> {
        Ok(None)
    }
}

/// The writes to one session's skipped-key rows that a decryption makes.
#[derive(Default)]
pub(crate) struct SkippedDelta {
    /// New keys per chain, ascending counters (each chain once).
    pub(crate) inserted: Vec<(u64, VecDeque<Box<MessageKey>>)>,
    /// Per chain, how many of its keys stored *before* this delta to delete, lowest counters
    /// first (each chain once).
    pub(crate) evicted: Vec<(u64, u32)>,
    /// The stored key a message used: `(chain, counter)`.
    pub(crate) removed: Option<(u64, u32)>,
}

impl SkippedDelta {
    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.evicted.is_empty() && self.removed.is_none()
    }

    fn pending(&mut self, chain: u64) -> Option<&mut VecDeque<Box<MessageKey>>> {
        let found = self.inserted.iter_mut().find(|(c, _)| *c == chain);
        found.map(|(_, keys)| keys)
    }

    /// Evict the `n` oldest of the `count` keys chain `chain` holds now: stored ones first
    /// (they have the lower counters), then keys inserted by this delta.
    fn evict(&mut self, chain: u64, count: u32, n: u32) {
        let pending = self.pending(chain).map_or(0, |k| k.len());
        let stored = count.saturating_sub(u32::try_from(pending).unwrap_or(u32::MAX));
        let from_stored = n.min(stored);
        if from_stored > 0 {
            match self.evicted.iter_mut().find(|(c, _)| *c == chain) {
                Some((_, total)) => *total += from_stored,
                None => self.evicted.push((chain, from_stored)),
            }
        }
        let from_pending = usize::try_from(n - from_stored).unwrap_or(usize::MAX);
        if let Some(keys) = self.pending(chain) {
            keys.drain(..from_pending.min(keys.len()));
        }
        self.inserted.retain(|(_, keys)| !keys.is_empty());
    }
}

/// The bounded ledger of skipped message keys of one session.
#[derive(Default)]
pub(crate) struct SkippedKeys {
    chains: VecDeque<SkippedChain>,
    len: usize,
    /// The number the next new chain gets.
    next_number: u64,
}

impl SkippedKeys {
    /// The chains, oldest first.
    pub(crate) fn chains(&self) -> impl Iterator<Item = &SkippedChain> {
        self.chains.iter()
    }

    pub(crate) fn chain(&self, index: usize) -> Option<&SkippedChain> {
        self.chains.get(index)
    }

    /// The key for message `counter` of chain `chain` was used: it goes, and a chain left
    /// empty goes too.
    pub(crate) fn remove(&mut self, chain: usize, counter: u32, delta: &mut SkippedDelta) {
        let Some(c) = self.chains.get_mut(chain) else {
            return;
        };
        c.count = c.count.saturating_sub(1);
        self.len = self.len.saturating_sub(1);
        delta.removed = Some((c.number, counter));
        if c.count == 0 {
            self.chains.remove(chain);
        }
    }

    /// Store `keys` (ascending, all above the chain's stored ones) of the chain of
    /// `ratchet_key` under `header_key`, then evict: whole oldest chains beyond
    /// [`MAX_SKIPPED_HEADER_KEYS`], then oldest keys beyond [`MAX_STORED_SKIPPED_KEYS`].
    pub(crate) fn extend(
        &mut self,
        header_key: &HeaderKey,
        ratchet_key: &PublicKey,
        keys: impl IntoIterator<Item = Box<MessageKey>>,
        delta: &mut SkippedDelta,
    ) {
        let keys: VecDeque<_> = keys.into_iter().collect();
        if keys.is_empty() {
            return;
        }
        // At most `MAX_STORED_SKIPPED_KEYS` keys come at once.
        let added = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        let Some(chain) = self.chain_for(header_key, ratchet_key) else {
            return;
        };
        chain.count = chain.count.saturating_add(added);
        let number = chain.number;
        self.len += keys.len();
        match delta.pending(number) {
            Some(pending) => pending.extend(keys),
            None => delta.inserted.push((number, keys)),
        }
        self.evict(delta);
    }

    /// The ledger entry of the chain of (`header_key`, `ratchet_key`), new if there is none.
    fn chain_for(
        &mut self,
        header_key: &HeaderKey,
        ratchet_key: &PublicKey,
    ) -> Option<&mut SkippedChain> {
        let known = self
            .chains
            .iter()
            .position(|c| c.header_key.same_as(header_key) && c.ratchet_key == *ratchet_key);
        if known.is_none() {
            // One number per DH ratchet step at most: 2^64 cannot be reached.
            let number = self.next_number;
            self.next_number = number.wrapping_add(1);
            self.chains.push_back(SkippedChain {
                number,
                header_key: Box::new(header_key.clone()),
                ratchet_key: *ratchet_key,
                count: 0,
            });
        }
        match known {
            Some(index) => self.chains.get_mut(index),
            None => self.chains.back_mut(),
        }
    }

    fn evict(&mut self, delta: &mut SkippedDelta) {
        while self.chains.len() > MAX_SKIPPED_HEADER_KEYS {
            if let Some(oldest) = self.chains.pop_front() {
                self.len -= oldest.count as usize;
                delta.evict(oldest.number, oldest.count, oldest.count);
            }
        }
        while self.len > MAX_STORED_SKIPPED_KEYS {
            let Some(oldest) = self.chains.front_mut() else {
                return;
            };
            let excess = (self.len - MAX_STORED_SKIPPED_KEYS).min(oldest.count as usize);
            let excess = excess as u32;
            delta.evict(oldest.number, oldest.count, excess);
            oldest.count -= excess;
            self.len -= excess as usize;
            if oldest.count == 0 {
                self.chains.pop_front();
            }
        }
    }

    /// Read a stored ledger back (a session being loaded); the caller checks the limits.
    pub(crate) fn from_stored(chains: VecDeque<SkippedChain>, next_number: u64) -> Self {
        let len = chains.iter().map(|c| c.count as usize).sum();
        SkippedKeys {
            chains,
            len,
            next_number,
        }
    }

    /// The number the next new chain gets.
    pub(crate) fn next_number(&self) -> u64 {
        self.next_number
    }

    /// How many keys are stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
