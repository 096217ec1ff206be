//! Prekey bundles: what a device publishes so that others can start sessions with it.
//!
//! A [`PreKeyBundle`] is what was parsed; a [`VerifiedBundle`] exists only once every
//! signature in it verified under the bundle's identity key, and only a verified bundle can
//! start a session.

use crate::error::{Error, Result};
use crate::keys::identity::{IdentityKey, IdentityKeyPair};
use crate::keys::ids::{DeviceId, KemPreKeyId, OneTimePreKeyId, SignedPreKeyId};
use crate::keys::kem::KemPublicKey;
use crate::keys::kem_prekey::{KemPreKey, verify_kem_prekey};
use crate::keys::prekey::{OneTimePreKey, SignedPreKey, verify_signed_prekey};
use crate::keys::x25519::PublicKey;
use crate::wire::{self, Kind, proto};

const WHAT: &str = "prekey bundle";

/// A prekey bundle whose signatures have not been checked yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    identity_key: IdentityKey,
    device_id: DeviceId,
    signed_prekey_id: SignedPreKeyId,
    signed_prekey: PublicKey,
    signed_prekey_signature: [u8; 64],
    one_time_prekey: Option<(OneTimePreKeyId, PublicKey)>,
    kem_prekey_id: KemPreKeyId,
    kem_prekey: KemPublicKey,
    kem_prekey_signature: [u8; 64],
}

impl PreKeyBundle {
    /// Assemble the bundle this device publishes. Every bundle carries a KEM prekey: a
    /// one-time one while any remain, else the last-resort one.
    pub fn new(
        device_id: impl Into<DeviceId>,
        identity: &IdentityKeyPair,
        signed_prekey: &SignedPreKey,
        one_time_prekey: Option<&OneTimePreKey>,
        kem_prekey: &KemPreKey,
    ) -> Self {
        PreKeyBundle {
            identity_key: *identity.public(),
            device_id: device_id.into(),
            signed_prekey_id: signed_prekey.id(),
            signed_prekey: *signed_prekey.public(),
            signed_prekey_signature: *signed_prekey.signature(),
            one_time_prekey: one_time_prekey.map(|k| (k.id(), *k.public())),
            kem_prekey_id: kem_prekey.id(),
            kem_prekey: kem_prekey.public().clone(),
            kem_prekey_signature: *kem_prekey.signature(),
        }
    }

    /// Check every signature; only a verified bundle can start a session.
    pub fn verify(self) -> Result<VerifiedBundle> {
        verify_signed_prekey(
            &self.identity_key,
            self.signed_prekey_id,
            &self.signed_prekey,
            &self.signed_prekey_signature,
        )?;
        verify_kem_prekey(
            &self.identity_key,
            self.kem_prekey_id,
            &self.kem_prekey,
            &self.kem_prekey_signature,
        )?;
        Ok(VerifiedBundle(self))
    }

    /// The identity key the bundle claims to belong to.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The device id the bundle was published for.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// The id of the signed prekey it carries.
    pub fn signed_prekey_id(&self) -> SignedPreKeyId {
        self.signed_prekey_id
    }

    /// The id of the one-time prekey it carries, if any (none in a last-resort bundle).
    pub fn one_time_prekey_id(&self) -> Option<OneTimePreKeyId> {
        self.one_time_prekey.as_ref().map(|(id, _)| *id)
    }

    /// The id of the KEM prekey it carries (one-time, or the last-resort one).
    pub fn kem_prekey_id(&self) -> KemPreKeyId {
        self.kem_prekey_id
    }

    /// Serialize for publication.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (otp_id, otp) = match &self.one_time_prekey {
            Some((id, key)) => (Some(id.get()), Some(key.to_bytes().to_vec())),
            None => (None, None),
        };
        let msg = proto::Bundle {
            identity_key: self.identity_key.to_bytes().to_vec(),
            device_id: self.device_id.get(),
            signed_prekey_id: self.signed_prekey_id.get(),
            signed_prekey: self.signed_prekey.to_bytes().to_vec(),
            signed_prekey_signature: self.signed_prekey_signature.to_vec(),
            one_time_prekey_id: otp_id,
            one_time_prekey: otp,
            kem_prekey_id: self.kem_prekey_id.get(),
            kem_prekey: self.kem_prekey.as_bytes().to_vec(),
            kem_prekey_signature: self.kem_prekey_signature.to_vec(),
        };
        wire::encode(Kind::Bundle, &msg)
    }
}

