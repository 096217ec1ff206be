//! Linking a companion end to end (PROTOCOL.md §12.3), both sides' CPU, beside the
//! primitives it is made of, measured in the same run:
//!
//! - typed code: CPace on both sides (2 generators, each a SHA-512 and a ristretto255
//!   hash-to-group; 4 scalar multiplications), one ML-KEM-1024 key generation, encapsulation
//!   and decapsulation, 2 X25519 key generations and 2 X25519, and the signatures: 3 Ed25519
//!   signs (`account_sig`, `device_sig`, the new list) and 7 `verify_strict` (the companion
//!   checks `account_sig`; the primary checks the new entry's two signatures, then issuing the
//!   list checks both entries' two), and 2 Ed25519 key generations (the companion's identity
//!   key; the primary's account key pair, rebuilt from its bytes for each run);
//! - QR code: the same without CPace.
//!
//! The symmetric work (the transcript hash over 3.2 KB, HKDF, 2 HMAC, 2 AES-GCM) is left out
//! of the sum: it is what the ratio shows. Run with `cargo bench --bench link`.

#![allow(clippy::panic, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey};
use keylink::Timestamp;
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::IdentityKeyPair;
use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingCode, Primary, PrimaryStep};
use libcrux_ml_kem::mlkem1024;
use rand_core::Rng as _;
use sha2::{Digest, Sha512};
use std::hint::black_box;

struct Account {
    phone: PhoneNumber,
    account_bytes: Vec<u8>,
    list: VerifiedDeviceList,
}

fn account() -> Account {
    let mut rng = keylink::os_rng();
    let phone = PhoneNumber::parse("+447700900123").expect("valid");
    let account = AccountKeyPair::generate(&mut rng);
    let t = Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&account, &IdentityKeyPair::generate(&mut rng), t);
    let list = SignedDeviceList::issue(&account, &phone, 1, t, vec![entry])
        .expect("issue")
        .verify(&phone)
        .expect("verify");
    Account {
        phone,
        account_bytes: account.to_bytes().to_vec(),
        list,
    }
}

fn grant(a: &Account) -> LinkGrant {
    let account = AccountKeyPair::from_bytes(&a.account_bytes).expect("account");
    let t = Timestamp::from_unix_secs(1_800_000_100);
    LinkGrant::new(account, a.list.clone(), t).expect("grant")
}

fn send(step: PrimaryStep) -> Vec<u8> {
    match step {
        PrimaryStep::Send(bytes) => bytes,
        PrimaryStep::Linked(_) => panic!("linked too early"),
        _ => panic!("unknown step"),
    }
}

/// One whole link, both sides, from a new companion to the primary's new list.
fn link(a: &Account, by_code: bool) -> SignedDeviceList {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let (mut companion, mut primary) = if by_code {
        let companion = Companion::with_code(identity, &mut rng);
        let code = companion.code().expect("code").to_string();
        let typed = LinkingCode::parse(&code).expect("parses");
        let primary = Primary::typed(&typed, grant(a));
        (companion, primary)
    } else {
        let companion = Companion::with_qr(identity, &mut rng);
        let scanned = companion.qr().expect("qr").to_bytes();
        let qr = keylink::link::LinkingQr::parse(scanned.as_slice()).expect("parses");
        (companion, Primary::scanned(qr, grant(a)))
    };
    let hello = companion.start(&mut rng).expect("start");
    let reply = send(primary.receive(&hello, &mut rng).expect("reply"));
    let confirmation = match companion.receive(&reply).expect("confirm") {
        CompanionStep::Send(bytes) => bytes,
        _ => panic!("no confirmation"),
    };
    let account = send(primary.receive(&confirmation, &mut rng).expect("account"));
    let device = match companion.receive(&account).expect("device") {
        CompanionStep::Linked { reply, .. } => reply,
        _ => panic!("not linked"),
    };
    match primary.receive(&device, &mut rng).expect("linked") {
        PrimaryStep::Linked(linked) => linked.into_list(),
        _ => panic!("not linked"),
    }
}

/// The public-key primitives of one link (see the module docs).
fn primitives(by_code: bool, signing: &SigningKey, signed: &[(Vec<u8>, ed25519_dalek::Signature)]) {
    let mut rng = keylink::os_rng();
    if by_code {
        for _ in 0..2 {
            let hash = Sha512::digest([7u8; 166]);
            let g = RistrettoPoint::from_uniform_bytes(&hash.into());
            let mut y = [0u8; 32];
            rng.fill_bytes(&mut y);
            let y = Scalar::from_bytes_mod_order(y);
            let share = (y * g).compress();
            let k = y * share.decompress().expect("decodes");
            black_box(k.compress());
        }
    }
    let mut seed = [0u8; 64];
    rng.fill_bytes(&mut seed);
    let pair = mlkem1024::generate_key_pair(seed);
    let mut m = [0u8; 32];
    rng.fill_bytes(&mut m);
    let (ct, ss) = mlkem1024::encapsulate(pair.public_key(), m);
    black_box((ss, mlkem1024::decapsulate(pair.private_key(), &ct)));
    let c = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let p = x25519_dalek::StaticSecret::random_from_rng(&mut rng);
    let (c_pub, p_pub) = (
        x25519_dalek::PublicKey::from(&c),
        x25519_dalek::PublicKey::from(&p),
    );
    black_box((c.diffie_hellman(&p_pub), p.diffie_hellman(&c_pub)));
    // The companion's identity key and the primary's account key pair (from its bytes).
    for _ in 0..2 {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        black_box(SigningKey::from_bytes(&seed).verifying_key());
    }
    for _ in 0..3 {
        black_box(signing.sign(&[1u8; 104]));
    }
    let verifying = signing.verifying_key();
    for (message, signature) in signed {
        black_box(verifying.verify_strict(message, signature).is_ok());
    }
}

fn linking(c: &mut Criterion) {
    let a = account();
    assert_eq!(
        link(&a, true).verify(&a.phone).expect("verifies").version(),
        2
    );
    let signing = SigningKey::generate(&mut keylink::os_rng());
    // The verified messages' lengths: account_sig (28 + 76, three times) and device_sig
    // (27 + 76 + 64, three times), and the primary's own entry's two once more in the list.
    let signed: Vec<(Vec<u8>, ed25519_dalek::Signature)> = [104usize, 104, 104, 167, 167, 167, 167]
        .iter()
        .map(|&len| {
            let message = vec![3u8; len];
            let signature = signing.sign(&message);
            (message, signature)
        })
        .collect();
    let mut group = c.benchmark_group("linking");
    group.sample_size(20);
    group.bench_function("typed code, both sides, end to end", |b| {
        b.iter(|| black_box(link(&a, true)))
    });
    group.bench_function("typed code: primitives", |b| {
        b.iter(|| primitives(true, &signing, &signed))
    });
    group.bench_function("QR code, both sides, end to end", |b| {
        b.iter(|| black_box(link(&a, false)))
    });
    group.bench_function("QR code: primitives", |b| {
        b.iter(|| primitives(false, &signing, &signed))
    });
    group.finish();
}

criterion_group!(benches, linking);
criterion_main!(benches);
