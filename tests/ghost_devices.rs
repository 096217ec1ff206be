#![cfg(test)]
//! No ghost devices, and fan-out (PROTOCOL.md §11.7): an address whose user part is a phone
//! number in E.164 form is a device of that account, and sessions and messages with it go
//! only to and from the devices its accepted list names, with their listed identity keys.
//! Each scenario runs on a `MemoryStore` and, with feature `sqlite`, on a `SqliteStore`,
//! wrapped in a store that counts commits and can fail the next one.

mod common;

use std::collections::BTreeSet;
use std::fmt;

use common::{Device, FIRST_KEM, FIRST_OTPK, rng, stored_bundle};
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PublicKey, SignedPreKey, SignedPreKeyId, VerifiedBundle,
};
use keylink::session::{Session, SessionId, SessionIndex, SkippedKeyId, SkippedMessageKey};
use keylink::store::{Address, Changes, MemoryStore, ProtocolStore};
use keylink::{Error, Timestamp, accept_device_list};
use proptest::prelude::*;

const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
const ALICE: &str = "+14155550100";
const BOB: &str = "+447700900123";

// ---------------------------------------------------------------------------------------
// Accounts: a primary holding the account key, issuing lists.

/// An account as its primary holds it: the key and the list it issued last.
struct Account {
    key: AccountKeyPair,
    phone: PhoneNumber,
    list: VerifiedDeviceList,
}

impl Account {
    /// A new account whose primary (device 1) has `primary`.
    fn new(phone: &str, primary: &IdentityKeyPair) -> Self {
        let key = AccountKeyPair::generate(&mut rng());
        let phone = PhoneNumber::parse(phone).unwrap();
        let entry = DeviceEntry::primary(&key, primary, T0);
        let list = SignedDeviceList::issue(&key, &phone, 1, T0, vec![entry]).unwrap();
        let list = list.verify(&phone).unwrap();
        Account { key, phone, list }
    }

    /// The next list, with `identity` linked as device `id`.
    fn link(&mut self, id: u32, identity: &IdentityKeyPair) -> SignedDeviceList {
        let authorization = self.key.authorize_device(id, identity.public(), T0);
        let device_sig = authorization.countersign(identity).unwrap();
        let entry = authorization.complete(device_sig).unwrap();
        let next = self.list.with_device(&self.key, entry, T0).unwrap();
        self.list = next.clone().verify(&self.phone).unwrap();
        next
    }

    /// The next list, without device `id`.
    fn unlink(&mut self, id: u32) -> SignedDeviceList {
        let next = self.list.without_device(&self.key, id, T0).unwrap();
        self.list = next.clone().verify(&self.phone).unwrap();
        next
    }

    /// The next list with the same devices (a new version).
    fn reissue(&mut self) -> SignedDeviceList {
        let devices = self.list.devices().to_vec();
        let version = self.list.version() + 1;
        let next = SignedDeviceList::issue(&self.key, &self.phone, version, T0, devices).unwrap();
        self.list = next.clone().verify(&self.phone).unwrap();
        next
    }

    fn signed(&self) -> SignedDeviceList {
        self.list.signed().clone()
    }
}

// ---------------------------------------------------------------------------------------
// A store that counts commits and can fail the next one, over any store.

