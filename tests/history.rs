//! History sync (PROTOCOL.md §12.4): the primary's history file round-trips through
//! `HistoryKey::writer` / `HistoryKey::reader`, is refused under another link's key, and every
//! kind of damage is caught as in a backup; plus the vector file
//! `test-vectors/keylink/history.json`.
#![cfg(test)]
#![cfg(all(feature = "backup", feature = "hazmat"))]

mod common;

use std::io::{Read, Write};

use keylink::backup::{BackupError, BackupReader, BackupWriter, RecoveryCode};
use keylink::hazmat::history_key;
use keylink::link::HistoryKey;

const KEY: [u8; 32] = [0x42; 32];
const TH: [u8; 32] = [0x17; 32];
/// keylink header (25) + salt (24) + commitment (32).
const PREFIX: usize = 25 + 56;
/// An encrypted full chunk.
const SEALED: usize = 16384 + 16;
const CHUNK: usize = 16384;

fn link() -> HistoryKey {
    history_key(KEY, TH)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// The history file of `plain`, written in pieces of `piece` bytes.
fn history_in(key: &HistoryKey, plain: &[u8], piece: usize) -> Vec<u8> {
    let mut w = key.writer(Vec::new()).unwrap();
    for part in plain.chunks(piece.max(1)) {
        w.write_all(part).unwrap();
    }
    w.finish().unwrap()
}

fn history(plain: &[u8]) -> Vec<u8> {
    history_in(&link(), plain, 10_000)
}

/// Reads `file` with `key`: the history released before the end, and how it ended.
fn read(key: &HistoryKey, file: &[u8]) -> (Vec<u8>, Result<(), BackupError>) {
    let mut out = Vec::new();
    let mut reader = match key.reader(file) {
        Ok(r) => r,
        Err(e) => return (out, Err(e)),
    };
    let end = reader
        .read_to_end(&mut out)
        .map(|_| ())
        .map_err(BackupError::from);
    (out, end)
}

fn error(key: &HistoryKey, file: &[u8]) -> BackupError {
    read(key, file).1.unwrap_err()
}

#[test]
fn round_trips_at_every_size() {
    for (len, piece) in [
        (0, 1),
        (1, 1),
        (CHUNK, CHUNK),
        (CHUNK, 1000),
        (3 * (1 << 20) + 12_345, 7_777),
        (3 * (1 << 20), 65_537),
    ] {
        let plain = data(len);
        let file = history_in(&link(), &plain, piece);
        let chunks = len / CHUNK + 1;
        assert_eq!(file.len(), PREFIX + len + 16 * chunks, "length {len}");
        let (out, end) = read(&link(), &file);
        end.unwrap();
        assert_eq!(out, plain, "length {len}");
    }
}

#[test]
fn each_file_has_a_fresh_salt() {
    let (a, b) = (history(b"same"), history(b"same"));
    assert_eq!(a[..25], b[..25]);
    assert_ne!(a[25..49], b[25..49]);
}

#[test]
fn another_links_transcript_is_refused_at_the_header() {
    let file = history(b"contacts");
    let other = history_key(KEY, [0x18; 32]);
    assert!(matches!(
        other.reader(&file[..]),
        Err(BackupError::WrongLink)
    ));
}

#[test]
fn another_links_key_is_refused_at_the_header() {
    let file = history(b"contacts");
    let mut key = KEY;
    key[31] ^= 1;
    let other = history_key(key, TH);
    assert!(matches!(
        other.reader(&file[..]),
        Err(BackupError::WrongLink)
    ));
    let text = BackupError::WrongLink.to_string();
    assert!(text.contains("different device link"), "{text}");
    assert!(text.contains("link the device again"), "{text}");
}

#[test]
fn truncation_is_caught_everywhere() {
    let file = history(&data(2 * CHUNK + 100));
    let truncated = [
        0,
        5,
        9,
        24,
        25,
        48,
        80,
        PREFIX,
        PREFIX + 15,
        PREFIX + SEALED,
    ];
    for cut in truncated {
        let err = error(&link(), &file[..cut]);
        assert!(matches!(err, BackupError::Truncated), "cut {cut}: {err:?}");
    }
    for cut in [PREFIX + 16, PREFIX + SEALED - 1, file.len() - 1] {
        let err = error(&link(), &file[..cut]);
        assert!(
            matches!(err, BackupError::CorruptedChunk { last: true, .. }),
            "cut {cut}: {err:?}"
        );
    }
}

#[test]
fn a_flipped_byte_in_the_header_is_named() {
    let file = history(b"history");
    let flipped = |at: usize| {
        let mut f = file.clone();
        f[at] ^= 0x01;
        error(&link(), &f)
    };
    assert!(matches!(flipped(0), BackupError::NotABackup));
    assert!(matches!(
        flipped(8),
        BackupError::UnknownVersion { found: 0, .. }
    ));
    for at in [9, 24, 25, 48, 49, 80] {
        let err = flipped(at);
        assert!(matches!(err, BackupError::HeaderChanged), "{at}: {err:?}");
    }
}

#[test]
fn a_flipped_byte_in_the_body_names_its_chunk() {
    let file = history(&data(2 * CHUNK + 100));
    for (at, index, last) in [
        (PREFIX, 0, false),
        (PREFIX + SEALED + 7, 1, false),
        (file.len() - 1, 2, true),
    ] {
        let mut f = file.clone();
        f[at] ^= 0x80;
        let (out, end) = read(&link(), &f);
        let err = end.unwrap_err();
        assert!(
            matches!(err, BackupError::CorruptedChunk { index: i, last: l } if i == index && l == last),
            "{at}: {err:?}"
        );
        assert_eq!(
            out.len(),
            CHUNK * index as usize,
            "only authenticated chunks"
        );
    }
}

#[test]
fn an_appended_chunk_is_refused() {
    let file = history(&data(2 * CHUNK + 100));
    let final_chunk = &file[PREFIX + 2 * SEALED..];
    let appended = [&file[..], final_chunk].concat();
    assert!(matches!(
        error(&link(), &appended),
        BackupError::DataAfterEnd
    ));
    // The file of the same history one chunk longer: its extra chunk does not fit this one.
    let longer = history(&data(3 * CHUNK + 100));
    let spliced = [&file[..PREFIX + 2 * SEALED], &longer[PREFIX + 2 * SEALED..]].concat();
    assert!(read(&link(), &spliced).1.is_err());
    // A full chunk appended after the final one.
    let extended = [&file[..], &file[PREFIX..PREFIX + SEALED]].concat();
    assert!(matches!(
        error(&link(), &extended),
        BackupError::DataAfterEnd
    ));
}

#[test]
fn backups_and_history_files_do_not_open_as_each_other() {
    let code = RecoveryCode::generate().unwrap();
    let mut w = BackupWriter::new(Vec::new(), &code.backup_key(), b"account").unwrap();
    w.write_all(b"backup").unwrap();
    let backup = w.finish().unwrap();
    assert!(matches!(
        link().reader(&backup[..]),
        Err(BackupError::WrongLink)
    ));
    let file = history(b"history");
    assert!(matches!(
        BackupReader::new(&file[..], &code.backup_key(), b"account"),
        Err(BackupError::WrongKey)
    ));
}

#[test]
fn a_writer_dropped_without_finish_leaves_a_truncated_file() {
    let mut sink = Vec::new();
    {
        let mut w = link().writer(&mut sink).unwrap();
        w.write_all(&data(CHUNK + 5)).unwrap();
    }
    let (out, end) = read(&link(), &sink);
    assert!(matches!(end, Err(BackupError::Truncated)), "{end:?}");
    assert_eq!(out.len(), CHUNK);
}

#[test]
fn errors_are_sticky() {
    let mut file = history(&data(3 * CHUNK));
    file[PREFIX + SEALED + 1] ^= 1;
    let mut reader = link().reader(&file[..]).unwrap();
    let mut out = Vec::new();
    assert!(reader.read_to_end(&mut out).is_err());
    for _ in 0..3 {
        assert!(reader.read(&mut [0u8; 16]).is_err());
    }
}

#[test]
fn debug_never_prints_the_key_and_the_transcript_is_public() {
    let key = link();
    assert_eq!(format!("{key:?}"), "HistoryKey(<redacted>)");
    assert_eq!(key.transcript(), &TH);
}

mod vectors {
    //! `test-vectors/keylink/history.json`: one history file from a fixed history key,
    //! transcript hash and salt, with its derived input key and id; checked against the bare
    //! primitives (HKDF-SHA256, Cobblestone-256 through `hazmat::chunked_writer_with_salt`).

    use super::*;
    use keylink::backup::InputKey;
    use keylink::hazmat::{chunked_writer_with_salt, history_writer_with_salt, primitives};
    use serde_json::{Value, json};

    const VECTORS: &str = "test-vectors/keylink/history.json";
    const SALT: [u8; 24] = [0x11; 24];
    const PLAINTEXT: &[u8] = b"hello, history";

    fn hex(bytes: &[u8]) -> String {
        common::hex(bytes)
    }

    fn history_key_bytes() -> [u8; 32] {
        core::array::from_fn(|i| i as u8)
    }

    fn transcript() -> [u8; 32] {
        core::array::from_fn(|i| 0x20 + i as u8)
    }

    /// The file from the primitives alone: HKDF-SHA256 for the two derivations, the header
    /// laid out by hand, one Cobblestone-256 message with the header as context.
    fn from_primitives() -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        let (key, th) = (history_key_bytes(), transcript());
        let input = primitives::hkdf_sha256(&[0; 32], &key, b"keylink v1 history", 32).unwrap();
        let id_info = [&b"keylink v1 history id"[..], &th].concat();
        let id = primitives::hkdf_sha256(&[0; 32], &key, &id_info, 16).unwrap();
        let header = [&b"KLBACKUP\x01"[..], &id].concat();
        let input_key = InputKey::try_from(&input[..]).unwrap();
        let mut w = chunked_writer_with_salt(header.clone(), &input_key, &header, SALT).unwrap();
        w.write_all(PLAINTEXT).unwrap();
        (input, id, header, w.finish().unwrap())
    }

    /// The file keylink's history writer makes for the same inputs.
    fn from_keylink() -> Vec<u8> {
        let key = history_key(history_key_bytes(), transcript());
        let mut w = history_writer_with_salt(&key, Vec::new(), SALT).unwrap();
        w.write_all(PLAINTEXT).unwrap();
        w.finish().unwrap()
    }

    fn computed() -> Value {
        let (input, id, header, file) = from_primitives();
        json!({
            "description": "keylink history file (PROTOCOL.md 12.4): a fixed history key and link transcript hash th, the derived chunked-encryption input key and header id, the 25-byte header, and the whole file (header || salt || commitment || chunks) for a short plaintext with a fixed salt",
            "source": "keylink, generated by: cargo test --release --all-features --test history generate_vectors -- --ignored; checked by tests/history.rs, which recomputes every value from HKDF-SHA256 and Cobblestone-256 directly and compares them with keylink's HistoryWriter",
            "format": "test-vectors/README.md",
            "history_key": hex(&history_key_bytes()),
            "transcript_hash": hex(&transcript()),
            "input_key_info": hex(b"keylink v1 history"),
            "input_key": hex(&input),
            "history_id_info": hex(&[&b"keylink v1 history id"[..], &transcript()].concat()),
            "history_id": hex(&id),
            "header": hex(&header),
            "salt": hex(&SALT),
            "commitment": hex(&file[49..81]),
            "plaintext": hex(PLAINTEXT),
            "file": hex(&file),
        })
    }

    fn path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
    }

    #[test]
    fn the_vector_file_is_what_the_primitives_and_keylink_compute() {
        let text = std::fs::read_to_string(path()).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(file, computed());
        assert_eq!(hex(&from_keylink()), file["file"].as_str().unwrap());
        let bytes = hex::decode(file["file"].as_str().unwrap()).unwrap();
        let key = history_key(history_key_bytes(), transcript());
        let (out, end) = read(&key, &bytes);
        end.unwrap();
        assert_eq!(out, PLAINTEXT);
    }

    #[test]
    #[ignore = "writes test-vectors/keylink/history.json"]
    fn generate_vectors() {
        let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
    }
}

