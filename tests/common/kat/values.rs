//! Recomputation of the intermediates (shared by generator and checker).

use super::*;

/// The inputs of a file, parsed.
pub struct Inputs {
    pub alice_identity_seed: [u8; 32],
    pub bob_identity_seed: [u8; 32],
    pub bob_signed_prekey_secret: [u8; 32],
    pub bob_one_time_prekey_secret: Option<[u8; 32]>,
    pub bob_kem_prekey_seed: [u8; 64],
    pub alice_base_key_secret: [u8; 32],
    pub kem_encapsulation_m: [u8; 32],
    pub ratchet_key_secrets: BTreeMap<String, [u8; 32]>,
}

impl Inputs {
    pub fn from_json(inputs: &Value) -> Self {
        Inputs {
            alice_identity_seed: arr(&inputs["alice_identity_seed"]),
            bob_identity_seed: arr(&inputs["bob_identity_seed"]),
            bob_signed_prekey_secret: arr(&inputs["bob_signed_prekey_secret"]),
            bob_one_time_prekey_secret: opt_arr(&inputs["bob_one_time_prekey_secret"]),
            bob_kem_prekey_seed: arr(&inputs["bob_kem_prekey_seed"]),
            alice_base_key_secret: arr(&inputs["alice_base_key_secret"]),
            kem_encapsulation_m: arr(&inputs["kem_encapsulation_m"]),
            ratchet_key_secrets: inputs["ratchet_key_secrets"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), arr(v)))
                .collect(),
        }
    }
}

/// The setup section: keys, bundle and PQXDH, recomputed from the inputs with keylink's code.
/// Both sides' PQXDH must agree.
pub fn setup_values(inputs: &Inputs, script: &Script) -> (Value, Pqxdh) {
    let alice = kat::identity(&inputs.alice_identity_seed);
    let bob = kat::identity(&inputs.bob_identity_seed);
    let spk = kat::x25519_public(&inputs.bob_signed_prekey_secret);
    let opk = inputs
        .bob_one_time_prekey_secret
        .map(|s| kat::x25519_public(&s));
    let kem_public = kat::kem_public_key(&inputs.bob_kem_prekey_seed);
    let bundle = kat::bundle_bytes(&kat::BundleInput {
        identity_seed: &inputs.bob_identity_seed,
        device_id: script.device_id,
        signed_prekey_id: script.signed_prekey_id,
        signed_prekey_secret: &inputs.bob_signed_prekey_secret,
        one_time_prekey: script
            .one_time_prekey_id
            .zip(inputs.bob_one_time_prekey_secret)
            .map(|(id, secret)| kat::OneTimePreKeyInput { id, secret }),
        kem_prekey_id: script.kem_prekey_id,
        kem_prekey_seed: &inputs.bob_kem_prekey_seed,
    })
    .unwrap();
    let initiator = kat::pqxdh_initiator(&kat::InitiatorInput {
        identity_seed: &inputs.alice_identity_seed,
        base_key_secret: &inputs.alice_base_key_secret,
        their_identity: &bob.public,
        signed_prekey: &spk,
        one_time_prekey: opk.as_ref(),
        kem_prekey: &kem_public,
        kem_m: &inputs.kem_encapsulation_m,
    })
    .unwrap();
    let base_public = kat::x25519_public(&inputs.alice_base_key_secret);
    let responder = kat::pqxdh_responder(&kat::ResponderInput {
        identity_seed: &inputs.bob_identity_seed,
        signed_prekey_secret: &inputs.bob_signed_prekey_secret,
        one_time_prekey_secret: inputs.bob_one_time_prekey_secret.as_ref(),
        kem_prekey_seed: &inputs.bob_kem_prekey_seed,
        their_identity: &alice.public,
        their_base_key: &base_public,
        kem_ciphertext: &initiator.kem_ciphertext,
    })
    .unwrap();
    assert_eq!(initiator, responder, "both sides of PQXDH agree");
    let (hka, nhkb) = kat::initial_header_keys(&initiator.sk).unwrap();
    let setup = json!({
        "alice_identity_key": hx(&alice.public),
        "alice_identity_x25519_secret": hx(&alice.x25519_secret),
        "alice_identity_x25519_public": hx(&alice.x25519_public),
        "bob_identity_key": hx(&bob.public),
        "bob_identity_x25519_secret": hx(&bob.x25519_secret),
        "bob_identity_x25519_public": hx(&bob.x25519_public),
        "bob_signed_prekey_public": hx(&spk),
        "bob_signed_prekey_signature": hx(&kat::signed_prekey_signature(
            &inputs.bob_identity_seed, script.signed_prekey_id, &spk)),
        "bob_one_time_prekey_public": opk.map_or(Value::Null, |k| hx(&k)),
        "bob_kem_prekey_public": hx(&kem_public),
        "bob_kem_prekey_signature": hx(&kat::kem_prekey_signature(
            &inputs.bob_identity_seed, script.kem_prekey_id, &inputs.bob_kem_prekey_seed)),
        "bundle": hx(&bundle),
        "alice_base_key_public": hx(&base_public),
        "dh1": hx(&initiator.dh1),
        "dh2": hx(&initiator.dh2),
        "dh3": hx(&initiator.dh3),
        "dh4": initiator.dh4.map_or(Value::Null, |d| hx(&d)),
        "kem_ciphertext": hx(&initiator.kem_ciphertext),
        "kem_shared_secret": hx(&initiator.kem_shared_secret),
        "ikm": hx(&initiator.ikm),
        "sk": hx(&initiator.sk),
        "ad": hx(&initiator.ad),
        "hka": hx(&hka),
        "nhkb": hx(&nhkb),
    });
    (setup, initiator)
}

