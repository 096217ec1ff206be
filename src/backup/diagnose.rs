//! Why a chunk did not authenticate: moved (reordered, duplicated or removed chunks), followed
//! by bytes after the real end of the message, or damaged.
//!
//! Runs only after a chunk failed, and releases nothing. Candidates are found cheaply with a
//! GCM tag probe (GHASH of the ciphertext computed once, then one AES block per candidate
//! position, or one GHASH block per candidate length) and every candidate is confirmed with
//! the real AES-256-GCM decryption before it is reported, so the probe only filters.

use zeroize::Zeroize;

use super::error::BackupError;
use super::message_keys::MessageKeys;
use crate::constants::{CHUNK_SIZE, MAX_CHUNKS};
use crate::primitives::{GcmTagProbe, TAG_LEN, gcm_tag_matches};

/// Positions before a failed chunk searched for where it belongs (1 GiB of chunks).
const LOOK_BEHIND: u64 = 1 << 16;
/// Positions after a failed chunk searched for where it belongs.
const LOOK_AHEAD: u64 = 1 << 10;

/// Why chunk `index`, whose bytes are `sealed`, did not authenticate. `sealed` is wiped.
pub(crate) fn diagnose(keys: &MessageKeys, index: u64, sealed: &mut [u8]) -> BackupError {
    let probe = keys.tag_probe();
    let error = if let Some(belongs_at) = find_elsewhere(&probe, keys, index, sealed) {
        BackupError::ChunkOutOfOrder { index, belongs_at }
    } else if ends_inside(&probe, keys, index, sealed) {
        BackupError::DataAfterEnd
    } else {
        BackupError::CorruptedChunk {
            index,
            last: sealed.len() < CHUNK_SIZE + TAG_LEN,
        }
    };
    sealed.zeroize();
    error
}

/// The position near `index` at which `sealed` authenticates, if any.
fn find_elsewhere(
    probe: &GcmTagProbe<'_>,
    keys: &MessageKeys,
    index: u64,
    sealed: &mut [u8],
) -> Option<u64> {
    let ct_len = sealed.len().checked_sub(TAG_LEN)?;
    let (ct, tag) = sealed.split_at(ct_len);
    let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
    let mut hash = probe.hash();
    hash.update_padded(ct);
    let hash = hash.finish(ct_len);
    let low = index.saturating_sub(LOOK_BEHIND);
    let high = index.saturating_add(LOOK_AHEAD).min(MAX_CHUNKS - 1);
    let candidate =
        |&i: &u64| i != index && gcm_tag_matches(&hash, &probe.mask(&keys.nonce(i)), &tag);
    (low..=high)
        .filter(candidate)
        .find(|&i| keys.open(i, sealed).is_some())
}

/// Whether a proper prefix of `sealed` is a valid final chunk `index`: the message ended there
/// and other bytes follow it.
fn ends_inside(probe: &GcmTagProbe<'_>, keys: &MessageKeys, index: u64, sealed: &mut [u8]) -> bool {
    let Some(longest) = sealed.len().checked_sub(TAG_LEN + 1) else {
        return false;
    };
    let longest = longest.min(CHUNK_SIZE - 1);
    let mask = probe.mask(&keys.nonce(index));
    let mut hash = probe.hash();
    for ct_len in 0..=longest {
        let full = ct_len / 16 * 16;
        if ct_len == full && ct_len > 0 {
            hash.update_padded(sealed.get(full - 16..full).unwrap_or_default());
        }
        let mut candidate = hash.clone();
        candidate.update_padded(sealed.get(full..ct_len).unwrap_or_default());
        let tag = sealed.get(ct_len..ct_len + TAG_LEN).unwrap_or_default();
        if gcm_tag_matches(&candidate.finish(ct_len), &mask, tag) {
            let prefix = sealed.get_mut(..ct_len + TAG_LEN).unwrap_or_default();
            if keys.open(index, prefix).is_some() {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    #[test]
    fn probe_computes_the_gcm_tag() {
        let keys = MessageKeys::new(&[8; 32], Zeroizing::new([1; 12]));
        let probe = keys.tag_probe();
        for (index, len) in [
            (0, 0),
            (1, 1),
            (2, 15),
            (3, 16),
            (4, 17),
            (300, 1000),
            (9, 16383),
        ] {
            let mut chunk = vec![0x3c; len];
            let tag = keys.seal(index, &mut chunk).unwrap();
            let mut hash = probe.hash();
            hash.update_padded(&chunk);
            assert!(gcm_tag_matches(
                &hash.finish(len),
                &probe.mask(&keys.nonce(index)),
                &tag
            ));
            assert!(!gcm_tag_matches(
                &probe.hash().finish(len),
                &probe.mask(&keys.nonce(index + 1)),
                &tag
            ));
        }
    }
}
