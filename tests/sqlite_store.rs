//! `SqliteStore` (feature `sqlite`, issue 11 in progress): a conversation through two stores
//! in files, kept across reopening; history that costs rows, not whole records; and the
//! files: sealed at rest, a wrong storage key, a newer schema and foreign files refused.
#![cfg(test)]
#![cfg(feature = "sqlite")]

mod common;

use common::sqlite::{TempDb, device};
use common::{rng, stored_bundle};
use keylink::Error;
use keylink::store::at_rest::{AtRestError, StorageKey};
use keylink::store::{Address, ProtocolStore, SqliteStore, SqliteStoreError};

#[test]
fn a_conversation_survives_reopening_both_stores() {
    let (a_db, b_db) = (TempDb::new("alice"), TempDb::new("bob"));
    let (a_key, b_key) = (
        StorageKey::generate(&mut rng()),
        StorageKey::generate(&mut rng()),
    );
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let (mut alice, _) = device(&a_db.0, &a_key);
    let (mut bob, _) = device(&b_db.0, &b_key);
    let bundle = stored_bundle(&bob, 1, 1, Some(1), 1).verify().unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng()).unwrap();
    let first = keylink::encrypt(&mut alice, &bob_addr, b"hi")
        .unwrap()
        .to_bytes();
    assert_eq!(
        keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng()).unwrap(),
        b"hi"
    );
    // The one-time prekeys it used are gone, in the same commit.
    assert!(bob.one_time_prekey(1.into()).unwrap().is_none());
    assert!(bob.kem_prekey(1.into()).unwrap().is_none());
    assert!(bob.kem_prekey(100.into()).unwrap().is_some());

    // Alice sends three, the first two are late; both stores are closed and reopened.
    let late: Vec<_> = (0..2)
        .map(|i| {
            keylink::encrypt(&mut alice, &bob_addr, &[i])
                .unwrap()
                .to_bytes()
        })
        .collect();
    let third = keylink::encrypt(&mut alice, &bob_addr, b"3")
        .unwrap()
        .to_bytes();
    drop((alice, bob));
    let mut alice = SqliteStore::open(&a_db.0, &a_key).unwrap();
    let mut bob = SqliteStore::open(&b_db.0, &b_key).unwrap();
    assert_eq!(
        keylink::decrypt(&mut bob, &alice_addr, &third, &mut rng()).unwrap(),
        b"3"
    );
    for (i, m) in late.iter().enumerate().rev() {
        let plaintext = keylink::decrypt(&mut bob, &alice_addr, m, &mut rng()).unwrap();
        assert_eq!(plaintext, [i as u8]);
    }
    let again = keylink::decrypt(&mut bob, &alice_addr, &late[0], &mut rng()).unwrap_err();
    assert!(matches!(again, Error::DuplicateMessage));
    let reply = keylink::encrypt(&mut bob, &alice_addr, b"ok")
        .unwrap()
        .to_bytes();
    assert_eq!(
        keylink::decrypt(&mut alice, &bob_addr, &reply, &mut rng()).unwrap(),
        b"ok"
    );
    // In place too.
    let mut buffer = vec![7u8; 100_000];
    keylink::encrypt_in_place(&mut alice, &bob_addr, &mut buffer).unwrap();
    let out = keylink::decrypt_in_place(&mut bob, &alice_addr, &mut buffer, &mut rng()).unwrap();
    assert_eq!(out, vec![7u8; 100_000].as_slice());
}

#[test]
fn skipped_keys_and_evictions_are_rows() {
    let (a_db, b_db) = (TempDb::new("alice"), TempDb::new("bob"));
    let key = StorageKey::generate(&mut rng());
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let (mut alice, _) = device(&a_db.0, &key);
    let (mut bob, _) = device(&b_db.0, &key);
    let bundle = stored_bundle(&bob, 1, 1, None, 100).verify().unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng()).unwrap();
    let first = keylink::encrypt(&mut alice, &bob_addr, b"0")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng()).unwrap();
    let mut kept = Vec::new();
    for i in 0..2_010u32 {
        let m = keylink::encrypt(&mut alice, &bob_addr, &i.to_be_bytes()).unwrap();
        if i == 5 || i == 15 {
            kept.push((i, m.to_bytes()));
        }
    }
    let last = keylink::encrypt(&mut alice, &bob_addr, b"last")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &last, &mut rng()).unwrap();
    // 2,010 skipped, 2,000 kept: message 5 was evicted (a duplicate), 15 is kept.
    let e = keylink::decrypt(&mut bob, &alice_addr, &kept[0].1, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
    let m15 = keylink::decrypt(&mut bob, &alice_addr, &kept[1].1, &mut rng()).unwrap();
    assert_eq!(m15, 15u32.to_be_bytes());
}

