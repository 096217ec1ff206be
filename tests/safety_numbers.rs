//! Safety numbers and account key records (docs/PROTOCOL.md §11): the shown string, the QR
//! payload and its scan rules, the record's versioning, and the known-answer vectors of
//! `test-vectors/keylink/safety_numbers.json`, recomputed here from SHA-512 directly.

#![cfg(test)]

use keylink::Error;
use keylink::account::{AccountKey, AccountKeyPair, PhoneNumber, SafetyNumber, Verification};
use sha2::{Digest, Sha512};

const VECTORS: &str = "test-vectors/keylink/safety_numbers.json";

fn phone(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text).unwrap()
}

/// The account key record of `seed` (PROTOCOL.md §11.2): `0x14`, field 1 of 32 bytes.
fn record(seed: &[u8; 32]) -> Vec<u8> {
    [&[0x14, 0x0A, 0x20][..], seed].concat()
}

fn account(seed: u8) -> AccountKeyPair {
    AccountKeyPair::from_bytes(&record(&[seed; 32])).unwrap()
}

struct Party {
    key: AccountKeyPair,
    phone: PhoneNumber,
}

fn party(seed: u8, number: &str) -> Party {
    Party {
        key: account(seed),
        phone: phone(number),
    }
}

fn between(own: &Party, peer: &Party) -> SafetyNumber {
    SafetyNumber::new(&own.phone, own.key.public(), &peer.phone, peer.key.public())
}

fn alice() -> Party {
    party(0xA1, "+14155550100")
}

fn bob() -> Party {
    party(0xB0, "+447700900123")
}

#[test]
fn both_parties_see_the_same_string() {
    let (a, b) = (alice(), bob());
    let (at_a, at_b) = (between(&a, &b), between(&b, &a));
    assert_eq!(at_a.displayed(), at_b.displayed());
    assert_eq!(at_a.to_string(), at_a.displayed());
    assert_ne!(at_a.qr_payload(), at_b.qr_payload());
}

#[test]
fn sixty_digits_in_twelve_groups_of_five() {
    let shown = between(&alice(), &bob()).displayed().to_owned();
    let groups: Vec<&str> = shown.split(' ').collect();
    assert_eq!(groups.len(), 12);
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
    );
    assert_eq!(shown.len(), 71);
    // The smaller 30-digit half first.
    let digits: String = groups.concat();
    assert!(digits[..30] <= digits[30..]);
}

#[test]
fn changes_when_an_account_key_or_a_phone_number_changes() {
    let (a, b) = (alice(), bob());
    let base = between(&a, &b).displayed().to_owned();
    let other_key = Party {
        key: account(0xC3),
        phone: phone("+447700900123"),
    };
    let other_number = Party {
        key: account(0xB0),
        phone: phone("+447700900124"),
    };
    let own_other_number = Party {
        key: account(0xA1),
        phone: phone("+14155550101"),
    };
    for (own, peer) in [
        (&a, &other_key),
        (&a, &other_number),
        (&own_other_number, &b),
    ] {
        assert_ne!(between(own, peer).displayed(), base);
    }
}

#[test]
fn a_scanned_peer_code_matches() {
    let (a, b) = (alice(), bob());
    let (at_a, at_b) = (between(&a, &b), between(&b, &a));
    assert_eq!(
        at_a.verify_scanned(&at_b.qr_payload()).unwrap(),
        Verification::Match
    );
    assert_eq!(
        at_b.verify_scanned(&at_a.qr_payload()).unwrap(),
        Verification::Match
    );
    let payload = at_a.qr_payload();
    assert_eq!(payload.len(), 65);
    assert_eq!(payload[0], 0x01);
}

#[test]
fn other_keys_numbers_and_swapped_halves_mismatch() {
    let (a, b) = (alice(), bob());
    let at_a = between(&a, &b);
    let mallory_key = Party {
        key: account(0xC3),
        phone: phone("+447700900123"),
    };
    let other_number = Party {
        key: account(0xB0),
        phone: phone("+447700900124"),
    };
    for impostor in [&mallory_key, &other_number] {
        let code = between(impostor, &a).qr_payload();
        assert_eq!(at_a.verify_scanned(&code).unwrap(), Verification::Mismatch);
    }
    // Our own code (the halves in our order, not the peer's) is not the peer's.
    assert_eq!(
        at_a.verify_scanned(&at_a.qr_payload()).unwrap(),
        Verification::Mismatch
    );
    // A safety number for a different number: Bob's code for a conversation with Alice
    // at another of her numbers.
    let alice_elsewhere = Party {
        key: account(0xA1),
        phone: phone("+14155550199"),
    };
    let code = between(&b, &alice_elsewhere).qr_payload();
    assert_eq!(at_a.verify_scanned(&code).unwrap(), Verification::Mismatch);
    // One flipped bit anywhere after the version byte.
    let good = between(&b, &a).qr_payload();
    for i in 1..65 {
        let mut bad = good;
        bad[i] ^= 0x01;
        assert_eq!(at_a.verify_scanned(&bad).unwrap(), Verification::Mismatch);
    }
}

