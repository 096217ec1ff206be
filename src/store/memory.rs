//! An in-memory [`ProtocolStore`], serializable as a whole so an app (or a test) can persist
//! it and restart from it.

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::account::{AccountKey, PhoneNumber, PreKeyState, SignedDeviceList};
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId,
};
use crate::session::{
    Session, SessionId, SessionIndex, SessionRecord, SkippedKeyId, SkippedMessageKey,
};
use crate::store::{Address, Change, Changes, ProtocolStore};
use crate::wire::{self, Kind, proto};

/// Keeps everything in memory. Sessions, skipped message keys and single-use prekeys are held
/// serialized, in the rows a database would hold, so every read returns a fresh value (no
/// secret is cloned) and every operation through this store also exercises their
/// serialization.
#[derive(Clone, Default)]
pub struct MemoryStore {
    identity: Option<IdentityKeyPair>,
    local_account: Option<PhoneNumber>,
    peers: BTreeMap<Address, IdentityKey>,
    accounts: BTreeMap<PhoneNumber, AccountKey>,
    device_lists: BTreeMap<PhoneNumber, SignedDeviceList>,
    signed_prekeys: BTreeMap<SignedPreKeyId, SignedPreKey>,
    one_time_prekeys: BTreeMap<OneTimePreKeyId, Zeroizing<Vec<u8>>>,
    kem_prekeys: BTreeMap<KemPreKeyId, StoredKemPreKey>,
    used_base_keys: BTreeSet<(SignedPreKeyId, [u8; 32])>,
    sessions: BTreeMap<Address, PeerSessions>,
    prekey_state: Option<PreKeyState>,
}

/// The session rows of one address.
#[derive(Clone, Default)]
struct PeerSessions {
    index: SessionIndex,
    sessions: BTreeMap<SessionId, Zeroizing<Vec<u8>>>,
    skipped: BTreeMap<SkippedKeyId, Zeroizing<[u8; 32]>>,
}

impl PeerSessions {
    /// The rows of a whole record.
    fn of(record: SessionRecord) -> Self {
        let skipped = record
            .skipped_rows()
            .map(|k| (k.id, k.to_bytes()))
            .collect();
        let (index, sessions) = record.into_sessions();
        let sessions = sessions.iter().map(|s| (s.id(), s.to_bytes())).collect();
        PeerSessions {
            index,
            sessions,
            skipped,
        }
    }

    /// The whole record these rows hold.
    fn record(&self, peer: Option<&IdentityKey>) -> Result<SessionRecord> {
        let session = |id: &SessionId| -> Result<Session> {
            let bytes = self.sessions.get(id).ok_or(Error::Malformed(
                "session index (names a session that is not stored)",
            ))?;
            Session::from_bytes_for_peer(bytes, peer)
        };
        let current = self.index.current().map(session).transpose()?;
        let archived = self.index.archived().iter().map(session);
        let keys = self.skipped.iter();
        let keys = keys.map(|(id, key)| SkippedMessageKey::from_bytes(*id, key.as_slice()));
        SessionRecord::from_parts(
            current,
            archived.collect::<Result<_>>()?,
            keys.collect::<Result<_>>()?,
        )
    }

    /// Delete the `count` keys of one chain with the lowest counters.
    fn evict(&mut self, session: SessionId, chain: u64, count: u32) {
        let oldest: Vec<SkippedKeyId> = self
            .skipped
            .range(SkippedKeyId::chain(session, chain))
            .take(count as usize)
            .map(|(id, _)| *id)
            .collect();
        for id in &oldest {
            self.skipped.remove(id);
        }
    }
}

/// A KEM prekey's record, and whether it is the last-resort one.
#[derive(Clone)]
struct StoredKemPreKey {
    bytes: Zeroizing<Vec<u8>>,
    last_resort: bool,
}

/// The one way a [`MemoryStore`] can fail: a record it holds does not parse, which would be a
/// bug in keylink (it only holds what keylink serialized or validated).
#[derive(Debug)]
pub struct MemoryStoreError(Error);

impl core::fmt::Display for MemoryStoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the in-memory store holds a record it cannot read back (a keylink bug, please report it): {}",
            self.0
        )
    }
}

