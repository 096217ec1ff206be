//! A peer's account key remembered per phone number on first use (PROTOCOL.md §11.4), in
//! `MemoryStore` and `SqliteStore`: first use remembered, the same key known, a changed key
//! refused with nothing written until the user accepts it, numbers independent, a failed
//! commit remembering nothing, and the keys kept across a snapshot or a reopened file. And
//! the snapshot's `peer_accounts` field (§7.4): bad numbers and keys refused.
#![cfg(test)]

mod common;

use common::{FailingStore, TestStoreError, rng};
use keylink::account::{AccountKey, AccountKeyPair, PhoneNumber};
use keylink::keys::IdentityKeyPair;
use keylink::store::{AccountTrust, MemoryStore, ProtocolStore};
use keylink::{Error, accept_account, check_account};

fn phone(typed: &str) -> PhoneNumber {
    PhoneNumber::parse(typed).unwrap()
}

fn account_key() -> AccountKey {
    *AccountKeyPair::generate(&mut rng()).public()
}

fn memory_store() -> MemoryStore {
    MemoryStore::new(IdentityKeyPair::generate(&mut rng()))
}

/// The whole trust-on-first-use story through `store`; `state` reads what the store holds
/// (a value that changes with every write), to show that a refusal writes nothing.
fn first_use_then_change<S: ProtocolStore>(store: &mut S, state: impl Fn(&S) -> Vec<u8>) {
    let bob = phone("+44 7700 900123");
    let (first, second) = (account_key(), account_key());
    assert_eq!(store.peer_account(&bob).unwrap(), None);

    assert_eq!(
        check_account(store, &bob, &first).unwrap(),
        AccountTrust::FirstUse
    );
    assert_eq!(store.peer_account(&bob).unwrap(), Some(first));
    assert_eq!(
        check_account(store, &bob, &first).unwrap(),
        AccountTrust::Known
    );

    // The security code changed: refused, and nothing written.
    let before = state(store);
    let e = check_account(store, &bob, &second).unwrap_err();
    assert!(matches!(e, Error::UntrustedAccount), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("security code changed"), "{text}");
    assert!(text.contains("accept_account"), "{text}");
    assert!(!text.contains("7700"), "a phone number in an error: {text}");
    assert!(state(store) == before, "a refused key changed the store");
    assert_eq!(store.peer_account(&bob).unwrap(), Some(first));
    // Refused again, as long as the user has not accepted it.
    assert!(matches!(
        check_account(store, &bob, &second),
        Err(Error::UntrustedAccount)
    ));

    // The user compared the new safety number and accepted it.
    accept_account(store, &bob, &second).unwrap();
    assert_eq!(store.peer_account(&bob).unwrap(), Some(second));
    assert_eq!(
        check_account(store, &bob, &second).unwrap(),
        AccountTrust::Known
    );
    assert!(matches!(
        check_account(store, &bob, &first),
        Err(Error::UntrustedAccount)
    ));
}

/// Two numbers are independent: a key remembered for one says nothing about the other, even
/// the same key.
fn numbers_are_independent<S: ProtocolStore>(store: &mut S) {
    let (alice, carol) = (phone("+1 415 555 0100"), phone("+33 6 12 34 56 78"));
    let (a, c) = (account_key(), account_key());
    assert_eq!(
        check_account(store, &alice, &a).unwrap(),
        AccountTrust::FirstUse
    );
    assert_eq!(store.peer_account(&carol).unwrap(), None);
    assert_eq!(
        check_account(store, &carol, &a).unwrap(),
        AccountTrust::FirstUse
    );
    accept_account(store, &carol, &c).unwrap();
    assert_eq!(store.peer_account(&alice).unwrap(), Some(a));
    assert_eq!(store.peer_account(&carol).unwrap(), Some(c));
    assert_eq!(
        check_account(store, &alice, &a).unwrap(),
        AccountTrust::Known
    );
}

#[test]
fn memory_store_remembers_on_first_use_and_refuses_a_change() {
    let mut store = memory_store();
    first_use_then_change(&mut store, |s| s.to_bytes().to_vec());
}

#[test]
fn memory_store_keeps_numbers_apart() {
    numbers_are_independent(&mut memory_store());
}

