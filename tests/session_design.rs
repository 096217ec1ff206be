//! The wire crypto against DESIGN.md, byte for byte: an independent reimplementation of the
//! responder's side (PQXDH with ML-KEM-1024, the header keys from `SK`, the first DH ratchet
//! step with the 96-byte `KDF_RK`, the symmetric chain, the header key expansion, `h_nonce`, the
//! 69-byte encrypted header, the message key expansion and the body's associated data
//! `AD || enc_header`), written from DESIGN.md with the primitive crates directly, decrypts
//! what keylink sends and reproduces its wire bytes; keylink's reply decrypts too, and so does,
//! in keylink, a reply the reimplementation seals itself.
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

fn hmac(key: &[u8], input: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(input);
    mac.finalize().into_bytes().into()
}

fn x25519(secret: &[u8], public: &[u8]) -> [u8; 32] {
    let out = x25519_dalek::x25519(secret.try_into().unwrap(), public.try_into().unwrap());
    assert_ne!(out, [0u8; 32]);
    out
}

fn split<const A: usize, const B: usize>(bytes: &[u8]) -> ([u8; A], [u8; B]) {
    assert_eq!(bytes.len(), A + B);
    (
        bytes[..A].try_into().unwrap(),
        bytes[A..].try_into().unwrap(),
    )
}

fn aes_gcm_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap()
}

fn aes_gcm_open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    Aes256Gcm::new(key.into())
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
}

/// `KDF_RK(rk, dh) = HKDF(rk, dh, "keylink v1 root", 96) -> rk' || ck || nhk`.
fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32], [u8; 32]) {
    let okm = hkdf::<96>(rk, dh, b"keylink v1 root");
    (
        okm[..32].try_into().unwrap(),
        okm[32..64].try_into().unwrap(),
        okm[64..].try_into().unwrap(),
    )
}

/// `HKA = HKDF(0^32, SK, "keylink v1 header key A", 32)`,
/// `NHKB = HKDF(0^32, SK, "keylink v1 header key B", 32)`.
fn initial_header_keys(sk: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (
        hkdf::<32>(&[0u8; 32], sk, b"keylink v1 header key A"),
        hkdf::<32>(&[0u8; 32], sk, b"keylink v1 header key B"),
    )
}

/// Message key `counter` of the chain starting at `ck`.
fn message_key(mut ck: [u8; 32], counter: u32) -> [u8; 32] {
    for _ in 0..counter {
        ck = hmac(&ck, &[0x02]);
    }
    hmac(&ck, &[0x01])
}

/// A plaintext header: `0x01 || DHs.public || u32be(PN) || u32be(N)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    ratchet_key: [u8; 32],
    previous_counter: u32,
    counter: u32,
}

impl Header {
    fn to_bytes(self) -> [u8; 41] {
        let mut out = [0u8; 41];
        out[0] = 0x01;
        out[1..33].copy_from_slice(&self.ratchet_key);
        out[33..37].copy_from_slice(&self.previous_counter.to_be_bytes());
        out[37..].copy_from_slice(&self.counter.to_be_bytes());
        out
    }

    fn parse(bytes: &[u8]) -> Header {
        assert_eq!(bytes.len(), 41, "header length");
        assert_eq!(bytes[0], 0x01, "header version");
        Header {
            ratchet_key: bytes[1..33].try_into().unwrap(),
            previous_counter: u32::from_be_bytes(bytes[33..37].try_into().unwrap()),
            counter: u32::from_be_bytes(bytes[37..].try_into().unwrap()),
        }
    }
}

/// `hk_enc || hk_nonce = HKDF(0^32, HK, "keylink v1 header", 64)`;
/// `h_nonce = HMAC(hk_nonce, header)[0..12]`;
/// `enc_header = h_nonce || AES-256-GCM(hk_enc, h_nonce, header, aad = AD)`.
fn seal_header(ad: &[u8; 64], hk: &[u8; 32], header: Header) -> Vec<u8> {
    let (hk_enc, hk_nonce) = split::<32, 32>(&hkdf::<64>(&[0u8; 32], hk, b"keylink v1 header"));
    let header = header.to_bytes();
    let h_nonce: [u8; 12] = hmac(&hk_nonce, &header)[..12].try_into().unwrap();
    let mut out = h_nonce.to_vec();
    out.extend_from_slice(&aes_gcm_seal(&hk_enc, &h_nonce, ad, &header));
    assert_eq!(out.len(), 69);
    out
}