#[test]
fn the_file_holds_no_secret_and_no_contact_name() {
    let db = TempDb::new("at-rest");
    let key = StorageKey::generate(&mut rng());
    let (mut alice, identity) = device(&db.0, &key);
    let bob_db = TempDb::new("bob");
    let (bob, _) = device(&bob_db.0, &StorageKey::generate(&mut rng()));
    let bob_addr = Address::new("bob-the-contact", 7);
    let bundle = stored_bundle(&bob, 7, 1, Some(2), 2).verify().unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng()).unwrap();
    keylink::encrypt(&mut alice, &bob_addr, b"x").unwrap();
    drop(alice);
    let mut file = std::fs::read(&db.0).unwrap();
    let mut wal = db.0.clone().into_os_string();
    wal.push("-wal");
    file.extend(std::fs::read(wal).unwrap_or_default());
    let find = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    let seed = common::proto::decode::<common::proto::IdentityRecord>(&identity.to_bytes()).seed;
    assert!(!find(&seed), "the identity seed is in the file");
    assert!(!find(b"bob-the-contact"), "a contact name is in the file");
    assert!(!find(&*key.to_bytes()), "the storage key is in the file");
}

#[test]
fn a_wrong_storage_key_is_refused_at_open() {
    let db = TempDb::new("key");
    drop(device(&db.0, &StorageKey::from_bytes([1; 32])));
    let e = SqliteStore::open(&db.0, &StorageKey::from_bytes([2; 32])).unwrap_err();
    assert!(
        matches!(e, SqliteStoreError::AtRest(AtRestError::WrongStorageKey)),
        "{e}"
    );
    assert!(e.to_string().contains("storage key"));
    assert!(SqliteStore::open(&db.0, &StorageKey::from_bytes([1; 32])).is_ok());
}

#[test]
fn newer_and_foreign_files_are_refused_and_left_alone() {
    let key = StorageKey::from_bytes([3; 32]);
    let newer = TempDb::new("newer");
    drop(SqliteStore::open(&newer.0, &key).unwrap());
    {
        let conn = rusqlite::Connection::open(&newer.0).unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
    }
    let e = SqliteStore::open(&newer.0, &key).unwrap_err();
    assert!(
        matches!(
            e,
            SqliteStoreError::NewerSchema {
                found: 5,
                supported: 4
            }
        ),
        "{e}"
    );

    let foreign = TempDb::new("foreign");
    {
        let conn = rusqlite::Connection::open(&foreign.0).unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT)")
            .unwrap();
    }
    let before = std::fs::read(&foreign.0).unwrap();
    let e = SqliteStore::open(&foreign.0, &key).unwrap_err();
    assert!(matches!(e, SqliteStoreError::NotKeylink), "{e}");
    assert!(
        std::fs::read(&foreign.0).unwrap() == before,
        "the foreign file changed"
    );

    let garbage = TempDb::new("garbage");
    std::fs::write(
        &garbage.0,
        b"this is not a database at all, just some bytes......",
    )
    .unwrap();
    let before = std::fs::read(&garbage.0).unwrap();
    assert!(SqliteStore::open(&garbage.0, &key).is_err());
    assert!(
        std::fs::read(&garbage.0).unwrap() == before,
        "the file changed"
    );
}

#[test]
fn a_value_moved_to_another_row_is_rejected() {
    let db = TempDb::new("swap");
    let key = StorageKey::from_bytes([4; 32]);
    drop(device(&db.0, &key));
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute(
            "UPDATE one_time_prekeys SET value = (SELECT value FROM one_time_prekeys WHERE id = 2) WHERE id = 1",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&db.0, &key).unwrap();
    let e = store.one_time_prekey(1.into()).unwrap_err();
    assert!(
        matches!(e, SqliteStoreError::AtRest(AtRestError::Rejected)),
        "{e}"
    );
    assert!(store.one_time_prekey(2.into()).unwrap().is_some());
}

