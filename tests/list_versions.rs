#![cfg(test)]
//! Every message carries its sender's device list version (PROTOCOL.md §6.4, §11.6): the
//! version round-trips in PreKey and ratchet messages, a receiver remembers the highest one
//! per session (in the decrypt's commit, never lowered by a late message), and a device of an
//! account that sent a newer version than the list accepted for the account blocks sending to
//! that account, writing nothing, until the list is accepted. On a `MemoryStore` and a
//! `SqliteStore`, with the schema 3 -> 4 migration.

mod common;

use common::lists::{Account, rows_of};
use common::{Device, FIRST_OTPK, FailingStore, rng};
use keylink::account::{PhoneNumber, SignedDeviceList};
use keylink::keys::IdentityKeyPair;
use keylink::store::{Address, MemoryStore, ProtocolStore};
use keylink::{Error, accept_device_list, accept_own_device_list, device_list_needed};

const ALICE: &str = "+14155550100";
const BOB: &str = "+447700900123";

/// Bob's account: his phone (device 1) and laptop (device 2), each with its own store.
struct Bob {
    account: Account,
    phone: Device,
    laptop: Device,
}

impl Bob {
    /// Both devices accepted version 1 of their own list (phone and laptop).
    fn new() -> Self {
        let account = Account::new(BOB);
        let mut bob = Bob {
            phone: Device::new(account.phone.as_str(), 1),
            laptop: Device::new(account.phone.as_str(), 2),
            account,
        };
        let v1 = bob.v1();
        accept_own_device_list(&mut bob.phone.store, &bob.account.phone, v1.clone()).unwrap();
        accept_own_device_list(&mut bob.laptop.store, &bob.account.phone, v1).unwrap();
        bob
    }

    fn v1(&self) -> keylink::account::SignedDeviceList {
        let devices = [(1, &self.phone.identity), (2, &self.laptop.identity)];
        self.account.list(1, &devices)
    }

    /// Version `version`: the laptop removed.
    fn phone_only(&self, version: u64) -> keylink::account::SignedDeviceList {
        self.account.list(version, &[(1, &self.phone.identity)])
    }

    /// The phone accepts its own list `version` (the laptop removed).
    fn phone_accepts(&mut self, version: u64) {
        let list = self.phone_only(version);
        accept_own_device_list(&mut self.phone.store, &self.account.phone, list).unwrap();
    }

    fn addresses(&self) -> [Address; 2] {
        [self.account.address(1), self.account.address(2)]
    }
}

fn alice_address() -> Address {
    Address::new(ALICE, 1)
}

fn phone(number: &str) -> PhoneNumber {
    PhoneNumber::parse(number).unwrap()
}

/// The highest list version the current session with `peer` saw.
fn seen<S: ProtocolStore>(store: &S, peer: &Address) -> u64 {
    let index = store.session_index(peer).unwrap().unwrap();
    let id = *index.current().unwrap();
    store
        .session(peer, &id)
        .unwrap()
        .unwrap()
        .peer_list_version()
}

/// Alice (any store) accepts Bob's list v1, and has a confirmed session with both his devices:
/// each got her PreKey message and replied (after accepting `her_list`, or a list of hers at
/// version 1 if she has none of her own).
fn converse<S: ProtocolStore>(alice: &mut S, bob: &mut Bob, her_list: Option<&SignedDeviceList>) {
    accept_device_list(alice, &bob.account.phone, bob.v1()).unwrap();
    // Alice's address is an account device: Bob's devices need a list of hers to read her.
    let her_list = her_list.cloned().unwrap_or_else(|| {
        let identity = alice.local_identity().unwrap().unwrap();
        Account::new(ALICE).list(1, &[(1, &identity)])
    });
    for device in [&mut bob.phone, &mut bob.laptop] {
        accept_device_list(&mut device.store, &phone(ALICE), her_list.clone()).unwrap();
        let bundle = device.bundle(Some(FIRST_OTPK));
        keylink::start_session(alice, &device.addr, &bundle, &mut rng()).unwrap();
        let hello = keylink::encrypt(alice, &device.addr, b"hello").unwrap();
        device.recv_ok(&alice_address(), &hello.to_bytes(), b"hello");
        let reply = device.send_bytes(&alice_address(), b"hi");
        let got = keylink::decrypt(alice, &device.addr, &reply, &mut rng()).unwrap();
        assert_eq!(got, b"hi");
        assert_eq!(seen(alice, &device.addr), 1);
    }
    assert_eq!(device_list_needed(alice, &bob.account.phone).unwrap(), None);
}

