//! PQXDH session setup (DESIGN.md "Session setup"): both sides compute the same shared
//! secret `SK` from their identity keys, the responder's signed, one-time and KEM prekeys, the
//! initiator's base key and an ML-KEM-1024 encapsulation. keylink has no plain X3DH: a
//! session cannot be set up without a KEM prekey.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::{PQXDH_INFO, PQXDH_PREFIX};
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemCiphertext, KemPreKey, KeyPair, OneTimePreKey, PreKeyKind,
    PublicKey, SignedPreKey, VerifiedBundle,
};
use crate::primitives;
use crate::session::PreKeyMessage;

/// The 32-byte secret both sides agree on; it seeds the Double Ratchet's root key.
pub(crate) type SharedSecret = Zeroizing<[u8; 32]>;

/// What the initiator computes: `SK` and the KEM ciphertext for the responder.
pub(crate) struct InitiatorSecret {
    pub(crate) sk: SharedSecret,
    pub(crate) kem_ciphertext: KemCiphertext,
}

/// The initiator's side. `base_key` is the ephemeral `EK_A`, consumed here and dropped.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    ours: &IdentityKeyPair,
    base_key: KeyPair,
    bundle: &VerifiedBundle,
    rng: &mut R,
) -> Result<InitiatorSecret> {
    let (_, kem_prekey) = bundle.kem_prekey();
    let (kem_ciphertext, ss) = kem_prekey.encapsulate(rng);
    initiate_with(ours, base_key, bundle, ss).map(|sk| InitiatorSecret { sk, kem_ciphertext })
}

/// The initiator's DHs and KDF, given the KEM shared secret.
pub(crate) fn initiate_with(
    ours: &IdentityKeyPair,
    base_key: KeyPair,
    bundle: &VerifiedBundle,
    ss: Zeroizing<[u8; 32]>,
) -> Result<SharedSecret> {
    let (_, spk) = bundle.signed_prekey();
    let dh1 = ours.dh().dh(spk)?;
    let dh2 = base_key.dh_identity(bundle.identity_key())?;
    let dh3 = base_key.dh(spk)?;
    let dh4 = match bundle.one_time_prekey() {
        Some((_, opk)) => Some(base_key.dh(opk)?),
        None => None,
    };
    derive(&[
        Some(&*dh1),
        Some(&*dh2),
        Some(&*dh3),
        dh4.as_deref(),
        Some(&*ss),
    ])
}

/// The prekeys a responder uses for one PreKey message.
pub(crate) struct ResponderKeys<'a> {
    pub(crate) signed: &'a SignedPreKey,
    pub(crate) one_time: Option<&'a OneTimePreKey>,
    pub(crate) kem: &'a KemPreKey,
}

impl ResponderKeys<'_> {
    /// Check that these are exactly the prekeys `message` names.
    pub(crate) fn check(&self, message: &PreKeyMessage) -> Result<()> {
        let unknown = |kind, id| Err(Error::UnknownPreKey { kind, id });
        if self.kem.id() != message.kem_prekey_id() {
            return unknown(PreKeyKind::Kem, message.kem_prekey_id().get());
        }
        if self.signed.id() != message.signed_prekey_id() {
            return unknown(PreKeyKind::Signed, message.signed_prekey_id().get());
        }
        match (message.one_time_prekey_id(), self.one_time) {
            (None, None) => Ok(()),
            (Some(id), Some(k)) if k.id() == id => Ok(()),
            (Some(id), _) => unknown(PreKeyKind::OneTime, id.get()),
            // A one-time prekey the message does not name must not be used up for it.
            (None, Some(k)) => unknown(PreKeyKind::OneTime, k.id().get()),
        }
    }
}

/// The responder's side, from the prekeys the PreKey message named.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    keys: &ResponderKeys<'_>,
    their_identity: &IdentityKey,
    their_base_key: &PublicKey,
    kem_ciphertext: &KemCiphertext,
) -> Result<SharedSecret> {
    let dh1 = keys.signed.key_pair().dh_identity(their_identity)?;
    let dh2 = ours.dh().dh(their_base_key)?;
    let dh3 = keys.signed.key_pair().dh(their_base_key)?;
    let dh4 = match keys.one_time {
        Some(opk) => Some(opk.key_pair().dh(their_base_key)?),
        None => None,
    };
    let ss = keys.kem.key_pair().decapsulate(kem_ciphertext);
    derive(&[
        Some(&*dh1),
        Some(&*dh2),
        Some(&*dh3),
        dh4.as_deref(),
        Some(&*ss),
    ])
}

/// `SK = HKDF(0^32, 0xFF^32 || DH1 || DH2 || DH3 [|| DH4] || SS, "keylink v1 pqxdh ML-KEM-1024", 32)`.
pub(crate) fn derive(parts: &[Option<&[u8; 32]>]) -> Result<SharedSecret> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 6));
    ikm.extend_from_slice(&PQXDH_PREFIX);
    for part in parts.iter().flatten() {
        ikm.extend_from_slice(*part);
    }
    primitives::hkdf::<32>(&[0u8; 32], &ikm, &[PQXDH_INFO])
}

/// `AD = IK_A || IK_B`, initiator first.
pub(crate) fn associated_data(initiator: &[u8; 32], responder: &[u8; 32]) -> [u8; 64] {
    let mut ad = [0u8; 64];
    let (a, b) = ad.split_at_mut(32);
    a.copy_from_slice(initiator);
    b.copy_from_slice(responder);
    ad
}
