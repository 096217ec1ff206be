//! Backup files: the keylink [`BackupHeader`] followed by one chunked-encryption message under
//! the file key, with the header's bytes as context.

use std::io::{self, Read, Write};

use super::chunked::{ChunkedReader, ChunkedWriter, InputKey, Prelude};
use super::error::BackupError;
use super::header::BackupHeader;
use super::keys::{BackupId, BackupKey};

/// Writes one backup file: [`Write`] the application's backup data into it, then call
/// [`BackupWriter::finish`]. Memory use is one 16 KiB chunk whatever the size.
///
/// A writer dropped without `finish` leaves a file that restores fail on as truncated.
pub struct BackupWriter<W: Write> {
    inner: ChunkedWriter<W>,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup of `account_id`'s data under `key`: writes the header, the salt and the
    /// key commitment to `inner`.
    pub fn new(inner: W, key: &BackupKey, account_id: &[u8]) -> Result<Self, BackupError> {
        let inner = start_file(inner, &key.file_key(), key.backup_id(account_id))?;
        Ok(BackupWriter { inner })
    }

    /// Ends the backup (writes the final chunk), flushes, and returns the inner writer.
    pub fn finish(self) -> Result<W, BackupError> {
        self.inner.finish()
    }
}

impl<W: Write> Write for BackupWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads one backup file back: a [`Read`] of the application's backup data.
///
/// [`BackupReader::new`] checks the header and the key before anything else. Reading then
/// releases the data chunk by chunk, each only after it authenticated; a damaged, reordered,
/// truncated or extended file makes a read fail with an `io::Error` that carries a
/// [`BackupError`] (get it with `BackupError::from(io_error)`), and every read after that
/// fails too. Data already read before the error came from authenticated chunks, but the
/// backup as a whole is not valid: discard it.
pub struct BackupReader<R: Read> {
    inner: ChunkedReader<R>,
}

impl<R: Read> BackupReader<R> {
    /// Opens the backup in `inner` with `key` for `account_id`.
    ///
    /// Fails with [`BackupError::WrongKey`] when the key is not this backup's,
    /// [`BackupError::WrongAccount`] when it is but the backup belongs to another account,
    /// [`BackupError::HeaderChanged`] when the header was altered, and with
    /// [`BackupError::NotABackup`], [`BackupError::UnknownVersion`] or
    /// [`BackupError::Truncated`] for files that are not (whole) backups.
    pub fn new(inner: R, key: &BackupKey, account_id: &[u8]) -> Result<Self, BackupError> {
        let inner = open_file(inner, &key.file_key(), key.backup_id(account_id))?;
        Ok(BackupReader { inner })
    }
}

/// Starts a file in the backup file format (a [`BackupHeader`] with `id`, then one
/// chunked-encryption message under `key` with the header as context, fresh random salt):
/// writes the header, the salt and the commitment to `inner`. Backups and link history files
/// share it.
pub(crate) fn start_file<W: Write>(
    mut inner: W,
    key: &InputKey,
    id: BackupId,
) -> Result<ChunkedWriter<W>, BackupError> {
    let header = BackupHeader::new(id).to_bytes();
    inner.write_all(&header)?;
    ChunkedWriter::new(inner, key, &header)
}

/// [`start_file`] with a given salt: deterministic, for test vectors only. A salt must never
/// repeat under one key.
#[cfg(any(test, feature = "hazmat", feature = "fuzzing"))]
pub(crate) fn start_file_with_salt<W: Write>(
    mut inner: W,
    key: &InputKey,
    id: BackupId,
    salt: [u8; crate::constants::CHUNKED_SALT_LEN],
) -> Result<ChunkedWriter<W>, BackupError> {
    let header = BackupHeader::new(id).to_bytes();
    inner.write_all(&header)?;
    ChunkedWriter::with_salt(inner, key, &header, salt)
}

/// Opens a file in the backup file format whose header should carry `expected`, under `key`:
/// reads the header, the salt and the commitment and checks them before any chunk is read.
///
/// Fails with [`BackupError::WrongKey`] when `key` is not the file's,
/// [`BackupError::WrongAccount`] when it is but the header's id is not `expected`,
/// [`BackupError::HeaderChanged`] when the header was altered, and with the errors of
/// [`BackupHeader::read_from`] and [`BackupError::Truncated`] for files that are not (whole)
/// files of this format.
pub(crate) fn open_file<R: Read>(
    mut inner: R,
    key: &InputKey,
    expected: BackupId,
) -> Result<ChunkedReader<R>, BackupError> {
    let header = BackupHeader::read_from(&mut inner)?;
    let prelude = Prelude::read_from(&mut inner)?;
    let Some(keys) = prelude.open(key, &header.to_bytes()) else {
        return Err(why_not_opened(&header, expected, &prelude, key));
    };
    if header.backup_id() != expected {
        return Err(BackupError::WrongAccount);
    }
    Ok(ChunkedReader::from_keys(inner, keys))
}

/// Why the commitment failed: if the key is this backup's (its id matches, or the commitment
/// holds once the expected id is put back) the header was altered, otherwise the key is wrong.
fn why_not_opened(
    header: &BackupHeader,
    expected: BackupId,
    prelude: &Prelude,
    file_key: &InputKey,
) -> BackupError {
    let restored = BackupHeader::new(expected).to_bytes();
    if header.backup_id() == expected || prelude.open(file_key, &restored).is_some() {
        BackupError::HeaderChanged
    } else {
        BackupError::WrongKey
    }
}

impl<R: Read> Read for BackupReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.inner.read(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/PROTOCOL.md (section 9) (computed independently there): entropy
    /// 00 01 .. 1f, account id "alice", salt 24 x 0x11, plaintext "hello, backup".
    #[test]
    fn worked_example_matches_the_protocol_document() {
        let entropy: Vec<u8> = (0u8..32).collect();
        let key = BackupKey::from_entropy(&entropy);
        let header = BackupHeader::new(key.backup_id(b"alice")).to_bytes();
        let mut w = ChunkedWriter::with_salt(header.to_vec(), &key.file_key(), &header, [0x11; 24])
            .unwrap();
        w.write_all(b"hello, backup").unwrap();
        let file = w.finish().unwrap();
        let hex: String = file.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                "4b4c4241434b5550018b6484ef9448e23666205e8b445e0d99",
                "111111111111111111111111111111111111111111111111",
                "f2db0261943f370d895e2783c9935b1b9dbe7fdaf507a6bfce84c6fcb746d1ea",
                "ee4e1bffd0490ff46cee83f5975d510e2a1c7c60198a57e8ec5cf5fe3f"
            )
        );
        let mut out = Vec::new();
        BackupReader::new(&file[..], &key, b"alice")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello, backup");
    }
}