/// Bob's phone removes the laptop (v2) and writes to Alice, who still has v1: she is told
/// to fetch v2, cannot send to any of Bob's devices (writing nothing), and can once she
/// accepted it.
fn a_newer_list_blocks_sending_until_accepted<S: ProtocolStore>(
    alice: &mut S,
    her_list: Option<&SignedDeviceList>,
) {
    let mut bob = Bob::new();
    converse(alice, &mut bob, her_list);
    bob.phone_accepts(2);
    let news = bob
        .phone
        .send_bytes(&alice_address(), b"I removed my laptop");
    let got = keylink::decrypt(alice, &bob.account.address(1), &news, &mut rng()).unwrap();
    assert_eq!(got, b"I removed my laptop");
    assert_eq!(
        device_list_needed(alice, &bob.account.phone).unwrap(),
        Some(2)
    );

    let before = rows_of(alice, &bob.addresses(), &bob.account.phone);
    for address in bob.addresses() {
        let err = keylink::encrypt(alice, &address, b"to a stolen laptop?").unwrap_err();
        assert!(
            matches!(
                err,
                Error::StaleDeviceList {
                    accepted: 1,
                    seen: 2
                }
            ),
            "{address}: {err}"
        );
        let mut buffer = b"in place".to_vec();
        let err = keylink::encrypt_in_place(alice, &address, &mut buffer).unwrap_err();
        assert!(matches!(err, Error::StaleDeviceList { .. }), "{err}");
        assert_eq!(buffer, b"in place");
    }
    // A fan-out to Bob's account is refused the same way, before anything is sealed.
    let err =
        keylink::encrypt_for_accounts(alice, &[bob.account.phone.clone()], b"to all?").unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleDeviceList {
                accepted: 1,
                seen: 2
            }
        ),
        "{err}"
    );
    assert_eq!(rows_of(alice, &bob.addresses(), &bob.account.phone), before);

    let changes = accept_device_list(alice, &bob.account.phone, bob.phone_only(2)).unwrap();
    assert_eq!(changes.removed.len(), 1);
    assert_eq!(device_list_needed(alice, &bob.account.phone).unwrap(), None);
    let sent = keylink::encrypt(alice, &bob.account.address(1), b"got it").unwrap();
    bob.phone
        .recv_ok(&alice_address(), &sent.to_bytes(), b"got it");
    let err = keylink::encrypt(alice, &bob.account.address(2), b"laptop?").unwrap_err();
    assert!(
        matches!(err, Error::DeviceNotOnList { device } if u32::from(device) == 2),
        "the laptop is off the list (and its session archived): {err}"
    );
}

#[test]
fn a_newer_list_blocks_sending_until_accepted_in_memory() {
    let mut alice = Device::new(ALICE, 1);
    a_newer_list_blocks_sending_until_accepted(&mut alice.store, None);
}