/// A database written by schema 1 (`tests/sqlite/schema-1.db`, made by keylink before
/// schema 2, with the generator `generate_schema_1_database` of commit d00aa1b, which this
/// keylink, writing schema 2, can no longer run) and a message from Alice that arrived late
/// (`tests/sqlite/schema-1-late.bin`). Tests use copies: the committed file is never opened.
const SCHEMA_1_DB: &[u8] = include_bytes!("sqlite/schema-1.db");
const SCHEMA_1_LATE: &[u8] = include_bytes!("sqlite/schema-1-late.bin");
/// What the late message decrypts to: it was sealed before every body led with the sender's
/// list version (PROTOCOL.md §6.4), so its first 8 bytes, `"late, fr"`, are read as one (its
/// sender `alice` is outside accounts, so the version changes nothing) and the rest is the
/// plaintext. The key survived the migration either way.
const LATE_TEXT: &[u8] = b"om schema 1";
/// The storage key of that database (a test key, nothing else uses it).
const SCHEMA_1_KEY: [u8; 32] = [0x42; 32];

/// The tables of schema 1 that hold sealed values.
const SEALED_1: [&str; 8] = [
    "identity",
    "peers",
    "signed_prekeys",
    "one_time_prekeys",
    "kem_prekeys",
    "session_index",
    "sessions",
    "skipped_keys",
];

/// A copy of the schema-1 database.
fn schema_1_copy(name: &str) -> TempDb {
    let db = TempDb::new(name);
    std::fs::write(&db.0, SCHEMA_1_DB).unwrap();
    db
}

fn pragma(path: &std::path::Path, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

/// Every sealed value of the schema-1 tables, by table, in rowid order.
fn sealed_values(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut values = Vec::new();
    for table in SEALED_1 {
        let sql = format!("SELECT value FROM {table} ORDER BY rowid");
        let mut statement = conn.prepare(&sql).unwrap();
        let rows = statement.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
        values.extend(rows.map(|v| (table.to_string(), v.unwrap())));
    }
    values
}

/// The tables and indexes of a file, as SQLite keeps their definitions.
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

/// What a schema-1 file must still do once migrated: the late message decrypts (once), Bob
/// replies, his prekeys read, and an account key is remembered.
fn works_after_migration(bob: &mut SqliteStore) {
    let alice = Address::new("alice", 1);
    let late = keylink::decrypt(bob, &alice, SCHEMA_1_LATE, &mut rng()).unwrap();
    assert_eq!(late, LATE_TEXT);
    let again = keylink::decrypt(bob, &alice, SCHEMA_1_LATE, &mut rng()).unwrap_err();
    assert!(matches!(again, Error::DuplicateMessage));
    keylink::encrypt(bob, &alice, b"reply").unwrap();
    assert!(bob.signed_prekey(1.into()).unwrap().is_some());
    let phone = keylink::account::PhoneNumber::parse("+14155550100").unwrap();
    let key = *keylink::account::AccountKeyPair::generate(&mut rng()).public();
    let trust = keylink::check_account(bob, &phone, &key).unwrap();
    assert_eq!(trust, keylink::AccountTrust::FirstUse);
}

#[test]
fn a_schema_1_database_is_migrated_and_works() {
    let db = schema_1_copy("schema-1");
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    // Written before keylink set its application id: it gets it at its first open.
    assert_eq!(pragma(&db.0, "application_id"), 0);
    assert_eq!(pragma(&db.0, "user_version"), 1);
    let before = sealed_values(&db.0);
    assert!(before.len() > 10, "{}", before.len());
    let mut bob = SqliteStore::open(&db.0, &key).unwrap();
    assert_eq!(pragma(&db.0, "user_version"), 4);
    assert_eq!(pragma(&db.0, "application_id"), 0x6B6C_6B31);
    // Every value sealed again (each under a fresh salt), for the same rows.
    let after = sealed_values(&db.0);
    assert_eq!(after.len(), before.len());
    for ((table, old), (same_table, new)) in before.iter().zip(&after) {
        assert_eq!(table, same_table);
        assert_ne!(old, new, "a value of {table} was not sealed again");
        assert_eq!(old.len(), new.len(), "{table}");
    }
    works_after_migration(&mut bob);
    drop(bob);

    // A second open migrates nothing: no value is sealed again.
    let migrated = sealed_values(&db.0);
    let bob = SqliteStore::open(&db.0, &key).unwrap();
    assert_eq!(pragma(&db.0, "user_version"), 4);
    assert_eq!(pragma(&db.0, "application_id"), 0x6B6C_6B31);
    assert!(sealed_values(&db.0) == migrated, "a second open wrote");
    assert!(bob.signed_prekey(1.into()).unwrap().is_some());
}

#[test]
fn a_migrated_file_has_the_tables_of_a_new_one() {
    let db = schema_1_copy("schema-1-tables");
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    drop(SqliteStore::open(&db.0, &key).unwrap());
    let new = TempDb::new("schema-2-new");
    drop(SqliteStore::open(&new.0, &key).unwrap());
    let tables = schema_of(&new.0);
    assert!(tables.iter().any(|(_, name, _)| name == "peer_accounts"));
    assert_eq!(schema_of(&db.0), tables);
}

#[test]
fn an_interrupted_migration_leaves_a_schema_1_file_that_migrates_later() {
    let db = schema_1_copy("schema-1-interrupted");
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    // The migration fails at its last table, after it created `peer_accounts` and sealed
    // the values of the other tables again.
    let stop = "CREATE TRIGGER stop BEFORE UPDATE ON skipped_keys BEGIN SELECT RAISE(ABORT, 'interrupted'); END";
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .execute_batch(stop)
        .unwrap();
    let (bytes, values) = (std::fs::read(&db.0).unwrap(), sealed_values(&db.0));
    let e = SqliteStore::open(&db.0, &key).unwrap_err();
    assert!(e.to_string().contains("interrupted"), "{e}");
    // Left as it was: schema 1, no application id, no new table, every value as it was.
    assert_eq!(pragma(&db.0, "user_version"), 1);
    assert_eq!(pragma(&db.0, "application_id"), 0);
    assert!(
        !schema_of(&db.0)
            .iter()
            .any(|(_, n, _)| n == "peer_accounts")
    );
    assert!(sealed_values(&db.0) == values, "a value changed");
    assert!(std::fs::read(&db.0).unwrap() == bytes, "the file changed");

    // Once the cause is gone, the next open migrates it.
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .execute_batch("DROP TRIGGER stop")
        .unwrap();
    let mut bob = SqliteStore::open(&db.0, &key).unwrap();
    assert_eq!(pragma(&db.0, "user_version"), 4);
    works_after_migration(&mut bob);
}

#[test]
fn stores_opening_a_schema_1_file_at_once_migrate_it_once() {
    let db = schema_1_copy("schema-1-at-once");
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    let stores: Vec<SqliteStore> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| SqliteStore::open(&db.0, &key).unwrap()))
            .collect();
        opening.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(pragma(&db.0, "user_version"), 4);
    // Sealed again once: every value opens for schema 2, through any of the stores.
    let mut stores = stores.into_iter();
    works_after_migration(&mut stores.next().unwrap());
    for store in stores {
        assert!(store.signed_prekey(1.into()).unwrap().is_some());
    }
}