#[derive(Debug)]
enum WatchError<E> {
    Armed,
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for WatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::Armed => f.write_str("commit failed (armed)"),
            WatchError::Inner(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error> std::error::Error for WatchError<E> {}

struct Watched<S> {
    inner: S,
    commits: usize,
    fail_next: bool,
}

impl<S> Watched<S> {
    fn new(inner: S) -> Self {
        Watched {
            inner,
            commits: 0,
            fail_next: false,
        }
    }
}

type WResult<T, S> = Result<T, WatchError<<S as ProtocolStore>::Error>>;

impl<S: ProtocolStore> ProtocolStore for Watched<S> {
    type Error = WatchError<S::Error>;

    fn local_identity(&self) -> WResult<Option<IdentityKeyPair>, S> {
        self.inner.local_identity().map_err(WatchError::Inner)
    }
    fn peer_identity(&self, address: &Address) -> WResult<Option<IdentityKey>, S> {
        self.inner.peer_identity(address).map_err(WatchError::Inner)
    }
    fn peer_account(
        &self,
        phone: &PhoneNumber,
    ) -> WResult<Option<keylink::account::AccountKey>, S> {
        self.inner.peer_account(phone).map_err(WatchError::Inner)
    }
    fn device_list(&self, phone: &PhoneNumber) -> WResult<Option<SignedDeviceList>, S> {
        self.inner.device_list(phone).map_err(WatchError::Inner)
    }
    fn local_account(&self) -> WResult<Option<PhoneNumber>, S> {
        self.inner.local_account().map_err(WatchError::Inner)
    }
    fn signed_prekey(&self, id: SignedPreKeyId) -> WResult<Option<SignedPreKey>, S> {
        self.inner.signed_prekey(id).map_err(WatchError::Inner)
    }
    fn one_time_prekey(&self, id: OneTimePreKeyId) -> WResult<Option<OneTimePreKey>, S> {
        self.inner.one_time_prekey(id).map_err(WatchError::Inner)
    }
    fn kem_prekey(&self, id: KemPreKeyId) -> WResult<Option<KemPreKey>, S> {
        self.inner.kem_prekey(id).map_err(WatchError::Inner)
    }
    fn base_key_used(&self, id: SignedPreKeyId, base_key: &PublicKey) -> WResult<bool, S> {
        let used = self.inner.base_key_used(id, base_key);
        used.map_err(WatchError::Inner)
    }
    fn session_index(&self, address: &Address) -> WResult<Option<SessionIndex>, S> {
        self.inner.session_index(address).map_err(WatchError::Inner)
    }
    fn session(&self, address: &Address, id: &SessionId) -> WResult<Option<Session>, S> {
        self.inner.session(address, id).map_err(WatchError::Inner)
    }
    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> WResult<Option<SkippedMessageKey>, S> {
        let key = self.inner.skipped_message_key(address, id);
        key.map_err(WatchError::Inner)
    }
    fn prekey_state(&self) -> WResult<Option<keylink::account::PreKeyState>, S> {
        self.inner.prekey_state().map_err(WatchError::Inner)
    }
    fn commit(&mut self, changes: Changes) -> WResult<(), S> {
        if std::mem::take(&mut self.fail_next) {
            return Err(WatchError::Armed);
        }
        self.inner.commit(changes).map_err(WatchError::Inner)?;
        self.commits += 1;
        Ok(())
    }
    fn begin_operation(&mut self, attempt: u32) -> WResult<(), S> {
        self.inner
            .begin_operation(attempt)
            .map_err(WatchError::Inner)
    }
    fn end_operation(&mut self) {
        self.inner.end_operation();
    }
    fn retry_operation(&mut self, error: &Self::Error, attempt: u32) -> bool {
        match error {
            WatchError::Inner(e) => self.inner.retry_operation(e, attempt),
            WatchError::Armed => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: Alice's phone (the store under test), her laptop, and Bob's phone and laptop.

/// Alice's phone: the store under test, its identity, and the ids of a one-time prekey and
/// a one-time KEM prekey it holds (for its bundle).
struct Me<S> {
    store: Watched<S>,
    identity: IdentityKeyPair,
    otpk: u32,
    kem: u32,
}

impl<S: ProtocolStore> Me<S> {
    fn address(&self) -> Address {
        Address::new(ALICE, 1)
    }

    /// Alice's bundle, as the server hands it out.
    fn bundle(&self) -> VerifiedBundle {
        let bundle = stored_bundle(&self.store, 1, 1, Some(self.otpk), self.kem);
        bundle.verify().unwrap()
    }

    /// Start a session with `peer` from a bundle without a one-time prekey (each device's
    /// one-time KEM prekeys are handed out once each).
    fn start(&mut self, peer: &Device) -> keylink::Result<()> {
        let bundle = peer.bundle(None);
        keylink::start_session(&mut self.store, &peer.addr, &bundle, &mut rng())
    }

    fn recv(&mut self, from: &Address, bytes: &[u8]) -> keylink::Result<Vec<u8>> {
        keylink::decrypt(&mut self.store, from, bytes, &mut rng())
    }

    fn fan_out(&mut self, accounts: &[&Account], text: &[u8]) -> keylink::Result<keylink::FanOut> {
        let phones: Vec<PhoneNumber> = accounts.iter().map(|a| a.phone.clone()).collect();
        keylink::encrypt_for_accounts(&mut self.store, &phones, text)
    }

    fn missing(&mut self, accounts: &[&Account]) -> Vec<Address> {
        let phones: Vec<PhoneNumber> = accounts.iter().map(|a| a.phone.clone()).collect();
        keylink::devices_without_session(&mut self.store, &phones).unwrap()
    }

    /// The current session's bytes with `peer`, if any.
    fn current(&self, peer: &Address) -> Option<Vec<u8>> {
        let index = self.store.session_index(peer).unwrap()?;
        let id = *index.current()?;
        let session = self.store.session(peer, &id).unwrap()?;
        Some(session.to_bytes().to_vec())
    }

    fn accept(&mut self, account: &Account) {
        accept_device_list(&mut self.store, &account.phone, account.signed()).unwrap();
    }
}

struct World<S> {
    me: Me<S>,
    alice: Account,
    alice_laptop: Device,
    bob: Account,
    bob_phone: Device,
    bob_laptop: Device,
}

impl<S: ProtocolStore> World<S> {
    /// Both accounts with two devices each; every device has accepted both lists.
    fn new(me: Me<S>) -> Self {
        let mut alice = Account::new(ALICE, &me.identity);
        let alice_laptop = Device::new(ALICE, 2);
        alice.link(2, &alice_laptop.identity);
        let bob_phone = Device::new(BOB, 1);
        let mut bob = Account::new(BOB, &bob_phone.identity);
        let bob_laptop = Device::new(BOB, 2);
        bob.link(2, &bob_laptop.identity);
        let mut world = World {
            me,
            alice,
            alice_laptop,
            bob,
            bob_phone,
            bob_laptop,
        };
        let (alice, bob) = (world.alice.signed(), world.bob.signed());
        world.me.accept(&world.alice);
        world.me.accept(&world.bob);
        for device in world.peers_mut() {
            accept(device, &alice);
            accept(device, &bob);
        }
        world.me.store.commits = 0;
        world
    }

    fn peers_mut(&mut self) -> [&mut Device; 3] {
        [
            &mut self.alice_laptop,
            &mut self.bob_phone,
            &mut self.bob_laptop,
        ]
    }

    /// Alice's phone starts a session with each of the three other devices.
    fn connect_all(&mut self) {
        for peer in [&self.bob_phone, &self.bob_laptop, &self.alice_laptop] {
            self.me.start(peer).unwrap();
        }
    }

    /// Deliver each message of a fan-out to its device, which must decrypt it.
    fn deliver(&mut self, fan_out: keylink::FanOut, text: &[u8]) {
        let from = self.me.address();
        for (to, message) in fan_out {
            let device = self
                .peers_mut()
                .into_iter()
                .find(|d| d.addr == to)
                .unwrap_or_else(|| panic!("a message for {to}, not a peer"));
            device.recv_ok(&from, &message.to_bytes(), text);
        }
    }
}

fn accept(device: &mut Device, list: &SignedDeviceList) {
    accept_device_list(&mut device.store, list.phone(), list.clone()).unwrap();
}

fn addresses(fan_out: &keylink::FanOut) -> BTreeSet<Address> {
    fan_out.iter().map(|(a, _)| a.clone()).collect()
}

fn set(addresses: &[Address]) -> BTreeSet<Address> {
    addresses.iter().cloned().collect()
}

fn not_listed(e: &Error, id: u32) -> bool {
    matches!(e, Error::DeviceNotOnList { device } if device.get() == id)
}

fn memory() -> Me<MemoryStore> {
    let device = Device::new(ALICE, 1);
    Me {
        identity: device.identity.clone(),
        store: Watched::new(device.store),
        otpk: FIRST_OTPK,
        kem: FIRST_KEM,
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios, over any store.

fn ghost_bundles_are_refused<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    // The server hands out a bundle for a device 3 that no list names, and one for device 2
    // signed by another identity than the laptop's.
    for (id, ghost) in [(3, Device::new(BOB, 3)), (2, Device::new(BOB, 2))] {
        let e = w.me.start(&ghost).unwrap_err();
        assert!(not_listed(&e, id), "{e}");
    }
    // An account whose list was never accepted.
    let carol = Device::new("+12025550123", 1);
    let e = w.me.start(&carol).unwrap_err();
    assert!(matches!(&e, Error::NoDeviceList { phone } if phone.as_str() == "+12025550123"));
    assert_eq!(w.me.store.commits, 0, "nothing written");
    assert_eq!(w.me.current(&Address::new(BOB, 3)), None);
    // The genuine laptop's bundle is accepted.
    w.me.start(&w.bob_laptop).unwrap();
}

fn a_ghost_prekey_message_consumes_nothing<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    let bundle = w.me.bundle();
    for (id, mut ghost) in [(3, Device::new(BOB, 3)), (2, Device::new(BOB, 2))] {
        accept(&mut ghost, &w.alice.signed());
        let alice = w.me.address();
        keylink::start_session(&mut ghost.store, &alice, &bundle, &mut rng()).unwrap();
        let message = ghost.send_bytes(&alice, b"let me in");
        let e = w.me.recv(&ghost.addr, &message).unwrap_err();
        assert!(not_listed(&e, id), "{e}");
        let mut buffer = message.clone();
        let e = keylink::decrypt_in_place(&mut w.me.store, &ghost.addr, &mut buffer, &mut rng())
            .unwrap_err();
        assert!(not_listed(&e, id), "{e}");
        assert_eq!(buffer, message, "the buffer is as it was");
    }
    assert_eq!(w.me.store.commits, 0, "nothing written");
    let otpk = w.me.store.one_time_prekey(w.me.otpk.into()).unwrap();
    assert!(otpk.is_some(), "the one-time prekey is still there");
    let kem = w.me.store.kem_prekey(w.me.kem.into()).unwrap();
    assert!(kem.is_some(), "the one-time KEM prekey is still there");
    // The same bundle still works for the genuine laptop.
    let alice = w.me.address();
    let laptop = &mut w.bob_laptop;
    keylink::start_session(&mut laptop.store, &alice, &bundle, &mut rng()).unwrap();
    let message = laptop.send_bytes(&alice, b"hi from the laptop");
    let laptop_addr = laptop.addr.clone();
    assert_eq!(
        w.me.recv(&laptop_addr, &message).unwrap(),
        b"hi from the laptop"
    );
}

fn fan_out_reaches_every_listed_device<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    w.connect_all();
    let before = w.me.store.commits;
    // Bob's two devices and Alice's laptop; Alice's phone itself is skipped; Bob named
    // twice counts once.
    let fan_out =
        w.me.fan_out(&[&w.bob, &w.alice, &w.bob], b"lunch?")
            .unwrap();
    assert_eq!(w.me.store.commits, before + 1, "one commit");
    assert_eq!(fan_out.len(), 3);
    let expected = set(&[
        Address::new(BOB, 1),
        Address::new(BOB, 2),
        Address::new(ALICE, 2),
    ]);
    assert_eq!(addresses(&fan_out), expected);
    assert!(fan_out.iter().all(|(_, m)| m.is_prekey()));
    w.deliver(fan_out, b"lunch?");
    // Replies make the sessions confirmed; the next fan-out is ratchet messages.
    let from = w.me.address();
    let replies: Vec<(Address, Vec<u8>)> = w
        .peers_mut()
        .into_iter()
        .map(|d| (d.addr.clone(), d.send_bytes(&from, b"ok")))
        .collect();
    for (addr, reply) in replies {
        assert_eq!(w.me.recv(&addr, &reply).unwrap(), b"ok");
    }
    let fan_out = w.me.fan_out(&[&w.bob, &w.alice], b"12:30").unwrap();
    assert!(fan_out.iter().all(|(_, m)| !m.is_prekey()));
    w.deliver(fan_out, b"12:30");
    // Alice's own account alone: her laptop only.
    let fan_out = w.me.fan_out(&[&w.alice], b"note to self").unwrap();
    assert_eq!(addresses(&fan_out), set(&[Address::new(ALICE, 2)]));
    w.deliver(fan_out, b"note to self");
}

fn missing_sessions_fail_before_anything<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    w.me.start(&w.bob_phone).unwrap();
    let bob_phone = Address::new(BOB, 1);
    let session = w.me.current(&bob_phone);
    let commits = w.me.store.commits;
    let missing = vec![Address::new(BOB, 2), Address::new(ALICE, 2)];
    assert_eq!(w.me.missing(&[&w.bob, &w.alice]), missing);
    let e = w.me.fan_out(&[&w.bob, &w.alice], b"x").unwrap_err();
    assert!(
        matches!(&e, Error::MissingSessions { devices } if *devices == missing),
        "{e}"
    );
    assert!(e.to_string().contains("start_session"), "{e}");
    assert_eq!(w.me.store.commits, commits, "nothing written");
    assert_eq!(
        w.me.current(&bob_phone),
        session,
        "the session is unadvanced"
    );
    // An account without an accepted list.
    let carol = Account::new("+12025550123", &IdentityKeyPair::generate(&mut rng()));
    let e = w.me.fan_out(&[&w.bob, &carol], b"x").unwrap_err();
    assert!(matches!(e, Error::NoDeviceList { .. }), "{e}");
    // Once every bundle is fetched, the fan-out goes through.
    for address in missing {
        let peer = [&w.bob_laptop, &w.alice_laptop]
            .into_iter()
            .find(|d| d.addr == address)
            .unwrap();
        w.me.start(peer).unwrap();
    }
    assert_eq!(w.me.missing(&[&w.bob, &w.alice]), vec![]);
    let fan_out = w.me.fan_out(&[&w.bob, &w.alice], b"now").unwrap();
    w.deliver(fan_out, b"now");
}

fn a_failed_commit_advances_no_session<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    w.connect_all();
    let peers: Vec<Address> = w.peers_mut().iter().map(|d| d.addr.clone()).collect();
    let before: Vec<_> = peers.iter().map(|p| w.me.current(p)).collect();
    w.me.store.fail_next = true;
    let e = w.me.fan_out(&[&w.bob, &w.alice], b"lost").unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e}");
    let after: Vec<_> = peers.iter().map(|p| w.me.current(p)).collect();
    assert_eq!(before, after, "every session unadvanced");
    let fan_out = w.me.fan_out(&[&w.bob, &w.alice], b"sent").unwrap();
    w.deliver(fan_out, b"sent");
}

fn a_removed_device_is_cut_off<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    w.connect_all();
    let fan_out = w.me.fan_out(&[&w.bob], b"hello").unwrap();
    w.deliver(fan_out, b"hello");
    let (laptop, alice) = (Address::new(BOB, 2), w.me.address());
    // The laptop writes once before its removal, and once after (delivered later).
    let early = w.bob_laptop.send_bytes(&alice, b"before");
    let late = w.bob_laptop.send_bytes(&alice, b"after");
    assert_eq!(w.me.recv(&laptop, &early).unwrap(), b"before");

