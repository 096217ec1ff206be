//! Which addresses are an account's devices, and the one check that keeps sessions and
//! messages to the devices on the account's accepted list (PROTOCOL.md §11.7: no ghost
//! devices).
//!
//! **The rule.** An [`Address`] whose user part is a phone number in E.164 form, exactly as
//! [`PhoneNumber::as_str`] writes it (`+` then 7 to 15 digits, nothing else), is device
//! `address.device()` of that number's account. For such an address a session is started,
//! a message sent or a message accepted only if the device list accepted for the number
//! ([`ProtocolStore::device_list`]) lists that device id with the identity key in question.
//! Every other user part ("bob", an opaque server id, a number written with spaces) is
//! outside accounts, and no list applies to it.

use crate::account::{DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList};
use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::store::prekeys::store_err;
use crate::store::{Address, Change, Changes, ProtocolStore};

/// The phone number whose account `address` is a device of, if its user part is one in
/// E.164 form (see the module's rule).
pub(crate) fn account_of(address: &Address) -> Option<PhoneNumber> {
    let user = address.user();
    PhoneNumber::parse(user)
        .ok()
        .filter(|phone| phone.as_str() == user)
}

/// The device list accepted for `phone`: [`Error::NoDeviceList`] if there is none. A stored
/// list verified when it was accepted.
pub(crate) fn accepted_list<S: ProtocolStore>(
    store: &S,
    phone: &PhoneNumber,
) -> Result<VerifiedDeviceList> {
    let list: Option<SignedDeviceList> = store.device_list(phone).map_err(store_err)?;
    let list = list.ok_or_else(|| Error::NoDeviceList {
        phone: phone.clone(),
    })?;
    Ok(VerifiedDeviceList::stored(list))
}

/// What the accepted list says about one address.
#[derive(Debug)]
pub(crate) enum Listing {
    /// Not an account's device: no list applies.
    Outside,
    /// An account's device, on its accepted list with this identity key.
    Listed(IdentityKey),
}

impl Listing {
    /// Check that `identity` is the key the list gives the device:
    /// [`Error::DeviceNotOnList`] if not. Anything passes for an address outside accounts.
    pub(crate) fn check(&self, address: &Address, identity: &IdentityKey) -> Result<()> {
        match self {
            Listing::Listed(listed) if listed != identity => Err(not_listed(address)),
            _ => Ok(()),
        }
    }

    /// The identity a message from the address must come from: the listed key for an
    /// account's device, else `known` (the identity remembered for the address, if any).
    pub(crate) fn trusted(&self, known: Option<IdentityKey>) -> Option<IdentityKey> {
        match self {
            Listing::Listed(listed) => Some(*listed),
            Listing::Outside => known,
        }
    }
}

/// What the accepted list says about `address`: [`Listing::Outside`] for an address outside
/// accounts; for an account's device, its listed key, or [`Error::NoDeviceList`] if no list
/// is accepted for the number and [`Error::DeviceNotOnList`] if the list lacks the device.
pub(crate) fn listing<S: ProtocolStore>(store: &S, address: &Address) -> Result<Listing> {
    let Some(phone) = account_of(address) else {
        return Ok(Listing::Outside);
    };
    let list = accepted_list(store, &phone)?;
    let entry = list.device(address.device());
    let entry: &DeviceEntry = entry.ok_or_else(|| not_listed(address))?;
    Ok(Listing::Listed(*entry.identity_key()))
}

/// Check that `identity` may be the peer of a session with `address`: on the accepted list
/// for that device if `address` is an account's device ([`listing`], [`Listing::check`]).
pub(crate) fn check_listed<S: ProtocolStore>(
    store: &S,
    address: &Address,
    identity: &IdentityKey,
) -> Result<()> {
    listing(store, address)?.check(address, identity)
}

/// Remember the identity key of each device a newly accepted list adds, at its address
/// `(phone, device id)`: the account key vouches for it, so it replaces any identity
/// remembered there before (a device re-added with a new key, a new primary). Written in the
/// list's commit.
pub(crate) fn remember_listed(changes: &mut Changes, phone: &PhoneNumber, added: &[DeviceEntry]) {
    for device in added {
        changes.push(Change::PeerIdentity {
            address: Address::new(phone.as_str(), device.device_id()),
            identity: *device.identity_key(),
        });
    }
}

fn not_listed(address: &Address) -> Error {
    Error::DeviceNotOnList {
        device: address.device(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_user_parts_in_e164_form_are_account_devices() {
        let account = |user: &str| account_of(&Address::new(user, 1)).map(|p| p.to_string());
        assert_eq!(account("+447700900123").as_deref(), Some("+447700900123"));
        assert_eq!(account("+15550001").as_deref(), Some("+15550001"));
        // Parsable, but not as written: outside accounts.
        for user in [
            "+44 7700 900123",
            "00447700900123",
            "447700900123",
            "bob",
            "",
        ] {
            assert_eq!(account(user), None, "{user:?}");
        }
    }
}
