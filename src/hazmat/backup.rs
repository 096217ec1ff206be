//! Deterministic backup constructors for test vectors: a caller-chosen salt or recovery-code
//! entropy. **Not for production use**: a salt that repeats under one key, or entropy that is
//! not uniformly random, breaks the backup's security.

use std::io::Write;

use crate::backup::{BackupError, ChunkedWriter, InputKey, RecoveryCode};
use crate::constants::{CHUNKED_SALT_LEN, CODE_ENTROPY_LEN};
use crate::link::{HistoryKey, HistoryWriter};

/// [`ChunkedWriter::new`] with the salt given instead of drawn from the operating system:
/// deterministic, so a test can reproduce a published ciphertext (Wycheproof's
/// Cobblestone-256 vectors). The salt must never repeat under one key.
pub fn chunked_writer_with_salt<W: Write>(
    inner: W,
    key: &InputKey,
    context: &[u8],
    salt: [u8; CHUNKED_SALT_LEN],
) -> Result<ChunkedWriter<W>, BackupError> {
    ChunkedWriter::with_salt(inner, key, context, salt)
}

/// The [`RecoveryCode`] of the given entropy, instead of fresh entropy from
/// [`RecoveryCode::generate`] (worked examples, test vectors).
pub fn recovery_code_from_entropy(entropy: [u8; CODE_ENTROPY_LEN]) -> RecoveryCode {
    RecoveryCode::from_entropy(entropy)
}

/// [`HistoryKey::writer`] with the salt given instead of drawn from the operating system:
/// deterministic, for the history file's test vectors. The salt must never repeat under one
/// key.
pub fn history_writer_with_salt<W: Write>(
    key: &HistoryKey,
    inner: W,
    salt: [u8; CHUNKED_SALT_LEN],
) -> Result<HistoryWriter<W>, BackupError> {
    key.writer_with_salt(inner, salt)
}
