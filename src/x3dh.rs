//! X3DH session setup (DESIGN.md "Session setup"): both sides compute the same shared secret
//! `SK` from their identity keys, the responder's prekeys and the initiator's base key.

use zeroize::Zeroizing;

use crate::constants::{X3DH_INFO, X3DH_PREFIX};
use crate::error::Result;
use crate::keys::{
    IdentityKey, IdentityKeyPair, KeyPair, OneTimePreKey, PublicKey, SignedPreKey, VerifiedBundle,
};
use crate::primitives;

/// The 32-byte secret both sides agree on; it seeds the Double Ratchet's root key.
pub(crate) type SharedSecret = Zeroizing<[u8; 32]>;

/// The initiator's side. `base_key` is the ephemeral `EK_A`, consumed here and dropped.
pub(crate) fn initiate(
    ours: &IdentityKeyPair,
    base_key: KeyPair,
    bundle: &VerifiedBundle,
) -> Result<SharedSecret> {
    let (_, spk) = bundle.signed_prekey();
    let dh1 = ours.dh().dh(spk)?;
    let dh2 = base_key.dh(bundle.identity_key().dh_public())?;
    let dh3 = base_key.dh(spk)?;
    let dh4 = match bundle.one_time_prekey() {
        Some((_, opk)) => Some(base_key.dh(opk)?),
        None => None,
    };
    derive(&dh1, &dh2, &dh3, dh4.as_deref())
}

/// The responder's side, from the prekeys the PreKey message named.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed_prekey: &SignedPreKey,
    one_time_prekey: Option<&OneTimePreKey>,
    their_identity: &IdentityKey,
    their_base_key: &PublicKey,
) -> Result<SharedSecret> {
    let dh1 = signed_prekey.key_pair().dh(their_identity.dh_public())?;
    let dh2 = ours.dh().dh(their_base_key)?;
    let dh3 = signed_prekey.key_pair().dh(their_base_key)?;
    let dh4 = match one_time_prekey {
        Some(opk) => Some(opk.key_pair().dh(their_base_key)?),
        None => None,
    };
    derive(&dh1, &dh2, &dh3, dh4.as_deref())
}

/// `SK = HKDF(0^32, 0xFF^32 || DH1 || DH2 || DH3 [|| DH4], "keylink v1 x3dh", 32)`.
fn derive(
    dh1: &[u8; 32],
    dh2: &[u8; 32],
    dh3: &[u8; 32],
    dh4: Option<&[u8; 32]>,
) -> Result<SharedSecret> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 5));
    ikm.extend_from_slice(&X3DH_PREFIX);
    for dh in [Some(dh1), Some(dh2), Some(dh3), dh4].into_iter().flatten() {
        ikm.extend_from_slice(dh);
    }
    primitives::hkdf::<32>(&[0u8; 32], &ikm, &[X3DH_INFO])
}

/// `AD = IK_A || IK_B`, initiator first.
pub(crate) fn associated_data(initiator: &[u8; 32], responder: &[u8; 32]) -> [u8; 64] {
    let mut ad = [0u8; 64];
    let (a, b) = ad.split_at_mut(32);
    a.copy_from_slice(initiator);
    b.copy_from_slice(responder);
    ad
}