    // Bob drops the laptop: a failed commit changes nothing, then one commit does both.
    let v2 = w.bob.unlink(2);
    w.me.store.fail_next = true;
    let e = accept_device_list(&mut w.me.store, &w.bob.phone, v2.clone()).unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e}");
    assert!(w.me.current(&laptop).is_some());
    let commits = w.me.store.commits;
    accept_device_list(&mut w.me.store, &w.bob.phone, v2.clone()).unwrap();
    assert_eq!(
        w.me.store.commits,
        commits + 1,
        "list and archive in one commit"
    );
    assert_eq!(w.me.store.device_list(&w.bob.phone).unwrap(), Some(v2));
    assert_eq!(w.me.current(&laptop), None, "its session archived");
    let index = w.me.store.session_index(&laptop).unwrap().unwrap();
    assert_eq!(index.archived().len(), 1);

    // Its messages are refused, with nothing written, and nothing goes to it.
    let e = w.me.recv(&laptop, &late).unwrap_err();
    assert!(not_listed(&e, 2), "{e}");
    let e = keylink::encrypt(&mut w.me.store, &laptop, b"x").unwrap_err();
    assert!(not_listed(&e, 2), "{e}");
    let e = w.me.start(&w.bob_laptop).unwrap_err();
    assert!(not_listed(&e, 2), "{e}");
    assert_eq!(w.me.store.commits, commits + 1);
    let fan_out =
        w.me.fan_out(&[&w.bob, &w.alice], b"without the laptop")
            .unwrap();
    let expected = set(&[Address::new(BOB, 1), Address::new(ALICE, 2)]);
    assert_eq!(addresses(&fan_out), expected);
    w.deliver(fan_out, b"without the laptop");
    assert_eq!(w.me.missing(&[&w.bob, &w.alice]), vec![]);
}

