//! What can go wrong with a backup, in words the user (or the app showing them) can act on.

use core::fmt;
use std::io;

/// What went wrong in a backup operation.
///
/// Unlike message decryption, backup failures are reported precisely: the data is the user's
/// own, on their own storage, and "which group of my code is mistyped" or "which part of the
/// file is damaged" is what they need to know to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {
    /// The recovery code has the wrong number of characters.
    CodeLength {
        /// Characters found (separators not counted).
        found: usize,
        /// Characters a code has.
        expected: usize,
        /// The first group (1-based) whose check fails, where a character is probably missing
        /// or extra, if one could be found.
        group: Option<usize>,
    },
    /// The recovery code contains a character that is not in its alphabet. The character
    /// itself is not kept: it is most likely a mistyped symbol of the secret, and errors end up
    /// in logs.
    CodeCharacter {
        /// The group (1-based) it is in.
        group: usize,
        /// Its position (1-based) in that group, separators not counted.
        position: usize,
    },
    /// A group of the recovery code fails its check: a character in it is mistyped.
    CodeTypo {
        /// The group (1-based) that fails.
        group: usize,
    },
    /// The recovery code (or the key from the password) is well-formed but does not open this
    /// backup.
    WrongKey,
    /// The key opens this backup, but it was made for a different account id.
    WrongAccount,
    /// A link's history file was opened with the history key of another link (or the file is
    /// not a history file at all, e.g. a backup): its key or its header's id is not this
    /// link's.
    WrongLink,
    /// The password does not open the envelope (or the envelope was altered).
    WrongPassword,
    /// The file does not start like a keylink backup.
    NotABackup,
    /// The file ends early: it was cut short.
    Truncated,
    /// A chunk of the file does not authenticate.
    CorruptedChunk {
        /// Index of the chunk (0-based, in file order).
        index: u64,
        /// The chunk is the last one in the file, so the file may also have been cut short
        /// inside it: the two cannot be told apart.
        last: bool,
    },
    /// A chunk is in the wrong place: chunks were removed, reordered or duplicated.
    ChunkOutOfOrder {
        /// Position (0-based) where the chunk was found.
        index: u64,
        /// Position the chunk was written at.
        belongs_at: u64,
    },
    /// The backup ends properly but more data follows its end.
    DataAfterEnd,
    /// The header of the file was altered (its BackupId, salt or commitment).
    HeaderChanged,
    /// A backup file or envelope carries a version this build does not know (the same concept,
    /// and name, as the core `Error::UnknownVersion`).
    UnknownVersion {
        /// `"backup file"` or `"password envelope"`.
        what: &'static str,
        /// The version byte found.
        found: u8,
    },
    /// Bytes that should be a password envelope are malformed.
    MalformedEnvelope(&'static str),
    /// A password envelope asks for more Argon2id work than the limits it was opened under
    /// allow (by default `Argon2Limits::DEFAULT`); nothing was allocated or hashed.
    EnvelopeAboveLimits {
        /// Memory the envelope asks for, in KiB.
        m_cost_kib: u32,
        /// Passes it asks for.
        t_cost: u32,
        /// Lanes it asks for.
        p_cost: u32,
        /// Most memory allowed, in KiB.
        max_m_cost_kib: u32,
        /// Most passes allowed.
        max_t_cost: u32,
        /// Most lanes allowed.
        max_p_cost: u32,
    },
    /// A key given to chunked encryption has the wrong length.
    InvalidKeyLength {
        /// Bytes given.
        found: usize,
    },
    /// A parameter (Argon2id cost, app-key label or length, password) is out of range.
    InvalidParameter(&'static str),
    /// The backup exceeds the largest size chunked encryption allows (4 PiB).
    TooLarge,
    /// The operating system's random number generator failed.
    Random,
    /// Reading or writing the underlying storage failed.
    Io(io::Error),
}

impl BackupError {
    /// A copy of this error, for a reader or writer that keeps failing after its first error
    /// (`io::Error` is not `Clone`: its kind and message are kept).
    pub(crate) fn duplicate(&self) -> Self {
        use BackupError::*;
        match self {
            Io(e) => Io(io::Error::new(e.kind(), e.to_string())),
            &CodeLength {
                found,
                expected,
                group,
            } => CodeLength {
                found,
                expected,
                group,
            },
            &CodeCharacter { group, position } => CodeCharacter { group, position },
            &CodeTypo { group } => CodeTypo { group },
            WrongKey => WrongKey,
            WrongAccount => WrongAccount,
            WrongLink => WrongLink,
            WrongPassword => WrongPassword,
            NotABackup => NotABackup,
            Truncated => Truncated,
            &CorruptedChunk { index, last } => CorruptedChunk { index, last },
            &ChunkOutOfOrder { index, belongs_at } => ChunkOutOfOrder { index, belongs_at },
            DataAfterEnd => DataAfterEnd,
            HeaderChanged => HeaderChanged,
            &UnknownVersion { what, found } => UnknownVersion { what, found },
            &MalformedEnvelope(what) => MalformedEnvelope(what),
            &EnvelopeAboveLimits {
                m_cost_kib,
                t_cost,
                p_cost,
                max_m_cost_kib,
                max_t_cost,
                max_p_cost,
            } => EnvelopeAboveLimits {
                m_cost_kib,
                t_cost,
                p_cost,
                max_m_cost_kib,
                max_t_cost,
                max_p_cost,
            },
            &InvalidKeyLength { found } => InvalidKeyLength { found },
            &InvalidParameter(what) => InvalidParameter(what),
            TooLarge => TooLarge,
            Random => Random,
        }
    }
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::CodeLength {
                found,
                expected,
                group: Some(g),
            } => write!(
                f,
                "the recovery code has {found} characters but needs {expected}; a character is probably missing or extra in group {g}, check it against what you wrote down"
            ),
            BackupError::CodeLength {
                found, expected, ..
            } => write!(
                f,
                "the recovery code has {found} characters but needs {expected}; check it against what you wrote down"
            ),
            BackupError::CodeCharacter { group, position } => write!(
                f,
                "character {position} of group {group} of the recovery code is not one a code contains; check that group"
            ),
            BackupError::CodeTypo { group } => write!(
                f,
                "group {group} of the recovery code has a typo; check that group against what you wrote down"
            ),
            BackupError::WrongKey => f.write_str(
                "this recovery code (or password) is valid but belongs to a different backup; use the code or password that was set when this backup was made",
            ),
            BackupError::WrongAccount => f.write_str(
                "the key opens this backup, but it was made for a different account; restore it into the account it was made for",
            ),
            BackupError::WrongLink => f.write_str(
                "this history file was made for a different device link (or is not a history file); use the file the primary device sent during this link, or link the device again",
            ),
            BackupError::WrongPassword => f.write_str(
                "wrong password (or the password file is damaged); try again, or restore with the recovery code",
            ),
            BackupError::NotABackup => {
                f.write_str("this file is not a keylink backup; choose the backup file itself")
            }
            BackupError::Truncated => f.write_str(
                "the backup file is incomplete (cut short); copy it again from where it came from",
            ),
            BackupError::CorruptedChunk { index, last: false } => write!(
                f,
                "the backup file is damaged at chunk {index} (it does not authenticate); no data from that chunk on was released, use another copy of the backup"
            ),
            BackupError::CorruptedChunk { index, last: true } => write!(
                f,
                "the last chunk of the backup file ({index}) does not authenticate: it is damaged or the file was cut short inside it; no data from that chunk was released, use another copy of the backup"
            ),
            BackupError::ChunkOutOfOrder { index, belongs_at } => write!(
                f,
                "chunk {index} of the backup file belongs at position {belongs_at}: chunks were removed, reordered or duplicated; use another copy of the backup"
            ),
            BackupError::DataAfterEnd => f.write_str(
                "the backup file has extra data after its end; it was altered or badly copied, use another copy of the backup",
            ),
            BackupError::HeaderChanged => f.write_str(
                "the backup file's header was altered, so the file cannot be trusted; use another copy of the backup",
            ),
            BackupError::UnknownVersion { what, found } => write!(
                f,
                "this {what} has version {found}, which this version of keylink cannot read; update the app"
            ),
            BackupError::MalformedEnvelope(what) => write!(
                f,
                "the password file is damaged ({what}); restore with the recovery code and set the password again"
            ),
            &BackupError::EnvelopeAboveLimits {
                m_cost_kib,
                t_cost,
                p_cost,
                max_m_cost_kib,
                max_t_cost,
                max_p_cost,
            } => {
                let costs = [
                    (m_cost_kib, max_m_cost_kib, memory(m_cost_kib), memory(max_m_cost_kib)),
                    (t_cost, max_t_cost, format!("{t_cost} passes"), max_t_cost.to_string()),
                    (p_cost, max_p_cost, format!("{p_cost} lanes"), max_p_cost.to_string()),
                ];
                let above = costs.iter().filter(|(asked, max, ..)| asked > max);
                let parts: Vec<String> = above
                    .map(|(_, _, asked, max)| format!("{asked} (limit {max})"))
                    .collect();
                write!(
                    f,
                    "this password envelope asks for {}, above the limits of this device; it was made with heavier settings or by someone else: open it with explicit larger limits only if you trust where it came from, or restore with the recovery code",
                    parts.join(" and ")
                )
            }
            BackupError::InvalidKeyLength { found } => {
                write!(f, "the key has {found} bytes but must have 32")
            }
            BackupError::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
            BackupError::TooLarge => f.write_str(
                "the backup is larger than chunked encryption allows (4 PiB); split it",
            ),
            BackupError::Random => f.write_str(
                "the system's random number generator failed; nothing was written, try again",
            ),
            BackupError::Io(e) => write!(f, "reading or writing the backup failed: {e}"),
        }
    }
}

