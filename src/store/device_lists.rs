//! Accepting an account's device list through the store: trust on first use of its account
//! key, the rollback and fork rules against the list accepted before, and the sessions of
//! removed devices archived in the same commit. Also this device's own account list, whose
//! version every message carries (PROTOCOL.md §11.6), and the check that refuses to send to
//! an account whose devices sent a newer list version than the one accepted.

use crate::account::{
    AccountKey, DeviceListChanges, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use crate::error::{Error, Result};
use crate::store::account_devices::remember_listed;
use crate::store::ops::{Failure, Outcome, local_identity, run, stored_record};
use crate::store::prekeys::store_err;
use crate::store::{Address, Change, Changes, ProtocolStore};

/// Accept `list`, the device list the server gave for `phone` (PROTOCOL.md §11.6), and say
/// which devices it adds and removes since the list accepted before.
///
/// In order: the list must verify for `phone` ([`Error::DeviceListForAnotherNumber`],
/// [`Error::InvalidSignature`]); its account key must be the one remembered for `phone`
/// ([`Error::UntrustedAccount`] if another is: show the new safety number, and after
/// [`accept_account`](crate::accept_account) the list is accepted as a first one), or is
/// remembered now if none is; it must not be older than the accepted list
/// ([`Error::DeviceListRollback`]) nor differ from it at the same version
/// ([`Error::DeviceListFork`]). Then, in one commit, the list is remembered, the current
/// session with each removed device (the address `(phone, device id)`) is archived, and the
/// identity key of each added device is remembered for its address (replacing one
/// remembered before: the account key vouches for it). From then on sessions and messages
/// with the account's devices are checked against this list (PROTOCOL.md §11.7): a removed
/// device's messages are refused. On any error nothing is written.
pub fn accept_device_list<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    list: SignedDeviceList,
) -> Result<DeviceListChanges> {
    let list = list.verify(phone)?;
    run(store, |store| {
        accept_once(store, phone, &list, Changes::new())
    })
}

/// Accept `list` as the device list of this device's own account, `phone`: everything
/// [`accept_device_list`] does, and `phone` is remembered as this device's account in the
/// same commit. From then on every message this device sends carries the version of the list
/// accepted for `phone` (PROTOCOL.md §11.6); a device that never accepts its own list sends
/// version 0.
///
/// Besides the errors of [`accept_device_list`]: [`Error::NotOnOwnDeviceList`] if the list
/// does not have this device's identity key (the device was removed, or never linked), and
/// [`Error::OtherLocalAccount`] if this device already belongs to another phone number's
/// account (a device belongs to one account; accept another account's list with
/// [`accept_device_list`]). [`Error::NoLocalIdentity`] if the store has no identity yet.
/// On any error nothing is written.
pub fn accept_own_device_list<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    list: SignedDeviceList,
) -> Result<DeviceListChanges> {
    let list = list.verify(phone)?;
    run(store, |store| {
        let changes = own_account(store, phone, &list)?;
        accept_once(store, phone, &list, changes)
    })
}

/// The change that remembers `phone` as this device's account (none if it is already),
/// after checking that `list` has this device and that the device has no other account.
fn own_account<S: ProtocolStore>(
    store: &S,
    phone: &PhoneNumber,
    list: &VerifiedDeviceList,
) -> Result<Changes> {
    let ours = *local_identity(store)?.public();
    if !list.devices().iter().any(|d| *d.identity_key() == ours) {
        return Err(Error::NotOnOwnDeviceList);
    }
    match store.local_account().map_err(store_err)? {
        Some(known) if known == *phone => Ok(Changes::new()),
        Some(_) => Err(Error::OtherLocalAccount),
        None => Ok(Change::LocalAccount(phone.clone()).into()),
    }
}

fn accept_once<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    list: &VerifiedDeviceList,
    mut changes: Changes,
) -> Outcome<DeviceListChanges, S::Error> {
    trust_account(store, phone, list.account_key(), &mut changes)?;
    let accepted = store.device_list(phone).map_err(store_err)?;
    let accepted = accepted.map(VerifiedDeviceList::stored);
    let found = list.changes_since(accepted.as_ref())?;
    if found.is_same_list() {
        if !changes.is_empty() {
            store.commit(changes).map_err(Failure::Commit)?;
        }
        return Ok(found);
    }
    for device in &found.removed {
        let address = Address::new(phone.as_str(), device.device_id());
        if let Some(mut record) = stored_record(store, &address)?
            && record.current().is_some()
        {
            record.archive_current();
            changes.record(&address, record);
        }
    }
    remember_listed(&mut changes, phone, &found.added);
    changes.push(Change::DeviceList {
        phone: phone.clone(),
        list: Box::new(list.signed().clone()),
    });
    store.commit(changes).map_err(Failure::Commit)?;
    Ok(found)
}

