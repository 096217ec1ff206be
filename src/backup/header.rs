//! The keylink header that opens every backup file:
//!
//! ```text
//! magic "KLBACKUP" (8) || version 0x01 (1) || BackupId (16)          = 25 bytes
//! ```
//!
//! These 25 bytes are the context of the file's chunked encryption, so changing any of them
//! makes the key commitment fail.

use std::io::Read;

use super::chunked::read_full;
use super::error::BackupError;
use super::keys::{BACKUP_ID_LEN, BackupId};
use crate::constants::{BACKUP_FILE_MAGIC, BACKUP_FILE_VERSION};

/// Bytes of the header.
pub const HEADER_LEN: usize = BACKUP_FILE_MAGIC.len() + 1 + BACKUP_ID_LEN;

/// The parsed, validated header of a backup file. Reading it needs no key: it tells which
/// backup (by [`BackupId`]) a file belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupHeader {
    backup_id: BackupId,
}

impl BackupHeader {
    /// The header of a backup with id `backup_id`, at the current version.
    pub fn new(backup_id: BackupId) -> Self {
        BackupHeader { backup_id }
    }

    /// The id of the backup this file belongs to.
    pub fn backup_id(&self) -> BackupId {
        self.backup_id
    }

    /// The header's bytes, as written and as bound into the encryption.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields = BACKUP_FILE_MAGIC
            .iter()
            .chain(&[BACKUP_FILE_VERSION])
            .chain(self.backup_id.as_bytes());
        out.iter_mut().zip(fields).for_each(|(o, f)| *o = *f);
        out
    }

    /// Reads and parses the header from the start of a backup file.
    pub fn read_from(r: &mut impl Read) -> Result<Self, BackupError> {
        let mut bytes = [0u8; HEADER_LEN];
        let n = read_full(r, &mut bytes)?;
        Self::try_from(bytes.get(..n).unwrap_or_default())
    }
}

impl TryFrom<&[u8]> for BackupHeader {
    type Error = BackupError;

    /// Parses exactly the header's bytes: a wrong magic is [`BackupError::NotABackup`], an
    /// unknown version [`BackupError::UnknownVersion`], too few bytes
    /// [`BackupError::Truncated`], too many [`BackupError::NotABackup`].
    fn try_from(bytes: &[u8]) -> Result<Self, BackupError> {
        let (magic, rest) = bytes.split_at(bytes.len().min(BACKUP_FILE_MAGIC.len()));
        if !BACKUP_FILE_MAGIC.starts_with(magic) {
            return Err(BackupError::NotABackup);
        }
        let Some((&version, id)) = rest.split_first() else {
            return Err(BackupError::Truncated);
        };
        if version != BACKUP_FILE_VERSION {
            return Err(BackupError::UnknownVersion {
                what: "backup file",
                found: version,
            });
        }
        let id = <[u8; BACKUP_ID_LEN]>::try_from(id).map_err(|_| match id.len() {
            n if n < BACKUP_ID_LEN => BackupError::Truncated,
            _ => BackupError::NotABackup,
        })?;
        Ok(BackupHeader::new(id.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BackupHeader {
        BackupHeader::new([9u8; 16].into())
    }

    #[test]
    fn round_trips() {
        let bytes = header().to_bytes();
        assert_eq!(&bytes[..9], b"KLBACKUP\x01");
        assert_eq!(BackupHeader::try_from(&bytes[..]).unwrap(), header());
    }

    #[test]
    fn rejects_each_kind_of_bad_header() {
        let bytes = header().to_bytes();
        let mut magic = bytes;
        magic[0] = b'X';
        assert!(matches!(
            BackupHeader::try_from(&magic[..]),
            Err(BackupError::NotABackup)
        ));
        let mut version = bytes;
        version[8] = 2;
        assert!(matches!(
            BackupHeader::try_from(&version[..]),
            Err(BackupError::UnknownVersion { found: 2, .. })
        ));
        for cut in [0, 3, 8, 9, 24] {
            assert!(matches!(
                BackupHeader::try_from(&bytes[..cut]),
                Err(BackupError::Truncated)
            ));
        }
    }
}
