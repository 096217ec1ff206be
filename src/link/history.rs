//! History sync (PROTOCOL.md §12.4): the primary sends the new companion its contacts and
//! message history as one file in the backup file format (§9.4), under a [`HistoryKey`] that
//! only this link knows.
//!
//! ```text
//! input key = HKDF(0^32, history key, "keylink v1 history", 32)
//! id        = HKDF(0^32, history key, "keylink v1 history id" || th, 16)
//! file      = "KLBACKUP" || 0x01 || id || Cobblestone-256(input key, context = those 25 bytes)
//! ```
//!
//! `th` is the link handshake's transcript hash, so a file made for another link (another
//! history key, or the same key bytes under another transcript) is refused at its header.

use core::fmt;
#[cfg(feature = "backup")]
use std::io::{self, Read, Write};

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

#[cfg(feature = "backup")]
use crate::backup::{
    BACKUP_ID_LEN, BackupError, BackupId, ChunkedReader, ChunkedWriter, InputKey, open_file,
    start_file,
};
#[cfg(feature = "backup")]
use crate::constants::{HISTORY_FILE_INFO, HISTORY_ID_INFO};

/// The key of one link's history file: the 32-byte history key the primary draws and sends
/// the companion inside the encrypted link payload, and the link's 32-byte transcript hash
/// `th`, which ties the file to this link and no other.
///
/// Both sides hold one at the end of a link: the primary encrypts the history with
/// [`writer`](Self::writer), the companion decrypts it with [`reader`](Self::reader). The key
/// is zeroized on drop and never printed by `Debug`; the transcript hash is public.
///
/// ```
/// # #[cfg(all(feature = "hazmat", feature = "backup"))] {
/// use std::io::{Read, Write};
/// use keylink::backup::BackupError;
///
/// // The linking code gives each side its `HistoryKey`; a test builds one from fixed bytes.
/// let primary = keylink::hazmat::history_key([7; 32], [9; 32]);
/// let mut writer = primary.writer(Vec::new())?;
/// writer.write_all(b"contacts and messages")?;
/// let file = writer.finish()?;
///
/// let companion = keylink::hazmat::history_key([7; 32], [9; 32]);
/// let mut history = Vec::new();
/// companion.reader(&file[..])?.read_to_end(&mut history)?;
/// assert_eq!(history, b"contacts and messages");
///
/// // The same key bytes under another link's transcript do not open it.
/// let other_link = keylink::hazmat::history_key([7; 32], [8; 32]);
/// assert!(matches!(other_link.reader(&file[..]), Err(BackupError::WrongLink)));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct HistoryKey {
    key: [u8; 32],
    #[zeroize(skip)]
    transcript: [u8; 32],
}

impl HistoryKey {
    /// Length in bytes of the history key (and of the transcript hash).
    pub const LEN: usize = 32;

    /// The history key `key` received in (or sent with) the link payload of the link whose
    /// transcript hash is `transcript`.
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, transcript: [u8; 32]) -> Self {
        HistoryKey {
            key: *key,
            transcript,
        }
    }

    /// A fresh random history key for the link with transcript hash `transcript` (the
    /// primary's side).
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, transcript: [u8; 32]) -> Self {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        rng.fill_bytes(key.as_mut());
        Self::new(key, transcript)
    }

    /// The 32 key bytes, for the link payload that carries them to the companion.
    pub(crate) fn key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The transcript hash `th` of the link this key belongs to.
    pub fn transcript(&self) -> &[u8; 32] {
        &self.transcript
    }
}

#[cfg(feature = "backup")]
impl HistoryKey {
    /// Starts the history file in `inner`: writes its header, a fresh random salt and the key
    /// commitment. [`Write`] the history into the returned writer, then call
    /// [`HistoryWriter::finish`].
    ///
    /// Fails with [`BackupError::Random`] if the system's generator fails, and with
    /// [`BackupError::Io`] if `inner` does.
    pub fn writer<W: Write>(&self, inner: W) -> Result<HistoryWriter<W>, BackupError> {
        let inner = start_file(inner, &self.input_key(), self.file_id())?;
        Ok(HistoryWriter { inner })
    }

    /// Opens the history file in `inner`, checking its header, salt and key commitment before
    /// anything is read.
    ///
    /// Fails with [`BackupError::WrongLink`] when the file was made for another link (another
    /// history key, or another transcript hash) or is not a history file (a backup, for
    /// example), [`BackupError::HeaderChanged`] when its header was altered, and with
    /// [`BackupError::NotABackup`], [`BackupError::UnknownVersion`] or
    /// [`BackupError::Truncated`] for files that are not (whole) files of the backup format.
    pub fn reader<R: Read>(&self, inner: R) -> Result<HistoryReader<R>, BackupError> {
        let inner = open_file(inner, &self.input_key(), self.file_id()).map_err(|e| match e {
            BackupError::WrongKey | BackupError::WrongAccount => BackupError::WrongLink,
            other => other,
        })?;
        Ok(HistoryReader { inner })
    }

    /// [`writer`](Self::writer) with a given salt: deterministic, for test vectors only.
    #[cfg(any(test, feature = "hazmat", feature = "fuzzing"))]
    pub(crate) fn writer_with_salt<W: Write>(
        &self,
        inner: W,
        salt: [u8; crate::constants::CHUNKED_SALT_LEN],
    ) -> Result<HistoryWriter<W>, BackupError> {
        let inner =
            crate::backup::start_file_with_salt(inner, &self.input_key(), self.file_id(), salt)?;
        Ok(HistoryWriter { inner })
    }

