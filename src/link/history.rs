//! TEMPORARY stub, replaced by the history branch at merge.
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// History key (stub).
pub struct HistoryKey {
    key: Zeroizing<[u8; 32]>,
    transcript: [u8; 32],
}

impl HistoryKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, transcript: [u8; 32]) -> Self {
        HistoryKey { key, transcript }
    }
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, transcript: [u8; 32]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        HistoryKey { key, transcript }
    }
    pub(crate) fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }
    /// th.
    pub fn transcript(&self) -> &[u8; 32] {
        &self.transcript
    }
}

impl core::fmt::Debug for HistoryKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HistoryKey(<redacted>)")
    }
}
