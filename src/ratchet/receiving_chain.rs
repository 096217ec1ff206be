//! A receiving chain: the peer's ratchet key and our chain key for it.

use std::collections::VecDeque;

use crate::constants::{MAX_SKIP, MAX_STORED_SKIPPED_KEYS};
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::ratchet::chain_key::ChainKey;
use crate::ratchet::message_key::MessageKey;
use crate::ratchet::skipped_keys::SkippedKey;

/// One receiving chain.
#[derive(Clone)]
pub(crate) struct ReceivingChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain: ChainKey,
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
pub(crate) struct PendingSkip {
    ratchet_key: PublicKey,
    chains: VecDeque<ChainKey>,
}

impl PendingSkip {
    fn new(ratchet_key: &PublicKey) -> Self {
        PendingSkip {
            ratchet_key: *ratchet_key,
            chains: VecDeque::new(),
        }
    }

    fn push(&mut self, chain: &ChainKey) {
        if self.chains.len() == MAX_STORED_SKIPPED_KEYS {
            self.chains.pop_front();
        }
        self.chains.push_back(chain.clone());
    }

    /// The skipped message keys, oldest first.
    pub(crate) fn into_keys(self) -> impl Iterator<Item = SkippedKey> {
        let ratchet_key = self.ratchet_key;
        self.chains.into_iter().map(move |chain| SkippedKey {
            ratchet_key,
            key: chain.message_key(),
        })
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

/// Walk `chain` to message `target`, keeping the keys in between as skipped keys of
/// `ratchet_key`. The caller has already bounded the gap with [`check_skip`].
pub(crate) fn advance_to(
    ratchet_key: &PublicKey,
    chain: &ChainKey,
    target: u32,
) -> Result<ChainAdvance> {
    let (skipped, at) = skip_to(ratchet_key, chain, target)?;
    let (message_key, next) = at.step();
    Ok(ChainAdvance {
        skipped,
        message_key,
        next: next.ok_or(Error::DecryptionFailed)?,
    })
}

/// Walk `chain` up to (not including) `target`: the skipped keys and the chain key at
/// `target`.
pub(crate) fn skip_to(
    ratchet_key: &PublicKey,
    chain: &ChainKey,
    target: u32,
) -> Result<(PendingSkip, ChainKey)> {
    let mut skipped = PendingSkip::new(ratchet_key);
    let mut at = chain.clone();
    while at.index() < target {
        skipped.push(&at);
        at = at.next().ok_or(Error::DecryptionFailed)?;
    }
    Ok((skipped, at))
}