#[test]
fn the_version_round_trips_in_prekey_and_ratchet_messages() {
    let mut alice = Device::new(ALICE, 1);
    let alice_account = Account::new(ALICE);
    let own = alice_account.list(5, &[(1, &alice.identity)]);
    accept_own_device_list(&mut alice.store, &alice_account.phone, own).unwrap();
    let mut bob = Bob::new();
    let at_bob = bob.account.address(1);
    accept_device_list(&mut alice.store, &bob.account.phone, bob.v1()).unwrap();
    // Bob's phone holds an older list of Alice's, version 4.
    let alice_phone = &alice_account.phone;
    let v4 = alice_account.list(4, &[(1, &alice.identity)]);
    accept_device_list(&mut bob.phone.store, alice_phone, v4).unwrap();
    alice.start(&bob.phone, Some(FIRST_OTPK));
    // A PreKey message carries Alice's version 5.
    let first = alice.send(&at_bob, b"first");
    assert!(first.is_prekey());
    bob.phone
        .recv_ok(&alice_address(), &first.to_bytes(), b"first");
    assert_eq!(seen(&bob.phone.store, &alice_address()), 5);
    // Bob's device may not answer until it accepted v5.
    let needed = device_list_needed(&mut bob.phone.store, alice_phone).unwrap();
    assert_eq!(needed, Some(5));
    let err = keylink::encrypt(&mut bob.phone.store, &alice_address(), b"?").unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleDeviceList {
                accepted: 4,
                seen: 5
            }
        ),
        "{err}"
    );
    let v5 = alice_account.list(5, &[(1, &alice.identity)]);
    accept_device_list(&mut bob.phone.store, alice_phone, v5).unwrap();
    assert_eq!(
        device_list_needed(&mut bob.phone.store, alice_phone).unwrap(),
        None
    );
    // A ratchet message carries Bob's version 1.
    let reply = bob.phone.send(&alice_address(), b"reply");
    assert!(!reply.is_prekey());
    alice.recv_ok(&at_bob, &reply.to_bytes(), b"reply");
    assert_eq!(seen(&alice.store, &at_bob), 1);
    // Her next version, 6 (in place this time), asks for her new list.
    let v6 = alice_account.list(6, &[(1, &alice.identity)]);
    accept_own_device_list(&mut alice.store, &alice_account.phone, v6).unwrap();
    let mut buffer = b"now at six".to_vec();
    keylink::encrypt_in_place(&mut alice.store, &at_bob, &mut buffer).unwrap();
    let plaintext = keylink::decrypt_in_place(
        &mut bob.phone.store,
        &alice_address(),
        &mut buffer,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(plaintext, b"now at six");
    assert_eq!(seen(&bob.phone.store, &alice_address()), 6);
    let needed = device_list_needed(&mut bob.phone.store, &alice_account.phone).unwrap();
    assert_eq!(needed, Some(6));
    // Bob's store keeps the seen version across a snapshot.
    let restored = MemoryStore::from_bytes(&bob.phone.store.to_bytes()).unwrap();
    assert_eq!(seen(&restored, &alice_address()), 6);
}

#[test]
fn the_sans_io_record_returns_the_version() {
    let (alice, bob) = common::established();
    let mut record = alice.record(&bob.addr);
    let message = record.encrypt(42, b"sans-io").unwrap();
    let mut at_bob = bob.record(&alice.addr);
    let keylink::session::Message::Ratchet(message) = message else {
        panic!("a ratchet message on an established session");
    };
    let decrypted = at_bob.decrypt(&message, None, &mut rng()).unwrap();
    assert_eq!(decrypted.sender_list_version, 42);
    assert_eq!(&decrypted.plaintext[..], b"sans-io");
    assert_eq!(at_bob.current().unwrap().peer_list_version(), 42);
    let mut buffer = record.encrypt(7, b"older").unwrap().to_bytes();
    let (plaintext, _, version) = at_bob
        .decrypt_in_place(&mut buffer, None, &mut rng())
        .unwrap();
    assert_eq!((&*plaintext, version), (&b"older"[..], 7));
    assert_eq!(
        at_bob.current().unwrap().peer_list_version(),
        42,
        "never lowered"
    );
}

#[test]
fn a_late_message_with_an_older_version_does_not_lower_it() {
    let mut alice = Device::new(ALICE, 1);
    let mut bob = Bob::new();
    converse(&mut alice.store, &mut bob, None);
    bob.phone_accepts(2);
    let older = bob.phone.send_bytes(&alice_address(), b"at two");
    bob.phone_accepts(3);
    let newer = bob.phone.send_bytes(&alice_address(), b"at three");
    let at_bob = bob.account.address(1);
    alice.recv_ok(&at_bob, &newer, b"at three");
    assert_eq!(seen(&alice.store, &at_bob), 3);
    alice.recv_ok(&at_bob, &older, b"at two");
    assert_eq!(seen(&alice.store, &at_bob), 3);
    let needed = device_list_needed(&mut alice.store, &bob.account.phone).unwrap();
    assert_eq!(needed, Some(3));
}

