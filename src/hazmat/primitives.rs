//! Thin entry points into keylink's own primitive wrappers (X25519 with the non-contributory
//! check, Ed25519 identity-key verification, HKDF-SHA256, HMAC-SHA256, AES-256-GCM), so that
//! published test vectors exercise the code the protocol runs rather than the primitive crates
//! directly. **Not for production use.**

use x25519_dalek::StaticSecret;

use crate::error::Result;
use crate::keys::{IdentityKey, KeyPair, PublicKey};

/// X25519 of `secret` (clamped per RFC 7748) and `public`, through keylink's key pair and
/// Diffie-Hellman, so an all-zero result is rejected with
/// [`Error::NonContributoryKey`](crate::error::Error::NonContributoryKey).
pub fn x25519(secret: [u8; 32], public: [u8; 32]) -> Result<[u8; 32]> {
    let pair = KeyPair::from_secret(StaticSecret::from(secret));
    let shared = pair.dh(&PublicKey::from(public))?;
    Ok(*shared)
}

/// Ed25519 verification as keylink does it: `public` must parse as an [`IdentityKey`]
/// (canonical, not of small order; otherwise
/// [`Error::InvalidKey`](crate::error::Error::InvalidKey)), then `verify_strict` over the
/// message with an empty context (otherwise
/// [`Error::InvalidSignature`](crate::error::Error::InvalidSignature)).
pub fn ed25519_verify(public: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
    let key = IdentityKey::try_from(public)?;
    key.verify("test vector", &[], &[message], signature)
}

/// HKDF-SHA256 with a `len`-byte output; fails if `len` exceeds 255 * 32.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>> {
    let mut okm = vec![0u8; len];
    crate::primitives::hkdf_into(salt, ikm, &[info], &mut okm)?;
    Ok(okm)
}

/// HMAC-SHA256 with a key of any length.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    *crate::primitives::hmac_any_key(key, message)
}

/// AES-256-GCM encryption with a 96-bit nonce; returns `ciphertext || 128-bit tag`.
pub fn aes256gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    crate::primitives::aead_seal(key, nonce, &[aad], plaintext)
}

/// AES-256-GCM decryption of `ciphertext || 128-bit tag` with a 96-bit nonce.
pub fn aes256gcm_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    crate::primitives::aead_open(key, nonce, &[aad], sealed)
}
