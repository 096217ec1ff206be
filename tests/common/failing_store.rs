//! A store whose commit fails on demand.

use std::fmt;

use keylink::account::{AccountKey, PhoneNumber};
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use keylink::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
use keylink::store::{Address, Changes, MemoryStore, MemoryStoreError, ProtocolStore};

use super::Device;

/// The error [`FailingStore`] returns.
#[derive(Debug)]
pub enum TestStoreError {
    /// The armed commit failure.
    CommitFailed,
    /// The inner store failed (not expected in these tests).
    Inner(String),
}

impl fmt::Display for TestStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestStoreError::CommitFailed => f.write_str("test store: commit failed (armed)"),
            TestStoreError::Inner(e) => write!(f, "test store: inner store failed: {e}"),
        }
    }
}

impl std::error::Error for TestStoreError {}

/// A [`MemoryStore`] whose next commit fails when `fail_next` is set (then disarms).
pub struct FailingStore {
    pub inner: MemoryStore,
    pub fail_next: bool,
}

fn inner_err(e: MemoryStoreError) -> TestStoreError {
    TestStoreError::Inner(e.to_string())
}

impl ProtocolStore for FailingStore {
    type Error = TestStoreError;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, TestStoreError> {
        self.inner.local_identity().map_err(inner_err)
    }

    fn local_account(&self) -> Result<Option<PhoneNumber>, TestStoreError> {
        self.inner.local_account().map_err(inner_err)
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, TestStoreError> {
        self.inner.peer_identity(address).map_err(inner_err)
    }

    fn peer_account(&self, phone: &PhoneNumber) -> Result<Option<AccountKey>, TestStoreError> {
        self.inner.peer_account(phone).map_err(inner_err)
    }

    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, TestStoreError> {
        self.inner.signed_prekey(id).map_err(inner_err)
    }

    fn one_time_prekey(
        &self,
        id: OneTimePreKeyId,
    ) -> Result<Option<OneTimePreKey>, TestStoreError> {
        self.inner.one_time_prekey(id).map_err(inner_err)
    }

    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, TestStoreError> {
        self.inner.kem_prekey(id).map_err(inner_err)
    }

    fn base_key_used(
        &self,
        signed_prekey_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, TestStoreError> {
        self.inner
            .base_key_used(signed_prekey_id, base_key)
            .map_err(inner_err)
    }

    fn session_index(&self, address: &Address) -> Result<Option<SessionIndex>, TestStoreError> {
        self.inner.session_index(address).map_err(inner_err)
    }

    fn session(
        &self,
        address: &Address,
        id: &SessionId,
    ) -> Result<Option<Session>, TestStoreError> {
        self.inner.session(address, id).map_err(inner_err)
    }

    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, TestStoreError> {
        self.inner
            .skipped_message_key(address, id)
            .map_err(inner_err)
    }

    fn device_list(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::SignedDeviceList>, TestStoreError> {
        self.inner.device_list(phone).map_err(inner_err)
    }

    fn prekey_state(&self) -> Result<Option<keylink::account::PreKeyState>, TestStoreError> {
        self.inner.prekey_state().map_err(inner_err)
    }

    fn commit(&mut self, changes: Changes) -> Result<(), TestStoreError> {
        if std::mem::take(&mut self.fail_next) {
            return Err(TestStoreError::CommitFailed);
        }
        self.inner.commit(changes).map_err(inner_err)
    }
}

pub fn failing(device: &mut Device) -> FailingStore {
    FailingStore {
        inner: std::mem::take(&mut device.store),
        fail_next: false,
    }
}
