//! The link messages on the wire (PROTOCOL.md §12.3): each is `0x17 || u8(kind) ||` a
//! canonical protobuf message, parsed into checked values here.

use zeroize::Zeroizing;

use super::cpace::{Share, Sid};
use super::handshake::Flow;
use crate::account::{AccountKey, PhoneNumber};
use crate::constants::LINK_CPACE_SID_LEN;
use crate::error::{Error, Result};
use crate::keys::{DeviceId, IdentityKey, KemCiphertext, KemPublicKey, PublicKey};
use crate::time::Timestamp;
use crate::wire::{self, ExtKind, proto};

/// The CPace part of a typed-code hello: `sid`, `Ya` and `E_C.public`.
pub(crate) struct CodeHello {
    pub sid: Sid,
    pub share: Share,
    pub ephemeral: PublicKey,
}

/// The companion's first message.
pub(crate) struct Hello {
    pub code: Option<CodeHello>,
    pub kem_key: KemPublicKey,
    pub identity: IdentityKey,
}

/// The primary's answer.
pub(crate) struct Reply {
    pub share: Option<Share>,
    pub ephemeral: PublicKey,
    pub kem_ciphertext: KemCiphertext,
    pub confirmation: [u8; 32],
}

/// What the primary's account payload tells the companion.
pub(crate) struct AccountPayload {
    pub account: AccountKey,
    pub phone: PhoneNumber,
    pub device: DeviceId,
    pub linked_at: Timestamp,
    pub account_sig: [u8; 64],
    pub history_key: Zeroizing<[u8; 32]>,
}

/// Refuses a message of another link step than `expected` as out of order; a structure
/// that is no link message at all is left to the strict decoder.
pub(crate) fn expect(expected: ExtKind, bytes: &[u8]) -> Result<()> {
    let found = wire::ext_kind_byte(expected.name(), bytes)?;
    let link_kinds = ExtKind::LinkHello as u8..=ExtKind::LinkDevice as u8;
    if found != expected as u8 && link_kinds.contains(&found) {
        return Err(Error::LinkAborted(OUT_OF_ORDER));
    }
    Ok(())
}

/// The reason given for a link message of another step than the one expected.
pub(crate) const OUT_OF_ORDER: &str =
    "a message out of order (another step's, or one already received)";

impl Hello {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let code = self.code.as_ref();
        let msg = proto::LinkHello {
            sid: code.map(|c| c.sid.to_vec()).unwrap_or_default(),
            cpace_share: code.map(|c| c.share.to_vec()).unwrap_or_default(),
            ephemeral: code
                .map(|c| c.ephemeral.to_bytes().to_vec())
                .unwrap_or_default(),
            kem_key: self.kem_key.as_bytes().to_vec(),
            identity_key: self.identity.to_bytes().to_vec(),
        };
        wire::encode_ext(ExtKind::LinkHello, &msg)
    }

    /// Parses a hello of the `flow` the primary is in: the CPace fields and `E_C` must be
    /// present exactly in the typed-code flow.
    pub(crate) fn parse(bytes: &[u8], flow: Flow) -> Result<Self> {
        const WHAT: &str = "link hello";
        expect(ExtKind::LinkHello, bytes)?;
        let msg: proto::LinkHello = wire::decode_ext(ExtKind::LinkHello, bytes)?;
        let code = match flow {
            Flow::Code => Some(CodeHello {
                sid: wire::array::<LINK_CPACE_SID_LEN>(&msg.sid, WHAT)?,
                share: wire::array(&msg.cpace_share, WHAT)?,
                ephemeral: ephemeral(&msg.ephemeral)?,
            }),
            Flow::Qr => {
                let absent = [&msg.sid, &msg.cpace_share, &msg.ephemeral];
                if absent.iter().any(|f| !f.is_empty()) {
                    return Err(Error::Malformed(WHAT));
                }
                None
            }
        };
        let identity = IdentityKey::from_bytes(&wire::array(&msg.identity_key, WHAT)?)?;
        let kem_key = KemPublicKey::try_from(msg.kem_key.as_slice())?;
        Ok(Hello {
            code,
            kem_key,
            identity,
        })
    }
}

/// An ephemeral X25519 key from a QR code or a link message, checked when it is read
/// (§12.1): canonical, on curve25519, not of small order.
pub(crate) fn ephemeral(bytes: &[u8]) -> Result<PublicKey> {
    let key = PublicKey::try_from(bytes)?;
    crate::primitives::check_x25519_public(key.inner())?;
    Ok(key)
}

