//! The link handshake's transcript and key schedule (PROTOCOL.md §12.3), shared by both
//! sides:
//!
//! ```text
//! th = SHA-256("keylink v1 link transcript" || flow || E_C.public || K_C || IK_dev
//!              || E_P.public || CT)
//! k_pc || k_cp || conf_p || conf_c = HKDF(LS, X25519(E_P, E_C) || SS, "keylink v1 link" || th, 128)
//! ```
//!
//! Each direction seals exactly one payload, so its counter is 0 and its nonce twelve zero
//! bytes; the keys are used for nothing else.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::LinkSecret;
use crate::constants::{
    LINK_FLOW_CODE, LINK_FLOW_QR, LINK_KEYS_INFO, LINK_KEYS_LEN, LINK_PAYLOAD_ACCOUNT,
    LINK_PAYLOAD_DEVICE, LINK_TRANSCRIPT_LABEL,
};
use crate::error::{Error, Result};
use crate::keys::{IdentityKey, KemCiphertext, KemPublicKey, PublicKey};
use crate::primitives::{aead_open, aead_seal, hkdf_into, hmac};

/// The link transcript hash `th`.
pub(crate) type Transcript = [u8; 32];

/// Which way the two devices got their link secret: the transcript's `flow` byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// A scanned QR code.
    Qr,
    /// A typed code and CPace.
    Code,
}

impl Flow {
    fn byte(self) -> u8 {
        match self {
            Flow::Qr => LINK_FLOW_QR,
            Flow::Code => LINK_FLOW_CODE,
        }
    }
}

/// The public values the transcript hash binds, in its order.
pub(crate) struct TranscriptInput<'a> {
    pub flow: Flow,
    pub companion_ephemeral: &'a PublicKey,
    pub kem_key: &'a KemPublicKey,
    pub device_identity: &'a IdentityKey,
    pub primary_ephemeral: &'a PublicKey,
    pub kem_ciphertext: &'a KemCiphertext,
}

impl TranscriptInput<'_> {
    /// `th`.
    pub(crate) fn hash(&self) -> Transcript {
        Sha256::new()
            .chain_update(LINK_TRANSCRIPT_LABEL)
            .chain_update([self.flow.byte()])
            .chain_update(self.companion_ephemeral.as_bytes())
            .chain_update(self.kem_key.as_bytes())
            .chain_update(self.device_identity.as_bytes())
            .chain_update(self.primary_ephemeral.as_bytes())
            .chain_update(self.kem_ciphertext.as_bytes())
            .finalize()
            .into()
    }
}

/// The four keys of one link run and its transcript. Zeroized on drop.
pub(crate) struct LinkKeys {
    okm: Zeroizing<[u8; LINK_KEYS_LEN]>,
    transcript: Transcript,
}

impl LinkKeys {
    /// `HKDF(LS, dh || ss, "keylink v1 link" || th, 128)`.
    pub(crate) fn derive(
        secret: &LinkSecret,
        dh: &[u8; 32],
        ss: &[u8; 32],
        transcript: Transcript,
    ) -> Result<Self> {
        let mut ikm = Zeroizing::new([0u8; 64]);
        let (left, right) = ikm.split_at_mut(32);
        left.copy_from_slice(dh);
        right.copy_from_slice(ss);
        let mut okm = Zeroizing::new([0u8; LINK_KEYS_LEN]);
        hkdf_into(
            secret.as_bytes(),
            ikm.as_ref(),
            &[LINK_KEYS_INFO, &transcript],
            okm.as_mut(),
        )?;
        Ok(LinkKeys { okm, transcript })
    }

    /// The 128 bytes `k_pc || k_cp || conf_p || conf_c` (test vectors).
    #[cfg(feature = "hazmat")]
    pub(crate) fn okm(&self) -> &[u8; LINK_KEYS_LEN] {
        &self.okm
    }

    /// The transcript hash `th`.
    pub(crate) fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The `index`-th 32-byte key of the output.
    fn key(&self, index: usize) -> Result<&[u8; 32]> {
        self.okm
            .chunks_exact(32)
            .nth(index)
            .and_then(|k| k.try_into().ok())
            .ok_or(Error::Internal("link key index"))
    }

    /// `HMAC(conf_p, th)`, the primary's confirmation.
    pub(crate) fn primary_confirmation(&self) -> Result<Zeroizing<[u8; 32]>> {
        Ok(hmac(self.key(2)?, &self.transcript))
    }

    /// `HMAC(conf_c, th)`, the companion's confirmation.
    pub(crate) fn companion_confirmation(&self) -> Result<Zeroizing<[u8; 32]>> {
        Ok(hmac(self.key(3)?, &self.transcript))
    }

    /// Whether `received` is the primary's confirmation (constant time).
    pub(crate) fn is_primary_confirmation(&self, received: &[u8]) -> Result<bool> {
        Ok(self.primary_confirmation()?.ct_eq(received).into())
    }

    /// Whether `received` is the companion's confirmation (constant time).
    pub(crate) fn is_companion_confirmation(&self, received: &[u8]) -> Result<bool> {
        Ok(self.companion_confirmation()?.ct_eq(received).into())
    }

    /// The primary's account payload, sealed under `k_pc`.
    pub(crate) fn seal_account(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal(0, LINK_PAYLOAD_ACCOUNT, plaintext)
    }

    /// Opens the primary's account payload on the companion.
    pub(crate) fn open_account(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open(0, LINK_PAYLOAD_ACCOUNT, sealed)
    }

    /// The companion's device signature, sealed under `k_cp`.
    pub(crate) fn seal_device(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal(1, LINK_PAYLOAD_DEVICE, plaintext)
    }

    /// Opens the companion's device signature on the primary.
    pub(crate) fn open_device(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.open(1, LINK_PAYLOAD_DEVICE, sealed)
    }

    /// AES-256-GCM under key `index` with counter 0 (the one payload of its direction) and
    /// `aad = th || u8(payload type)`.
    fn seal(&self, index: usize, payload: u8, plaintext: &[u8]) -> Result<Vec<u8>> {
        aead_seal(
            self.key(index)?,
            &[0u8; 12],
            &[self.transcript.as_slice(), &[payload]],
            plaintext,
        )
    }

    fn open(&self, index: usize, payload: u8, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        aead_open(
            self.key(index)?,
            &[0u8; 12],
            &[self.transcript.as_slice(), &[payload]],
            sealed,
        )
        .map(Zeroizing::new)
    }
}