impl std::error::Error for MemoryStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
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
    pub fn remove_signed_prekey(&mut self, id: SignedPreKeyId) {
        self.signed_prekeys.remove(&id);
        self.used_base_keys.retain(|(spk, _)| *spk != id);
    }

    /// Keep a batch of one-time prekeys.
    pub fn add_one_time_prekeys(&mut self, keys: impl IntoIterator<Item = OneTimePreKey>) {
        let records = keys.into_iter().map(|k| (k.id(), k.to_bytes()));
        self.one_time_prekeys.extend(records);
    }

    /// Ids of the one-time prekeys not used yet, in ascending order.
    pub fn one_time_prekey_ids(&self) -> Vec<OneTimePreKeyId> {
        self.one_time_prekeys.keys().copied().collect()
    }

    /// Keep KEM prekeys (one-time ones, and the last-resort one).
    pub fn add_kem_prekeys(&mut self, keys: impl IntoIterator<Item = KemPreKey>) {
        let records = keys.into_iter().map(|k| {
            let stored = StoredKemPreKey {
                bytes: k.to_bytes(),
                last_resort: k.is_last_resort(),
            };
            (k.id(), stored)
        });
        self.kem_prekeys.extend(records);
    }

    /// Ids of the one-time KEM prekeys not used yet, in ascending order.
    pub fn one_time_kem_prekey_ids(&self) -> Vec<KemPreKeyId> {
        let one_time = self.kem_prekeys.iter().filter(|(_, k)| !k.last_resort);
        one_time.map(|(id, _)| *id).collect()
    }

    /// The id of the newest last-resort KEM prekey, if one is kept (older ones that
    /// [`PreKeyUpkeep`](crate::account::PreKeyUpkeep) replaced may be kept too).
    pub fn last_resort_kem_prekey_id(&self) -> Option<KemPreKeyId> {
        self.last_resort_kem_prekey_ids().last().copied()
    }

    /// Ids of every last-resort KEM prekey kept, in ascending order.
    pub fn last_resort_kem_prekey_ids(&self) -> Vec<KemPreKeyId> {
        let last_resort = self.kem_prekeys.iter().filter(|(_, k)| k.last_resort);
        last_resort.map(|(id, _)| *id).collect()
    }

    /// Ids of the signed prekeys kept, in ascending order.
    pub fn signed_prekey_ids(&self) -> Vec<SignedPreKeyId> {
        self.signed_prekeys.keys().copied().collect()
    }

    /// The whole session record of `address`, assembled from its rows, if there is one.
    pub fn session_record(&self, address: &Address) -> Option<SessionRecord> {
        let peer = self.peers.get(address);
        self.sessions.get(address)?.record(peer).ok()
    }

    /// The addresses this store holds sessions with, in ascending order.
    pub fn session_addresses(&self) -> impl Iterator<Item = &Address> {
        self.sessions.keys()
    }

    /// How many rows hold the sessions of `address`: (sessions, skipped message keys).
    pub fn session_rows(&self, address: &Address) -> (usize, usize) {
        let rows = self.sessions.get(address);
        rows.map_or((0, 0), |r| (r.sessions.len(), r.skipped.len()))
    }

    /// The identity key remembered for `address`, if any.
    pub fn known_identity(&self, address: &Address) -> Option<&IdentityKey> {
        self.peers.get(address)
    }

    /// The account key remembered for `phone`, if any.
    pub fn known_account(&self, phone: &PhoneNumber) -> Option<&AccountKey> {
        self.accounts.get(phone)
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
        snapshot.local_account =
            (self.local_account.as_ref()).map_or_else(String::new, |p| p.as_str().to_owned());
        snapshot.peers = self.peers.iter().map(peer_to_proto).collect();
        snapshot.peer_accounts = self.accounts.iter().map(account_to_proto).collect();
        let lists = self.device_lists.values();
        snapshot.device_lists = lists.map(SignedDeviceList::to_bytes).collect();
        snapshot.signed_prekeys = self
            .signed_prekeys
            .values()
            .map(|k| k.to_bytes().to_vec())
            .collect();
        snapshot.one_time_prekeys = self.one_time_prekeys.values().map(|k| k.to_vec()).collect();
        snapshot.kem_prekeys = self
            .kem_prekeys
            .values()
            .map(|k| k.bytes.to_vec())
            .collect();
        snapshot.used_base_keys = self
            .used_base_keys
            .iter()
            .map(|(id, key)| proto::UsedBaseKey {
                signed_prekey_id: id.get(),
                base_key: key.to_vec(),
            })
            .collect();
        snapshot.prekey_state = self
            .prekey_state
            .as_ref()
            .map_or_else(Vec::new, PreKeyState::to_bytes);
        for (address, rows) in &self.sessions {
            // The store holds only rows keylink wrote, which always assemble into a record
            // (the tests check it after every operation); rows that did not would be a bug in
            // keylink, and would be left out rather than written half.
            if let Ok(record) = rows.record(self.peers.get(address)) {
                snapshot.sessions.push(proto::StoredSession {
                    user: address.user().to_owned(),
                    device: address.device().get(),
                    record: record.to_bytes().to_vec(),
                });
            }
        }
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
        if !snapshot.local_account.is_empty() {
            store.local_account = Some(e164(&snapshot.local_account)?);
        }
        for peer in &snapshot.peers {
            let key = IdentityKey::try_from(peer.identity_key.as_slice())?;
            store
                .peers
                .insert(Address::new(peer.user.clone(), peer.device), key);
        }
        for account in &snapshot.peer_accounts {
            let (phone, key) = account_from_proto(account)?;
            store.accounts.insert(phone, key);
        }
        for bytes in &snapshot.device_lists {
            let list = SignedDeviceList::try_from(bytes.as_slice())?;
            store.device_lists.insert(list.phone().clone(), list);
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
            let id = SignedPreKeyId::new(used.signed_prekey_id);
            store.used_base_keys.insert((id, key));
        }
        if !snapshot.prekey_state.is_empty() {
            store.prekey_state = Some(PreKeyState::from_bytes(&snapshot.prekey_state)?);
        }
        for session in &snapshot.sessions {
            let record = SessionRecord::from_bytes(&session.record)?;
            let address = Address::new(session.user.clone(), session.device);
            store.sessions.insert(address, PeerSessions::of(record));
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
            .field("accounts", &self.accounts.len())
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
        device: address.device().get(),
        identity_key: key.to_bytes().to_vec(),
    }
}

