//! Accounts: Alice and Bob register their phone numbers, publish prekeys and keep them up as
//! time passes, compare their safety number aloud and by scanning a QR code, and Bob notices
//! when Alice's security code changes.
//!
//! Run with `cargo run --example register`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use keylink::account::{
    AccountKey, AccountKeyPair, DeviceEntry, PhoneNumber, PreKeyUpkeep, PreKeyUpload, SafetyNumber,
    SignedDeviceList, Verification,
};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::{Address, MemoryStore};
use keylink::{AccountTrust, Error, Timestamp};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What the messenger's server keeps per phone number: the account key it registered with,
/// the bundles of its device and its signed device list, as opaque bytes.
#[derive(Default)]
struct Server {
    accounts: BTreeMap<PhoneNumber, (AccountKey, Bundles)>,
    lists: BTreeMap<PhoneNumber, Vec<u8>>,
}

#[derive(Default)]
struct Bundles {
    one_time: VecDeque<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
}

impl Server {
    fn register(&mut self, phone: &PhoneNumber, key: &AccountKey) {
        self.accounts
            .insert(phone.clone(), (*key, Bundles::default()));
    }

    fn upload(&mut self, phone: &PhoneNumber, upload: PreKeyUpload) {
        let Some((_, bundles)) = self.accounts.get_mut(phone) else {
            return;
        };
        let (last_resort, one_time) = upload.into_bundles();
        if let Some(last_resort) = last_resort {
            bundles.one_time.clear();
            bundles.last_resort = Some(last_resort.to_bytes());
        }
        bundles
            .one_time
            .extend(one_time.iter().map(PreKeyBundle::to_bytes));
    }

    /// Keep the device list the account's primary issued.
    fn publish_list(&mut self, list: &SignedDeviceList) {
        self.lists.insert(list.phone().clone(), list.to_bytes());
    }

    /// The device list published for `phone`, parsed (its signatures not checked yet).
    fn device_list(&self, phone: &PhoneNumber) -> Option<SignedDeviceList> {
        let bytes = self.lists.get(phone)?;
        SignedDeviceList::try_from(bytes.as_slice()).ok()
    }

    /// One bundle for one requester: each one-time bundle once, then the last-resort one.
    fn fetch(&mut self, phone: &PhoneNumber) -> Option<Vec<u8>> {
        let (_, bundles) = self.accounts.get_mut(phone)?;
        bundles.one_time.pop_front().or(bundles.last_resort.clone())
    }

    /// The account key registered for `phone`.
    fn account_key(&self, phone: &PhoneNumber) -> Option<AccountKey> {
        self.accounts.get(phone).map(|(key, _)| *key)
    }

    /// How many one-time bundles are left, as the server reports it to the device.
    fn held(&self, phone: &PhoneNumber) -> u32 {
        let held = self
            .accounts
            .get(phone)
            .map_or(0, |(_, b)| b.one_time.len());
        u32::try_from(held).unwrap_or(u32::MAX)
    }
}

/// A registered user's primary device.
struct Phone {
    name: &'static str,
    number: PhoneNumber,
    account: AccountKeyPair,
    store: MemoryStore,
    upkeep: PreKeyUpkeep,
}

impl Phone {
    /// Register `typed` (what the user typed) on a new phone: the account key, this device's
    /// identity key, and the first publication of its prekeys.
    fn register(
        name: &'static str,
        typed: &str,
        server: &mut Server,
        now: Timestamp,
        rng: &mut keylink::OsRng,
    ) -> Result<Phone, Box<dyn std::error::Error>> {
        let number = PhoneNumber::parse(typed)?;
        let account = AccountKeyPair::generate(rng);
        // The app keeps account.to_bytes() in its own storage, never in a backup.
        let identity = IdentityKeyPair::generate(rng);
        // The account's device list: this phone alone, as device 1, signed by the account key.
        let entry = DeviceEntry::primary(&account, &identity, now);
        server.publish_list(&SignedDeviceList::issue(
            &account,
            &number,
            1,
            now,
            vec![entry],
        )?);
        let store = MemoryStore::new(identity);
        let mut phone = Phone {
            name,
            number,
            account,
            store,
            upkeep: PreKeyUpkeep::new(1),
        };
        server.register(&phone.number, phone.account.public());
        println!("{name}: registered {} (typed \"{typed}\")", phone.number);
        phone.upkeep(server, now, rng)?;
        Ok(phone)
    }

    /// What the app runs at start and on a timer: keep the published prekeys up.
    fn upkeep(
        &mut self,
        server: &mut Server,
        now: Timestamp,
        rng: &mut keylink::OsRng,
    ) -> keylink::Result<()> {
        let held = server.held(&self.number);
        let Some(upload) = self.upkeep.run(&mut self.store, now, held, rng)? else {
            println!(
                "{}: upkeep: {held} bundles on the server, nothing to do",
                self.name
            );
            return Ok(());
        };
        let what = match upload.last_resort() {
            Some(b) => format!("published signed prekey {} and", b.signed_prekey_id()),
            None => format!("server down to {held}: added"),
        };
        println!(
            "{}: upkeep: {what} {} one-time bundles",
            self.name,
            upload.one_time().len()
        );
        server.upload(&self.number, upload);
        Ok(())
    }

