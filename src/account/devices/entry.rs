//! One device on an account's list: its id, identity key and link time, signed by the
//! account key and countersigned by the device's own identity key.

use crate::account::{AccountKey, AccountKeyPair};
use crate::constants::{ACCOUNT_SIGNATURE_CONTEXT, DEVICE_SIGNATURE_CONTEXT, PRIMARY_DEVICE_ID};
use crate::error::{Error, Result};
use crate::keys::{DeviceId, IdentityKey, IdentityKeyPair};
use crate::time::Timestamp;

/// `link_body = AIK || u32be(device_id) || IK_dev || u64be(linked_at)`, 76 bytes.
pub(super) fn link_body(
    account: &AccountKey,
    device: DeviceId,
    identity: &IdentityKey,
    linked_at: Timestamp,
) -> [u8; 76] {
    let mut body = [0u8; 76];
    let parts: [&[u8]; 4] = [
        account.as_bytes(),
        &device.get().to_be_bytes(),
        identity.as_bytes(),
        &linked_at.as_unix_millis().to_be_bytes(),
    ];
    let mut at = 0;
    for part in parts {
        if let Some(slot) = body.get_mut(at..at + part.len()) {
            slot.copy_from_slice(part);
        }
        at += part.len();
    }
    body
}

/// A device on an account's device list (PROTOCOL.md §11.6). An entry holds two signatures
/// over its link body: the account key's (the account vouches for the device) and the
/// device identity key's over that one too (the device agreed to be on this account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    pub(super) device: DeviceId,
    pub(super) identity: IdentityKey,
    pub(super) linked_at: Timestamp,
    pub(super) account_sig: [u8; 64],
    pub(super) device_sig: [u8; 64],
}

impl DeviceEntry {
    /// The primary device's own entry (device id 1), signed with both of its keys.
    pub fn primary(
        account: &AccountKeyPair,
        identity: &IdentityKeyPair,
        linked_at: Timestamp,
    ) -> DeviceEntry {
        let authorization =
            account.authorize_device(PRIMARY_DEVICE_ID, identity.public(), linked_at);
        let device_sig = authorization.sign_as(identity);
        authorization.into_entry(device_sig)
    }

    /// The device's id on the account.
    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    /// The device's identity key: the one its sessions use.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity
    }

    /// When the primary linked it (the app's clock).
    pub fn linked_at(&self) -> Timestamp {
        self.linked_at
    }

    /// Check both signatures, under `account` and under the entry's identity key.
    pub(super) fn verify(&self, account: &AccountKey) -> Result<()> {
        let body = link_body(account, self.device, &self.identity, self.linked_at);
        account.verify(
            "device list entry (account signature)",
            ACCOUNT_SIGNATURE_CONTEXT,
            &[&body],
            &self.account_sig,
        )?;
        self.identity.verify(
            "device list entry (device signature)",
            DEVICE_SIGNATURE_CONTEXT,
            &[&body, &self.account_sig],
            &self.device_sig,
        )
    }
}

/// The account's half of a companion's entry: made by the primary
/// ([`AccountKeyPair::authorize_device`]), sent to the companion, which countersigns it with
/// its identity key ([`DeviceAuthorization::countersign`]); the primary then completes the
/// entry ([`DeviceAuthorization::complete`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuthorization {
    account: AccountKey,
    device: DeviceId,
    identity: IdentityKey,
    linked_at: Timestamp,
    account_sig: [u8; 64],
}

impl AccountKeyPair {
    /// Vouch for the device with `identity` as device `device` of this account, linked at
    /// `linked_at`: `account_sig` over its link body.
    pub fn authorize_device(
        &self,
        device: impl Into<DeviceId>,
        identity: &IdentityKey,
        linked_at: Timestamp,
    ) -> DeviceAuthorization {
        let device = device.into();
        let body = link_body(self.public(), device, identity, linked_at);
        DeviceAuthorization {
            account: *self.public(),
            device,
            identity: *identity,
            linked_at,
            account_sig: self.sign(ACCOUNT_SIGNATURE_CONTEXT, &[&body]),
        }
    }
}

impl DeviceAuthorization {
    /// The authorization a companion received, checked: `account_sig` must verify under
    /// `account` ([`Error::InvalidSignature`] if not).
    pub fn new(
        account: AccountKey,
        device: impl Into<DeviceId>,
        identity: IdentityKey,
        linked_at: Timestamp,
        account_sig: [u8; 64],
    ) -> Result<Self> {
        let authorization = DeviceAuthorization {
            account,
            device: device.into(),
            identity,
            linked_at,
            account_sig,
        };
        let body = authorization.body();
        account.verify(
            "device authorization (account signature)",
            ACCOUNT_SIGNATURE_CONTEXT,
            &[&body],
            &account_sig,
        )?;
        Ok(authorization)
    }

    /// The account's signature over the link body.
    pub fn account_signature(&self) -> &[u8; 64] {
        &self.account_sig
    }

    /// The companion's countersignature `device_sig`, made with its identity key, which must
    /// be the one authorized ([`Error::InvalidKey`] if not).
    pub fn countersign(&self, identity: &IdentityKeyPair) -> Result<[u8; 64]> {
        if identity.public() != &self.identity {
            return Err(Error::InvalidKey(
                "identity key (not the one the account authorized)",
            ));
        }
        Ok(self.sign_as(identity))
    }

    /// The complete entry, once the companion's `device_sig` verifies under its identity key.
    pub fn complete(self, device_sig: [u8; 64]) -> Result<DeviceEntry> {
        let account = self.account;
        let entry = self.into_entry(device_sig);
        entry.verify(&account)?;
        Ok(entry)
    }

    fn body(&self) -> [u8; 76] {
        link_body(&self.account, self.device, &self.identity, self.linked_at)
    }

    fn sign_as(&self, identity: &IdentityKeyPair) -> [u8; 64] {
        identity.sign(DEVICE_SIGNATURE_CONTEXT, &[&self.body(), &self.account_sig])
    }

    fn into_entry(self, device_sig: [u8; 64]) -> DeviceEntry {
        DeviceEntry {
            device: self.device,
            identity: self.identity,
            linked_at: self.linked_at,
            account_sig: self.account_sig,
            device_sig,
        }
    }
}