fn a_device_readded_with_a_new_key_gets_a_new_session<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    // Bob's tablet, device 3, linked and talked to.
    let mut tablet = Device::new(BOB, 3);
    w.bob.link(3, &tablet.identity);
    w.me.accept(&w.bob);
    accept(&mut tablet, &w.alice.signed());
    w.me.start(&tablet).unwrap();
    let alice = w.me.address();
    let first = keylink::encrypt(&mut w.me.store, &tablet.addr, b"hi tablet").unwrap();
    tablet.recv_ok(&alice, &first.to_bytes(), b"hi tablet");
    let stale = tablet.send_bytes(&alice, b"from the old tablet");

    // The tablet is reset: a new identity key at the same id, through a removal.
    let new_tablet = Device::new(BOB, 3);
    w.bob.unlink(3);
    w.me.accept(&w.bob);
    w.bob.link(3, &new_tablet.identity);
    w.me.accept(&w.bob);
    let tablet_addr = Address::new(BOB, 3);
    assert_eq!(
        w.me.current(&tablet_addr),
        None,
        "the old session is archived"
    );
    let e = keylink::encrypt(&mut w.me.store, &tablet_addr, b"x").unwrap_err();
    assert!(matches!(e, Error::NoSession), "{e}");
    let e = w.me.recv(&tablet_addr, &stale).unwrap_err();
    assert!(
        matches!(e, Error::DecryptionFailed),
        "the old key's session is not tried: {e}"
    );
    w.connect_all();
    assert_eq!(w.me.missing(&[&w.bob]), vec![tablet_addr.clone()]);
    let e = w.me.fan_out(&[&w.bob], b"x").unwrap_err();
    assert!(matches!(&e, Error::MissingSessions { devices } if *devices == [tablet_addr.clone()]));
    // The new tablet's bundle: its key is the listed one (remembered with the list).
    let mut new_tablet = new_tablet;
    accept(&mut new_tablet, &w.alice.signed());
    w.me.start(&new_tablet).unwrap();
    let fan_out = w.me.fan_out(&[&w.bob], b"welcome back").unwrap();
    assert_eq!(fan_out.len(), 3);
    for (to, message) in fan_out {
        if to == tablet_addr {
            new_tablet.recv_ok(&alice, &message.to_bytes(), b"welcome back");
        }
    }
}