fn account_to_proto((phone, key): (&PhoneNumber, &AccountKey)) -> proto::PeerAccount {
    proto::PeerAccount {
        phone: phone.as_str().to_owned(),
        account_key: key.to_bytes().to_vec(),
    }
}

/// A remembered account from a snapshot: the phone number must be in E.164 form (as
/// `to_bytes` writes it), and the key a valid account key.
fn account_from_proto(account: &proto::PeerAccount) -> Result<(PhoneNumber, AccountKey)> {
    let phone = e164(&account.phone)?;
    Ok((phone, AccountKey::try_from(account.account_key.as_slice())?))
}

/// A phone number from a snapshot, which holds it in E.164 form and no other.
fn e164(text: &str) -> Result<PhoneNumber> {
    const BAD_PHONE: Error = Error::Malformed("memory store snapshot (phone number)");
    let phone = PhoneNumber::parse(text).map_err(|_| BAD_PHONE)?;
    match phone.as_str() == text {
        true => Ok(phone),
        false => Err(BAD_PHONE),
    }
}

impl ProtocolStore for MemoryStore {
    type Error = MemoryStoreError;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, MemoryStoreError> {
        Ok(self.identity.clone())
    }

    fn local_account(&self) -> Result<Option<PhoneNumber>, MemoryStoreError> {
        Ok(self.local_account.clone())
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, MemoryStoreError> {
        Ok(self.peers.get(address).copied())
    }

    fn peer_account(&self, phone: &PhoneNumber) -> Result<Option<AccountKey>, MemoryStoreError> {
        Ok(self.accounts.get(phone).copied())
    }

    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, MemoryStoreError> {
        Ok(self.signed_prekeys.get(&id).cloned())
    }

    fn one_time_prekey(
        &self,
        id: OneTimePreKeyId,
    ) -> Result<Option<OneTimePreKey>, MemoryStoreError> {
        let record = self.one_time_prekeys.get(&id);
        record
            .map(|bytes| read(OneTimePreKey::from_bytes(bytes)))
            .transpose()
    }

    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, MemoryStoreError> {
        let record = self.kem_prekeys.get(&id);
        record
            .map(|k| read(KemPreKey::from_bytes(&k.bytes)))
            .transpose()
    }

    fn base_key_used(
        &self,
        signed_prekey: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, MemoryStoreError> {
        let key = (signed_prekey, base_key.to_bytes());
        Ok(self.used_base_keys.contains(&key))
    }

    fn session_index(&self, address: &Address) -> Result<Option<SessionIndex>, MemoryStoreError> {
        Ok(self.sessions.get(address).map(|r| r.index.clone()))
    }

    fn session(
        &self,
        address: &Address,
        id: &SessionId,
    ) -> Result<Option<Session>, MemoryStoreError> {
        // The remembered identity is validated already: the session reuses it.
        let peer = self.peers.get(address);
        let row = self.sessions.get(address).and_then(|r| r.sessions.get(id));
        let parse = |bytes: &Zeroizing<Vec<u8>>| Session::from_bytes_for_peer(bytes, peer);
        row.map(|bytes| read(parse(bytes))).transpose()
    }

    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, MemoryStoreError> {
        let row = self.sessions.get(address).and_then(|r| r.skipped.get(id));
        let parse = |bytes: &Zeroizing<[u8; 32]>| SkippedMessageKey::from_bytes(*id, &bytes[..]);
        row.map(|bytes| read(parse(bytes))).transpose()
    }

    fn device_list(
        &self,
        phone: &PhoneNumber,
    ) -> Result<Option<SignedDeviceList>, MemoryStoreError> {
        Ok(self.device_lists.get(phone).cloned())
    }

    fn prekey_state(&self) -> Result<Option<PreKeyState>, MemoryStoreError> {
        Ok(self.prekey_state.clone())
    }

    fn commit(&mut self, changes: Changes) -> Result<(), MemoryStoreError> {
        for change in changes {
            self.apply(change);
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Apply one change. The match names every kind: a new kind fails to compile here.
    fn apply(&mut self, change: Change) {
        match change {
            Change::SessionIndex { address, index } => {
                self.sessions.entry(address).or_default().index = index;
            }
            Change::Session { address, session } => {
                let rows = self.sessions.entry(address).or_default();
                match rows.sessions.get_mut(&session.id()) {
                    // The row is rewritten in its own buffer.
                    Some(row) => session.write_into(row),
                    None => drop(rows.sessions.insert(session.id(), session.to_bytes())),
                }
            }
            Change::RemoveSession { address, id } => {
                if let Some(rows) = self.sessions.get_mut(&address) {
                    rows.sessions.remove(&id);
                    rows.skipped.retain(|key, _| key.session != id);
                }
            }
            Change::SkippedMessageKeys { address, keys } => {
                let rows = self.sessions.entry(address).or_default();
                rows.skipped
                    .extend(keys.iter().map(|k| (k.id, k.to_bytes())));
            }
            Change::RemoveSkippedMessageKey { address, id } => {
                if let Some(rows) = self.sessions.get_mut(&address) {
                    rows.skipped.remove(&id);
                }
            }
            Change::EvictSkippedMessageKeys {
                address,
                session,
                chain,
                count,
            } => {
                if let Some(rows) = self.sessions.get_mut(&address) {
                    rows.evict(session, chain, count);
                }
            }
            Change::PeerIdentity { address, identity } => {
                self.peers.insert(address, identity);
            }
            Change::PeerAccount { phone, key } => {
                self.accounts.insert(phone, key);
            }
            Change::RemoveOneTimePreKey(id) => {
                self.one_time_prekeys.remove(&id);
            }
            Change::RemoveKemPreKey(id) => {
                if self.kem_prekeys.get(&id).is_some_and(|k| !k.last_resort) {
                    self.kem_prekeys.remove(&id);
                }
            }
            Change::UsedBaseKey {
                signed_prekey,
                base_key,
            } => {
                self.used_base_keys
                    .insert((signed_prekey, base_key.to_bytes()));
            }
            Change::PreKeyState(state) => self.prekey_state = Some(state),
            Change::LocalAccount(phone) => self.local_account = Some(phone),
            Change::DeviceList { phone, list } => {
                self.device_lists.insert(phone, *list);
            }
            Change::SignedPreKey(key) => self.add_signed_prekey(*key),
            Change::OneTimePreKeys(keys) => self.add_one_time_prekeys(keys),
            Change::KemPreKeys(keys) => self.add_kem_prekeys(keys),
            Change::RemoveSignedPreKey(id) => self.remove_signed_prekey(id),
            Change::RemoveLastResortKemPreKey(id) => {
                if self.kem_prekeys.get(&id).is_some_and(|k| k.last_resort) {
                    self.kem_prekeys.remove(&id);
                }
            }
            Change::RemoveOneTimePreKeysBelow { one_time, kem } => {
                self.one_time_prekeys.retain(|id, _| *id >= one_time);
                self.kem_prekeys.retain(|id, k| k.last_resort || *id >= kem);
            }
        }
    }
}

/// A record read back from the store's own bytes.
fn read<T>(parsed: Result<T>) -> Result<T, MemoryStoreError> {
    parsed.map_err(MemoryStoreError)
}
