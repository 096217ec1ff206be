//! Backup throughput and password cost.
//!
//! - `chunked_16MiB`: raw AES-256-GCM over 16 KiB chunks (in place; decryption first copies each
//!   chunk into a scratch buffer, as reading it would) against
//!   streaming backup encryption and decryption of the same 16 MiB through `io::Write` /
//!   `io::Read`, in the same run. The target is 85% of raw throughput or better.
//! - `argon2id_default`: opening a password envelope at the default Argon2id parameters.
//! - `history_1MiB` (with the `hazmat` feature, which builds a `HistoryKey` from fixed bytes):
//!   a link's history file (PROTOCOL.md §12.4) encrypted and decrypted beside a backup file of
//!   the same 1 MiB. Both are one header and one chunked-encryption message, so the ratio
//!   should be 1.0.
//!
//! Run: `cargo bench --bench backup`. Figures measured are in `benches/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::io::{self, Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit, inout::InOutBuf};
use aes_gcm::{Aes256Gcm, Tag};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keylink::backup::{BackupReader, BackupWriter, PasswordEnvelope, RecoveryCode};

const TOTAL: usize = 16 << 20;
const CHUNK: usize = 16 << 10;
const ACCOUNT: &[u8] = b"bench";

fn nonce(i: usize) -> aes_gcm::Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [7u8; 12];
    n[4..].copy_from_slice(&(i as u64).to_be_bytes());
    n.into()
}

fn raw(c: &mut Criterion) {
    let aead = Aes256Gcm::new(&[1u8; 32].into());
    let mut group = c.benchmark_group("chunked_16MiB");
    group.throughput(Throughput::Bytes(TOTAL as u64));

    let mut data = vec![0x42u8; TOTAL];
    group.bench_function("raw_aes256gcm_encrypt", |b| {
        b.iter(|| {
            for (i, chunk) in data.chunks_mut(CHUNK).enumerate() {
                let tag = aead.encrypt_inout_detached(&nonce(i), &[], chunk.into());
                black_box(tag.unwrap());
            }
        })
    });

    let tags: Vec<Tag> = data
        .chunks_mut(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            aead.encrypt_inout_detached(&nonce(i), &[], chunk.into())
                .unwrap()
        })
        .collect();
    // Decryption needs the ciphertext in a buffer it may overwrite: each chunk is copied into
    // one (as any reader does when it reads) and decrypted there in place.
    let mut scratch = vec![0u8; CHUNK];
    group.bench_function("raw_aes256gcm_decrypt", |b| {
        b.iter(|| {
            for (i, (chunk, tag)) in data.chunks(CHUNK).zip(&tags).enumerate() {
                scratch.copy_from_slice(chunk);
                let buf: InOutBuf<'_, '_, u8> = scratch.as_mut_slice().into();
                aead.decrypt_inout_detached(&nonce(i), &[], buf, tag)
                    .unwrap();
            }
            black_box(&scratch);
        })
    });
    drop(group);
}

fn streaming(c: &mut Criterion) {
    let key = RecoveryCode::generate().unwrap().backup_key();
    let plain = vec![0x42u8; TOTAL];
    let mut group = c.benchmark_group("chunked_16MiB");
    group.throughput(Throughput::Bytes(TOTAL as u64));

    group.bench_function("stream_encrypt", |b| {
        b.iter(|| {
            let mut w = BackupWriter::new(io::sink(), &key, ACCOUNT).unwrap();
            for piece in plain.chunks(64 << 10) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
        })
    });

    let mut w = BackupWriter::new(Vec::with_capacity(TOTAL + TOTAL / 512), &key, ACCOUNT).unwrap();
    w.write_all(&plain).unwrap();
    let file = w.finish().unwrap();
    let mut buf = vec![0u8; 64 << 10];
    group.bench_function("stream_decrypt", |b| {
        b.iter(|| {
            let mut r = BackupReader::new(&file[..], &key, ACCOUNT).unwrap();
            let mut total = 0;
            loop {
                match r.read(&mut buf).unwrap() {
                    0 => break,
                    n => total += n,
                }
            }
            assert_eq!(total, TOTAL);
        })
    });
    drop(group);
}

fn argon2(c: &mut Criterion) {
    let key = RecoveryCode::generate().unwrap().backup_key();
    let envelope = PasswordEnvelope::seal(&key, b"correct horse battery staple").unwrap();
    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(10);
    group.bench_function("open_envelope_64MiB_t3_p4", |b| {
        b.iter(|| black_box(envelope.open(b"correct horse battery staple").unwrap()))
    });
    drop(group);
}

/// Writes `plain` into `w` in 64 KiB pieces.
#[cfg(feature = "hazmat")]
fn fill<W: Write>(mut w: W, plain: &[u8]) -> W {
    for piece in plain.chunks(64 << 10) {
        w.write_all(piece).unwrap();
    }
    w
}

/// Reads `r` to its end through `buf`; returns the bytes read.
#[cfg(feature = "hazmat")]
fn drain(mut r: impl Read, buf: &mut [u8]) -> usize {
    let mut total = 0;
    loop {
        match r.read(buf).unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

#[cfg(feature = "hazmat")]
fn history(c: &mut Criterion) {
    const SIZE: usize = 1 << 20;
    let backup_key = RecoveryCode::generate().unwrap().backup_key();
    let history_key = keylink::hazmat::history_key([7; 32], [9; 32]);
    let plain = vec![0x42u8; SIZE];
    let mut group = c.benchmark_group("history_1MiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.bench_function("backup_encrypt", |b| {
        b.iter(|| {
            let w = BackupWriter::new(io::sink(), &backup_key, ACCOUNT).unwrap();
            fill(w, &plain).finish().unwrap();
        })
    });
    group.bench_function("history_encrypt", |b| {
        b.iter(|| {
            let w = history_key.writer(io::sink()).unwrap();
            fill(w, &plain).finish().unwrap();
        })
    });
    let backup = BackupWriter::new(Vec::new(), &backup_key, ACCOUNT).unwrap();
    let backup = fill(backup, &plain).finish().unwrap();
    let file = fill(history_key.writer(Vec::new()).unwrap(), &plain);
    let file = file.finish().unwrap();
    let mut buf = vec![0u8; 64 << 10];
    group.bench_function("backup_decrypt", |b| {
        b.iter(|| {
            let r = BackupReader::new(&backup[..], &backup_key, ACCOUNT).unwrap();
            assert_eq!(drain(r, &mut buf), SIZE);
        })
    });
    group.bench_function("history_decrypt", |b| {
        b.iter(|| {
            assert_eq!(
                drain(history_key.reader(&file[..]).unwrap(), &mut buf),
                SIZE
            )
        })
    });
    drop(group);
}

#[cfg(not(feature = "hazmat"))]
fn history(_: &mut Criterion) {}

criterion_group!(benches, raw, streaming, argon2, history);
criterion_main!(benches);
