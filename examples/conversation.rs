//! A whole conversation: Alice talks to Bob, who has a phone and a laptop. Each account
//! publishes its signed device list, and each side accepts the other's before talking to it.
//! Alice sends one message to all of Bob's devices at once; messages go both ways, arrive out
//! of order, one is lost, Bob's phone restarts from its serialized store, and a device the
//! server slips into Bob's account is refused.
//!
//! Run with `cargo run --example conversation`.

use std::collections::{BTreeMap, VecDeque};

use keylink::Timestamp;
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, PreKeyPolicy, PreKeyUpkeep, PreKeyUpload,
    SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::{Address, MemoryStore};

/// The app's clock: keylink reads none, the app passes times in.
fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}

/// What the app's server would do: keep published bundles and device lists, and relay
/// opaque bytes.
#[derive(Default)]
struct Server {
    bundles: BTreeMap<Address, Published>,
    lists: BTreeMap<PhoneNumber, Vec<u8>>,
}

/// An account as its primary device holds it: the phone number, the account key (which
/// only signs) and the device list it issued last.
struct Account {
    name: &'static str,
    phone: PhoneNumber,
    key: AccountKeyPair,
    list: VerifiedDeviceList,
}

impl Account {
    /// Create the account on its primary device (device 1): a first list with it alone.
    fn create(
        name: &'static str,
        primary: &Device,
        rng: &mut keylink::OsRng,
    ) -> Result<Account, Box<dyn std::error::Error>> {
        let phone = PhoneNumber::parse(primary.address.user())?;
        let key = AccountKeyPair::generate(rng);
        let entry = DeviceEntry::primary(&key, &primary.identity, now());
        let list = SignedDeviceList::issue(&key, &phone, 1, now(), vec![entry])?;
        let list = list.verify(&phone)?;
        Ok(Account {
            name,
            phone,
            key,
            list,
        })
    }

    /// Link a companion: the primary vouches for its identity key under the account key,
    /// the companion countersigns, and the primary issues the next list with it.
    fn link(&mut self, companion: &Device) -> keylink::Result<()> {
        let id = companion.address.device();
        let authorization = self
            .key
            .authorize_device(id, companion.identity.public(), now());
        // On the companion (sent over the linking channel): it signs that it joins.
        let device_sig = authorization.countersign(&companion.identity)?;
        let entry = authorization.complete(device_sig)?;
        let next = self.list.with_device(&self.key, entry, now())?;
        self.list = next.verify(&self.phone)?;
        println!(
            "{}: linked {} as device {id}, list version {}",
            self.name,
            companion.name,
            self.list.version()
        );
        Ok(())
    }

    /// Publish the list on the server, where peers fetch it.
    fn publish(&self, server: &mut Server) {
        let bytes = self.list.signed().to_bytes();
        server.lists.insert(self.phone.clone(), bytes);
    }
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

/// One device: its address, its identity key and its store.
struct Device {
    name: &'static str,
    address: Address,
    identity: IdentityKeyPair,
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
        let mut store = MemoryStore::new(identity.clone());
        // Prekey upkeep makes the signed prekey, one-time X25519 and ML-KEM-1024 prekeys and
        // the last-resort ML-KEM-1024 prekey, and returns them as bundles to publish. The app
        // runs it again at start and on a timer (see examples/register.rs).
        let policy = PreKeyPolicy::default().one_time_target(5).refill_below(2);
        let upkeep = PreKeyUpkeep::with_policy(address.device(), policy)?;
        if let Some(upload) = upkeep.run(&mut store, now(), 0, rng)? {
            println!(
                "{name}: registered as {address}, published {} one-time bundles and a last-resort one",
                upload.one_time().len()
            );
            server.upload(&address, upload);
        }
        Ok(Device {
            name,
            address,
            identity,
            store,
        })
    }

    /// Fetch the device list of `owner`'s account from the server, check it and accept it:
    /// from now on this device talks only to the devices it lists.
    fn accept_list(&mut self, owner: &Account, server: &Server) -> keylink::Result<()> {
        let bytes = server
            .lists
            .get(&owner.phone)
            .ok_or(keylink::Error::NoDeviceList {
                phone: owner.phone.clone(),
            })?;
        let list = SignedDeviceList::try_from(bytes.as_slice())?;
        let changes = keylink::accept_device_list(&mut self.store, &owner.phone, list)?;
        println!(
            "{}: accepted {}'s device list, version {} ({} device(s) added)",
            self.name,
            owner.name,
            changes.version,
            changes.added.len()
        );
        Ok(())
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

    /// One message for every device on the accounts' accepted lists (but this one), each
    /// with the address it goes to: sealed and committed together.
    fn send_to_accounts(
        &mut self,
        accounts: &[&Account],
        text: &str,
    ) -> keylink::Result<BTreeMap<Address, Vec<u8>>> {
        let phones: Vec<PhoneNumber> = accounts.iter().map(|a| a.phone.clone()).collect();
        let fan_out = keylink::encrypt_for_accounts(&mut self.store, &phones, text.as_bytes())?;
        println!(
            "{} -> {} device(s): {text:?} (one fan-out, one commit)",
            self.name,
            fan_out.len()
        );
        let messages = fan_out.into_iter().map(|(to, m)| (to, m.to_bytes()));
        Ok(messages.collect())
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    println!("\n== Accounts: each primary signs its device list; Bob links his laptop");
    let alice_account = Account::create("Alice", &alice, &mut rng)?;
    let mut bob_account = Account::create("Bob", &phone, &mut rng)?;
    bob_account.link(&laptop)?;
    alice_account.publish(&mut server);
    bob_account.publish(&mut server);
    // An address whose user part is a phone number in E.164 form is a device of that
    // account: keylink talks to it only if the accepted list names it with its key.
    alice.accept_list(&bob_account, &server)?;
    phone.accept_list(&alice_account, &server)?;
    laptop.accept_list(&alice_account, &server)?;

    println!("\n== Alice writes to all of Bob's devices at once");
    alice.connect(&phone, &mut server, &mut rng)?;
    alice.connect(&laptop, &mut server, &mut rng)?;
    let mut to_bob = alice.send_to_accounts(&[&bob_account], "Hi Bob! Lunch tomorrow?")?;
    let to_phone = to_bob
        .remove(&phone.address)
        .ok_or("no message for the phone")?;
    let to_laptop = to_bob
        .remove(&laptop.address)
        .ok_or("no message for the laptop")?;
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

    println!("\n== The server slips a device of its own into Bob's account");
    let ghost = Device::register(
        "a ghost device",
        Address::new("+15550002", 3),
        &mut server,
        &mut rng,
    )?;
    match alice.connect(&ghost, &mut server, &mut rng) {
        Err(e) => println!("  Alice refused its bundle: {e}"),
        Ok(()) => println!("  unexpected: a session with a device not on Bob's list"),
    }

    println!("\nDone: every delivered message was read exactly once.");
    Ok(())
}
