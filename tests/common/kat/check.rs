//! The checker: every recorded value recomputed twice and replayed through the public API.

use super::*;

/// Counts the values compared.
#[derive(Default)]
pub struct Checked(pub usize);

impl Checked {
    pub fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        assert_eq!(got, want, "{what}");
        self.0 += 1;
    }

    pub fn ne<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        assert_ne!(got, want, "{what}");
        self.0 += 1;
    }
}

pub fn script_of(file: &Value) -> Script {
    let inputs = &file["inputs"];
    let messages = file["messages"].as_array().unwrap();
    let events = file["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let i = e["message"].as_u64().unwrap() as usize;
            match e["action"].as_str().unwrap() {
                "send" => Event::Send {
                    from: Party::parse(messages[i]["sender"].as_str().unwrap()),
                    plaintext: bytes(&messages[i]["plaintext"]),
                },
                "deliver" => Event::Deliver(i),
                other => panic!("unknown action {other}"),
            }
        })
        .collect();
    Script {
        device_id: num(&inputs["bob_device_id"]),
        signed_prekey_id: num(&inputs["bob_signed_prekey_id"]),
        one_time_prekey_id: (!inputs["bob_one_time_prekey_id"].is_null())
            .then(|| num(&inputs["bob_one_time_prekey_id"])),
        kem_prekey_id: num(&inputs["bob_kem_prekey_id"]),
        events,
    }
}

/// Compare every field of `got` (recomputed) with the file's `want`.
pub fn compare_object(checked: &mut Checked, what: &str, got: &Value, want: &Value) {
    let (got, want) = (got.as_object().unwrap(), want.as_object().unwrap());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: fields"
    );
    for (key, value) in got {
        checked.eq(&format!("{what}.{key}"), value, &want[key]);
    }
}

/// Recompute every intermediate with keylink's code (`hazmat::kat`) and compare.
pub fn check_with_keylink(file: &Value, checked: &mut Checked) {
    let script = script_of(file);
    let inputs = Inputs::from_json(&file["inputs"]);
    let (setup, pqxdh) = setup_values(&inputs, &script);
    compare_object(checked, "setup", &setup, &file["setup"]);

    let keys: Vec<(String, Party)> = file["ratchet_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                Party::parse(k["owner"].as_str().unwrap()),
            )
        })
        .collect();
    let (ratchet_keys, by_name) = ratchet_key_values(&inputs, &keys, &pqxdh.sk);
    for (got, want) in ratchet_keys
        .iter()
        .zip(file["ratchet_keys"].as_array().unwrap())
    {
        compare_object(checked, "ratchet_keys[]", got, want);
    }
    // Every ratchet key secret is used, and drawn exactly once.
    checked.eq(
        "ratchet keys",
        by_name.len(),
        inputs.ratchet_key_secrets.len(),
    );

    let mut chain_keys: BTreeMap<String, [u8; 32]> = by_name
        .iter()
        .map(|(k, chain)| (k.clone(), chain.chain_key))
        .collect();
    for (i, want) in file["messages"].as_array().unwrap().iter().enumerate() {
        let name = want["ratchet_key"].as_str().unwrap().to_string();
        let sent = Sent {
            sender: Party::parse(want["sender"].as_str().unwrap()),
            plaintext: bytes(&want["plaintext"]),
            wire: Vec::new(),
            prekey: want["kind"] == "prekey",
            ratchet_key: name.clone(),
            previous_counter: num(&want["previous_counter"]),
            counter: num(&want["counter"]),
        };
        // The chain key is the ratchet key's chain advanced once per earlier message on it.
        let ck = chain_keys[&name];
        let got = message_value(i, &sent, &ck, &by_name[&name], &pqxdh.ad, &setup, &script);
        compare_object(checked, &format!("messages[{i}]"), &got, want);
        chain_keys.insert(name, arr(&got["next_chain_key"]));
    }
}

pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    prim::hkdf_sha256(salt, ikm, info, len).unwrap()
}

