//! The ratchet header, sealed under a header key with every message:
//! `0x01 || DHs.public (32) || u32be(PN) || u32be(N)`, 41 bytes.

use crate::constants::HEADER_VERSION;
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// Length of the encoded header.
pub(crate) const HEADER_LEN: usize = 41;

/// The sender's current ratchet key and its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) previous_counter: u32,
    pub(crate) counter: u32,
}

impl Header {
    /// The 41 bytes that go into the AEAD's associated data.
    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (version, rest) = out.split_at_mut(1);
        let (key, rest) = rest.split_at_mut(32);
        let (pn, n) = rest.split_at_mut(4);
        version.copy_from_slice(&[HEADER_VERSION]);
        key.copy_from_slice(self.ratchet_key.as_bytes());
        pn.copy_from_slice(&self.previous_counter.to_be_bytes());
        n.copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    /// Read an opened header: version `0x01`, a canonical ratchet key, the two counters.
    pub(crate) fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header> {
        let (&version, rest) = bytes.split_first().ok_or(Error::DecryptionFailed)?;
        let (key, rest) = rest
            .split_first_chunk::<32>()
            .ok_or(Error::DecryptionFailed)?;
        let (pn, n) = rest
            .split_first_chunk::<4>()
            .ok_or(Error::DecryptionFailed)?;
        let n: &[u8; 4] = n.try_into().map_err(|_| Error::DecryptionFailed)?;
        if version != HEADER_VERSION {
            return Err(Error::DecryptionFailed);
        }
        let ratchet_key = PublicKey::from_canonical(*key).map_err(|_| Error::DecryptionFailed)?;
        Ok(Header {
            ratchet_key,
            previous_counter: u32::from_be_bytes(*pn),
            counter: u32::from_be_bytes(*n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let header = Header {
            ratchet_key: PublicKey::from([0x2B; 32]),
            previous_counter: 0x0102_0304,
            counter: 0x0A0B_0C0D,
        };
        let mut expected = vec![0x01];
        expected.extend_from_slice(&[0x2B; 32]);
        expected.extend_from_slice(&[1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]);
        assert_eq!(header.to_bytes().to_vec(), expected);
        assert_eq!(Header::parse(&header.to_bytes()).unwrap(), header);
        let mut wrong_version = header.to_bytes();
        wrong_version[0] = 0x02;
        assert!(Header::parse(&wrong_version).is_err());
        let mut non_canonical = header.to_bytes();
        non_canonical[1..33].copy_from_slice(&[0xFF; 32]);
        assert!(Header::parse(&non_canonical).is_err());
    }
}