impl Reply {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let msg = proto::LinkReply {
            cpace_share: self.share.map(|s| s.to_vec()).unwrap_or_default(),
            ephemeral: self.ephemeral.to_bytes().to_vec(),
            kem_ciphertext: self.kem_ciphertext.as_bytes().to_vec(),
            confirmation: self.confirmation.to_vec(),
        };
        wire::encode_ext(ExtKind::LinkReply, &msg)
    }

    /// Parses a reply of the `flow` the companion is in: `Yb` present exactly in the
    /// typed-code flow.
    pub(crate) fn parse(bytes: &[u8], flow: Flow) -> Result<Self> {
        const WHAT: &str = "link reply";
        expect(ExtKind::LinkReply, bytes)?;
        let msg: proto::LinkReply = wire::decode_ext(ExtKind::LinkReply, bytes)?;
        let share = match flow {
            Flow::Code => Some(wire::array(&msg.cpace_share, WHAT)?),
            Flow::Qr if msg.cpace_share.is_empty() => None,
            Flow::Qr => return Err(Error::Malformed(WHAT)),
        };
        Ok(Reply {
            share,
            ephemeral: ephemeral(&msg.ephemeral)?,
            kem_ciphertext: KemCiphertext::try_from(msg.kem_ciphertext.as_slice())?,
            confirmation: wire::array(&msg.confirmation, WHAT)?,
        })
    }
}

/// The companion's key confirmation message.
pub(crate) fn confirmation_to_bytes(confirmation: &[u8; 32]) -> Vec<u8> {
    let msg = proto::LinkConfirm {
        confirmation: confirmation.to_vec(),
    };
    wire::encode_ext(ExtKind::LinkConfirm, &msg)
}

/// Parses the companion's key confirmation message.
pub(crate) fn parse_confirmation(bytes: &[u8]) -> Result<[u8; 32]> {
    expect(ExtKind::LinkConfirm, bytes)?;
    let msg: proto::LinkConfirm = wire::decode_ext(ExtKind::LinkConfirm, bytes)?;
    wire::array(&msg.confirmation, ExtKind::LinkConfirm.name())
}

/// A sealed payload message of `kind` (the account payload, or the device signature).
pub(crate) fn sealed_to_bytes(kind: ExtKind, ciphertext: Vec<u8>) -> Vec<u8> {
    wire::encode_ext(kind, &proto::LinkSealed { ciphertext })
}

/// Parses a sealed payload message of `kind`; returns its ciphertext.
pub(crate) fn parse_sealed(kind: ExtKind, bytes: &[u8]) -> Result<Vec<u8>> {
    expect(kind, bytes)?;
    let msg: proto::LinkSealed = wire::decode_ext(kind, bytes)?;
    Ok(msg.ciphertext)
}

impl AccountPayload {
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let msg = proto::LinkAccountPayload {
            account_key: self.account.as_bytes().to_vec(),
            phone: self.phone.as_str().to_owned(),
            device_id: self.device.into(),
            linked_at: self.linked_at.as_unix_millis(),
            account_signature: self.account_sig.to_vec(),
            history_key: self.history_key.to_vec(),
        };
        Zeroizing::new(wire::encode_ext(ExtKind::LinkAccountPayload, &msg))
    }

    /// Parses the account payload's plaintext: a valid account key, a number in E.164 form,
    /// a companion's device id (2 or above), 64 and 32 bytes of signature and history key.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "link account payload";
        let msg: proto::LinkAccountPayload = wire::decode_ext(ExtKind::LinkAccountPayload, bytes)?;
        let phone = PhoneNumber::parse(&msg.phone).map_err(|_| Error::Malformed(WHAT))?;
        if phone.as_str() != msg.phone || msg.device_id < 2 {
            return Err(Error::Malformed(WHAT));
        }
        Ok(AccountPayload {
            account: AccountKey::try_from(msg.account_key.as_slice())?,
            phone,
            device: DeviceId::from(msg.device_id),
            linked_at: Timestamp::from_unix_millis(msg.linked_at),
            account_sig: wire::array(&msg.account_signature, WHAT)?,
            history_key: Zeroizing::new(wire::array(&msg.history_key, WHAT)?),
        })
    }
}
