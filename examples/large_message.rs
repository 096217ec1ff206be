//! Large messages (a photo, a voice note) encrypted and decrypted in place: the plaintext
//! buffer becomes the message, and the message buffer becomes the plaintext, each in one
//! AES-GCM pass. A message that fails to decrypt, or whose new state the store cannot save,
//! leaves the buffer exactly as it was, so the app can keep it and retry.
//!
//! Run with `cargo run --release --example large_message`.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use keylink::Timestamp;
use keylink::account::{PreKeyPolicy, PreKeyUpkeep};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::{Address, MemoryStore};

fn main() -> keylink::Result<()> {
    let mut rng = keylink::os_rng();
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let mut alice = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
    let mut bob = MemoryStore::new(IdentityKeyPair::generate(&mut rng));

    // Bob's prekey upkeep makes his prekeys and returns the bundles to publish; the app's
    // server (here a queue of their bytes) hands one to Alice.
    let mut server = VecDeque::new();
    let policy = PreKeyPolicy::default().one_time_target(5).refill_below(2);
    let upkeep = PreKeyUpkeep::with_policy(bob_addr.device(), policy)?;
    let now = Timestamp::from(SystemTime::now());
    if let Some(upload) = upkeep.run(&mut bob, now, 0, &mut rng)? {
        server.extend(upload.one_time().iter().map(PreKeyBundle::to_bytes));
    }
    let published = server.pop_front().ok_or(keylink::Error::NoSession)?;
    let bundle = PreKeyBundle::try_from(published.as_slice())?.verify()?;
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng)?;

    // The first message sets the session up (a PreKey message); Bob answers, so from now on
    // Alice sends plain ratchet messages, which are encrypted in place.
    let hello = keylink::encrypt(&mut alice, &bob_addr, b"photo coming")?.to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &hello, &mut rng)?;
    let ok = keylink::encrypt(&mut bob, &alice_addr, b"ok")?.to_bytes();
    keylink::decrypt(&mut alice, &bob_addr, &ok, &mut rng)?;

    // A 4 MiB "photo", with room reserved for the message's framing (94 bytes at most for a
    // ratchet message), so the buffer is never reallocated.
    let photo: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut buffer = Vec::with_capacity(photo.len() + 94);
    buffer.extend_from_slice(&photo);
    let start = Instant::now();
    keylink::encrypt_in_place(&mut alice, &bob_addr, &mut buffer)?;
    println!(
        "alice: encrypted {} MiB in place in {:?}: {} bytes to send",
        photo.len() >> 20,
        start.elapsed(),
        buffer.len()
    );

    // On the wire a bit flips: Bob's buffer is left as it was, nothing changes.
    let mut damaged = buffer.clone();
    if let Some(byte) = damaged.get_mut(1000) {
        *byte ^= 0x01;
    }
    let before = damaged.clone();
    match keylink::decrypt_in_place(&mut bob, &alice_addr, &mut damaged, &mut rng) {
        Ok(_) => println!("bob: a damaged message decrypted?!"),
        Err(error) => println!("bob: damaged copy refused ({error})"),
    }
    assert_eq!(damaged, before, "the buffer is unchanged");

    // The real message decrypts where it is: the plaintext is a part of Bob's buffer.
    let start = Instant::now();
    let plaintext = keylink::decrypt_in_place(&mut bob, &alice_addr, &mut buffer, &mut rng)?;
    let elapsed = start.elapsed();
    assert_eq!(plaintext, photo.as_slice());
    println!(
        "bob: decrypted {} MiB in place in {elapsed:?}",
        plaintext.len() >> 20
    );
    Ok(())
}
