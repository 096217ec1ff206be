//! A receiver's state of one sender's distribution: the chain at the next iteration it has
//! not seen, the message keys it skipped, and what every message is checked against.

use core::fmt;
use std::collections::VecDeque;

use ed25519_dalek::VerifyingKey;
use zeroize::Zeroizing;

use super::chain::{SenderChainKey, SenderMessageKey};
use super::distribution::{self, DistributionId, GroupId, SenderKeyDistribution};
use super::message::{UnverifiedMessage, VerifiedMessage};
use crate::constants::{MAX_SKIP, MAX_STORED_SKIPPED_KEYS};
use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::wire::{self, ExtKind, proto};

/// One sender's distribution as a receiver keeps it, bound to the sender's identity key (the
/// peer of the pairwise session the distribution arrived on).
///
/// [`decrypt`](Self::decrypt) changes the state only when a message decrypted: any failure
/// leaves it byte for byte as it was. Holds secrets: zeroized on drop, never shown by `Debug`.
pub struct InboundGroupSession {
    id: DistributionId,
    group: GroupId,
    sender: IdentityKey,
    chain: SenderChainKey,
    signing_key: VerifyingKey,
    list_version: u64,
    /// Skipped message keys, ascending iterations, all below the chain's. Boxed: evicting
    /// from the front moves pointers, so no freed slot keeps a key.
    pub(super) skipped: VecDeque<Box<SenderMessageKey>>,
}

/// What a successful decryption changes, applied by [`InboundGroupSession::commit`].
enum Update {
    /// A stored skipped key was used (its position).
    UsedSkipped(usize),
    /// The chain moved past the message; the keys it skipped, oldest first.
    Advanced {
        chain: SenderChainKey,
        skipped: VecDeque<Box<SenderMessageKey>>,
    },
}

const WHAT: &str = "inbound sender key record";

impl InboundGroupSession {
    /// Bind a distribution to `sender`, the identity key of the pairwise session it arrived
    /// on. A distribution forwarded by another member decrypts nothing: the `aad` of every
    /// message names the real sender.
    pub fn new(distribution: SenderKeyDistribution, sender: IdentityKey) -> Self {
        InboundGroupSession {
            id: distribution.id,
            group: distribution.group.clone(),
            sender,
            chain: distribution.chain.clone(),
            signing_key: distribution.signing_key,
            list_version: distribution.list_version,
            skipped: VecDeque::new(),
        }
    }

    /// The distribution id.
    pub fn id(&self) -> DistributionId {
        self.id
    }

    /// The group.
    pub fn group_id(&self) -> &GroupId {
        &self.group
    }

    /// The sender's identity key.
    pub fn sender(&self) -> &IdentityKey {
        &self.sender
    }

    /// The next iteration not yet received (or skipped).
    pub fn iteration(&self) -> u32 {
        self.chain.iteration()
    }

    /// The sender's device list version the distribution carried.
    pub fn list_version(&self) -> u64 {
        self.list_version
    }

    /// Decrypt one group message (PROTOCOL.md §13.2). Errors: [`Error::Malformed`] (not a
    /// group message), [`Error::DuplicateMessage`] (its key was used already or evicted),
    /// [`Error::DecryptionFailed`] (anything else). On any error the state is unchanged.
    pub fn decrypt(&mut self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (plaintext, update) = self.try_decrypt(bytes)?;
        self.commit(update);
        Ok(plaintext)
    }

    fn try_decrypt(&self, bytes: &[u8]) -> Result<(Zeroizing<Vec<u8>>, Update)> {
        let message = UnverifiedMessage::parse(bytes)?;
        if message.id != self.id {
            return Err(Error::DecryptionFailed);
        }
        let message = message.verify(&self.group, &self.sender, &self.signing_key)?;
        if message.iteration < self.chain.iteration() {
            return self.open_skipped(&message);
        }
        self.open_ahead(&message)
    }

    fn open_skipped(&self, message: &VerifiedMessage) -> Result<(Zeroizing<Vec<u8>>, Update)> {
        let position = self
            .skipped
            .iter()
            .position(|k| k.iteration() == message.iteration)
            .ok_or(Error::DuplicateMessage)?;
        let stored = self.skipped.get(position).ok_or(Error::DuplicateMessage)?;
        let key = SenderMessageKey::new(stored.as_bytes(), stored.iteration());
        let plaintext = key.open(&message.aad, &message.ciphertext)?;
        Ok((plaintext, Update::UsedSkipped(position)))
    }

