//! Thin, checked wrappers over the primitives (HKDF-SHA256, HMAC-SHA256, AES-256-GCM, X25519)
//! so that the protocol modules never touch a primitive crate directly.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::{EdwardsPoint, MontgomeryPoint};
use hkdf::Hkdf;
use hmac::digest::FixedOutput;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
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
/// HMAC-SHA256 keyed once: the inner and outer states after the key blocks, so each MAC
/// costs only the compressions of its message (zeroized on drop by `sha2`'s `zeroize`).
#[derive(Clone)]
pub(crate) struct HmacKey(Hmac<Sha256>);

impl HmacKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        HmacKey(keyed(key))
    }

    /// `HMAC-SHA256(key, message)`.
    pub(crate) fn mac(&self, message: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize_into((&mut *out).into());
        out
    }
}

pub(crate) fn hmac_any_key(key: &[u8], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let mut mac = keyed(key);
    mac.update(message);
    mac.finalize_into((&mut *out).into());
    out
}

// ---- X25519 on Edwards arithmetic ----------------------------------------------------------
// RFC 7748's X25519 computed on the birationally equivalent Edwards curve instead of with the
// Montgomery ladder: curve25519-dalek's Edwards scalar multiplication (AVX2 where the CPU has
// it, chosen at run time) is faster. For a u-coordinate on curve25519 the result is bit for
// bit RFC 7748's, because u([s]P) depends only on u(P); a u-coordinate on the twist has no
// Edwards point and is rejected (docs/PROTOCOL.md §1).

/// The error for a u-coordinate on the quadratic twist rather than on curve25519.
pub(crate) const TWIST_KEY: Error =
    Error::InvalidKey("X25519 public key (on the twist, not on curve25519)");

/// `X25519(secret, u)` with the checks DESIGN.md requires: an all-zero output aborts with
/// [`Error::NonContributoryKey`], a `u` on the twist with [`TWIST_KEY`]. As in RFC 7748, bit
/// 255 of `u` is ignored and `u` is taken modulo p.
pub(crate) fn dh(secret: &StaticSecret, public: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
    dh_edwards(secret, &edwards_from_u(public.as_bytes())?)
}

/// `X25519(secret, u(point))` for a point already in Edwards form (an identity key), with the
/// non-contributory check: no decompression needed.
pub(crate) fn dh_edwards(
    secret: &StaticSecret,
    point: &EdwardsPoint,
) -> Result<Zeroizing<[u8; 32]>> {
    let k = clamped_eighth(secret);
    // By reference: the scalar is not copied out of its zeroizing box.
    #[allow(clippy::op_ref)]
    let product = point.mul_by_cofactor() * &*k;
    let shared = Zeroizing::new(product.to_montgomery().to_bytes());
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(Error::NonContributoryKey);
    }
    Ok(shared)
}

/// Checks, without a secret, that an X25519 public key `u` is one a Diffie-Hellman with it would
/// accept: on curve25519 (not the twist, [`TWIST_KEY`]) and not of small order (its result
/// would be all zeros for every secret). For a key that is used later, where failing early is
/// worth a decompression (a scanned linking QR code).
pub(crate) fn check_x25519_public(public: &PublicKey) -> Result<()> {
    const SMALL_ORDER: Error = Error::InvalidKey("X25519 public key (small order)");
    match edwards_from_u(public.as_bytes()) {
        Ok(point) if point.is_small_order() => Err(SMALL_ORDER),
        Ok(_) => Ok(()),
        Err(Error::NonContributoryKey) => Err(SMALL_ORDER),
        Err(e) => Err(e),
    }
}

/// The public key `X25519(secret, 9)`, as `u([clamp(secret)]B)` from the precomputed table of
/// the Ed25519 base point `B` (whose Montgomery form is u = 9).
pub(crate) fn public_key(secret: &StaticSecret) -> PublicKey {
    let s = Zeroizing::new(Scalar::from_bytes_mod_order(*clamped(secret)));
    PublicKey::from(EdwardsPoint::mul_base(&s).to_montgomery().to_bytes())
}

/// `k = clamp(secret) / 8`, so that `[clamp(secret)]P = [k]([8]P)`. Clamping makes the scalar
/// `2^254 + 8m` with `m < 2^251`, so `k < 2^252 < l` is a canonical scalar: no reduction,
/// which would change the result on points with a small-order component.
fn clamped_eighth(secret: &StaticSecret) -> Zeroizing<Scalar> {
    let mut bytes = clamped(secret);
    let mut carry = 0u8;
    for byte in bytes.iter_mut().rev() {
        let next = *byte << 5;
        *byte = (*byte >> 3) | carry;
        carry = next;
    }
    Zeroizing::new(Scalar::from_bytes_mod_order(*bytes))
}

