//! The link key schedule's vectors (PROTOCOL.md §12.2, §12.3): one typed-code link run from
//! fixed seeds and recorded random draws, with every intermediate value recomputed here from
//! the bare primitives (x25519-dalek, ML-KEM through `hazmat`, CPace through `hazmat`, SHA-256,
//! HKDF, HMAC, AES-256-GCM, Ed25519) and every message encoded by hand, then compared with
//! what `Companion` and `Primary` send when they are given the same draws.

#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use keylink::Timestamp;
use keylink::account::{AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
use keylink::hazmat;
use keylink::keys::{IdentityKeyPair, KemPublicKey};
use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingCode, Primary, PrimaryStep};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::hex;
use common::rng::TestRng;

const VECTORS: &str = "test-vectors/keylink/link.json";
const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
const LINKED_AT: Timestamp = Timestamp::from_unix_millis(1_800_086_400_000);
const PHONE: &str = "+447700900123";
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The draws each side makes, by name, in order (PROTOCOL.md §12.3).
const COMPANION_DRAWS: [&str; 5] = ["code", "kem_seed", "e_c", "sid", "ya"];
const PRIMARY_DRAWS: [&str; 4] = ["yb", "e_p", "kem_m", "history_key"];

fn account() -> AccountKeyPair {
    AccountKeyPair::from_bytes(&[&[0x14, 0x0A, 0x20][..], &[0xB0; 32]].concat()).unwrap()
}

fn identity(seed: u8) -> IdentityKeyPair {
    IdentityKeyPair::from_bytes(&[&[0x18, 0x0A, 0x20][..], &[seed; 32]].concat()).unwrap()
}

/// What the two state machines send, given their RNGs.
struct Run {
    code: String,
    messages: Vec<Vec<u8>>,
    list: Vec<u8>,
}

fn run(companion_rng: &mut TestRng, primary_rng: &mut TestRng) -> Run {
    let phone = PhoneNumber::parse(PHONE).unwrap();
    let entry = DeviceEntry::primary(&account(), &identity(0x01), T0);
    let list = SignedDeviceList::issue(&account(), &phone, 1, T0, vec![entry]).unwrap();
    let grant = LinkGrant::new(account(), list.verify(&phone).unwrap(), LINKED_AT).unwrap();
    let mut companion = Companion::with_code(identity(0x02), companion_rng);
    let code = companion.code().unwrap().to_string();
    let mut primary = Primary::typed(&LinkingCode::parse(&code).unwrap(), grant);
    let hello = companion.start(companion_rng).unwrap();
    let PrimaryStep::Send(reply) = primary.receive(&hello, primary_rng).unwrap() else {
        panic!("no reply")
    };
    let CompanionStep::Send(confirmation) = companion.receive(&reply).unwrap() else {
        panic!("no confirmation")
    };
    let PrimaryStep::Send(account_msg) = primary.receive(&confirmation, primary_rng).unwrap()
    else {
        panic!("no account message")
    };
    let CompanionStep::Linked { reply: device, .. } = companion.receive(&account_msg).unwrap()
    else {
        panic!("not linked")
    };
    let PrimaryStep::Linked(linked) = primary.receive(&device, primary_rng).unwrap() else {
        panic!("not linked")
    };
    Run {
        code,
        messages: vec![hello, reply, confirmation, account_msg, device],
        list: linked.list().to_bytes(),
    }
}

/// A length-delimited protobuf field.
fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![number << 3 | 2];
    varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

