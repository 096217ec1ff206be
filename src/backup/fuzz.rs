//! Entry points of the fuzz targets in `fuzz/` (each target is one line calling one of these),
//! also replayed over the committed seed corpus by this module's test.
//!
//! Each entry point must never panic on any input; the assertions check what must hold when
//! parsing succeeds.

use std::io::{Read, Write};

use super::chunked::ChunkedWriter;
use super::envelope::{Argon2Limits, PasswordEnvelope};
use super::error::BackupError;
use super::file::BackupReader;
use super::header::BackupHeader;
use super::keys::BackupKey;
use super::recovery_code::RecoveryCode;
use crate::constants::ARGON2_MAX_P_COST;
use crate::link::HistoryKey;

/// The account id the fuzzed backups belong to.
const ACCOUNT: &[u8] = b"fuzz";
/// The salt of the valid prefix `fuzz_reader` puts in front of its input.
const SALT: [u8; 24] = [0x11; 24];
/// The Argon2id work `fuzz_envelope` is willing to spend per input.
const FUZZ_LIMITS: Argon2Limits = Argon2Limits::new(1024, 2, ARGON2_MAX_P_COST);

/// The key of every fuzzed backup.
fn fuzz_key() -> BackupKey {
    BackupKey::from_entropy(&[0x5a; 32])
}

/// Parses a backup header; a parsed header must serialize back to the same bytes.
#[doc(hidden)]
pub fn fuzz_header(data: &[u8]) {
    if let Ok(header) = BackupHeader::try_from(data) {
        assert!(header.to_bytes()[..] == *data, "header does not round-trip");
    }
    let _ = BackupHeader::read_from(&mut &*data);
}

/// Parses a password envelope; a parsed envelope must serialize back to the same bytes.
/// Opened under limits small enough to try (1 MiB, 2 passes, any lanes), it must fail
/// cleanly when within them and be refused, before Argon2id runs, when above them; one above
/// the default limits must be refused by a plain `open` too.
#[doc(hidden)]
pub fn fuzz_envelope(data: &[u8]) {
    let Ok(envelope) = PasswordEnvelope::try_from(data) else {
        return;
    };
    assert!(
        envelope.to_bytes()[..] == *data,
        "envelope does not round-trip"
    );
    let p = envelope.params();
    let opened = envelope.open_with_limits(b"fuzz", FUZZ_LIMITS);
    if p.m_cost_kib() <= 1024 && p.t_cost() <= 2 {
        assert!(opened.is_ok() || matches!(opened, Err(BackupError::WrongPassword)));
    } else {
        assert!(matches!(
            opened,
            Err(BackupError::EnvelopeAboveLimits { .. })
        ));
    }
    if !Argon2Limits::DEFAULT.allows(&p) {
        let opened = envelope.open(b"fuzz");
        assert!(matches!(
            opened,
            Err(BackupError::EnvelopeAboveLimits { .. })
        ));
    }
}

/// Parses a recovery code; a parsed code must display as a string that parses to the same code.
#[doc(hidden)]
pub fn fuzz_recovery_code(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = RecoveryCode::parse(text) {
        let shown = code.to_display_string();
        let again = RecoveryCode::parse(&shown).map(|c| c.to_display_string());
        assert!(again.is_ok_and(|a| a == shown), "code does not round-trip");
    }
}

/// Restores arbitrary bytes with a fixed key. If the first byte is odd, the rest follows a
/// valid header, salt and commitment, so the chunk layer is reached; otherwise the rest is the
/// whole file. A reader that failed must keep failing.
#[doc(hidden)]
pub fn fuzz_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = fuzz_key();
    let file = match mode & 1 {
        1 => [valid_prefix(&key).as_slice(), rest].concat(),
        _ => rest.to_vec(),
    };
    let Ok(reader) = BackupReader::new(&file[..], &key, ACCOUNT) else {
        return;
    };
    read_until_error(reader);
}

/// The history key of every fuzzed history file.
fn fuzz_history_key() -> HistoryKey {
    HistoryKey::new(zeroize::Zeroizing::new([0x5a; 32]), [0xa5; 32])
}

/// Reads arbitrary bytes as a link's history file under a fixed [`HistoryKey`]. If the first
/// byte is odd, the rest follows a valid header, salt and commitment, so the chunk layer is
/// reached; otherwise the rest is the whole file. A reader that failed must keep failing.
#[doc(hidden)]
pub fn fuzz_history_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = fuzz_history_key();
    let file = match mode & 1 {
        1 => [history_prefix(&key).as_slice(), rest].concat(),
        _ => rest.to_vec(),
    };
    let Ok(reader) = key.reader(&file[..]) else {
        return;
    };
    read_until_error(reader);
}

/// Reads `reader` to its end or first error; after an error, it must keep failing.
fn read_until_error(mut reader: impl Read) {
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        reader.read(&mut buf).is_err(),
        "reader did not keep failing"
    );
}

/// A whole history file of `plain` under `key` with salt [`SALT`] (deterministic).
fn history_with_salt(key: &HistoryKey, plain: &[u8]) -> Result<Vec<u8>, BackupError> {
    let mut w = key.writer_with_salt(Vec::new(), SALT)?;
    w.write_all(plain)?;
    w.finish()
}