/// RFC 7748's clamping of the secret, in a buffer that is zeroized on drop.
fn clamped(secret: &StaticSecret) -> Zeroizing<[u8; 32]> {
    let mut bytes = Zeroizing::new(*secret.as_bytes());
    let array: &mut [u8; 32] = &mut bytes;
    array[0] &= 0xF8;
    array[31] = (array[31] & 0x7F) | 0x40;
    bytes
}

/// The Edwards point with Montgomery coordinate `u` (either of the two: `u(-P) = u(P)`).
/// `u` is public, so this need not be constant time. `u = -1` has no Edwards image; it lies on
/// the twist and RFC 7748 maps it to all zeros for every clamped scalar (it has order 4), so it
/// is rejected as such.
fn edwards_from_u(u: &[u8; 32]) -> Result<EdwardsPoint> {
    match MontgomeryPoint(*u).to_edwards(0) {
        Some(point) => Ok(point),
        None if is_minus_one(u) => Err(Error::NonContributoryKey),
        None => Err(TWIST_KEY),
    }
}

/// Whether `u`, bit 255 ignored, is `p - 1` (the only encoding of -1 below 2^255).
fn is_minus_one(u: &[u8; 32]) -> bool {
    let mut minus_one = [0xFFu8; 32];
    minus_one[0] = 0xEC;
    minus_one[31] = 0x7F;
    let mut masked = *u;
    masked[31] &= 0x7F;
    masked == minus_one
}

/// AES-256-GCM encryption; the tag is appended to the ciphertext. One-shot, for short
/// payloads (linking) and test vectors (messages seal in place, see [`Gcm`]).
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
/// verified; on failure nothing is released. One-shot, for short payloads (linking) and test
/// vectors.
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

// ---- Backups (feature `backup`) -----------------------------------------------------------
// Cobblestone-256 (HKDF-Expand with SHA-512, AES-256-GCM with detached tags over 16 KiB chunks
// in place), its failure diagnosis (a GCM tag probe), and Argon2id for password envelopes.

/// HKDF-Expand (RFC 5869, section 2.3) with HMAC-SHA512, `N` bytes, `info` the concatenation
/// of its parts. The hkdf crate wants a PRK of at least 64 bytes for SHA-512; Cobblestone-256
/// keys it with a 32-byte input key, which RFC 5869 allows.
///
/// `T(i)` is kept in one fixed, zeroized buffer: nothing secret is reallocated.
#[cfg(feature = "backup")]
pub(crate) fn hkdf_expand_sha512<const N: usize>(
    prk: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; N]>> {
    const { assert!(N <= 255 * 64) };
    let keyed = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(prk)
        .map_err(|_| Error::Malformed("HMAC key"))?;
    let mut okm = Zeroizing::new([0u8; N]);
    let mut previous = Zeroizing::new([0u8; 64]);
    for (counter, block) in (1u8..).zip(okm.chunks_mut(64)) {
        let mut mac = keyed.clone();
        if counter > 1 {
            mac.update(previous.as_ref());
        }
        info.iter().for_each(|part| mac.update(part));
        mac.update(&[counter]);
        let mut t = mac.finalize().into_bytes();
        previous.copy_from_slice(&t);
        zeroize::Zeroize::zeroize(t.as_mut_slice());
        block
            .iter_mut()
            .zip(previous.iter())
            .for_each(|(b, t)| *b = *t);
    }
    Ok(okm)
}

/// AES-256-GCM under one key, scheduled once for many messages, sealing and opening in place
/// with a detached tag (the chunked encryption of backups). The key schedule is zeroized on
/// drop (aes-gcm's `zeroize` feature).
#[cfg(feature = "backup")]
pub(crate) struct AeadKey {
    aes: aes_gcm::aes::Aes256,
    aead: Gcm,
}

/// AES-256-GCM keyed once (the key schedule is computed at creation, and zeroized on drop
/// by aes-gcm's `zeroize` feature), sealing and opening in place with a detached tag.
#[derive(Clone)]
pub(crate) struct Gcm(Aes256Gcm);

impl Gcm {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Gcm(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `buf` in place; returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
            .map_err(|_| Error::Internal("plaintext too long for AES-256-GCM"))?;
        Ok(tag.into())
    }

    /// Decrypts `ciphertext` into `out` (of the same length) if `tag` verifies, in one pass
    /// and without copying the input first; on failure `out` is left as it was.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let buffers = InOutBuf::new(ciphertext, out).map_err(|_| Error::DecryptionFailed)?;
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buffers, &Tag::from(*tag))
            .map_err(|_| Error::DecryptionFailed)
    }

    /// Decrypts `buf` in place if `tag` verifies; on failure `buf` is left as it was and
    /// nothing is released.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
            .map_err(|_| Error::DecryptionFailed)
    }
}

