//! The wire crypto against DESIGN.md, byte for byte: an independent reimplementation of the
//! responder's side (PQXDH with ML-KEM-1024, the first DH ratchet step, the symmetric chain, the message key
//! expansion, the header and the associated data), written from DESIGN.md with the
//! primitive crates directly, decrypts what keylink sends; and keylink's reply decrypts too.
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Payload};
use common::{proto, rng};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use keylink::keys::{KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey};
use keylink::store::{Address, MemoryStore, ProtocolStore};
use libcrux_ml_kem::mlkem1024::{
    self, MlKem1024Ciphertext, MlKem1024PrivateKey, MlKem1024PublicKey,
};
use rand_core::Rng;
use sha2::Sha256;

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .unwrap();
    okm
}

fn hmac(key: &[u8], input: u8) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&[input]);
    mac.finalize().into_bytes().into()
}

fn x25519(secret: &[u8], public: &[u8]) -> [u8; 32] {
    let out = x25519_dalek::x25519(secret.try_into().unwrap(), public.try_into().unwrap());
    assert_ne!(out, [0u8; 32]);
    out
}

/// `KDF_RK(rk, dh) = HKDF(rk, dh, "keylink v1 root", 64) -> rk' || ck`.
fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let okm = hkdf::<64>(rk, dh, b"keylink v1 root");
    (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
}

/// Message key `counter` of the chain starting at `ck`.
fn message_key(mut ck: [u8; 32], counter: u32) -> [u8; 32] {
    for _ in 0..counter {
        ck = hmac(&ck, 0x02);
    }
    hmac(&ck, 0x01)
}

/// Open a serialized ratchet message with chain key `ck` and associated data `ad`.
fn open(ad: &[u8; 64], ck: [u8; 32], message: &[u8]) -> Vec<u8> {
    try_open(ad, ck, message).expect("does not decrypt as DESIGN.md says it should")
}

/// [`open`], `None` if the AEAD tag does not verify.
fn try_open(ad: &[u8; 64], ck: [u8; 32], message: &[u8]) -> Option<Vec<u8>> {
    assert_eq!(message[0], 0x11, "ratchet message leading byte");
    let m: proto::RatchetMessage = proto::decode(message);
    let mk = message_key(ck, m.counter);
    let okm = hkdf::<44>(&[0u8; 32], &mk, b"keylink v1 message");
    let (key, nonce) = okm.split_at(32);
    let mut header = vec![0x01];
    header.extend_from_slice(&m.ratchet_key);
    header.extend_from_slice(&m.previous_counter.to_be_bytes());
    header.extend_from_slice(&m.counter.to_be_bytes());
    assert_eq!(header.len(), 41);
    let mut aad = ad.to_vec();
    aad.extend_from_slice(&header);
    let key: [u8; 32] = key.try_into().unwrap();
    let nonce: [u8; 12] = nonce.try_into().unwrap();
    Aes256Gcm::new(&key.into())
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &m.ciphertext,
                aad: &aad,
            },
        )
        .ok()
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng().fill_bytes(&mut seed);
    seed
}

fn secret_of(record: &[u8]) -> Vec<u8> {
    proto::decode::<proto::PreKeyRecord>(record).private_key
}

/// `SK = HKDF(0^32, 0xFF^32 || DH1 || DH2 || DH3 [|| DH4] [|| SS], info, 32)`.
fn session_key(dhs: &[[u8; 32]], ss: Option<&[u8; 32]>, info: &[u8]) -> [u8; 32] {
    let mut ikm = vec![0xFF; 32];
    for dh in dhs {
        ikm.extend_from_slice(dh);
    }
    if let Some(ss) = ss {
        ikm.extend_from_slice(ss);
    }
    hkdf::<32>(&[0u8; 32], &ikm, info)
}