/// Recompute from the documented formulas with the bare primitives (HKDF, HMAC, AES-256-GCM,
/// X25519), as another implementation would, and check that the labels are keylink's.
pub fn check_formulas(file: &Value, checked: &mut Checked) {
    let setup = &file["setup"];
    let b = |k: &str| bytes(&setup[k]);
    // PQXDH.
    let mut ikm = vec![0xFF; 32];
    for k in ["dh1", "dh2", "dh3", "dh4", "kem_shared_secret"] {
        if !setup[k].is_null() {
            ikm.extend(b(k));
        }
    }
    checked.eq("ikm", &ikm, &b("ikm"));
    let sk = hkdf(&[0; 32], &ikm, b"keylink v1 pqxdh ML-KEM-1024", 32);
    checked.eq("SK", &sk, &b("sk"));
    checked.ne(
        "SK with the X3DH label",
        &hkdf(&[0; 32], &ikm, b"keylink v1 x3dh", 32),
        &sk,
    );
    checked.ne(
        "SK without the 0xFF prefix",
        &hkdf(&[0; 32], &ikm[32..], b"keylink v1 pqxdh ML-KEM-1024", 32),
        &sk,
    );
    let ad = [b("alice_identity_key"), b("bob_identity_key")].concat();
    checked.eq("AD", &ad, &b("ad"));
    // The first header keys, from SK.
    let hka = hkdf(&[0; 32], &sk, b"keylink v1 header key A", 32);
    let nhkb = hkdf(&[0; 32], &sk, b"keylink v1 header key B", 32);
    checked.eq("HKA", &hka, &b("hka"));
    checked.eq("NHKB", &nhkb, &b("nhkb"));
    checked.ne("HKA and NHKB differ", &hka, &nhkb);
    checked.ne(
        "HKA with another label",
        &hkdf(&[0; 32], &sk, b"keylink v1 header key a", 32),
        &hka,
    );
    let inputs = &file["inputs"];
    let x = |secret: &Value, public: &[u8]| {
        prim::x25519(arr(secret), public.try_into().unwrap()).unwrap()
    };
    checked.eq(
        "DH1",
        x(
            &setup["alice_identity_x25519_secret"],
            &b("bob_signed_prekey_public"),
        )
        .to_vec(),
        b("dh1"),
    );
    checked.eq(
        "DH2",
        x(
            &inputs["alice_base_key_secret"],
            &b("bob_identity_x25519_public"),
        )
        .to_vec(),
        b("dh2"),
    );
    checked.eq(
        "DH3",
        x(
            &inputs["alice_base_key_secret"],
            &b("bob_signed_prekey_public"),
        )
        .to_vec(),
        b("dh3"),
    );
    if !setup["dh4"].is_null() {
        checked.eq(
            "DH4",
            x(
                &inputs["alice_base_key_secret"],
                &b("bob_one_time_prekey_public"),
            )
            .to_vec(),
            b("dh4"),
        );
    }
    // The identity's X25519 secret is the first half of SHA-512(seed); X25519 clamps it (RFC
    // 7748), so it acts as DESIGN.md's clamped scalar.
    let half: [u8; 32] = sha2::Sha512::digest(bytes(&inputs["alice_identity_seed"]))[..32]
        .try_into()
        .unwrap();
    checked.eq(
        "IK_A X25519 secret",
        half.to_vec(),
        b("alice_identity_x25519_secret"),
    );
    let mut clamped = half;
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    checked.eq(
        "DH1 with the clamped scalar",
        prim::x25519(clamped, arr(&setup["bob_signed_prekey_public"]))
            .unwrap()
            .to_vec(),
        b("dh1"),
    );
    // Each identity's X25519 public key is X25519(secret, 9), the Montgomery form of IK.
    let mut nine = [0u8; 32];
    nine[0] = 9;
    for who in ["alice", "bob"] {
        checked.eq(
            "identity X25519 public",
            prim::x25519(arr(&setup[format!("{who}_identity_x25519_secret")]), nine)
                .unwrap()
                .to_vec(),
            b(&format!("{who}_identity_x25519_public")),
        );
    }
    // Signatures verify under IK_B with keylink's contexts.
    let spk_id = num(&inputs["bob_signed_prekey_id"]);
    let signed = [
        &b"keylink v1 signed prekey"[..],
        &spk_id.to_be_bytes(),
        &b("bob_signed_prekey_public"),
    ]
    .concat();
    checked.eq(
        "signed prekey signature",
        prim::ed25519_verify(
            &b("bob_identity_key"),
            &signed,
            &b("bob_signed_prekey_signature"),
        )
        .is_ok(),
        true,
    );
    let kem_id = num(&inputs["bob_kem_prekey_id"]);
    let kem_signed = [
        &b"keylink v1 kem prekey"[..],
        &kem_id.to_be_bytes(),
        &b("bob_kem_prekey_public"),
    ]
    .concat();
    checked.eq(
        "KEM prekey signature",
        prim::ed25519_verify(
            &b("bob_identity_key"),
            &kem_signed,
            &b("bob_kem_prekey_signature"),
        )
        .is_ok(),
        true,
    );

    // Root chain.
    let keys = file["ratchet_keys"].as_array().unwrap();
    let mut rk = b("sk");
    let public_of = |name: &str| -> Vec<u8> {
        if name == "bob_signed_prekey" {
            return b("bob_signed_prekey_public");
        }
        bytes(&keys.iter().find(|k| k["name"] == name).unwrap()["public"])
    };
    // The sending chain under key `i` is sealed under HKA, NHKB, then the `nhk` of key `i - 2`
    // (the owner's previous key: HKs = NHKs at each DH ratchet step).
    let mut header_keys = vec![hka, nhkb];
    for (i, key) in keys.iter().enumerate() {
        let name = key["name"].as_str().unwrap();
        checked.eq("root key links", bytes(&key["root_key"]), rk.clone());
        checked.eq(
            "header key links",
            &bytes(&key["header_key"]),
            &header_keys[i],
        );
        let secret = &inputs["ratchet_key_secrets"][name];
        let dh = x(secret, &public_of(key["peer_key"].as_str().unwrap()));
        checked.eq("ratchet DH", dh.to_vec(), bytes(&key["dh"]));
        // The peer computes the same DH from its side.
        let peer = key["peer_key"].as_str().unwrap();
        let peer_secret = match peer {
            "bob_signed_prekey" => &inputs["bob_signed_prekey_secret"],
            other => &inputs["ratchet_key_secrets"][other],
        };
        checked.eq(
            "ratchet DH, peer's side",
            x(peer_secret, &bytes(&key["public"])).to_vec(),
            bytes(&key["dh"]),
        );
        let okm = hkdf(&rk, &dh, b"keylink v1 root", 96);
        checked.eq("KDF_RK root", &okm[..32], &bytes(&key["next_root_key"])[..]);
        checked.eq("KDF_RK chain", &okm[32..64], &bytes(&key["chain_key"])[..]);
        checked.eq(
            "KDF_RK next header key",
            &okm[64..],
            &bytes(&key["next_header_key"])[..],
        );
        // DESIGN.md: the first 64 bytes are the unamended 64-byte output.
        checked.eq(
            "KDF_RK's first 64 bytes",
            hkdf(&rk, &dh, b"keylink v1 root", 64),
            okm[..64].to_vec(),
        );
        checked.ne(
            "KDF_RK with another label",
            hkdf(&rk, &dh, b"keylink v1 roots", 96),
            okm.clone(),
        );
        header_keys.push(okm[64..].to_vec());
        rk = okm[..32].to_vec();
    }
    let chain_of = |name: &str| keys.iter().find(|k| k["name"] == name).unwrap();

    // Messages.
    for m in file["messages"].as_array().unwrap() {
        let ck = bytes(&m["chain_key"]);
        let mk = prim::hmac_sha256(&ck, &[0x01]);
        checked.eq("mk = HMAC(ck, 0x01)", mk.to_vec(), bytes(&m["message_key"]));
        checked.eq(
            "ck' = HMAC(ck, 0x02)",
            prim::hmac_sha256(&ck, &[0x02]).to_vec(),
            bytes(&m["next_chain_key"]),
        );
        let okm = hkdf(&[0; 32], &mk, b"keylink v1 message", 44);
        checked.eq("AES key", &okm[..32], &bytes(&m["aes_key"])[..]);
        checked.eq("nonce", &okm[32..], &bytes(&m["nonce"])[..]);
        checked.ne(
            "message keys with another label",
            hkdf(&[0; 32], &mk, b"keylink v1 messages", 44),
            okm.clone(),
        );
        let header = [
            &[0x01][..],
            &bytes(&m["ratchet_key_public"]),
            &num(&m["previous_counter"]).to_be_bytes(),
            &num(&m["counter"]).to_be_bytes(),
        ]
        .concat();
        checked.eq("header", &header, &bytes(&m["header"]));
        checked.eq("header length", header.len(), 41);
        // The header, sealed under the sending chain's header key.
        let chain = chain_of(m["ratchet_key"].as_str().unwrap());
        checked.eq(
            "ratchet key public",
            bytes(&m["ratchet_key_public"]),
            bytes(&chain["public"]),
        );
        let hk = bytes(&chain["header_key"]);
        checked.eq("header key", &hk, &bytes(&m["header_key"]));
        let hk_okm = hkdf(&[0; 32], &hk, b"keylink v1 header", 64);
        checked.eq("hk_enc", &hk_okm[..32], &bytes(&m["hk_enc"])[..]);
        checked.eq("hk_nonce", &hk_okm[32..], &bytes(&m["hk_nonce"])[..]);
        checked.ne(
            "header key expansion with another label",
            hkdf(&[0; 32], &hk, b"keylink v1 headers", 64),
            hk_okm.clone(),
        );
        let h_nonce: [u8; 12] = prim::hmac_sha256(&hk_okm[32..], &header)[..12]
            .try_into()
            .unwrap();
        checked.eq("h_nonce", h_nonce.to_vec(), bytes(&m["h_nonce"]));
        let hk_enc: [u8; 32] = hk_okm[..32].try_into().unwrap();
        let sealed_header = prim::aes256gcm_seal(&hk_enc, &h_nonce, &ad, &header).unwrap();
        let enc_header = [&h_nonce[..], &sealed_header].concat();
        checked.eq("enc_header", &enc_header, &bytes(&m["enc_header"]));
        checked.eq("enc_header length", enc_header.len(), 69);
        checked.eq(
            "header opens",
            prim::aes256gcm_open(&hk_enc, &h_nonce, &ad, &sealed_header).unwrap(),
            header.clone(),
        );
        // It opens under no other header key of the root chain (the next one would mean a DH
        // ratchet step).
        for other in keys {
            let other_hk = bytes(&other["next_header_key"]);
            let other_enc: [u8; 32] = hkdf(&[0; 32], &other_hk, b"keylink v1 header", 64)[..32]
                .try_into()
                .unwrap();
            checked.eq(
                "header does not open under another header key",
                prim::aes256gcm_open(&other_enc, &h_nonce, &ad, &sealed_header).is_err(),
                other_hk != hk,
            );
        }
        // The body: AAD = AD || enc_header.
        let aad = [ad.clone(), enc_header.clone()].concat();
        let key: [u8; 32] = okm[..32].try_into().unwrap();
        let nonce: [u8; 12] = okm[32..].try_into().unwrap();
        // The AEAD plaintext: u64be(the sender's own list version) || the app's plaintext.
        let version = m["sender_list_version"].as_u64().unwrap();
        let body = [&version.to_be_bytes()[..], &bytes(&m["plaintext"])].concat();
        checked.eq("body", &body, &bytes(&m["body"]));
        checked.eq(
            "sender list version",
            version,
            Party::parse(m["sender"].as_str().unwrap()).list_version(),
        );
        let ciphertext = prim::aes256gcm_seal(&key, &nonce, &aad, &body).unwrap();
        checked.eq("ciphertext", &ciphertext, &bytes(&m["ciphertext"]));
        checked.eq(
            "body opens",
            prim::aes256gcm_open(&key, &nonce, &aad, &ciphertext).unwrap(),
            body.clone(),
        );
        checked.ne(
            "ciphertext with the plaintext header as AAD",
            prim::aes256gcm_seal(&key, &nonce, &[ad.clone(), header.clone()].concat(), &body)
                .unwrap(),
            ciphertext.clone(),
        );
        checked.eq(
            "plaintext text",
            m["plaintext_text"].as_str().unwrap().as_bytes(),
            &bytes(&m["plaintext"])[..],
        );
        // The wire message leads with 0x12 (PreKey) or 0x11 (ratchet); decoded with the tests'
        // own protobuf mirror, it carries exactly enc_header and the ciphertext (and, for a
        // PreKey message, the setup fields).
        let wire = bytes(&m["wire"]);
        let lead = if m["kind"] == "prekey" { 0x12 } else { 0x11 };
        checked.eq("wire leading byte", wire[0], lead);
        let inner = if m["kind"] == "prekey" {
            let outer: proto::PreKeyMessage = proto::decode(&wire);
            checked.eq(
                "wire PreKey message",
                &outer,
                &proto::PreKeyMessage {
                    identity_key: b("alice_identity_key"),
                    base_key: b("alice_base_key_public"),
                    signed_prekey_id: num(&inputs["bob_signed_prekey_id"]),
                    one_time_prekey_id: (!inputs["bob_one_time_prekey_id"].is_null())
                        .then(|| num(&inputs["bob_one_time_prekey_id"])),
                    message: outer.message.clone(),
                    kem_prekey_id: num(&inputs["bob_kem_prekey_id"]),
                    kem_ciphertext: b("kem_ciphertext"),
                },
            );
            checked.eq(
                "wire PreKey message is canonical",
                &proto::encode(0x12, &outer),
                &wire,
            );
            outer.message
        } else {
            wire.clone()
        };
        checked.eq("inner leading byte", inner[0], 0x11);
        checked.eq(
            "wire ratchet message",
            proto::decode::<proto::RatchetMessage>(&inner),
            proto::RatchetMessage {
                enc_header: enc_header.clone(),
                ciphertext: ciphertext.clone(),
            },
        );
        checked.eq(
            "wire is canonical",
            proto::encode(
                0x11,
                &proto::RatchetMessage {
                    enc_header,
                    ciphertext,
                },
            ),
            inner,
        );
    }
}

