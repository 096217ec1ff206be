//! Wycheproof X25519, Ed25519, HKDF-SHA256, HMAC-SHA256 and AES-GCM vectors through keylink's
//! own primitive wrappers (`keylink::hazmat::primitives`): X25519 through the key pair and the
//! non-contributory check, Ed25519 through `IdentityKey` parsing and its `verify_strict` path,
//! HKDF, HMAC and AES-256-GCM through `primitives`. Every vector is either passed, skipped
//! because its parameters are not keylink's (AES-GCM key, nonce or tag sizes other than
//! 256/96/128 bits), or rejected by keylink's stricter key policy (pinned by tcId); any other
//! disagreement fails the test.
#![cfg(test)]
#![cfg(feature = "hazmat")]

use keylink::error::Error;
use keylink::hazmat::primitives::{
    aes256gcm_open, aes256gcm_seal, ed25519_verify, hkdf_sha256, hmac_sha256, x25519,
};
use keylink::keys::IdentityKey;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/test-vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `(group, test)` pair of a file.
fn vectors(file: &Value) -> Vec<(&Value, &Value)> {
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap().iter().map(move |t| (g, t)))
        .collect()
}

fn hex_field(value: &Value, name: &str) -> Vec<u8> {
    hex::decode(value[name].as_str().unwrap()).unwrap()
}

fn bits(group: &Value, name: &str) -> u64 {
    group[name].as_u64().unwrap()
}

/// How the vectors of one file fared. `passed + skipped + policy` must be every vector.
#[derive(Default)]
struct Tally {
    passed: usize,
    skipped: usize,
    policy: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, ok: bool, id: &Value, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("tcId {id}: {}", what()));
        }
    }

    /// Fail on any failing vector, check the count against `numberOfTests` and print it.
    fn finish(self, name: &str, file: &Value) -> Self {
        assert!(
            self.failures.is_empty(),
            "{name}: {} vector(s) failed:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        let total = vectors(file).len();
        assert_eq!(total as u64, file["numberOfTests"].as_u64().unwrap());
        assert_eq!(self.passed + self.skipped + self.policy, total);
        println!(
            "{name}: {}/{total} vectors passed, {} skipped (not keylink's parameters), {} rejected by keylink's stricter key policy",
            self.passed, self.skipped, self.policy
        );
        self
    }
}