/// What the root chain gives a ratchet key: its public key, the chain key its root step
/// produced, and the header key its owner's sending chain under it uses.
#[derive(Clone, Copy, Debug)]
pub struct RatchetChain {
    pub public: [u8; 32],
    pub chain_key: [u8; 32],
    pub header_key: [u8; 32],
}

/// The root chain: one entry per ratchet key in creation order (alternating owners). Key `i`
/// is combined with key `i - 1` (Bob's signed prekey for `A0`). The sending chain under key `i`
/// is sealed under `HKA` (`i = 0`, Alice's first), `NHKB` (`i = 1`, Bob's first), else under
/// the `nhk` of key `i - 2`'s root step (the owner's previous key: `HKs = NHKs`).
pub fn ratchet_key_values(
    inputs: &Inputs,
    keys: &[(String, Party)],
    sk: &[u8; 32],
) -> (Vec<Value>, BTreeMap<String, RatchetChain>) {
    let spk = kat::x25519_public(&inputs.bob_signed_prekey_secret);
    let (hka, nhkb) = kat::initial_header_keys(sk).unwrap();
    let mut header_keys = vec![hka, nhkb];
    let mut peer = ("bob_signed_prekey".to_string(), spk);
    let mut rk = *sk;
    let mut out = Vec::new();
    let mut by_name = BTreeMap::new();
    for (i, (name, owner)) in keys.iter().enumerate() {
        let expected_owner = if i % 2 == 0 { Party::Alice } else { Party::Bob };
        assert_eq!(*owner, expected_owner, "ratchet keys alternate");
        let secret = inputs.ratchet_key_secrets[name];
        let public = kat::x25519_public(&secret);
        let dh = kat::x25519(&secret, &peer.1).unwrap();
        let (next, ck, nhk) = kat::kdf_rk(&rk, &dh).unwrap();
        let hk = header_keys[i];
        header_keys.push(nhk);
        out.push(json!({
            "name": name,
            "owner": owner.name(),
            "public": hx(&public),
            "peer_key": peer.0,
            "root_key": hx(&rk),
            "dh": hx(&dh),
            "next_root_key": hx(&next),
            "chain_key": hx(&ck),
            "next_header_key": hx(&nhk),
            "header_key": hx(&hk),
        }));
        by_name.insert(
            name.clone(),
            RatchetChain {
                public,
                chain_key: ck,
                header_key: hk,
            },
        );
        peer = (name.clone(), public);
        rk = next;
    }
    (out, by_name)
}

