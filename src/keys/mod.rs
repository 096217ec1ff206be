//! Keys: the identity key, signed, one-time and KEM prekeys, and the bundles that publish them.

mod bundle;
mod identity;
mod ids;
mod kem;
mod kem_prekey;
mod prekey;
mod x25519;

pub use bundle::{PreKeyBundle, VerifiedBundle};
pub use identity::{IdentityKey, IdentityKeyPair};
pub use ids::{DeviceId, KemPreKeyId, OneTimePreKeyId, PreKeyKind, SignedPreKeyId};
pub use kem::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KemCiphertext, KemPublicKey};
pub use kem_prekey::KemPreKey;
pub use prekey::{OneTimePreKey, SignedPreKey};
pub use x25519::PublicKey;

pub(crate) use identity::{is_canonical_edwards, signed_message, verifying_key};
#[cfg_attr(not(feature = "hazmat"), allow(unused_imports))]
pub(crate) use kem::KemKeyPair;
pub(crate) use x25519::KeyPair;
