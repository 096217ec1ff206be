//! An account's signed device list: which device keys belong to the account, issued by the
//! primary under the account key, verified by everyone, and accepted only forward.

use crate::account::{AccountKey, AccountKeyPair, PhoneNumber};
use crate::constants::{DEVICE_LIST_CONTEXT, MAX_DEVICES, PRIMARY_DEVICE_ID};
use crate::error::{Error, Result};
use crate::keys::{DeviceId, IdentityKey};
use crate::time::Timestamp;
use crate::wire::{self, Kind, proto};

use super::entry::DeviceEntry;

const WHAT: &str = "device list";

/// A device list as received: parsed, its structure checked, its signatures not yet
/// (PROTOCOL.md §11.6). Only [`verify`](Self::verify) makes a [`VerifiedDeviceList`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDeviceList {
    account: AccountKey,
    phone: PhoneNumber,
    version: u64,
    issued_at: Timestamp,
    devices: Vec<DeviceEntry>,
    signature: [u8; 64],
}

/// A device list whose every signature verified, for the phone number the app asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedDeviceList(SignedDeviceList);

/// What a newly verified list changes against the one accepted before
/// ([`VerifiedDeviceList::changes_since`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceListChanges {
    /// The version of the list accepted before for this number and account key; `None` if
    /// there was none (trust on first use), in which case every device is in `added`.
    pub previous: Option<u64>,
    /// The version of the new list: above `previous`, or equal for the same list again.
    pub version: u64,
    /// Devices on the new list that were not on the accepted one (same id and key).
    pub added: Vec<DeviceEntry>,
    /// Devices on the accepted list that the new one drops: their sessions are to be archived
    /// and their messages refused from now on.
    pub removed: Vec<DeviceEntry>,
}

impl DeviceListChanges {
    /// Whether no list was accepted before for this number and account key.
    pub fn is_first(&self) -> bool {
        self.previous.is_none()
    }

    /// Whether the new list is the accepted one again (nothing to remember).
    pub fn is_same_list(&self) -> bool {
        self.previous == Some(self.version)
    }
}

impl SignedDeviceList {
    /// Issue a list (on the primary): `devices` (in any order; 1 to 5, device 1 among them,
    /// each entry signed for this account) under `account`, as version `version` for
    /// `phone`.
    pub fn issue(
        account: &AccountKeyPair,
        phone: &PhoneNumber,
        version: u64,
        issued_at: Timestamp,
        mut devices: Vec<DeviceEntry>,
    ) -> Result<SignedDeviceList> {
        devices.sort_by_key(|d| d.device);
        check_devices(account.public(), &devices)?;
        for device in &devices {
            device.verify(account.public())?;
        }
        let mut list = SignedDeviceList {
            account: *account.public(),
            phone: phone.clone(),
            version,
            issued_at,
            devices,
            signature: [0; 64],
        };
        list.signature = account.sign(DEVICE_LIST_CONTEXT, &[&list.body()]);
        Ok(list)
    }

    /// The account key `AIK` the list claims.
    pub fn account_key(&self) -> &AccountKey {
        &self.account
    }

    /// The phone number the list claims.
    pub fn phone(&self) -> &PhoneNumber {
        &self.phone
    }

    /// Its version: accepted only above the last one accepted (or equal and identical).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Check every signature, and that the list is for `phone` (the number the app asked
    /// the server about): [`Error::DeviceListForAnotherNumber`] if not,
    /// [`Error::InvalidSignature`] if a signature does not verify.
    pub fn verify(self, phone: &PhoneNumber) -> Result<VerifiedDeviceList> {
        if &self.phone != phone {
            return Err(Error::DeviceListForAnotherNumber);
        }
        self.account
            .verify(WHAT, DEVICE_LIST_CONTEXT, &[&self.body()], &self.signature)?;
        for device in &self.devices {
            device.verify(&self.account)?;
        }
        Ok(VerifiedDeviceList(self))
    }