/// Open an encrypted header under `hk`: `None` if the AEAD tag does not verify. A header that
/// opens must carry the `h_nonce` its plaintext derives.
fn open_header(ad: &[u8; 64], hk: &[u8; 32], enc_header: &[u8]) -> Option<Header> {
    assert_eq!(enc_header.len(), 69, "encrypted header length");
    let (hk_enc, hk_nonce) = split::<32, 32>(&hkdf::<64>(&[0u8; 32], hk, b"keylink v1 header"));
    let (h_nonce, sealed) = split::<12, 57>(enc_header);
    let header = aes_gcm_open(&hk_enc, &h_nonce, ad, &sealed)?;
    assert_eq!(hmac(&hk_nonce, &header)[..12], h_nonce, "h_nonce");
    Some(Header::parse(&header))
}

/// `key || nonce = HKDF(0^32, mk, "keylink v1 message", 44)`; the body is
/// `AES-256-GCM(key, nonce, plaintext, aad = AD || enc_header)`.
fn body_aead(mk: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
    split::<32, 12>(&hkdf::<44>(&[0u8; 32], mk, b"keylink v1 message"))
}

fn body_aad(ad: &[u8; 64], enc_header: &[u8]) -> Vec<u8> {
    [&ad[..], enc_header].concat()
}

/// A ratchet message's wire bytes: `0x11 || {1: enc_header, 2: ciphertext}`.
fn seal(ad: &[u8; 64], hk: &[u8; 32], ck: [u8; 32], header: Header, plaintext: &[u8]) -> Vec<u8> {
    let enc_header = seal_header(ad, hk, header);
    let (key, nonce) = body_aead(&message_key(ck, header.counter));
    // The body leads with the sender's list version: 0, a sender outside accounts.
    let body = [&0u64.to_be_bytes()[..], plaintext].concat();
    let ciphertext = aes_gcm_seal(&key, &nonce, &body_aad(ad, &enc_header), &body);
    proto::encode(
        0x11,
        &proto::RatchetMessage {
            enc_header,
            ciphertext,
        },
    )
}

/// Open a serialized ratchet message whose header is sealed under `hk`, with the chain key `ck`
/// of its ratchet key, check that its body leads with list version 0 and that sealing the
/// result again gives the same bytes: the app's plaintext.
fn open(ad: &[u8; 64], hk: &[u8; 32], ck: [u8; 32], message: &[u8]) -> (Header, Vec<u8>) {
    let (header, body) =
        try_open(ad, hk, ck, message).expect("does not decrypt as DESIGN.md says it should");
    let (version, plaintext) = body.split_at(8);
    assert_eq!(version, [0; 8], "a sender outside accounts: list version 0");
    assert_eq!(
        seal(ad, hk, ck, header, plaintext),
        message,
        "byte for byte"
    );
    (header, plaintext.to_vec())
}

