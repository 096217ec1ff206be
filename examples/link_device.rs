//! Linking a laptop to Bob's account by a typed code, then everything that follows from it.
//!
//! The laptop shows an 8-symbol code; Bob misreads it once ("Invalid code, 2 attempts left"),
//! then types it right. The two devices run CPace and the ML-KEM-1024 + X25519 handshake,
//! the phone issues the account's next device list and sends the laptop the history in a
//! file only this link can open. Alice sees the new device in Bob's list and her next
//! message reaches both of his devices. Then Bob removes the laptop, and the server withholds
//! the new list from Alice: Bob's next message carries its version, so Alice cannot send to
//! Bob until she has it; once she does, her message goes to the phone only, and what the
//! laptop still sends is refused.
//!
//! Run with `cargo run --example link_device`.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};

use keylink::Timestamp;
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, PreKeyPolicy, PreKeyUpkeep, SignedDeviceList,
    VerifiedDeviceList,
};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingCode, Primary, PrimaryStep};
use keylink::store::{Address, MemoryStore};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The app's clock: keylink reads none, the app passes times in.
fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}

/// The server: published bundles and device lists. It only relays opaque bytes.
#[derive(Default)]
struct Server {
    bundles: BTreeMap<Address, VecDeque<Vec<u8>>>,
    lists: BTreeMap<PhoneNumber, Vec<u8>>,
}

impl Server {
    fn list(&self, phone: &PhoneNumber) -> Res<SignedDeviceList> {
        let bytes = self.lists.get(phone).ok_or("no list published")?;
        Ok(SignedDeviceList::try_from(bytes.as_slice())?)
    }
}

/// A device: its address, identity and store.
struct Device {
    name: &'static str,
    address: Address,
    store: MemoryStore,
}

impl Device {
    /// A device with `identity`, its prekey bundles published under `address`.
    fn new(
        name: &'static str,
        address: Address,
        identity: IdentityKeyPair,
        server: &mut Server,
        rng: &mut keylink::OsRng,
    ) -> Res<Device> {
        let mut store = MemoryStore::new(identity);
        let policy = PreKeyPolicy::default().one_time_target(3).refill_below(1);
        let upkeep = PreKeyUpkeep::with_policy(address.device(), policy)?;
        if let Some(upload) = upkeep.run(&mut store, now(), 0, rng)? {
            let (_, one_time) = upload.into_bundles();
            let bundles = one_time.iter().map(PreKeyBundle::to_bytes).collect();
            server.bundles.insert(address.clone(), bundles);
        }
        Ok(Device {
            name,
            address,
            store,
        })
    }

    /// Fetch `phone`'s list from the server and accept it; say what changed.
    fn refresh(&mut self, who: &str, phone: &PhoneNumber, server: &Server) -> Res<()> {
        let changes = keylink::accept_device_list(&mut self.store, phone, server.list(phone)?)?;
        let added: Vec<String> = changes
            .added
            .iter()
            .map(|d| d.device_id().to_string())
            .collect();
        let removed: Vec<String> = changes
            .removed
            .iter()
            .map(|d| d.device_id().to_string())
            .collect();
        let mut news = format!(
            "{}: {who}'s device list is now version {}",
            self.name, changes.version
        );
        if !added.is_empty() && !changes.is_first() {
            news += &format!(" ({who} linked a new device: {})", added.join(", "));
        }
        if !removed.is_empty() {
            news += &format!(" ({who} removed device {})", removed.join(", "));
        }
        println!("{news}");
        Ok(())
    }

    /// Start a session with every listed device of `phone` that has none yet.
    fn connect(
        &mut self,
        phone: &PhoneNumber,
        server: &mut Server,
        rng: &mut keylink::OsRng,
    ) -> Res<()> {
        for address in
            keylink::devices_without_session(&mut self.store, std::slice::from_ref(phone))?
        {
            let bytes = server
                .bundles
                .get_mut(&address)
                .and_then(VecDeque::pop_front)
                .ok_or("no bundle left")?;
            let bundle = PreKeyBundle::try_from(bytes.as_slice())?.verify()?;
            keylink::start_session(&mut self.store, &address, &bundle, rng)?;
            println!("{}: started a session with {address}", self.name);
        }
        Ok(())
    }

    /// One message for every listed device of `phone`, committed together.
    fn send(&mut self, phone: &PhoneNumber, text: &str) -> Res<BTreeMap<Address, Vec<u8>>> {
        let fan_out = keylink::encrypt_for_accounts(
            &mut self.store,
            std::slice::from_ref(phone),
            text.as_bytes(),
        )?;
        let messages: BTreeMap<Address, Vec<u8>> = fan_out
            .into_iter()
            .map(|(to, m)| (to, m.to_bytes()))
            .collect();
        let to: Vec<String> = messages.keys().map(ToString::to_string).collect();
        println!("{} -> {}: {text:?}", self.name, to.join(" and "));
        Ok(messages)
    }

