//! Wycheproof X25519, Ed25519, HKDF-SHA256, HMAC-SHA256 and AES-GCM vectors through keylink's
//! own primitive wrappers (`keylink::hazmat::primitives`): X25519 through keylink's
//! Diffie-Hellman on Edwards arithmetic with its twist and non-contributory checks, Ed25519
//! through `IdentityKey` parsing and its `verify_strict` path, HKDF, HMAC and AES-256-GCM
//! through `primitives`. Every vector is either passed, skipped because its parameters are not
//! keylink's (AES-GCM key, nonce or tag sizes other than 256/96/128 bits), or rejected by
//! keylink's stricter key policy (Ed25519: pinned by tcId; X25519: the keys on the twist, found
//! by a ladder-only check); any other disagreement fails the test.
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

/// X25519: keylink computes X25519 on Edwards arithmetic, which gives RFC 7748's result for
/// every public key on curve25519 and has no point for one on its twist. So every vector is
/// one of four kinds (counts for the 518 vectors of the file):
///
/// - on the curve, non-zero shared secret: keylink's result is the expected one (271);
/// - on the curve, all-zero shared secret (small-order keys): `NonContributoryKey` (26);
/// - on the twist, `u = -1` (order 4 there), all-zero shared secret: `NonContributoryKey` (5);
/// - on the twist, any other: `InvalidKey` with the twist message, where RFC 7748 would
///   compute a non-zero result (216, counted as keylink's stricter key policy).
///
/// Which side a key lies on is decided independently of keylink's Edwards path, with the
/// Montgomery ladder ([`on_curve`]), and must agree with Wycheproof's `Twist` flag. Wycheproof
/// marks the zero-secret cases `acceptable` (flag `ZeroSharedSecret`), and the twist cases
/// `acceptable` (a library may reject them), so every rejection here is allowed.
#[test]
fn x25519_vectors() {
    let name = "x25519_test.json";
    let file = load(name);
    assert_eq!(file["algorithm"], "XDH");
    let mut tally = Tally::default();
    // (result, kind) -> count
    let mut seen = std::collections::BTreeMap::<(String, &str), usize>::new();
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
        let curve = on_curve(&public);
        assert_eq!(!curve, flags.contains(&"Twist"), "tcId {id} twist flag");
        let outcome = x25519(secret, public);
        let (kind, ok) = match (result, curve, zero, &outcome) {
            ("invalid", _, _, Err(_)) => ("invalid, rejected", true),
            ("valid" | "acceptable", true, false, Ok(out)) => {
                ("on the curve, shared secret matches", out[..] == shared[..])
            }
            ("valid" | "acceptable", true, true, Err(Error::NonContributoryKey)) => {
                ("on the curve, all-zero: NonContributoryKey", true)
            }
            ("valid" | "acceptable", false, true, Err(Error::NonContributoryKey)) => (
                "twist, u = -1, all-zero: NonContributoryKey",
                is_minus_one(&public),
            ),
            ("valid" | "acceptable", false, false, Err(Error::InvalidKey(what))) => {
                ("twist: InvalidKey", what.contains("twist"))
            }
            _ => ("wrong", false),
        };
        *seen.entry((result.to_owned(), kind)).or_default() += 1;
        if ok && !curve && !zero {
            tally.policy += 1;
            continue;
        }
        tally.check(ok, id, || {
            format!(
                "{result}, expected shared {}, keylink gave {outcome:?}",
                hex::encode(&shared)
            )
        });
    }
    for ((result, kind), count) in &seen {
        println!("{name}: {result}: {count} {kind}");
    }
    let tally = tally.finish(name, &file);
    assert_eq!((tally.passed, tally.skipped, tally.policy), (302, 0, 216));
    let count = |kind: &str| -> usize {
        seen.iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("on the curve, shared secret matches"), 271);
    assert_eq!(count("on the curve, all-zero: NonContributoryKey"), 26);
    assert_eq!(count("twist, u = -1, all-zero: NonContributoryKey"), 5);
    assert_eq!(count("twist: InvalidKey"), 216);
}

/// Whether the u-coordinate `u` (bit 255 ignored, reduced mod p, as RFC 7748 reads it) lies on
/// curve25519 rather than its twist, decided with the Montgomery ladder alone: curve25519 has
/// `8 * l` points and the twist `4 * l'` (l' another prime), so `[8 l]P` is the identity (u = 0)
/// for every `P` on the curve, and on the twist only for the points of order 1, 2 or 4:
/// `u = 0`, which is on both, and `u = -1`.
fn on_curve(u: &[u8; 32]) -> bool {
    // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let l =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
    let l_bits = (0..256).rev().map(|i| (l[i / 8] >> (i % 8)) & 1 == 1);
    let eight_l = l_bits.chain([false; 3]);
    let point = curve25519_dalek::MontgomeryPoint(*u);
    point.mul_bits_be(eight_l).to_bytes() == [0u8; 32] && !is_minus_one(u)
}

/// Whether `u`, bit 255 ignored, is `p - 1`, the one encoding of -1 below 2^255.
fn is_minus_one(u: &[u8; 32]) -> bool {
    let mut masked = *u;
    masked[31] &= 0x7f;
    let minus_one =
        hex::decode("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap();
    masked[..] == minus_one[..]
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
