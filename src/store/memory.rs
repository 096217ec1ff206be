//! An in-memory [`ProtocolStore`], serializable as a whole so an app (or a test) can persist
//! it and restart from it.

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PublicKey, SignedPreKey,
};
use crate::session::SessionRecord;
use crate::store::{Address, Changes, ProtocolStore};
use crate::wire::{self, Kind, proto};

/// Keeps everything in memory. Sessions are held serialized, exactly as a database would hold
/// them, so every operation through this store also exercises record serialization.
#[derive(Default)]
pub struct MemoryStore {
    identity: Option<IdentityKeyPair>,
    peers: BTreeMap<Address, IdentityKey>,
    signed_prekeys: BTreeMap<u32, SignedPreKey>,
    one_time_prekeys: BTreeMap<u32, OneTimePreKey>,
    kem_prekeys: BTreeMap<u32, KemPreKey>,
    used_base_keys: BTreeSet<(u32, [u8; 32])>,
    sessions: BTreeMap<Address, Zeroizing<Vec<u8>>>,
}

impl MemoryStore {
    /// A store for the device with `identity`.
    pub fn new(identity: IdentityKeyPair) -> Self {
        MemoryStore {
            identity: Some(identity),
            ..Self::default()
        }
    }

    /// This device's identity, if set.
    pub fn identity(&self) -> Option<&IdentityKeyPair> {
        self.identity.as_ref()
    }

    /// Keep a signed prekey (e.g. right after generating it, before publishing it).
    pub fn add_signed_prekey(&mut self, key: SignedPreKey) {
        self.signed_prekeys.insert(key.id(), key);
    }

    /// Delete a signed prekey after rotation, and the replay record of base keys used with it.
    pub fn remove_signed_prekey(&mut self, id: u32) {
        self.signed_prekeys.remove(&id);
        self.used_base_keys.retain(|(spk, _)| *spk != id);
    }

    /// Keep a batch of one-time prekeys.
    pub fn add_one_time_prekeys(&mut self, keys: impl IntoIterator<Item = OneTimePreKey>) {
        self.one_time_prekeys
            .extend(keys.into_iter().map(|k| (k.id(), k)));
    }

    /// Ids of the one-time prekeys not used yet, in ascending order.
    pub fn one_time_prekey_ids(&self) -> Vec<u32> {
        self.one_time_prekeys.keys().copied().collect()
    }

    /// Keep KEM prekeys (one-time ones, and the last-resort one).
    pub fn add_kem_prekeys(&mut self, keys: impl IntoIterator<Item = KemPreKey>) {
        self.kem_prekeys
            .extend(keys.into_iter().map(|k| (k.id(), k)));
    }

    /// Ids of the one-time KEM prekeys not used yet, in ascending order.
    pub fn one_time_kem_prekey_ids(&self) -> Vec<u32> {
        let one_time = self.kem_prekeys.values().filter(|k| !k.is_last_resort());
        one_time.map(KemPreKey::id).collect()
    }

    /// The id of the last-resort KEM prekey, if one is kept.
    pub fn last_resort_kem_prekey_id(&self) -> Option<u32> {
        self.kem_prekeys
            .values()
            .find(|k| k.is_last_resort())
            .map(KemPreKey::id)
    }

    /// Assemble a bundle for publication from signed prekey `signed_prekey_id`, one-time
    /// prekey `one_time_prekey_id` if given, and KEM prekey `kem_prekey_id`.
    pub fn bundle(
        &self,
        device_id: u32,
        signed_prekey_id: u32,
        one_time_prekey_id: Option<u32>,
        kem_prekey_id: u32,
    ) -> Result<PreKeyBundle> {
        let identity = self.identity.as_ref().ok_or(Error::NoLocalIdentity)?;
        let signed = self
            .signed_prekeys
            .get(&signed_prekey_id)
            .ok_or(Error::UnknownPreKey {
                kind: "signed",
                id: signed_prekey_id,
            })?;
        let one_time = match one_time_prekey_id {
            Some(id) => Some(self.one_time_prekeys.get(&id).ok_or(Error::UnknownPreKey {
                kind: "one-time",
                id,
            })?),
            None => None,
        };
        let kem = self
            .kem_prekeys
            .get(&kem_prekey_id)
            .ok_or(Error::UnknownPreKey {
                kind: "KEM",
                id: kem_prekey_id,
            })?;
        Ok(PreKeyBundle::new(
            device_id, identity, signed, one_time, kem,
        ))
    }

    /// Delete the session record of `address` (e.g. when the user deletes the conversation).
    pub fn remove_session(&mut self, address: &Address) {
        self.sessions.remove(address);
    }