/// The account key of the list must be the one remembered for `phone`; remember it if none
/// is.
fn trust_account<S: ProtocolStore>(
    store: &S,
    phone: &PhoneNumber,
    key: &AccountKey,
    changes: &mut Changes,
) -> Result<()> {
    match store.peer_account(phone).map_err(store_err)? {
        Some(known) if known == *key => Ok(()),
        Some(_) => Err(Error::UntrustedAccount),
        None => {
            changes.push(Change::PeerAccount {
                phone: phone.clone(),
                key: *key,
            });
            Ok(())
        }
    }
}

/// The version of the list accepted for `phone`, 0 if none is.
fn accepted_version<S: ProtocolStore>(store: &S, phone: &PhoneNumber) -> Result<u64> {
    let list = store.device_list(phone).map_err(store_err)?;
    Ok(list.map_or(0, |l| l.version()))
}

/// The list version this device's messages carry: that of the list accepted for its own
/// account, 0 for a device outside accounts or without an accepted list.
pub(crate) fn own_list_version<S: ProtocolStore>(store: &S) -> Result<u64> {
    match store.local_account().map_err(store_err)? {
        Some(phone) => accepted_version(store, &phone),
        None => Ok(0),
    }
}

/// The phone number an address's user part is, if it is one exactly in E.164 form (only such
/// addresses belong to an account; others, like `"bob"`, are outside accounts).
pub(crate) fn account_of(address: &Address) -> Option<PhoneNumber> {
    let user = address.user();
    let phone = PhoneNumber::parse(user).ok()?;
    (phone.as_str() == user).then_some(phone)
}

/// The list version accepted for an account, and the highest one its devices sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Freshness {
    pub(crate) accepted: u64,
    pub(crate) seen: u64,
}

impl Freshness {
    /// [`Error::StaleDeviceList`] if a device sent a newer version than the one accepted.
    pub(crate) fn check(self) -> Result<()> {
        match self.seen > self.accepted {
            true => Err(Error::StaleDeviceList {
                accepted: self.accepted,
                seen: self.seen,
            }),
            false => Ok(()),
        }
    }

    /// These figures, counting also a session that saw `seen`.
    pub(crate) fn with_seen(self, seen: u64) -> Self {
        Freshness {
            seen: self.seen.max(seen),
            ..self
        }
    }
}

/// The list accepted for `phone` and the highest version seen over the current sessions with
/// the devices on it (reads each one's index and current session).
pub(crate) fn freshness<S: ProtocolStore>(store: &S, phone: &PhoneNumber) -> Result<Freshness> {
    let Some(list) = store.device_list(phone).map_err(store_err)? else {
        return Ok(Freshness {
            accepted: 0,
            seen: 0,
        });
    };
    let list = VerifiedDeviceList::stored(list);
    let mut seen = 0;
    for device in list.devices() {
        let address = Address::new(phone.as_str(), device.device_id());
        let record = stored_record(store, &address)?;
        let current = record.as_ref().and_then(|r| r.current());
        seen = seen.max(current.map_or(0, |s| s.peer_list_version()));
    }
    Ok(Freshness {
        accepted: list.version(),
        seen,
    })
}

/// Refuse to send to `phone`'s account ([`Error::StaleDeviceList`]) while one of its
/// devices on the accepted list sent a newer list version than the accepted one: the one
/// check of every operation that sends to an account ([`encrypt`](crate::encrypt) also counts
/// the session it sends on, which need not be on the list).
pub(crate) fn check_list_fresh<S: ProtocolStore>(store: &S, phone: &PhoneNumber) -> Result<()> {
    freshness(store, phone)?.check()
}

/// The device list version the app must fetch and accept for `phone` before it can send to
/// that account again: `Some(v)` when a device of the account (on the accepted list) sent
/// messages under list version `v`, newer than the accepted one (none accepted counts as 0);
/// `None` when the accepted list is current. Call it after a decrypt from an account's device
/// to tell the user early ("Bob's devices changed, refreshing") instead of at the next send,
/// which [`encrypt`](crate::encrypt) refuses with [`Error::StaleDeviceList`] until then.
///
/// Only the current sessions with the devices on the accepted list count: with no list
/// accepted for `phone` this is `None` (accept one before talking to an account; `encrypt`
/// to an address of the account still counts that address's own session).
///
/// Reads only; [`Error::Store`] if the store fails.
pub fn device_list_needed<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
) -> Result<Option<u64>> {
    run(store, |store| {
        let found = freshness(store, phone)?;
        Ok((found.seen > found.accepted).then_some(found.seen))
    })
}
