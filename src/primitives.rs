//! Thin, checked wrappers over the primitives (HKDF-SHA256, HMAC-SHA256, AES-256-GCM, X25519)
//! so that the protocol modules never touch a primitive crate directly.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::digest::FixedOutput;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of an AES-256-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// `HKDF(salt, ikm, info, N)` with SHA-256. `N` is always a small constant here, so expansion
/// cannot fail; the `Result` of the primitive is mapped rather than unwrapped regardless.
pub(crate) fn hkdf<const N: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; N]>> {
    let mut okm = Zeroizing::new([0u8; N]);
    hkdf_into(salt, ikm, info, okm.as_mut())?;
    Ok(okm)
}

/// `HKDF(salt, ikm, info, okm.len())` with SHA-256, written into `okm`: the runtime-length
/// form of [`hkdf`], which calls it. Fails if `okm` is longer than 255 * 32 bytes.
///
/// HKDF-Extract is done here rather than by `Hkdf::new`, which drops the PRK without
/// zeroizing it: the PRK lives only in a `Zeroizing` buffer.
pub(crate) fn hkdf_into(salt: &[u8], ikm: &[u8], info: &[&[u8]], okm: &mut [u8]) -> Result<()> {
    let prk = hmac_any_key(salt, ikm);
    expand(&prk, info, okm)
}

/// `HKDF(0^32, ikm, info, N)`: as [`hkdf`], with HKDF-Extract's HMAC keyed by the constant
/// all-zero salt once per process instead of once per call.
pub(crate) fn hkdf_zero_salt<const N: usize>(
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; N]>> {
    static ZERO_SALT: std::sync::OnceLock<Hmac<Sha256>> = std::sync::OnceLock::new();
    let mut extract = ZERO_SALT.get_or_init(|| keyed(&[0u8; 32])).clone();
    extract.update(ikm);
    let mut prk = Zeroizing::new([0u8; 32]);
    extract.finalize_into((&mut *prk).into());
    let mut okm = Zeroizing::new([0u8; N]);
    expand(&prk, info, okm.as_mut())?;
    Ok(okm)
}

/// HKDF-Expand from a PRK. Both failures are lengths keylink chose, hence [`Error::Internal`].
fn expand(prk: &[u8; 32], info: &[&[u8]], okm: &mut [u8]) -> Result<()> {
    let kdf = Hkdf::<Sha256>::from_prk(prk).map_err(|_| Error::Internal("HKDF PRK length"))?;
    kdf.expand_multi_info(info, okm)
        .map_err(|_| Error::Internal("HKDF output length"))
}

/// HMAC-SHA256 keyed with `key` of any length, without a fallible constructor: a key longer
/// than the 64-byte block is hashed first and a shorter one zero-padded, as RFC 2104 defines
/// HMAC, and the block goes to the infallible `KeyInit::new`.
fn keyed(key: &[u8]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        let mut digest = Zeroizing::new([0u8; 32]);
        Digest::finalize_into(Sha256::new_with_prefix(key), (&mut *digest).into());
        block
            .iter_mut()
            .zip(digest.iter())
            .for_each(|(b, k)| *b = *k);
    } else {
        block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    }
    <Hmac<Sha256> as KeyInit>::new(&(*block).into())
}

/// `HMAC-SHA256(key, message)`.
pub(crate) fn hmac(key: &[u8; 32], message: &[u8]) -> Zeroizing<[u8; 32]> {
    hmac_any_key(key, message)
}

/// `(HMAC-SHA256(key, a), HMAC-SHA256(key, b))`, keying HMAC once for both.
pub(crate) fn hmac_pair(
    key: &[u8; 32],
    a: &[u8],
    b: &[u8],
) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let (mut out_a, mut out_b) = (Zeroizing::new([0u8; 32]), Zeroizing::new([0u8; 32]));
    let keyed = keyed(key);
    let mut mac = keyed.clone();
    mac.update(a);
    mac.finalize_into((&mut *out_a).into());
    let mut mac = keyed;
    mac.update(b);
    mac.finalize_into((&mut *out_b).into());
    (out_a, out_b)
}