#[test]
fn a_failed_commit_leaves_the_seen_version_unchanged() {
    let mut alice = Device::new(ALICE, 1);
    let mut bob = Bob::new();
    converse(&mut alice.store, &mut bob, None);
    bob.phone_accepts(2);
    let news = bob.phone.send_bytes(&alice_address(), b"news");
    let mut failing = FailingStore {
        inner: std::mem::take(&mut alice.store),
        fail_next: true,
    };
    let at_bob = bob.account.address(1);
    let err = keylink::decrypt(&mut failing, &at_bob, &news, &mut rng()).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert_eq!(seen(&failing, &at_bob), 1);
    assert_eq!(
        device_list_needed(&mut failing, &bob.account.phone).unwrap(),
        None
    );
    keylink::encrypt(&mut failing, &at_bob, b"still allowed").unwrap();
    let got = keylink::decrypt(&mut failing, &at_bob, &news, &mut rng()).unwrap();
    assert_eq!(got, b"news");
    assert_eq!(
        device_list_needed(&mut failing, &bob.account.phone).unwrap(),
        Some(2)
    );
}

#[test]
fn addresses_outside_accounts_are_not_refused() {
    // Bob at "bob" (not a phone number) is on an account list at version 9.
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let account = Account::new(BOB);
    let own = account.list(9, &[(1, &bob.identity)]);
    accept_own_device_list(&mut bob.store, &account.phone, own).unwrap();
    alice.start(&bob, Some(FIRST_OTPK));
    let hello = alice.send_bytes(&bob.addr, b"hello");
    bob.recv_ok(&alice.addr, &hello, b"hello");
    let reply = bob.send_bytes(&alice.addr, b"hi");
    alice.recv_ok(&bob.addr, &reply, b"hi");
    assert_eq!(seen(&alice.store, &bob.addr), 9);
    alice.send(&bob.addr, b"unaffected");
    // A user part that parses as a phone number but is not its E.164 form is outside too.
    let spaced = Address::new("+44 7700 900123", 1);
    let mut carol = Device::new("+44 7700 900123", 1);
    let own = account.list(4, &[(1, &carol.identity)]);
    accept_own_device_list(&mut carol.store, &account.phone, own).unwrap();
    alice.start(&carol, Some(FIRST_OTPK));
    let hello = alice.send_bytes(&spaced, b"hello");
    carol.recv_ok(&alice.addr, &hello, b"hello");
    alice.recv_ok(&spaced, &carol.send_bytes(&alice.addr, b"hi"), b"hi");
    assert_eq!(seen(&alice.store, &spaced), 4);
    alice.send(&spaced, b"unaffected");
}

#[test]
fn the_own_list_must_list_this_device_and_its_account() {
    let mut device = Device::new(ALICE, 2);
    let account = Account::new(ALICE);
    let other = IdentityKeyPair::generate(&mut rng());
    let before = device.store.to_bytes();
    let without = account.list(1, &[(1, &other)]);
    let err = accept_own_device_list(&mut device.store, &account.phone, without).unwrap_err();
    assert!(matches!(err, Error::NotOnOwnDeviceList), "{err}");
    assert!(err.to_string().contains("removed or never linked"), "{err}");
    assert_eq!(device.store.to_bytes(), before);
    assert_eq!(device.store.local_account().unwrap(), None);

    let with = account.list(1, &[(1, &other), (2, &device.identity)]);
    let changes = accept_own_device_list(&mut device.store, &account.phone, with).unwrap();
    assert!(changes.is_first());
    assert_eq!(device.store.local_account().unwrap(), Some(phone(ALICE)));
    let restored = MemoryStore::from_bytes(&device.store.to_bytes()).unwrap();
    assert_eq!(restored.local_account().unwrap(), Some(phone(ALICE)));

    // Another account, even one listing this device: refused, nothing written.
    let elsewhere = Account::new(BOB);
    let before = device.store.to_bytes();
    let list = elsewhere.list(1, &[(1, &other), (2, &device.identity)]);
    let err = accept_own_device_list(&mut device.store, &elsewhere.phone, list).unwrap_err();
    assert!(matches!(err, Error::OtherLocalAccount), "{err}");
    assert_eq!(device.store.to_bytes(), before);
}