impl TryFrom<&[u8]> for PreKeyBundle {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let msg: proto::Bundle = wire::decode(Kind::Bundle, bytes)?;
        let one_time_prekey = match (msg.one_time_prekey_id, &msg.one_time_prekey) {
            (Some(id), Some(key)) => {
                let key = PublicKey::from_canonical(wire::array(key, WHAT)?)?;
                Some((OneTimePreKeyId::new(id), key))
            }
            (None, None) => None,
            _ => return Err(Error::Malformed(WHAT)),
        };
        let identity_key = wire::array(&msg.identity_key, WHAT)?;
        let signed_prekey = wire::array::<32>(&msg.signed_prekey, WHAT)?;
        let signed_prekey_signature = wire::array(&msg.signed_prekey_signature, WHAT)?;
        // Only a bundle that is complete but for its KEM prekey is reported as such.
        if msg.kem_prekey.is_empty() {
            return Err(Error::MissingKemPreKey);
        }
        Ok(PreKeyBundle {
            identity_key: IdentityKey::from_bytes(&identity_key)?,
            device_id: DeviceId::new(msg.device_id),
            signed_prekey_id: SignedPreKeyId::new(msg.signed_prekey_id),
            signed_prekey: PublicKey::from_canonical(signed_prekey)?,
            signed_prekey_signature,
            one_time_prekey,
            kem_prekey_id: KemPreKeyId::new(msg.kem_prekey_id),
            kem_prekey: KemPublicKey::try_from(msg.kem_prekey.as_slice())?,
            kem_prekey_signature: wire::array(&msg.kem_prekey_signature, WHAT)?,
        })
    }
}

/// A bundle whose every signature verified under its identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle(PreKeyBundle);

impl VerifiedBundle {
    /// The bundle owner's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.0.identity_key
    }

    /// The device id the bundle was published for.
    pub fn device_id(&self) -> DeviceId {
        self.0.device_id
    }

    pub(crate) fn signed_prekey(&self) -> (SignedPreKeyId, &PublicKey) {
        (self.0.signed_prekey_id, &self.0.signed_prekey)
    }

    pub(crate) fn one_time_prekey(&self) -> Option<(OneTimePreKeyId, &PublicKey)> {
        self.0.one_time_prekey.as_ref().map(|(id, key)| (*id, key))
    }

    pub(crate) fn kem_prekey(&self) -> (KemPreKeyId, &KemPublicKey) {
        (self.0.kem_prekey_id, &self.0.kem_prekey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KemPreKey;
    use prost::Message;

    fn bundle_proto() -> proto::Bundle {
        let mut rng = crate::os_rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1, &identity, &mut rng);
        let kem = KemPreKey::generate(2, &identity, &mut rng);
        let bytes = PreKeyBundle::new(9, &identity, &signed, None, &kem).to_bytes();
        proto::Bundle::decode(&bytes[1..]).unwrap()
    }

    fn parse(msg: &proto::Bundle) -> Result<PreKeyBundle> {
        PreKeyBundle::try_from(wire::encode(Kind::Bundle, msg).as_slice())
    }

    #[test]
    fn bundle_round_trips_and_verifies() {
        let msg = bundle_proto();
        let bundle = parse(&msg).unwrap();
        assert_eq!(bundle.to_bytes(), wire::encode(Kind::Bundle, &msg));
        assert!(bundle.verify().is_ok());
    }

    #[test]
    fn a_bundle_without_kem_prekey_is_refused() {
        let mut msg = bundle_proto();
        msg.kem_prekey = Vec::new();
        msg.kem_prekey_signature = Vec::new();
        msg.kem_prekey_id = 0;
        assert!(matches!(parse(&msg), Err(Error::MissingKemPreKey)));
    }

    #[test]
    fn keys_of_the_wrong_type_are_parse_errors() {
        let good = bundle_proto();
        // An X25519 key where the KEM key goes.
        let mut msg = good.clone();
        msg.kem_prekey = good.signed_prekey.clone();
        assert!(matches!(parse(&msg), Err(Error::InvalidKey(_))));
        // A KEM key where the X25519 signed prekey goes.
        let mut msg = good.clone();
        msg.signed_prekey = good.kem_prekey.clone();
        assert!(matches!(parse(&msg), Err(Error::Malformed(_))));
        // A KEM key as the one-time prekey.
        let mut msg = good.clone();
        msg.one_time_prekey_id = Some(1);
        msg.one_time_prekey = Some(good.kem_prekey.clone());
        assert!(matches!(parse(&msg), Err(Error::Malformed(_))));
        // A KEM key as the identity key.
        let mut msg = good;
        msg.identity_key = msg.kem_prekey.clone();
        assert!(matches!(parse(&msg), Err(Error::Malformed(_))));
    }

    #[test]
    fn a_forged_kem_prekey_signature_fails_verification() {
        let mut msg = bundle_proto();
        msg.kem_prekey_signature[0] ^= 1;
        let bundle = parse(&msg).unwrap();
        assert!(matches!(
            bundle.verify(),
            Err(Error::InvalidSignature("KEM prekey"))
        ));
        // A KEM key replaced by another validly encoded one is also caught by the signature.
        let mut msg = bundle_proto();
        msg.kem_prekey = bundle_proto().kem_prekey;
        let bundle = parse(&msg).unwrap();
        assert!(matches!(
            bundle.verify(),
            Err(Error::InvalidSignature("KEM prekey"))
        ));
    }
}
