//! Wire framing: every serialized keylink structure is one leading byte followed by a protobuf
//! message. The leading byte is `(VERSION << 4) | kind`: the high nibble is the protocol
//! version, the low nibble says which structure follows.
//!
//! Decoding is strict: the protobuf body must be exactly the canonical encoding of what it
//! decodes to (fields in order, minimal varints, no unknown or repeated fields, no default
//! values written out). Any other encoding of the same values is rejected, so a message has
//! one byte representation and no byte of it can change unnoticed.

pub(crate) mod proto;
pub(crate) mod session_row;
pub(crate) mod strict;

use prost::Message;
use zeroize::Zeroizing;

use crate::constants::WIRE_VERSION;
use crate::error::{Error, Result};

/// Which structure a serialized blob holds (the low nibble of its leading byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    RatchetMessage = 0x1,
    PreKeyMessage = 0x2,
    Bundle = 0x3,
    AccountKeyRecord = 0x4,
    PreKeyState = 0x5,
    DeviceList = 0x6,
    IdentityRecord = 0x8,
    SignedPreKeyRecord = 0x9,
    OneTimePreKeyRecord = 0xA,
    SessionRecord = 0xB,
    MemoryStore = 0xC,
    KemPreKeyRecord = 0xD,
    Session = 0xE,
    SessionIndex = 0xF,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::RatchetMessage => "ratchet message",
            Kind::PreKeyMessage => "PreKey message",
            Kind::Bundle => "prekey bundle",
            Kind::AccountKeyRecord => "account key record",
            Kind::PreKeyState => "prekey upkeep state",
            Kind::DeviceList => "device list",
            Kind::IdentityRecord => "identity key record",
            Kind::SignedPreKeyRecord => "signed prekey record",
            Kind::OneTimePreKeyRecord => "one-time prekey record",
            Kind::SessionRecord => "session record",
            Kind::MemoryStore => "memory store snapshot",
            Kind::KemPreKeyRecord => "KEM prekey record",
            Kind::Session => "session",
            Kind::SessionIndex => "session index",
        }
    }

    /// The leading byte for this kind at the current version.
    pub(crate) fn leading_byte(self) -> u8 {
        (WIRE_VERSION << 4) | self as u8
    }
}

/// Check the leading byte and return the body after it.
pub(crate) fn body(kind: Kind, bytes: &[u8]) -> Result<&[u8]> {
    let (&lead, body) = bytes.split_first().ok_or(Error::Malformed(kind.name()))?;
    if lead >> 4 != WIRE_VERSION {
        return Err(Error::UnknownVersion {
            what: kind.name(),
            found: lead >> 4,
        });
    }
    if lead & 0x0F != kind as u8 {
        return Err(Error::Malformed(kind.name()));
    }
    Ok(body)
}

/// Decode `bytes` as `kind`, strictly (see the module docs).
pub(crate) fn decode<M: Message + Default>(kind: Kind, bytes: &[u8]) -> Result<M> {
    decode_body(kind.name(), body(kind, bytes)?)
}

/// Decode a protobuf body strictly: it must be the canonical encoding of what it decodes to.
fn decode_body<M: Message + Default>(what: &'static str, body: &[u8]) -> Result<M> {
    let msg = M::decode(body).map_err(|_| Error::Malformed(what))?;
    if msg.encoded_len() != body.len() {
        return Err(Error::Malformed(what));
    }
    let canonical = Zeroizing::new(msg.encode_to_vec());
    if canonical.as_slice() != body {
        return Err(Error::Malformed(what));
    }
    Ok(msg)
}

/// The structures behind the extended kind 7: their leading byte is `0x17`, and a second
/// byte says which structure follows (PROTOCOL.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExtKind {
    LinkHello = 0x01,
    LinkReply = 0x02,
    LinkConfirm = 0x03,
    LinkAccount = 0x04,
    LinkDevice = 0x05,
    LinkAccountPayload = 0x06,
    SenderKeyDistribution = 0x10,
    SenderKeyMessage = 0x11,
    SenderKeyRecord = 0x12,
    InboundSenderKeyRecord = 0x13,
}

/// The kind nibble that announces an extended kind in the next byte.
const EXTENDED: u8 = 0x7;

impl ExtKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExtKind::LinkHello => "link hello",
            ExtKind::LinkReply => "link reply",
            ExtKind::LinkConfirm => "link confirmation",
            ExtKind::LinkAccount => "link account message",
            ExtKind::LinkDevice => "link device message",
            ExtKind::LinkAccountPayload => "link account payload",
            ExtKind::SenderKeyDistribution => "sender key distribution",
            ExtKind::SenderKeyMessage => "group message",
            ExtKind::SenderKeyRecord => "sender key record",
            ExtKind::InboundSenderKeyRecord => "inbound sender key record",
        }
    }

    /// The two leading bytes for this kind at the current version.
    pub(crate) fn leading_bytes(self) -> [u8; 2] {
        [(WIRE_VERSION << 4) | EXTENDED, self as u8]
    }
}

