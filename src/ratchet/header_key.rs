//! Header keys (Double Ratchet with header encryption, its section 4): each header is sealed
//! under the sending chain's header key `HK`:
//!
//! ```text
//! hk_enc (32) || hk_nonce (32) = HKDF(0^32, HK, "keylink v1 header", 64)
//! h_nonce    = HMAC(hk_nonce, header)[0..12]
//! enc_header = h_nonce || AES-256-GCM(hk_enc, h_nonce, header, aad = AD)     (69 bytes)
//! ```
//!
//! A [`HeaderKey`] keeps only what `HK` derives, computed once when the key is made. The
//! AES-256 key schedule of `hk_enc` is computed the first time the key seals or opens a
//! header and kept from then on: a session read from storage sets up only the header keys a
//! message uses, and trying a key on a later header costs one AES-GCM open of 41 bytes, on
//! the stack, and nothing else.

use std::sync::OnceLock;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::primitives::{Gcm, HmacKey};

use crate::constants::{ENC_HEADER_LEN, HEADER_INFO};
use crate::error::{Error, Result};
use crate::primitives::{self, TAG_LEN};
use crate::ratchet::header::HEADER_LEN;

/// A header key, as the pair it derives, with `hk_enc` keyed for AES-256-GCM once used.
#[derive(Clone)]
pub(crate) struct HeaderKey {
    enc: [u8; 32],
    nonce_key: [u8; 32],
    cipher: OnceLock<Gcm>,
    /// HMAC keyed with `hk_nonce`, set up on first use.
    nonce_mac: OnceLock<HmacKey>,
}

impl Drop for HeaderKey {
    fn drop(&mut self) {
        // The cipher's key schedule zeroizes itself (aes-gcm's `zeroize` feature).
        self.enc.zeroize();
        self.nonce_key.zeroize();
    }
}

impl ZeroizeOnDrop for HeaderKey {}

/// Length of a header key's stored form, `hk_enc || hk_nonce`.
pub(crate) const HEADER_KEY_STORED_LEN: usize = 64;

impl HeaderKey {
    /// The header key `hk` (32 bytes, from `SK` or `KDF_RK`), derived once.
    pub(crate) fn derive(hk: &[u8; 32]) -> Result<Self> {
        let okm = primitives::hkdf_zero_salt::<64>(hk, &[HEADER_INFO])?;
        Self::from_stored(&okm)
    }

    /// [`HeaderKey::derive`], on the heap where it is kept.
    pub(crate) fn boxed(hk: &[u8; 32]) -> Result<Box<Self>> {
        Self::derive(hk).map(Box::new)
    }

    /// From the stored form `hk_enc || hk_nonce`.
    pub(crate) fn from_stored(bytes: &[u8; HEADER_KEY_STORED_LEN]) -> Result<Self> {
        let (enc, nonce_key) = (bytes.first_chunk::<32>(), bytes.last_chunk::<32>());
        match (enc, nonce_key) {
            (Some(enc), Some(nonce_key)) => Ok(HeaderKey {
                enc: *enc,
                nonce_key: *nonce_key,
                cipher: OnceLock::new(),
                nonce_mac: OnceLock::new(),
            }),
            _ => Err(Error::Internal("header key length")),
        }
    }

    /// The stored form `hk_enc || hk_nonce`.
    pub(crate) fn to_stored(&self) -> zeroize::Zeroizing<[u8; HEADER_KEY_STORED_LEN]> {
        let mut out = zeroize::Zeroizing::new([0u8; HEADER_KEY_STORED_LEN]);
        let (enc, nonce_key) = out.split_at_mut(32);
        enc.copy_from_slice(&self.enc);
        nonce_key.copy_from_slice(&self.nonce_key);
        out
    }

    /// AES-256-GCM keyed with `hk_enc`, set up on first use.
    fn cipher(&self) -> &Gcm {
        self.cipher.get_or_init(|| Gcm::new(&self.enc))
    }

    /// `h_nonce = HMAC(hk_nonce, header)[0..12]`.
    fn h_nonce(&self, header: &[u8; HEADER_LEN]) -> [u8; 12] {
        let mac = self.nonce_mac.get_or_init(|| HmacKey::new(&self.nonce_key));
        let mac = mac.mac(header);
        mac.first_chunk::<12>().copied().unwrap_or([0; 12])
    }

    /// Seal `header`: `h_nonce || ciphertext || tag`.
    pub(crate) fn seal(
        &self,
        ad: &[u8; 64],
        header: &[u8; HEADER_LEN],
    ) -> Result<[u8; ENC_HEADER_LEN]> {
        let nonce = self.h_nonce(header);
        let mut sealed = *header;
        let tag = self.cipher().seal_in_place(&nonce, ad, &mut sealed)?;
        let mut out = [0u8; ENC_HEADER_LEN];
        let (n, rest) = out.split_at_mut(12);
        let (body, t) = rest.split_at_mut(HEADER_LEN);
        n.copy_from_slice(&nonce);
        body.copy_from_slice(&sealed);
        t.copy_from_slice(&tag);
        Ok(out)
    }

    /// Open an encrypted header. `None` if it does not authenticate under this key (the
    /// caller tries the next key); `Err` if it does but its `h_nonce` is not the one this
    /// header derives, which is final for the message.
    pub(crate) fn open(
        &self,
        ad: &[u8; 64],
        enc_header: &[u8; ENC_HEADER_LEN],
    ) -> Option<Result<[u8; HEADER_LEN]>> {
        let (nonce, sealed) = enc_header.split_first_chunk::<12>()?;
        let (ciphertext, tag) = sealed.split_first_chunk::<HEADER_LEN>()?;
        let tag: &[u8; TAG_LEN] = tag.try_into().ok()?;
        let mut header = *ciphertext;
        self.cipher()
            .open_in_place(nonce, ad, &mut header, tag)
            .ok()?;
        let expected = self.h_nonce(&header);
        match bool::from(expected.ct_eq(nonce)) {
            true => Some(Ok(header)),
            false => Some(Err(Error::DecryptionFailed)),
        }
    }

    /// Whether `self` and `other` are the same key (constant time).
    pub(crate) fn same_as(&self, other: &HeaderKey) -> bool {
        bool::from(self.enc.ct_eq(&other.enc) & self.nonce_key.ct_eq(&other.nonce_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_header_opens_under_its_key_only() {
        let ad = [7u8; 64];
        let header = [0x11u8; HEADER_LEN];
        let key = HeaderKey::derive(&[1u8; 32]).unwrap();
        let other = HeaderKey::derive(&[2u8; 32]).unwrap();
        let sealed = key.seal(&ad, &header).unwrap();
        assert_eq!(key.open(&ad, &sealed).unwrap().unwrap(), header);
        assert!(other.open(&ad, &sealed).is_none());
        assert!(key.open(&[8u8; 64], &sealed).is_none());
        let stored = key.to_stored();
        assert!(HeaderKey::from_stored(&stored).unwrap().same_as(&key));
        assert!(!other.same_as(&key));
    }
}