    fn open_ahead(&self, message: &VerifiedMessage) -> Result<(Zeroizing<Vec<u8>>, Update)> {
        if message.iteration - self.chain.iteration() > MAX_SKIP {
            return Err(Error::DecryptionFailed);
        }
        let mut chain = self.chain.clone();
        let mut skipped = VecDeque::new();
        loop {
            let (mk, next) = chain.step();
            chain = next.ok_or(Error::DecryptionFailed)?;
            if mk.iteration() == message.iteration {
                let plaintext = mk.open(&message.aad, &message.ciphertext)?;
                return Ok((plaintext, Update::Advanced { chain, skipped }));
            }
            skipped.push_back(Box::new(mk));
            if skipped.len() > MAX_STORED_SKIPPED_KEYS {
                skipped.pop_front();
            }
        }
    }

    fn commit(&mut self, update: Update) {
        match update {
            Update::UsedSkipped(position) => {
                self.skipped.remove(position);
            }
            Update::Advanced { chain, skipped } => {
                self.chain = chain;
                self.skipped.extend(skipped);
                while self.skipped.len() > MAX_STORED_SKIPPED_KEYS {
                    self.skipped.pop_front();
                }
            }
        }
    }

    /// The state for the application's storage, `0x17 0x13 ||` protobuf (PROTOCOL.md §13.3).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let skipped = self.skipped.iter().map(|k| proto::SenderSkippedKey {
            iteration: k.iteration(),
            message_key: k.as_bytes().to_vec(),
        });
        let record = proto::InboundSenderKeyRecord {
            distribution_id: self.id.as_bytes().to_vec(),
            group_id: self.group.as_bytes().to_vec(),
            sender_identity: self.sender.to_bytes().to_vec(),
            iteration: self.chain.iteration(),
            chain_key: self.chain.as_bytes().to_vec(),
            signing_key: self.signing_key.to_bytes().to_vec(),
            list_version: self.list_version,
            skipped: skipped.collect(),
        };
        Zeroizing::new(wire::encode_ext(ExtKind::InboundSenderKeyRecord, &record))
    }

    /// Parse strictly what [`to_bytes`](Self::to_bytes) produced: on top of the canonical
    /// encoding, at most 2,000 skipped keys, in ascending iterations below the chain's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::InboundSenderKeyRecord =
            wire::decode_ext(ExtKind::InboundSenderKeyRecord, bytes)?;
        let chain_key = Zeroizing::new(wire::array::<32>(&record.chain_key, WHAT)?);
        Ok(InboundGroupSession {
            id: DistributionId::parse(&record.distribution_id, WHAT)?,
            group: GroupId::parse(&record.group_id, WHAT)?,
            sender: IdentityKey::try_from(record.sender_identity.as_slice())?,
            chain: SenderChainKey::new(&chain_key, record.iteration),
            signing_key: distribution::signing_key(&record.signing_key)?,
            list_version: record.list_version,
            skipped: skipped_keys(&record.skipped, record.iteration)?,
        })
    }
}

/// Stored skipped keys: at most 2,000, ascending iterations, all below `next`.
fn skipped_keys(
    stored: &[proto::SenderSkippedKey],
    next: u32,
) -> Result<VecDeque<Box<SenderMessageKey>>> {
    if stored.len() > MAX_STORED_SKIPPED_KEYS {
        return Err(Error::Malformed(WHAT));
    }
    let mut keys: VecDeque<Box<SenderMessageKey>> = VecDeque::with_capacity(stored.len());
    for entry in stored {
        let below_last = keys
            .back()
            .is_some_and(|k| k.iteration() >= entry.iteration);
        if below_last || entry.iteration >= next {
            return Err(Error::Malformed(WHAT));
        }
        let key = Zeroizing::new(wire::array::<32>(&entry.message_key, WHAT)?);
        keys.push_back(Box::new(SenderMessageKey::new(&key, entry.iteration)));
    }
    Ok(keys)
}

impl fmt::Debug for InboundGroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundGroupSession")
            .field("id", &self.id)
            .field("group_id", &self.group)
            .field("sender", &self.sender)
            .field("iteration", &self.chain.iteration())
            .field("list_version", &self.list_version)
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}
