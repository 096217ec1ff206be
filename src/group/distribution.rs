//! The distribution a sender hands to every member device (PROTOCOL.md §13.1):
//! `{distribution_id, group_id, iteration, chain_key, signing_key, list_version}`.

use core::fmt;

use ed25519_dalek::VerifyingKey;
use zeroize::Zeroizing;

use super::chain::SenderChainKey;
use crate::constants::{DISTRIBUTION_ID_LEN, MAX_GROUP_ID_LEN};
use crate::error::{Error, Result};
use crate::keys::verifying_key;
use crate::wire::{self, ExtKind, proto};

/// The random 16-byte id of one sender's distribution (one sending chain).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DistributionId([u8; DISTRIBUTION_ID_LEN]);

impl DistributionId {
    /// The id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; DISTRIBUTION_ID_LEN]) -> Self {
        DistributionId(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; DISTRIBUTION_ID_LEN] {
        &self.0
    }

    pub(crate) fn parse(bytes: &[u8], what: &'static str) -> Result<Self> {
        wire::array(bytes, what).map(DistributionId)
    }
}

impl fmt::Debug for DistributionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistributionId({})", crate::hex::encode(&self.0))
    }
}

/// A group id chosen by the application: 1 to 255 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GroupId(Vec<u8>);

impl GroupId {
    /// Check the length (1 to 255 bytes).
    pub fn new(bytes: Vec<u8>) -> Result<Self> {
        if bytes.is_empty() || bytes.len() > MAX_GROUP_ID_LEN {
            return Err(Error::Malformed("group id (1 to 255 bytes)"));
        }
        Ok(GroupId(bytes))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `u8(len(group_id)) || group_id`, the first part of a group message's `aad`.
    pub(crate) fn aad_prefix(&self) -> impl Iterator<Item = u8> + '_ {
        let len = u8::try_from(self.0.len()).unwrap_or(u8::MAX);
        core::iter::once(len).chain(self.0.iter().copied())
    }

    pub(crate) fn parse(bytes: &[u8], what: &'static str) -> Result<Self> {
        GroupId::new(bytes.to_vec()).map_err(|_| Error::Malformed(what))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", crate::hex::encode(&self.0))
    }
}

/// A sender-key distribution, parsed and checked: sizes, the group id's length, and the
/// signing key a valid Ed25519 point. It names no sender: a receiver binds it to the identity
/// of the pairwise session it arrived on ([`InboundGroupSession::new`](super::InboundGroupSession::new)).
///
/// Holds the chain key: zeroized on drop, never shown by `Debug`.
pub struct SenderKeyDistribution {
    pub(crate) id: DistributionId,
    pub(crate) group: GroupId,
    pub(crate) chain: SenderChainKey,
    pub(crate) signing_key: VerifyingKey,
    pub(crate) list_version: u64,
}

const WHAT: &str = "sender key distribution";

impl SenderKeyDistribution {
    /// The distribution id.
    pub fn id(&self) -> DistributionId {
        self.id
    }

    /// The group it is for.
    pub fn group_id(&self) -> &GroupId {
        &self.group
    }

    /// The iteration of the chain key it carries: the first message it can decrypt.
    pub fn iteration(&self) -> u32 {
        self.chain.iteration()
    }

    /// The sender's device list version when it made the distribution.
    pub fn list_version(&self) -> u64 {
        self.list_version
    }

    /// The public key that signs every message of this distribution.
    pub fn signing_key(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// `0x17 0x10 ||` protobuf (PROTOCOL.md §13.1). Holds the chain key: send it only over a
    /// pairwise session.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let msg = proto::SenderKeyDistribution {
            distribution_id: self.id.as_bytes().to_vec(),
            group_id: self.group.as_bytes().to_vec(),
            iteration: self.chain.iteration(),
            chain_key: self.chain.as_bytes().to_vec(),
            signing_key: self.signing_key.to_bytes().to_vec(),
            list_version: self.list_version,
        };
        Zeroizing::new(wire::encode_ext(ExtKind::SenderKeyDistribution, &msg))
    }

    /// Parse strictly what [`to_bytes`](Self::to_bytes) produced.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let msg: proto::SenderKeyDistribution =
            wire::decode_ext(ExtKind::SenderKeyDistribution, bytes)?;
        let chain_key = Zeroizing::new(wire::array::<32>(&msg.chain_key, WHAT)?);
        Ok(SenderKeyDistribution {
            id: DistributionId::parse(&msg.distribution_id, WHAT)?,
            group: GroupId::parse(&msg.group_id, WHAT)?,
            chain: SenderChainKey::new(&chain_key, msg.iteration),
            signing_key: signing_key(&msg.signing_key)?,
            list_version: msg.list_version,
        })
    }
}

impl TryFrom<&[u8]> for SenderKeyDistribution {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

/// A signing key from the wire: 32 bytes, canonical, not of small order.
pub(crate) fn signing_key(bytes: &[u8]) -> Result<VerifyingKey> {
    verifying_key(&wire::array(bytes, WHAT)?, "sender key signing key")
}

impl fmt::Debug for SenderKeyDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistribution")
            .field("id", &self.id)
            .field("group_id", &self.group)
            .field("iteration", &self.chain.iteration())
            .field("list_version", &self.list_version)
            .finish_non_exhaustive()
    }
}
