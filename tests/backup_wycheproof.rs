//! Every Wycheproof Cobblestone-256 vector (C2SP chunked encryption v1, AES-256-GCM,
//! HKDF-Expand SHA-512) through the crate's own streaming reader and, for valid vectors, its
//! writer with the vector's salt (that part needs the `hazmat` feature). Applied as
//! Wycheproof's `doc/c2sp_chunked_encryption.md` says, including the streaming rules for
//! `PartialPlaintext` vectors.
#![cfg(test)]
#![cfg(feature = "backup")]

use std::io::Read;

use keylink::backup::{BackupError, ChunkedReader, InputKey};
use serde_json::Value;
use sha2::{Digest, Sha512};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/test-vectors/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json"
);

struct Vector {
    id: u64,
    comment: String,
    key: Vec<u8>,
    ctx: Vec<u8>,
    ct: Vec<u8>,
    valid: bool,
    flags: Vec<String>,
    msg_len: Option<usize>,
    msg_sha512: Option<Vec<u8>>,
}

fn load() -> Vec<Vector> {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    assert_eq!(json["algorithm"], "Cobblestone-256");
    let mut out = Vec::new();
    for group in json["testGroups"].as_array().unwrap() {
        assert_eq!(group["aead"], "AEAD_AES_256_GCM");
        assert_eq!(group["sha"], "SHA-512");
        for t in group["tests"].as_array().unwrap() {
            out.push(vector(t));
        }
    }
    assert_eq!(out.len() as u64, json["numberOfTests"].as_u64().unwrap());
    out
}

fn vector(t: &Value) -> Vector {
    let hex = |k: &str| hex::decode(t[k].as_str().unwrap()).unwrap();
    let mut ct = Vec::new();
    flate2::read::ZlibDecoder::new(&hex("ct")[..])
        .read_to_end(&mut ct)
        .unwrap();
    Vector {
        id: t["tcId"].as_u64().unwrap(),
        comment: t["comment"].as_str().unwrap().to_owned(),
        key: hex("key"),
        ctx: hex("ctx"),
        ct,
        valid: match t["result"].as_str().unwrap() {
            "valid" => true,
            "invalid" => false,
            other => panic!("unexpected result {other}"),
        },
        flags: t["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect(),
        msg_len: t.get("msgLength").map(|v| v.as_u64().unwrap() as usize),
        msg_sha512: t.get("msgSha512").map(|_| hex("msgSha512")),
    }
}

/// Streams the plaintext out in odd-sized reads: what was released and how it ended.
fn stream(v: &Vector) -> (Vec<u8>, Result<(), BackupError>) {
    let mut out = Vec::new();
    let key = match InputKey::try_from(&v.key[..]) {
        Ok(k) => k,
        Err(e) => return (out, Err(e)),
    };
    let mut reader = match ChunkedReader::new(&v.ct[..], &key, &v.ctx) {
        Ok(r) => r,
        Err(e) => return (out, Err(e)),
    };
    let mut buf = [0u8; 7777];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                // Once failed, it keeps failing rather than signalling a clean end.
                for _ in 0..3 {
                    assert!(reader.read(&mut buf).is_err(), "tc {}: not sticky", v.id);
                }
                return (out, Err(BackupError::from(e)));
            }
        }
    }
}

fn check_valid(v: &Vector, out: &[u8]) {
    assert_eq!(Some(out.len()), v.msg_len, "tc {}", v.id);
    assert_eq!(
        Some(Sha512::digest(out).to_vec()),
        v.msg_sha512,
        "tc {}",
        v.id
    );
    // Deterministic re-encryption with the vector's salt reproduces the ciphertext (the
    // caller-chosen salt is only reachable through hazmat).
    #[cfg(feature = "hazmat")]
    reencrypt(v, out);
}

#[cfg(feature = "hazmat")]
fn reencrypt(v: &Vector, out: &[u8]) {
    use std::io::Write;
    let key = InputKey::try_from(&v.key[..]).unwrap();
    let salt: [u8; 24] = v.ct[..24].try_into().unwrap();
    let mut w = keylink::hazmat::chunked_writer_with_salt(Vec::new(), &key, &v.ctx, salt).unwrap();
    for piece in out.chunks(5000) {
        w.write_all(piece).unwrap();
    }
    assert!(
        w.finish().unwrap() == v.ct,
        "tc {}: re-encryption differs",
        v.id
    );
}

fn check_invalid(v: &Vector, out: &[u8]) {
    let has = |f: &str| v.flags.iter().any(|x| x == f);
    if has("PartialPlaintext") {
        let prefix = v.msg_len.unwrap();
        assert!(out.len() <= prefix, "tc {}: released past the prefix", v.id);
        if out.len() == prefix {
            assert_eq!(Some(Sha512::digest(out).to_vec()), v.msg_sha512);
        }
    } else {
        assert!(out.is_empty(), "tc {}: released plaintext", v.id);
    }
}

#[test]
fn every_cobblestone_256_vector() {
    let vectors = load();
    let mut passed = 0;
    for v in &vectors {
        let (out, result) = stream(v);
        match (v.valid, result) {
            (true, Ok(())) => check_valid(v, &out),
            (false, Err(_)) => check_invalid(v, &out),
            (true, Err(e)) => panic!("tc {} ({}) rejected: {e}", v.id, v.comment),
            (false, Ok(())) => panic!("tc {} ({}) accepted", v.id, v.comment),
        }
        passed += 1;
    }
    println!(
        "Wycheproof Cobblestone-256: {passed}/{} vectors passed",
        vectors.len()
    );
    assert_eq!(passed, 35);
}

#[test]
fn header_failures_are_caught_before_any_chunk() {
    let vectors = load();
    let header_failures = vectors
        .iter()
        .filter(|v| v.flags.iter().any(|f| f == "HeaderFailure"));
    for v in header_failures {
        let opened = InputKey::try_from(&v.key[..])
            .and_then(|key| ChunkedReader::new(&v.ct[..], &key, &v.ctx).map(drop));
        assert!(opened.is_err(), "tc {} opened", v.id);
    }
}
