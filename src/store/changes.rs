//! The writes of one protocol operation: a list of [`Change`]s that a store applies all or
//! nothing.

use crate::account::{AccountKey, PhoneNumber, PreKeyState, SignedDeviceList};
use crate::keys::{
    IdentityKey, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId, PublicKey, SignedPreKey,
    SignedPreKeyId,
};
use crate::ratchet::SkippedDelta;
use crate::session::{
    ConsumedPreKeys, RecordView, Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey,
    Writes,
};
use crate::store::Address;

/// One write. A store applies each kind as its own small row update.
///
/// A peer's sessions are three kinds of rows: its [`SessionIndex`] (keyed by address), each
/// [`Session`] (keyed by address and [`SessionId`]) and each [`SkippedMessageKey`] (keyed by
/// address and [`SkippedKeyId`]). An operation writes only the rows it changed.
///
/// **Match it exhaustively, with no wildcard arm.** A later version of keylink that adds a
/// kind of change adds a variant here (a breaking release), so a store written against this
/// version fails to compile instead of silently dropping a write it does not know.
#[derive(Debug)]
pub enum Change {
    /// Replace the session index of `address` (insert it if there is none).
    SessionIndex {
        /// The peer device.
        address: Address,
        /// Which sessions it has, in order.
        index: SessionIndex,
    },
    /// Replace the session row (`address`, `session.id()`) (insert it if there is none).
    Session {
        /// The peer device.
        address: Address,
        /// The session (boxed: it is large beside the other changes).
        session: Box<Session>,
    },
    /// Delete the session row (`address`, `id`) and every skipped message key of that
    /// session: it was dropped from the record (beyond the archive limit).
    RemoveSession {
        /// The peer device.
        address: Address,
        /// The session.
        id: SessionId,
    },
    /// Insert these skipped message keys of `address`, each under its
    /// [`id`](SkippedMessageKey::id) (no key already exists under one of them).
    SkippedMessageKeys {
        /// The peer device.
        address: Address,
        /// The keys.
        keys: Vec<SkippedMessageKey>,
    },
    /// Delete one skipped message key: its message arrived.
    RemoveSkippedMessageKey {
        /// The peer device.
        address: Address,
        /// The key.
        id: SkippedKeyId,
    },
    /// Delete the `count` skipped message keys of chain `chain` of session `session` that
    /// have the lowest counters (the oldest keys, evicted by the limits). Keys this same
    /// `Changes` inserts for that chain all have higher counters, so the order in which a
    /// store applies the two does not matter.
    EvictSkippedMessageKeys {
        /// The peer device.
        address: Address,
        /// The session.
        session: SessionId,
        /// The chain within the session.
        chain: u64,
        /// How many of its keys to delete, lowest counters first.
        count: u32,
    },
    /// Remember `identity` for `address` (first contact, or a change the user accepted).
    PeerIdentity {
        /// The peer device.
        address: Address,
        /// Its identity key.
        identity: IdentityKey,
    },
    /// Remember `key` as the account key of `phone`: first use, or a change the user accepted
    /// (replace the one remembered, if any).
    PeerAccount {
        /// The peer account's phone number.
        phone: PhoneNumber,
        /// Its account key `AIK`.
        key: AccountKey,
    },
    /// Remember `list` as the device list accepted for `phone` (replace the one remembered).
    DeviceList {
        /// The account's phone number.
        phone: PhoneNumber,
        /// The list, verified when it was accepted (boxed: it is large beside the others).
        list: Box<SignedDeviceList>,
    },
    /// Remember `phone` as the phone number of this device's own account (replace the one
    /// remembered, if any: keylink only writes it when none is, or the same one is).
    LocalAccount(PhoneNumber),
    /// Delete this one-time prekey: a session set up with it authenticated its first message.
    RemoveOneTimePreKey(OneTimePreKeyId),
    /// Delete this one-time KEM prekey, for the same reason. Never the last-resort one.
    RemoveKemPreKey(KemPreKeyId),
    /// Remember that `base_key` was used with this signed prekey (replay protection). This
    /// covers the last-resort KEM prekey too: a second PreKey message with the same (KEM
    /// prekey, signed prekey, base key) necessarily repeats the (signed prekey, base key)
    /// pair. Forget the pairs of a signed prekey when deleting it.
    UsedBaseKey {
        /// The signed prekey the PreKey message named.
        signed_prekey: SignedPreKeyId,
        /// The message's base key `EK_A`.
        base_key: PublicKey,
    },
    /// Replace the prekey upkeep state (insert it if there is none). Only
    /// [`PreKeyUpkeep`](crate::account::PreKeyUpkeep) writes it, with the prekeys it adds and
    /// removes in the same `Changes`.
    PreKeyState(PreKeyState),
    /// Insert this signed prekey (no key exists under its id: upkeep never reuses one).
    SignedPreKey(Box<SignedPreKey>),
    /// Insert these one-time prekeys.
    OneTimePreKeys(Vec<OneTimePreKey>),
    /// Insert these KEM prekeys, one-time ones or a last-resort one
    /// ([`KemPreKey::is_last_resort`] tells).
    KemPreKeys(Vec<KemPreKey>),
    /// Delete this signed prekey, replaced long enough ago, and forget the base keys used
    /// with it ([`Change::UsedBaseKey`]).
    RemoveSignedPreKey(SignedPreKeyId),
    /// Delete this last-resort KEM prekey, replaced long enough ago.
    RemoveLastResortKemPreKey(KemPreKeyId),
    /// Delete every one-time prekey with an id below `one_time` and every one-time KEM prekey
    /// (never a last-resort one) with an id below `kem`: those published before a
    /// replacement long enough ago, that no PreKey message used.
    RemoveOneTimePreKeysBelow {
        /// The lowest one-time prekey id kept.
        one_time: OneTimePreKeyId,
        /// The lowest one-time KEM prekey id kept.
        kem: KemPreKeyId,
    },
}