    fn receive(&mut self, from: &Address, bytes: &[u8], rng: &mut keylink::OsRng) -> Res<()> {
        let plaintext = keylink::decrypt(&mut self.store, from, bytes, rng)?;
        println!(
            "  {} read: {:?}",
            self.name,
            String::from_utf8_lossy(&plaintext)
        );
        Ok(())
    }
}

/// An account as its primary keeps it.
struct Account {
    phone: PhoneNumber,
    key: AccountKeyPair,
    list: VerifiedDeviceList,
}

impl Account {
    fn create(phone: &str, primary: &IdentityKeyPair, rng: &mut keylink::OsRng) -> Res<Account> {
        let phone = PhoneNumber::parse(phone)?;
        let key = AccountKeyPair::generate(rng);
        let entry = DeviceEntry::primary(&key, primary, now());
        let list = SignedDeviceList::issue(&key, &phone, 1, now(), vec![entry])?.verify(&phone)?;
        Ok(Account { phone, key, list })
    }

    /// Publish the current list, and accept it on the primary as its own account's list.
    fn publish(&self, primary: &mut Device, server: &mut Server) -> Res<()> {
        self.accept_on(primary)?;
        server
            .lists
            .insert(self.phone.clone(), self.list.signed().to_bytes());
        Ok(())
    }

    /// Accept the current list on the primary: every message it sends carries its version.
    fn accept_on(&self, primary: &mut Device) -> Res<()> {
        let list = self.list.signed().clone();
        keylink::accept_own_device_list(&mut primary.store, &self.phone, list)?;
        Ok(())
    }

    /// A grant for the next companion (the account key pair is read back from its record,
    /// as an app keeps it).
    fn grant(&self) -> Res<LinkGrant> {
        let key = AccountKeyPair::from_bytes(&self.key.to_bytes())?;
        Ok(LinkGrant::new(key, self.list.clone(), now())?)
    }
}

/// The laptop's code as Bob misreads it: the first symbol one further along the alphabet,
/// and the check symbol too, so that the check still matches (a single typo never would).
fn misread(code: &LinkingCode) -> Res<LinkingCode> {
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let shift = |c: char| -> Res<char> {
        let i = ALPHABET.find(c).ok_or("not a code symbol")?;
        ALPHABET
            .chars()
            .nth((i + 1) % 32)
            .ok_or_else(|| "alphabet".into())
    };
    // "ABCD-EFGH": the first symbol is at 0, the check symbol at 8.
    let shown = code.to_string();
    let typed = shown
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 || i == 8 { shift(c) } else { Ok(c) });
    Ok(LinkingCode::parse(&typed.collect::<Res<String>>()?)?)
}

/// One run of the link protocol, both sides: the app would carry each message over its own
/// channel (the server, or a local connection).
fn run_link(
    laptop: &mut Companion,
    phone: &mut Primary,
    rng: &mut keylink::OsRng,
) -> Res<(keylink::link::LinkedAccount, keylink::link::LinkedDevice)> {
    let hello = laptop.start(rng)?;
    let PrimaryStep::Send(reply) = phone.receive(&hello, rng)? else {
        return Err("the phone linked early".into());
    };
    let CompanionStep::Send(confirmation) = laptop.receive(&reply)? else {
        return Err("the laptop linked early".into());
    };
    let PrimaryStep::Send(payload) = phone.receive(&confirmation, rng)? else {
        return Err("the phone linked early".into());
    };
    let CompanionStep::Linked { reply, account } = laptop.receive(&payload)? else {
        return Err("the laptop did not link".into());
    };
    let PrimaryStep::Linked(linked) = phone.receive(&reply, rng)? else {
        return Err("the phone did not link".into());
    };
    Ok((*account, *linked))
}

