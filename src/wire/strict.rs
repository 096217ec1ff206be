//! A hand-written strict reader for the ratchet message, the one structure on the hot path
//! whose body can be large. It accepts exactly the canonical encodings that [`super::decode`]
//! accepts (checked against it in the tests below), but borrows the ciphertext instead of
//! decoding it into a copy and re-encoding it for the canonicity check.
//!
//! Its [`Reader`] of canonical protobuf fields also reads the session row
//! ([`super::session_row`]).

use crate::constants::ENC_HEADER_LEN;

/// The fields of a ratchet message body, both borrowed.
pub(crate) struct RatchetFields<'a> {
    pub(crate) enc_header: &'a [u8; ENC_HEADER_LEN],
    pub(crate) ciphertext: &'a [u8],
}

/// Field 1 (bytes, exactly 69) and 2 (bytes, omitted when empty), in that order and nothing
/// else. An empty ciphertext parses; it fails authentication later.
pub(crate) fn ratchet_message(body: &[u8]) -> Option<RatchetFields<'_>> {
    let mut r = Reader(body);
    r.tag(0x0A)?;
    let enc_header = r.bytes()?.try_into().ok()?;
    let ciphertext = match r.tag(0x12) {
        Some(()) => r.bytes().filter(|c| !c.is_empty())?,
        None => &[],
    };
    r.0.is_empty().then_some(RatchetFields {
        enc_header,
        ciphertext,
    })
}

/// A strict reader of canonical protobuf: each field is asked for by its key, in ascending
/// order, and read only in its canonical form (minimal varints, no default value written out).
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Reader(body)
    }

    /// Whether everything was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn tag(&mut self, tag: u8) -> Option<()> {
        let (&first, rest) = self.0.split_first()?;
        (first == tag).then(|| self.0 = rest)
    }

    /// Whether the next field has `key` (its tag and wire type, as encoded); if so, the key
    /// is consumed.
    fn field(&mut self, key: &[u8]) -> bool {
        // Keys are one or two bytes: compared in place rather than by a call to `bcmp`.
        let found = self.0.len() >= key.len() && self.0.iter().zip(key).all(|(a, b)| a == b);
        if found {
            self.0 = self.0.get(key.len()..).unwrap_or_default();
        }
        found
    }

    /// A minimal varint of at most 5 bytes (35 bits): enough for every uint32 and for any
    /// length this reader could be given; a longer minimal varint would be a value that the
    /// generic decoder rejects too (over `u32::MAX`, or a length beyond the input).
    fn varint(&mut self) -> Option<u64> {
        self.varint_within(5)
    }

    /// A minimal varint of at most `max_len` bytes; at 10 bytes, one that fits 64 bits.
    fn varint_within(&mut self, max_len: usize) -> Option<u64> {
        // Most varints here (lengths of keys, small counters) are one byte.
        if let Some((&byte, rest)) = self.0.split_first()
            && byte < 0x80
        {
            self.0 = rest;
            return Some(byte.into());
        }
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(max_len) {
            let bits = u64::from(byte & 0x7F);
            // The tenth byte holds bit 63 only.
            if i == 9 && bits > 1 {
                return None;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                // A final 0x00 after a continuation would be a longer encoding of the value.
                if i > 0 && byte == 0 {
                    return None;
                }
                self.0 = self.0.get(i + 1..)?;
                return Some(value);
            }
        }
        None
    }

    /// A length-delimited field's contents.
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let (field, rest) = (self.0.get(..len)?, self.0.get(len..)?);
        self.0 = rest;
        Some(field)
    }

    /// A `bytes` field: empty if absent, never written empty.
    pub(crate) fn bytes_field(&mut self, key: &[u8]) -> Option<&'a [u8]> {
        match self.field(key) {
            true => self.bytes().filter(|b| !b.is_empty()),
            false => Some(&[]),
        }
    }

    /// A `bool` field: `false` if absent, written only as `true` (1).
    pub(crate) fn bool_field(&mut self, key: &[u8]) -> Option<bool> {
        match self.field(key) {
            true => (self.varint()? == 1).then_some(true),
            false => Some(false),
        }
    }

    /// A `uint32` field: 0 if absent, never written as 0.
    pub(crate) fn u32_field(&mut self, key: &[u8]) -> Option<u32> {
        match self.optional_u32_field(key)? {
            Some(0) => None,
            value => Some(value.unwrap_or(0)),
        }
    }

    /// A proto3 `optional uint32` field: written whenever present, even as 0.
    pub(crate) fn optional_u32_field(&mut self, key: &[u8]) -> Option<Option<u32>> {
        match self.field(key) {
            true => u32::try_from(self.varint()?).ok().map(Some),
            false => Some(None),
        }
    }

    /// A `uint64` field: 0 if absent, never written as 0.
    pub(crate) fn u64_field(&mut self, key: &[u8]) -> Option<u64> {
        match self.field(key) {
            true => self.varint_within(10).filter(|&v| v != 0),
            false => Some(0),
        }
    }

    /// A message field, parsed from its contents by `parse`: `Some(None)` if absent.
    pub(crate) fn message_field<T>(
        &mut self,
        key: &[u8],
        parse: impl FnOnce(&'a [u8]) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.field(key) {
            true => parse(self.bytes()?).map(Some),
            false => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, Kind, proto};

    fn via_prost(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut bytes = vec![Kind::RatchetMessage.leading_byte()];
        bytes.extend_from_slice(body);
        let m: proto::RatchetMessage = wire::decode(Kind::RatchetMessage, &bytes).ok()?;
        (m.enc_header.len() == ENC_HEADER_LEN)
            .then_some((m.enc_header.clone(), m.ciphertext.clone()))
    }

    fn via_strict(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        ratchet_message(body).map(|f| (f.enc_header.to_vec(), f.ciphertext.to_vec()))
    }

    /// Every single-byte change, truncation and extension of a few canonical messages is
    /// accepted or rejected by both readers alike, with the same values.
    #[test]
    fn agrees_with_the_generic_strict_decoder() {
        let mut checked = 0;
        for ct_len in [0, 16, 17, 40, 127, 128, 200] {
            let msg = proto::RatchetMessage {
                enc_header: (0..ENC_HEADER_LEN).map(|i| i as u8 ^ 0xA5).collect(),
                ciphertext: (0..ct_len).map(|i| i as u8).collect(),
            };
            let body = prost::Message::encode_to_vec(&msg);
            assert!(via_strict(&body).is_some());
            let mut variants = vec![body.clone()];
            for len in 0..body.len() {
                variants.push(body[..len].to_vec());
            }
            for extra in [0x00, 0x08, 0x12, 0x22, 0x28, 0x7A] {
                let mut longer = body.clone();
                longer.push(extra);
                variants.push(longer);
            }
            for i in 0..body.len() {
                for x in [0x01, 0x80, 0xFF, 0x7F] {
                    let mut v = body.clone();
                    v[i] ^= x;
                    variants.push(v);
                }
            }
            for v in &variants {
                assert_eq!(via_strict(v), via_prost(v), "{v:02x?}");
                checked += 1;
            }
        }
        assert!(checked > 1000);
    }
}
