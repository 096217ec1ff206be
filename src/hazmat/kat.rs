//! Recomputation of every intermediate value of a keylink session from explicit inputs, for
//! keylink's own known-answer vectors (`test-vectors/keylink/`, format in
//! `test-vectors/README.md`). **Not for production use.**
//!
//! Each function takes the secret bytes the normal API would have drawn from the RNG and
//! returns what keylink's own code computes from them: the same key types, PQXDH key
//! derivation, root and chain steps, message-key expansion, header and wire encodings and
//! AEAD as a real session. Nothing here keeps state; chaining the steps is the caller's job.

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use x25519_dalek::StaticSecret;

use crate::constants::SIGNED_PREKEY_CONTEXT;
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemCiphertext, KemKeyPair, KemPreKey, KemPublicKey, KeyPair,
    OneTimePreKey, PreKeyBundle, PublicKey, SignedPreKey,
};
use crate::pqxdh;
use crate::ratchet::{ChainKey, Header, MessageKey};
use crate::session::{PreKeyMessage, RatchetMessage};

/// The public values of an identity made from a 32-byte Ed25519 seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `IK`: the Ed25519 public key.
    pub public: [u8; 32],
    /// The X25519 secret: the first half of `SHA-512(seed)`, as stored (X25519 clamps it, so
    /// it acts as the clamped scalar of DESIGN.md).
    pub x25519_secret: [u8; 32],
    /// The X25519 public key: the Montgomery form of `IK`.
    pub x25519_public: [u8; 32],
}

/// The identity made from `seed`, as `IdentityKeyPair` makes it.
pub fn identity(seed: &[u8; 32]) -> Identity {
    let pair = IdentityKeyPair::from_seed(seed);
    Identity {
        public: pair.public().to_bytes(),
        x25519_secret: *pair.dh().secret_bytes(),
        x25519_public: pair.dh().public().to_bytes(),
    }
}

/// The X25519 public key of a 32-byte secret (clamped per RFC 7748).
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    key_pair(secret).public().to_bytes()
}

/// `X25519(secret, public)` through keylink's key pair, with the all-zero check.
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32]> {
    Ok(*key_pair(secret).dh(&PublicKey::from(*public))?)
}

/// `Sign(IK, "keylink v1 signed prekey" || u32be(id) || public)`.
pub fn signed_prekey_signature(identity_seed: &[u8; 32], id: u32, public: &[u8; 32]) -> [u8; 64] {
    IdentityKeyPair::from_seed(identity_seed)
        .sign(SIGNED_PREKEY_CONTEXT, &[&id.to_be_bytes(), public])
}

/// The ML-KEM-1024 encapsulation key made from the 64-byte seed `d || z`.
pub fn kem_public_key(seed: &[u8; 64]) -> Vec<u8> {
    KemKeyPair::from_seed(seed).public().as_bytes().to_vec()
}

/// `Sign(IK, "keylink v1 kem prekey" || u32be(id) || PQPK)`, with `PQPK` made from `kem_seed`.
pub fn kem_prekey_signature(identity_seed: &[u8; 32], id: u32, kem_seed: &[u8; 64]) -> [u8; 64] {
    let identity = IdentityKeyPair::from_seed(identity_seed);
    *KemPreKey::sign(id.into(), &identity, KemKeyPair::from_seed(kem_seed), false).signature()
}

/// A one-time prekey of a bundle: its id and X25519 secret.
#[derive(Clone, Copy, Debug)]
pub struct OneTimePreKeyInput {
    /// The prekey id.
    pub id: u32,
    /// The X25519 secret.
    pub secret: [u8; 32],
}

/// The inputs of a prekey bundle.
#[derive(Clone, Copy, Debug)]
pub struct BundleInput<'a> {
    /// The owner's identity seed.
    pub identity_seed: &'a [u8; 32],
    /// The owner's device id.
    pub device_id: u32,
    /// Signed prekey id.
    pub signed_prekey_id: u32,
    /// Signed prekey X25519 secret.
    pub signed_prekey_secret: &'a [u8; 32],
    /// The one-time prekey, if the bundle carries one.
    pub one_time_prekey: Option<OneTimePreKeyInput>,
    /// KEM prekey id.
    pub kem_prekey_id: u32,
    /// KEM prekey seed `d || z`.
    pub kem_prekey_seed: &'a [u8; 64],
}

