//! The store-backed operations: a thin layer over the sans-IO core that reads from a
//! [`ProtocolStore`], computes, and commits every change in one call.

use rand_core::CryptoRng;

use crate::account::{AccountKey, PhoneNumber};
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, IdentityKeyPair, VerifiedBundle};
use zeroize::Zeroizing;

use crate::constants::ENC_HEADER_LEN;
use crate::ratchet::{Body, MessageKey, Opened};
use crate::session::{
    ConsumedPreKeys, Decrypted, Message, PreKeyMessage, ResponderPreKeys, Session, SessionId,
    SkippedKeyId,
};
use crate::session::{
    PreKeyIds, RecordSource, RecordView, in_place_plaintext, is_prekey_message, owned,
    ratchet_parts, ratchet_parts_mut,
};
use crate::store::account_devices::{check_listed, listing};
use crate::store::device_lists::{account_of, freshness, own_list_version};
use crate::store::prekeys::{lookup, store_err};
use crate::store::{Address, Change, Changes, ProtocolStore};

/// Start a session with `address` from its verified bundle; it becomes the current session
/// (a previous one is archived). The next [`encrypt`] to this address sends a PreKey message.
///
/// The bundle must be the one published for `address`'s device ([`Error::WrongDevice`]) and
/// carry the identity remembered for `address`, if one is ([`Error::UntrustedIdentity`]);
/// else its identity is remembered from now on. If `address` is an account's device (its
/// user part a phone number in E.164 form, PROTOCOL.md §11.7), the bundle's identity key must
/// be that device's on the account's accepted device list ([`Error::DeviceNotOnList`];
/// [`Error::NoDeviceList`] if no list is accepted for the number), checked before anything
/// is computed; on any error nothing is written.
pub fn start_session<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    bundle: &VerifiedBundle,
    rng: &mut R,
) -> Result<()> {
    if bundle.device_id() != address.device() {
        return Err(Error::WrongDevice {
            address: address.device(),
            bundle: bundle.device_id(),
        });
    }
    run(store, |store| {
        check_listed(store, address, bundle.identity_key())?;
        let known = trusted(store, address, bundle.identity_key())?;
        let session = Session::initiate(&local_identity(store)?, bundle, rng)?;
        let mut record = stored_record(store, address)?.unwrap_or_default();
        record.set_current(session);
        let mut changes = Changes::new();
        remember(&mut changes, address, known, bundle.identity_key());
        commit_record(store, changes, address, record)
    })
}

/// Encrypt `plaintext` for `address` with its current session. The advanced session is
/// committed before the message is returned, so a message key is never used twice even if
/// the app crashes right after. The message carries the version of this device's own account
/// list (see [`accept_own_device_list`](crate::accept_own_device_list); 0 without one).
///
/// To an account's device (PROTOCOL.md §11.7), the device must be on the account's accepted
/// list ([`Error::NoDeviceList`], [`Error::DeviceNotOnList`]: e.g. a device a newer list
/// removed), with the current session's peer identity as its key ([`Error::DeviceNotOnList`]).
/// To send to every device of accounts at once, use
/// [`encrypt_for_accounts`](crate::encrypt_for_accounts).
///
/// [`Error::NoSession`] without a current session; [`Error::UntrustedIdentity`] if its
/// identity is not the one remembered for `address`; [`Error::StaleDeviceList`] if
/// `address` is a device of an account (its user part a phone number in E.164 form) one of
/// whose devices sent a newer device list version than the list accepted for it: accept that
/// list first ([`device_list_needed`](crate::device_list_needed) says which version);
/// [`Error::ChainExhausted`]; [`Error::Store`]. On any error nothing was written.
pub fn encrypt<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    plaintext: &[u8],
) -> Result<Message> {
    run(store, |store| {
        let (mut record, known, identity, version) = sending_record(store, address)?;
        let message = record.encrypt(version, plaintext)?;
        let mut changes = Changes::new();
        remember(&mut changes, address, known, &identity);
        commit_record(store, changes, address, record)?;
        Ok(message)
    })
}