fn follows_design(with_one_time_prekey: bool, last_resort: bool) {
    let mut rng = rng();
    let (seed_a, seed_b) = (seed(), seed());
    let alice_id = keylink::hazmat::identity_from_seed(&seed_a);
    let bob_id = keylink::hazmat::identity_from_seed(&seed_b);
    let ik_a = alice_id.public().to_bytes();
    let ik_b = bob_id.public().to_bytes();
    let spk = SignedPreKey::generate(0x0102_0304, &bob_id, &mut rng);
    let otpk = OneTimePreKey::generate(77, &mut rng);
    let kem_id = 0x0A0B_0C0D;
    let kem = match last_resort {
        false => KemPreKey::generate(kem_id, &bob_id, &mut rng),
        true => KemPreKey::generate_last_resort(kem_id, &bob_id, &mut rng),
    };
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 2));
    let mut alice = MemoryStore::new(alice_id);
    let mut bob = MemoryStore::new(bob_id.clone());
    bob.add_signed_prekey(spk.clone());
    bob.add_one_time_prekeys([OneTimePreKey::from_bytes(&otpk.to_bytes()).unwrap()]);
    bob.add_kem_prekeys([KemPreKey::from_bytes(&kem.to_bytes()).unwrap()]);

    // Signed prekey: Sign(IK, "keylink v1 signed prekey" || u32be(id) || public).
    let mut signed = b"keylink v1 signed prekey".to_vec();
    signed.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    signed.extend_from_slice(spk.public().as_bytes());
    ed25519_dalek::VerifyingKey::from_bytes(&ik_b)
        .unwrap()
        .verify_strict(
            &signed,
            &ed25519_dalek::Signature::from_bytes(spk.signature()),
        )
        .expect("signed prekey signature as DESIGN.md says");

    // KEM prekey: its decapsulation key is field 2 of the record (FIPS 203 `dk`, 3168 bytes,
    // with the encapsulation key at bytes 1536..3104); Sign(IK, "keylink v1 kem prekey" ||
    // u32be(id) || PQPK).
    let kem_record = kem.to_bytes();
    assert_eq!(kem_record[0], 0x1D, "KEM prekey record leading byte");
    let kem_record: proto::KemPreKeyRecord = proto::decode(&kem_record);
    assert_eq!(kem_record.id, kem_id);
    assert_eq!(kem_record.last_resort, last_resort);
    assert_eq!(kem_record.signature, kem.signature());
    let dk = MlKem1024PrivateKey::try_from(kem_record.private_key.as_slice())
        .expect("a 3168-byte ML-KEM-1024 decapsulation key");
    let pqpk = &kem_record.private_key[1536..3104];
    assert_eq!(pqpk, kem.public().as_bytes());
    assert!(mlkem1024::validate_public_key(
        &MlKem1024PublicKey::try_from(pqpk).unwrap()
    ));
    let mut signed = b"keylink v1 kem prekey".to_vec();
    signed.extend_from_slice(&kem_id.to_be_bytes());
    signed.extend_from_slice(pqpk);
    ed25519_dalek::VerifyingKey::from_bytes(&ik_b)
        .unwrap()
        .verify_strict(
            &signed,
            &ed25519_dalek::Signature::from_bytes(kem.signature()),
        )
        .expect("KEM prekey signature as DESIGN.md says");

    let one_time = with_one_time_prekey.then_some(&otpk);
    let bundle = PreKeyBundle::new(2, &bob_id, &spk, one_time, &kem).to_bytes();
    let fields: proto::Bundle = proto::decode(&bundle);
    assert_eq!(fields.kem_prekey_id, kem_id);
    assert_eq!(fields.kem_prekey, pqpk);
    assert_eq!(fields.kem_prekey_signature, kem.signature());
    let bundle = PreKeyBundle::try_from(bundle.as_slice())
        .unwrap()
        .verify()
        .unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng).unwrap();
    let texts: [&[u8]; 3] = [b"first", b"second", b"third"];
    let sent: Vec<_> = texts
        .iter()
        .map(|t| {
            keylink::encrypt(&mut alice, &bob_addr, t)
                .unwrap()
                .to_bytes()
        })
        .collect();

    // The responder's side, from DESIGN.md.
    let ik_b_scalar = ed25519_dalek::SigningKey::from_bytes(&seed_b).to_scalar_bytes();
    let ik_a_montgomery = ed25519_dalek::SigningKey::from_bytes(&seed_a)
        .verifying_key()
        .to_montgomery()
        .to_bytes();
    let spk_secret = secret_of(&spk.to_bytes());
    let ad: [u8; 64] = [ik_a, ik_b].concat().try_into().unwrap();
    let mut rk1 = None;
    let mut alice_ratchet_key = Vec::new();
    let mut first_ciphertext = None;
    for (bytes, text) in sent.iter().zip(texts) {
        assert_eq!(bytes[0], 0x12, "PreKey message leading byte");
        let m: proto::PreKeyMessage = proto::decode(bytes);
        assert_eq!(m.identity_key, ik_a);
        assert_eq!(m.signed_prekey_id, 0x0102_0304);
        assert_eq!(m.one_time_prekey_id, with_one_time_prekey.then_some(77));
        assert_eq!(m.kem_prekey_id, kem_id);
        assert_eq!(m.kem_ciphertext.len(), 1568);
        // Every PreKey message of the session repeats the same CT.
        assert_eq!(
            first_ciphertext.get_or_insert_with(|| m.kem_ciphertext.clone()),
            &m.kem_ciphertext
        );
        let ek_a = &m.base_key;
        let mut dhs = vec![
            x25519(&spk_secret, &ik_a_montgomery), // DH1
            x25519(&ik_b_scalar, ek_a),            // DH2
            x25519(&spk_secret, ek_a),             // DH3
        ];
        if with_one_time_prekey {
            dhs.push(x25519(&secret_of(&otpk.to_bytes()), ek_a)); // DH4
        }
        // SS = ML-KEM-1024.Decaps(PQSK_B, CT).
        let ct = MlKem1024Ciphertext::try_from(m.kem_ciphertext.as_slice()).unwrap();
        let ss = mlkem1024::decapsulate(&dk, &ct);
        let sk = session_key(&dhs, Some(&ss), b"keylink v1 pqxdh ML-KEM-1024");
        let inner: proto::RatchetMessage = proto::decode(&m.message);
        alice_ratchet_key = inner.ratchet_key.clone();
        // Bob: RK = SK, then one DH ratchet step with his signed prekey pair.
        let dh_ratchet = x25519(&spk_secret, &inner.ratchet_key);
        let (rk, ck) = kdf_rk(&sk, &dh_ratchet);
        rk1 = Some(rk);
        assert_eq!(open(&ad, ck, &m.message), text);

        // No downgrade: without SS (DESIGN.md's plain X3DH, label "keylink v1 x3dh"), with
        // SS but the X3DH label, or with another SS, the message does not decrypt.
        let mut other_ss = ss;
        other_ss[0] ^= 0x01;
        for wrong in [
            session_key(&dhs, None, b"keylink v1 x3dh"),
            session_key(&dhs, Some(&ss), b"keylink v1 x3dh"),
            session_key(&dhs, None, b"keylink v1 pqxdh ML-KEM-1024"),
            session_key(&dhs, Some(&other_ss), b"keylink v1 pqxdh ML-KEM-1024"),
        ] {
            assert_ne!(wrong, sk);
            let (_, ck) = kdf_rk(&wrong, &dh_ratchet);
            assert_eq!(try_open(&ad, ck, &m.message), None);
        }

        assert_eq!(
            keylink::decrypt(&mut bob, &alice_addr, bytes, &mut rng).unwrap(),
            text
        );
        // A one-time KEM prekey is gone once the first message authenticated; the
        // last-resort one stays.
        assert_eq!(
            bob.kem_prekey(kem_id.into()).unwrap().is_some(),
            last_resort
        );
    }

    // Bob's reply: his new ratchet key pair, KDF_RK(RK, DH(DHs_B, DHr_A)), counter 0, PN 0.
    let reply = keylink::encrypt(&mut bob, &alice_addr, b"reply")
        .unwrap()
        .to_bytes();
    let record = bob.session(&alice_addr).unwrap().unwrap().to_bytes();
    let record: proto::SessionRecord = proto::decode(&record);
    let sending = record.current.unwrap().sending_chain.unwrap();
    let dhs_b = sending.ratchet_private;
    assert_eq!(
        sending.ratchet_key,
        x25519(&dhs_b, &x25519_dalek::X25519_BASEPOINT_BYTES)
    );
    let r: proto::RatchetMessage = proto::decode(&reply);
    assert_eq!(r.ratchet_key, sending.ratchet_key);
    assert_eq!((r.previous_counter, r.counter), (0, 0));
    let (_, ck) = kdf_rk(&rk1.unwrap(), &x25519(&dhs_b, &alice_ratchet_key));
    assert_eq!(open(&ad, ck, &reply), b"reply");
    assert_eq!(
        keylink::decrypt(&mut alice, &bob_addr, &reply, &mut rng).unwrap(),
        b"reply"
    );
}

#[test]
fn pqxdh_with_one_time_prekey_and_ratchet_follow_design() {
    follows_design(true, false);
}

#[test]
fn pqxdh_without_one_time_prekey_and_ratchet_follow_design() {
    follows_design(false, false);
}

#[test]
fn pqxdh_with_last_resort_kem_prekey_and_ratchet_follow_design() {
    follows_design(true, true);
    follows_design(false, true);
}
