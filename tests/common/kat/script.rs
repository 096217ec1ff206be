//! The script of a run, and running it through the public API.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Alice,
    Bob,
}

impl Party {
    pub fn name(self) -> &'static str {
        match self {
            Party::Alice => "alice",
            Party::Bob => "bob",
        }
    }

    pub fn letter(self) -> char {
        match self {
            Party::Alice => 'A',
            Party::Bob => 'B',
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "alice" => Party::Alice,
            "bob" => Party::Bob,
            _ => panic!("unknown party {s}"),
        }
    }

    /// The version of the party's own account device list, which every message it sends
    /// carries (PROTOCOL.md §6.4): fixed for the vectors.
    pub fn list_version(self) -> u64 {
        match self {
            Party::Alice => 3,
            Party::Bob => 7,
        }
    }

    /// The party's own account phone number.
    fn phone(self) -> keylink::account::PhoneNumber {
        let phone = match self {
            Party::Alice => "+14155550100",
            Party::Bob => "+447700900123",
        };
        keylink::account::PhoneNumber::parse(phone).unwrap()
    }

    /// Make `store` a device of the party's account, whose accepted list has the party's
    /// version. The account key is random (the vectors hold only the version) and draws
    /// nothing from the run's RNG.
    fn join_account(self, store: &mut MemoryStore, device: &IdentityKeyPair) {
        use keylink::account::{AccountKeyPair, DeviceEntry, SignedDeviceList};
        let account = AccountKeyPair::generate(&mut keylink::os_rng());
        let t = keylink::Timestamp::from_unix_millis(1_800_000_000_000);
        let primary = DeviceEntry::primary(&account, device, t);
        let (phone, version) = (self.phone(), self.list_version());
        let list = SignedDeviceList::issue(&account, &phone, version, t, vec![primary]).unwrap();
        keylink::accept_own_device_list(store, &phone, list).unwrap();
    }

    pub fn peer(self) -> Self {
        match self {
            Party::Alice => Party::Bob,
            Party::Bob => Party::Alice,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Event {
    Send { from: Party, plaintext: Vec<u8> },
    Deliver(usize),
}

#[derive(Clone, Debug)]
pub struct Script {
    pub device_id: u32,
    pub signed_prekey_id: u32,
    pub one_time_prekey_id: Option<u32>,
    pub kem_prekey_id: u32,
    pub events: Vec<Event>,
}

/// One message as the run produced it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub sender: Party,
    pub plaintext: Vec<u8>,
    pub wire: Vec<u8>,
    pub prekey: bool,
    /// The sender's ratchet key (`A0`, `B0`, ...), `PN` and `N`, as the run's bookkeeping
    /// expects them; checked against keylink's wire bytes by the recomputation.
    pub ratchet_key: String,
    pub previous_counter: u32,
    pub counter: u32,
}

/// What a run of a script through the public API produced.
pub struct Run {
    /// Every RNG draw, named, in order.
    pub draws: Vec<(String, Vec<u8>)>,
    pub bundle: Vec<u8>,
    pub messages: Vec<Sent>,
    /// For each event: the ratchet key a delivery created, if any.
    pub new_keys: Vec<Option<String>>,
    /// Ratchet keys in creation order, with their owner.
    pub ratchet_keys: Vec<(String, Party)>,
}

/// Per party: its ratchet keys, messages sent on the current one, and `PN`.
#[derive(Default)]
pub struct Side {
    pub keys: Vec<String>,
    pub sent: u32,
    pub previous_counter: u32,
}

pub fn one_draw(rng: &mut TestRng, len: usize) -> Vec<u8> {
    let draws = rng.take();
    assert_eq!(draws.len(), 1, "expected exactly one draw");
    assert_eq!(draws[0].len(), len);
    draws.into_iter().next().unwrap()
}

/// Run `script` through the public API with `rng`: Bob's keys and bundle, Alice's
/// `start_session`, then the events. Every delivery must decrypt to what was sent.
pub fn play(script: &Script, rng: &mut TestRng) -> Run {
    let mut draws = Vec::new();
    let alice_identity = IdentityKeyPair::generate(rng);
    draws.push(("alice_identity_seed".to_string(), one_draw(rng, 32)));
    let bob_identity = IdentityKeyPair::generate(rng);
    draws.push(("bob_identity_seed".to_string(), one_draw(rng, 32)));
    let signed = SignedPreKey::generate(script.signed_prekey_id, &bob_identity, rng);
    draws.push(("bob_signed_prekey_secret".to_string(), one_draw(rng, 32)));
    let one_time = script.one_time_prekey_id.map(|id| {
        let key = OneTimePreKey::generate(id, rng);
        draws.push(("bob_one_time_prekey_secret".to_string(), one_draw(rng, 32)));
        key
    });
    let kem = KemPreKey::generate(script.kem_prekey_id, &bob_identity, rng);
    draws.push(("bob_kem_prekey_seed".to_string(), one_draw(rng, 64)));

    let mut bob = MemoryStore::new(bob_identity.clone());
    Party::Bob.join_account(&mut bob, &bob_identity);
    bob.add_signed_prekey(signed);
    bob.add_one_time_prekeys(one_time);
    bob.add_kem_prekeys([kem]);
    let bundle = stored_bundle(
        &bob,
        script.device_id,
        script.signed_prekey_id,
        script.one_time_prekey_id,
        script.kem_prekey_id,
    )
    .to_bytes();
    let alice_address = Address::new("alice", 1);
    let bob_address = Address::new("bob", script.device_id);
    let mut alice = MemoryStore::new(alice_identity.clone());
    Party::Alice.join_account(&mut alice, &alice_identity);
    let verified = PreKeyBundle::try_from(bundle.as_slice())
        .unwrap()
        .verify()
        .unwrap();
    keylink::start_session(&mut alice, &bob_address, &verified, rng).unwrap();
    let setup = rng.take();
    assert_eq!(
        setup.iter().map(Vec::len).collect::<Vec<_>>(),
        [32, 32, 32],
        "start_session draws EK_A, the KEM's m and Alice's first ratchet key"
    );
    let [base, m, a0]: [Vec<u8>; 3] = setup.try_into().unwrap();
    draws.push(("alice_base_key_secret".to_string(), base));
    draws.push(("kem_encapsulation_m".to_string(), m));
    draws.push(("ratchet_key_secrets.A0".to_string(), a0));

    let mut sides: BTreeMap<&str, Side> = BTreeMap::new();
    sides.insert("alice", Side::default());
    sides.insert("bob", Side::default());
    sides.get_mut("alice").unwrap().keys.push("A0".to_string());
    let mut ratchet_keys = vec![("A0".to_string(), Party::Alice)];
    let mut messages: Vec<Sent> = Vec::new();
    let mut new_keys = Vec::new();
    for event in &script.events {
        match event {
            Event::Send { from, plaintext } => {
                let (store, to) = match from {
                    Party::Alice => (&mut alice, &bob_address),
                    Party::Bob => (&mut bob, &alice_address),
                };
                let message = keylink::encrypt(store, to, plaintext).unwrap();
                let side = sides.get_mut(from.name()).unwrap();
                messages.push(Sent {
                    sender: *from,
                    plaintext: plaintext.clone(),
                    wire: message.to_bytes(),
                    prekey: message.is_prekey(),
                    ratchet_key: side.keys.last().expect("a sending key").clone(),
                    previous_counter: side.previous_counter,
                    counter: side.sent,
                });
                side.sent += 1;
                assert!(rng.take().is_empty(), "encryption draws nothing");
                new_keys.push(None);
            }
            Event::Deliver(i) => {
                let sent = &messages[*i];
                let to = sent.sender.peer();
                let (store, from) = match to {
                    Party::Alice => (&mut alice, &bob_address),
                    Party::Bob => (&mut bob, &alice_address),
                };
                let plaintext = keylink::decrypt(store, from, &sent.wire, rng).unwrap();
                assert_eq!(plaintext, sent.plaintext, "message {i}");
                let drawn = rng.take();
                assert!(drawn.len() <= 1);
                let created = drawn.into_iter().next().map(|secret| {
                    assert_eq!(secret.len(), 32);
                    let side = sides.get_mut(to.name()).unwrap();
                    let name = format!("{}{}", to.letter(), side.keys.len());
                    side.keys.push(name.clone());
                    side.previous_counter = side.sent;
                    side.sent = 0;
                    draws.push((format!("ratchet_key_secrets.{name}"), secret));
                    ratchet_keys.push((name.clone(), to));
                    name
                });
                new_keys.push(created);
            }
        }
    }
    Run {
        draws,
        bundle,
        messages,
        new_keys,
        ratchet_keys,
    }
}