/// The extended kind byte of `bytes`, once its leading byte was checked (`what` names the
/// structure expected, for the errors).
pub(crate) fn ext_kind_byte(what: &'static str, bytes: &[u8]) -> Result<u8> {
    let (&lead, rest) = bytes.split_first().ok_or(Error::Malformed(what))?;
    if lead >> 4 != WIRE_VERSION {
        return Err(Error::UnknownVersion {
            what,
            found: lead >> 4,
        });
    }
    if lead & 0x0F != EXTENDED {
        return Err(Error::Malformed(what));
    }
    rest.first().copied().ok_or(Error::Malformed(what))
}

/// Decode `bytes` as the extended kind `kind`, strictly.
pub(crate) fn decode_ext<M: Message + Default>(kind: ExtKind, bytes: &[u8]) -> Result<M> {
    if ext_kind_byte(kind.name(), bytes)? != kind as u8 {
        return Err(Error::Malformed(kind.name()));
    }
    decode_body(kind.name(), bytes.get(2..).unwrap_or_default())
}

/// Encode `msg` as the extended kind `kind`.
pub(crate) fn encode_ext<M: Message>(kind: ExtKind, msg: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + msg.encoded_len());
    out.extend_from_slice(&kind.leading_bytes());
    msg.encode_raw(&mut out);
    out
}

/// Encode `msg` as `kind`.
pub(crate) fn encode<M: Message>(kind: Kind, msg: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + msg.encoded_len());
    out.push(kind.leading_byte());
    msg.encode_raw(&mut out);
    out
}

/// Encode a structure holding secrets; the buffer is zeroized when dropped.
pub(crate) fn encode_secret<M: Message>(kind: Kind, msg: &M) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(encode(kind, msg))
}

/// A fixed-size field, or a `Malformed` error naming the structure.
pub(crate) fn array<const N: usize>(field: &[u8], what: &'static str) -> Result<[u8; N]> {
    field.try_into().map_err(|_| Error::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let msg = proto::PendingPreKey {
            signed_prekey_id: 300,
            one_time_prekey_id: Some(0),
            ..Default::default()
        };
        encode(Kind::SessionRecord, &msg)
    }

    #[test]
    fn leading_byte_is_version_and_kind() {
        assert_eq!(Kind::RatchetMessage.leading_byte(), 0x11);
        assert_eq!(Kind::PreKeyMessage.leading_byte(), 0x12);
        assert_eq!(Kind::Bundle.leading_byte(), 0x13);
        assert_eq!(Kind::AccountKeyRecord.leading_byte(), 0x14);
        assert_eq!(sample()[0], 0x1B);
    }

    #[test]
    fn canonical_encoding_round_trips() {
        let bytes = sample();
        // Field 1 varint 300 (0xAC 0x02), then the optional field 2 present as 0.
        assert_eq!(bytes, [0x1B, 0x08, 0xAC, 0x02, 0x10, 0x00]);
        let back: proto::PendingPreKey = decode(Kind::SessionRecord, &bytes).unwrap();
        assert_eq!(back.signed_prekey_id, 300);
        assert_eq!(back.one_time_prekey_id, Some(0));
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let reject = |bytes: &[u8]| {
            let r: Result<proto::PendingPreKey> = decode(Kind::SessionRecord, bytes);
            assert!(matches!(r, Err(Error::Malformed(_))), "{bytes:02x?}");
        };
        // Unknown field 15 appended.
        reject(&[0x1B, 0x08, 0xAC, 0x02, 0x10, 0x00, 0x78, 0x01]);
        // Non-minimal varint for 300.
        reject(&[0x1B, 0x08, 0xAC, 0x82, 0x00, 0x10, 0x00]);
        // Fields out of order.
        reject(&[0x1B, 0x10, 0x00, 0x08, 0xAC, 0x02]);
        // Field 1 repeated.
        reject(&[0x1B, 0x08, 0x01, 0x08, 0xAC, 0x02, 0x10, 0x00]);
        // Default value written out.
        reject(&[0x1B, 0x08, 0x00, 0x10, 0x00]);
        // Truncated varint.
        reject(&[0x1B, 0x08, 0xAC]);
    }

    #[test]
    fn version_and_kind_are_checked() {
        let mut bytes = sample();
        bytes[0] = 0x2B;
        let r: Result<proto::PendingPreKey> = decode(Kind::SessionRecord, &bytes);
        assert!(matches!(r, Err(Error::UnknownVersion { found: 2, .. })));
        let r: Result<proto::PendingPreKey> = decode(Kind::Bundle, &sample());
        assert!(matches!(r, Err(Error::Malformed("prekey bundle"))));
        let r: Result<proto::PendingPreKey> = decode(Kind::Bundle, &[]);
        assert!(matches!(r, Err(Error::Malformed(_))));
    }
}