/// [`encrypt`] in place, for large messages: `buffer` holds the plaintext and, on success,
/// the serialized message (what [`Message::to_bytes`] gives). A ratchet message costs one
/// AES-GCM pass over the plaintext and one move of it to make room for the message's 73 to
/// 78 leading bytes and the 8-byte list version (reserve 102 bytes of spare capacity to avoid
/// a reallocation: those and the 16-byte tag); a PreKey message, sent until the peer replies,
/// is built as by [`encrypt`] and copied in.
///
/// The errors of [`encrypt`]. On any error, including a failed commit, `buffer` holds the
/// plaintext again (a message encrypted by a session that could not be saved is decrypted
/// back where it is).
pub fn encrypt_in_place<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    buffer: &mut Vec<u8>,
) -> Result<()> {
    run(store, |store| {
        let (mut record, known, identity, version) = sending_record(store, address)?;
        let unsend = record.encrypt_in_place(version, buffer)?;
        let mut changes = Changes::new();
        remember(&mut changes, address, known, &identity);
        match commit_record(store, changes, address, record) {
            Ok(()) => Ok(()),
            Err(e) => {
                unsend.restore(buffer)?;
                Err(e)
            }
        }
    })
}

/// The record of `address` with its current session, the identity remembered for it, and
/// the list version our messages carry, once sending to `address` is allowed: its account's
/// accepted list is not older than a version its devices sent.
fn sending_record<S: ProtocolStore>(
    store: &S,
    address: &Address,
) -> Result<(RecordView, Option<IdentityKey>, IdentityKey, u64)> {
    let listed = listing(store, address)?;
    let record = stored_record(store, address)?.ok_or(Error::NoSession)?;
    let identity = *record.current().ok_or(Error::NoSession)?.remote_identity();
    listed.check(address, &identity)?;
    let known = trusted(store, address, &identity)?;
    if let Some(phone) = account_of(address) {
        let found = freshness(store, &phone)?;
        found.with_seen(record.peer_list_version()).check()?;
    }
    Ok((record, known, identity, own_list_version(store)?))
}

/// Decrypt a message (either kind) from `address`. The plaintext is returned only after the
/// new state was committed; on any error, including a failed commit, nothing has changed and
/// the same bytes can be decrypted again later.
///
/// From an account's device (PROTOCOL.md §11.7), the device must be on the account's accepted
/// list ([`Error::NoDeviceList`], [`Error::DeviceNotOnList`]: fetch and accept the list, then
/// decrypt the same bytes again). A PreKey message's identity key must be the listed one
/// ([`Error::DeviceNotOnList`]), checked before any prekey is looked up or consumed and before
/// any key agreement; a ratchet message is tried only in sessions with the listed key.
pub fn decrypt<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    run(store, |store| {
        let mut plaintext = decrypt_once(store, address, bytes, rng)?;
        Ok(core::mem::take(&mut *plaintext))
    })
}

/// One run of [`decrypt`]: the plaintext, once the state is committed.
fn decrypt_once<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    bytes: &[u8],
    rng: &mut R,
) -> Outcome<Zeroizing<Vec<u8>>, S::Error> {
    let known = store.peer_identity(address).map_err(store_err)?;
    let (record, decrypted) = match is_prekey_message(bytes)? {
        true => {
            let message = PreKeyMessage::try_from(bytes)?;
            decrypt_prekey(store, address, &message, known, rng)?
        }
        false => {
            let (enc_header, sealed) = ratchet_parts(bytes)?;
            let mut body = Body::Borrowed(sealed);
            let (record, opened, sender, sender_list_version) =
                decrypt_ratchet(store, address, enc_header, &mut body, known, rng)?;
            let decrypted = Decrypted {
                plaintext: owned(opened)?,
                sender,
                sender_list_version,
                consumed: ConsumedPreKeys::default(),
            };
            (record, decrypted)
        }
    };
    let Decrypted {
        plaintext,
        sender,
        consumed,
        sender_list_version: _,
    } = decrypted;
    let mut changes = Changes::new();
    remember(&mut changes, address, known, &sender);
    changes.consumed(consumed);
    // On a failed commit the plaintext is wiped as it drops.
    commit_record(store, changes, address, record)?;
    Ok(plaintext)
}

