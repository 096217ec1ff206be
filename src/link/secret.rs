//! [`LinkSecret`]: the 32-byte secret `LS` both ways of linking end with.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The link secret `LS` that the primary and the new companion share once a QR code was
/// scanned ([`LinkingQr`](super::LinkingQr)) or a typed code ran CPace (PROTOCOL.md §12): the
/// salt of the link handshake's key derivation.
///
/// Zeroized on drop, compared in constant time, never printed by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret([u8; 32]);

impl LinkSecret {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// 32 uniformly random bytes (the QR flow).
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut secret = LinkSecret([0u8; Self::LEN]);
        rng.fill_bytes(&mut secret.0);
        secret
    }

    /// Takes the bytes out of a zeroizing buffer, which zeroizes its own copy.
    pub(crate) fn from_bytes(bytes: &Zeroizing<[u8; 32]>) -> Self {
        LinkSecret(**bytes)
    }

    /// The 32 bytes, borrowed: no copy is made for the caller to forget to zeroize.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for LinkSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for LinkSecret {}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSecret(<redacted>)")
    }
}