/// `HMAC-SHA256(key, message)` for a key of any length; [`hmac`] is its 32-byte-key form.
pub(crate) fn hmac_any_key(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let mut mac = keyed(key);
    mac.update(message);
    mac.finalize_into((&mut *out).into());
    out
}

/// X25519 with the non-contributory check DESIGN.md requires: an all-zero output aborts.
pub(crate) fn dh(secret: &StaticSecret, public: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(public);
    if !shared.was_contributory() {
        return Err(Error::NonContributoryKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// AES-256-GCM encryption; the tag is appended to the ciphertext.
pub(crate) fn aead_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[&[u8]],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new(key.into());
    let aad = aad.concat();
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(*nonce), &aad, out.as_mut_slice().into())
        .map_err(|_| Error::Internal("plaintext too long for AES-256-GCM"))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// AES-256-GCM decryption of `ciphertext || tag`. Plaintext is returned only after the tag
/// verified; on failure nothing is released.
pub(crate) fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[&[u8]],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let split = sealed
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(Error::DecryptionFailed)?;
    let (ciphertext, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).map_err(|_| Error::DecryptionFailed)?;
    let cipher = Aes256Gcm::new(key.into());
    let aad = aad.concat();
    // Decrypt straight from the input into the output, without copying the input first.
    let mut out = vec![0u8; ciphertext.len()];
    let buffers = InOutBuf::new(ciphertext, &mut out).map_err(|_| Error::DecryptionFailed)?;
    match cipher.decrypt_inout_detached(&Nonce::from(*nonce), &aad, buffers, &tag) {
        Ok(()) => Ok(out),
        Err(_) => {
            zeroize::Zeroize::zeroize(&mut out);
            Err(Error::DecryptionFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_agree_with_the_plain_forms() {
        let ikm = [9u8; 32];
        assert_eq!(
            *hkdf_zero_salt::<44>(&ikm, &[b"a", b"bc"]).unwrap(),
            *hkdf::<44>(&[0u8; 32], &ikm, &[b"a", b"bc"]).unwrap()
        );
        let (a, b) = hmac_pair(&ikm, &[1], &[2]);
        assert_eq!(*a, *hmac(&ikm, &[1]));
        assert_eq!(*b, *hmac(&ikm, &[2]));
    }

    #[test]
    fn infallible_keying_matches_the_hmac_crate_for_every_key_length() {
        for len in [0, 1, 31, 32, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5c).collect();
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(b"message");
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(
                *hmac_any_key(&key, b"message"),
                expected,
                "key length {len}"
            );
            assert_ne!(expected, [0u8; 32]);
        }
    }

    #[test]
    fn own_extract_matches_the_hkdf_crate() {
        let (salt, ikm) = ([7u8; 80], [9u8; 40]);
        let mut ours = [0u8; 100];
        hkdf_into(&salt, &ikm, &[b"in", b"fo"], &mut ours).unwrap();
        let mut theirs = [0u8; 100];
        Hkdf::<Sha256>::new(Some(&salt), &ikm)
            .expand(b"info", &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
    }

    /// HMAC's inner and outer states, keyed with secrets (HMAC keys, PRKs), are SHA-256
    /// cores that must zeroize on drop: this fails to compile if a dependency change drops
    /// sha2's `zeroize` feature.
    #[test]
    fn keyed_states_zeroize_on_drop() {
        fn zeroizes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroizes_on_drop::<<Sha256 as hmac::EagerHash>::Core>();
        zeroizes_on_drop::<Sha256>();
    }

    #[test]
    fn impossible_lengths_are_internal_errors() {
        let mut okm = vec![0u8; 255 * 32 + 1];
        assert!(matches!(
            hkdf_into(&[], &[1], &[], &mut okm),
            Err(Error::Internal("HKDF output length"))
        ));
    }
}