/// [`open`] without the resealing, `None` if the header or the body does not authenticate.
fn try_open(
    ad: &[u8; 64],
    hk: &[u8; 32],
    ck: [u8; 32],
    message: &[u8],
) -> Option<(Header, Vec<u8>)> {
    assert_eq!(message[0], 0x11, "ratchet message leading byte");
    let m: proto::RatchetMessage = proto::decode(message);
    let header = open_header(ad, hk, &m.enc_header)?;
    let (key, nonce) = body_aead(&message_key(ck, header.counter));
    let plaintext = aes_gcm_open(&key, &nonce, &body_aad(ad, &m.enc_header), &m.ciphertext)?;
    Some((header, plaintext))
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
    let mut bob_state = None;
    let mut first_ciphertext = None;
    for (i, (bytes, text)) in sent.iter().zip(texts).enumerate() {
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
        // Bob init: RK = SK, NHKs = NHKB, NHKr = HKA, no HKs or HKr. The only key to try is
        // NHKr: the header opens under HKA, which means a DH ratchet step.
        let (hka, nhkb) = initial_header_keys(&sk);
        assert_ne!(hka, nhkb);
        let inner: proto::RatchetMessage = proto::decode(&m.message);
        assert_eq!(inner.enc_header.len(), 69);
        assert_eq!(open_header(&ad, &nhkb, &inner.enc_header), None);
        let header =
            open_header(&ad, &hka, &inner.enc_header).expect("the first header opens under HKA");
        // Alice's i-th message: her first ratchet key, PN 0, N = i.
        assert_eq!((header.previous_counter, header.counter), (0, i as u32));
        // The step: HKs = NHKs (NHKB), HKr = NHKr (HKA), then
        // (RK, CKr, NHKr) = KDF_RK(RK, DH(the signed prekey pair, DHr)).
        let dh_ratchet = x25519(&spk_secret, &header.ratchet_key);
        let (rk, ck, nhk_r) = kdf_rk(&sk, &dh_ratchet);
        assert_eq!(
            hkdf::<64>(&sk, &dh_ratchet, b"keylink v1 root")[..],
            [rk, ck].concat()[..]
        );
        assert_eq!(open(&ad, &hka, ck, &m.message), (header, text.to_vec()));
        // The same DHr for every PreKey message of the session.
        let state = bob_state.get_or_insert((header.ratchet_key, rk, nhkb, nhk_r));
        assert_eq!(*state, (header.ratchet_key, rk, nhkb, nhk_r));

        // No downgrade: without SS (DESIGN.md's plain X3DH, label "keylink v1 x3dh"), with
        // SS but the X3DH label, or with another SS, neither the header nor the body opens.
        let mut other_ss = ss;
        other_ss[0] ^= 0x01;
        for wrong in [
            session_key(&dhs, None, b"keylink v1 x3dh"),
            session_key(&dhs, Some(&ss), b"keylink v1 x3dh"),
            session_key(&dhs, None, b"keylink v1 pqxdh ML-KEM-1024"),
            session_key(&dhs, Some(&other_ss), b"keylink v1 pqxdh ML-KEM-1024"),
        ] {
            assert_ne!(wrong, sk);
            let (wrong_hka, _) = initial_header_keys(&wrong);
            assert_eq!(open_header(&ad, &wrong_hka, &inner.enc_header), None);
            let (_, wrong_ck, _) = kdf_rk(&wrong, &dh_ratchet);
            assert_eq!(try_open(&ad, &hka, wrong_ck, &m.message), None);
        }
        // The body's associated data is AD || enc_header: not AD || the plaintext header.
        let (key, nonce) = body_aead(&message_key(ck, header.counter));
        assert_eq!(
            aes_gcm_open(
                &key,
                &nonce,
                &body_aad(&ad, &header.to_bytes()),
                &inner.ciphertext
            ),
            None
        );

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
    let (alice_ratchet_key, rk1, hk_s, _) = bob_state.unwrap();

    // Bob's reply: his new ratchet key pair, (RK, CKs, NHKs) = KDF_RK(RK, DH(DHs_B, DHr_A)),
    // counter 0, PN 0, the header sealed under HKs = NHKB.
    let mut alice_for_ours = alice.clone();
    let reply = keylink::encrypt(&mut bob, &alice_addr, b"reply")
        .unwrap()
        .to_bytes();
    let record = bob.session_record(&alice_addr).unwrap().to_bytes();
    let record: proto::SessionRecord = proto::decode(&record);
    let sending = record.current.unwrap().sending_chain.unwrap();
    let dhs_b = sending.ratchet_private;
    assert_eq!(
        sending.ratchet_key,
        x25519(&dhs_b, &x25519_dalek::X25519_BASEPOINT_BYTES)
    );
    let (_, ck, _) = kdf_rk(&rk1, &x25519(&dhs_b, &alice_ratchet_key));
    let expected = Header {
        ratchet_key: sending.ratchet_key.clone().try_into().unwrap(),
        previous_counter: 0,
        counter: 0,
    };
    assert_eq!(open(&ad, &hk_s, ck, &reply), (expected, b"reply".to_vec()));
    assert_eq!(
        keylink::decrypt(&mut alice, &bob_addr, &reply, &mut rng).unwrap(),
        b"reply"
    );

    // A reply sealed by the reimplementation, with its own fresh ratchet key, decrypts in
    // keylink (an Alice that has not seen keylink's reply).
    let mut ours = [0u8; 32];
    rng.fill_bytes(&mut ours);
    let our_public = x25519(&ours, &x25519_dalek::X25519_BASEPOINT_BYTES);
    let (_, ck, _) = kdf_rk(&rk1, &x25519(&ours, &alice_ratchet_key));
    let header = Header {
        ratchet_key: our_public,
        previous_counter: 0,
        counter: 0,
    };
    let our_reply = seal(&ad, &hk_s, ck, header, b"our reply");
    assert_eq!(
        keylink::decrypt(&mut alice_for_ours, &bob_addr, &our_reply, &mut rng).unwrap(),
        b"our reply"
    );
    // And a second one on the same chain, N = 1.
    let second = seal(
        &ad,
        &hk_s,
        ck,
        Header {
            counter: 1,
            ..header
        },
        b"our second reply",
    );
    assert_eq!(
        keylink::decrypt(&mut alice_for_ours, &bob_addr, &second, &mut rng).unwrap(),
        b"our second reply"
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
