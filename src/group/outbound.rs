//! The sender's state of one distribution: its chain, at the next message's iteration, and
//! the signing key of its messages.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::chain::SenderChainKey;
use super::distribution::{DistributionId, GroupId, SenderKeyDistribution};
use super::message;
use crate::constants::DISTRIBUTION_ID_LEN;
use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::wire::{self, ExtKind, proto};

/// This device's sending state in one group: a distribution id, a chain key and an Ed25519
/// signing key. Start a new one whenever a device leaves the group.
///
/// Holds secrets: zeroized on drop, never shown by `Debug`, no `Clone`.
pub struct SenderKey {
    id: DistributionId,
    group: GroupId,
    chain: SenderChainKey,
    signing: SigningKey,
    list_version: u64,
}

const WHAT: &str = "sender key record";

impl SenderKey {
    /// A fresh distribution for `group`: random distribution id, chain key and signing key.
    /// `list_version` is this device's account list version, which the distribution carries.
    pub fn new<R: CryptoRng + ?Sized>(group: GroupId, list_version: u64, rng: &mut R) -> Self {
        let mut id = [0u8; DISTRIBUTION_ID_LEN];
        rng.fill_bytes(&mut id);
        let mut chain_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(chain_key.as_mut());
        SenderKey {
            id: DistributionId::from_bytes(id),
            group,
            chain: SenderChainKey::new(&chain_key, 0),
            signing: SigningKey::generate(rng),
            list_version,
        }
    }

    /// The state from fixed parts (test vectors, through `keylink::hazmat`).
    #[cfg(any(test, feature = "hazmat"))]
    pub(crate) fn from_parts(
        id: DistributionId,
        group: GroupId,
        chain_key: &[u8; 32],
        iteration: u32,
        signing_seed: &[u8; 32],
        list_version: u64,
    ) -> Self {
        SenderKey {
            id,
            group,
            chain: SenderChainKey::new(chain_key, iteration),
            signing: SigningKey::from_bytes(signing_seed),
            list_version,
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

    /// The iteration of the next message.
    pub fn iteration(&self) -> u32 {
        self.chain.iteration()
    }

    /// The distribution at the current iteration: a receiver given it decrypts every
    /// message sent from now on, and none sent before.
    pub fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution {
            id: self.id,
            group: self.group.clone(),
            chain: self.chain.clone(),
            signing_key: self.signing.verifying_key(),
            list_version: self.list_version,
        }
    }

    /// Encrypt and sign one group message (PROTOCOL.md §13.2); `sender` is this device's
    /// identity key, which every receiver binds the distribution to. The chain advances;
    /// [`Error::ChainExhausted`] once iteration 2^32 - 1 is reached.
    pub fn encrypt(&mut self, sender: &IdentityKey, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (mk, next) = self.chain.step();
        let next = next.ok_or(Error::ChainExhausted)?;
        let iteration = mk.iteration();
        let aad = message::aad(&self.group, sender, &self.id, iteration);
        let ciphertext = mk.seal(&aad, plaintext)?;
        let signature = self
            .signing
            .sign(&message::signed(&aad, &ciphertext))
            .to_bytes();
        self.chain = next;
        Ok(message::encode(&self.id, iteration, ciphertext, signature))
    }

    /// The state for the application's storage, `0x17 0x12 ||` protobuf (PROTOCOL.md §13.3).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::SenderKeyRecord {
            distribution_id: self.id.as_bytes().to_vec(),
            group_id: self.group.as_bytes().to_vec(),
            iteration: self.chain.iteration(),
            chain_key: self.chain.as_bytes().to_vec(),
            signing_seed: self.signing.as_bytes().to_vec(),
            list_version: self.list_version,
        };
        Zeroizing::new(wire::encode_ext(ExtKind::SenderKeyRecord, &record))
    }

    /// Parse strictly what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::SenderKeyRecord = wire::decode_ext(ExtKind::SenderKeyRecord, bytes)?;
        let chain_key = Zeroizing::new(wire::array::<32>(&record.chain_key, WHAT)?);
        let seed = Zeroizing::new(wire::array::<32>(&record.signing_seed, WHAT)?);
        Ok(SenderKey {
            id: DistributionId::parse(&record.distribution_id, WHAT)?,
            group: GroupId::parse(&record.group_id, WHAT)?,
            chain: SenderChainKey::new(&chain_key, record.iteration),
            signing: SigningKey::from_bytes(&seed),
            list_version: record.list_version,
        })
    }
}

impl fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKey")
            .field("id", &self.id)
            .field("group_id", &self.group)
            .field("iteration", &self.chain.iteration())
            .field("list_version", &self.list_version)
            .finish_non_exhaustive()
    }
}
