//! The messages sessions exchange: [`RatchetMessage`], [`PreKeyMessage`], and [`Message`],
//! which is either.

use sha2::Digest;

use crate::constants::ENC_HEADER_LEN;
use crate::error::{Error, Result};
use crate::keys::{
    IdentityKey, KemCiphertext, KemPreKeyId, OneTimePreKeyId, PublicKey, SignedPreKeyId,
};
use crate::wire::{self, Kind, proto};

/// A Double Ratchet message: the encrypted header and `ciphertext || tag`. The server sees
/// no ratchet key and no counter, only lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatchetMessage {
    pub(crate) enc_header: [u8; ENC_HEADER_LEN],
    pub(crate) ciphertext: Vec<u8>,
}

impl RatchetMessage {
    /// Serialize for the transport.
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::encode(Kind::RatchetMessage, &self.to_proto())
    }

    /// The bytes of a serialized ratchet message before its `ciphertext || tag` of
    /// `body_len` bytes: the leading byte, field 1 (the encrypted header) and field 2's tag
    /// and length, exactly as [`RatchetMessage::to_bytes`] writes them (`body_len` > 0).
    pub(crate) fn head(enc_header: &[u8; ENC_HEADER_LEN], body_len: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(3 + ENC_HEADER_LEN + 1 + 10);
        head.extend([
            Kind::RatchetMessage.leading_byte(),
            0x0A,
            ENC_HEADER_LEN as u8,
        ]);
        head.extend_from_slice(enc_header);
        head.push(0x12);
        let mut len = body_len as u64;
        while len >= 0x80 {
            head.push((len as u8) | 0x80);
            len >>= 7;
        }
        head.push(len as u8);
        head
    }

    /// The length of [`RatchetMessage::head`] for a body of `body_len` bytes.
    pub(crate) fn head_len(body_len: usize) -> usize {
        let mut len = body_len as u64;
        let mut varint = 1;
        while len >= 0x80 {
            varint += 1;
            len >>= 7;
        }
        3 + ENC_HEADER_LEN + 1 + varint
    }

    fn to_proto(&self) -> proto::RatchetMessage {
        proto::RatchetMessage {
            enc_header: self.enc_header.to_vec(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

impl TryFrom<&[u8]> for RatchetMessage {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let (enc_header, ciphertext) = ratchet_parts(bytes)?;
        Ok(RatchetMessage {
            enc_header: *enc_header,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// The first messages of a session: what the responder needs to set it up, plus a
/// [`RatchetMessage`]. An initiator sends these until it has received a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyMessage {
    pub(crate) identity_key: IdentityKey,
    pub(crate) base_key: PublicKey,
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
    pub(crate) kem_prekey_id: KemPreKeyId,
    pub(crate) kem_ciphertext: KemCiphertext,
    pub(crate) message: RatchetMessage,
}

impl PreKeyMessage {
    /// The sender's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }

    /// The sender's base key `EK_A`, which identifies the session it sets up.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The id of the signed prekey the sender used.
    pub fn signed_prekey_id(&self) -> SignedPreKeyId {
        self.signed_prekey_id
    }

    /// The id of the one-time prekey the sender used, if any.
    pub fn one_time_prekey_id(&self) -> Option<OneTimePreKeyId> {
        self.one_time_prekey_id
    }

    /// The id of the KEM prekey the sender encapsulated to.
    pub fn kem_prekey_id(&self) -> KemPreKeyId {
        self.kem_prekey_id
    }

    /// The ML-KEM-1024 ciphertext `CT` encapsulated to that KEM prekey.
    pub fn kem_ciphertext(&self) -> &KemCiphertext {
        &self.kem_ciphertext
    }

    fn to_proto(&self, message: Vec<u8>) -> proto::PreKeyMessage {
        proto::PreKeyMessage {
            identity_key: self.identity_key.to_bytes().to_vec(),
            base_key: self.base_key.to_bytes().to_vec(),
            signed_prekey_id: self.signed_prekey_id.get(),
            one_time_prekey_id: self.one_time_prekey_id.map(OneTimePreKeyId::get),
            message,
            kem_prekey_id: self.kem_prekey_id.get(),
            kem_ciphertext: self.kem_ciphertext.as_bytes().to_vec(),
        }
    }

    /// Serialize for the transport.
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::encode(Kind::PreKeyMessage, &self.to_proto(self.message.to_bytes()))
    }

    /// SHA-256 of the message's encoding without its inner ratchet message: everything that
    /// set the session up. A responder session remembers it, so a repeated PreKey message is
    /// only accepted with exactly the setup fields of the first one.
    pub(crate) fn setup_digest(&self) -> [u8; 32] {
        let setup = wire::encode(Kind::PreKeyMessage, &self.to_proto(Vec::new()));
        sha2::Sha256::digest(&setup).into()
    }
}

impl TryFrom<&[u8]> for PreKeyMessage {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let msg: proto::PreKeyMessage = wire::decode(Kind::PreKeyMessage, bytes)?;
        let identity_key = wire::array(&msg.identity_key, "PreKey message")?;
        let base_key = wire::array::<32>(&msg.base_key, "PreKey message")?;
        let message = RatchetMessage::try_from(msg.message.as_slice())?;
        // Only a message that is complete but for its KEM ciphertext is reported as such.
        if msg.kem_ciphertext.is_empty() {
            return Err(Error::MissingKemPreKey);
        }
        Ok(PreKeyMessage {
            identity_key: IdentityKey::from_bytes(&identity_key)?,
            base_key: PublicKey::from_canonical(base_key)?,
            signed_prekey_id: SignedPreKeyId::new(msg.signed_prekey_id),
            one_time_prekey_id: msg.one_time_prekey_id.map(OneTimePreKeyId::new),
            kem_prekey_id: KemPreKeyId::new(msg.kem_prekey_id),
            kem_ciphertext: KemCiphertext::try_from(msg.kem_ciphertext.as_slice())?,
            message,
        })
    }
}

/// Any message a session sends: a [`PreKeyMessage`] while the session is not yet confirmed
/// by the peer, a [`RatchetMessage`] afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Sets up a session and carries its first messages.
    PreKey(Box<PreKeyMessage>),
    /// A message on an established session.
    Ratchet(RatchetMessage),
}

impl Message {
    /// Serialize for the transport; the leading byte tells the two kinds apart.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::PreKey(m) => m.to_bytes(),
            Message::Ratchet(m) => m.to_bytes(),
        }
    }

    /// Whether this is a [`PreKeyMessage`].
    pub fn is_prekey(&self) -> bool {
        matches!(self, Message::PreKey(_))
    }
}