/// The wire bytes (`0x13 || protobuf`) of the bundle made from `input`, through the normal
/// prekey types and `PreKeyBundle::to_bytes`.
pub fn bundle_bytes(input: &BundleInput<'_>) -> Result<Vec<u8>> {
    let identity = IdentityKeyPair::from_seed(input.identity_seed);
    let signed = SignedPreKey::generate(
        input.signed_prekey_id,
        &identity,
        &mut Fixed::new(input.signed_prekey_secret),
    );
    let one_time = input
        .one_time_prekey
        .map(|k| OneTimePreKey::generate(k.id, &mut Fixed::new(&k.secret)));
    let kem = KemPreKey::sign(
        input.kem_prekey_id.into(),
        &identity,
        KemKeyPair::from_seed(input.kem_prekey_seed),
        false,
    );
    // The fixed RNG handed out exactly the given secrets: check it did.
    if signed.key_pair().secret_bytes().as_slice() != input.signed_prekey_secret
        || one_time
            .as_ref()
            .zip(input.one_time_prekey)
            .is_some_and(|(k, i)| k.key_pair().secret_bytes().as_slice() != i.secret)
    {
        return Err(Error::InvalidKey("prekey secret"));
    }
    Ok(PreKeyBundle::new(input.device_id, &identity, &signed, one_time.as_ref(), &kem).to_bytes())
}

/// Every value of a PQXDH setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pqxdh {
    /// `X25519(IK_A, SPK_B)`.
    pub dh1: [u8; 32],
    /// `X25519(EK_A, IK_B)`.
    pub dh2: [u8; 32],
    /// `X25519(EK_A, SPK_B)`.
    pub dh3: [u8; 32],
    /// `X25519(EK_A, OPK_B)`, only with a one-time prekey.
    pub dh4: Option<[u8; 32]>,
    /// The ML-KEM-1024 ciphertext `CT` (1568 bytes).
    pub kem_ciphertext: Vec<u8>,
    /// The ML-KEM-1024 shared secret `SS`.
    pub kem_shared_secret: [u8; 32],
    /// `0xFF^32 || DH1 || DH2 || DH3 [|| DH4] || SS`.
    pub ikm: Vec<u8>,
    /// `SK`.
    pub sk: [u8; 32],
    /// `AD = IK_A || IK_B`.
    pub ad: [u8; 64],
}

/// The initiator's inputs.
#[derive(Clone, Copy, Debug)]
pub struct InitiatorInput<'a> {
    /// `IK_A`'s seed.
    pub identity_seed: &'a [u8; 32],
    /// `EK_A`'s X25519 secret.
    pub base_key_secret: &'a [u8; 32],
    /// `IK_B` (Ed25519).
    pub their_identity: &'a [u8; 32],
    /// `SPK_B`.
    pub signed_prekey: &'a [u8; 32],
    /// `OPK_B`, if used.
    pub one_time_prekey: Option<&'a [u8; 32]>,
    /// `PQPK_B` (1568 bytes).
    pub kem_prekey: &'a [u8],
    /// The FIPS 203 encapsulation randomness `m`.
    pub kem_m: &'a [u8; 32],
}

/// PQXDH as the initiator computes it.
pub fn pqxdh_initiator(input: &InitiatorInput<'_>) -> Result<Pqxdh> {
    let ours = IdentityKeyPair::from_seed(input.identity_seed);
    let theirs = IdentityKey::from_bytes(input.their_identity)?;
    let base = key_pair(input.base_key_secret);
    let spk = PublicKey::from(*input.signed_prekey);
    let dh1 = *ours.dh().dh(&spk)?;
    let dh2 = *base.dh(&theirs.dh_public())?;
    let dh3 = *base.dh(&spk)?;
    let dh4 = match input.one_time_prekey {
        Some(opk) => Some(*base.dh(&PublicKey::from(*opk))?),
        None => None,
    };
    let kem = KemPublicKey::try_from(input.kem_prekey)?;
    let (ct, ss) = kem.encapsulate_with(input.kem_m);
    finish(
        [dh1, dh2, dh3],
        dh4,
        ct,
        *ss,
        (&ours.public().to_bytes(), input.their_identity),
    )
}

/// The responder's inputs.
#[derive(Clone, Copy, Debug)]
pub struct ResponderInput<'a> {
    /// `IK_B`'s seed.
    pub identity_seed: &'a [u8; 32],
    /// `SPK_B`'s X25519 secret.
    pub signed_prekey_secret: &'a [u8; 32],
    /// `OPK_B`'s X25519 secret, if used.
    pub one_time_prekey_secret: Option<&'a [u8; 32]>,
    /// The KEM prekey's seed `d || z`.
    pub kem_prekey_seed: &'a [u8; 64],
    /// `IK_A` (Ed25519).
    pub their_identity: &'a [u8; 32],
    /// `EK_A`.
    pub their_base_key: &'a [u8; 32],
    /// `CT` (1568 bytes).
    pub kem_ciphertext: &'a [u8],
}