/// X25519: keylink computes every shared secret per RFC 7748 (non-canonical public keys, twist
/// points and all) and rejects exactly those that are all zeros, with `NonContributoryKey`.
/// Wycheproof marks the zero-secret cases `acceptable` (flag `ZeroSharedSecret`).
#[test]
fn x25519_vectors() {
    let name = "x25519_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "XDH");
    let mut tally = Tally::default();
    // (result, accepted by keylink) -> count
    let mut seen = std::collections::BTreeMap::<(String, bool), usize>::new();
    for (group, test) in vectors(&file) {
        assert_eq!(group["curve"], "curve25519");
        let id = &test["tcId"];
        let result = test["result"].as_str().unwrap();
        let flags: Vec<&str> = test["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let secret: [u8; 32] = hex_field(test, "private").try_into().unwrap();
        let public: [u8; 32] = hex_field(test, "public").try_into().unwrap();
        let shared = hex_field(test, "shared");
        let zero = shared.iter().all(|&b| b == 0);
        // The vector file's own labelling agrees with what keylink is expected to reject.
        assert_eq!(zero, flags.contains(&"ZeroSharedSecret"), "tcId {id} flags");
        let outcome = x25519(secret, public);
        *seen
            .entry((result.to_owned(), outcome.is_ok()))
            .or_default() += 1;
        let ok = match (result, zero, &outcome) {
            ("invalid", _, Err(_)) => true,
            ("valid" | "acceptable", false, Ok(out)) => out[..] == shared[..],
            ("valid" | "acceptable", true, Err(Error::NonContributoryKey)) => true,
            _ => false,
        };
        tally.check(ok, id, || {
            format!(
                "{result}, expected shared {}, keylink gave {outcome:?}",
                hex::encode(&shared)
            )
        });
    }
    for ((result, accepted), count) in &seen {
        let verdict = if *accepted {
            "accepted, shared secret matches"
        } else {
            "rejected (all-zero shared secret, NonContributoryKey)"
        };
        println!("{name}: {result}: {count} {verdict}");
    }
    let tally = tally.finish(name, &file);
    assert_eq!((tally.passed, tally.skipped, tally.policy), (518, 0, 0));
    let count = |result: &str, accepted| seen.get(&(result.to_owned(), accepted)).copied();
    assert_eq!(count("valid", true), Some(264));
    assert_eq!(count("valid", false), None);
    assert_eq!(count("acceptable", true), Some(223));
    assert_eq!(count("acceptable", false), Some(31));
}

/// `valid` Ed25519 vectors whose public key keylink refuses at `IdentityKey` parsing (small
/// order or non-canonical encoding), a stricter rule than Wycheproof's. Each must be rejected
/// with `InvalidKey`, by the parser itself.
const ED25519_STRICTER_KEY_POLICY: &[u64] = &[];

/// Ed25519: every `valid` vector verifies (except the pinned stricter-key-policy ones), every
/// `invalid` one (malleable `S`, non-canonical encodings, truncated or padded signatures...) is
/// rejected.
#[test]
fn ed25519_vectors() {
    let name = "ed25519_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "EDDSA");
    let mut tally = Tally::default();
    let mut policy_seen = Vec::new();
    let (mut rejected_at_key, mut rejected_at_signature) = (0, 0);
    for (group, test) in vectors(&file) {
        let id = &test["tcId"];
        let tc = id.as_u64().unwrap();
        let result = test["result"].as_str().unwrap();
        let pk = hex_field(&group["publicKey"], "pk");
        let outcome = ed25519_verify(&pk, &hex_field(test, "msg"), &hex_field(test, "sig"));
        match &outcome {
            Err(Error::InvalidKey(_)) => rejected_at_key += 1,
            Err(_) => rejected_at_signature += 1,
            Ok(()) => {}
        }
        if ED25519_STRICTER_KEY_POLICY.contains(&tc) {
            let pinned = result == "valid"
                && matches!(outcome, Err(Error::InvalidKey(_)))
                && matches!(
                    IdentityKey::try_from(pk.as_slice()),
                    Err(Error::InvalidKey(_))
                );
            if pinned {
                tally.policy += 1;
                policy_seen.push(tc);
            } else {
                tally.failures.push(format!(
                    "tcId {id}: pinned as rejected by key policy, but {result} and {outcome:?}"
                ));
            }
            continue;
        }
        let ok = match result {
            "valid" => outcome.is_ok(),
            "invalid" => outcome.is_err(),
            _ => false,
        };
        tally.check(ok, id, || format!("{result}, keylink gave {outcome:?}"));
    }
    assert_eq!(policy_seen, ED25519_STRICTER_KEY_POLICY);
    println!(
        "{name}: rejections: {rejected_at_key} at IdentityKey parsing, {rejected_at_signature} at signature verification"
    );
    let tally = tally.finish(name, &file);
    assert_eq!(
        (tally.passed, tally.skipped, tally.policy),
        (
            151 - ED25519_STRICTER_KEY_POLICY.len(),
            0,
            ED25519_STRICTER_KEY_POLICY.len()
        )
    );
}

/// HKDF-SHA256: `valid` vectors give `okm`; `invalid` ones (output longer than 255 * 32 bytes)
/// are refused.
#[test]
fn hkdf_sha256_vectors() {
    let name = "hkdf_sha256_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "HKDF-SHA-256");
    let mut tally = Tally::default();
    for (_, test) in vectors(&file) {
        let id = &test["tcId"];
        let result = test["result"].as_str().unwrap();
        let size = usize::try_from(test["size"].as_u64().unwrap()).unwrap();
        let outcome = hkdf_sha256(
            &hex_field(test, "salt"),
            &hex_field(test, "ikm"),
            &hex_field(test, "info"),
            size,
        );
        let ok = match (result, &outcome) {
            ("valid", Ok(okm)) => okm[..] == hex_field(test, "okm")[..],
            ("invalid", Err(_)) => true,
            _ => false,
        };
        tally.check(ok, id, || {
            format!(
                "{result}, size {size}, keylink gave {:?}",
                outcome.map(hex::encode)
            )
        });
    }
    let tally = tally.finish(name, &file);
    assert_eq!((tally.passed, tally.skipped, tally.policy), (86, 0, 0));
}

/// HMAC-SHA256 with keys of 128, 256 and 520 bits; for the 128-bit tag groups the tag is the
/// leftmost `tagSize` bits of the MAC, as Wycheproof specifies.
#[test]
fn hmac_sha256_vectors() {
    let name = "hmac_sha256_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "HMACSHA256");
    let mut tally = Tally::default();
    for (group, test) in vectors(&file) {
        let id = &test["tcId"];
        let result = test["result"].as_str().unwrap();
        let tag_len = usize::try_from(bits(group, "tagSize") / 8).unwrap();
        let key = hex_field(test, "key");
        assert_eq!(key.len() as u64 * 8, bits(group, "keySize"));
        let mac = hmac_sha256(&key, &hex_field(test, "msg"));
        let tag = hex_field(test, "tag");
        let matches = tag.len() == tag_len && mac[..tag_len] == tag[..];
        let ok = match result {
            "valid" => matches,
            "invalid" => !matches,
            _ => false,
        };
        tally.check(ok, id, || {
            format!("{result}, keylink's MAC {}", hex::encode(mac))
        });
    }
    let tally = tally.finish(name, &file);
    assert_eq!((tally.passed, tally.skipped, tally.policy), (174, 0, 0));
}

/// AES-GCM: keylink uses AES-256-GCM with 96-bit nonces and 128-bit tags only; vectors of other
/// sizes are counted as skipped. In those groups, sealing a `valid` vector reproduces
/// `ct || tag` and opening it gives `msg`; opening an `invalid` one fails.
#[test]
fn aes_gcm_vectors() {
    let name = "aes_gcm_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "AES-GCM");
    let mut tally = Tally::default();
    for (group, test) in vectors(&file) {
        let id = &test["tcId"];
        let result = test["result"].as_str().unwrap();
        let params = (
            bits(group, "keySize"),
            bits(group, "ivSize"),
            bits(group, "tagSize"),
        );
        if params != (256, 96, 128) {
            tally.skipped += 1;
            continue;
        }
        let key: [u8; 32] = hex_field(test, "key").try_into().unwrap();
        let nonce: [u8; 12] = hex_field(test, "iv").try_into().unwrap();
        let aad = hex_field(test, "aad");
        let msg = hex_field(test, "msg");
        let tag = hex_field(test, "tag");
        assert_eq!(tag.len(), 16, "tcId {id}");
        let sealed = [hex_field(test, "ct"), tag].concat();
        let opened = aes256gcm_open(&key, &nonce, &aad, &sealed);
        let ok = match result {
            "valid" => {
                let resealed = aes256gcm_seal(&key, &nonce, &aad, &msg);
                matches!(&resealed, Ok(s) if *s == sealed) && matches!(&opened, Ok(m) if *m == msg)
            }
            "invalid" => matches!(opened, Err(Error::DecryptionFailed)),
            _ => false,
        };
        tally.check(ok, id, || format!("{result}, open gave {opened:?}"));
    }
    let tally = tally.finish(name, &file);
    assert_eq!((tally.passed, tally.skipped, tally.policy), (66, 250, 0));
}
