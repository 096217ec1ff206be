//! [`LinkingQr`]: the payload of the QR code a new companion shows (PROTOCOL.md §12.1).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::LinkSecret;
use crate::constants::{LINK_QR_LEN, LINK_QR_VERSION};
use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// What a linking QR code is called in errors.
const QR: &str = "linking QR code";

/// The QR payload of the QR way of linking: `0x01 || LS (32) || E_C.public (32)`.
///
/// The new companion C draws its ephemeral X25519 key `E_C`, makes a payload with
/// [`generate`](Self::generate) (a fresh random [`LinkSecret`]) and shows
/// [`to_bytes`](Self::to_bytes) as a QR code; the primary P scans it and reads it with
/// [`parse`](Self::parse), then uses exactly that `LS` and that `E_C`.
///
/// Its `Debug` is redacted (the payload holds `LS`).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkingQr {
    link_secret: LinkSecret,
    ephemeral: PublicKey,
}

impl LinkingQr {
    /// A payload for the companion's ephemeral public key `ephemeral`, with a new random link
    /// secret.
    pub fn generate<R: CryptoRng + ?Sized>(ephemeral: PublicKey, rng: &mut R) -> Self {
        LinkingQr {
            link_secret: LinkSecret::generate(rng),
            ephemeral,
        }
    }

    /// Reads a scanned payload. The version byte is checked first (another one is
    /// [`Error::UnknownVersion`]); then the length (not 65 bytes, or empty:
    /// [`Error::Malformed`]); then `E_C.public`, which must be a canonical X25519 public key on
    /// curve25519 and not of small order ([`Error::InvalidKey`]).
    pub fn parse(scanned: &[u8]) -> Result<Self> {
        let (&version, _) = scanned.split_first().ok_or(Error::Malformed(QR))?;
        if version != LINK_QR_VERSION {
            return Err(Error::UnknownVersion {
                what: QR,
                found: version,
            });
        }
        let payload: &[u8; LINK_QR_LEN] = scanned.try_into().map_err(|_| Error::Malformed(QR))?;
        let (_, rest) = payload.split_at(1);
        let (secret, ephemeral) = rest.split_at(LinkSecret::LEN);
        let ephemeral = super::messages::ephemeral(ephemeral)?;
        let secret: Zeroizing<[u8; 32]> =
            Zeroizing::new(secret.try_into().map_err(|_| Error::Malformed(QR))?);
        Ok(LinkingQr {
            link_secret: LinkSecret::from_bytes(&secret),
            ephemeral,
        })
    }

    /// The payload, `0x01 || LS || E_C.public`, for the QR code (zeroized on drop: it holds
    /// `LS`).
    pub fn to_bytes(&self) -> Zeroizing<[u8; LINK_QR_LEN]> {
        let mut out = Zeroizing::new([0u8; LINK_QR_LEN]);
        let parts = [LINK_QR_VERSION]
            .iter()
            .chain(self.link_secret.as_bytes())
            .chain(self.ephemeral.as_bytes());
        out.iter_mut().zip(parts).for_each(|(o, &b)| *o = b);
        out
    }

    /// The link secret `LS`.
    pub fn link_secret(&self) -> &LinkSecret {
        &self.link_secret
    }

    /// The companion's ephemeral public key `E_C`.
    pub fn ephemeral(&self) -> &PublicKey {
        &self.ephemeral
    }
}

impl core::fmt::Debug for LinkingQr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkingQr")
            .field("link_secret", &self.link_secret)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}