/// Argon2id memory for people: MiB when whole, else KiB.
fn memory(kib: u32) -> String {
    match kib % 1024 {
        0 => format!("{} MiB", kib / 1024),
        _ => format!("{kib} KiB"),
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for BackupError {
    /// Unwraps a `BackupError` carried inside an `io::Error` (as the streaming reader and
    /// writer return them); any other I/O error becomes [`BackupError::Io`].
    fn from(e: io::Error) -> Self {
        e.downcast::<BackupError>().unwrap_or_else(BackupError::Io)
    }
}

impl From<BackupError> for io::Error {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Io(inner) => inner,
            other => io::Error::other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_round_trip_keeps_the_variant() {
        let e: io::Error = BackupError::CorruptedChunk {
            index: 7,
            last: false,
        }
        .into();
        assert!(matches!(
            BackupError::from(e),
            BackupError::CorruptedChunk {
                index: 7,
                last: false
            }
        ));
    }

    #[test]
    fn plain_io_errors_stay_io() {
        let e = io::Error::new(io::ErrorKind::PermissionDenied, "no");
        assert!(matches!(BackupError::from(e), BackupError::Io(_)));
    }

    #[test]
    fn duplicate_keeps_io_kind() {
        let e = BackupError::Io(io::Error::new(io::ErrorKind::BrokenPipe, "gone"));
        match e.duplicate() {
            BackupError::Io(d) => assert_eq!(d.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typo_names_the_group() {
        let s = BackupError::CodeTypo { group: 4 }.to_string();
        assert!(s.contains("group 4"), "{s}");
    }
}
