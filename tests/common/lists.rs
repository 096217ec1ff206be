//! Accounts with device lists for the tests: an account key and phone number, and lists of
//! any version over any devices, each entry signed as linking would sign it.

use keylink::Timestamp;
use keylink::account::{AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
use keylink::keys::IdentityKeyPair;
use keylink::store::{Address, ProtocolStore};

use super::rng;

/// When every test list and entry was issued.
pub const LISTED_AT: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

/// An account: its key and the phone number it is known by.
pub struct Account {
    pub key: AccountKeyPair,
    pub phone: PhoneNumber,
}

impl Account {
    pub fn new(phone: &str) -> Self {
        Account {
            key: AccountKeyPair::generate(&mut rng()),
            phone: PhoneNumber::parse(phone).unwrap(),
        }
    }

    /// The address of device `id` of this account.
    pub fn address(&self, id: u32) -> Address {
        Address::new(self.phone.as_str(), id)
    }

    /// Version `version` of the list, with `devices` (id 1 is the primary).
    pub fn list(&self, version: u64, devices: &[(u32, &IdentityKeyPair)]) -> SignedDeviceList {
        let entries = devices
            .iter()
            .map(|(id, identity)| self.entry(*id, identity));
        let entries = entries.collect();
        SignedDeviceList::issue(&self.key, &self.phone, version, LISTED_AT, entries).unwrap()
    }

    fn entry(&self, id: u32, identity: &IdentityKeyPair) -> DeviceEntry {
        if id == 1 {
            return DeviceEntry::primary(&self.key, identity, LISTED_AT);
        }
        let authorization = self.key.authorize_device(id, identity.public(), LISTED_AT);
        let device_sig = authorization.countersign(identity).unwrap();
        authorization.complete(device_sig).unwrap()
    }
}

/// What a store holds for `addresses` and `phone`: each address's session index and current
/// session (serialized), the list accepted for `phone` and the local account. Equal before
/// and after an operation that must write nothing.
pub fn rows_of<S: ProtocolStore>(store: &S, addresses: &[Address], phone: &PhoneNumber) -> String {
    let mut out = String::new();
    for address in addresses {
        let index = store.session_index(address).unwrap();
        let current = index.as_ref().and_then(|i| i.current().copied());
        let session = current.map(|id| store.session(address, &id).unwrap().unwrap());
        let bytes = session.map(|s| s.to_bytes().to_vec());
        out.push_str(&format!("{address}: {index:?} {bytes:?}\n"));
    }
    let list = store.device_list(phone).unwrap().map(|l| l.to_bytes());
    let local = store.local_account().unwrap();
    out.push_str(&format!("{list:?} {local:?}"));
    out
}
