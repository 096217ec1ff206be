//! Thin, checked wrappers over the primitives (HKDF-SHA256, HMAC-SHA256, AES-256-GCM, X25519)
//! so that the protocol modules never touch a primitive crate directly.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
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
pub(crate) fn hkdf_into(salt: &[u8], ikm: &[u8], info: &[&[u8]], okm: &mut [u8]) -> Result<()> {
    let kdf = Hkdf::<Sha256>::new(Some(salt), ikm);
    kdf.expand_multi_info(info, okm)
        .map_err(|_| Error::Malformed("HKDF output length"))
}

/// `HKDF(0^32, ikm, info, N)`: as [`hkdf`], with HKDF-Extract's HMAC keyed by the constant
/// all-zero salt once per process instead of once per call.
pub(crate) fn hkdf_zero_salt<const N: usize>(
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; N]>> {
    static ZERO_SALT: std::sync::OnceLock<Option<Hmac<Sha256>>> = std::sync::OnceLock::new();
    let keyed =
        ZERO_SALT.get_or_init(|| <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32]).ok());
    let mut extract = keyed.clone().ok_or(Error::Malformed("HMAC key"))?;
    extract.update(ikm);
    let prk = Zeroizing::new(<[u8; 32]>::from(extract.finalize().into_bytes()));
    let kdf =
        Hkdf::<Sha256>::from_prk(prk.as_ref()).map_err(|_| Error::Malformed("HKDF PRK length"))?;
    let mut okm = Zeroizing::new([0u8; N]);
    kdf.expand_multi_info(info, okm.as_mut())
        .map_err(|_| Error::Malformed("HKDF output length"))?;
    Ok(okm)
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
    if let Ok(keyed) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        let mut mac = keyed.clone();
        mac.update(a);
        out_a.copy_from_slice(&mac.finalize().into_bytes());
        let mut mac = keyed;
        mac.update(b);
        out_b.copy_from_slice(&mac.finalize().into_bytes());
    }
    (out_a, out_b)
}

/// `HMAC-SHA256(key, message)` for a key of any length; [`hmac`] is its 32-byte-key form.
pub(crate) fn hmac_any_key(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    // HMAC accepts keys of any length, so this cannot fail; map defensively.
    let mut out = Zeroizing::new([0u8; 32]);
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        mac.update(message);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
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
        .map_err(|_| Error::Malformed("plaintext too long for AES-256-GCM"))?;
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
}