#[tokio::test]
async fn the_own_list_is_accepted_on_the_store_thread() {
    let device = Device::new(ALICE, 1);
    let account = Account::new(ALICE);
    let list = account.list(3, &[(1, &device.identity)]);
    let store = keylink::store::AsyncStore::new(device.store).unwrap();
    let changes = store
        .accept_own_device_list(account.phone.clone(), list)
        .await
        .unwrap();
    assert_eq!(changes.version, 3);
    let needed = store
        .device_list_needed(account.phone.clone())
        .await
        .unwrap();
    assert_eq!(needed, None);
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use common::sqlite::TempDb;
    use keylink::store::SqliteStore;
    use keylink::store::at_rest::StorageKey;

    #[test]
    fn a_newer_list_blocks_sending_until_accepted_in_a_file() {
        let db = TempDb::new("list-versions");
        let key = StorageKey::from_bytes([9; 32]);
        let (mut alice, identity) = common::sqlite::device(&db.0, &key);
        let account = Account::new(ALICE);
        let own = account.list(4, &[(1, &identity)]);
        accept_own_device_list(&mut alice, &account.phone, own.clone()).unwrap();
        a_newer_list_blocks_sending_until_accepted(&mut alice, Some(&own));
        drop(alice);
        let alice = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(alice.local_account().unwrap(), Some(phone(ALICE)));
    }

    fn pragma(path: &std::path::Path, name: &str) -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
    }

    fn schema_of(path: &std::path::Path) -> Vec<(String, String, Option<String>)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut statement = conn
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
            .unwrap();
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// A copy of `tests/sqlite/schema-3.db` (written by keylink at schema 3, with the fuzz
    /// seed's storage key: see `write_sqlite_schema_3_seed` in src/fuzz.rs).
    fn schema_3_copy(name: &str) -> TempDb {
        let db = TempDb::new(name);
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite/schema-3.db");
        std::fs::copy(path, &db.0).unwrap();
        db
    }

    #[test]
    fn a_schema_3_file_is_migrated_to_schema_4() {
        let db = schema_3_copy("schema-3");
        assert_eq!(pragma(&db.0, "user_version"), 3);
        let key = StorageKey::from_bytes([0x42; 32]);
        let mut store = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(pragma(&db.0, "user_version"), 4);
        // What schema 3 held still opens: the accepted list, the sessions (seen version 0).
        let bob = phone(BOB);
        assert_eq!(store.device_list(&bob).unwrap().unwrap().version(), 1);
        let alice = Address::new("alice", 1);
        assert_eq!(seen(&store, &alice), 0);
        assert_eq!(store.local_account().unwrap(), None);
        // And the new table works.
        let identity = store.local_identity().unwrap().unwrap();
        let account = Account::new(ALICE);
        let own = account.list(2, &[(1, &identity)]);
        accept_own_device_list(&mut store, &account.phone, own).unwrap();
        assert_eq!(store.local_account().unwrap(), Some(phone(ALICE)));
        drop(store);
        let store = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(store.local_account().unwrap(), Some(phone(ALICE)));
    }

    #[test]
    fn a_migrated_schema_3_file_has_the_tables_of_a_new_one() {
        let db = schema_3_copy("schema-3-tables");
        let key = StorageKey::from_bytes([0x42; 32]);
        drop(SqliteStore::open(&db.0, &key).unwrap());
        let new = TempDb::new("schema-4-new");
        drop(SqliteStore::open(&new.0, &key).unwrap());
        let tables = schema_of(&new.0);
        assert!(tables.iter().any(|(_, name, _)| name == "local_account"));
        assert_eq!(schema_of(&db.0), tables);
    }
}
