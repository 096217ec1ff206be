//! Storage behind one trait, written through one atomic commit.
//!
//! Every store-backed operation reads what it needs through the getters of [`ProtocolStore`],
//! computes, and then hands *all* its changes to [`ProtocolStore::commit`] as one [`Changes`]
//! value. A database-backed store writes a `Changes` in one transaction; if the commit fails
//! the operation returns [`Error::Store`](crate::Error::Store) and nothing has changed, so the
//! same message can be decrypted again later.

mod address;
mod memory;

pub use address::Address;
pub use memory::MemoryStore;

use crate::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PublicKey, SignedPreKey,
};
use crate::session::SessionRecord;

/// Everything keylink needs to read from the application's storage, plus the one call that
/// writes.
///
/// The getters group what an app would keep in separate tables: the local identity and
/// known peer identities, signed prekeys, one-time prekeys, KEM prekeys, the base keys already
/// used with each signed prekey (replay protection), and session records.
pub trait ProtocolStore {
    /// The store's own error; it reaches the caller inside [`Error::Store`](crate::Error::Store),
    /// where it can be downcast.
    type Error: std::error::Error + Send + Sync + 'static;

    /// This device's identity key pair, if one was stored.
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Self::Error>;

    /// The identity key remembered for `address`, if any.
    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, Self::Error>;

    /// The signed prekey with `id`, if it is still kept.
    fn signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, Self::Error>;

    /// The one-time prekey with `id`, if it has not been used yet.
    fn one_time_prekey(&self, id: u32) -> Result<Option<OneTimePreKey>, Self::Error>;

    /// The KEM prekey with `id` (one-time and not used yet, or the last-resort one).
    fn kem_prekey(&self, id: u32) -> Result<Option<KemPreKey>, Self::Error>;

    /// Whether a PreKey message with `base_key` was already accepted under signed prekey
    /// `signed_prekey_id`. The app may forget these when it deletes that signed prekey.
    fn base_key_used(
        &self,
        signed_prekey_id: u32,
        base_key: &PublicKey,
    ) -> Result<bool, Self::Error>;

    /// The session record for `address`, if any.
    fn session(&self, address: &Address) -> Result<Option<SessionRecord>, Self::Error>;

    /// Apply every change in `changes`, all or nothing.
    fn commit(&mut self, changes: Changes) -> Result<(), Self::Error>;
}

/// All the writes of one protocol operation, to be applied atomically.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Changes {
    /// Replace the session record of this address.
    pub session: Option<(Address, SessionRecord)>,
    /// Remember (or, after the user accepted a change, replace) this peer identity.
    pub peer_identity: Option<(Address, IdentityKey)>,
    /// Delete this one-time prekey: a session set up with it authenticated its first message.
    pub remove_one_time_prekey: Option<u32>,
    /// Delete this one-time KEM prekey, for the same reason. Never the last-resort one.
    pub remove_kem_prekey: Option<u32>,
    /// Remember that this base key was used with this signed prekey id. This covers the
    /// last-resort KEM prekey too: a second PreKey message with the same (KEM prekey,
    /// signed prekey, base key) necessarily repeats the (signed prekey, base key) pair.
    pub used_base_key: Option<(u32, PublicKey)>,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.session.is_none()
            && self.peer_identity.is_none()
            && self.remove_one_time_prekey.is_none()
            && self.remove_kem_prekey.is_none()
            && self.used_base_key.is_none()
    }
}
