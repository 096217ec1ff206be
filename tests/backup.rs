//! End-to-end backups: create with a recovery code, restore with it, and every kind of bad
//! input the issue lists, each with its own error.
#![cfg(test)]
#![cfg(feature = "backup")]

use std::io::{self, Read, Write};

use keylink::backup::{BackupError, BackupHeader, BackupReader, BackupWriter, RecoveryCode};

const ACCOUNT: &[u8] = b"account-7f3a";
/// keylink header (25) + salt (24) + commitment (32).
const PREFIX: usize = 25 + 56;
/// An encrypted full chunk.
const SEALED: usize = 16384 + 16;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn backup(code: &RecoveryCode, plain: &[u8]) -> Vec<u8> {
    let mut w = BackupWriter::new(Vec::new(), &code.backup_key(), ACCOUNT).unwrap();
    for piece in plain.chunks(10_000) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

/// Restores `file`: the plaintext released before the end, and how it ended.
fn restore(code: &RecoveryCode, file: &[u8]) -> (Vec<u8>, Result<(), BackupError>) {
    let mut out = Vec::new();
    let mut reader = match BackupReader::new(file, &code.backup_key(), ACCOUNT) {
        Ok(r) => r,
        Err(e) => return (out, Err(e)),
    };
    let result = reader
        .read_to_end(&mut out)
        .map(drop)
        .map_err(BackupError::from);
    if result.is_err() {
        let again = reader.read(&mut [0u8; 64]);
        assert!(again.is_err(), "a failed reader must keep failing");
    }
    (out, result)
}

fn fixture(len: usize) -> (RecoveryCode, Vec<u8>, Vec<u8>) {
    let code = RecoveryCode::generate().unwrap();
    let plain = data(len);
    let file = backup(&code, &plain);
    (code, plain, file)
}

#[test]
fn round_trip_with_the_code_as_typed() {
    for len in [0, 1, 16383, 16384, 16385, 100_000] {
        let (code, plain, file) = fixture(len);
        let typed = code.to_display_string().to_lowercase().replace('-', " ");
        let parsed = RecoveryCode::parse(&typed).unwrap();
        let (out, result) = restore(&parsed, &file);
        result.unwrap();
        assert_eq!(out, plain, "length {len}");
    }
}

#[test]
fn header_is_readable_without_the_key() {
    let (code, _, file) = fixture(10);
    let header = BackupHeader::try_from(&file[..25]).unwrap();
    assert_eq!(header.backup_id(), code.backup_key().backup_id(ACCOUNT));
}

#[test]
fn one_wrong_character_names_its_group() {
    let code = RecoveryCode::generate().unwrap();
    let shown = code.to_display_string().to_string();
    // Group 6 starts at character 30 (5 characters + a dash per group).
    let pos = 5 * 6 + 2;
    let original = shown.as_bytes()[pos];
    let replacement = if original == b'7' { '8' } else { '7' };
    let mut typo = shown.clone();
    typo.replace_range(pos..pos + 1, &replacement.to_string());
    let err = RecoveryCode::parse(&typo).unwrap_err();
    assert!(matches!(err, BackupError::CodeTypo { group: 6 }), "{err:?}");
    assert!(err.to_string().contains("group 6"));
}

#[test]
fn wrong_length_and_unknown_characters_are_their_own_errors() {
    let shown = RecoveryCode::generate()
        .unwrap()
        .to_display_string()
        .to_string();
    let short = &shown[..shown.len() - 1];
    assert!(matches!(
        RecoveryCode::parse(short),
        Err(BackupError::CodeLength {
            found: 64,
            expected: 65,
            ..
        })
    ));
    let bad = shown.replacen(|c: char| c.is_ascii_alphanumeric(), "*", 1);
    let err = RecoveryCode::parse(&bad).unwrap_err();
    assert!(matches!(
        err,
        BackupError::CodeCharacter {
            group: 1,
            position: 1
        }
    ));
    // Group and position only: the character (likely a mistyped secret symbol) is not shown.
    assert!(!err.to_string().contains('*') && !format!("{err:?}").contains('*'));
}

#[test]
fn well_formed_but_wrong_code() {
    let (_, _, file) = fixture(50_000);
    let other = RecoveryCode::generate().unwrap();
    let (out, result) = restore(&other, &file);
    assert!(matches!(result, Err(BackupError::WrongKey)), "{result:?}");
    assert!(out.is_empty());
}

#[test]
fn right_key_wrong_account() {
    let (code, _, file) = fixture(10);
    let err = BackupReader::new(&file[..], &code.backup_key(), b"someone else")
        .err()
        .unwrap();
    assert!(matches!(err, BackupError::WrongAccount), "{err:?}");
}

#[test]
fn truncated_file() {
    let (code, plain, file) = fixture(3 * 16384 + 500);
    // Inside the header, inside the salt/commitment, at a chunk boundary (the short final
    // chunk is missing), and leaving less than a tag of the last chunk.
    let boundary = PREFIX + 3 * SEALED;
    for cut in [0, 10, 25, 60, PREFIX, boundary, boundary + 15] {
        let (out, result) = restore(&code, &file[..cut]);
        assert!(
            matches!(result, Err(BackupError::Truncated)),
            "cut {cut}: {result:?}"
        );
        assert!(plain.starts_with(&out));
    }
    // Cut inside a full chunk: only the chunks before it are released, and the error says the
    // last chunk does not authenticate (damaged or cut inside).
    let (out, result) = restore(&code, &file[..PREFIX + SEALED + 5000]);
    assert!(
        matches!(
            result,
            Err(BackupError::CorruptedChunk {
                index: 1,
                last: true
            })
        ),
        "{result:?}"
    );
    assert_eq!(out, plain[..16384]);
}

#[test]
fn flipped_byte_in_any_chunk_names_the_chunk() {
    let (code, plain, file) = fixture(4 * 16384 + 999);
    for chunk in 0..5usize {
        for offset in [0, 100, SEALED - 1] {
            let pos = PREFIX + chunk * SEALED + offset;
            if pos >= file.len() {
                continue;
            }
            let mut bad = file.clone();
            bad[pos] ^= 0x80;
            let (out, result) = restore(&code, &bad);
            match result {
                Err(BackupError::CorruptedChunk { index, last }) => {
                    assert_eq!(index, chunk as u64);
                    assert_eq!(last, chunk == 4);
                }
                other => panic!("chunk {chunk} offset {offset}: {other:?}"),
            }
            // No plaintext beyond the last authenticated chunk.
            assert_eq!(out, plain[..chunk * 16384]);
        }
    }
}

#[test]
fn reordered_chunks() {
    let (code, plain, file) = fixture(4 * 16384 + 10);
    let mut bad = file.clone();
    let (a, b) = (PREFIX + SEALED, PREFIX + 2 * SEALED);
    bad[a..a + SEALED].copy_from_slice(&file[b..b + SEALED]);
    bad[b..b + SEALED].copy_from_slice(&file[a..a + SEALED]);
    let (out, result) = restore(&code, &bad);
    assert!(
        matches!(
            result,
            Err(BackupError::ChunkOutOfOrder {
                index: 1,
                belongs_at: 2
            })
        ),
        "{result:?}"
    );
    assert_eq!(out, plain[..16384]);
}

#[test]
fn duplicated_chunk() {
    let (code, plain, file) = fixture(3 * 16384 + 10);
    let mut bad = file[..PREFIX + SEALED].to_vec();
    bad.extend_from_slice(&file[PREFIX..]);
    let (out, result) = restore(&code, &bad);
    assert!(
        matches!(
            result,
            Err(BackupError::ChunkOutOfOrder {
                index: 1,
                belongs_at: 0
            })
        ),
        "{result:?}"
    );
    assert_eq!(out, plain[..16384]);
}

#[test]
fn data_appended_after_the_end() {
    let (code, plain, file) = fixture(2 * 16384 + 77);
    for extra in [&b"x"[..], &[0u8; 40][..], &file[PREFIX..PREFIX + SEALED]] {
        let bad = [&file[..], extra].concat();
        let (out, result) = restore(&code, &bad);
        assert!(
            matches!(result, Err(BackupError::DataAfterEnd)),
            "{result:?}"
        );
        assert_eq!(out, plain[..2 * 16384]);
    }
}

#[test]
fn changed_header() {
    let (code, _, file) = fixture(1000);
    // BackupId, salt and commitment bytes.
    for pos in [9, 24, 25, 48, 49, 80] {
        let mut bad = file.clone();
        bad[pos] ^= 1;
        let (out, result) = restore(&code, &bad);
        assert!(
            matches!(result, Err(BackupError::HeaderChanged)),
            "{pos}: {result:?}"
        );
        assert!(out.is_empty());
    }
    let mut magic = file.clone();
    magic[0] ^= 1;
    assert!(matches!(
        restore(&code, &magic).1,
        Err(BackupError::NotABackup)
    ));
}

#[test]
fn unsupported_version() {
    let (code, _, file) = fixture(1000);
    let mut bad = file.clone();
    bad[8] = 2;
    let (_, result) = restore(&code, &bad);
    assert!(
        matches!(
            result,
            Err(BackupError::UnknownVersion {
                what: "backup file",
                found: 2
            })
        ),
        "{result:?}"
    );
}

#[test]
fn errors_reach_callers_through_io() {
    let (code, _, file) = fixture(20_000);
    let mut bad = file.clone();
    bad[PREFIX + 3] ^= 1;
    let mut reader = BackupReader::new(&bad[..], &code.backup_key(), ACCOUNT).unwrap();
    let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<BackupError>());
    assert!(matches!(
        inner,
        Some(BackupError::CorruptedChunk { index: 0, .. })
    ));
    // Unwrapped from the io::Error, it is a std error of its own, displayed as itself:
    // backups are a leaf, so the crate-level error does not wrap it.
    let unwrapped: Box<dyn std::error::Error + Send + Sync> = Box::new(BackupError::from(err));
    assert!(unwrapped.downcast_ref::<BackupError>().is_some());
    assert!(
        unwrapped
            .to_string()
            .starts_with("the backup file is damaged at chunk 0")
    );
}