/// The history key both sides hold at the end of a real link: the primary's file opens on
/// the companion, and not on the companion of another link of the same account.
#[test]
fn a_history_file_opens_on_the_linked_companion_only() {
    use keylink::Timestamp;
    use keylink::account::{AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
    use keylink::keys::IdentityKeyPair;
    use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingQr, Primary, PrimaryStep};

    let mut rng = keylink::os_rng();
    let phone = PhoneNumber::parse("+447700900123").unwrap();
    let account = AccountKeyPair::generate(&mut rng);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&account, &IdentityKeyPair::generate(&mut rng), now);
    let list = SignedDeviceList::issue(&account, &phone, 1, now, vec![entry]).unwrap();
    let list = list.verify(&phone).unwrap();
    let mut link = || {
        let account = AccountKeyPair::from_bytes(&account.to_bytes()).unwrap();
        let mut companion = Companion::with_qr(IdentityKeyPair::generate(&mut rng), &mut rng);
        let qr = LinkingQr::parse(companion.qr().unwrap().to_bytes().as_slice()).unwrap();
        let grant = LinkGrant::new(account, list.clone(), now).unwrap();
        let mut primary = Primary::scanned(qr, grant);
        let hello = companion.start(&mut rng).unwrap();
        let PrimaryStep::Send(reply) = primary.receive(&hello, &mut rng).unwrap() else {
            panic!()
        };
        let CompanionStep::Send(confirm) = companion.receive(&reply).unwrap() else {
            panic!()
        };
        let PrimaryStep::Send(payload) = primary.receive(&confirm, &mut rng).unwrap() else {
            panic!()
        };
        let CompanionStep::Linked { reply, account } = companion.receive(&payload).unwrap() else {
            panic!()
        };
        let PrimaryStep::Linked(linked) = primary.receive(&reply, &mut rng).unwrap() else {
            panic!()
        };
        (linked, account)
    };
    let (primary, companion) = link();
    let (_, other_companion) = link();
    let plain = data(40_000);
    let file = history_in(primary.history_key(), &plain, 1000);
    let mut read = Vec::new();
    companion
        .history_key()
        .reader(file.as_slice())
        .unwrap()
        .read_to_end(&mut read)
        .unwrap();
    assert_eq!(read, plain);
    assert!(matches!(
        other_companion.history_key().reader(file.as_slice()),
        Err(BackupError::WrongLink)
    ));
}
