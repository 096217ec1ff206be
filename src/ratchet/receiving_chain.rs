//! The receiving chain: the peer's ratchet key `DHr`, our chain key `CKr` and the header key
//! `HKr` its messages' headers are sealed under.

use crate::constants::{MAX_SKIP, MAX_STORED_SKIPPED_KEYS};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::ratchet::chain_key::ChainKey;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::message_key::MessageKey;

/// The receiving chain. Its keys are boxed: a move must not leave a copy of a key behind in a
/// freed or stale slot.
pub(crate) struct ReceivingChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain: Box<ChainKey>,
    pub(crate) header_key: Box<HeaderKey>,
}

/// The keys one step along a chain yields: the skipped ones, the wanted one and the chain
/// key to keep. Nothing is stored until the message authenticated.
pub(crate) struct ChainAdvance {
    pub(crate) skipped: PendingSkip,
    pub(crate) message_key: MessageKey,
    pub(crate) next: ChainKey,
}

/// The chain keys at the skipped indices of one chain, newest last. Only the newest
/// [`MAX_STORED_SKIPPED_KEYS`] are kept: older ones would be evicted on storing anyway. Their
/// message keys are derived only after the message authenticated, so a forged header costs
/// one HMAC per skipped index, not two.
///
/// The buffer is sized once, for exactly the keys it will hold, and never shifted: no
/// reallocation or removal leaves a chain key behind, and dropping it zeroizes every key in
/// place. An in-order message skips nothing and allocates nothing.
pub(crate) struct PendingSkip {
    chains: Vec<ChainKey>,
}

impl PendingSkip {
    fn with_capacity(capacity: usize) -> Self {
        PendingSkip {
            chains: Vec::with_capacity(capacity),
        }
    }

    /// The skipped message keys, oldest first, derived from the chain keys in place.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Box<MessageKey>> + '_ {
        self.chains.iter().map(ChainKey::boxed_message_key)
    }
}

/// Check that reaching `target` from `chain` skips at most [`MAX_SKIP`] keys. Done before any
/// key is derived.
pub(crate) fn check_skip(chain: &ChainKey, target: u32) -> Result<()> {
    match target.checked_sub(chain.index()) {
        Some(gap) if gap <= MAX_SKIP => Ok(()),
        _ => Err(Error::DecryptionFailed),
    }
}

/// Walk `chain` to message `target`, keeping the keys in between as skipped keys. The caller
/// has already bounded the gap with [`check_skip`].
pub(crate) fn advance_to(chain: &ChainKey, target: u32) -> Result<ChainAdvance> {
    let (skipped, at) = skip_to(chain, target)?;
    let (message_key, next) = at.step();
    Ok(ChainAdvance {
        skipped,
        message_key,
        next: next.ok_or(Error::DecryptionFailed)?,
    })
}

/// Walk `chain` up to (not including) `target`: the skipped keys and the chain key at
/// `target`.
pub(crate) fn skip_to(chain: &ChainKey, target: u32) -> Result<(PendingSkip, ChainKey)> {
    let limit = u32::try_from(MAX_STORED_SKIPPED_KEYS).unwrap_or(u32::MAX);
    let kept = target.saturating_sub(chain.index()).min(limit);
    let capacity = usize::try_from(kept).unwrap_or(MAX_STORED_SKIPPED_KEYS);
    let mut skipped = PendingSkip::with_capacity(capacity);
    let mut at = chain.clone();
    while at.index() < target {
        // Only the newest `kept` indices are stored.
        if target - at.index() <= kept {
            skipped.chains.push(at.clone());
        }
        at = at.next().ok_or(Error::DecryptionFailed)?;
    }
    Ok((skipped, at))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pending_skips_are_sized_once_and_keep_the_newest_keys() {
        let start = ChainKey::new(&[1u8; 32], 5);
        for (target, kept) in [
            (5, 0),
            (6, 1),
            (15, 10),
            (5 + 3_000, MAX_STORED_SKIPPED_KEYS),
        ] {
            let (skipped, at) = skip_to(&start, target).unwrap();
            assert_eq!(at.index(), target);
            assert_eq!(skipped.chains.len(), kept);
            // Exactly as large as needed, so no push reallocated.
            assert_eq!(skipped.chains.capacity(), kept);
            let indices: Vec<u32> = skipped.keys().map(|k| k.index()).collect();
            let first = target - u32::try_from(kept).unwrap();
            assert_eq!(indices, (first..target).collect::<Vec<_>>());
        }
    }

    #[test]
    fn derived_skipped_keys_match_the_chain() {
        let start = ChainKey::new(&[1u8; 32], 0);
        let (skipped, at) = skip_to(&start, 3).unwrap();
        let mut walk = start;
        for stored in skipped.keys() {
            assert_eq!(stored.as_bytes(), walk.message_key().as_bytes());
            walk = walk.next().unwrap();
        }
        assert_eq!(walk.as_bytes(), at.as_bytes());
    }
}
