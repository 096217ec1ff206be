//! The root chain: `KDF_RK(rk, dh) = HKDF(rk, dh, "keylink v1 root", 96) -> rk' || ck || nhk`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::ROOT_INFO;
use crate::error::{Error, Result};
use crate::primitives;
use crate::ratchet::chain_key::ChainKey;
use crate::ratchet::header_key::HeaderKey;

/// The root key of a session.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        RootKey(*bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// One step of the root chain with a fresh DH output: the next root key, a new chain and
    /// the next header key of that direction.
    pub(crate) fn step(&self, dh: &[u8; 32]) -> Result<(RootKey, ChainKey, HeaderKey)> {
        let okm = primitives::hkdf::<96>(&self.0, dh, &[ROOT_INFO])?;
        let (rk, rest) = okm.split_first_chunk::<32>().ok_or(LENGTH)?;
        let (ck, nhk) = rest.split_first_chunk::<32>().ok_or(LENGTH)?;
        let nhk: &[u8; 32] = nhk.try_into().map_err(|_| LENGTH)?;
        Ok((
            RootKey::new(rk),
            ChainKey::new(ck, 0),
            HeaderKey::derive(nhk)?,
        ))
    }
}

const LENGTH: Error = Error::Internal("root chain output length");