#[test]
fn another_first_byte_is_an_unknown_version_whatever_the_length() {
    let (a, b) = (alice(), bob());
    let at_a = between(&a, &b);
    let mut v2 = between(&b, &a).qr_payload().to_vec();
    v2[0] = 0x02;
    for code in [&v2[..], &[0x02][..], &[0x00; 66][..], &[0xFF; 3][..]] {
        match at_a.verify_scanned(code) {
            Err(Error::UnknownVersion { found, .. }) => assert_eq!(found, code[0]),
            other => panic!("{code:02x?}: {other:?}"),
        }
    }
}

#[test]
fn empty_and_wrong_lengths_are_malformed() {
    let (a, b) = (alice(), bob());
    let at_a = between(&a, &b);
    let good = between(&b, &a).qr_payload();
    let mut longer = good.to_vec();
    longer.push(0);
    for code in [&[][..], &good[..64], &longer[..], &[0x01][..]] {
        assert!(
            matches!(at_a.verify_scanned(code), Err(Error::Malformed(_))),
            "{} bytes",
            code.len()
        );
    }
}

#[test]
fn account_records_from_a_newer_version_are_refused() {
    let mut newer = record(&[0xA1; 32]);
    for lead in [0x24, 0x34, 0xF4, 0x04] {
        newer[0] = lead;
        assert!(matches!(
            AccountKeyPair::from_bytes(&newer),
            Err(Error::UnknownVersion { found, .. }) if found == lead >> 4
        ));
    }
}

#[test]
fn truncated_and_garbage_records_are_malformed() {
    let good = record(&[0xA1; 32]);
    for len in 0..good.len() {
        assert!(matches!(
            AccountKeyPair::from_bytes(&good[..len]),
            Err(Error::Malformed(_))
        ));
    }
    let identity_record = [&[0x18][..], &good[1..]].concat();
    for garbage in [
        &identity_record[..],
        &[0x14, 0xFF, 0xFF][..],
        &[0x14, 0x12, 0x20][..],
        &[&good[..], &[0x00]].concat()[..],
    ] {
        assert!(
            matches!(
                AccountKeyPair::from_bytes(garbage),
                Err(Error::Malformed(_))
            ),
            "{garbage:02x?}"
        );
    }
}

#[test]
fn debug_of_the_key_pair_shows_no_secret() {
    let key = account(0xA1);
    let debug = format!("{key:?}");
    assert!(debug.contains("<redacted>"));
    assert!(!debug.contains(&hex::encode([0xA1; 32])));
    assert!(debug.contains(&hex::encode(key.public().as_bytes())));
}

#[test]
fn account_and_identity_keys_are_distinct_types() {
    let key = account(0xA1);
    let public: AccountKey = *key.public();
    // Same validation as an identity key: the same bytes parse as both, as different types.
    let identity = keylink::keys::IdentityKey::from_bytes(public.as_bytes()).unwrap();
    assert_eq!(identity.as_bytes(), public.as_bytes());
}

// ---- Known-answer vectors ----------------------------------------------------------------

/// The intermediate hashes recorded in the file, by index `i` of `h_i`.
const RECORDED: [u32; 6] = [0, 1, 2, 2600, 5199, 5200];

/// The parties of the vector file: (name, seed byte, phone).
const PARTIES: [(&str, u8, &str); 5] = [
    ("alice", 0xA1, "+14155550100"),
    ("bob", 0xB0, "+447700900123"),
    ("carol", 0xC3, "+4915112345678"),
    ("bob_new_number", 0xB0, "+447700900124"),
    ("bob_new_key", 0xB1, "+447700900123"),
];

/// The pairs (own, peer) of the vector file.
const PAIRS: [(&str, &str); 4] = [
    ("alice", "bob"),
    ("alice", "carol"),
    ("bob", "carol"),
    ("alice", "bob_new_number"),
];

/// The hash chain of DESIGN.md, from SHA-512 directly: `h_0 ..= h_5200`.
fn chain(key: &[u8; 32], phone: &str) -> Vec<[u8; 64]> {
    let mut h: [u8; 64] = Sha512::new()
        .chain_update([0u8, 0u8])
        .chain_update(b"keylink v1 safety number")
        .chain_update(key)
        .chain_update(phone.as_bytes())
        .finalize()
        .into();
    let mut all = vec![h];
    for _ in 0..5200 {
        h = Sha512::new()
            .chain_update(h)
            .chain_update(key)
            .finalize()
            .into();
        all.push(h);
    }
    all
}