/// PQXDH as the responder computes it (decapsulating `CT`).
pub fn pqxdh_responder(input: &ResponderInput<'_>) -> Result<Pqxdh> {
    let ours = IdentityKeyPair::from_seed(input.identity_seed);
    let theirs = IdentityKey::from_bytes(input.their_identity)?;
    let spk = key_pair(input.signed_prekey_secret);
    let base = PublicKey::from(*input.their_base_key);
    let dh1 = *spk.dh(&theirs.dh_public())?;
    let dh2 = *ours.dh().dh(&base)?;
    let dh3 = *spk.dh(&base)?;
    let dh4 = match input.one_time_prekey_secret {
        Some(opk) => Some(*key_pair(opk).dh(&base)?),
        None => None,
    };
    let ct = KemCiphertext::try_from(input.kem_ciphertext)?;
    let ss = KemKeyPair::from_seed(input.kem_prekey_seed).decapsulate(&ct);
    finish(
        [dh1, dh2, dh3],
        dh4,
        ct,
        *ss,
        (input.their_identity, &ours.public().to_bytes()),
    )
}

fn finish(
    [dh1, dh2, dh3]: [[u8; 32]; 3],
    dh4: Option<[u8; 32]>,
    ct: KemCiphertext,
    ss: [u8; 32],
    (initiator, responder): (&[u8; 32], &[u8; 32]),
) -> Result<Pqxdh> {
    let sk = *pqxdh::derive(&[Some(&dh1), Some(&dh2), Some(&dh3), dh4.as_ref(), Some(&ss)])?;
    let mut ikm = crate::constants::PQXDH_PREFIX.to_vec();
    for part in [Some(&dh1), Some(&dh2), Some(&dh3), dh4.as_ref(), Some(&ss)]
        .into_iter()
        .flatten()
    {
        ikm.extend_from_slice(part);
    }
    Ok(Pqxdh {
        dh1,
        dh2,
        dh3,
        dh4,
        kem_ciphertext: ct.as_bytes().to_vec(),
        kem_shared_secret: ss,
        ikm,
        sk,
        ad: associated_data(initiator, responder),
    })
}

/// `AD = IK_A || IK_B`, initiator first.
pub fn associated_data(initiator: &[u8; 32], responder: &[u8; 32]) -> [u8; 64] {
    pqxdh::associated_data(initiator, responder)
}

/// `KDF_RK(rk, dh) = HKDF(rk, dh, "keylink v1 root", 96)`: the next root key, the new chain
/// key and the next header key `nhk`, split from one output as the ratchet splits it.
pub fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> Result<([u8; 32], [u8; 32], [u8; 32])> {
    let okm = crate::primitives::hkdf::<96>(rk, dh, &[crate::constants::ROOT_INFO])?;
    let mut out = [[0u8; 32]; 3];
    for (part, chunk) in out.iter_mut().zip(okm.chunks_exact(32)) {
        part.copy_from_slice(chunk);
    }
    let [rk, ck, nhk] = out;
    Ok((rk, ck, nhk))
}

/// `HKA = HKDF(0^32, SK, "keylink v1 header key A", 32)` and
/// `NHKB = HKDF(0^32, SK, "keylink v1 header key B", 32)`.
pub fn initial_header_keys(sk: &[u8; 32]) -> Result<([u8; 32], [u8; 32])> {
    use crate::constants::{HEADER_KEY_A_INFO, HEADER_KEY_B_INFO};
    let hka = crate::primitives::hkdf_zero_salt::<32>(sk, &[HEADER_KEY_A_INFO])?;
    let nhkb = crate::primitives::hkdf_zero_salt::<32>(sk, &[HEADER_KEY_B_INFO])?;
    Ok((*hka, *nhkb))
}

/// `hk_enc || hk_nonce = HKDF(0^32, HK, "keylink v1 header", 64)`.
pub fn header_key_expand(hk: &[u8; 32]) -> Result<([u8; 32], [u8; 32])> {
    let okm = crate::primitives::hkdf_zero_salt::<64>(hk, &[crate::constants::HEADER_INFO])?;
    let (enc, nonce) = okm.split_at(32);
    let mut out = ([0u8; 32], [0u8; 32]);
    out.0.copy_from_slice(enc);
    out.1.copy_from_slice(nonce);
    Ok(out)
}

/// `h_nonce = HMAC(hk_nonce, header)[0..12]`.
pub fn header_nonce(hk_nonce: &[u8; 32], header: &[u8; 41]) -> [u8; 12] {
    let mac = crate::primitives::hmac(hk_nonce, header);
    mac.first_chunk::<12>().copied().unwrap_or([0; 12])
}