#[cfg(feature = "backup")]
impl zeroize::ZeroizeOnDrop for AeadKey {}

#[cfg(feature = "backup")]
impl AeadKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let aes = <aes_gcm::aes::Aes256 as KeyInit>::new(&(*key).into());
        let aead = Gcm(Aes256Gcm::from(aes.clone()));
        AeadKey { aes, aead }
    }

    /// Encrypts `buf` in place; returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        self.aead.seal_in_place(nonce, aad, buf)
    }

    /// Decrypts `buf` in place if `tag` verifies; on failure `buf` is left as it was and
    /// nothing is released.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        self.aead.open_in_place(nonce, aad, buf, tag)
    }

    /// A probe that recomputes this key's GCM tags without decrypting.
    pub(crate) fn tag_probe(&self) -> GcmTagProbe<'_> {
        GcmTagProbe::new(&self.aes)
    }
}

/// Recomputes AES-256-GCM tags (no associated data) cheaply, to find where a chunk that failed
/// would authenticate: GHASH keyed with `H = AES(K, 0^128)` over the ciphertext once, then one
/// AES block per candidate nonce. Only a filter: every candidate must still be confirmed by
/// [`AeadKey::open_in_place`].
#[cfg(feature = "backup")]
pub(crate) struct GcmTagProbe<'a> {
    aes: &'a aes_gcm::aes::Aes256,
    ghash: ghash::GHash,
}

/// GHASH of a ciphertext in progress (no associated data); see [`GcmTagProbe`].
#[cfg(feature = "backup")]
#[derive(Clone)]
pub(crate) struct GcmHash(ghash::GHash);

#[cfg(feature = "backup")]
impl<'a> GcmTagProbe<'a> {
    fn new(aes: &'a aes_gcm::aes::Aes256) -> Self {
        use aes_gcm::aes::cipher::BlockCipherEncrypt;
        let mut h = ghash::Block::default();
        aes.encrypt_block(&mut h);
        let ghash = ghash::GHash::new(&h);
        zeroize::Zeroize::zeroize(h.as_mut_slice());
        GcmTagProbe { aes, ghash }
    }

    /// An empty GHASH under this key.
    pub(crate) fn hash(&self) -> GcmHash {
        GcmHash(self.ghash.clone())
    }

    /// `AES(K, nonce || 00000001)`, XORed into the hash to make the tag under `nonce`.
    pub(crate) fn mask(&self, nonce: &[u8; 12]) -> Zeroizing<[u8; 16]> {
        use aes_gcm::aes::cipher::BlockCipherEncrypt;
        let mut j0 = ghash::Block::default();
        j0.iter_mut().zip(nonce).for_each(|(j, n)| *j = *n);
        if let Some(last) = j0.last_mut() {
            *last = 1;
        }
        self.aes.encrypt_block(&mut j0);
        let mut out = Zeroizing::new([0u8; 16]);
        out.copy_from_slice(&j0);
        zeroize::Zeroize::zeroize(j0.as_mut_slice());
        out
    }
}

#[cfg(feature = "backup")]
impl GcmHash {
    /// Absorbs `data`, zero-padded to a whole number of 16-byte blocks.
    pub(crate) fn update_padded(&mut self, data: &[u8]) {
        use ghash::universal_hash::UniversalHash;
        self.0.update_padded(data);
    }

    /// Appends GCM's length block (no associated data, `ct_len` bytes of ciphertext, all
    /// absorbed already): the hash that, XORed with a nonce's mask, is the tag.
    pub(crate) fn finish(self, ct_len: usize) -> Zeroizing<[u8; 16]> {
        use ghash::universal_hash::UniversalHash;
        let mut ghash = self.0;
        let bits = (ct_len as u64).wrapping_mul(8).to_be_bytes();
        let mut lengths = [0u8; 16];
        lengths
            .iter_mut()
            .skip(8)
            .zip(bits)
            .for_each(|(l, b)| *l = b);
        ghash.update_padded(&lengths);
        let mut hash = ghash.finalize();
        let mut out = Zeroizing::new([0u8; 16]);
        out.copy_from_slice(&hash);
        zeroize::Zeroize::zeroize(hash.as_mut_slice());
        out
    }
}

/// Whether `tag` is `hash XOR mask` (see [`GcmTagProbe`]), compared in constant time.
#[cfg(feature = "backup")]
pub(crate) fn gcm_tag_matches(hash: &[u8; 16], mask: &[u8; 16], tag: &[u8]) -> bool {
    let mut expected = [0u8; TAG_LEN];
    let pairs = expected.iter_mut().zip(hash.iter().zip(mask.iter()));
    pairs.for_each(|(e, (h, m))| *e = h ^ m);
    subtle::ConstantTimeEq::ct_eq(&expected[..], tag).into()
}

