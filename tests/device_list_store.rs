#![cfg(test)]
//! Accepting device lists through a store (PROTOCOL.md §11.6): the account key trusted on
//! first use, a changed one refused, rollbacks and forks refused with nothing written, the
//! sessions of a removed device archived in the same commit, and the list kept across a
//! snapshot, a reopened SQLite file and the schema 2 -> 3 migration.

mod common;

use common::server::BundleServer;
use common::{FailingStore, rng};
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, PreKeyUpkeep, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::{IdentityKeyPair, PreKeyBundle};
use keylink::store::{Address, MemoryStore, ProtocolStore};
use keylink::{Error, Timestamp, accept_device_list};

const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

/// Bob's account with his phone and, from version 2 on, his laptop (device 2).
struct Bob {
    account: AccountKeyPair,
    phone: PhoneNumber,
    primary: IdentityKeyPair,
    laptop: IdentityKeyPair,
}

impl Bob {
    fn new() -> Self {
        let mut r = rng();
        Bob {
            account: AccountKeyPair::generate(&mut r),
            phone: PhoneNumber::parse("+447700900123").unwrap(),
            primary: IdentityKeyPair::generate(&mut r),
            laptop: IdentityKeyPair::generate(&mut r),
        }
    }

    /// Version 1: the phone only.
    fn v1(&self) -> SignedDeviceList {
        let primary = DeviceEntry::primary(&self.account, &self.primary, T0);
        SignedDeviceList::issue(&self.account, &self.phone, 1, T0, vec![primary]).unwrap()
    }

    /// Version 2: the phone and the laptop.
    fn v2(&self) -> SignedDeviceList {
        let authorization = self.account.authorize_device(2, self.laptop.public(), T0);
        let device_sig = authorization.countersign(&self.laptop).unwrap();
        let laptop = authorization.complete(device_sig).unwrap();
        verified(self, self.v1())
            .with_device(&self.account, laptop, T0)
            .unwrap()
    }

    /// Version 3: the laptop removed.
    fn v3(&self) -> SignedDeviceList {
        verified(self, self.v2())
            .without_device(&self.account, 2, T0)
            .unwrap()
    }
}

fn verified(bob: &Bob, list: SignedDeviceList) -> VerifiedDeviceList {
    list.verify(&bob.phone).unwrap()
}

fn alice() -> MemoryStore {
    MemoryStore::new(IdentityKeyPair::generate(&mut rng()))
}

#[test]
fn a_first_list_remembers_the_account_key_and_the_list() {
    let (bob, mut alice) = (Bob::new(), alice());
    let changes = accept_device_list(&mut alice, &bob.phone, bob.v1()).unwrap();
    assert!(changes.is_first());
    assert_eq!(
        alice.peer_account(&bob.phone).unwrap(),
        Some(*bob.account.public())
    );
    assert_eq!(alice.device_list(&bob.phone).unwrap(), Some(bob.v1()));
    let changes = accept_device_list(&mut alice, &bob.phone, bob.v2()).unwrap();
    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].identity_key(), bob.laptop.public());
    // The same list again: nothing changes, nothing is written.
    let before = alice.to_bytes();
    assert!(
        accept_device_list(&mut alice, &bob.phone, bob.v2())
            .unwrap()
            .is_same_list()
    );
    assert_eq!(alice.to_bytes(), before);
}

#[test]
fn refusals_write_nothing() {
    let (bob, mut alice) = (Bob::new(), alice());
    accept_device_list(&mut alice, &bob.phone, bob.v1()).unwrap();
    accept_device_list(&mut alice, &bob.phone, bob.v3()).unwrap();
    let before = alice.to_bytes();
    // A replayed older list (still with the laptop).
    let err = accept_device_list(&mut alice, &bob.phone, bob.v2()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DeviceListRollback {
                accepted: 3,
                offered: 2
            }
        ),
        "{err}"
    );
    // Another list with the accepted version.
    let other = verified(&bob, bob.v2()).with_device(
        &bob.account,
        DeviceEntry::primary(&bob.account, &bob.primary, T0),
        T0,
    );
    assert!(other.is_err(), "the primary twice");
    let fork = {
        let primary = DeviceEntry::primary(
            &bob.account,
            &bob.primary,
            T0.saturating_add(core::time::Duration::from_secs(1)),
        );
        SignedDeviceList::issue(&bob.account, &bob.phone, 3, T0, vec![primary]).unwrap()
    };
    let err = accept_device_list(&mut alice, &bob.phone, fork).unwrap_err();
    assert!(matches!(err, Error::DeviceListFork { version: 3 }), "{err}");
    // A list for another number, and one under another account key for this number.
    let err = accept_device_list(
        &mut alice,
        &PhoneNumber::parse("+14155550100").unwrap(),
        bob.v1(),
    );
    assert!(matches!(err, Err(Error::DeviceListForAnotherNumber)));
    let reinstalled = Bob {
        account: AccountKeyPair::generate(&mut rng()),
        ..Bob::new()
    };
    let reinstalled = Bob {
        phone: bob.phone.clone(),
        ..reinstalled
    };
    let err = accept_device_list(&mut alice, &bob.phone, reinstalled.v1()).unwrap_err();
    assert!(matches!(err, Error::UntrustedAccount), "{err}");
    assert_eq!(alice.to_bytes(), before);
    // Once the user accepted the new account key, its first list is accepted afresh.
    keylink::accept_account(&mut alice, &bob.phone, reinstalled.account.public()).unwrap();
    let changes = accept_device_list(&mut alice, &bob.phone, reinstalled.v1()).unwrap();
    assert!(changes.is_first());
}