/// `enc_header = h_nonce || AES-256-GCM(hk_enc, h_nonce, header, aad = AD)` under header key
/// `hk`, through the ratchet's own header sealing.
pub fn seal_header(hk: &[u8; 32], ad: &[u8; 64], header: &[u8; 41]) -> Result<[u8; 69]> {
    crate::ratchet::HeaderKey::derive(hk)?.seal(ad, header)
}

/// `KDF_CK(ck)`: the message key and the next chain key.
pub fn kdf_ck(ck: &[u8; 32]) -> Result<([u8; 32], [u8; 32])> {
    let chain = ChainKey::new(ck, 0);
    let next = chain.next().ok_or(Error::ChainExhausted)?;
    Ok((*chain.message_key().as_bytes(), *next.as_bytes()))
}

/// The AES-256-GCM key and nonce of a message key: `HKDF(0^32, mk, "keylink v1 message", 44)`.
pub fn message_keys(mk: &[u8; 32]) -> Result<([u8; 32], [u8; 12])> {
    MessageKey::new(mk, 0).with_expanded(|key, nonce| Ok((*key, *nonce)))
}

/// The 41-byte header `0x01 || ratchet_key || u32be(pn) || u32be(n)`.
pub fn header(ratchet_key: &[u8; 32], previous_counter: u32, counter: u32) -> [u8; 41] {
    Header {
        ratchet_key: PublicKey::from(*ratchet_key),
        previous_counter,
        counter,
    }
    .to_bytes()
}

/// `AES-256-GCM(key, nonce, plaintext, aad = AD || enc_header)` with the key and nonce of
/// `mk`, through the message key's own sealing; returns `ciphertext || tag`.
pub fn seal(
    mk: &[u8; 32],
    ad: &[u8; 64],
    enc_header: &[u8; 69],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut sealed = plaintext.to_vec();
    let (tag, _) = MessageKey::new(mk, 0).seal_in_place(ad, enc_header, &mut sealed)?;
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

/// The fields of a ratchet message.
#[derive(Clone, Copy, Debug)]
pub struct RatchetMessageInput<'a> {
    /// The encrypted header.
    pub enc_header: &'a [u8; 69],
    /// `ciphertext || tag`.
    pub ciphertext: &'a [u8],
}

/// The wire bytes (`0x11 || protobuf`) of a ratchet message.
pub fn ratchet_message_bytes(message: &RatchetMessageInput<'_>) -> Vec<u8> {
    ratchet_message(message).to_bytes()
}

/// The setup fields of a PreKey message.
#[derive(Clone, Copy, Debug)]
pub struct PreKeyFields<'a> {
    /// `IK_A`.
    pub identity_key: &'a [u8; 32],
    /// `EK_A`.
    pub base_key: &'a [u8; 32],
    /// The signed prekey id.
    pub signed_prekey_id: u32,
    /// The one-time prekey id, if one was used.
    pub one_time_prekey_id: Option<u32>,
    /// The KEM prekey id.
    pub kem_prekey_id: u32,
    /// `CT`.
    pub kem_ciphertext: &'a [u8],
}

/// The wire bytes (`0x12 || protobuf`) of a PreKey message carrying `message`.
pub fn prekey_message_bytes(
    fields: &PreKeyFields<'_>,
    message: &RatchetMessageInput<'_>,
) -> Result<Vec<u8>> {
    Ok(PreKeyMessage {
        identity_key: IdentityKey::from_bytes(fields.identity_key)?,
        base_key: PublicKey::from(*fields.base_key),
        signed_prekey_id: fields.signed_prekey_id.into(),
        one_time_prekey_id: fields.one_time_prekey_id.map(Into::into),
        kem_prekey_id: fields.kem_prekey_id.into(),
        kem_ciphertext: KemCiphertext::try_from(fields.kem_ciphertext)?,
        message: ratchet_message(message),
    }
    .to_bytes())
}

fn ratchet_message(message: &RatchetMessageInput<'_>) -> RatchetMessage {
    RatchetMessage {
        enc_header: *message.enc_header,
        ciphertext: message.ciphertext.to_vec(),
    }
}

fn key_pair(secret: &[u8; 32]) -> KeyPair {
    KeyPair::from_secret(StaticSecret::from(*secret))
}

/// An RNG that hands out exactly the given bytes, then zeros (which the caller detects by
/// comparing the generated secret with the given one).
struct Fixed<'a> {
    bytes: &'a [u8],
}

impl<'a> Fixed<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fixed { bytes }
    }
}

impl TryRng for Fixed<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
        let n = dst.len().min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        for (d, s) in dst
            .iter_mut()
            .zip(head.iter().chain(core::iter::repeat(&0)))
        {
            *d = *s;
        }
        self.bytes = rest;
        Ok(())
    }
}

impl TryCryptoRng for Fixed<'_> {}
