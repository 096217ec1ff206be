//! `SqliteStore` (feature `sqlite`, issue 11 in progress): a conversation through two stores
//! in files, kept across reopening; history that costs rows, not whole records; and the
//! files: sealed at rest, a wrong storage key, a newer schema and foreign files refused.
#![cfg(test)]
#![cfg(feature = "sqlite")]

mod common;

use common::rng;
use common::sqlite::{TempDb, device};
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
    let bundle = bob
        .bundle(1, 1, Some(1.into()), 1)
        .unwrap()
        .verify()
        .unwrap();
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
    let bundle = bob.bundle(1, 1, None, 100).unwrap().verify().unwrap();
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
    let bundle = bob.bundle(7, 1, Some(2.into()), 2).unwrap();
    let bundle = bundle.verify().unwrap();
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
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let e = SqliteStore::open(&newer.0, &key).unwrap_err();
    assert!(
        matches!(
            e,
            SqliteStoreError::NewerSchema {
                found: 2,
                supported: 1
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

/// A database written by schema 1 (`tests/sqlite/schema-1.db`, made by the generator below)
/// and a message from Alice that arrived late (`tests/sqlite/schema-1-late.bin`).
const SCHEMA_1_DB: &[u8] = include_bytes!("sqlite/schema-1.db");
const SCHEMA_1_LATE: &[u8] = include_bytes!("sqlite/schema-1-late.bin");
/// The storage key of that database (a test key, nothing else uses it).
const SCHEMA_1_KEY: [u8; 32] = [0x42; 32];

#[test]
fn a_schema_1_database_opens_and_works() {
    let db = TempDb::new("schema-1");
    std::fs::write(&db.0, SCHEMA_1_DB).unwrap();
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    let application_id = |path: &std::path::Path| -> i32 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap()
    };
    // Written before keylink set its application id: it gets it at its first open.
    assert_eq!(application_id(&db.0), 0);
    let mut bob = SqliteStore::open(&db.0, &key).unwrap();
    assert_eq!(application_id(&db.0), 0x6B6C_6B31);
    let alice = Address::new("alice", 1);
    let late = keylink::decrypt(&mut bob, &alice, SCHEMA_1_LATE, &mut rng()).unwrap();
    assert_eq!(late, b"late, from schema 1");
    let again = keylink::decrypt(&mut bob, &alice, SCHEMA_1_LATE, &mut rng()).unwrap_err();
    assert!(matches!(again, Error::DuplicateMessage));
    keylink::encrypt(&mut bob, &alice, b"reply").unwrap();
    assert!(bob.signed_prekey(1.into()).unwrap().is_some());
}

#[test]
#[ignore = "writes tests/sqlite/schema-1.db and schema-1-late.bin"]
fn generate_schema_1_database() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sqlite");
    std::fs::create_dir_all(dir).unwrap();
    let (a_db, b_db) = (TempDb::new("gen-alice"), TempDb::new("gen-bob"));
    let key = StorageKey::from_bytes(SCHEMA_1_KEY);
    let (alice_addr, bob_addr) = (Address::new("alice", 1), Address::new("bob", 1));
    let (mut alice, _) = device(&a_db.0, &StorageKey::generate(&mut rng()));
    let (mut bob, _) = device(&b_db.0, &key);
    let bundle = bob
        .bundle(1, 1, Some(1.into()), 1)
        .unwrap()
        .verify()
        .unwrap();
    keylink::start_session(&mut alice, &bob_addr, &bundle, &mut rng()).unwrap();
    let first = keylink::encrypt(&mut alice, &bob_addr, b"first")
        .unwrap()
        .to_bytes();
    let late = keylink::encrypt(&mut alice, &bob_addr, b"late, from schema 1");
    let late = late.unwrap().to_bytes();
    let third = keylink::encrypt(&mut alice, &bob_addr, b"third")
        .unwrap()
        .to_bytes();
    keylink::decrypt(&mut bob, &alice_addr, &first, &mut rng()).unwrap();
    keylink::decrypt(&mut bob, &alice_addr, &third, &mut rng()).unwrap();
    drop(bob);
    // One file, no journal left: VACUUM INTO writes a compact copy.
    let out = format!("{dir}/schema-1.db");
    let _ = std::fs::remove_file(&out);
    let conn = rusqlite::Connection::open(&b_db.0).unwrap();
    conn.execute("VACUUM INTO ?1", [&out]).unwrap();
    std::fs::write(format!("{dir}/schema-1-late.bin"), late).unwrap();
}