fn thirty_digits(f: &[u8]) -> String {
    (0..6)
        .map(|i| {
            let n = f[5 * i..5 * i + 5]
                .iter()
                .fold(0u64, |n, &b| n * 256 + u64::from(b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

fn grouped(digits: &str) -> String {
    let groups: Vec<&str> = (0..digits.len() / 5)
        .map(|i| &digits[5 * i..5 * i + 5])
        .collect();
    groups.join(" ")
}

/// Everything in the vector file, computed from its inputs without keylink's safety number
/// code (SHA-512 and the formulas), and checked against keylink on the way.
fn computed() -> serde_json::Value {
    let mut parties = Vec::new();
    let mut fingerprints = std::collections::HashMap::new();
    for (name, seed, number) in PARTIES {
        let seed = [seed; 32];
        let key = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let from_record = AccountKeyPair::from_bytes(&record(&seed)).unwrap();
        assert_eq!(from_record.public().to_bytes(), key);
        assert_eq!(*from_record.to_bytes(), record(&seed));
        let hashes = chain(&key, number);
        let f = hashes[5200][..32].to_vec();
        let digits = thirty_digits(&f);
        fingerprints.insert(name, (f.clone(), digits.clone(), key, number));
        let mut entry = serde_json::json!({
            "name": name,
            "seed": hex::encode(seed),
            "account_key_record": hex::encode(record(&seed)),
            "account_key": hex::encode(key),
            "phone": number,
            "h_0_input": hex::encode(
                [&[0u8, 0][..], b"keylink v1 safety number", &key, number.as_bytes()].concat()
            ),
            "fingerprint": hex::encode(&f),
            "digits": digits,
        });
        for i in RECORDED {
            entry[format!("h_{i}")] = hex::encode(hashes[i as usize]).into();
        }
        parties.push(entry);
    }
    let mut pairs = Vec::new();
    for (own, peer) in PAIRS {
        let (f_own, d_own, key_own, phone_own) = &fingerprints[own];
        let (f_peer, d_peer, key_peer, phone_peer) = &fingerprints[peer];
        let (first, second) = if d_own <= d_peer {
            (d_own, d_peer)
        } else {
            (d_peer, d_own)
        };
        let displayed = grouped(&format!("{first}{second}"));
        let qr_own = [&[0x01][..], f_own, f_peer].concat();
        let qr_peer = [&[0x01][..], f_peer, f_own].concat();
        // keylink agrees, from both sides.
        let (k_own, k_peer) = (
            AccountKey::from_bytes(key_own).unwrap(),
            AccountKey::from_bytes(key_peer).unwrap(),
        );
        let (p_own, p_peer) = (phone(phone_own), phone(phone_peer));
        let at_own = SafetyNumber::new(&p_own, &k_own, &p_peer, &k_peer);
        let at_peer = SafetyNumber::new(&p_peer, &k_peer, &p_own, &k_own);
        assert_eq!(at_own.displayed(), displayed);
        assert_eq!(at_peer.displayed(), displayed);
        assert_eq!(at_own.qr_payload().to_vec(), qr_own);
        assert_eq!(at_peer.qr_payload().to_vec(), qr_peer);
        assert_eq!(
            at_own.verify_scanned(&qr_peer).unwrap(),
            Verification::Match
        );
        assert_eq!(
            at_peer.verify_scanned(&qr_own).unwrap(),
            Verification::Match
        );
        pairs.push(serde_json::json!({
            "own": own,
            "peer": peer,
            "displayed": displayed,
            "qr_payload_own": hex::encode(qr_own),
            "qr_payload_peer": hex::encode(qr_peer),
        }));
    }
    serde_json::json!({
        "description": "keylink safety numbers (PROTOCOL.md 11.3, DESIGN.md 'Safety numbers'): for each party (account key from a fixed Ed25519 seed, E.164 phone number) the hash chain h_0 .. h_5200 at a few indices, F and its 30 digits; for pairs of parties the shown 60 digits and both QR payloads",
        "source": "generated by keylink: cargo test --release --test safety_numbers generate_vectors -- --ignored; checked by tests/safety_numbers.rs, which recomputes every value with SHA-512 directly",
        "format": "test-vectors/README.md",
        "label": "keylink v1 safety number",
        "iterations": 5200,
        "recorded_hashes": RECORDED,
        "parties": parties,
        "pairs": pairs,
    })
}

fn vectors_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
}

#[test]
fn the_vector_file_is_what_sha512_and_keylink_compute() {
    let text = std::fs::read_to_string(vectors_path()).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file, computed());
}

/// A changed label, iteration count or phone encoding gives other digits than the file's:
/// the check above would notice any of them.
#[test]
fn the_vectors_pin_the_label_and_the_iteration_count() {
    let key = account(0xA1).public().to_bytes();
    let f = &chain(&key, "+14155550100")[5200][..32];
    let other_count = &chain(&key, "+14155550100")[5199][..32];
    let without_plus = &chain(&key, "14155550100")[5200][..32];
    assert_ne!(thirty_digits(f), thirty_digits(other_count));
    assert_ne!(thirty_digits(f), thirty_digits(without_plus));
}

#[test]
#[ignore = "writes test-vectors/keylink/safety_numbers.json"]
fn generate_vectors() {
    let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
    std::fs::write(vectors_path(), text).unwrap();
}