#[test]
fn writer_dropped_without_finish_is_truncated() {
    let code = RecoveryCode::generate().unwrap();
    let mut sink = Vec::new();
    {
        let mut w = BackupWriter::new(&mut sink, &code.backup_key(), ACCOUNT).unwrap();
        w.write_all(&data(40_000)).unwrap();
    }
    let (out, result) = restore(&code, &sink);
    assert!(matches!(result, Err(BackupError::Truncated)), "{result:?}");
    assert_eq!(out.len(), 2 * 16384);
}

#[test]
fn every_error_displays_advice() {
    let errors = [
        BackupError::CodeTypo { group: 3 },
        BackupError::WrongKey,
        BackupError::WrongPassword,
        BackupError::Truncated,
        BackupError::CorruptedChunk {
            index: 2,
            last: false,
        },
        BackupError::ChunkOutOfOrder {
            index: 1,
            belongs_at: 2,
        },
        BackupError::DataAfterEnd,
        BackupError::HeaderChanged,
        BackupError::UnknownVersion {
            what: "backup file",
            found: 9,
        },
        BackupError::EnvelopeAboveLimits {
            m_cost_kib: 4 << 20,
            t_cost: 3,
            p_cost: 4,
            max_m_cost_kib: 256 << 10,
            max_t_cost: 8,
            max_p_cost: 8,
        },
    ];
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for (i, t) in texts.iter().enumerate() {
        assert!(t.contains(';'), "no advice in {t}");
        assert!(texts[..i].iter().all(|o| o != t), "duplicate text {t}");
    }
}

