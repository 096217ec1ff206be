//! The primitives keylink's operations are made of, measured as `benches/ratchet.rs` and
//! `benches/setup.rs` measure them (a cipher whose key is already set up), and the sums that
//! `benches/README.md` compares the operations with.

use std::hint::black_box;

use aes_gcm::aead::{AeadInOut, KeyInit};
use hmac::Mac;

use crate::{Op, Stopwatch, time_n};

const KEY: [u8; 32] = [1u8; 32];
const NONCE: [u8; 12] = [0u8; 12];
/// The body's associated data: AD (64 B) || encrypted header (69 B).
const BODY_AAD: [u8; 64 + 69] = [0u8; 64 + 69];
/// The header's associated data: AD (64 B).
const HEADER_AAD: [u8; 64] = [0u8; 64];

/// One large message.
pub const MIB: usize = 1 << 20;

/// A primitive sum: how many of which primitive (by [`Op::id`]).
pub type Sum = &'static [(u32, &'static str)];

/// Encrypt 100 B on an existing chain: KDF_CK's 2 HMAC + HKDF (key and nonce) + seal 100 B,
/// plus the header seal: HMAC over 41 B (`h_nonce`) + seal 41 B.
pub const ENCRYPT_100: Sum = &[
    (2, "prim.hmac1"),
    (1, "prim.hkdf44"),
    (1, "prim.seal100"),
    (1, "prim.hmac41"),
    (1, "prim.seal41"),
];

/// Decrypt 100 B on an existing chain: the same with the opens, plus the header open and its
/// `h_nonce` check (HMAC over 41 B).
pub const DECRYPT_100: Sum = &[
    (2, "prim.hmac1"),
    (1, "prim.hkdf44"),
    (1, "prim.open100"),
    (1, "prim.open41"),
    (1, "prim.hmac41"),
];

/// PQXDH initiator from a verified bundle with a one-time prekey: 2 X25519 keygen + 5 DH +
/// ML-KEM-1024 encaps + 2 HKDF.
pub const INITIATOR: Sum = &[
    (2, "prim.x25519_keygen"),
    (5, "prim.x25519_dh"),
    (1, "prim.mlkem_encaps"),
    (2, "prim.hkdf192"),
];

/// PQXDH responder including the first 100 B message: 6 DH + 1 keygen + decaps + 3 HKDF +
/// the first message's decrypt ([`DECRYPT_100`]).
pub const RESPONDER: Sum = &[
    (6, "prim.x25519_dh"),
    (1, "prim.x25519_keygen"),
    (1, "prim.mlkem_decaps"),
    (3, "prim.hkdf192"),
    (2, "prim.hmac1"),
    (1, "prim.hkdf44"),
    (1, "prim.open100"),
    (1, "prim.open41"),
    (1, "prim.hmac41"),
];

/// The first message of a new chain (100 B), a DH ratchet step: 2 DH + keygen + 4 HKDF + the
/// message ([`DECRYPT_100`]) + the failing open of the header under HKr before NHKr opens it.
pub const DH_STEP: Sum = &[
    (2, "prim.x25519_dh"),
    (1, "prim.x25519_keygen"),
    (4, "prim.hkdf44"),
    (2, "prim.hmac1"),
    (1, "prim.hkdf44"),
    (1, "prim.open100"),
    (1, "prim.open41"),
    (1, "prim.hmac41"),
    (1, "prim.open41_fails"),
];

fn hmac_over(data: &[u8]) -> impl Sized {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&KEY).expect("any key");
    mac.update(black_box(data));
    mac.finalize().into_bytes()
}

fn hkdf(ikm: &[u8], info: &[u8], okm: &mut [u8]) {
    let kdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), black_box(ikm));
    kdf.expand(info, okm).expect("short output");
}

fn cipher() -> aes_gcm::Aes256Gcm {
    aes_gcm::Aes256Gcm::new(&KEY.into())
}

/// A sealed `N`-byte buffer and its tag, under [`cipher`] with `aad`.
fn sealed<const N: usize>(aad: &[u8]) -> ([u8; N], aes_gcm::Tag) {
    let mut buf = [0u8; N];
    let tag = cipher()
        .encrypt_inout_detached(&NONCE.into(), aad, buf.as_mut_slice().into())
        .expect("seal");
    (buf, tag)
}

fn seal<const N: usize>(id: &'static str, name: &'static str, aad: &'static [u8]) -> Op {
    let cipher = cipher();
    Op::new(id, "primitive", name, move |n| {
        time_n(n, || {
            let mut buf = [0u8; N];
            let tag = cipher.encrypt_inout_detached(&NONCE.into(), aad, buf.as_mut_slice().into());
            black_box((buf, tag.expect("seal")));
        })
    })
}

fn open<const N: usize>(id: &'static str, name: &'static str, aad: &'static [u8]) -> Op {
    let cipher = cipher();
    let (sealed, tag) = sealed::<N>(aad);
    Op::new(id, "primitive", name, move |n| {
        time_n(n, || {
            let mut buf = sealed;
            let ok =
                cipher.decrypt_inout_detached(&NONCE.into(), aad, buf.as_mut_slice().into(), &tag);
            black_box((buf, ok.expect("opens")));
        })
    })
}

