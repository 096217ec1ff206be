//! Why a chunk did not authenticate: moved (reordered, duplicated or removed chunks), followed
//! by bytes after the real end of the message, or damaged.
//!
//! Runs only after a chunk failed, and releases nothing. Candidates are found cheaply with a
//! GCM tag probe (GHASH of the ciphertext computed once, then one AES block per candidate
//! position, or one GHASH block per candidate length) and every candidate is confirmed with
//! the real AES-256-GCM decryption before it is reported, so the probe only filters.

use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::BlockCipherEncrypt;
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::chunked::MessageKeys;
use super::error::BackupError;
use crate::constants::{CHUNK_SIZE, MAX_CHUNKS};

/// Bytes of AES-GCM tag.
const TAG_LEN: usize = 16;
/// Positions before a failed chunk searched for where it belongs (1 GiB of chunks).
const LOOK_BEHIND: u64 = 1 << 16;
/// Positions after a failed chunk searched for where it belongs.
const LOOK_AHEAD: u64 = 1 << 10;

type Block = ghash::Block;

/// Why chunk `index`, whose bytes are `sealed`, did not authenticate. `sealed` is wiped.
pub(crate) fn diagnose(keys: &MessageKeys, index: u64, sealed: &mut [u8]) -> BackupError {
    let probe = Probe::new(keys.aes());
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
fn find_elsewhere(probe: &Probe, keys: &MessageKeys, index: u64, sealed: &mut [u8]) -> Option<u64> {
    let ct_len = sealed.len().checked_sub(TAG_LEN)?;
    let (ct, tag) = sealed.split_at(ct_len);
    let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
    let mut ghash = probe.ghash.clone();
    ghash.update_padded(ct);
    let hash = finish(ghash, ct_len);
    let low = index.saturating_sub(LOOK_BEHIND);
    let high = index.saturating_add(LOOK_AHEAD).min(MAX_CHUNKS - 1);
    let candidate = |&i: &u64| i != index && tag_matches(&hash, &probe.mask(keys, i), &tag);
    (low..=high)
        .filter(candidate)
        .find(|&i| keys.open(i, sealed).is_some())
}

/// Whether a proper prefix of `sealed` is a valid final chunk `index`: the message ended there
/// and other bytes follow it.
fn ends_inside(probe: &Probe, keys: &MessageKeys, index: u64, sealed: &mut [u8]) -> bool {
    let Some(longest) = sealed.len().checked_sub(TAG_LEN + 1) else {
        return false;
    };
    let longest = longest.min(CHUNK_SIZE - 1);
    let mask = probe.mask(keys, index);
    let mut ghash = probe.ghash.clone();
    for ct_len in 0..=longest {
        let full = ct_len / 16 * 16;
        if ct_len == full && ct_len > 0 {
            ghash.update_padded(sealed.get(full - 16..full).unwrap_or_default());
        }
        let mut candidate = ghash.clone();
        candidate.update_padded(sealed.get(full..ct_len).unwrap_or_default());
        let tag = sealed.get(ct_len..ct_len + TAG_LEN).unwrap_or_default();
        if tag_matches(&finish(candidate, ct_len), &mask, tag) {
            let prefix = sealed.get_mut(..ct_len + TAG_LEN).unwrap_or_default();
            if keys.open(index, prefix).is_some() {
                return true;
            }
        }
    }
    false
}

/// GHASH keyed with `H = AES(K, 0^128)`, and the AES key for the tag masks.
struct Probe<'a> {
    aes: &'a Aes256,
    ghash: GHash,
}

impl<'a> Probe<'a> {
    fn new(aes: &'a Aes256) -> Self {
        let mut h = Block::default();
        aes.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        h.as_mut_slice().zeroize();
        Probe { aes, ghash }
    }

    /// `AES(K, nonce_i || 00000001)`, XORed into the hash to make chunk `i`'s tag.
    fn mask(&self, keys: &MessageKeys, i: u64) -> Block {
        let mut j0 = Block::default();
        j0.iter_mut()
            .zip(keys.nonce(i).iter())
            .for_each(|(j, n)| *j = *n);
        if let Some(last) = j0.last_mut() {
            *last = 1;
        }
        self.aes.encrypt_block(&mut j0);
        j0
    }
}

/// Appends GCM's length block (no associated data, `ct_len` bytes of ciphertext).
fn finish(mut ghash: GHash, ct_len: usize) -> Block {
    let bits = (ct_len as u64).wrapping_mul(8).to_be_bytes();
    let mut lengths = [0u8; 16];
    lengths
        .iter_mut()
        .skip(8)
        .zip(bits)
        .for_each(|(l, b)| *l = b);
    ghash.update_padded(&lengths);
    ghash.finalize()
}

fn tag_matches(hash: &Block, mask: &Block, tag: &[u8]) -> bool {
    let mut expected = [0u8; TAG_LEN];
    let pairs = expected.iter_mut().zip(hash.iter().zip(mask.iter()));
    pairs.for_each(|(e, (h, m))| *e = h ^ m);
    expected.ct_eq(tag).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::chunked::{InputKey, Prelude};

    #[test]
    fn probe_computes_the_gcm_tag() {
        let (_, keys) = Prelude::with_salt(&InputKey::from([8; 32]), b"ctx", [1; 24]);
        let probe = Probe::new(keys.aes());
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
            let mut ghash = probe.ghash.clone();
            ghash.update_padded(&chunk);
            assert!(tag_matches(
                &finish(ghash, len),
                &probe.mask(&keys, index),
                &tag
            ));
            assert!(!tag_matches(
                &finish(probe.ghash.clone(), len),
                &probe.mask(&keys, index + 1),
                &tag
            ));
        }
    }
}
