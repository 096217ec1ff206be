//! The keys derived from a recovery code: the `BackupKey`, the public `BackupId`, the input key
//! of backup files, and the application's own domain-separated keys.
//!
//! ```text
//! BackupKey = HKDF(0^32, entropy,   "keylink v1 backup key", 32)
//! BackupId  = HKDF(0^32, BackupKey, "keylink v1 backup id" || account id, 16)
//! file key  = HKDF(0^32, BackupKey, "keylink v1 backup file", 32)
//! app key   = HKDF(0^32, BackupKey, "keylink v1 app key " || label, L)
//! ```

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::chunked::InputKey;
use super::error::BackupError;
use crate::constants::{BACKUP_APP_KEY_INFO, BACKUP_FILE_INFO, BACKUP_ID_INFO, BACKUP_KEY_INFO};
use crate::primitives;

/// Length of a [`BackupId`] in bytes.
pub const BACKUP_ID_LEN: usize = 16;
/// Longest application key [`BackupKey::app_key`] derives (255 HKDF-SHA256 blocks).
pub const MAX_APP_KEY_LEN: usize = 255 * 32;

/// The key every backup of one user is encrypted under, derived from the recovery code.
///
/// It is what the password envelope wraps; it never leaves the device except inside one.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupKey([u8; 32]);

/// The public name of a user's backups: `HKDF(0^32, BackupKey, "keylink v1 backup id" ||
/// account id, 16)`. It is written in the clear into each backup file's header, so a server
/// can file backups without learning anything about the key.
#[derive(Clone, Copy, Eq)]
pub struct BackupId([u8; BACKUP_ID_LEN]);

/// A key the application derived from the [`BackupKey`] for its own use (for example to
/// encrypt a media-attachment store), separated from keylink's keys and from every other
/// label by [`BackupKey::app_key`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AppKey(Vec<u8>);

impl BackupKey {
    pub(crate) fn from_entropy(entropy: &[u8]) -> Self {
        BackupKey(*hkdf::<32>(entropy, &[BACKUP_KEY_INFO]))
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        BackupKey(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id of this key's backups for the account `account_id`: the application's stable
    /// account identifier as bytes (for example a UUID's 16 bytes), appended to the label
    /// as-is.
    pub fn backup_id(&self, account_id: &[u8]) -> BackupId {
        BackupId(*hkdf::<BACKUP_ID_LEN>(
            &self.0,
            &[BACKUP_ID_INFO, account_id],
        ))
    }

    /// Derives `len` bytes for the application under `label`:
    /// `HKDF(0^32, BackupKey, "keylink v1 app key " || label, len)`.
    ///
    /// Different labels give independent keys; use one fixed label per purpose, e.g.
    /// `"media v1"`. Fails on an empty label or a length of 0 or above [`MAX_APP_KEY_LEN`].
    pub fn app_key(&self, label: &str, len: usize) -> Result<AppKey, BackupError> {
        if label.is_empty() {
            return Err(BackupError::InvalidParameter("the app-key label is empty"));
        }
        if len == 0 || len > MAX_APP_KEY_LEN {
            return Err(BackupError::InvalidParameter(
                "an app key has 1 to 8160 bytes",
            ));
        }
        let mut okm = AppKey(vec![0u8; len]);
        hkdf_into(
            &self.0,
            &[BACKUP_APP_KEY_INFO, label.as_bytes()],
            &mut okm.0,
        )?;
        Ok(okm)
    }

    /// The input key of the chunked encryption of backup files.
    pub(crate) fn file_key(&self) -> InputKey {
        InputKey::from(*hkdf::<32>(&self.0, &[BACKUP_FILE_INFO]))
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

impl BackupId {
    /// The id's 16 bytes.
    pub fn as_bytes(&self) -> &[u8; BACKUP_ID_LEN] {
        &self.0
    }
}

impl From<[u8; BACKUP_ID_LEN]> for BackupId {
    fn from(bytes: [u8; BACKUP_ID_LEN]) -> Self {
        BackupId(bytes)
    }
}

impl PartialEq for BackupId {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for BackupId {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupId({self})")
    }
}

impl AppKey {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppKey(<redacted>, {} bytes)", self.0.len())
    }
}

/// `HKDF(0^32, ikm, info, N)` with HKDF-SHA256; `info` is the concatenation of its parts.
fn hkdf<const N: usize>(ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= MAX_APP_KEY_LEN) };
    // Cannot fail: N is at most 255 blocks, checked at compile time above.
    primitives::hkdf_zero_salt::<N>(ikm, info).unwrap_or_else(|_| Zeroizing::new([0u8; N]))
}

/// `HKDF(0^32, ikm, info, okm.len())` into `okm`.
fn hkdf_into(ikm: &[u8], info: &[&[u8]], okm: &mut [u8]) -> Result<(), BackupError> {
    primitives::hkdf_into(&[0u8; 32], ikm, info, okm)
        .map_err(|_| BackupError::InvalidParameter("an HKDF output has 1 to 8160 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BackupKey {
        BackupKey::from_entropy(&[7u8; 32])
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "BackupKey(<redacted>)");
        let app = key().app_key("media v1", 32).unwrap();
        assert_eq!(format!("{app:?}"), "AppKey(<redacted>, 32 bytes)");
    }

    #[test]
    fn backup_id_depends_on_account() {
        let k = key();
        assert_ne!(k.backup_id(b"alice"), k.backup_id(b"bob"));
        assert_eq!(k.backup_id(b"alice"), k.backup_id(b"alice"));
    }

    #[test]
    fn app_keys_are_separated_by_label() {
        let k = key();
        let a = k.app_key("media v1", 32).unwrap();
        let b = k.app_key("media v2", 32).unwrap();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), k.file_key().as_bytes());
    }

    #[test]
    fn app_key_rejects_bad_requests() {
        let k = key();
        assert!(k.app_key("", 32).is_err());
        assert!(k.app_key("x", 0).is_err());
        assert!(k.app_key("x", MAX_APP_KEY_LEN + 1).is_err());
        assert_eq!(
            k.app_key("x", MAX_APP_KEY_LEN).unwrap().as_bytes().len(),
            8160
        );
    }

    #[test]
    fn derivations_match_the_protocol_document() {
        // Worked example of docs/PROTOCOL.md (section 9): entropy = 00 01 .. 1f, account id "alice".
        let entropy: Vec<u8> = (0u8..32).collect();
        let k = BackupKey::from_entropy(&entropy);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(k.as_bytes()),
            "ac0768468429c20bea0dc41cc4d92b7e0c0fae42193c17b136cef8a241f0cc84"
        );
        assert_eq!(
            k.backup_id(b"alice").to_string(),
            "8b6484ef9448e23666205e8b445e0d99"
        );
        assert_eq!(
            hex(k.file_key().as_bytes()),
            "af144f0f7ee9a7212318a637bd00aac44c9d589163fa01215624160ff9705504"
        );
        assert_eq!(
            hex(k.app_key("media v1", 32).unwrap().as_bytes()),
            "c5e5cf5d6e05e77e3f23bd3a78ca45e0b339bd76093f3fe3bff0af8a9b3cec0f"
        );
    }
}