mod password {
    use super::*;
    use keylink::backup::{Argon2Params, PasswordEnvelope};

    fn fast() -> Argon2Params {
        Argon2Params::new(256, 1, 1).unwrap()
    }

    #[test]
    fn restore_with_the_password() {
        let (code, plain, file) = fixture(30_000);
        let env = PasswordEnvelope::seal_with_params(&code.backup_key(), b"correct horse", fast())
            .unwrap();
        let stored = env.to_bytes();
        let key = PasswordEnvelope::try_from(&stored[..])
            .unwrap()
            .open(b"correct horse")
            .unwrap();
        let mut reader = BackupReader::new(&file[..], &key, ACCOUNT).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn wrong_password() {
        let code = RecoveryCode::generate().unwrap();
        let env = PasswordEnvelope::seal_with_params(&code.backup_key(), b"right", fast()).unwrap();
        let err = env.open(b"wrong").unwrap_err();
        assert!(matches!(err, BackupError::WrongPassword), "{err:?}");
    }

    #[test]
    fn changing_the_password_leaves_backups_untouched() {
        let (code, plain, file) = fixture(20_000);
        let before = file.clone();
        let env = PasswordEnvelope::seal_with_params(&code.backup_key(), b"old", fast()).unwrap();
        let env = env.change_password(b"old", b"new").unwrap();
        assert_eq!(file, before);
        assert!(matches!(env.open(b"old"), Err(BackupError::WrongPassword)));
        let key = env.open(b"new").unwrap();
        let mut out = Vec::new();
        BackupReader::new(&file[..], &key, ACCOUNT)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        // The recovery code still opens it too.
        assert_eq!(restore(&code, &file).0, plain);
    }

    #[test]
    fn default_parameters_are_rfc9106_second_option() {
        let d = Argon2Params::default();
        assert_eq!((d.m_cost_kib(), d.t_cost(), d.p_cost()), (64 * 1024, 3, 4));
        let code = RecoveryCode::generate().unwrap();
        let env = PasswordEnvelope::seal(&code.backup_key(), b"pw").unwrap();
        assert_eq!(env.params(), d);
        assert!(env.open(b"pw").is_ok());
    }
}