/// [`decrypt`] in place, for large messages: `buffer` holds a serialized message and, on
/// success, the plaintext in the returned part of it. A ratchet message is authenticated and
/// decrypted where its ciphertext is, in one AES-GCM pass and without a copy; a PreKey
/// message is decrypted as by [`decrypt`] and its plaintext copied into `buffer`.
///
/// On any error, including a failed commit, `buffer` is as it was (a decrypted ratchet
/// message whose state could not be committed is sealed again to the same bytes) and
/// nothing has changed, so the same bytes can be decrypted again later. A message from an
/// account's device is checked against its accepted list as by [`decrypt`].
pub fn decrypt_in_place<'b, S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    buffer: &'b mut [u8],
    rng: &mut R,
) -> Result<&'b mut [u8]> {
    let plaintext = run(store, |store| {
        decrypt_in_place_once(store, address, buffer, rng)
    })?;
    buffer
        .get_mut(plaintext)
        .ok_or(Error::Internal("a plaintext outside its message"))
}

/// One run of [`decrypt_in_place`]: where in `buffer` the plaintext is, once the state is
/// committed.
fn decrypt_in_place_once<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    buffer: &mut [u8],
    rng: &mut R,
) -> Outcome<core::ops::Range<usize>, S::Error> {
    if is_prekey_message(buffer)? {
        let plaintext = decrypt_once(store, address, buffer, rng)?;
        let out = buffer
            .get_mut(..plaintext.len())
            .ok_or(Error::Internal("a plaintext longer than its message"))?;
        out.copy_from_slice(&plaintext);
        return Ok(0..plaintext.len());
    }
    let known = store.peer_identity(address).map_err(store_err)?;
    let total = buffer.len();
    let (enc_header, sealed) = ratchet_parts_mut(buffer)?;
    let start = total - sealed.len();
    let mut body = Body::InPlace(sealed);
    let (record, opened, sender, _) =
        decrypt_ratchet(store, address, &enc_header, &mut body, known, rng)?;
    let Body::InPlace(sealed) = body else {
        return Err(Error::Internal("the in-place body").into());
    };
    let Opened::InPlace(len, reseal) = opened else {
        return Err(Error::Internal("an in-place body decrypts in place").into());
    };
    let mut changes = Changes::new();
    remember(&mut changes, address, known, &sender);
    let len = len.min(sealed.len());
    if let Err(e) = commit_record(store, changes, address, record) {
        reseal.restore(sealed.get_mut(..len).unwrap_or_default())?;
        return Err(e);
    }
    let plaintext = in_place_plaintext(len);
    Ok(start + plaintext.start..start + plaintext.end)
}

fn decrypt_ratchet<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &S,
    address: &Address,
    enc_header: &[u8; ENC_HEADER_LEN],
    body: &mut Body<'_>,
    known: Option<IdentityKey>,
    rng: &mut R,
) -> Result<(RecordView, Opened, IdentityKey, u64)> {
    let trusted = listing(store, address)?.trusted(known);
    let mut record = stored_record(store, address)?.ok_or(Error::NoSession)?;
    let source = StoreSource { store, address };
    let (opened, sender, version) =
        record.decrypt(enc_header, body, trusted.as_ref(), &source, rng)?;
    Ok((record, opened, sender, version))
}

fn decrypt_prekey<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &S,
    address: &Address,
    message: &PreKeyMessage,
    known: Option<IdentityKey>,
    rng: &mut R,
) -> Result<(RecordView, Decrypted)> {
    // Checked before any lookup or key agreement (the record checks the second too).
    check_listed(store, address, message.identity_key())?;
    if known.is_some_and(|k| k != *message.identity_key()) {
        return Err(Error::UntrustedIdentity);
    }
    let mut record = stored_record(store, address)?.unwrap_or_default();
    let prekeys = match record.has_base_key(message.base_key()) {
        true => ResponderPreKeys::default(),
        false => responder_prekeys(store, message)?,
    };
    let ours = local_identity(store)?;
    let source = StoreSource { store, address };
    let decrypted = record.decrypt_prekey(&ours, known.as_ref(), message, prekeys, &source, rng)?;
    Ok((record, decrypted))
}