fn a_new_version_of_the_same_list_changes_nothing<S: ProtocolStore>(me: Me<S>) {
    let mut w = World::new(me);
    w.connect_all();
    w.bob.reissue();
    w.me.accept(&w.bob);
    assert_eq!(w.me.missing(&[&w.bob, &w.alice]), vec![]);
    let fan_out = w.me.fan_out(&[&w.bob, &w.alice], b"same devices").unwrap();
    w.deliver(fan_out, b"same devices");
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            use super::*;
            $(#[test] fn $name() { super::$name(memory()); })*
        }
        #[cfg(feature = "sqlite")]
        mod sqlite_store {
            use super::*;
            $(#[test] fn $name() {
                let db = common::sqlite::TempDb::new(stringify!($name));
                let key = keylink::store::at_rest::StorageKey::from_bytes([9; 32]);
                let (store, identity) = common::sqlite::device(&db.0, &key);
                super::$name(Me { store: Watched::new(store), identity, otpk: 1, kem: 1 });
            })*
        }
    };
}

on_both_stores!(
    ghost_bundles_are_refused,
    a_ghost_prekey_message_consumes_nothing,
    fan_out_reaches_every_listed_device,
    missing_sessions_fail_before_anything,
    a_failed_commit_advances_no_session,
    a_removed_device_is_cut_off,
    a_device_readded_with_a_new_key_gets_a_new_session,
    a_new_version_of_the_same_list_changes_nothing,
);

