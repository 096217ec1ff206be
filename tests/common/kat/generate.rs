//! The generator: the vectors keylink publishes, and the file each one becomes.

use super::*;

pub struct Vector {
    pub file: &'static str,
    pub description: &'static str,
    pub seed: &'static str,
    pub script: Script,
}

pub fn send(from: Party, text: &str) -> Event {
    Event::Send {
        from,
        plaintext: text.as_bytes().to_vec(),
    }
}

pub fn vectors() -> Vec<Vector> {
    use Event::Deliver as D;
    use Party::{Alice as A, Bob as B};
    let setup = |one_time_prekey_id, events| Script {
        device_id: 1,
        signed_prekey_id: 1,
        one_time_prekey_id,
        kem_prekey_id: 200,
        events,
    };
    let exchange = || {
        vec![
            send(A, "Hello Bob, this is Alice."),
            D(0),
            send(B, "Hi Alice!"),
            D(1),
        ]
    };
    let conversation = vec![
        send(A, "m0: first PreKey message"),
        send(A, "m1: second PreKey message"),
        send(A, "m2: third PreKey message"),
        D(1), // Bob sets the session up from the second message; m0's key is skipped
        D(0), // the repeated PreKey message, from the skipped key
        send(B, "m3: Bob's first reply"),
        send(B, "m4: Bob's second reply"),
        D(2), // on Alice's known chain
        D(4), // Alice steps; m3's key is skipped
        send(A, "m5"),
        send(
            A,
            "m6: a longer message, to cover more than one AES block of plaintext",
        ),
        send(A, "m7"),
        D(3), // skipped key
        D(6), // Bob steps; m5's key is skipped
        D(7),
        send(B, "m8"),
        send(B, ""),
        D(8), // Alice steps
        send(A, "m10"),
        D(5),  // skipped key of an older chain
        D(10), // Bob steps
        send(B, "m11"),
        D(11), // Alice steps; PN = 2 skips m9's key on the previous chain
        D(9),  // the empty message, from the skipped key
        send(A, "m12"),
        D(12), // Bob steps
        send(B, "m13: last"),
        D(13), // Alice steps
    ];
    vec![
        Vector {
            file: "pqxdh_with_one_time_prekey.json",
            description: "PQXDH setup with a one-time prekey (DH1..DH4 and ML-KEM-1024), Alice's first (PreKey) message and Bob's reply",
            seed: "keylink kat v1 pqxdh_with_one_time_prekey",
            script: setup(Some(100), exchange()),
        },
        Vector {
            file: "pqxdh_without_one_time_prekey.json",
            description: "PQXDH setup without a one-time prekey (DH1..DH3 and ML-KEM-1024), Alice's first (PreKey) message and Bob's reply",
            seed: "keylink kat v1 pqxdh_without_one_time_prekey",
            script: setup(None, exchange()),
        },
        Vector {
            file: "conversation.json",
            description: "A 14-message conversation after a PQXDH setup with a one-time prekey: repeated PreKey messages, 9 ratchet keys (DH ratchet steps both ways), skipped keys on the current and on previous chains, an empty message, out-of-order delivery",
            seed: "keylink kat v1 conversation",
            script: setup(Some(100), conversation),
        },
    ]
}

pub fn generate(vector: &Vector) -> Value {
    let script = &vector.script;
    let mut rng = TestRng::counter(vector.seed);
    let run = play(script, &mut rng);

    let mut inputs = serde_json::Map::new();
    let mut ratchet_secrets = serde_json::Map::new();
    for (name, draw) in &run.draws {
        match name.strip_prefix("ratchet_key_secrets.") {
            Some(key) => {
                ratchet_secrets.insert(key.to_string(), hx(draw));
            }
            None => {
                inputs.insert(name.clone(), hx(draw));
            }
        }
    }
    if script.one_time_prekey_id.is_none() {
        inputs.insert("bob_one_time_prekey_secret".into(), Value::Null);
    }
    inputs.insert("ratchet_key_secrets".into(), Value::Object(ratchet_secrets));
    inputs.insert("bob_device_id".into(), json!(script.device_id));
    inputs.insert(
        "bob_signed_prekey_id".into(),
        json!(script.signed_prekey_id),
    );
    inputs.insert(
        "bob_one_time_prekey_id".into(),
        json!(script.one_time_prekey_id),
    );
    inputs.insert("bob_kem_prekey_id".into(), json!(script.kem_prekey_id));
    let inputs = Value::Object(inputs);
    let parsed = Inputs::from_json(&inputs);

    let (setup, pqxdh) = setup_values(&parsed, script);
    assert_eq!(bytes(&setup["bundle"]), run.bundle, "bundle bytes");
    let (ratchet_keys, by_name) = ratchet_key_values(&parsed, &run.ratchet_keys, &pqxdh.sk);

    let mut chain_keys: BTreeMap<String, [u8; 32]> = by_name
        .iter()
        .map(|(k, chain)| (k.clone(), chain.chain_key))
        .collect();
    let mut messages = Vec::new();
    for (i, sent) in run.messages.iter().enumerate() {
        let ck = chain_keys[&sent.ratchet_key];
        let chain = &by_name[&sent.ratchet_key];
        let value = message_value(i, sent, &ck, chain, &pqxdh.ad, &setup, script);
        assert_eq!(
            bytes(&value["wire"]),
            sent.wire,
            "message {i}: keylink's wire bytes equal the recomputed ones"
        );
        chain_keys.insert(sent.ratchet_key.clone(), arr(&value["next_chain_key"]));
        messages.push(value);
    }
    let events: Vec<Value> = script
        .events
        .iter()
        .zip(&run.new_keys)
        .map(|(event, created)| match event {
            Event::Send { .. } => json!({"action": "send"}),
            Event::Deliver(i) => json!({
                "action": "deliver",
                "message": i,
                "new_ratchet_key": created,
            }),
        })
        .collect();
    // Number the sends.
    let mut next_send = 0usize;
    let events: Vec<Value> = events
        .into_iter()
        .map(|mut e| {
            if e["action"] == "send" {
                e["message"] = json!(next_send);
                next_send += 1;
            }
            e
        })
        .collect();
    let delivery_order: Vec<usize> = script
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Deliver(i) => Some(*i),
            Event::Send { .. } => None,
        })
        .collect();
    json!({
        "description": vector.description,
        "source": SOURCE,
        "format": "test-vectors/README.md",
        "rng": {"algorithm": RNG_ALGORITHM, "seed": vector.seed},
        "inputs": inputs,
        "rng_draws": run.draws.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "setup": setup,
        "ratchet_keys": ratchet_keys,
        "messages": messages,
        "events": events,
        "delivery_order": delivery_order,
    })
}