impl TryFrom<&[u8]> for Message {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        match is_prekey_message(bytes)? {
            true => PreKeyMessage::try_from(bytes).map(|m| Message::PreKey(Box::new(m))),
            false => RatchetMessage::try_from(bytes).map(Message::Ratchet),
        }
    }
}

/// Whether serialized message `bytes` claim to be a PreKey message (else a ratchet message,
/// to be parsed as one).
pub(crate) fn is_prekey_message(bytes: &[u8]) -> Result<bool> {
    let lead = bytes
        .first()
        .copied()
        .ok_or(Error::Malformed("message (empty)"))?;
    if lead >> 4 != crate::constants::WIRE_VERSION {
        return Err(Error::UnknownVersion {
            what: "message",
            found: lead >> 4,
        });
    }
    Ok(lead == Kind::PreKeyMessage.leading_byte())
}

/// A serialized ratchet message's encrypted header and `ciphertext || tag`, borrowed.
pub(crate) fn ratchet_parts(bytes: &[u8]) -> Result<(&[u8; ENC_HEADER_LEN], &[u8])> {
    let body = wire::body(Kind::RatchetMessage, bytes)?;
    let fields = wire::strict::ratchet_message(body).ok_or(Error::Malformed("ratchet message"))?;
    Ok((fields.enc_header, fields.ciphertext))
}

/// [`ratchet_parts`] over a mutable buffer: the encrypted header (copied) and the
/// `ciphertext || tag` at the end of `bytes`, to decrypt in place.
pub(crate) fn ratchet_parts_mut(bytes: &mut [u8]) -> Result<([u8; ENC_HEADER_LEN], &mut [u8])> {
    let (enc_header, sealed) = ratchet_parts(bytes)?;
    let (enc_header, start) = (*enc_header, bytes.len() - sealed.len());
    let sealed = bytes
        .get_mut(start..)
        .ok_or(Error::Malformed("ratchet message"))?;
    Ok((enc_header, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn prekey_proto() -> proto::PreKeyMessage {
        let inner = proto::RatchetMessage {
            enc_header: vec![9; ENC_HEADER_LEN],
            ciphertext: vec![0; 20],
        };
        let identity = crate::keys::IdentityKeyPair::from_seed(&[1; 32]);
        proto::PreKeyMessage {
            identity_key: identity.public().to_bytes().to_vec(),
            base_key: vec![5; 32],
            signed_prekey_id: 1,
            one_time_prekey_id: None,
            message: wire::encode(Kind::RatchetMessage, &inner),
            kem_prekey_id: 3,
            kem_ciphertext: vec![7; crate::keys::KEM_CIPHERTEXT_LEN],
        }
    }

    fn parse(msg: &proto::PreKeyMessage) -> Result<PreKeyMessage> {
        PreKeyMessage::try_from(wire::encode(Kind::PreKeyMessage, msg).as_slice())
    }

    #[test]
    fn prekey_message_round_trips() {
        let msg = prekey_proto();
        let parsed = parse(&msg).unwrap();
        assert_eq!(parsed.to_bytes(), wire::encode(Kind::PreKeyMessage, &msg));
        assert_eq!(
            proto::PreKeyMessage::decode(&parsed.to_bytes()[1..]).unwrap(),
            msg
        );
    }

    #[test]
    fn a_prekey_message_without_kem_ciphertext_is_refused() {
        let mut msg = prekey_proto();
        msg.kem_ciphertext = Vec::new();
        assert!(matches!(parse(&msg), Err(Error::MissingKemPreKey)));
    }

    #[test]
    fn key_types_cannot_be_swapped() {
        let good = prekey_proto();
        let mut msg = good.clone();
        msg.kem_ciphertext = good.base_key.clone();
        assert!(matches!(parse(&msg), Err(Error::Malformed(_))));
        let mut msg = good.clone();
        msg.base_key = good.kem_ciphertext.clone();
        assert!(matches!(parse(&msg), Err(Error::Malformed(_))));
    }
}

#[cfg(test)]
mod head_tests {
    use super::*;

    #[test]
    fn the_head_is_what_to_bytes_writes_before_the_body() {
        for len in [16, 17, 127, 128, 129, 16_383, 16_384, 2_097_151, 2_097_152] {
            let message = RatchetMessage {
                enc_header: [0xA5; ENC_HEADER_LEN],
                ciphertext: vec![7; len],
            };
            let bytes = message.to_bytes();
            let head = RatchetMessage::head(&message.enc_header, len);
            assert_eq!(head.len() + len, bytes.len(), "{len}");
            assert_eq!(RatchetMessage::head_len(len), head.len(), "{len}");
            assert_eq!(bytes.get(..head.len()), Some(head.as_slice()), "{len}");
        }
    }
}
