//! A whole conversation: Alice talks to Bob, who has a phone and a laptop. Messages go both
//! ways, arrive out of order, one is lost, and Bob's phone restarts from its serialized store.
//!
//! Run with `cargo run --example conversation`.

use std::collections::{BTreeMap, VecDeque};

use keylink::Timestamp;
use keylink::account::{PreKeyPolicy, PreKeyUpkeep, PreKeyUpload};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::{Address, MemoryStore};

/// What the app's server would do: keep published bundles and relay opaque bytes.
#[derive(Default)]
struct Server {
    bundles: BTreeMap<Address, Published>,
}

/// One device's bundles: each one-time bundle goes to one requester only; the last-resort
/// bundle is handed out when none is left.
#[derive(Default)]
struct Published {
    one_time: VecDeque<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
}

impl Server {
    /// Keep what a device's prekey upkeep returned.
    fn upload(&mut self, address: &Address, upload: PreKeyUpload) {
        let published = self.bundles.entry(address.clone()).or_default();
        let (last_resort, one_time) = upload.into_bundles();
        if let Some(last_resort) = last_resort {
            published.one_time.clear();
            published.last_resort = Some(last_resort.to_bytes());
        }
        published
            .one_time
            .extend(one_time.iter().map(PreKeyBundle::to_bytes));
    }

    /// Hand out one bundle.
    fn fetch_bundle(&mut self, address: &Address) -> Option<Vec<u8>> {
        let published = self.bundles.get_mut(address)?;
        let one_time = published.one_time.pop_front();
        one_time.or_else(|| published.last_resort.clone())
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
        let mut store = MemoryStore::new(IdentityKeyPair::generate(rng));
        // Prekey upkeep makes the signed prekey, one-time X25519 and ML-KEM-1024 prekeys and
        // the last-resort ML-KEM-1024 prekey, and returns them as bundles to publish. The app
        // runs it again at start and on a timer (see examples/register.rs).
        let policy = PreKeyPolicy::default().one_time_target(5).refill_below(2);
        let upkeep = PreKeyUpkeep::with_policy(address.device(), policy)?;
        let now = Timestamp::from(std::time::SystemTime::now());
        if let Some(upload) = upkeep.run(&mut store, now, 0, rng)? {
            println!(
                "{name}: registered as {address}, published {} one-time bundles and a last-resort one",
                upload.one_time().len()
            );
            server.upload(&address, upload);
        }
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