/// Replay through the public API with the recorded draws; compare every output.
pub fn check_replay(file: &Value, checked: &mut Checked) {
    let script = script_of(file);
    let inputs = &file["inputs"];
    let draws: Vec<Vec<u8>> = file["rng_draws"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| {
            let name = name.as_str().unwrap();
            match name.split_once('.') {
                Some((map, key)) => bytes(&inputs[map][key]),
                None => bytes(&inputs[name]),
            }
        })
        .collect();
    let mut rng = TestRng::replay(draws);
    let run = play(&script, &mut rng);
    checked.eq("every recorded draw used", rng.remaining(), 0);
    checked.eq(
        "draw names",
        run.draws
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        file["rng_draws"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect::<Vec<_>>(),
    );
    checked.eq("bundle", run.bundle, bytes(&file["setup"]["bundle"]));
    let messages = file["messages"].as_array().unwrap();
    checked.eq("message count", run.messages.len(), messages.len());
    for (i, (sent, want)) in run.messages.iter().zip(messages).enumerate() {
        checked.eq(
            &format!("message {i} wire"),
            &sent.wire,
            &bytes(&want["wire"]),
        );
        checked.eq(
            &format!("message {i} ratchet key"),
            sent.ratchet_key.as_str(),
            want["ratchet_key"].as_str().unwrap(),
        );
    }
    // `play` asserted that each delivery decrypted to the sent plaintext, which is the
    // recorded one; count those, and check which deliveries made a ratchet step.
    for (created, event) in run.new_keys.iter().zip(file["events"].as_array().unwrap()) {
        if event["action"] == "deliver" {
            checked.eq(
                "new ratchet key",
                created.as_deref(),
                event["new_ratchet_key"].as_str(),
            );
            checked.0 += 1;
        }
    }
}

pub fn check_file(name: &str) -> usize {
    check_value(name, &load(name))
}

pub fn check_value(name: &str, file: &Value) -> usize {
    assert_eq!(file["source"], SOURCE);
    let mut checked = Checked::default();
    check_with_keylink(file, &mut checked);
    let recomputed = checked.0;
    check_formulas(file, &mut checked);
    let formulas = checked.0 - recomputed;
    check_replay(file, &mut checked);
    let replayed = checked.0 - recomputed - formulas;
    println!(
        "{name}: {} values checked ({recomputed} recomputed with keylink's code, {formulas} from the formulas, {replayed} in the replay through the public API); {} messages, {} ratchet keys",
        checked.0,
        file["messages"].as_array().unwrap().len(),
        file["ratchet_keys"].as_array().unwrap().len(),
    );
    checked.0
}
