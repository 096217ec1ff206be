//! Fan-out: one plaintext encrypted for every device on some accounts' accepted device lists,
//! all or nothing, in one commit (PROTOCOL.md §11.7).

use std::collections::BTreeSet;

use crate::account::PhoneNumber;
use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::session::{Message, RecordView};
use crate::store::account_devices::accepted_list;
use crate::store::device_lists::{check_list_fresh, own_list_version};
use crate::store::ops::{Failure, Outcome, local_identity, remember, run, stored_record, trusted};
use crate::store::{Address, Changes, ProtocolStore};

/// The messages of one fan-out ([`encrypt_for_accounts`]): one per device, each with the
/// address to deliver it to, in the order of the accounts asked for and, within an account,
/// of its device list (ascending device id). Iterate over it, or take the vector with
/// [`into_messages`](Self::into_messages).
#[derive(Debug)]
#[must_use = "the sessions advanced already: messages not delivered are lost"]
pub struct FanOut {
    messages: Vec<(Address, Message)>,
}

impl FanOut {
    /// The messages, each with its recipient's address.
    pub fn messages(&self) -> &[(Address, Message)] {
        &self.messages
    }

    /// How many devices a message goes to.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there is no device to send to (e.g. the only device listed is this one).
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages, each with its recipient's address.
    pub fn iter(&self) -> core::slice::Iter<'_, (Address, Message)> {
        self.messages.iter()
    }

    /// The messages, each with its recipient's address.
    pub fn into_messages(self) -> Vec<(Address, Message)> {
        self.messages
    }
}

impl IntoIterator for FanOut {
    type Item = (Address, Message);
    type IntoIter = std::vec::IntoIter<(Address, Message)>;

    fn into_iter(self) -> Self::IntoIter {
        self.messages.into_iter()
    }
}

impl<'a> IntoIterator for &'a FanOut {
    type Item = &'a (Address, Message);
    type IntoIter = core::slice::Iter<'a, (Address, Message)>;

    fn into_iter(self) -> Self::IntoIter {
        self.messages.iter()
    }
}

/// Encrypt `plaintext` for every device on the accepted device list of each account in
/// `accounts` (typically the recipient's and this device's own, so that its other devices
/// get a copy), except this device itself (the entry with the local identity key). An
/// account named twice counts once. Each device is addressed `(phone, device id)`.
///
/// All or nothing: every device must have a current session whose peer identity is its
/// listed key, or the call fails with [`Error::MissingSessions`] naming every device without
/// one ([`devices_without_session`] tells them beforehand), before anything is encrypted; an
/// account without an accepted list is [`Error::NoDeviceList`]. Every session is advanced
/// and committed in one commit, so a crash or a failed commit ([`Error::Store`]) never
/// leaves some devices sent to and others not: on any error nothing has changed and no
/// message is returned. Other errors are [`encrypt`](crate::encrypt)'s
/// ([`Error::UntrustedIdentity`], [`Error::ChainExhausted`], [`Error::NoLocalIdentity`]).
pub fn encrypt_for_accounts<S: ProtocolStore>(
    store: &mut S,
    accounts: &[PhoneNumber],
    plaintext: &[u8],
) -> Result<FanOut> {
    run(store, |store| {
        let (ready, missing) = sessions(store, accounts)?;
        if !missing.is_empty() {
            return Err(Error::MissingSessions { devices: missing }.into());
        }
        seal_all(store, ready, plaintext)
    })
}

/// The devices on the accepted lists of `accounts` (but this one) that have no current
/// session with their listed identity key: fetch their bundles and
/// [`start_session`](crate::start_session) with each before
/// [`encrypt_for_accounts`]. Writes nothing; [`Error::NoDeviceList`] for an account without
/// an accepted list.
pub fn devices_without_session<S: ProtocolStore>(
    store: &mut S,
    accounts: &[PhoneNumber],
) -> Result<Vec<Address>> {
    run(store, |store| Ok(sessions(store, accounts)?.1))
}

/// A device a fan-out goes to: its address and its identity key on the accepted list.
struct Recipient {
    address: Address,
    identity: IdentityKey,
}

/// A recipient with a session to send on, and the identity remembered for it.
struct Ready {
    recipient: Recipient,
    record: RecordView,
    known: Option<IdentityKey>,
}

/// The recipients of `accounts` that have a session to send on, and the addresses of
/// those that have none.
fn sessions<S: ProtocolStore>(
    store: &S,
    accounts: &[PhoneNumber],
) -> Result<(Vec<Ready>, Vec<Address>)> {
    let (mut ready, mut missing) = (Vec::new(), Vec::new());
    for recipient in recipients(store, accounts)? {
        match current_with(store, &recipient)? {
            Some(record) => {
                let known = trusted(store, &recipient.address, &recipient.identity)?;
                ready.push(Ready {
                    recipient,
                    record,
                    known,
                });
            }
            None => missing.push(recipient.address),
        }
    }
    Ok((ready, missing))
}

/// Every device on the accepted lists of `accounts` but this one, each account once.
fn recipients<S: ProtocolStore>(store: &S, accounts: &[PhoneNumber]) -> Result<Vec<Recipient>> {
    let ours = *local_identity(store)?.public();
    let mut seen = BTreeSet::new();
    let mut all = Vec::new();
    for phone in accounts.iter().filter(|p| seen.insert(*p)) {
        all.extend(account_recipients(store, phone, &ours)?);
    }
    Ok(all)
}

/// The devices on the list accepted for `phone`, but the one with identity `ours`. Every
/// check on an account's list before anything is sent to it goes here, once per account.
fn account_recipients<S: ProtocolStore>(
    store: &S,
    phone: &PhoneNumber,
    ours: &IdentityKey,
) -> Result<Vec<Recipient>> {
    let list = accepted_list(store, phone)?;
    check_list_fresh(store, phone)?;
    let devices = list.devices().iter().filter(|d| d.identity_key() != ours);
    let recipients = devices.map(|d| Recipient {
        address: Address::new(phone.as_str(), d.device_id()),
        identity: *d.identity_key(),
    });
    Ok(recipients.collect())
}

/// The record of `recipient`, if its current session is with the listed identity key.
fn current_with<S: ProtocolStore>(store: &S, recipient: &Recipient) -> Result<Option<RecordView>> {
    let record = stored_record(store, &recipient.address)?;
    let with_listed_key = |r: &RecordView| {
        r.current()
            .is_some_and(|s| s.remote_identity() == &recipient.identity)
    };
    Ok(record.filter(with_listed_key))
}

/// Encrypt `plaintext` on every ready session and commit them all in one commit.
fn seal_all<S: ProtocolStore>(
    store: &mut S,
    ready: Vec<Ready>,
    plaintext: &[u8],
) -> Outcome<FanOut, S::Error> {
    let version = own_list_version(store)?;
    let mut changes = Changes::new();
    let mut messages = Vec::with_capacity(ready.len());
    for Ready {
        recipient,
        mut record,
        known,
    } in ready
    {
        let message = record.encrypt(version, plaintext)?;
        let Recipient { address, identity } = recipient;
        remember(&mut changes, &address, known, &identity);
        changes.record(&address, record);
        messages.push((address, message));
    }
    if !messages.is_empty() {
        store.commit(changes).map_err(Failure::Commit)?;
    }
    Ok(FanOut { messages })
}