    /// `list_body = AIK || u8(len(phone)) || phone || u64be(version) || u64be(issued_at) ||
    /// u8(n) || n x (u32be(device_id) || IK_dev || u64be(linked_at))`.
    fn body(&self) -> Vec<u8> {
        let phone = self.phone.as_str().as_bytes();
        let mut body = Vec::with_capacity(32 + 1 + phone.len() + 17 + self.devices.len() * 44);
        body.extend_from_slice(self.account.as_bytes());
        body.push(u8::try_from(phone.len()).unwrap_or(u8::MAX));
        body.extend_from_slice(phone);
        body.extend_from_slice(&self.version.to_be_bytes());
        body.extend_from_slice(&self.issued_at.as_unix_millis().to_be_bytes());
        body.push(u8::try_from(self.devices.len()).unwrap_or(u8::MAX));
        for device in &self.devices {
            body.extend_from_slice(&device.device.get().to_be_bytes());
            body.extend_from_slice(device.identity.as_bytes());
            body.extend_from_slice(&device.linked_at.as_unix_millis().to_be_bytes());
        }
        body
    }

    /// Serialize for the server (`0x16 || DeviceList`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let devices = self.devices.iter().map(|d| proto::DeviceListEntry {
            device_id: d.device.get(),
            identity_key: d.identity.to_bytes().to_vec(),
            linked_at: d.linked_at.as_unix_millis(),
            account_signature: d.account_sig.to_vec(),
            device_signature: d.device_sig.to_vec(),
        });
        let list = proto::DeviceList {
            account_key: self.account.to_bytes().to_vec(),
            phone: self.phone.as_str().to_owned(),
            version: self.version,
            issued_at: self.issued_at.as_unix_millis(),
            devices: devices.collect(),
            signature: self.signature.to_vec(),
        };
        wire::encode(Kind::DeviceList, &list)
    }
}

impl TryFrom<&[u8]> for SignedDeviceList {
    type Error = Error;

    /// Parse a list and check its structure (PROTOCOL.md §11.6): canonical encoding, a phone
    /// number in E.164 form, valid keys, 1 to 5 devices in ascending id order with device 1
    /// among them, no identity key twice or equal to the account key.
    fn try_from(bytes: &[u8]) -> Result<Self> {
        let list: proto::DeviceList = wire::decode(Kind::DeviceList, bytes)?;
        let phone = PhoneNumber::parse(&list.phone).map_err(|_| Error::Malformed(PHONE))?;
        if phone.as_str() != list.phone {
            return Err(Error::Malformed(PHONE));
        }
        let account = AccountKey::try_from(list.account_key.as_slice())?;
        // Counted before any key is decoded: a list of thousands of entries costs nothing.
        if list.devices.is_empty() || list.devices.len() > MAX_DEVICES {
            return Err(Error::Malformed(COUNT));
        }
        let devices = list.devices.iter().map(entry_from_proto);
        let devices = devices.collect::<Result<Vec<_>>>()?;
        check_devices(&account, &devices)?;
        Ok(SignedDeviceList {
            account,
            phone,
            version: list.version,
            issued_at: Timestamp::from_unix_millis(list.issued_at),
            devices,
            signature: wire::array(&list.signature, WHAT)?,
        })
    }
}

const PHONE: &str = "device list (phone number not in E.164 form)";
const COUNT: &str = "device list (1 to 5 devices)";

fn entry_from_proto(entry: &proto::DeviceListEntry) -> Result<DeviceEntry> {
    Ok(DeviceEntry {
        device: DeviceId::new(entry.device_id),
        identity: IdentityKey::try_from(entry.identity_key.as_slice())?,
        linked_at: Timestamp::from_unix_millis(entry.linked_at),
        account_sig: wire::array(&entry.account_signature, WHAT)?,
        device_sig: wire::array(&entry.device_signature, WHAT)?,
    })
}

/// The rules on a list's devices, in ascending id order.
fn check_devices(account: &AccountKey, devices: &[DeviceEntry]) -> Result<()> {
    let problem = if devices.is_empty() || devices.len() > MAX_DEVICES {
        COUNT
    } else if devices.first().map(|d| d.device.get()) != Some(PRIMARY_DEVICE_ID) {
        "device list (no primary device, id 1)"
    } else if devices
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.device >= b.device))
    {
        "device list (device ids repeated or out of order)"
    } else if devices
        .iter()
        .any(|d| d.identity.as_bytes() == account.as_bytes())
    {
        "device list (a device identity key equal to the account key)"
    } else if has_repeated_key(devices) {
        "device list (an identity key on two devices)"
    } else {
        return Ok(());
    };
    Err(Error::Malformed(problem))
}