/// The symmetric primitives of a ratchet message.
pub fn symmetric() -> Vec<Op> {
    let cipher = cipher();
    let (header, _) = sealed::<41>(&HEADER_AAD);
    let wrong_tag = aes_gcm::Tag::default();
    vec![
        Op::new("prim.hmac1", "primitive", "HMAC-SHA256 (1 B)", |n| {
            time_n(n, || drop(black_box(hmac_over(&[1]))))
        }),
        Op::new("prim.hmac41", "primitive", "HMAC-SHA256 over 41 B", |n| {
            time_n(n, || drop(black_box(hmac_over(&[1u8; 41]))))
        }),
        Op::new(
            "prim.hkdf44",
            "primitive",
            "HKDF-SHA256 (32 B in, 44 B out)",
            |n| {
                time_n(n, || {
                    let mut okm = [0u8; 44];
                    hkdf(&KEY, b"keylink v1 message", &mut okm);
                    black_box(okm);
                })
            },
        ),
        seal::<100>(
            "prim.seal100",
            "AES-256-GCM seal 100 B (AAD 133 B)",
            &BODY_AAD,
        ),
        open::<100>(
            "prim.open100",
            "AES-256-GCM open 100 B (AAD 133 B)",
            &BODY_AAD,
        ),
        seal::<41>(
            "prim.seal41",
            "AES-256-GCM seal 41 B (AAD 64 B)",
            &HEADER_AAD,
        ),
        open::<41>(
            "prim.open41",
            "AES-256-GCM open 41 B (AAD 64 B)",
            &HEADER_AAD,
        ),
        Op::new(
            "prim.open41_fails",
            "primitive",
            "AES-256-GCM open 41 B, fails (no key setup)",
            move |n| {
                time_n(n, || {
                    let mut buf = header;
                    let failed = cipher
                        .decrypt_inout_detached(
                            &NONCE.into(),
                            &HEADER_AAD,
                            buf.as_mut_slice().into(),
                            &wrong_tag,
                        )
                        .is_err();
                    black_box(failed);
                })
            },
        ),
    ]
}

/// The asymmetric primitives of a setup and a DH ratchet step.
pub fn asymmetric() -> Vec<Op> {
    let mut rng = keylink::os_rng();
    let ours = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let theirs =
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(&mut rng));
    let kem = libcrux_ml_kem::mlkem1024::generate_key_pair([1u8; 64]);
    let (ciphertext, _) = libcrux_ml_kem::mlkem1024::encapsulate(kem.public_key(), [2u8; 32]);
    // The same key pair again (same seed), for the decaps closure to own.
    let decaps_key = libcrux_ml_kem::mlkem1024::generate_key_pair([1u8; 64]);
    vec![
        Op::new(
            "prim.x25519_keygen",
            "primitive",
            "X25519 keygen",
            move |n| {
                time_n(n, || {
                    let secret = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
                    black_box(x25519_dalek::PublicKey::from(&secret));
                })
            },
        ),
        Op::new("prim.x25519_dh", "primitive", "X25519 DH", move |n| {
            time_n(n, || {
                drop(black_box(ours.diffie_hellman(black_box(&theirs))))
            })
        }),
        Op::new(
            "prim.mlkem_encaps",
            "primitive",
            "ML-KEM-1024 encaps",
            move |n| {
                time_n(n, || {
                    black_box(libcrux_ml_kem::mlkem1024::encapsulate(
                        kem.public_key(),
                        [2u8; 32],
                    ));
                })
            },
        ),
        Op::new(
            "prim.mlkem_decaps",
            "primitive",
            "ML-KEM-1024 decaps",
            move |n| {
                time_n(n, || {
                    black_box(libcrux_ml_kem::mlkem1024::decapsulate(
                        decaps_key.private_key(),
                        &ciphertext,
                    ));
                })
            },
        ),
        Op::new(
            "prim.hkdf192",
            "primitive",
            "HKDF-SHA256 (192 B in, 32 B out)",
            |n| {
                time_n(n, || {
                    let mut okm = [0u8; 32];
                    hkdf(&[7u8; 192], b"keylink v1 pqxdh ML-KEM-1024", &mut okm);
                    black_box(okm);
                })
            },
        ),
    ]
}

/// Raw AES-256-GCM over 1 MiB in place, the key set up once: the reference for keylink's
/// 1 MiB messages. The buffer is refilled before each call, off the clock (as keylink's
/// in-place calls get theirs), with the plaintext to seal or the ciphertext to open.
pub fn aes_1mib() -> Vec<Op> {
    let seal_cipher = cipher();
    let open_cipher = cipher();
    let plaintext = vec![7u8; MIB];
    let mut ciphertext = plaintext.clone();
    let tag = cipher()
        .encrypt_inout_detached(&NONCE.into(), &BODY_AAD, ciphertext.as_mut_slice().into())
        .expect("seal");
    let mut seal_buf = vec![0u8; MIB];
    let mut open_buf = vec![0u8; MIB];
    vec![
        Op::new(
            "prim.seal1mib",
            "primitive",
            "AES-256-GCM seal 1 MiB in place",
            move |n| {
                let mut clock = Stopwatch::default();
                for _ in 0..n {
                    seal_buf.copy_from_slice(&plaintext);
                    let tag = clock.time(|| {
                        seal_cipher.encrypt_inout_detached(
                            &NONCE.into(),
                            &BODY_AAD,
                            seal_buf.as_mut_slice().into(),
                        )
                    });
                    black_box(tag.expect("seal"));
                }
                clock.total
            },
        ),
        Op::new(
            "prim.open1mib",
            "primitive",
            "AES-256-GCM open 1 MiB in place",
            move |n| {
                let mut clock = Stopwatch::default();
                for _ in 0..n {
                    open_buf.copy_from_slice(&ciphertext);
                    let ok = clock.time(|| {
                        open_cipher.decrypt_inout_detached(
                            &NONCE.into(),
                            &BODY_AAD,
                            open_buf.as_mut_slice().into(),
                            &tag,
                        )
                    });
                    ok.expect("opens");
                }
                clock.total
            },
        ),
    ]
}
