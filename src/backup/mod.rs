//! Encrypted backups that only their owner can open, with a recovery code or a password.
//!
//! The application's backup data (messages, media, settings) is opaque bytes here and may be
//! many GiB: it is streamed through [`BackupWriter`] and [`BackupReader`] in 16 KiB chunks.
//! Ratchet session state is never part of a backup: restoring it would reuse message keys.
//!
//! - [`RecoveryCode`]: 256 bits of entropy the user writes down; [`RecoveryCode::backup_key`]
//!   derives the [`BackupKey`], and [`BackupKey::backup_id`] the public [`BackupId`].
//! - [`BackupWriter`] / [`BackupReader`]: a backup file is a [`BackupHeader`] followed by one
//!   C2SP chunked-encryption message (Cobblestone-256, [`ChunkedWriter`] /
//!   [`ChunkedReader`]) bound to that header.
//! - [`PasswordEnvelope`]: the `BackupKey` wrapped under an Argon2id key from a password,
//!   stored apart from the backup files, so changing the password touches no backup.
//!
//! The byte layouts and every label are in `docs/PROTOCOL.md (section 9)`.
//!
//! ```
//! use std::io::{Read, Write};
//! use keylink::backup::{BackupReader, BackupWriter, RecoveryCode};
//!
//! let code = RecoveryCode::generate()?;
//! let shown = code.to_display_string(); // for the user to write down
//!
//! let mut writer = BackupWriter::new(Vec::new(), &code.backup_key(), b"account-1")?;
//! writer.write_all(b"the app's backup data")?;
//! let file = writer.finish()?;
//!
//! let typed = RecoveryCode::parse(&shown.to_lowercase())?;
//! let mut reader = BackupReader::new(&file[..], &typed.backup_key(), b"account-1")?;
//! let mut restored = Vec::new();
//! reader.read_to_end(&mut restored)?;
//! assert_eq!(restored, b"the app's backup data");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chunked;
mod diagnose;
mod envelope;
mod error;
mod file;
#[cfg(feature = "fuzzing")]
mod fuzz;
mod header;
mod keys;
mod message_keys;
mod recovery_code;
mod rng;

pub use chunked::{ChunkedReader, ChunkedWriter, InputKey};
pub use envelope::{Argon2Limits, Argon2Params, ENVELOPE_LEN, PasswordEnvelope};
pub use error::BackupError;
#[cfg(any(test, feature = "hazmat", feature = "fuzzing"))]
pub(crate) use file::start_file_with_salt;
pub use file::{BackupReader, BackupWriter};
pub(crate) use file::{open_file, start_file};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use fuzz::{fuzz_envelope, fuzz_header, fuzz_history_reader, fuzz_reader, fuzz_recovery_code};
pub use header::{BackupHeader, HEADER_LEN};
pub use keys::{AppKey, BACKUP_ID_LEN, BackupId, BackupKey, MAX_APP_KEY_LEN};
pub use recovery_code::{CODE_LEN, RecoveryCode};