fn has_repeated_key(devices: &[DeviceEntry]) -> bool {
    let keys = devices.iter().map(|d| d.identity.as_bytes());
    let unique: std::collections::BTreeSet<&[u8; 32]> = keys.collect();
    unique.len() != devices.len()
}

impl VerifiedDeviceList {
    /// A list a store remembers: it verified when it was accepted.
    pub(crate) fn stored(list: SignedDeviceList) -> Self {
        VerifiedDeviceList(list)
    }

    /// The list as signed (to store it, or to hand it on).
    pub fn signed(&self) -> &SignedDeviceList {
        &self.0
    }

    /// The account key that signed it.
    pub fn account_key(&self) -> &AccountKey {
        &self.0.account
    }

    /// The phone number it is for.
    pub fn phone(&self) -> &PhoneNumber {
        &self.0.phone
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.0.version
    }

    /// When the primary issued it (the app's clock).
    pub fn issued_at(&self) -> Timestamp {
        self.0.issued_at
    }

    /// The devices, in ascending id order; the first is the primary.
    pub fn devices(&self) -> &[DeviceEntry] {
        &self.0.devices
    }

    /// The device with `id`, if it is on the list.
    pub fn device(&self, id: impl Into<DeviceId>) -> Option<&DeviceEntry> {
        let id = id.into();
        self.0.devices.iter().find(|d| d.device == id)
    }

    /// Whether `identity` is the key of device `id` on this list: a session or message from
    /// any other (device, key) is refused (no ghost devices).
    pub fn lists(&self, id: impl Into<DeviceId>, identity: &IdentityKey) -> bool {
        self.device(id).is_some_and(|d| d.identity == *identity)
    }

    /// Check this list against `accepted`, the last one accepted for its phone number (none
    /// if there is none, or if it was signed by another account key: accepting a new account
    /// key starts afresh), and say which devices it adds and removes. A lower version is
    /// [`Error::DeviceListRollback`]; the same version with other contents is
    /// [`Error::DeviceListFork`].
    pub fn changes_since(
        &self,
        accepted: Option<&VerifiedDeviceList>,
    ) -> Result<DeviceListChanges> {
        let Some(accepted) = accepted.filter(|a| a.account_key() == self.account_key()) else {
            return Ok(DeviceListChanges {
                previous: None,
                version: self.version(),
                added: self.devices().to_vec(),
                removed: Vec::new(),
            });
        };
        let (version, before) = (self.version(), accepted.version());
        if version < before {
            return Err(Error::DeviceListRollback {
                accepted: before,
                offered: version,
            });
        }
        if version == before && self.0.body() != accepted.0.body() {
            return Err(Error::DeviceListFork { version });
        }
        let not_in =
            |list: &VerifiedDeviceList, d: &DeviceEntry| !list.lists(d.device, &d.identity);
        Ok(DeviceListChanges {
            previous: Some(before),
            version,
            added: self
                .devices()
                .iter()
                .filter(|d| not_in(accepted, d))
                .cloned()
                .collect(),
            removed: accepted
                .devices()
                .iter()
                .filter(|d| not_in(self, d))
                .cloned()
                .collect(),
        })
    }

    /// The next list (on the primary): this one with `device` added, as version + 1.
    pub fn with_device(
        &self,
        account: &AccountKeyPair,
        device: DeviceEntry,
        issued_at: Timestamp,
    ) -> Result<SignedDeviceList> {
        let mut devices = self.devices().to_vec();
        devices.push(device);
        self.next(account, devices, issued_at)
    }

    /// The next list (on the primary): this one without device `id`, as version + 1. The
    /// primary itself cannot be removed.
    pub fn without_device(
        &self,
        account: &AccountKeyPair,
        id: impl Into<DeviceId>,
        issued_at: Timestamp,
    ) -> Result<SignedDeviceList> {
        let id = id.into();
        let devices = self.devices().iter().filter(|d| d.device != id);
        self.next(account, devices.cloned().collect(), issued_at)
    }

    fn next(
        &self,
        account: &AccountKeyPair,
        devices: Vec<DeviceEntry>,
        issued_at: Timestamp,
    ) -> Result<SignedDeviceList> {
        let version = self
            .version()
            .checked_add(1)
            .ok_or(Error::Malformed(WHAT))?;
        SignedDeviceList::issue(account, self.phone(), version, issued_at, devices)
    }
}
