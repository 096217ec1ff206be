//! A receiving chain: the peer's ratchet key and our chain key for it.

use crate::constants::MAX_SKIP;
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
    pub(crate) skipped: Vec<SkippedKey>,
    pub(crate) message_key: MessageKey,
    pub(crate) next: ChainKey,
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
    let next = at.next().ok_or(Error::DecryptionFailed)?;
    Ok(ChainAdvance {
        skipped,
        message_key: at.message_key(),
        next,
    })
}

/// Walk `chain` up to (not including) `target`: the skipped keys and the chain key at
/// `target`.
pub(crate) fn skip_to(
    ratchet_key: &PublicKey,
    chain: &ChainKey,
    target: u32,
) -> Result<(Vec<SkippedKey>, ChainKey)> {
    let gap = target.saturating_sub(chain.index());
    let mut skipped = Vec::with_capacity(usize::try_from(gap).unwrap_or(0));
    let mut at = chain.clone();
    while at.index() < target {
        skipped.push(SkippedKey {
            ratchet_key: *ratchet_key,
            key: at.message_key(),
        });
        at = at.next().ok_or(Error::DecryptionFailed)?;
    }
    Ok((skipped, at))
}
