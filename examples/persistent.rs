//! Alice and Bob keep their state in SQLite files (`SqliteStore`, sealed at rest under a
//! storage key), so their conversation survives the app restarting, and running the example
//! again continues the same conversation from the files.
//!
//! Run with `cargo run --example persistent --features sqlite` (twice). The files go to
//! `keylink-persistent-example` in the temp directory, or to the directory given as the first
//! argument; delete it to start over.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use keylink::Timestamp;
use keylink::account::{PreKeyPolicy, PreKeyUpkeep};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::at_rest::StorageKey;
use keylink::store::{Address, ProtocolStore, SqliteStore};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One device: its name, its address and its store, open on its file.
struct Device {
    name: &'static str,
    address: Address,
    store: SqliteStore,
}

impl Device {
    /// Open (or create) the device's store `<dir>/<file>.db`, sealed under its storage key.
    fn open(dir: &Path, file: &str, name: &'static str, address: Address) -> Result<Device> {
        let key = storage_key(&dir.join(format!("{file}.key")))?;
        let store = SqliteStore::open(dir.join(format!("{file}.db")), &key)?;
        Ok(Device {
            name,
            address,
            store,
        })
    }

    /// Create the device's identity, kept in its store, and publish its bundles on `server`.
    fn register(&mut self, server: &mut Server, rng: &mut keylink::OsRng) -> Result<()> {
        self.store
            .set_local_identity(&IdentityKeyPair::generate(rng))?;
        // Prekey upkeep makes the prekeys, keeps them and its own state in the store, and
        // returns the bundles to publish. An app runs it again at each start and on a timer
        // (see examples/register.rs); the store file keeps its state across restarts.
        let policy = PreKeyPolicy::default().one_time_target(5).refill_below(2);
        let upkeep = PreKeyUpkeep::with_policy(self.address.device(), policy)?;
        let now = Timestamp::from(SystemTime::now());
        if let Some(upload) = upkeep.run(&mut self.store, now, 0, rng)? {
            let one_time = upload.one_time().iter().map(PreKeyBundle::to_bytes);
            let bundles = server.bundles.entry(self.address.clone()).or_default();
            bundles.extend(one_time);
        }
        println!(
            "{}: created an identity and prekeys, published its bundles",
            self.name
        );
        Ok(())
    }

    fn send(&mut self, to: &Device, text: &str, count: &mut Counter) -> Result<Vec<u8>> {
        let message = keylink::encrypt(&mut self.store, &to.address, text.as_bytes())?;
        let kind = if message.is_prekey() {
            "PreKey"
        } else {
            "ratchet"
        };
        println!("{} -> {}: {text:?} ({kind} message)", self.name, to.name);
        count.add_one()?;
        Ok(message.to_bytes())
    }

    fn receive(&mut self, from: &Device, bytes: &[u8], rng: &mut keylink::OsRng) -> Result<()> {
        let plaintext = keylink::decrypt(&mut self.store, &from.address, bytes, rng)?;
        let text = String::from_utf8_lossy(&plaintext);
        println!("  {} read from {}: {text:?}", self.name, from.name);
        Ok(())
    }
}

/// What the app's server would do: keep each device's published one-time bundles, and hand
/// each one out once. (Here only in memory: the example needs it only on its first run.)
#[derive(Default)]
struct Server {
    bundles: BTreeMap<Address, VecDeque<Vec<u8>>>,
}

impl Server {
    fn fetch_bundle(&mut self, address: &Address) -> Option<Vec<u8>> {
        self.bundles.get_mut(address)?.pop_front()
    }
}

/// The device's storage key.
///
/// ONLY FOR THIS EXAMPLE: the key is kept in a file beside the database. A real app keeps it
/// in the OS keystore (Keychain on iOS and macOS, Android Keystore), never beside the
/// database: a copy of the database together with its key gives away every secret in it.
fn storage_key(path: &Path) -> Result<StorageKey> {
    if path.exists() {
        let bytes: [u8; 32] = fs::read(path)?
            .try_into()
            .map_err(|_| format!("{} is not a 32-byte key", path.display()))?;
        return Ok(StorageKey::from_bytes(bytes));
    }
    let key = StorageKey::generate(&mut keylink::os_rng());
    fs::write(path, key.to_bytes().as_slice())?;
    Ok(key)
}

/// How many messages the conversation has had, kept in a small file (the stores do not
/// count messages; an app would have its own message database).
struct Counter {
    path: PathBuf,
    value: u64,
}

impl Counter {
    fn load(path: PathBuf) -> Result<Counter> {
        let value = match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Counter { path, value })
    }

    fn add_one(&mut self) -> Result<()> {
        self.value += 1;
        fs::write(&self.path, self.value.to_string())?;
        Ok(())
    }
}

fn main() -> Result<()> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("keylink-persistent-example"),
    };
    fs::create_dir_all(&dir)?;
    let mut rng = keylink::os_rng();
    let mut count = Counter::load(dir.join("messages.count"))?;
    let alice_address = Address::new("alice", 1);
    let bob_address = Address::new("bob", 1);
    let mut alice = Device::open(&dir, "alice", "Alice", alice_address.clone())?;
    let mut bob = Device::open(&dir, "bob", "Bob", bob_address.clone())?;

    // A store with no identity is a new one: the app's first start on this device.
    let alice_known = alice.store.local_identity()?.is_some();
    let bob_known = bob.store.local_identity()?.is_some();
    match (alice_known, bob_known) {
        (false, false) => {
            println!(
                "== First run: no stores in {}, creating both devices",
                dir.display()
            );
            let mut server = Server::default();
            alice.register(&mut server, &mut rng)?;
            bob.register(&mut server, &mut rng)?;
            // Alice fetches one of Bob's bundles from the server.
            let published = server
                .fetch_bundle(&bob.address)
                .ok_or("Bob published no bundle")?;
            let bundle = PreKeyBundle::try_from(published.as_slice())?.verify()?;
            keylink::start_session(&mut alice.store, &bob.address, &bundle, &mut rng)?;
            println!("Alice: verified Bob's bundle and started a session");
        }
        (true, true) => println!(
            "== Found the stores of an earlier run in {}: continuing that conversation ({} messages so far)",
            dir.display(),
            count.value
        ),
        _ => return Err(format!(
            "only one of the two stores in {} has an identity; delete the directory to start over",
            dir.display()
        )
        .into()),
    }

    println!("\n== Alice and Bob talk");
    let text = format!("Hi Bob! (message {})", count.value + 1);
    let message = alice.send(&bob, &text, &mut count)?;
    bob.receive(&alice, &message, &mut rng)?;
    let text = format!("Hi Alice! (message {})", count.value + 1);
    let reply = bob.send(&alice, &text, &mut count)?;
    alice.receive(&bob, &reply, &mut rng)?;

    println!("\n== The app restarts: both stores are closed and opened again from their files");
    drop((alice, bob));
    let mut alice = Device::open(&dir, "alice", "Alice", alice_address)?;
    let mut bob = Device::open(&dir, "bob", "Bob", bob_address)?;

    println!("\n== The session survived: the conversation goes on");
    let text = format!("Still here after the restart (message {})", count.value + 1);
    let message = alice.send(&bob, &text, &mut count)?;
    bob.receive(&alice, &message, &mut rng)?;
    let text = format!("Me too (message {})", count.value + 1);
    let reply = bob.send(&alice, &text, &mut count)?;
    alice.receive(&bob, &reply, &mut rng)?;

    println!(
        "\nThe conversation has had {} messages. Run the example again to continue it from the files in {}.",
        count.value,
        dir.display()
    );
    Ok(())
}