/// What a new PreKey message needs from the store: its prekeys and its replay check.
fn responder_prekeys<S: ProtocolStore>(
    store: &S,
    message: &PreKeyMessage,
) -> Result<ResponderPreKeys> {
    let ids = PreKeyIds::from(message);
    let used = store.base_key_used(ids.signed, message.base_key());
    if used.map_err(store_err)? {
        // A replay of a PreKey message whose session is no longer kept: nothing to look up.
        return Ok(ResponderPreKeys {
            base_key_used: true,
            ..ResponderPreKeys::default()
        });
    }
    lookup(store, ids)
}

/// Accept a changed identity key for `address` after the user confirmed it (e.g. compared the
/// new security code). The current session, if it was set up with another identity, is
/// archived in the same commit: start a new session from the peer's current bundle (or wait
/// for its PreKey message) to talk again.
pub fn accept_identity<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    identity: &IdentityKey,
) -> Result<()> {
    run(store, |store| {
        let mut changes = Changes::from(Change::PeerIdentity {
            address: address.clone(),
            identity: *identity,
        });
        if let Some(mut record) = stored_record(store, address)?
            && record
                .current()
                .is_some_and(|s| s.remote_identity() != identity)
        {
            record.archive_current();
            changes.record(address, record);
        }
        store.commit(changes).map_err(Failure::Commit)
    })
}

/// What [`check_account`] found for a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountTrust {
    /// No account key was remembered for the number: the one checked is, from now on (trust
    /// on first use).
    FirstUse,
    /// The account key checked is the one remembered for the number.
    Known,
}

/// Check `key`, an account key a peer presents for `phone` (e.g. in its signed device list),
/// against the one remembered for that number: the first key seen for a number is
/// remembered, in one commit ([`AccountTrust::FirstUse`]); the same key again is
/// [`AccountTrust::Known`]. A different key is [`Error::UntrustedAccount`] ("security code
/// changed") and nothing is written: accept nothing from that account's new devices until
/// the user has seen the new safety number and accepted it ([`accept_account`]).
pub fn check_account<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    key: &AccountKey,
) -> Result<AccountTrust> {
    run(store, |store| {
        match store.peer_account(phone).map_err(store_err)? {
            Some(known) if known == *key => Ok(AccountTrust::Known),
            Some(_) => Err(Error::UntrustedAccount.into()),
            None => {
                remember_account(store, phone, key)?;
                Ok(AccountTrust::FirstUse)
            }
        }
    })
}

/// Accept a changed account key for `phone` after the user confirmed it (compared the new
/// safety number): `key` replaces the one remembered, in one commit, and
/// [`check_account`] finds it [`Known`](AccountTrust::Known) from then on.
pub fn accept_account<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    key: &AccountKey,
) -> Result<()> {
    run(store, |store| remember_account(store, phone, key))
}

/// Commit `key` as the account key of `phone`.
fn remember_account<S: ProtocolStore>(
    store: &mut S,
    phone: &PhoneNumber,
    key: &AccountKey,
) -> Outcome<(), S::Error> {
    let change = Change::PeerAccount {
        phone: phone.clone(),
        key: *key,
    };
    store.commit(change.into()).map_err(Failure::Commit)
}

/// The identity remembered for `address`, after checking that `identity` is it. `None` if
/// none is remembered yet (trust on first use: the caller remembers `identity`).
pub(crate) fn trusted<S: ProtocolStore>(
    store: &S,
    address: &Address,
    identity: &IdentityKey,
) -> Result<Option<IdentityKey>> {
    match store.peer_identity(address).map_err(store_err)? {
        Some(known) if known == *identity => Ok(Some(known)),
        Some(_) => Err(Error::UntrustedIdentity),
        None => Ok(None),
    }
}

