//! Keys: the identity key, signed and one-time prekeys, and the bundles that publish them.

mod bundle;
mod identity;
mod prekey;
mod x25519;

pub use bundle::{PreKeyBundle, VerifiedBundle};
pub use identity::{IdentityKey, IdentityKeyPair};
pub use prekey::{OneTimePreKey, SignedPreKey};
pub use x25519::PublicKey;

pub(crate) use x25519::KeyPair;