// ---------------------------------------------------------------------------------------
// Addresses outside accounts.

#[test]
fn addresses_outside_accounts_need_no_list() {
    // "alice" and "bob", and a number not written in E.164 form, are not account devices.
    for (a, b) in [("alice", "bob"), ("+44 7700 900123", "00447700900123")] {
        let mut alice = Device::new(a, 1);
        let mut bob = Device::new(b, 1);
        alice.start(&bob, Some(FIRST_OTPK));
        let m = alice.send_bytes(&bob.addr, b"hi");
        bob.recv_ok(&alice.addr, &m, b"hi");
        let r = bob.send_bytes(&alice.addr, b"hi back");
        alice.recv_ok(&bob.addr, &r, b"hi back");
    }
    // Even with a list accepted for the number the user part resembles.
    let mut alice = Device::new("alice", 1);
    let bob_phone = Device::new("bob", 1);
    let bob = Account::new(BOB, &bob_phone.identity);
    accept(&mut alice, &bob.signed());
    let ghost = Device::new("+44 7700 900123", 7);
    alice.start(&ghost, Some(FIRST_OTPK));
}

#[tokio::test]
async fn fan_out_on_the_store_thread() {
    let mut w = World::new(memory());
    w.connect_all();
    let store = std::mem::take(&mut w.me.store.inner);
    let store = keylink::store::AsyncStore::new(store).unwrap();
    let accounts = vec![w.bob.phone.clone(), w.alice.phone.clone()];
    let missing = store
        .devices_without_session(accounts.clone())
        .await
        .unwrap();
    assert!(missing.is_empty());
    let fan_out = store
        .encrypt_for_accounts(accounts, b"async".to_vec())
        .await
        .unwrap();
    w.deliver(fan_out, b"async");
}