/// Remember `identity` for `address` unless one is remembered already.
pub(crate) fn remember(
    changes: &mut Changes,
    address: &Address,
    known: Option<IdentityKey>,
    identity: &IdentityKey,
) {
    if known.is_none() {
        changes.push(Change::PeerIdentity {
            address: address.clone(),
            identity: *identity,
        });
    }
}

pub(crate) fn local_identity<S: ProtocolStore>(store: &S) -> Result<IdentityKeyPair> {
    store
        .local_identity()
        .map_err(store_err)?
        .ok_or(Error::NoLocalIdentity)
}

/// The index and current session of `address`, if it has a record.
pub(crate) fn stored_record<S: ProtocolStore>(
    store: &S,
    address: &Address,
) -> Result<Option<RecordView>> {
    let Some(index) = store.session_index(address).map_err(store_err)? else {
        return Ok(None);
    };
    let current = match index.current() {
        None => None,
        Some(id) => Some(
            store
                .session(address, id)
                .map_err(store_err)?
                .filter(|s| s.id() == *id)
                .ok_or(Error::Malformed(NOT_STORED))?,
        ),
    };
    Ok(Some(RecordView::stored(index, current)))
}

const NOT_STORED: &str = "session index (names a session that is not stored)";

/// Archived sessions and skipped keys of `address`, read from the store when a message
/// needs one.
struct StoreSource<'a, S> {
    store: &'a S,
    address: &'a Address,
}

impl<S: ProtocolStore> RecordSource for StoreSource<'_, S> {
    fn session(&self, id: &SessionId) -> Result<Option<crate::session::Session>> {
        self.store.session(self.address, id).map_err(store_err)
    }

    fn skipped_key(&self, id: &SkippedKeyId) -> Result<Option<Box<MessageKey>>> {
        let key = self.store.skipped_message_key(self.address, id);
        match key.map_err(store_err)? {
            Some(key) if key.id != *id => {
                Err(Error::Malformed("skipped message key (another row)"))
            }
            key => Ok(key.map(|k| k.key)),
        }
    }
}

/// Commit `changes` together with what the operation changed in the record of `address`.
fn commit_record<S: ProtocolStore>(
    store: &mut S,
    mut changes: Changes,
    address: &Address,
    record: RecordView,
) -> Outcome<(), S::Error> {
    changes.record(address, record);
    store.commit(changes).map_err(Failure::Commit)
}

/// Why one run of an operation failed: before its commit (final), or in it (the store may
/// ask for another run).
pub(crate) enum Failure<E> {
    Operation(Error),
    Commit(E),
}

impl<E> From<Error> for Failure<E> {
    fn from(e: Error) -> Self {
        Failure::Operation(e)
    }
}

/// The result of one run of an operation.
pub(crate) type Outcome<T, E> = core::result::Result<T, Failure<E>>;

/// Run `operation` between the store's [`begin_operation`](ProtocolStore::begin_operation)
/// and [`end_operation`](ProtocolStore::end_operation), and again from its first read while
/// its commit fails and the store asks for another run (a conflict with another writer), at
/// most [`MAX_OPERATION_RUNS`](crate::store::MAX_OPERATION_RUNS) times.
pub(crate) fn run<S: ProtocolStore, T>(
    store: &mut S,
    mut operation: impl FnMut(&mut S) -> Outcome<T, S::Error>,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        let outcome = match store.begin_operation(attempt) {
            Ok(()) => operation(store),
            Err(e) => Err(Failure::Operation(store_err(e))),
        };
        store.end_operation();
        match outcome {
            Ok(value) => return Ok(value),
            Err(Failure::Operation(e)) => return Err(e),
            Err(Failure::Commit(e)) => {
                let again = attempt < crate::store::MAX_OPERATION_RUNS
                    && store.retry_operation(&e, attempt);
                if !again {
                    return Err(store_err(e));
                }
                attempt += 1;
            }
        }
    }
}
