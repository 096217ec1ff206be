//! The store-backed operations: a thin layer over the sans-IO core that reads from a
//! [`ProtocolStore`], computes, and commits every change in one call.

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::keys::{IdentityKey, VerifiedBundle};
use crate::session::{Message, PreKeyMessage, RatchetMessage, Session, SessionRecord};
use crate::store::{Address, Changes, ProtocolStore};

fn store_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::Store(Box::new(e))
}

/// Check `identity` against what the store remembers for `address`. Returns the identity to
/// remember if none was known (trust on first use); refuses a different one.
fn check_identity<S: ProtocolStore>(
    store: &S,
    address: &Address,
    identity: &IdentityKey,
) -> Result<Option<(Address, IdentityKey)>> {
    match store.peer_identity(address).map_err(store_err)? {
        Some(known) if known == *identity => Ok(None),
        Some(_) => Err(Error::UntrustedIdentity),
        None => Ok(Some((address.clone(), *identity))),
    }
}

/// [`check_identity`] for a session's remembered peer identity, which is only parsed (a
/// point decompression) when the store knows no identity for `address` yet.
fn check_session_identity<S: ProtocolStore>(
    store: &S,
    address: &Address,
    session: &Session,
) -> Result<Option<(Address, IdentityKey)>> {
    match store.peer_identity(address).map_err(store_err)? {
        Some(known) if known.as_bytes() == session.remote_identity_bytes() => Ok(None),
        Some(_) => Err(Error::UntrustedIdentity),
        None => Ok(Some((address.clone(), session.remote_identity()?))),
    }
}

/// Start a session with `address` from its verified bundle. The next [`encrypt`] to this
/// address sends a PreKey message.
pub fn start_session<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    bundle: &VerifiedBundle,
    rng: &mut R,
) -> Result<()> {
    let peer_identity = check_identity(store, address, bundle.identity_key())?;
    let ours = store
        .local_identity()
        .map_err(store_err)?
        .ok_or(Error::NoLocalIdentity)?;
    let session = Session::initiate(&ours, bundle, rng)?;
    let mut record = store
        .session(address)
        .map_err(store_err)?
        .unwrap_or_default();
    record.set_current(session);
    commit_record(store, address, record, peer_identity)
}

/// Encrypt `plaintext` for `address`. The advanced session is committed before the message is
/// returned, so a message key is never used twice even if the app crashes right after.
pub fn encrypt<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    plaintext: &[u8],
) -> Result<Message> {
    let mut record = store
        .session(address)
        .map_err(store_err)?
        .ok_or(Error::NoSession)?;
    let session = record.current().ok_or(Error::NoSession)?;
    let peer_identity = check_session_identity(store, address, session)?;
    let message = record.encrypt(plaintext)?;
    commit_record(store, address, record, peer_identity)?;
    Ok(message)
}

/// Commit a changed session record, with the peer identity to remember if there is one.
fn commit_record<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    record: SessionRecord,
    peer_identity: Option<(Address, IdentityKey)>,
) -> Result<()> {
    let changes = Changes {
        session: Some((address.clone(), record)),
        peer_identity,
        ..Changes::default()
    };
    store.commit(changes).map_err(store_err)
}

/// Decrypt a message (either kind) from `address`. The plaintext is returned only after the
/// new state was committed; on any error, including a failed commit, nothing has changed and
/// the same bytes can be decrypted again later.
pub fn decrypt<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    bytes: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    match Message::try_from(bytes)? {
        Message::Ratchet(message) => decrypt_ratchet(store, address, &message, rng),
        Message::PreKey(message) => decrypt_prekey(store, address, &message, rng),
    }
}

fn decrypt_ratchet<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    message: &RatchetMessage,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut record = store
        .session(address)
        .map_err(store_err)?
        .ok_or(Error::NoSession)?;
    let plaintext = record.decrypt(message, rng)?;
    let session = record.current().ok_or(Error::NoSession)?;
    let peer_identity = check_session_identity(store, address, session)?;
    commit_record(store, address, record, peer_identity)?;
    Ok(plaintext)
}

fn decrypt_prekey<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &mut S,
    address: &Address,
    message: &PreKeyMessage,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let peer_identity = check_identity(store, address, message.identity_key())?;
    let mut record = store
        .session(address)
        .map_err(store_err)?
        .unwrap_or_default();
    let mut changes = Changes {
        peer_identity,
        ..Changes::default()
    };
    let plaintext = if record.has_base_key(message.base_key()) {
        // A repeated PreKey message of a session we already have.
        record.decrypt_repeated(message, rng)?
    } else {
        respond(store, &mut record, &mut changes, message, rng)?
    };
    changes.session = Some((address.clone(), record));
    store.commit(changes).map_err(store_err)?;
    Ok(plaintext)
}

/// Set up a new session from `message` as the responder and make it current.
fn respond<S: ProtocolStore, R: CryptoRng + ?Sized>(
    store: &S,
    record: &mut SessionRecord,
    changes: &mut Changes,
    message: &PreKeyMessage,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let spk_id = message.signed_prekey_id();
    if store
        .base_key_used(spk_id, message.base_key())
        .map_err(store_err)?
    {
        // A replay of a PreKey message whose session is no longer kept.
        return Err(Error::DecryptionFailed);
    }
    let ours = store
        .local_identity()
        .map_err(store_err)?
        .ok_or(Error::NoLocalIdentity)?;
    let signed = store
        .signed_prekey(spk_id)
        .map_err(store_err)?
        .ok_or(Error::UnknownPreKey {
            kind: "signed",
            id: spk_id,
        })?;
    let one_time = match message.one_time_prekey_id() {
        None => None,
        Some(id) => Some(store.one_time_prekey(id).map_err(store_err)?.ok_or(
            Error::UnknownPreKey {
                kind: "one-time",
                id,
            },
        )?),
    };
    let kem_id = message.kem_prekey_id();
    let kem = store
        .kem_prekey(kem_id)
        .map_err(store_err)?
        .ok_or(Error::UnknownPreKey {
            kind: "KEM",
            id: kem_id,
        })?;
    let (session, plaintext) =
        Session::respond(&ours, &signed, one_time.as_ref(), &kem, message, rng)?;
    record.set_current(session);
    changes.remove_one_time_prekey = message.one_time_prekey_id();
    changes.remove_kem_prekey = (!kem.is_last_resort()).then_some(kem_id);
    changes.used_base_key = Some((spk_id, *message.base_key()));
    Ok(plaintext)
}

/// Accept a changed identity key for `address` after the user confirmed it (e.g. compared
/// the new security code). Messages from and to `address` work again afterwards.
pub fn accept_identity<S: ProtocolStore>(
    store: &mut S,
    address: &Address,
    identity: &IdentityKey,
) -> Result<()> {
    store
        .commit(Changes {
            peer_identity: Some((address.clone(), *identity)),
            ..Changes::default()
        })
        .map_err(store_err)
}
