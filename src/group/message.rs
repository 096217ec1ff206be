//! A group message on the wire (PROTOCOL.md §13.2): `0x17 0x11 ||` protobuf
//! `{distribution_id, iteration, ciphertext, signature}`, and the bytes it is checked over.

use ed25519_dalek::{Signature, VerifyingKey};

use super::distribution::{DistributionId, GroupId};
use crate::constants::{
    SENDER_KEY_HEADER_LEN, SENDER_KEY_HEADER_VERSION, SENDER_KEY_MESSAGE_CONTEXT,
};
use crate::error::{Error, Result};
use crate::keys::IdentityKey;
use crate::wire::{self, ExtKind, proto};

const WHAT: &str = "group message";

/// A parsed group message whose signature has not been checked yet.
pub(crate) struct UnverifiedMessage {
    pub(crate) id: DistributionId,
    pub(crate) iteration: u32,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) signature: [u8; 64],
}

/// A group message whose signature verified under the distribution's signing key.
pub(crate) struct VerifiedMessage {
    pub(crate) iteration: u32,
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) aad: Vec<u8>,
}

impl UnverifiedMessage {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        let msg: proto::SenderKeyMessage = wire::decode_ext(ExtKind::SenderKeyMessage, bytes)?;
        Ok(UnverifiedMessage {
            id: DistributionId::parse(&msg.distribution_id, WHAT)?,
            iteration: msg.iteration,
            signature: wire::array(&msg.signature, WHAT)?,
            ciphertext: msg.ciphertext,
        })
    }

    /// Check `sig` over `context || aad || ct`, with `aad` built from the receiver's own
    /// `group` and `sender` (never from the message).
    pub(crate) fn verify(
        self,
        group: &GroupId,
        sender: &IdentityKey,
        key: &VerifyingKey,
    ) -> Result<VerifiedMessage> {
        let aad = aad(group, sender, &self.id, self.iteration);
        let signed = signed(&aad, &self.ciphertext);
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&signed, &signature)
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(VerifiedMessage {
            iteration: self.iteration,
            ciphertext: self.ciphertext,
            aad,
        })
    }
}

/// `header = 0x02 || distribution_id || u32be(i)`.
pub(crate) fn header(id: &DistributionId, iteration: u32) -> [u8; SENDER_KEY_HEADER_LEN] {
    let mut header = [0u8; SENDER_KEY_HEADER_LEN];
    let counter = iteration.to_be_bytes();
    let parts = [SENDER_KEY_HEADER_VERSION]
        .iter()
        .chain(id.as_bytes())
        .chain(&counter);
    for (slot, byte) in header.iter_mut().zip(parts) {
        *slot = *byte;
    }
    header
}

/// `aad = u8(len(group_id)) || group_id || IK_sender || header`.
pub(crate) fn aad(
    group: &GroupId,
    sender: &IdentityKey,
    id: &DistributionId,
    iteration: u32,
) -> Vec<u8> {
    let mut aad: Vec<u8> = group.aad_prefix().collect();
    aad.extend_from_slice(sender.as_bytes());
    aad.extend_from_slice(&header(id, iteration));
    aad
}

/// The signature input: `"keylink v1 sender key message" || aad || ct`.
pub(crate) fn signed(aad: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    [SENDER_KEY_MESSAGE_CONTEXT, aad, ciphertext].concat()
}

/// `0x17 0x11 ||` protobuf.
pub(crate) fn encode(
    id: &DistributionId,
    iteration: u32,
    ciphertext: Vec<u8>,
    signature: [u8; 64],
) -> Vec<u8> {
    let msg = proto::SenderKeyMessage {
        distribution_id: id.as_bytes().to_vec(),
        iteration,
        ciphertext,
        signature: signature.to_vec(),
    };
    wire::encode_ext(ExtKind::SenderKeyMessage, &msg)
}
