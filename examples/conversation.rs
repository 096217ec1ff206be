//! A whole conversation: Alice talks to Bob, who has a phone and a laptop. Messages go both
//! ways, arrive out of order, one is lost, and Bob's phone restarts from its serialized store.
//!
//! Run with `cargo run --example conversation`.

use std::collections::BTreeMap;

use keylink::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey};
use keylink::store::{Address, MemoryStore};

/// What the app's server would do: keep published bundles and relay opaque bytes.
#[derive(Default)]
struct Server {
    bundles: BTreeMap<Address, Vec<Vec<u8>>>,
}

impl Server {
    /// Hand out one bundle (each one-time prekey goes to one requester only).
    fn fetch_bundle(&mut self, address: &Address) -> Option<Vec<u8>> {
        self.bundles.get_mut(address)?.pop()
    }
}

/// One device: its address and its store.
struct Device {
    name: &'static str,
    address: Address,
    store: MemoryStore,
}

impl Device {
    /// Create the device's identity and prekeys, and publish its bundles on the server.
    fn register(
        name: &'static str,
        address: Address,
        server: &mut Server,
        rng: &mut keylink::OsRng,
    ) -> keylink::Result<Device> {
        let identity = IdentityKeyPair::generate(rng);
        let signed = SignedPreKey::generate(1, &identity, rng);
        let kem = KemPreKey::generate_batch(1, 5, &identity, rng);
        let last_resort = KemPreKey::generate_last_resort(100, &identity, rng);
        let mut store = MemoryStore::new(identity);
        store.add_signed_prekey(signed);
        store.add_one_time_prekeys(OneTimePreKey::generate_batch(1, 5, rng));
        store.add_kem_prekeys(kem.into_iter().chain([last_resort]));
        // One bundle with only the last-resort keys (handed out last), then one per
        // one-time prekey pair (each given to one requester only).
        let mut bundles = vec![store.bundle(address.device(), 1, None, 100)?.to_bytes()];
        let one_time = store.one_time_prekey_ids().into_iter();
        for (ec, kem) in one_time.zip(store.one_time_kem_prekey_ids()) {
            bundles.push(store.bundle(address.device(), 1, Some(ec), kem)?.to_bytes());
        }
        println!(
            "{name}: registered as {address}, published {} bundles",
            bundles.len()
        );
        server.bundles.insert(address.clone(), bundles);
        Ok(Device {
            name,
            address,
            store,
        })
    }

    fn connect(
        &mut self,
        to: &Device,
        server: &mut Server,
        rng: &mut keylink::OsRng,
    ) -> keylink::Result<()> {
        let bytes = server
            .fetch_bundle(&to.address)
            .ok_or(keylink::Error::NoSession)?;
        let bundle = PreKeyBundle::try_from(bytes.as_slice())?.verify()?;
        keylink::start_session(&mut self.store, &to.address, &bundle, rng)?;
        println!(
            "{}: verified {}'s bundle and started a session",
            self.name, to.name
        );
        Ok(())
    }

    fn send(&mut self, to: &Device, text: &str) -> keylink::Result<Vec<u8>> {
        let message = keylink::encrypt(&mut self.store, &to.address, text.as_bytes())?;
        let kind = if message.is_prekey() {
            "PreKey"
        } else {
            "ratchet"
        };
        let bytes = message.to_bytes();
        println!(
            "{} -> {}: {text:?} ({kind} message, {} bytes)",
            self.name,
            to.name,
            bytes.len()
        );
        Ok(bytes)
    }

    fn receive(
        &mut self,
        from: &Device,
        bytes: &[u8],
        rng: &mut keylink::OsRng,
    ) -> keylink::Result<()> {
        let plaintext = keylink::decrypt(&mut self.store, &from.address, bytes, rng)?;
        println!(
            "  {} read from {}: {:?}",
            self.name,
            from.name,
            String::from_utf8_lossy(&plaintext)
        );
        Ok(())
    }
}

fn main() -> keylink::Result<()> {
    let mut rng = keylink::os_rng();
    let mut server = Server::default();

    println!("== Registration");
    let mut alice = Device::register("Alice", Address::new("+15550001", 1), &mut server, &mut rng)?;
    let mut phone = Device::register(
        "Bob's phone",
        Address::new("+15550002", 1),
        &mut server,
        &mut rng,
    )?;
    let mut laptop = Device::register(
        "Bob's laptop",
        Address::new("+15550002", 2),
        &mut server,
        &mut rng,
    )?;

    println!("\n== Alice writes to both of Bob's devices");
    alice.connect(&phone, &mut server, &mut rng)?;
    alice.connect(&laptop, &mut server, &mut rng)?;
    let to_phone = alice.send(&phone, "Hi Bob! Lunch tomorrow?")?;
    let to_laptop = alice.send(&laptop, "Hi Bob! Lunch tomorrow?")?;
    phone.receive(&alice, &to_phone, &mut rng)?;
    laptop.receive(&alice, &to_laptop, &mut rng)?;

    println!("\n== Bob replies from the phone; Alice's next messages are plain ratchet messages");
    let reply = phone.send(&alice, "Sure, 12:30?")?;
    alice.receive(&phone, &reply, &mut rng)?;

    println!("\n== Three messages: the second is lost, the third arrives before the first");
    let first = alice.send(&phone, "12:30 works.")?;
    let _lost = alice.send(&phone, "(this one is lost in transit)")?;
    let third = alice.send(&phone, "See you at the usual place.")?;
    phone.receive(&alice, &third, &mut rng)?;
    phone.receive(&alice, &first, &mut rng)?;
    println!("  (the lost message's key stays stored until it arrives or is evicted)");

    println!("\n== A replayed message is rejected and changes nothing");
    match phone.receive(&alice, &first, &mut rng) {
        Err(e) => println!("  Bob's phone refused the replay: {e}"),
        Ok(()) => println!("  unexpected: the replay decrypted"),
    }

    println!("\n== Bob's phone restarts from its serialized store");
    let saved = phone.store.to_bytes();
    println!("  saved {} bytes", saved.len());
    phone.store = MemoryStore::from_bytes(&saved)?;
    let reply = phone.send(&alice, "Phone restarted, still here.")?;
    alice.receive(&phone, &reply, &mut rng)?;

    println!("\n== The laptop replies twice; Alice gets them in reverse order");
    let one = laptop.send(&alice, "On my laptop now.")?;
    let two = laptop.send(&alice, "Sending the address.")?;
    alice.receive(&laptop, &two, &mut rng)?;
    alice.receive(&laptop, &one, &mut rng)?;

    println!("\n== A message tampered with in transit is rejected");
    let mut tampered = alice.send(&laptop, "Thanks!")?;
    if let Some(last) = tampered.last_mut() {
        *last ^= 0x01;
    }
    match laptop.receive(&alice, &tampered, &mut rng) {
        Err(e) => println!("  Bob's laptop refused it: {e}"),
        Ok(()) => println!("  unexpected: the tampered message decrypted"),
    }

    println!("\nDone: every delivered message was read exactly once.");
    Ok(())
}
