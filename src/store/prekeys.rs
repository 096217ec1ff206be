//! The one prekey lookup: the keys a PreKey message or a bundle names, read from a store.

use crate::error::{Error, Result};
#[cfg(any(test, feature = "fuzzing"))]
use crate::keys::{DeviceId, IdentityKeyPair, PreKeyBundle};
use crate::session::{PreKeyIds, ResponderPreKeys};
use crate::store::ProtocolStore;

/// Read the prekeys `ids` names from `store`; a missing one is `None`.
pub(crate) fn lookup<S: ProtocolStore>(store: &S, ids: PreKeyIds) -> Result<ResponderPreKeys> {
    let one_time = match ids.one_time {
        Some(id) => store.one_time_prekey(id).map_err(store_err)?,
        None => None,
    };
    Ok(ResponderPreKeys {
        signed_prekey: store.signed_prekey(ids.signed).map_err(store_err)?,
        one_time_prekey: one_time,
        kem_prekey: store.kem_prekey(ids.kem).map_err(store_err)?,
        base_key_used: false,
    })
}

/// The bundle of `device` for publication: `identity` and the prekeys `ids` names, read from
/// `store` (each must be there). Only the unit tests and the fuzz fixtures assemble bundles by
/// id; apps publish through [`PreKeyUpkeep`](crate::account::PreKeyUpkeep).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn bundle<S: ProtocolStore>(
    store: &S,
    identity: &IdentityKeyPair,
    device: DeviceId,
    ids: PreKeyIds,
) -> Result<PreKeyBundle> {
    let keys = lookup(store, ids)?.require(ids)?;
    Ok(PreKeyBundle::new(
        device,
        identity,
        &keys.signed,
        keys.one_time.as_ref(),
        &keys.kem,
    ))
}

/// A store's error, boxed into [`Error::Store`].
pub(crate) fn store_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::Store(Box::new(e))
}
