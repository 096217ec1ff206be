//! `Debug` output of every secret-holding type never shows a secret (identity seed, prekey
//! secrets, KEM decapsulation keys, chain, root and message keys).
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;

use common::{LAST_RESORT_KEM, OTPK_COUNT, SPK_ID, established, hex, proto, rng};
use keylink::keys::{KemPreKey, OneTimePreKey, SignedPreKey};
use keylink::store::ProtocolStore;

/// Every 32-byte secret in a serialized session record.
fn record_secrets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let record: proto::SessionRecord = proto::decode(bytes);
    let mut secrets = Vec::new();
    for s in record.current.iter().chain(&record.archived) {
        secrets.push(s.root_key.clone());
        if let Some(c) = &s.sending_chain {
            secrets.push(c.chain_key.clone());
            secrets.push(c.ratchet_private.clone());
        }
        // Header keys are stored as `hk_enc || hk_nonce`: two 32-byte secrets each.
        let mut header_keys = vec![
            &s.send_header_key,
            &s.next_send_header_key,
            &s.next_receive_header_key,
        ];
        if let Some(c) = &s.receiving_chain {
            secrets.push(c.chain_key.clone());
            header_keys.push(&c.header_key);
        }
        for chain in &s.skipped_chains {
            header_keys.push(&chain.header_key);
        }
        for key in header_keys {
            secrets.extend(key.chunks(32).map(<[u8]>::to_vec));
        }
    }
    secrets.extend(record.skipped_keys.iter().map(|k| k.message_key.clone()));
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// The secret parts of a KEM prekey's decapsulation key (FIPS 203 `dk = dk_pke || ek ||
/// H(ek) || z`: `dk_pke` and `z`), in 32-byte pieces.
fn kem_secrets(kem: &KemPreKey) -> Vec<Vec<u8>> {
    let dk = proto::decode::<proto::KemPreKeyRecord>(&kem.to_bytes()).private_key;
    assert_eq!(dk.len(), 3168);
    assert_eq!(dk[1536..3104], kem.public().as_bytes()[..]);
    let mut secrets: Vec<Vec<u8>> = dk[..1536].chunks(32).map(<[u8]>::to_vec).collect();
    secrets.push(dk[3136..].to_vec());
    secrets
}

fn assert_no_secret(debug: &str, secrets: &[Vec<u8>]) {
    let lower = debug.to_lowercase();
    for secret in secrets {
        assert_eq!(secret.len(), 32);
        assert!(
            !lower.contains(&hex(secret)),
            "Debug output leaks a secret: {debug}"
        );
        // Nor as a decimal byte list (a derived Debug of an array).
        let list = format!("{:?}", &secret[..8]);
        assert!(
            !debug.contains(list.trim_matches(['[', ']'])),
            "Debug output leaks a secret: {debug}"
        );
    }
}

#[test]
fn debug_output_never_shows_secrets() {
    let (mut alice, mut bob) = established();
    let m: Vec<_> = (0..3).map(|_| alice.send_bytes(&bob.addr, b"x")).collect();
    bob.recv_ok(&alice.addr, &m[2], b"x"); // leaves skipped keys

    // Identity: the seed and the X25519 scalar derived from it.
    let seed = [0x5Au8; 32];
    let id = keylink::hazmat::identity_from_seed(&seed);
    let scalar = ed25519_dalek::SigningKey::from_bytes(&seed).to_scalar_bytes();
    let record: proto::IdentityRecord = proto::decode(&id.to_bytes());
    assert_eq!(record.seed, seed);
    let debug = format!("{id:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[seed.to_vec(), scalar.to_vec()]);
    assert!(
        debug.contains(&hex(id.public().as_bytes())),
        "public half shown"
    );

    let mut rng = rng();
    let spk = SignedPreKey::generate(1, &id, &mut rng);
    let secret = proto::decode::<proto::PreKeyRecord>(&spk.to_bytes()).private_key;
    let debug = format!("{spk:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[secret]);

    let otpk = OneTimePreKey::generate(2, &mut rng);
    let secret = proto::decode::<proto::PreKeyRecord>(&otpk.to_bytes()).private_key;
    let debug = format!("{otpk:?}");
    assert!(debug.contains("redacted"), "{debug}");
    assert_no_secret(&debug, &[secret]);

    for kem in [
        KemPreKey::generate(3, &id, &mut rng),
        KemPreKey::generate_last_resort(4, &id, &mut rng),
    ] {
        let secrets = kem_secrets(&kem);
        for debug in [format!("{kem:?}"), format!("{kem:#?}")] {
            assert!(debug.contains("redacted"), "{debug}");
            assert_no_secret(&debug, &secrets);
        }
    }

    for (device, peer) in [(&alice, &bob.addr), (&bob, &alice.addr)] {
        let record = device.record(peer);
        let secrets = record_secrets(&record.to_bytes());
        assert!(secrets.len() >= 4);
        assert_no_secret(&format!("{record:?}"), &secrets);
        assert_no_secret(&format!("{record:#?}"), &secrets);
        let session = record.current().unwrap();
        assert_no_secret(&format!("{session:?}"), &secrets);
    }

    // The rows a store holds: the index, a session, a skipped message key.
    let index = bob.store.session_index(&alice.addr).unwrap().unwrap();
    let current = index.current().unwrap();
    let session = bob.store.session(&alice.addr, current).unwrap().unwrap();
    let secrets = record_secrets(&bob.record(&alice.addr).to_bytes());
    assert_no_secret(&format!("{index:?}{session:?}"), &secrets);
    let chain = proto::decode::<proto::SessionRecord>(&bob.record(&alice.addr).to_bytes())
        .skipped_keys[0]
        .chain;
    let id = keylink::session::SkippedKeyId {
        session: *current,
        chain,
        counter: 0,
    };
    let key = bob.store.skipped_message_key(&alice.addr, &id).unwrap();
    let key = key.expect("message 0 was skipped");
    assert_eq!(key.id(), &id);
    assert_no_secret(&format!("{key:?} {key:#?}"), &secrets);

    // The whole store: identity seed, prekey secrets and every session secret.
    let mut secrets = record_secrets(&bob.record(&alice.addr).to_bytes());
    secrets.push(proto::decode::<proto::IdentityRecord>(&bob.identity.to_bytes()).seed);
    let spk = bob.store.signed_prekey(SPK_ID.into()).unwrap().unwrap();
    secrets.push(proto::decode::<proto::PreKeyRecord>(&spk.to_bytes()).private_key);
    for id in bob.otpk_ids() {
        let otpk = bob.store.one_time_prekey(id.into()).unwrap().unwrap();
        secrets.push(proto::decode::<proto::PreKeyRecord>(&otpk.to_bytes()).private_key);
    }
    assert!(secrets.len() > OTPK_COUNT as usize);
    let kem_ids = bob.kem_ids();
    for id in kem_ids.iter().copied().chain([LAST_RESORT_KEM]) {
        let kem = bob.store.kem_prekey(id.into()).unwrap().unwrap();
        secrets.extend(kem_secrets(&kem));
    }
    assert!(secrets.len() > OTPK_COUNT as usize + 49 * kem_ids.len());
    assert_no_secret(&format!("{:?}", bob.store), &secrets);
    assert_no_secret(&format!("{:#?}", bob.store), &secrets);
}