// ---------------------------------------------------------------------------------------
// Random list changes interleaved with fan-outs.

#[derive(Clone, Debug)]
enum Step {
    /// Bob links a new companion (if his list has room).
    Link,
    /// Bob unlinks his n-th companion (modulo how many he has), if any.
    Unlink(usize),
    /// Bob reissues the same devices as a new version.
    Reissue,
    /// Alice links a new companion of her own (if her list has room).
    LinkOwn,
    /// Alice fetches the missing bundles and fans a message out to Bob and her own account.
    FanOut,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Link),
        2 => (0usize..4).prop_map(Step::Unlink),
        1 => Just(Step::Reissue),
        1 => Just(Step::LinkOwn),
        4 => Just(Step::FanOut),
    ]
}

/// One side of the property: the devices of both accounts, the accounts' primaries, Alice's
/// phone (a `MemoryStore`) and its message counter.
struct Model {
    me: Me<MemoryStore>,
    alice: Account,
    bob: Account,
    devices: Vec<Device>,
    next_id: [u32; 2],
    sent: u32,
}

impl Model {
    fn new() -> Self {
        let me = memory();
        let alice = Account::new(ALICE, &me.identity);
        let bob_phone = Device::new(BOB, 1);
        let bob = Account::new(BOB, &bob_phone.identity);
        let mut model = Model {
            me,
            alice,
            bob,
            devices: vec![bob_phone],
            next_id: [2, 2],
            sent: 0,
        };
        model.publish();
        model
    }

    /// Every device (and Alice's phone) accepts both current lists.
    fn publish(&mut self) {
        let (alice, bob) = (self.alice.signed(), self.bob.signed());
        self.me.accept(&self.alice);
        self.me.accept(&self.bob);
        for device in &mut self.devices {
            accept(device, &alice);
            accept(device, &bob);
        }
    }

