//! Encrypted backups (in progress: see issue 5).

use core::fmt;

/// What went wrong in a backup operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {}

impl fmt::Display for BackupError {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for BackupError {}
