//! Thin entry points into keylink's own primitive wrappers (X25519 with the non-contributory
//! check, Ed25519 identity-key verification, HKDF-SHA256, HMAC-SHA256, AES-256-GCM), so that
//! published test vectors exercise the code the protocol runs rather than the primitive crates
//! directly. **Not for production use.**

use x25519_dalek::StaticSecret;

use crate::error::Result;
use crate::keys::{IdentityKey, KeyPair, PublicKey};

/// X25519 of `secret` (clamped per RFC 7748) and `public`, through keylink's Diffie-Hellman
/// (on Edwards arithmetic, the function the key pairs call): an all-zero result is rejected with
/// [`Error::NonContributoryKey`](crate::error::Error::NonContributoryKey), a `public` whose
/// u-coordinate lies on the twist of curve25519 with
/// [`Error::InvalidKey`](crate::error::Error::InvalidKey); every other result is RFC 7748's.
/// Bit 255 of `public` is ignored and `u` is reduced modulo p, as RFC 7748 says (keylink's
/// parsers reject such encodings before they get here).
pub fn x25519(secret: [u8; 32], public: [u8; 32]) -> Result<[u8; 32]> {
    let secret = StaticSecret::from(secret);
    let public = PublicKey::from(public);
    Ok(*crate::primitives::dh(&secret, public.inner())?)
}

/// The X25519 public key of `secret`, `X25519(secret, 9)`, as keylink computes it.
pub fn x25519_public_key(secret: [u8; 32]) -> [u8; 32] {
    KeyPair::from_secret(StaticSecret::from(secret))
        .public()
        .to_bytes()
}

/// X25519 of `secret` and the X25519 form of the identity key `identity`, as PQXDH computes
/// it: straight from the identity key's Edwards point. The result is `x25519(secret, u)` for
/// `u` the identity key's Montgomery form (`u = (1 + y) / (1 - y)`).
pub fn x25519_identity(secret: [u8; 32], identity: &IdentityKey) -> Result<[u8; 32]> {
    let secret = StaticSecret::from(secret);
    Ok(*crate::primitives::dh_edwards(
        &secret,
        &identity.edwards(),
    )?)
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