    /// The chunked-encryption input key: `HKDF(0^32, history key, "keylink v1 history", 32)`.
    pub(crate) fn input_key(&self) -> InputKey {
        InputKey::from(*hkdf::<32>(&self.key, &[HISTORY_FILE_INFO]))
    }

    /// The id in the file's header:
    /// `HKDF(0^32, history key, "keylink v1 history id" || th, 16)`.
    pub(crate) fn file_id(&self) -> BackupId {
        BackupId::from(*hkdf::<BACKUP_ID_LEN>(
            &self.key,
            &[HISTORY_ID_INFO, &self.transcript],
        ))
    }
}

/// `HKDF(0^32, ikm, info, N)` with HKDF-SHA256 for the short outputs above.
#[cfg(feature = "backup")]
fn hkdf<const N: usize>(ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32) };
    // Cannot fail: N is at most 255 blocks, checked at compile time above.
    crate::primitives::hkdf_zero_salt::<N>(ikm, info).unwrap_or_else(|_| Zeroizing::new([0u8; N]))
}

impl fmt::Debug for HistoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HistoryKey(<redacted>)")
    }
}

/// Writes one link's history file: [`Write`] the history into it, then call
/// [`HistoryWriter::finish`]. Memory use is one 16 KiB chunk whatever the size, as for
/// backups.
///
/// A writer dropped without `finish` leaves a file that the companion rejects as truncated.
#[cfg(feature = "backup")]
pub struct HistoryWriter<W: Write> {
    inner: ChunkedWriter<W>,
}

#[cfg(feature = "backup")]
impl<W: Write> HistoryWriter<W> {
    /// Ends the file (writes the final chunk), flushes, and returns the inner writer.
    pub fn finish(self) -> Result<W, BackupError> {
        self.inner.finish()
    }
}

#[cfg(feature = "backup")]
impl<W: Write> Write for HistoryWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads one link's history file back: a [`Read`] of the history.
///
/// [`HistoryKey::reader`] checks the header and the key before anything else. Reading then
/// releases the history chunk by chunk, each only after it authenticated; a damaged,
/// reordered, truncated or extended file makes a read fail with an `io::Error` that carries a
/// [`BackupError`] (get it with `BackupError::from(io_error)`), and every read after that
/// fails too. Data read before the error came from authenticated chunks, but the history as a
/// whole is not valid: discard it.
///
/// The file is in the backup file format, so its errors are the backup file's (their messages
/// speak of a backup file); only [`BackupError::WrongLink`] is the history file's own.
#[cfg(feature = "backup")]
pub struct HistoryReader<R: Read> {
    inner: ChunkedReader<R>,
}

#[cfg(feature = "backup")]
impl<R: Read> Read for HistoryReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.inner.read(out)
    }
}

#[cfg(all(test, feature = "backup"))]
mod tests {
    use super::*;
    use crate::backup::BackupHeader;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key() -> HistoryKey {
        HistoryKey::new(Zeroizing::new([7; 32]), [9; 32])
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key()), "HistoryKey(<redacted>)");
    }

    #[test]
    fn generated_keys_differ_and_keep_the_transcript() {
        let mut rng = crate::os_rng();
        let (a, b) = (
            HistoryKey::generate(&mut rng, [1; 32]),
            HistoryKey::generate(&mut rng, [1; 32]),
        );
        assert_ne!(a.key_bytes(), b.key_bytes());
        assert_eq!(a.transcript(), &[1; 32]);
    }

    #[test]
    fn derivations_are_the_documented_ones() {
        let k = key();
        let okm = |info: &[&[u8]], len| {
            let mut out = vec![0u8; len];
            crate::primitives::hkdf_into(&[0; 32], &[7; 32], info, &mut out).unwrap();
            out
        };
        assert_eq!(
            k.input_key().as_bytes().to_vec(),
            okm(&[b"keylink v1 history"], 32)
        );
        assert_eq!(
            k.file_id().as_bytes().to_vec(),
            okm(&[b"keylink v1 history id", &[9; 32]], 16)
        );
    }

    #[test]
    fn the_header_carries_the_history_id() {
        let file = key().writer(Vec::new()).unwrap().finish().unwrap();
        let header = BackupHeader::read_from(&mut &file[..]).unwrap();
        assert_eq!(header.backup_id(), key().file_id());
        assert_eq!(hex(&file[..9]), "4b4c4241434b555001");
    }

    /// The worked example of PROTOCOL.md §12.4 (computed independently there): history key
    /// 00 01 .. 1f, th 20 21 .. 3f, salt 24 x 0x11, plaintext "hello, history".
    #[test]
    fn worked_example_matches_the_protocol_document() {
        let k = HistoryKey::new(
            Zeroizing::new(core::array::from_fn(|i| i as u8)),
            core::array::from_fn(|i| 0x20 + i as u8),
        );
        let mut w = k.writer_with_salt(Vec::new(), [0x11; 24]).unwrap();
        w.write_all(b"hello, history").unwrap();
        let file = w.finish().unwrap();
        assert_eq!(
            hex(&file),
            concat!(
                "4b4c4241434b55500194934f4e9399b40d07c8aa16f444b82c",
                "111111111111111111111111111111111111111111111111",
                "1024d267437247ba160036d7db1d8a3fbc5c798bd491152f7112490c071ede00",
                "628974fa2e23f8121510c6de44d49b357109e05f0c85141e26eca727c741"
            )
        );
        let mut out = Vec::new();
        k.reader(&file[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello, history");
    }

    #[test]
    fn the_transcript_separates_links() {
        let other = HistoryKey::new(Zeroizing::new([7; 32]), [8; 32]);
        assert_ne!(other.file_id(), key().file_id());
        assert_eq!(other.input_key().as_bytes(), key().input_key().as_bytes());
    }
}