/// Argon2id v0x13 of `password` and `salt` with `m_cost_kib` KiB, `t_cost` passes and
/// `p_cost` lanes, 32 bytes of output (RFC 9106). The caller bounds the costs.
#[cfg(feature = "backup")]
pub(crate) fn argon2id(
    password: &[u8],
    salt: &[u8],
    (m_cost_kib, t_cost, p_cost): (u32, u32, u32),
) -> Result<Zeroizing<[u8; 32]>> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(m_cost_kib, t_cost, p_cost, Some(32))
        .map_err(|_| Error::Malformed("Argon2id parameters"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password, salt, out.as_mut())
        .map_err(|_| Error::Malformed("Argon2id input"))?;
    Ok(out)
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
    fn twist_keys_are_rejected_and_minus_one_is_non_contributory() {
        let secret = StaticSecret::from([3u8; 32]);
        let mut minus_one = [0xFFu8; 32];
        minus_one[0] = 0xEC;
        minus_one[31] = 0x7F;
        let mut minus_one_bit_255 = minus_one;
        minus_one_bit_255[31] |= 0x80;
        for u in [minus_one, minus_one_bit_255] {
            assert!(matches!(
                dh(&secret, &PublicKey::from(u)),
                Err(Error::NonContributoryKey)
            ));
            assert_eq!(x25519_dalek::x25519(*secret.as_bytes(), u), [0u8; 32]);
        }
        // u = 2: 2^3 + 486662 * 2^2 + 2 is not a square mod p.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(matches!(
            dh(&secret, &PublicKey::from(two)),
            Err(Error::InvalidKey(what)) if what.contains("twist")
        ));
        assert_ne!(x25519_dalek::x25519(*secret.as_bytes(), two), [0u8; 32]);
    }

    #[test]
    fn edwards_dh_equals_the_ladder() {
        let secret = StaticSecret::from([7u8; 32]);
        let peer = PublicKey::from(&StaticSecret::from([9u8; 32]));
        assert_eq!(
            *dh(&secret, &peer).unwrap(),
            secret.diffie_hellman(&peer).to_bytes()
        );
        assert_eq!(public_key(&secret), PublicKey::from(&secret));
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

#[cfg(all(test, feature = "backup"))]
#[allow(clippy::unwrap_used)]
mod backup_tests {
    use super::*;

    #[test]
    fn hkdf_expand_sha512_agrees_with_the_hkdf_crate() {
        // The hkdf crate takes PRKs of 64 bytes or more for SHA-512; lengths cover one block,
        // a partial second block (Cobblestone-256's 76 bytes) and several blocks.
        let prk = [0x0b_u8; 64];
        let reference = Hkdf::<sha2::Sha512>::from_prk(&prk).unwrap();
        let info: [&[u8]; 3] = [b"c2sp", b"", b"ctx"];
        let mut expected = [0u8; 200];
        reference.expand_multi_info(&info, &mut expected).unwrap();
        assert_eq!(
            *hkdf_expand_sha512::<64>(&prk, &info).unwrap(),
            expected[..64]
        );
        assert_eq!(
            *hkdf_expand_sha512::<76>(&prk, &info).unwrap(),
            expected[..76]
        );
        assert_eq!(
            *hkdf_expand_sha512::<200>(&prk, &info).unwrap(),
            expected[..]
        );
    }

    #[test]
    fn hkdf_expand_sha512_first_block_is_one_hmac() {
        // T(1) = HMAC(K, info || 0x01), with the 32-byte key Cobblestone-256 uses.
        let key = [7u8; 32];
        let mut mac = <Hmac<sha2::Sha512> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(b"info\x01");
        let t1 = mac.finalize().into_bytes();
        assert_eq!(
            hkdf_expand_sha512::<64>(&key, &[b"in", b"fo"]).unwrap()[..],
            t1[..]
        );
    }

    #[test]
    fn aead_key_agrees_with_aead_seal_and_open() {
        let (key, nonce) = ([3u8; 32], [9u8; 12]);
        let aead = AeadKey::new(&key);
        let mut buf = *b"sixteen bytes!!!and more";
        let tag = aead.seal_in_place(&nonce, b"ad", &mut buf).unwrap();
        let sealed = aead_seal(&key, &nonce, &[b"ad"], b"sixteen bytes!!!and more").unwrap();
        assert_eq!([&buf[..], &tag[..]].concat(), sealed);
        let mut bad_tag = tag;
        bad_tag[0] ^= 1;
        let before = buf;
        assert!(
            aead.open_in_place(&nonce, b"ad", &mut buf, &bad_tag)
                .is_err()
        );
        assert_eq!(buf, before);
        aead.open_in_place(&nonce, b"ad", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"sixteen bytes!!!and more");
    }
}