    /// Serialize the whole store (holds secrets: keep it encrypted at rest).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut snapshot = proto::MemoryStore::default();
        snapshot.identity = self
            .identity
            .as_ref()
            .map_or_else(Vec::new, |i| i.to_bytes().to_vec());
        snapshot.peers = self.peers.iter().map(peer_to_proto).collect();
        snapshot.signed_prekeys = self
            .signed_prekeys
            .values()
            .map(|k| k.to_bytes().to_vec())
            .collect();
        snapshot.one_time_prekeys = self
            .one_time_prekeys
            .values()
            .map(|k| k.to_bytes().to_vec())
            .collect();
        snapshot.kem_prekeys = self
            .kem_prekeys
            .values()
            .map(|k| k.to_bytes().to_vec())
            .collect();
        snapshot.used_base_keys = self
            .used_base_keys
            .iter()
            .map(|(id, key)| proto::UsedBaseKey {
                signed_prekey_id: *id,
                base_key: key.to_vec(),
            })
            .collect();
        snapshot.sessions = self
            .sessions
            .iter()
            .map(|(a, r)| proto::StoredSession {
                user: a.user().to_owned(),
                device: a.device(),
                record: r.to_vec(),
            })
            .collect();
        wire::encode_secret(Kind::MemoryStore, &snapshot)
    }

    /// Restore a store from [`MemoryStore::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let snapshot: proto::MemoryStore = wire::decode(Kind::MemoryStore, bytes)?;
        let identity = match snapshot.identity.is_empty() {
            true => None,
            false => Some(IdentityKeyPair::from_bytes(&snapshot.identity)?),
        };
        let mut store = MemoryStore {
            identity,
            ..Self::default()
        };
        for peer in &snapshot.peers {
            let key = IdentityKey::try_from(peer.identity_key.as_slice())?;
            store
                .peers
                .insert(Address::new(peer.user.clone(), peer.device), key);
        }
        for bytes in &snapshot.signed_prekeys {
            store.add_signed_prekey(SignedPreKey::from_bytes(bytes)?);
        }
        for bytes in &snapshot.one_time_prekeys {
            store.add_one_time_prekeys([OneTimePreKey::from_bytes(bytes)?]);
        }
        for bytes in &snapshot.kem_prekeys {
            store.add_kem_prekeys([KemPreKey::from_bytes(bytes)?]);
        }
        for used in &snapshot.used_base_keys {
            let key = wire::array(&used.base_key, "memory store snapshot")?;
            store.used_base_keys.insert((used.signed_prekey_id, key));
        }
        for session in &snapshot.sessions {
            SessionRecord::from_bytes(&session.record)?;
            let address = Address::new(session.user.clone(), session.device);
            store
                .sessions
                .insert(address, Zeroizing::new(session.record.clone()));
        }
        // One snapshot, one encoding: entries sorted and unique, as `to_bytes` writes them.
        if store.to_bytes().as_slice() != bytes {
            return Err(Error::Malformed(
                "memory store snapshot (duplicate or unsorted entries)",
            ));
        }
        Ok(store)
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryStore")
            .field(
                "identity",
                &self.identity.as_ref().map(IdentityKeyPair::public),
            )
            .field("peers", &self.peers.len())
            .field("signed_prekeys", &self.signed_prekeys.len())
            .field("one_time_prekeys", &self.one_time_prekeys.len())
            .field("kem_prekeys", &self.kem_prekeys.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn peer_to_proto((address, key): (&Address, &IdentityKey)) -> proto::PeerIdentity {
    proto::PeerIdentity {
        user: address.user().to_owned(),
        device: address.device(),
        identity_key: key.to_bytes().to_vec(),
    }
}

impl ProtocolStore for MemoryStore {
    /// Only a snapshot record that fails to parse produces an error.
    type Error = Error;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Error> {
        Ok(self.identity.clone())
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, Error> {
        Ok(self.peers.get(address).copied())
    }

    fn signed_prekey(&self, id: u32) -> Result<Option<SignedPreKey>, Error> {
        Ok(self.signed_prekeys.get(&id).cloned())
    }

    fn one_time_prekey(&self, id: u32) -> Result<Option<OneTimePreKey>, Error> {
        Ok(self.one_time_prekeys.get(&id).cloned())
    }

    fn kem_prekey(&self, id: u32) -> Result<Option<KemPreKey>, Error> {
        Ok(self.kem_prekeys.get(&id).cloned())
    }

    fn base_key_used(&self, signed_prekey_id: u32, base_key: &PublicKey) -> Result<bool, Error> {
        Ok(self
            .used_base_keys
            .contains(&(signed_prekey_id, base_key.to_bytes())))
    }

    fn session(&self, address: &Address) -> Result<Option<SessionRecord>, Error> {
        self.sessions
            .get(address)
            .map(|bytes| SessionRecord::from_bytes(bytes))
            .transpose()
    }

    fn commit(&mut self, changes: Changes) -> Result<(), Error> {
        if let Some((address, record)) = changes.session {
            self.sessions.insert(address, record.to_bytes());
        }
        if let Some((address, key)) = changes.peer_identity {
            self.peers.insert(address, key);
        }
        if let Some(id) = changes.remove_one_time_prekey {
            self.one_time_prekeys.remove(&id);
        }
        if let Some(id) = changes.remove_kem_prekey {
            self.kem_prekeys.remove(&id);
        }
        if let Some((id, key)) = changes.used_base_key {
            self.used_base_keys.insert((id, key.to_bytes()));
        }
        Ok(())
    }
}
