//! The sans-IO core for an app that does its own storage (an async database, a key-value
//! store): it keeps serialized records in its own tables, looks up what a message needs, calls
//! keylink's pure functions and writes the results in one transaction of its own.
//!
//! Run with `cargo run --example sans_io`.

use std::collections::BTreeMap;

use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, PublicKey, SignedPreKey,
};
use keylink::session::{
    Decrypted, Message, PreKeyMessage, ResponderPreKeys, Session, SessionRecord,
};

/// The app's tables, as bytes: what a database would hold.
#[derive(Default)]
struct Tables {
    identity: Vec<u8>,
    signed_prekeys: BTreeMap<u32, Vec<u8>>,
    one_time_prekeys: BTreeMap<u32, Vec<u8>>,
    kem_prekeys: BTreeMap<u32, Vec<u8>>,
    used_base_keys: Vec<(u32, PublicKey)>,
    peers: BTreeMap<String, IdentityKey>,
    sessions: BTreeMap<String, Vec<u8>>,
}

impl Tables {
    /// One transaction: the record, the identity to remember and the prekeys used up.
    fn commit(&mut self, peer: &str, record: &SessionRecord, decrypted: &Decrypted) {
        self.sessions
            .insert(peer.to_owned(), record.to_bytes().to_vec());
        self.peers
            .entry(peer.to_owned())
            .or_insert(decrypted.sender);
        let consumed = &decrypted.consumed;
        if let Some(id) = consumed.one_time_prekey {
            self.one_time_prekeys.remove(&id.get());
        }
        if let Some(id) = consumed.kem_prekey {
            self.kem_prekeys.remove(&id.get());
        }
        if let Some((signed, base_key)) = consumed.used_base_key {
            self.used_base_keys.push((signed.get(), base_key));
        }
    }

    /// The prekeys a PreKey message names, read from the tables (a missing one is `None`).
    fn prekeys_for(&self, message: &PreKeyMessage) -> keylink::Result<ResponderPreKeys> {
        let signed = message.signed_prekey_id().get();
        let one_time = message.one_time_prekey_id().map(|id| id.get());
        let kem = message.kem_prekey_id().get();
        let one_time_row = one_time.and_then(|id| self.one_time_prekeys.get(&id));
        Ok(ResponderPreKeys {
            signed_prekey: self
                .signed_prekeys
                .get(&signed)
                .map(|b| SignedPreKey::from_bytes(b))
                .transpose()?,
            one_time_prekey: one_time_row
                .map(|b| OneTimePreKey::from_bytes(b))
                .transpose()?,
            kem_prekey: self
                .kem_prekeys
                .get(&kem)
                .map(|b| KemPreKey::from_bytes(b))
                .transpose()?,
            base_key_used: self.used_base_keys.contains(&(signed, *message.base_key())),
        })
    }
}

fn main() -> keylink::Result<()> {
    let mut rng = keylink::os_rng();

    // Bob's device: keys generated once, stored as records in the app's tables.
    let bob_identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &bob_identity, &mut rng);
    let one_time = OneTimePreKey::generate(7, &mut rng);
    let kem = KemPreKey::generate(3, &bob_identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &bob_identity, &signed, Some(&one_time), &kem).to_bytes();
    let mut bob = Tables {
        identity: bob_identity.to_bytes().to_vec(),
        ..Tables::default()
    };
    bob.signed_prekeys.insert(1, signed.to_bytes().to_vec());
    bob.one_time_prekeys.insert(7, one_time.to_bytes().to_vec());
    bob.kem_prekeys.insert(3, kem.to_bytes().to_vec());

    // Alice starts a session from the published bundle; her record goes to her own table.
    let alice_identity = IdentityKeyPair::generate(&mut rng);
    let verified = PreKeyBundle::try_from(bundle.as_slice())?.verify()?;
    let mut alice = SessionRecord::new();
    alice.set_current(Session::initiate(&alice_identity, &verified, &mut rng)?);
    let mut outbox = Vec::new();
    // Every message carries the version of the sender's own account device list (0: Alice's
    // device belongs to no account here; an app with one passes the accepted list's version).
    for text in ["Hi Bob!", "Are you there?"] {
        let message = alice.encrypt(0, text.as_bytes())?;
        // Persist the advanced record here, before the message leaves the device.
        let _alice_row = alice.to_bytes();
        outbox.push(message.to_bytes());
    }
    println!("alice: sent {} PreKey messages", outbox.len());

    // Bob receives them, looking up only what each message needs.
    let ours = IdentityKeyPair::from_bytes(&bob.identity)?;
    // The first message arrives twice: the second copy is a replay.
    let replay = outbox.first().cloned();
    for bytes in outbox.iter().chain(replay.as_ref()) {
        let mut record = match bob.sessions.get("alice") {
            Some(row) => SessionRecord::from_bytes_for_peer(row, bob.peers.get("alice"))?,
            None => SessionRecord::new(),
        };
        let Message::PreKey(message) = Message::try_from(bytes.as_slice())? else {
            unreachable!("Alice has not heard from Bob yet")
        };
        let prekeys = match record.needs_prekeys(&message) {
            true => bob.prekeys_for(&message)?,
            false => ResponderPreKeys::default(),
        };
        let trusted = bob.peers.get("alice");
        match record.decrypt_prekey(&ours, trusted, &message, prekeys, &mut rng) {
            Ok(decrypted) => {
                bob.commit("alice", &record, &decrypted);
                let text = String::from_utf8_lossy(&decrypted.plaintext);
                println!("bob: \"{text}\" (used up: {:?})", decrypted.consumed);
            }
            // The replayed copy: refused, and Bob's tables are untouched.
            Err(e) => println!("bob: refused a message: {e}"),
        }
    }
    assert!(bob.one_time_prekeys.is_empty() && bob.kem_prekeys.is_empty());

    // Bob replies on the session; Alice's record decrypts it and stops sending PreKey messages.
    let row = bob.sessions.get("alice").ok_or(keylink::Error::NoSession)?;
    let mut record = SessionRecord::from_bytes(row)?;
    let reply = record.encrypt(0, b"Hi Alice!")?.to_bytes();
    bob.sessions
        .insert("alice".into(), record.to_bytes().to_vec());
    let Message::Ratchet(reply) = Message::try_from(reply.as_slice())? else {
        unreachable!("Bob's session is confirmed")
    };
    let decrypted = alice.decrypt(&reply, Some(verified.identity_key()), &mut rng)?;
    println!(
        "alice: \"{}\"",
        String::from_utf8_lossy(&decrypted.plaintext)
    );
    assert!(!alice.current().is_some_and(Session::awaiting_reply));
    Ok(())
}
