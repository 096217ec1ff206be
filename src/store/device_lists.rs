//! Accepting an account's device list through the store: trust on first use of its account
//! key, the rollback and fork rules against the list accepted before, and the sessions of
//! removed devices archived in the same commit.

use crate::account::{
    AccountKey, DeviceListChanges, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use crate::error::{Error, Result};
use crate::store::account_devices::remember_listed;
use crate::store::ops::{Failure, Outcome, run, stored_record};
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
    run(store, |store| accept_once(store, phone, &list))
}

fn accept_once<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    list: &VerifiedDeviceList,
) -> Outcome<DeviceListChanges, S::Error> {
    let mut changes = Changes::new();
    trust_account(store, phone, list.account_key(), &mut changes)?;
    let accepted = store.device_list(phone).map_err(store_err)?;
    let accepted = accepted.map(VerifiedDeviceList::stored);
    let found = list.changes_since(accepted.as_ref())?;
    if found.is_same_list() {
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