#[test]
fn a_failed_commit_remembers_nothing() {
    let bob = phone("+447700900123");
    let (first, second) = (account_key(), account_key());
    let mut store = FailingStore {
        inner: memory_store(),
        fail_next: true,
    };
    let e = check_account(&mut store, &bob, &first).unwrap_err();
    let Error::Store(inner) = &e else {
        panic!("{e:?}")
    };
    assert!(matches!(
        inner.downcast_ref::<TestStoreError>(),
        Some(TestStoreError::CommitFailed)
    ));
    assert_eq!(store.peer_account(&bob).unwrap(), None);
    // The next check is a first use again.
    assert_eq!(
        check_account(&mut store, &bob, &first).unwrap(),
        AccountTrust::FirstUse
    );
    // A failed acceptance keeps the old key.
    store.fail_next = true;
    assert!(matches!(
        accept_account(&mut store, &bob, &second),
        Err(Error::Store(_))
    ));
    assert_eq!(store.peer_account(&bob).unwrap(), Some(first));
    assert!(matches!(
        check_account(&mut store, &bob, &second),
        Err(Error::UntrustedAccount)
    ));
}

#[test]
fn a_snapshot_keeps_the_remembered_keys() {
    let mut store = memory_store();
    let (bob, carol) = (phone("+447700900123"), phone("+33612345678"));
    let (b, c) = (account_key(), account_key());
    let _ = check_account(&mut store, &carol, &c).unwrap();
    let _ = check_account(&mut store, &bob, &b).unwrap();
    let bytes = store.to_bytes();
    let mut restored = MemoryStore::from_bytes(&bytes).unwrap();
    assert_eq!(restored.known_account(&bob), Some(&b));
    assert_eq!(restored.known_account(&carol), Some(&c));
    assert_eq!(*restored.to_bytes(), *bytes);
    assert_eq!(
        check_account(&mut restored, &bob, &b).unwrap(),
        AccountTrust::Known
    );
    assert!(matches!(
        check_account(&mut restored, &carol, &b),
        Err(Error::UntrustedAccount)
    ));
}

// ---- The snapshot's `peer_accounts` field (PROTOCOL.md §7.4) -------------------------------