    fn link(&mut self, own: bool) {
        let (account, user, next) = match own {
            true => (&mut self.alice, ALICE, &mut self.next_id[0]),
            false => (&mut self.bob, BOB, &mut self.next_id[1]),
        };
        if account.list.devices().len() == 5 {
            return;
        }
        let device = Device::new(user, *next);
        account.link(*next, &device.identity);
        *next += 1;
        self.devices.push(device);
        self.publish();
    }

    fn unlink(&mut self, n: usize) {
        let companions: Vec<u32> = self.bob.list.devices()[1..]
            .iter()
            .map(|d| d.device_id().get())
            .collect();
        let Some(&id) = companions.get(n % companions.len().max(1)) else {
            return;
        };
        self.bob.unlink(id);
        self.publish();
        // The removed device is cut off: its messages to Alice are refused.
        let alice = self.me.address();
        let removed = Address::new(BOB, id);
        let device = self.devices.iter_mut().find(|d| d.addr == removed).unwrap();
        let record = device.store.session_record(&alice);
        if record.is_some_and(|r| r.current().is_some()) {
            let bytes = device.send_bytes(&alice, b"still here?");
            let e = self.me.recv(&removed, &bytes).unwrap_err();
            assert!(not_listed(&e, id), "{e}");
        }
    }

    /// What the lists say Alice's phone must reach: every listed device but itself.
    fn expected(&self) -> BTreeSet<Address> {
        let lists = [(&self.alice, ALICE), (&self.bob, BOB)];
        let listed = lists.iter().flat_map(|(account, user)| {
            let devices = account.list.devices().iter();
            devices.map(move |d| Address::new(*user, d.device_id()))
        });
        listed.filter(|a| *a != self.me.address()).collect()
    }

    fn fan_out(&mut self) {
        let accounts = [&self.bob, &self.alice];
        for address in self.me.missing(&accounts) {
            let peer = self.devices.iter().find(|d| d.addr == address).unwrap();
            self.me.start(peer).unwrap();
        }
        self.sent += 1;
        let text = format!("message {}", self.sent);
        let fan_out = self.me.fan_out(&[&self.bob, &self.alice], text.as_bytes());
        let fan_out = fan_out.unwrap();
        assert_eq!(addresses(&fan_out), self.expected());
        let alice = self.me.address();
        for (to, message) in fan_out {
            let device = self.devices.iter_mut().find(|d| d.addr == to).unwrap();
            device.recv_ok(&alice, &message.to_bytes(), text.as_bytes());
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Link => self.link(false),
            Step::Unlink(n) => self.unlink(*n),
            Step::Reissue => {
                self.bob.reissue();
                self.publish();
            }
            Step::LinkOwn => self.link(true),
            Step::FanOut => self.fan_out(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_fan_out_reaches_exactly_the_listed_devices(steps in prop::collection::vec(step(), 1..12)) {
        let mut model = Model::new();
        for step in &steps {
            model.run(step);
        }
        model.fan_out();
    }
}

#[test]
fn the_new_errors_say_what_to_do_and_keep_numbers_out_of_their_text() {
    let mut w = World::new(memory());
    let carol = Account::new("+12025550123", &IdentityKeyPair::generate(&mut rng()));
    let no_list = w.me.fan_out(&[&carol], b"x").unwrap_err();
    let missing = w.me.fan_out(&[&w.bob], b"x").unwrap_err();
    let ghost = w.me.start(&Device::new(BOB, 3)).unwrap_err();
    for (e, advice) in [
        (&no_list, "accept_device_list"),
        (&missing, "start_session"),
        (&ghost, "device list"),
    ] {
        let text = e.to_string();
        assert!(text.contains(advice), "{text}");
        for digits in ["2025550123", "7700900123"] {
            assert!(!text.contains(digits), "a phone number in {text:?}");
        }
    }
    // Debug shows a phone number's last two digits only.
    assert!(!format!("{no_list:?}").contains("2025550123"));
}