pub fn message_value(
    index: usize,
    sent: &Sent,
    chain_key: &[u8; 32],
    chain: &RatchetChain,
    ad: &[u8; 64],
    setup: &Value,
    script: &Script,
) -> Value {
    let (mk, next) = kat::kdf_ck(chain_key).unwrap();
    let (aes_key, nonce) = kat::message_keys(&mk).unwrap();
    let header = kat::header(&chain.public, sent.previous_counter, sent.counter);
    let (hk_enc, hk_nonce) = kat::header_key_expand(&chain.header_key).unwrap();
    let h_nonce = kat::header_nonce(&hk_nonce, &header);
    let enc_header = kat::seal_header(&chain.header_key, ad, &header).unwrap();
    assert_eq!(
        enc_header[..12],
        h_nonce,
        "the encrypted header leads with h_nonce"
    );
    let body = [
        &sent.sender.list_version().to_be_bytes()[..],
        &sent.plaintext,
    ]
    .concat();
    let ciphertext = kat::seal(&mk, ad, &enc_header, &body).unwrap();
    let inner = kat::RatchetMessageInput {
        enc_header: &enc_header,
        ciphertext: &ciphertext,
    };
    let wire = if sent.prekey {
        kat::prekey_message_bytes(&prekey_fields(script, &bytes_of(setup)), &inner).unwrap()
    } else {
        kat::ratchet_message_bytes(&inner)
    };
    json!({
        "index": index,
        "sender": sent.sender.name(),
        "kind": if sent.prekey { "prekey" } else { "ratchet" },
        "plaintext": hx(&sent.plaintext),
        "plaintext_text": String::from_utf8(sent.plaintext.clone()).unwrap(),
        "sender_list_version": sent.sender.list_version(),
        "body": hx(&body),
        "ratchet_key": sent.ratchet_key,
        "ratchet_key_public": hx(&chain.public),
        "previous_counter": sent.previous_counter,
        "counter": sent.counter,
        "chain_key": hx(chain_key),
        "message_key": hx(&mk),
        "next_chain_key": hx(&next),
        "aes_key": hx(&aes_key),
        "nonce": hx(&nonce),
        "header": hx(&header),
        "header_key": hx(&chain.header_key),
        "hk_enc": hx(&hk_enc),
        "hk_nonce": hx(&hk_nonce),
        "h_nonce": hx(&h_nonce),
        "enc_header": hx(&enc_header),
        "ciphertext": hx(&ciphertext),
        "wire": hx(&wire),
    })
}

/// The byte fields of the setup a PreKey message repeats.
pub struct SetupBytes {
    pub identity_key: [u8; 32],
    pub base_key: [u8; 32],
    pub kem_ciphertext: Vec<u8>,
}

pub fn bytes_of(setup: &Value) -> SetupBytes {
    SetupBytes {
        identity_key: arr(&setup["alice_identity_key"]),
        base_key: arr(&setup["alice_base_key_public"]),
        kem_ciphertext: bytes(&setup["kem_ciphertext"]),
    }
}

pub fn prekey_fields<'a>(script: &Script, b: &'a SetupBytes) -> kat::PreKeyFields<'a> {
    kat::PreKeyFields {
        identity_key: &b.identity_key,
        base_key: &b.base_key,
        signed_prekey_id: script.signed_prekey_id,
        one_time_prekey_id: script.one_time_prekey_id,
        kem_prekey_id: script.kem_prekey_id,
        kem_ciphertext: &b.kem_ciphertext,
    }
}