/// A protobuf length-delimited field.
fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() < 128);
    let mut out = vec![(number << 3) | 2, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

/// A snapshot of a store with no identity and these remembered accounts (field 8), each
/// `phone` (field 1) and `account_key` (field 2) as given.
fn snapshot(accounts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut bytes = vec![0x1C];
    for (phone, key) in accounts {
        let entry = [field(1, phone.as_bytes()), field(2, key)].concat();
        bytes.extend(field(8, &entry));
    }
    bytes
}

#[test]
fn the_snapshot_field_is_the_documented_encoding() {
    let key = account_key();
    let bytes = snapshot(&[("+447700900123", key.as_bytes())]);
    let store = MemoryStore::from_bytes(&bytes).unwrap();
    assert_eq!(store.known_account(&phone("+447700900123")), Some(&key));
    assert_eq!(*store.to_bytes(), bytes);
    // A snapshot written before the field parses: no account remembered.
    let before = MemoryStore::from_bytes(&[0x1C]).unwrap();
    assert_eq!(before.known_account(&phone("+447700900123")), None);
}

#[test]
fn a_snapshot_with_a_bad_phone_number_is_refused() {
    let key = account_key();
    for bad in [
        "",
        "+44 7700 900123", // typed form, not E.164
        "00447700900123",
        "447700900123",
        "+0447700900123",
        "+123456",
        "+1234567890123456",
        "+44770090012x",
        "+٤٤7700900123",
    ] {
        let e = MemoryStore::from_bytes(&snapshot(&[(bad, key.as_bytes())])).unwrap_err();
        assert!(matches!(e, Error::Malformed(_)), "{bad:?}: {e:?}");
        assert!(!e.to_string().contains("7700"), "{e}");
    }
}

#[test]
fn a_snapshot_with_a_bad_account_key_is_refused() {
    let key = account_key();
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    let bad_keys: [&[u8]; 3] = [&key.as_bytes()[..31], &[7u8; 33], &small_order];
    for bad in bad_keys {
        let e = MemoryStore::from_bytes(&snapshot(&[("+447700900123", bad)])).unwrap_err();
        assert!(matches!(e, Error::InvalidKey(_)), "{}: {e:?}", bad.len());
    }
}

#[test]
fn a_snapshot_with_unsorted_or_repeated_numbers_is_refused() {
    let (a, b) = (account_key(), account_key());
    let sorted = snapshot(&[
        ("+33612345678", a.as_bytes()),
        ("+447700900123", b.as_bytes()),
    ]);
    assert!(MemoryStore::from_bytes(&sorted).is_ok());
    for bad in [
        snapshot(&[
            ("+447700900123", b.as_bytes()),
            ("+33612345678", a.as_bytes()),
        ]),
        snapshot(&[
            ("+447700900123", a.as_bytes()),
            ("+447700900123", b.as_bytes()),
        ]),
    ] {
        let e = MemoryStore::from_bytes(&bad).unwrap_err();
        assert!(matches!(e, Error::Malformed(_)), "{e:?}");
    }
}

// ---- SqliteStore ---------------------------------------------------------------------------

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use common::sqlite::TempDb;
    use keylink::store::SqliteStore;
    use keylink::store::at_rest::StorageKey;

    /// Every row of `peer_accounts`, as stored: (phone hash, sealed value).
    fn rows(path: &std::path::Path) -> Vec<u8> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut statement = conn
            .prepare("SELECT phone, value FROM peer_accounts ORDER BY phone")
            .unwrap();
        let rows = statement
            .query_map([], |r| {
                Ok([r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?].concat())
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().concat()
    }

    #[test]
    fn sqlite_store_remembers_on_first_use_and_refuses_a_change() {
        let db = TempDb::new("tofu");
        let key = StorageKey::generate(&mut rng());
        let mut store = SqliteStore::open(&db.0, &key).unwrap();
        let path = db.0.clone();
        first_use_then_change(&mut store, |_| rows(&path));
    }

    #[test]
    fn sqlite_store_keeps_numbers_apart() {
        let db = TempDb::new("tofu-numbers");
        let key = StorageKey::generate(&mut rng());
        numbers_are_independent(&mut SqliteStore::open(&db.0, &key).unwrap());
    }

    #[test]
    fn a_reopened_file_keeps_the_remembered_keys() {
        let db = TempDb::new("tofu-reopen");
        let key = StorageKey::generate(&mut rng());
        let (bob, carol) = (phone("+447700900123"), phone("+33612345678"));
        let (b, c, changed) = (account_key(), account_key(), account_key());
        {
            let mut store = SqliteStore::open(&db.0, &key).unwrap();
            let _ = check_account(&mut store, &bob, &b).unwrap();
            let _ = check_account(&mut store, &carol, &c).unwrap();
        }
        let mut store = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(store.peer_account(&bob).unwrap(), Some(b));
        assert_eq!(
            check_account(&mut store, &carol, &c).unwrap(),
            AccountTrust::Known
        );
        let before = rows(&db.0);
        assert!(matches!(
            check_account(&mut store, &bob, &changed),
            Err(Error::UntrustedAccount)
        ));
        drop(store);
        assert_eq!(rows(&db.0), before, "a refused key was written");
        let store = SqliteStore::open(&db.0, &key).unwrap();
        assert_eq!(store.peer_account(&bob).unwrap(), Some(b));
    }

    #[test]
    fn a_remembered_key_moved_to_another_number_does_not_open() {
        let db = TempDb::new("tofu-moved");
        let key = StorageKey::generate(&mut rng());
        let (bob, carol) = (phone("+447700900123"), phone("+33612345678"));
        let mut store = SqliteStore::open(&db.0, &key).unwrap();
        let _ = check_account(&mut store, &bob, &account_key()).unwrap();
        let _ = check_account(&mut store, &carol, &account_key()).unwrap();
        drop(store);
        {
            let conn = rusqlite::Connection::open(&db.0).unwrap();
            let values: Vec<Vec<u8>> = conn
                .prepare("SELECT value FROM peer_accounts ORDER BY phone")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            conn.execute(
                "UPDATE peer_accounts SET value = ?1 WHERE value = ?2",
                [&values[0], &values[1]],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&db.0, &key).unwrap();
        let read = [store.peer_account(&bob), store.peer_account(&carol)];
        assert_eq!(read.iter().filter(|r| r.is_err()).count(), 1, "{read:?}");
    }
}