/// Header, salt and commitment of a history file under `key` with salt [`SALT`].
fn history_prefix(key: &HistoryKey) -> Vec<u8> {
    history_with_salt(key, b"").map_or_else(
        |_| Vec::new(),
        |mut file| {
            file.truncate(file.len().saturating_sub(16)); // the empty final chunk
            file
        },
    )
}

/// Header, salt and commitment of a backup under the fuzz key with salt [`SALT`].
fn valid_prefix(key: &BackupKey) -> Vec<u8> {
    backup_with_salt(key, b"").map_or_else(
        |_| Vec::new(),
        |mut file| {
            file.truncate(file.len().saturating_sub(16)); // the empty final chunk
            file
        },
    )
}

/// A whole backup of `plain` under the fuzz key with salt [`SALT`] (deterministic).
fn backup_with_salt(key: &BackupKey, plain: &[u8]) -> Result<Vec<u8>, BackupError> {
    let header = BackupHeader::new(key.backup_id(ACCOUNT)).to_bytes();
    let mut w = ChunkedWriter::with_salt(header.to_vec(), &key.file_key(), &header, SALT)?;
    w.write_all(plain)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::Argon2Params;
    use std::path::PathBuf;

    type EntryPoint = fn(&[u8]);

    const TARGETS: [(&str, EntryPoint); 5] = [
        ("backup_header", fuzz_header),
        ("backup_envelope", fuzz_envelope),
        ("backup_recovery_code", fuzz_recovery_code),
        ("backup_reader", fuzz_reader),
        ("history_reader", fuzz_history_reader),
    ];

    fn corpus(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target)
    }

    #[test]
    fn seed_corpus_replays() {
        for (target, entry) in TARGETS {
            let mut count = 0;
            for file in std::fs::read_dir(corpus(target)).unwrap() {
                entry(&std::fs::read(file.unwrap().path()).unwrap());
                count += 1;
            }
            assert!(count > 0, "no seeds for {target}");
        }
    }

    #[test]
    fn valid_prefix_opens() {
        let key = fuzz_key();
        let file = backup_with_salt(&key, &[7; 20_000]).unwrap();
        let mut out = Vec::new();
        BackupReader::new(&file[..], &key, ACCOUNT)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [7; 20_000]);
        assert!(file.starts_with(&valid_prefix(&key)));
    }

    #[test]
    fn history_prefix_opens() {
        let key = fuzz_history_key();
        let file = history_with_salt(&key, &[7; 20_000]).unwrap();
        let mut out = Vec::new();
        key.reader(&file[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [7; 20_000]);
        assert!(file.starts_with(&history_prefix(&key)));
    }

    /// Writes the history reader's seed corpus:
    /// `cargo test --features fuzzing --lib write_history_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_history_fuzz_seeds() {
        let key = fuzz_history_key();
        let file = history_with_salt(&key, &[0xab; 17_000]).unwrap();
        let prefix = history_prefix(&key).len();
        let other = HistoryKey::new(zeroize::Zeroizing::new([0x5a; 32]), [0xa6; 32]);
        let other_link = history_with_salt(&other, b"history").unwrap();
        let backup = backup_with_salt(&fuzz_key(), b"backup").unwrap();
        let seeds: [(&str, Vec<u8>); 6] = [
            ("whole-file", [&[0u8][..], &file].concat()),
            ("chunks", [&[1u8][..], &file[prefix..]].concat()),
            (
                "short-final",
                [&[1u8][..], &file[file.len() - 40..]].concat(),
            ),
            ("other-link", [&[0u8][..], &other_link].concat()),
            ("backup", [&[0u8][..], &backup].concat()),
            ("garbage", b"\x00KLBACKUP\x01garbage".to_vec()),
        ];
        let dir = corpus("history_reader");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// Writes the seed corpus: `cargo test --lib write_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let key = fuzz_key();
        let file = backup_with_salt(&key, &[0xab; 17_000]).unwrap();
        let prefix = valid_prefix(&key).len();
        let code = RecoveryCode::from_entropy([9; 32]);
        let envelope =
            PasswordEnvelope::seal_with_params(&key, b"fuzz", Argon2Params::new(64, 1, 1).unwrap())
                .unwrap();
        let seeds: [(&str, &str, Vec<u8>); 9] = [
            ("backup_header", "valid", file[..25].to_vec()),
            (
                "backup_header",
                "bad-version",
                [&file[..8], &[2], &file[9..25]].concat(),
            ),
            ("backup_envelope", "valid", envelope.to_bytes().to_vec()),
            (
                "backup_recovery_code",
                "valid",
                code.to_display_string().as_bytes().to_vec(),
            ),
            (
                "backup_recovery_code",
                "messy",
                b"  0oil-abcde fghjk\tmnpqr".to_vec(),
            ),
            ("backup_reader", "whole-file", [&[0u8][..], &file].concat()),
            (
                "backup_reader",
                "chunks",
                [&[1u8][..], &file[prefix..]].concat(),
            ),
            (
                "backup_reader",
                "short-final",
                [&[1u8][..], &file[file.len() - 40..]].concat(),
            ),
            (
                "backup_reader",
                "garbage",
                b"\x00KLBACKUP\x01garbage".to_vec(),
            ),
        ];
        for (target, name, bytes) in seeds {
            std::fs::create_dir_all(corpus(target)).unwrap();
            std::fs::write(corpus(target).join(name), bytes).unwrap();
        }
    }
}