#[test]
fn a_schema_1_file_is_migrated_only_under_its_storage_key() {
    let db = schema_1_copy("schema-1-wrong-key");
    let e = SqliteStore::open(&db.0, &StorageKey::from_bytes([0x43; 32])).unwrap_err();
    assert!(
        matches!(e, SqliteStoreError::AtRest(AtRestError::WrongStorageKey)),
        "{e}"
    );
    assert!(
        std::fs::read(&db.0).unwrap() == SCHEMA_1_DB,
        "the file changed"
    );
}

#[test]
fn a_damaged_value_stays_refused_after_the_migration() {
    let db = schema_1_copy("schema-1-damaged");
    {
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        let mut value: Vec<u8> = conn
            .query_row("SELECT value FROM signed_prekeys WHERE id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        *value.last_mut().unwrap() ^= 1;
        conn.execute("UPDATE signed_prekeys SET value = ?1 WHERE id = 1", [value])
            .unwrap();
    }
    let bob = SqliteStore::open(&db.0, &StorageKey::from_bytes(SCHEMA_1_KEY)).unwrap();
    assert_eq!(pragma(&db.0, "user_version"), 4);
    let e = bob.signed_prekey(1.into()).unwrap_err();
    assert!(
        matches!(e, SqliteStoreError::AtRest(AtRestError::Rejected)),
        "{e}"
    );
    // Every other row was migrated: the late message still decrypts.
    let mut bob = bob;
    let alice = Address::new("alice", 1);
    let late = keylink::decrypt(&mut bob, &alice, SCHEMA_1_LATE, &mut rng()).unwrap();
    assert_eq!(late, LATE_TEXT);
}

#[test]
fn a_schema_2_file_without_the_application_id_is_refused() {
    let db = TempDb::new("schema-2-no-id");
    let key = StorageKey::from_bytes([5; 32]);
    drop(SqliteStore::open(&db.0, &key).unwrap());
    rusqlite::Connection::open(&db.0)
        .unwrap()
        .pragma_update(None, "application_id", 0)
        .unwrap();
    let e = SqliteStore::open(&db.0, &key).unwrap_err();
    assert!(matches!(e, SqliteStoreError::NotKeylink), "{e}");
}