#[test]
fn a_removed_device_has_its_session_archived_in_the_same_commit() {
    let (bob, mut alice) = (Bob::new(), alice());
    accept_device_list(&mut alice, &bob.phone, bob.v2()).unwrap();
    // Alice has a session with the laptop, at (phone, 2).
    let mut laptop = MemoryStore::new(bob.laptop.clone());
    let mut server = BundleServer::default();
    let upload = PreKeyUpkeep::new(2)
        .run(&mut laptop, T0, 0, &mut rng())
        .unwrap()
        .unwrap();
    server.upload(&upload);
    let bundle = PreKeyBundle::try_from(server.fetch().unwrap().as_slice()).unwrap();
    let at_laptop = Address::new(bob.phone.as_str(), 2);
    keylink::start_session(
        &mut alice,
        &at_laptop,
        &bundle.verify().unwrap(),
        &mut rng(),
    )
    .unwrap();
    assert!(
        alice
            .session_record(&at_laptop)
            .unwrap()
            .current()
            .is_some()
    );

    // The list drops the laptop: its session is archived, and a failed commit does neither.
    let mut failing = FailingStore {
        inner: alice,
        fail_next: true,
    };
    let err = accept_device_list(&mut failing, &bob.phone, bob.v3()).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert!(
        failing
            .inner
            .session_record(&at_laptop)
            .unwrap()
            .current()
            .is_some()
    );
    assert_eq!(
        failing.inner.device_list(&bob.phone).unwrap(),
        Some(bob.v2())
    );
    let changes = accept_device_list(&mut failing, &bob.phone, bob.v3()).unwrap();
    assert_eq!(changes.removed.len(), 1);
    let record = failing.inner.session_record(&at_laptop).unwrap();
    assert!(record.current().is_none());
    assert_eq!(record.archived().count(), 1);
    let err = keylink::encrypt(&mut failing, &at_laptop, b"still there?").unwrap_err();
    assert!(
        matches!(err, Error::DeviceNotOnList { device } if device.get() == 2),
        "{err}"
    );
}

#[test]
fn a_snapshot_keeps_the_accepted_lists() {
    let (bob, mut alice) = (Bob::new(), alice());
    accept_device_list(&mut alice, &bob.phone, bob.v2()).unwrap();
    let restored = MemoryStore::from_bytes(&alice.to_bytes()).unwrap();
    assert_eq!(restored.device_list(&bob.phone).unwrap(), Some(bob.v2()));
    assert_eq!(restored.to_bytes(), alice.to_bytes());
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use common::sqlite::TempDb;
    use keylink::store::SqliteStore;
    use keylink::store::at_rest::StorageKey;

    #[test]
    fn a_reopened_file_keeps_the_accepted_list_and_its_rules() {
        let db = TempDb::new("device-lists");
        let key = StorageKey::from_bytes([7; 32]);
        let bob = Bob::new();
        let mut alice = SqliteStore::open(&db.0, &key).unwrap();
        alice
            .set_local_identity(&IdentityKeyPair::generate(&mut rng()))
            .unwrap();
        accept_device_list(&mut alice, &bob.phone, bob.v1()).unwrap();
        accept_device_list(&mut alice, &bob.phone, bob.v3()).unwrap();
        drop(alice);
        let mut alice = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(alice.device_list(&bob.phone).unwrap(), Some(bob.v3()));
        let err = accept_device_list(&mut alice, &bob.phone, bob.v2()).unwrap_err();
        assert!(matches!(err, Error::DeviceListRollback { .. }), "{err}");
    }

    #[test]
    fn a_schema_2_file_is_migrated_to_the_current_schema() {
        let db = TempDb::new("schema-2");
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite/schema-2.db"),
            &db.0,
        )
        .unwrap();
        let pragma = |name: &str| -> i64 {
            let conn = rusqlite::Connection::open(&db.0).unwrap();
            conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
        };
        assert_eq!(pragma("user_version"), 2);
        // The fuzz seed's storage key (src/fuzz.rs).
        let key = StorageKey::from_bytes([0x42; 32]);
        let mut store = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(pragma("user_version"), 4);
        // What schema 2 held still opens: the remembered account, the prekey upkeep state.
        let bob = PhoneNumber::parse("+447700900123").unwrap();
        assert!(store.peer_account(&bob).unwrap().is_some());
        assert!(store.prekey_state().unwrap().is_some());
        assert!(store.local_identity().unwrap().is_some());
        // And the new table works.
        let list = Bob {
            phone: bob.clone(),
            ..Bob::new()
        };
        let err = accept_device_list(&mut store, &bob, list.v1()).unwrap_err();
        assert!(
            matches!(err, Error::UntrustedAccount),
            "another key than the remembered one"
        );
        keylink::accept_account(&mut store, &bob, list.account.public()).unwrap();
        accept_device_list(&mut store, &bob, list.v1()).unwrap();
        assert_eq!(store.device_list(&bob).unwrap(), Some(list.v1()));
    }
}

#[tokio::test]
async fn a_list_is_accepted_on_the_store_thread() {
    let bob = Bob::new();
    let store = keylink::store::AsyncStore::new(alice()).unwrap();
    let changes = store
        .accept_device_list(bob.phone.clone(), bob.v2())
        .await
        .unwrap();
    assert_eq!((changes.previous, changes.added.len()), (None, 2));
    let err = store
        .accept_device_list(bob.phone.clone(), bob.v1())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DeviceListRollback {
                accepted: 2,
                offered: 1
            }
        ),
        "{err}"
    );
}