/// All the writes of one protocol operation, to be applied atomically (one database
/// transaction), in any order: no two changes in one `Changes` touch the same row (an
/// eviction and an insert on one chain touch different rows, see
/// [`Change::EvictSkippedMessageKeys`]).
#[derive(Debug, Default)]
#[must_use = "changes do nothing until a store commits them"]
pub struct Changes(Vec<Change>);

impl Changes {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `change`.
    pub fn push(&mut self, change: Change) {
        self.0.push(change);
    }

    /// These changes and `change`.
    pub fn with(mut self, change: Change) -> Self {
        self.push(change);
        self
    }

    /// The changes, in the order they were added.
    pub fn iter(&self) -> core::slice::Iter<'_, Change> {
        self.0.iter()
    }

    /// How many changes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add what a PreKey message used up.
    pub(crate) fn consumed(&mut self, consumed: ConsumedPreKeys) {
        let ConsumedPreKeys {
            one_time_prekey,
            kem_prekey,
            used_base_key,
        } = consumed;
        self.0
            .extend(one_time_prekey.map(Change::RemoveOneTimePreKey));
        self.0.extend(kem_prekey.map(Change::RemoveKemPreKey));
        let used = used_base_key.map(|(signed_prekey, base_key)| Change::UsedBaseKey {
            signed_prekey,
            base_key,
        });
        self.0.extend(used);
    }
}

impl Changes {
    /// Add the writes of a peer's record that an operation changed through `view`.
    pub(crate) fn record(&mut self, address: &Address, mut view: RecordView) {
        let Writes {
            index,
            removed,
            skipped,
        } = view.take_writes();
        if let Some(index) = index {
            let address = address.clone();
            self.push(Change::SessionIndex { address, index });
        }
        for id in removed {
            let address = address.clone();
            self.push(Change::RemoveSession { address, id });
        }
        for (session, delta) in skipped {
            self.skipped(address, session, delta);
        }
        for session in view.into_dirty_sessions() {
            let address = address.clone();
            self.push(Change::Session { address, session });
        }
    }

    fn skipped(&mut self, address: &Address, session: SessionId, delta: SkippedDelta) {
        let SkippedDelta {
            inserted,
            evicted,
            removed,
        } = delta;
        for (chain, count) in evicted {
            self.push(Change::EvictSkippedMessageKeys {
                address: address.clone(),
                session,
                chain,
                count,
            });
        }
        if let Some((chain, counter)) = removed {
            let id = SkippedKeyId {
                session,
                chain,
                counter,
            };
            let address = address.clone();
            self.push(Change::RemoveSkippedMessageKey { address, id });
        }
        let keys: Vec<SkippedMessageKey> = inserted
            .into_iter()
            .flat_map(|(chain, keys)| keys.into_iter().map(move |key| (chain, key)))
            .map(|(chain, key)| SkippedMessageKey {
                id: SkippedKeyId {
                    session,
                    chain,
                    counter: key.index(),
                },
                key,
            })
            .collect();
        if !keys.is_empty() {
            let address = address.clone();
            self.push(Change::SkippedMessageKeys { address, keys });
        }
    }
}

impl From<Change> for Changes {
    fn from(change: Change) -> Self {
        Changes(vec![change])
    }
}

impl FromIterator<Change> for Changes {
    fn from_iter<I: IntoIterator<Item = Change>>(iter: I) -> Self {
        Changes(iter.into_iter().collect())
    }
}

impl Extend<Change> for Changes {
    fn extend<I: IntoIterator<Item = Change>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Changes {
    type Item = Change;
    type IntoIter = std::vec::IntoIter<Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Changes {
    type Item = &'a Change;
    type IntoIter = core::slice::Iter<'a, Change>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
