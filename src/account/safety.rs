//! Safety numbers: what two users compare (read aloud, or one scans the other's QR code) to
//! check that each has the other's account key for the other's phone number.

use core::fmt;

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::account::{AccountKey, PhoneNumber};
use crate::constants::{
    SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_LABEL, SAFETY_NUMBER_VERSION, SAFETY_QR_LEN,
    SAFETY_QR_VERSION,
};
use crate::error::{Error, Result};

/// What [`SafetyNumber::verify_scanned`] says about a scanned QR code that it could read.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The scanned code is the peer's code for this conversation: both sides have the same
    /// account keys for the same phone numbers.
    Match,
    /// The scanned code is another one: another account key or phone number on one side, or
    /// the code of another conversation. Do not mark the peer as verified.
    Mismatch,
}

/// The safety number of a conversation between two accounts, as one of them computes it
/// (docs/PROTOCOL.md §11.3).
///
/// It depends only on the two account keys and the two phone numbers: it changes when
/// either changes and never when a device is linked or removed.
#[derive(Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    own: [u8; 32],
    peer: [u8; 32],
    displayed: String,
}

impl SafetyNumber {
    /// The safety number between our account (`own_phone`, `own`) and a peer's.
    ///
    /// Costs `2 x 5201` SHA-512 computations.
    pub fn new(
        own_phone: &PhoneNumber,
        own: &AccountKey,
        peer_phone: &PhoneNumber,
        peer: &AccountKey,
    ) -> SafetyNumber {
        let own = fingerprint(own, own_phone);
        let peer = fingerprint(peer, peer_phone);
        let (own_digits, peer_digits) = (digits(&own), digits(&peer));
        let (first, second) = match own_digits <= peer_digits {
            true => (own_digits, peer_digits),
            false => (peer_digits, own_digits),
        };
        SafetyNumber {
            own,
            peer,
            displayed: grouped(&(first + &second)),
        }
    }

    /// The 60 digits both users see, the same on both sides: 12 groups of 5 digits
    /// separated by single spaces.
    pub fn displayed(&self) -> &str {
        &self.displayed
    }

    /// The payload of the QR code to show: `0x01 || F_own || F_peer`, 65 bytes.
    pub fn qr_payload(&self) -> [u8; SAFETY_QR_LEN] {
        let mut payload = [0u8; SAFETY_QR_LEN];
        let halves = [SAFETY_QR_VERSION]
            .into_iter()
            .chain(self.own)
            .chain(self.peer);
        payload.iter_mut().zip(halves).for_each(|(p, b)| *p = b);
        payload
    }

    /// Compare the payload of the peer's QR code, as scanned, with this safety number, in
    /// constant time.
    ///
    /// A code whose first byte is not `0x01` is [`Error::UnknownVersion`] (whatever its
    /// length); an empty code, or one of another length than 65 bytes, is
    /// [`Error::Malformed`]. A code that can be read gives [`Verification::Match`] only if it
    /// is the peer's code for this conversation (its `F_own` is our `F_peer` and its `F_peer`
    /// is our `F_own`).
    pub fn verify_scanned(&self, scanned: &[u8]) -> Result<Verification> {
        let (&version, halves) = scanned.split_first().ok_or(Error::Malformed(QR))?;
        if version != SAFETY_QR_VERSION {
            return Err(Error::UnknownVersion {
                what: QR,
                found: version,
            });
        }
        let halves: &[u8; 64] = halves.try_into().map_err(|_| Error::Malformed(QR))?;
        let mut expected = [0u8; 64];
        let swapped = self.peer.into_iter().chain(self.own);
        expected.iter_mut().zip(swapped).for_each(|(e, b)| *e = b);
        match bool::from(halves.ct_eq(&expected)) {
            true => Ok(Verification::Match),
            false => Ok(Verification::Mismatch),
        }
    }
}

/// What a scanned code is called in errors.
const QR: &str = "safety number QR code";

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.displayed)
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({})", self.displayed)
    }
}

/// `F = h_5200[0..32]`, with `h_0 = SHA-512(u16be(0) || label || AIK || phone)` and
/// `h_{i+1} = SHA-512(h_i || AIK)`.
fn fingerprint(key: &AccountKey, phone: &PhoneNumber) -> [u8; 32] {
    let mut h = Sha512::new()
        .chain_update(SAFETY_NUMBER_VERSION.to_be_bytes())
        .chain_update(SAFETY_NUMBER_LABEL)
        .chain_update(key.as_bytes())
        .chain_update(phone.as_str().as_bytes())
        .finalize();
    for _ in 0..SAFETY_NUMBER_ITERATIONS {
        h = Sha512::new()
            .chain_update(h)
            .chain_update(key.as_bytes())
            .finalize();
    }
    let mut f = [0u8; 32];
    f.iter_mut().zip(h).for_each(|(f, h)| *f = h);
    f
}

/// One party's 30 digits: six 5-byte big-endian integers of `F`, each mod 100000, as 5 digits.
fn digits(f: &[u8; 32]) -> String {
    f.chunks_exact(5)
        .take(6)
        .map(|chunk| chunk.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)) % 100_000)
        .map(|group| format!("{group:05}"))
        .collect()
}

/// The digits in groups of 5, separated by single spaces.
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 5);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_u40be_mod_100000() {
        let mut f = [0u8; 32];
        // 0x00000186a0 = 100000 -> 00000; 0xffffffffff = 1099511627775 -> 27775.
        f[..5].copy_from_slice(&[0, 0, 1, 0x86, 0xA0]);
        f[5..10].copy_from_slice(&[0xFF; 5]);
        f[10..15].copy_from_slice(&[0, 0, 0, 0, 7]);
        let d = digits(&f);
        assert_eq!(d.len(), 30);
        assert_eq!(&d[..15], "000002777500007");
        assert_eq!(&d[15..], "000000000000000");
    }

    #[test]
    fn grouping() {
        assert_eq!(grouped("0123456789"), "01234 56789");
        assert_eq!(grouped(&"1".repeat(60)).len(), 71);
    }
}