    fn safety_number(&self, peer: &PhoneNumber, peer_key: &AccountKey) -> SafetyNumber {
        SafetyNumber::new(&self.number, self.account.public(), peer, peer_key)
    }
}

/// A contact who fetches `phone`'s device list and bundle and sends a first message (a
/// PreKey message). The address `(phone, 1)` is a device of `phone`'s account, so the
/// contact accepts the account's device list first: keylink starts a session with an
/// account's device only if that list names it with the bundle's identity key.
fn first_message(
    server: &mut Server,
    phone: &PhoneNumber,
    text: &str,
    rng: &mut keylink::OsRng,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let bundle = server.fetch(phone).ok_or("not registered")?;
    let bundle = PreKeyBundle::try_from(bundle.as_slice())?.verify()?;
    let mut contact = MemoryStore::new(IdentityKeyPair::generate(rng));
    let list = server.device_list(phone).ok_or("no device list")?;
    keylink::accept_device_list(&mut contact, phone, list)?;
    let to = Address::new(phone.as_str(), 1);
    keylink::start_session(&mut contact, &to, &bundle, rng)?;
    Ok(keylink::encrypt(&mut contact, &to, text.as_bytes())?.to_bytes())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = keylink::os_rng();
    let mut server = Server::default();
    let day0 = Timestamp::from(std::time::SystemTime::now());
    let day = |n: u32| day0.saturating_add(DAY * n);

    // A typo is caught before anything is registered.
    if let Err(e) = PhoneNumber::parse("+1 415 555 01O0") {
        println!("alice: \"+1 415 555 01O0\" is refused: {e}");
    }
    let mut alice = Phone::register("alice", "+1 (415) 555-0100", &mut server, day(0), &mut rng)?;
    let mut bob = Phone::register("bob", "+44 7700 900123", &mut server, day(0), &mut rng)?;

    // Day 0: a contact fetches Alice's bundle; its message reaches her only on day 9.
    let late = first_message(&mut server, &alice.number, "sent on day 0", &mut rng)?;
    // Day 1 to 3: 80 more contacts write to Alice, using up her one-time bundles.
    for n in 0..80 {
        let bytes = first_message(&mut server, &alice.number, "hello", &mut rng)?;
        let from = Address::new(format!("contact{n}"), 1);
        keylink::decrypt(&mut alice.store, &from, &bytes, &mut rng)?;
    }
    alice.upkeep(&mut server, day(3), &mut rng)?;
    alice.upkeep(&mut server, day(5), &mut rng)?;
    // Day 8: the signed prekey is a week old, so upkeep rotates it; the old one is kept 30
    // days, so the day-0 message that arrives on day 9 still decrypts.
    alice.upkeep(&mut server, day(8), &mut rng)?;
    let from = Address::new("late contact", 1);
    let text = keylink::decrypt(&mut alice.store, &from, &late, &mut rng)?;
    println!(
        "alice: day 9: \"{}\" decrypted",
        String::from_utf8_lossy(&text)
    );

    // Bob looks Alice up: the server gives her account key. Bob remembers it (first use).
    let alice_key = server
        .account_key(&alice.number)
        .ok_or("alice is not registered")?;
    let trust = keylink::check_account(&mut bob.store, &alice.number, &alice_key)?;
    assert_eq!(trust, AccountTrust::FirstUse);
    let at_bob = bob.safety_number(&alice.number, &alice_key);
    let at_alice = alice.safety_number(&bob.number, bob.account.public());
    println!("bob:   safety number with alice: {}", at_bob.displayed());
    println!("alice: safety number with bob:   {}", at_alice.displayed());
    assert_eq!(at_bob.displayed(), at_alice.displayed());
    let scan = at_bob.verify_scanned(&at_alice.qr_payload())?;
    println!("bob:   scans alice's screen: {scan:?}");
    assert_eq!(scan, Verification::Match);

    // Alice reinstalls: a new account key for the same number.
    let alice = Phone::register("alice", "+1 415 555 0100", &mut server, day(10), &mut rng)?;
    let new_key = server
        .account_key(&alice.number)
        .ok_or("alice is not registered")?;
    match keylink::check_account(&mut bob.store, &alice.number, &new_key) {
        Err(Error::UntrustedAccount) => println!("bob:   alice's security code changed"),
        other => return Err(format!("expected a changed security code, got {other:?}").into()),
    }
    // The old QR code on Bob's side does not match Alice's new screen.
    let scan = at_bob.verify_scanned(
        &alice
            .safety_number(&bob.number, bob.account.public())
            .qr_payload(),
    )?;
    println!("bob:   scans alice's new screen with the old number: {scan:?}");
    assert_eq!(scan, Verification::Mismatch);
    // Bob and Alice compare the new number in person; Bob accepts it.
    let new_at_bob = bob.safety_number(&alice.number, &new_key);
    let new_at_alice = alice.safety_number(&bob.number, bob.account.public());
    assert_eq!(
        new_at_bob.verify_scanned(&new_at_alice.qr_payload())?,
        Verification::Match
    );
    keylink::accept_account(&mut bob.store, &alice.number, &new_key)?;
    let trust = keylink::check_account(&mut bob.store, &alice.number, &new_key)?;
    println!("bob:   accepted alice's new account key: {trust:?}");
    Ok(())
}
