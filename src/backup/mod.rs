//! Encrypted backups (in progress: see issue 5).
//!
//! [`ChunkedWriter`] and [`ChunkedReader`] implement C2SP chunked encryption v1 as
//! Cobblestone-256, the encryption of backup files.

mod chunked;
mod error;

pub use chunked::{ChunkedReader, ChunkedWriter, InputKey};
pub use error::BackupError;