fn main() -> Res<()> {
    let mut rng = keylink::os_rng();
    let mut server = Server::default();

    println!("== Alice and Bob have one phone each");
    let alice_identity = IdentityKeyPair::generate(&mut rng);
    let bob_identity = IdentityKeyPair::generate(&mut rng);
    let alice_account = Account::create("+15550001", &alice_identity, &mut rng)?;
    let mut bob_account = Account::create("+15550002", &bob_identity, &mut rng)?;
    let (alice_phone, bob_phone) = (alice_account.phone.clone(), bob_account.phone.clone());
    let mut alice = Device::new(
        "Alice",
        Address::new(alice_phone.as_str(), 1),
        alice_identity,
        &mut server,
        &mut rng,
    )?;
    let mut phone = Device::new(
        "Bob's phone",
        Address::new(bob_phone.as_str(), 1),
        bob_identity,
        &mut server,
        &mut rng,
    )?;
    alice_account.publish(&mut alice, &mut server)?;
    bob_account.publish(&mut phone, &mut server)?;
    alice.refresh("Bob", &bob_phone, &server)?;
    phone.refresh("Alice", &alice_phone, &server)?;
    alice.connect(&bob_phone, &mut server, &mut rng)?;
    for (to, bytes) in alice.send(&bob_phone, "Hi Bob, how was the trip?")? {
        if to == phone.address {
            phone.receive(&alice.address, &bytes, &mut rng)?;
        }
    }

    println!("\n== Bob links his laptop: it shows a code, he types it on the phone");
    let laptop_identity = IdentityKeyPair::generate(&mut rng);
    let mut companion = Companion::with_code(laptop_identity.clone(), &mut rng);
    let code = companion.code().ok_or("no code")?.clone();
    println!("laptop shows: {code}");
    let typed = misread(&code)?;
    println!("Bob types:    {typed}");
    let mut primary = Primary::typed(&typed, bob_account.grant()?);
    match run_link(&mut companion, &mut primary, &mut rng) {
        Err(e) => println!("laptop: {e}"),
        Ok(_) => return Err("a misread code linked".into()),
    }
    println!("Bob types:    {code}");
    let mut primary = Primary::typed(
        &LinkingCode::parse(&code.to_string())?,
        bob_account.grant()?,
    );
    let (linked, issued) = run_link(&mut companion, &mut primary, &mut rng)?;
    println!(
        "laptop: linked to {}'s account as device {}",
        linked.phone(),
        linked.device_id()
    );
    bob_account.list = issued.list().clone().verify(&bob_phone)?;
    bob_account.publish(&mut phone, &mut server)?;
    println!(
        "Bob's phone: published device list version {}",
        bob_account.list.version()
    );

    println!("\n== The phone sends the history, in a file only this link opens");
    let history = b"Alice: Hi Bob, how was the trip?\n";
    let mut writer = issued.history_key().writer(Vec::new())?;
    writer.write_all(history)?;
    let file = writer.finish()?;
    let mut restored = Vec::new();
    linked
        .history_key()
        .reader(file.as_slice())?
        .read_to_end(&mut restored)?;
    println!(
        "laptop: restored {} bytes of history ({} bytes on the wire)",
        restored.len(),
        file.len()
    );
    print!("  {}", String::from_utf8_lossy(&restored));

    // The laptop is a device of Bob's account now: its own store, bundles and lists.
    let laptop_address = Address::new(bob_phone.as_str(), u32::from(linked.device_id()));
    let mut laptop = Device::new(
        "Bob's laptop",
        laptop_address,
        laptop_identity,
        &mut server,
        &mut rng,
    )?;
    keylink::accept_account(&mut laptop.store, &bob_phone, linked.account_key())?;
    let own = server.list(&bob_phone)?;
    keylink::accept_own_device_list(&mut laptop.store, &bob_phone, own)?;
    laptop.refresh("Alice", &alice_phone, &server)?;

    println!("\n== Alice sees the new device, and her next message reaches both");
    alice.refresh("Bob", &bob_phone, &server)?;
    alice.connect(&bob_phone, &mut server, &mut rng)?;
    for (to, bytes) in alice.send(&bob_phone, "Welcome, laptop!")? {
        let device = if to == phone.address {
            &mut phone
        } else {
            &mut laptop
        };
        device.receive(&alice.address, &bytes, &mut rng)?;
    }

    println!("\n== Bob removes the laptop (it was stolen); the server withholds the new list");
    let next = bob_account
        .list
        .without_device(&bob_account.key, linked.device_id(), now())?;
    bob_account.list = next.verify(&bob_phone)?;
    bob_account.accept_on(&mut phone)?;
    // The thief's laptop still holds its session with Alice.
    let late = keylink::encrypt(&mut laptop.store, &alice.address, b"send me your code")?;
    // Bob's phone writes to Alice: the message carries its list's version, 3.
    for (to, bytes) in phone.send(&alice_phone, "I lost my laptop, ignore it.")? {
        assert_eq!(to, alice.address);
        alice.receive(&phone.address, &bytes, &mut rng)?;
    }
    if let Some(version) = keylink::device_list_needed(&mut alice.store, &bob_phone)? {
        println!("Alice: Bob's devices sent list version {version}, newer than hers");
    }
    match alice.send(&bob_phone, "Are you there?") {
        Err(e) => println!("Alice cannot send to Bob yet: {e}"),
        Ok(_) => return Err("sent to a stale list".into()),
    }

    println!("\n== The server hands out the new list; Alice's next message reaches the phone only");
    server
        .lists
        .insert(bob_phone.clone(), bob_account.list.signed().to_bytes());
    alice.refresh("Bob", &bob_phone, &server)?;
    let messages = alice.send(&bob_phone, "Only your phone gets this.")?;
    for (to, bytes) in messages {
        assert_eq!(to, phone.address, "the laptop gets nothing");
        phone.receive(&alice.address, &bytes, &mut rng)?;
    }
    match keylink::decrypt(
        &mut alice.store,
        &laptop.address,
        &late.to_bytes(),
        &mut rng,
    ) {
        Err(e) => println!("Alice refused the removed laptop's message: {e}"),
        Ok(_) => return Err("a removed device's message was read".into()),
    }
    Ok(())
}
