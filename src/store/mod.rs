//! Storage behind one trait, written through one atomic commit, and the operations that use
//! it.
//!
//! Every store-backed operation ([`start_session`], [`encrypt`], [`decrypt`],
//! [`accept_identity`], [`check_account`], [`accept_account`], [`accept_device_list`],
//! [`encrypt_for_accounts`], [`accept_own_device_list`], [`device_list_needed`], also at
//! the crate root, and
//! [`PreKeyUpkeep::run`](crate::account::PreKeyUpkeep::run)) reads what it needs through the
//! getters of [`ProtocolStore`], computes with the sans-IO core, and then hands *all* its
//! writes to [`ProtocolStore::commit`] as one [`Changes`] value. A database-backed store
//! writes a `Changes` in one transaction; if the commit fails the operation returns
//! [`Error::Store`](crate::Error::Store) and nothing has changed, so the same message can be
//! decrypted again later.

mod account_devices;
mod address;
mod async_store;
pub mod at_rest;
mod changes;
mod device_lists;
mod fan_out;
mod memory;
pub(crate) mod ops;
pub(crate) mod prekeys;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use address::Address;
pub use async_store::{AsyncStore, Pending, WorkerStopped};
pub use changes::{Change, Changes};
pub use device_lists::{accept_device_list, accept_own_device_list, device_list_needed};
pub use fan_out::{FanOut, devices_without_session, encrypt_for_accounts};
pub use memory::{MemoryStore, MemoryStoreError};
pub use ops::{
    AccountTrust, accept_account, accept_identity, check_account, decrypt, decrypt_in_place,
    encrypt, encrypt_in_place, start_session,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteConfig, SqliteStore, SqliteStoreError, Synchronous};

use crate::account::{AccountKey, PhoneNumber, PreKeyState, SignedDeviceList};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use crate::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};

/// Everything keylink needs to read from the application's storage, plus the one call that
/// writes.
///
/// The getters read what an app keeps in separate tables: the local identity, known peer
/// identities and peer account keys (by phone number), signed prekeys, one-time prekeys, KEM
/// prekeys, the base keys already used with each signed prekey (replay protection), the
/// prekey upkeep state, and a peer's sessions as small rows: one
/// [`SessionIndex`] per address, one [`Session`] per (address, [`SessionId`]) and one
/// [`SkippedMessageKey`] per (address, [`SkippedKeyId`]). An operation reads the index and
/// the current session, and an archived session or a skipped key only when a message needs
/// it; it writes back only what changed. So the cost of a message does not grow with the
/// archived sessions and skipped keys a peer's record holds. Getters return owned values
/// freshly read from storage; keylink consumes them.
pub trait ProtocolStore {
    /// The store's own error; it reaches the caller inside [`Error::Store`](crate::Error::Store),
    /// where it can be downcast.
    type Error: std::error::Error + Send + Sync + 'static;

    /// This device's identity key pair, if one was stored.
    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Self::Error>;

    /// The phone number of this device's own account, if one was stored: the row written by
    /// [`Change::LocalAccount`] (see [`accept_own_device_list`]). `None` for a device outside
    /// any account.
    fn local_account(&self) -> Result<Option<PhoneNumber>, Self::Error>;

    /// The identity key remembered for `address`, if any.
    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, Self::Error>;

    /// The account key remembered for `phone`, if any: the row written by
    /// [`Change::PeerAccount`].
    fn peer_account(&self, phone: &PhoneNumber) -> Result<Option<AccountKey>, Self::Error>;

    /// The device list last accepted for `phone`, if any: the row written by
    /// [`Change::DeviceList`]. It verified when it was accepted and is not checked again.
    fn device_list(&self, phone: &PhoneNumber) -> Result<Option<SignedDeviceList>, Self::Error>;

    /// The signed prekey with `id`, if it is still kept.
    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, Self::Error>;

    /// The one-time prekey with `id`, if it has not been used yet.
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, Self::Error>;

    /// The KEM prekey with `id` (one-time and not used yet, or the last-resort one).
    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, Self::Error>;

    /// Whether a PreKey message with `base_key` was already accepted under signed prekey
    /// `signed_prekey`. The app may forget these when it deletes that signed prekey.
    fn base_key_used(
        &self,
        signed_prekey: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, Self::Error>;

    /// Which sessions `address` has, if any: the row written by [`Change::SessionIndex`].
    fn session_index(&self, address: &Address) -> Result<Option<SessionIndex>, Self::Error>;

    /// The session `id` of `address`: the row written by [`Change::Session`]. A store that
    /// remembers the peer's identity can parse it with
    /// [`Session::from_bytes_for_peer`], which skips decoding that key again.
    fn session(&self, address: &Address, id: &SessionId) -> Result<Option<Session>, Self::Error>;

    /// The skipped message key `id` of `address`, if it is stored: a row written by
    /// [`Change::SkippedMessageKeys`].
    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, Self::Error>;

    /// The row written by [`Change::PreKeyState`], if there is one: what
    /// [`PreKeyUpkeep`](crate::account::PreKeyUpkeep) published and still keeps.
    fn prekey_state(&self) -> Result<Option<PreKeyState>, Self::Error>;

    /// Apply every change in `changes`, all or nothing. Match each [`Change`] exhaustively
    /// (see there).
    fn commit(&mut self, changes: Changes) -> Result<(), Self::Error>;

    /// Called by every store-backed operation before its first read; `attempt` is 1, then 2,
    /// 3, ... when [`retry_operation`](Self::retry_operation) asked for another run.
    ///
    /// These three hooks are for a store that other writers share (another process on the
    /// same database, or another connection): such a store starts here what lets its
    /// [`commit`](Self::commit) tell that another writer changed what the operation read
    /// (a read transaction on one snapshot, or a record of the rows read), and its commit
    /// then refuses, with an error of its own, to apply changes computed from stale reads (a
    /// conflict); on a later attempt it may take its write lock here, so that attempt cannot
    /// conflict. An error here ends the operation with [`Error::Store`](crate::Error::Store).
    /// The defaults do nothing, which is right for a store only one writer uses.
    fn begin_operation(&mut self, attempt: u32) -> Result<(), Self::Error> {
        let _ = attempt;
        Ok(())
    }

    /// Called after each run of an operation begun with
    /// [`begin_operation`](Self::begin_operation), whether it committed, failed before its
    /// commit, or its commit failed: release what `begin_operation` took.
    fn end_operation(&mut self) {}

    /// Whether an operation whose run number `attempt` failed to commit with `error` should
    /// run again, from its first read. Return `true` only for a conflict (the changes were
    /// not applied because what the operation read changed); a store may wait before
    /// returning (back off). keylink stops after [`MAX_OPERATION_RUNS`] runs whatever this
    /// says, and returns the last error.
    fn retry_operation(&mut self, error: &Self::Error, attempt: u32) -> bool {
        let _ = (error, attempt);
        false
    }
}

/// The most runs of one store-backed operation (see [`ProtocolStore::retry_operation`]).
pub const MAX_OPERATION_RUNS: u32 = 8;
