//! Wycheproof ML-KEM-1024 vectors through keylink's own KEM wrapper (`KemPublicKey` parsing,
//! key generation, encapsulation and decapsulation).
#![cfg(test)]
#![cfg(feature = "hazmat")]

use keylink::hazmat::{KemSecretKey, kem_encapsulate};
use keylink::keys::{KemCiphertext, KemPublicKey};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/test-vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tests(file: &Value) -> impl Iterator<Item = &Value> {
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tests"].as_array().unwrap())
}

fn field(test: &Value, name: &str) -> Vec<u8> {
    hex::decode(test[name].as_str().unwrap()).unwrap()
}

/// Run one key-generation + decapsulation vector; `Ok(())` iff keylink accepted it and
/// produced the expected values.
fn keygen_decaps(test: &Value) -> Result<(), String> {
    let key = KemSecretKey::from_seed(&field(test, "seed")).map_err(|e| e.to_string())?;
    if key.public().as_bytes()[..] != field(test, "ek")[..] {
        return Err("ek differs".into());
    }
    let ct = KemCiphertext::try_from(field(test, "c").as_slice()).map_err(|e| e.to_string())?;
    if key.decapsulate(&ct)[..] != field(test, "K")[..] {
        return Err("K differs".into());
    }
    Ok(())
}

fn encaps(test: &Value) -> Result<(), String> {
    let ek = KemPublicKey::try_from(field(test, "ek").as_slice()).map_err(|e| e.to_string())?;
    let m: [u8; 32] = field(test, "m").try_into().map_err(|_| "m length")?;
    let (ct, k) = kem_encapsulate(&ek, &m);
    if ct.as_bytes()[..] != field(test, "c")[..] || k[..] != field(test, "K")[..] {
        return Err("c or K differs".into());
    }
    Ok(())
}

fn run(file: &str, check: fn(&Value) -> Result<(), String>) -> usize {
    let vectors = load(file);
    let mut passed = 0;
    for test in tests(&vectors) {
        let id = &test["tcId"];
        let outcome = check(test);
        match (test["result"].as_str().unwrap(), &outcome) {
            ("valid", Ok(())) | ("invalid", Err(_)) => passed += 1,
            (expected, _) => panic!("{file} tcId {id}: expected {expected}, got {outcome:?}"),
        }
    }
    let total = tests(&vectors).count();
    assert_eq!(passed, total);
    assert_eq!(total as u64, vectors["numberOfTests"].as_u64().unwrap());
    println!("{file}: {passed}/{total} vectors passed");
    passed
}

#[test]
fn mlkem_1024_keygen_and_decaps() {
    assert_eq!(run("mlkem_1024_test.json", keygen_decaps), 193);
}

#[test]
fn mlkem_1024_encaps() {
    assert_eq!(run("mlkem_1024_encaps_test.json", encaps), 269);
}