/// A varint protobuf field.
fn int_field(number: u8, value: u64) -> Vec<u8> {
    let mut out = vec![number << 3];
    varint(&mut out, value);
    out
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn x25519_public(secret: &[u8]) -> [u8; 32] {
    x25519_dalek::x25519(
        secret.try_into().unwrap(),
        x25519_dalek::X25519_BASEPOINT_BYTES,
    )
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new_from_slice(key)
        .unwrap()
        .encrypt(
            &Nonce::from([0u8; 12]),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap()
}

fn sign(seed: u8, context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    key.sign(&[context, &parts.concat()].concat())
        .to_bytes()
        .to_vec()
}

/// The file's contents, computed from the draws with the bare primitives.
fn computed(companion: &[Vec<u8>], primary: &[Vec<u8>]) -> Value {
    let draw = |draws: &[Vec<u8>], names: &[&str], name: &str| {
        draws[names.iter().position(|n| *n == name).unwrap()].clone()
    };
    let c = |name| draw(companion, &COMPANION_DRAWS, name);
    let p = |name| draw(primary, &PRIMARY_DRAWS, name);

    // The code: the low 5 bits of 7 bytes, and the check symbol (§12.1).
    let values: Vec<u8> = c("code").iter().map(|b| b & 0x1F).collect();
    let check = values
        .iter()
        .enumerate()
        .map(|(i, v)| (2 * i as u32 + 1) * *v as u32)
        .sum::<u32>()
        % 32;
    let prs: Vec<u8> = values.iter().map(|v| ALPHABET[*v as usize]).collect();
    let symbols = [&prs[..], &[ALPHABET[check as usize]]].concat();
    let code = format!(
        "{}-{}",
        std::str::from_utf8(&symbols[..4]).unwrap(),
        std::str::from_utf8(&symbols[4..]).unwrap()
    );

    // CPace (§12.2): scalars are the draws with the top 4 bits cleared.
    let scalar = |raw: Vec<u8>| {
        let mut s: [u8; 32] = raw.try_into().unwrap();
        s[31] &= 0x0F;
        s
    };
    let (ya_scalar, yb_scalar) = (scalar(c("ya")), scalar(p("yb")));
    let sid: [u8; 16] = c("sid").try_into().unwrap();
    let ci = b"keylink v1 link code";
    let (_, ya) = hazmat::cpace::start_with_scalar(&prs, ci, &sid, &[], &ya_scalar);
    let (isk, yb) =
        hazmat::cpace::respond_with_scalar(&prs, ci, &sid, &ya, &[], &[], &yb_scalar).unwrap();
    let ls = hkdf(
        &[0u8; 32],
        isk.as_bytes(),
        b"keylink v1 link code secret",
        32,
    );

    // The hybrid handshake (§12.3).
    let kem = hazmat::KemSecretKey::from_seed(&c("kem_seed")).unwrap();
    let kem_key: &KemPublicKey = kem.public();
    let (ct, ss) = hazmat::kem_encapsulate(kem_key, &p("kem_m").try_into().unwrap());
    let (e_c, e_p) = (x25519_public(&c("e_c")), x25519_public(&p("e_p")));
    let dh = x25519_dalek::x25519(p("e_p").try_into().unwrap(), e_c);
    let ik_dev = SigningKey::from_bytes(&[0x02; 32])
        .verifying_key()
        .to_bytes();
    let th: [u8; 32] = Sha256::new()
        .chain_update(b"keylink v1 link transcript")
        .chain_update([0x02])
        .chain_update(e_c)
        .chain_update(kem_key.as_bytes())
        .chain_update(ik_dev)
        .chain_update(e_p)
        .chain_update(ct.as_bytes())
        .finalize()
        .into();
    let okm = hkdf(
        &ls,
        &[&dh[..], &ss[..]].concat(),
        &[&b"keylink v1 link"[..], &th].concat(),
        128,
    );
    let keys: Vec<&[u8]> = okm.chunks(32).collect();
    let (k_pc, k_cp, conf_p, conf_c) = (keys[0], keys[1], keys[2], keys[3]);
    let conf_p_mac = hmac(conf_p, &th);
    let conf_c_mac = hmac(conf_c, &th);

    // The payloads.
    let aik = SigningKey::from_bytes(&[0xB0; 32])
        .verifying_key()
        .to_bytes();
    let link_body = [
        &aik[..],
        &2u32.to_be_bytes(),
        &ik_dev,
        &LINKED_AT.as_unix_millis().to_be_bytes(),
    ]
    .concat();
    let account_sig = sign(0xB0, b"keylink v1 account signature", &[&link_body]);
    let device_sig = sign(
        0x02,
        b"keylink v1 device signature",
        &[&link_body, &account_sig],
    );
    let account_payload = [
        &[0x17, 0x06][..],
        &field(1, &aik),
        &field(2, PHONE.as_bytes()),
        &int_field(3, 2),
        &int_field(4, LINKED_AT.as_unix_millis()),
        &field(5, &account_sig),
        &field(6, &p("history_key")),
    ]
    .concat();
    let sealed_account = seal(k_pc, &[&th[..], &[0x01]].concat(), &account_payload);
    let sealed_device = seal(k_cp, &[&th[..], &[0x02]].concat(), &device_sig);

    // The five messages, encoded by hand.
    let hello = [
        &[0x17, 0x01][..],
        &field(1, &sid),
        &field(2, &ya),
        &field(3, &e_c),
        &field(4, kem_key.as_bytes()),
        &field(5, &ik_dev),
    ]
    .concat();
    let reply = [
        &[0x17, 0x02][..],
        &field(1, &yb),
        &field(2, &e_p),
        &field(3, ct.as_bytes()),
        &field(4, &conf_p_mac),
    ]
    .concat();
    let confirmation = [&[0x17, 0x03][..], &field(1, &conf_c_mac)].concat();
    let account_msg = [&[0x17, 0x04][..], &field(1, &sealed_account)].concat();
    let device_msg = [&[0x17, 0x05][..], &field(1, &sealed_device)].concat();

    let named = |names: &[&str], draws: &[Vec<u8>]| {
        let entries = names
            .iter()
            .zip(draws)
            .map(|(n, d)| json!({"name": n, "bytes": hex(d)}));
        Value::Array(entries.collect())
    };
    json!({
        "description": "keylink link run with a typed code (PROTOCOL.md 12.2, 12.3): the account key (Ed25519 seed 0xB0 x32), the primary's identity (0x01 x32), the companion's identity (0x02 x32), the list v1 issued at issued_at_ms; each side's random draws in the order it makes them; every intermediate value of CPace and of the link key schedule; the payloads; and the five messages. Scalars are the draws ya and yb with the top 4 bits of their last byte cleared; e_c and e_p are X25519 secrets (clamped by X25519); kem_seed is FIPS 203 d || z; kem_m is the Encaps randomness m.",
        "source": "generated by keylink: cargo test --release --all-features --test link_vectors generate_vectors -- --ignored; checked by tests/link_vectors.rs, which recomputes every value with x25519-dalek, sha2, hkdf, hmac, aes-gcm, ed25519-dalek and keylink's hazmat ML-KEM and CPace, and encodes every message by hand",
        "format": "test-vectors/README.md",
        "phone": PHONE,
        "issued_at_ms": T0.as_unix_millis(),
        "linked_at_ms": LINKED_AT.as_unix_millis(),
        "companion_draws": named(&COMPANION_DRAWS, companion),
        "primary_draws": named(&PRIMARY_DRAWS, primary),
        "code": code,
        "prs": hex(&prs),
        "cpace": {"ya_scalar": hex(&ya_scalar), "yb_scalar": hex(&yb_scalar), "ya": hex(&ya), "yb": hex(&yb), "isk": hex(isk.as_bytes())},
        "link_secret": hex(&ls),
        "e_c_public": hex(&e_c),
        "e_p_public": hex(&e_p),
        "kem_key_sha256": hex(&Sha256::digest(kem_key.as_bytes())),
        "kem_ciphertext_sha256": hex(&Sha256::digest(ct.as_bytes())),
        "kem_shared_secret": hex(&ss[..]),
        "dh": hex(&dh),
        "identity_key": hex(&ik_dev),
        "transcript": hex(&th),
        "k_pc": hex(k_pc), "k_cp": hex(k_cp), "conf_p": hex(conf_p), "conf_c": hex(conf_c),
        "primary_confirmation": hex(&conf_p_mac),
        "companion_confirmation": hex(&conf_c_mac),
        "account_key": hex(&aik),
        "link_body": hex(&link_body),
        "account_signature": hex(&account_sig),
        "device_signature": hex(&device_sig),
        "account_payload": hex(&account_payload),
        "messages": {
            "hello": hex(&hello), "reply": hex(&reply), "confirmation": hex(&confirmation),
            "account": hex(&account_msg), "device": hex(&device_msg),
        },
    })
}

fn path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
}

fn draws(file: &Value, key: &str) -> Vec<Vec<u8>> {
    let draws = file[key].as_array().unwrap();
    draws
        .iter()
        .map(|d| hex::decode(d["bytes"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn the_vector_file_is_what_the_primitives_and_the_state_machines_compute() {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let (c, p) = (
        draws(&file, "companion_draws"),
        draws(&file, "primary_draws"),
    );
    assert_eq!(file, computed(&c, &p));
    let (mut c_rng, mut p_rng) = (TestRng::replay(c), TestRng::replay(p));
    let run = run(&mut c_rng, &mut p_rng);
    assert_eq!((c_rng.remaining(), p_rng.remaining()), (0, 0));
    assert_eq!(run.code, file["code"].as_str().unwrap());
    let expected = &file["messages"];
    for (message, name) in
        run.messages
            .iter()
            .zip(["hello", "reply", "confirmation", "account", "device"])
    {
        assert_eq!(hex(message), expected[name].as_str().unwrap(), "{name}");
    }
    let list = SignedDeviceList::try_from(run.list.as_slice()).unwrap();
    assert_eq!(list.version(), 2);
}

#[test]
fn hazmat_link_keys_is_the_documented_hkdf() {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let get = |k: &str| -> [u8; 32] {
        hex::decode(file[k].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let okm = hazmat::link::link_keys(
        &get("link_secret"),
        &get("dh"),
        &get("kem_shared_secret"),
        &get("transcript"),
    )
    .unwrap();
    let expected = [get("k_pc"), get("k_cp"), get("conf_p"), get("conf_c")].concat();
    assert_eq!(okm.as_slice(), expected.as_slice());
}

#[test]
#[ignore = "writes test-vectors/keylink/link.json"]
fn generate_vectors() {
    let (mut c_rng, mut p_rng) = (
        TestRng::counter("keylink link vector companion"),
        TestRng::counter("keylink link vector primary"),
    );
    run(&mut c_rng, &mut p_rng);
    let (c, p) = (c_rng.take(), p_rng.take());
    assert_eq!(
        (c.len(), p.len()),
        (COMPANION_DRAWS.len(), PRIMARY_DRAWS.len())
    );
    let text = serde_json::to_string_pretty(&computed(&c, &p)).unwrap() + "\n";
    std::fs::write(path(), text).unwrap();
}
