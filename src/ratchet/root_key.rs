//! The root chain: `KDF_RK(rk, dh) = HKDF(rk, dh, "keylink v1 root", 64) -> rk' || ck`.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::ROOT_INFO;
use crate::error::{Error, Result};
use crate::primitives;
use crate::ratchet::chain_key::ChainKey;

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

    /// One step of the root chain with a fresh DH output: the next root key and a new chain.
    pub(crate) fn step(&self, dh: &[u8; 32]) -> Result<(RootKey, ChainKey)> {
        let okm = primitives::hkdf::<64>(&self.0, dh, &[ROOT_INFO])?;
        match (okm.first_chunk::<32>(), okm.last_chunk::<32>()) {
            (Some(rk), Some(ck)) => Ok((RootKey::new(rk), ChainKey::new(ck, 0))),
            _ => Err(Error::Internal("root chain output length")),
        }
    }
}
