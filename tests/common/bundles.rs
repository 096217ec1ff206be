//! Crafting bundles a peer could publish: edited fields (through the protobuf mirrors in
//! [`proto`](super::proto)), small-order keys, starting a session from raw bundle bytes, and
//! assembling the bundle of keys a store holds ([`stored_bundle`]).

use keylink::Error;
use keylink::keys::{DeviceId, OneTimePreKeyId, PreKeyBundle};
use keylink::store::{Address, ProtocolStore};

use super::{Device, proto, rng};

/// The bundle of `device` publishing the keys `store` holds: its local identity, signed
/// prekey `signed`, one-time prekey `one_time` if given and KEM prekey `kem` (each must be
/// there), as [`PreKeyBundle::new`] assembles it.
pub fn stored_bundle<S: ProtocolStore>(
    store: &S,
    device: impl Into<DeviceId>,
    signed: u32,
    one_time: Option<u32>,
    kem: u32,
) -> PreKeyBundle {
    let identity = store.local_identity().unwrap().expect("no local identity");
    let signed = store.signed_prekey(signed.into()).unwrap();
    let signed = signed.expect("signed prekey not stored");
    let one_time = one_time.map(|id| {
        let key = store.one_time_prekey(OneTimePreKeyId::new(id)).unwrap();
        key.expect("one-time prekey not stored")
    });
    let kem = store
        .kem_prekey(kem.into())
        .unwrap()
        .expect("KEM prekey not stored");
    PreKeyBundle::new(device, &identity, &signed, one_time.as_ref(), &kem)
}

pub fn edit_bundle(bytes: &[u8], edit: impl FnOnce(&mut proto::Bundle)) -> Vec<u8> {
    let mut bundle: proto::Bundle = proto::decode(bytes);
    edit(&mut bundle);
    proto::encode(bytes[0], &bundle)
}

/// One way of changing a parsed bundle.
pub type BundleEdit = Box<dyn Fn(&mut proto::Bundle)>;

pub fn verify_bundle(bytes: &[u8]) -> keylink::Result<keylink::keys::VerifiedBundle> {
    PreKeyBundle::try_from(bytes)?.verify()
}

/// The canonical encodings of the eight points of small order on Ed25519.
pub const SMALL_ORDER_EDWARDS: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

pub fn unhex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// A bundle from an identity we hold the seed of, whose signed prekey is `spk` (any 32
/// bytes), validly signed.
#[cfg(feature = "hazmat")]
pub fn bundle_with_signed_prekey(spk: [u8; 32], otpk: Option<(u32, [u8; 32])>) -> Vec<u8> {
    use super::{FIRST_KEM, SPK_ID};
    use ed25519_dalek::Signer;
    use keylink::constants::SIGNED_PREKEY_CONTEXT;
    use keylink::keys::{KemPreKey, SignedPreKey};

    let seed = [0x42u8; 32];
    let identity = keylink::hazmat::identity_from_seed(&seed);
    let template = SignedPreKey::generate(SPK_ID, &identity, &mut rng());
    let kem = KemPreKey::generate(FIRST_KEM, &identity, &mut rng());
    let genuine = PreKeyBundle::new(1, &identity, &template, None, &kem).to_bytes();
    let mut message = SIGNED_PREKEY_CONTEXT.to_vec();
    message.extend_from_slice(&SPK_ID.to_be_bytes());
    message.extend_from_slice(&spk);
    let signature = ed25519_dalek::SigningKey::from_bytes(&seed).sign(&message);
    edit_bundle(&genuine, |b| {
        b.signed_prekey = spk.to_vec();
        b.signed_prekey_signature = signature.to_bytes().to_vec();
        b.one_time_prekey_id = otpk.map(|(id, _)| id);
        b.one_time_prekey = otpk.map(|(_, key)| key.to_vec());
    })
}

pub fn start_with_bundle(alice: &mut Device, bytes: &[u8]) -> Error {
    let bundle = verify_bundle(bytes).expect("validly signed");
    let bob = Address::new("bob", 1);
    let before = alice.snapshot();
    let e = keylink::start_session(&mut alice.store, &bob, &bundle, &mut rng()).unwrap_err();
    assert_eq!(alice.snapshot(), before, "nothing remembered after {e:?}");
    e
}
