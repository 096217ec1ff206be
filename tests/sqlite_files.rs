//! `SqliteStore`'s files (PROTOCOL.md §8.1 and §8.2). A copied database, without the storage
//! key, shows no secret byte and no contact name: the files (database, WAL, shared memory) are
//! searched for every secret the store holds, and held at earlier points of the conversation,
//! and for every contact's name, phone number and account key. Bad files (truncated, corrupted, not
//! keylink's, from a newer keylink, empty, a directory) give a clear error, never a panic,
//! and are left byte for byte as they were, with no journal left beside them.
#![cfg(test)]
#![cfg(feature = "sqlite")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::{Device, FIRST_OTPK, proto, rng, stored_bundle, verified};
use keylink::account::{AccountKey, AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList};
use keylink::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, SignedPreKey};
use keylink::session::{SessionId, SkippedKeyId};
use keylink::store::at_rest::{AtRestError, Sealer, StorageKey};
use keylink::store::{Address, ProtocolStore, SqliteStore, SqliteStoreError};

// ---- Searching files -----------------------------------------------------------------------

/// Byte strings that must not be in a file (each at least 16 bytes), with what they are.
#[derive(Default)]
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, bytes: &[u8]) {
        let what = what.into();
        assert!(bytes.len() >= 16, "{what}: {} bytes", bytes.len());
        if !self.0.iter().any(|(_, known)| known == bytes) {
            self.0.push((what, bytes.to_vec()));
        }
    }

    /// A 32-byte secret.
    fn add_key(&mut self, what: impl Into<String>, bytes: &[u8]) {
        let what = what.into();
        assert_eq!(bytes.len(), 32, "{what}");
        self.add(what, bytes);
    }

    /// A header key as a session row keeps it: `hk_enc || hk_nonce` (64 bytes), both halves
    /// secret.
    fn add_header_key(&mut self, what: String, bytes: &[u8]) {
        assert_eq!(bytes.len(), 64, "{what}");
        self.add_key(format!("{what} (hk_enc)"), &bytes[..32]);
        self.add_key(format!("{what} (hk_nonce)"), &bytes[32..]);
        self.add(what, bytes);
    }

    /// The secrets of an ML-KEM-1024 decapsulation key `dk = dk_PKE (1536 bytes) || ek (1568)
    /// || H(ek) (32) || z (32)` (FIPS 203): all of it, each 32-byte piece of `dk_PKE`, and `z`.
    fn add_kem(&mut self, what: &str, dk: &[u8], ek: &[u8]) {
        assert_eq!(dk.len(), 3168, "{what}");
        assert_eq!(&dk[1536..3104], ek, "{what}: not the FIPS 203 layout");
        self.add(format!("{what}, whole"), dk);
        for (i, piece) in dk[..1536].chunks(32).enumerate() {
            self.add_key(
                format!("{what}, dk_PKE bytes {}..{}", i * 32, i * 32 + 32),
                piece,
            );
        }
        self.add_key(format!("{what}, z"), &dk[3136..]);
    }
}

/// Every place in `hay` where a secret, or its first 16 bytes, occurs. One pass over `hay`,
/// looking up each 16-byte window among the secrets' first 16 bytes.
fn occurrences(file: &str, hay: &[u8], secrets: &Secrets) -> Vec<String> {
    let mut by_prefix: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, (_, bytes)) in secrets.0.iter().enumerate() {
        by_prefix.entry(&bytes[..16]).or_default().push(i);
    }
    let mut found = BTreeSet::new();
    for (at, window) in hay.windows(16).enumerate() {
        for &i in by_prefix.get(window).into_iter().flatten() {
            let (what, bytes) = &secrets.0[i];
            let how = match hay[at..].starts_with(bytes) {
                true => format!("all {} bytes", bytes.len()),
                false => "its first 16 bytes".to_string(),
            };
            found.insert(format!("{what} ({how}) in {file} at byte {at}"));
        }
    }
    found.into_iter().collect()
}

/// Whether `needle` (any length) occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `path` with `suffix` appended (`-wal`, `-shm`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database file and, where they exist, its `-wal` and `-shm` files: what a copy of the
/// app's data directory would hold.
fn files_of(path: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .into_iter()
        .filter_map(|suffix| {
            let file = with_suffix(path, suffix);
            let bytes = std::fs::read(&file).ok()?;
            Some((file.file_name()?.to_string_lossy().into_owned(), bytes))
        })
        .collect()
}

// ---- A realistic store and its secrets -----------------------------------------------------

/// The secrets of a session, from its plaintext row (`Session::to_bytes`, decoded with the
/// mirror of the record in `tests/common/proto.rs`).
fn add_session(secrets: &mut Secrets, what: &str, row: &[u8]) {
    let s: proto::Session = proto::decode(row);
    secrets.add_key(format!("{what}: root key"), &s.root_key);
    for (name, chain) in [
        ("sending", &s.sending_chain),
        ("receiving", &s.receiving_chain),
    ] {
        let Some(chain) = chain else { continue };
        secrets.add_key(format!("{what}: {name} chain key"), &chain.chain_key);
        if !chain.header_key.is_empty() {
            secrets.add_header_key(format!("{what}: {name} header key"), &chain.header_key);
        }
        if !chain.ratchet_private.is_empty() {
            let ratchet = &chain.ratchet_private;
            secrets.add_key(format!("{what}: {name} ratchet private key"), ratchet);
        }
    }
    for (name, key) in [
        ("send header key", &s.send_header_key),
        ("next send header key", &s.next_send_header_key),
        ("next receive header key", &s.next_receive_header_key),
    ] {
        if !key.is_empty() {
            secrets.add_header_key(format!("{what}: {name}"), key);
        }
    }
    for chain in &s.skipped_chains {
        let header_key = &chain.header_key;
        let name = format!("{what}: header key of skipped chain {}", chain.number);
        secrets.add_header_key(name, header_key);
    }
}

/// Every secret of the sessions `store` keeps for `peers`, and their skipped message keys
/// (whose ids are read from the file: they are row keys, not secret).
fn add_sessions(secrets: &mut Secrets, store: &SqliteStore, path: &Path, peers: &[Address]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut rows = conn
        .prepare("SELECT chain, counter FROM skipped_keys WHERE session = ?1")
        .unwrap();
    for peer in peers {
        let Some(index) = store.session_index(peer).unwrap() else {
            continue;
        };
        for id in index.sessions() {
            let session = store.session(peer, id).unwrap().unwrap();
            let what = format!("session {} with {peer}", common::hex(&id.as_bytes()[..4]));
            add_session(secrets, &what, &session.to_bytes());
            let ids: Vec<(i64, u32)> = rows
                .query_map([id.as_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for (chain, counter) in ids {
                let key_id = SkippedKeyId {
                    session: *id,
                    chain: chain as u64,
                    counter,
                };
                let key = store.skipped_message_key(peer, &key_id).unwrap().unwrap();
                let name = format!("{what}: skipped message key {chain}/{counter}");
                secrets.add_key(name, key.to_bytes().as_slice());
            }
        }
    }
}

/// `name("address", u32be(len user) || user || u32be(device))` (§8.2): the row key standing
/// for `address`, in the clear in the file.
fn address_hash(key: &StorageKey, address: &Address) -> [u8; 32] {
    let user = address.user().as_bytes();
    let mut name = (user.len() as u32).to_be_bytes().to_vec();
    name.extend_from_slice(user);
    name.extend_from_slice(&address.device().get().to_be_bytes());
    Sealer::new(key).name("address", &name)
}

fn count(path: &Path, table: &str) -> u32 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let sql = format!("SELECT count(*) FROM {table}");
    conn.query_row(&sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_copied_database_shows_no_secret_and_no_contact_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let key = StorageKey::generate(&mut rng());
    let mut secrets = Secrets::default();
    secrets.add_key("the storage key", key.to_bytes().as_slice());
    // The keys it derives (§8.1), recomputed (the check value, in the file, shows how):
    // `SqliteStore` keeps them in memory only.
    let derive = |info: &str| {
        let mut derived = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0; 32]), key.to_bytes().as_slice())
            .expand(info.as_bytes(), &mut derived)
            .unwrap();
        derived
    };
    assert_eq!(
        derive("keylink v1 storage check"),
        Sealer::new(&key).key_check()
    );
    secrets.add_key("K_seal", &derive("keylink v1 storage seal"));
    secrets.add_key("K_name", &derive("keylink v1 storage name"));

    // Alice's keys, and their secrets as their records (`to_bytes`) hold them.
    let mut r = rng();
    let identity = IdentityKeyPair::generate(&mut r);
    let signed = SignedPreKey::generate(1, &identity, &mut r);
    let one_time = OneTimePreKey::generate_batch(1, 10, &mut r);
    let mut kem = KemPreKey::generate_batch(1, 5, &identity, &mut r);
    kem.push(KemPreKey::generate_last_resort(100, &identity, &mut r));
    let seed = proto::decode::<proto::IdentityRecord>(&identity.to_bytes()).seed;
    secrets.add_key("identity seed", &seed);
    let record: proto::PreKeyRecord = proto::decode(&signed.to_bytes());
    secrets.add_key("signed prekey 1", &record.private_key);
    for k in &one_time {
        let record: proto::PreKeyRecord = proto::decode(&k.to_bytes());
        secrets.add_key(format!("one-time prekey {}", k.id()), &record.private_key);
    }
    for k in &kem {
        let record: proto::KemPreKeyRecord = proto::decode(&k.to_bytes());
        let what = format!("KEM prekey {}", k.id());
        secrets.add_kem(&what, &record.private_key, k.public().as_bytes());
    }
    let mut alice = SqliteStore::open(&path, &key).unwrap();
    alice.set_local_identity(&identity).unwrap();
    alice.add_signed_prekey(&signed).unwrap();
    alice.add_one_time_prekeys(&one_time).unwrap();
    alice.add_kem_prekeys(&kem).unwrap();
    let me = Address::new("alice-owner-of-the-store", 1);

    // Her contacts, with names that are easy to find (their stores are in memory).
    let mut zeb = Device::new("zebediah.quux@example.org", 4);
    // A user part that holds a number but is not in E.164 form: outside accounts, so no
    // device list is needed to talk to it (PROTOCOL.md §11.7).
    let mut phone = Device::new("tel:+4915112345678", 2);
    let marg = Device::new("Marguerite Okonkwo-Abernathy", 3);
    let peers = [zeb.addr.clone(), phone.addr.clone(), marg.addr.clone()];
    let mut plaintexts = Vec::new();
    let mut text = |s: &str| {
        let t = format!("plaintext that must not be stored: {s}").into_bytes();
        plaintexts.push(t.clone());
        t
    };

    // 1. Alice starts a session with Zebediah; his four replies arrive 4th first, then 2nd:
    // two skipped keys stay.
    let bundle = zeb.bundle(Some(FIRST_OTPK));
    keylink::start_session(&mut alice, &zeb.addr, &bundle, &mut rng()).unwrap();
    let m = keylink::encrypt(&mut alice, &zeb.addr, &text("hello zeb")).unwrap();
    zeb.recv_ok(&me, &m.to_bytes(), &text("hello zeb"));
    let replies: Vec<_> = (0..4)
        .map(|i| zeb.send_bytes(&me, &text(&format!("zeb {i}"))))
        .collect();
    for i in [3, 1] {
        let p = keylink::decrypt(&mut alice, &zeb.addr, &replies[i], &mut rng()).unwrap();
        assert_eq!(p, text(&format!("zeb {i}")));
    }
    add_sessions(&mut secrets, &alice, &path, &peers);

    // 2. The phone number starts a session with Alice from her bundle (one-time prekey 3, KEM
    // prekey 2); of its five PreKey messages the last arrives first, then the first: three
    // skipped keys stay. Alice replies.
    let bundle = stored_bundle(&alice, 1, 1, Some(3), 2).to_bytes();
    keylink::start_session(&mut phone.store, &me, &verified(&bundle), &mut rng()).unwrap();
    let from_phone: Vec<_> = (0..5)
        .map(|i| phone.send_bytes(&me, &text(&format!("phone {i}"))))
        .collect();
    for i in [4, 0] {
        let p = keylink::decrypt(&mut alice, &phone.addr, &from_phone[i], &mut rng()).unwrap();
        assert_eq!(p, text(&format!("phone {i}")));
    }
    let reply = keylink::encrypt(&mut alice, &phone.addr, &text("hi phone")).unwrap();
    phone.recv_ok(&me, &reply.to_bytes(), &text("hi phone"));
    let more = phone.send_bytes(&me, &text("phone 5"));
    keylink::decrypt(&mut alice, &phone.addr, &more, &mut rng()).unwrap();
    add_sessions(&mut secrets, &alice, &path, &peers);

    // 3. Alice writes to Marguerite, who has not answered yet (a pending session).
    let bundle = marg.bundle(None);
    keylink::start_session(&mut alice, &marg.addr, &bundle, &mut rng()).unwrap();
    for i in 0..2 {
        keylink::encrypt(&mut alice, &marg.addr, &text(&format!("marg {i}"))).unwrap();
    }
    add_sessions(&mut secrets, &alice, &path, &peers);

    // 4. Alice starts a new session with Zebediah: the first one is archived with its skipped
    // keys; a late reply on it still decrypts.
    let bundle = zeb.bundle(None);
    keylink::start_session(&mut alice, &zeb.addr, &bundle, &mut rng()).unwrap();
    let m = keylink::encrypt(&mut alice, &zeb.addr, &text("new session")).unwrap();
    zeb.recv_ok(&me, &m.to_bytes(), &text("new session"));
    let p = keylink::decrypt(&mut alice, &zeb.addr, &replies[2], &mut rng()).unwrap();
    assert_eq!(p, text("zeb 2"));
    add_sessions(&mut secrets, &alice, &path, &peers);
    let index = alice.session_index(&zeb.addr).unwrap().unwrap();
    assert_eq!(index.archived().len(), 1, "no archived session");

    // 5. Alice remembers her contacts' account keys by phone number; one of them changes
    // its account key, and Alice accepts the new one.
    let accounts: Vec<(PhoneNumber, AccountKey)> = ["+4915112345678", "+447700900123"]
        .into_iter()
        .map(|typed| {
            let key = *AccountKeyPair::generate(&mut rng()).public();
            (PhoneNumber::parse(typed).unwrap(), key)
        })
        .collect();
    for (number, account) in &accounts {
        let trust = keylink::check_account(&mut alice, number, account).unwrap();
        assert_eq!(trust, keylink::AccountTrust::FirstUse);
    }
    let changed = *AccountKeyPair::generate(&mut rng()).public();
    keylink::accept_account(&mut alice, &accounts[1].0, &changed).unwrap();
    assert_eq!(alice.peer_account(&accounts[1].0).unwrap(), Some(changed));

    // 6. Alice accepts a third contact's device list: its number, account key and device
    // identity key must not be readable in the files either.
    let (list_account, list_device) = (
        AccountKeyPair::generate(&mut rng()),
        IdentityKeyPair::generate(&mut rng()),
    );
    let list_phone = PhoneNumber::parse("+33612345678").unwrap();
    let at = keylink::Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&list_account, &list_device, at);
    let list = SignedDeviceList::issue(&list_account, &list_phone, 1, at, vec![entry]).unwrap();
    keylink::accept_device_list(&mut alice, &list_phone, list).unwrap();
    let accounts: Vec<(PhoneNumber, AccountKey)> = accounts
        .into_iter()
        .chain([(list_phone, *list_account.public())])
        .collect();

    // The store is what it should be: every kind of row is there.
    for (table, rows) in [
        ("identity", 1),
        ("signed_prekeys", 1),
        ("one_time_prekeys", 9),
        ("kem_prekeys", 5),
        // Three contacts, and the device the accepted list names (its identity remembered).
        ("peers", 4),
        ("session_index", 3),
        ("sessions", 4),
        ("used_base_keys", 1),
        ("skipped_keys", 4),
        ("peer_accounts", 3),
        ("device_lists", 1),
    ] {
        assert_eq!(count(&path, table), rows, "rows of {table}");
    }
    let mut session_ids: Vec<(Address, SessionId)> = Vec::new();
    for peer in &peers {
        let index = alice.session_index(peer).unwrap().unwrap();
        session_ids.extend(index.sessions().map(|id| (peer.clone(), *id)));
    }

    // A copy taken while the app runs (database, WAL and shared memory), and one after it
    // closed the store.
    let live = files_of(&path);
    assert!(live.len() >= 2, "no WAL while the store is open");
    drop(alice);
    let closed = files_of(&path);
    let files: Vec<_> = live
        .iter()
        .map(|(name, bytes)| (format!("{name} (store open)"), bytes))
        .chain(
            closed
                .iter()
                .map(|(name, bytes)| (format!("{name} (store closed)"), bytes)),
        )
        .collect();

    let contacts: Vec<(String, IdentityKeyPair)> = [&zeb, &phone, &marg]
        .into_iter()
        .map(|d| (d.addr.user().to_string(), d.identity.clone()))
        .collect();
    let mut names: Vec<Vec<u8>> = Vec::new();
    for address in peers.iter().chain([&me]) {
        names.push(address.user().as_bytes().to_vec());
        names.push(address.to_string().into_bytes());
    }
    names.push(b"4915112345678".to_vec());
    names.push(b"zebediah".to_vec());
    names.push(b"Okonkwo".to_vec());
    // The phone numbers of the remembered accounts, as E.164 text and as digits, and the
    // account keys (public, but they tell whom the user knows).
    for (number, _) in &accounts {
        names.push(number.as_str().as_bytes().to_vec());
        names.push(number.as_str().as_bytes()[1..].to_vec());
    }
    let mut account_keys: Vec<(String, AccountKey)> = accounts
        .iter()
        .map(|(number, key)| (format!("the account key of {number}"), *key))
        .collect();
    account_keys.push(("the changed account key".to_string(), changed));
    let device_key = AccountKey::from_bytes(list_device.public().as_bytes()).unwrap();
    account_keys.push((
        "a device identity key from a device list".to_string(),
        device_key,
    ));
    let mut found = Vec::new();
    for (file, bytes) in &files {
        found.extend(occurrences(file, bytes, &secrets));
        for name in &names {
            if contains(bytes, name) {
                found.push(format!("{:?} in {file}", String::from_utf8_lossy(name)));
            }
        }
        for (user, identity) in &contacts {
            if contains(bytes, identity.public().as_bytes()) {
                found.push(format!("the identity key of {user} in {file}"));
            }
        }
        for (what, account) in &account_keys {
            if contains(bytes, account.as_bytes()) {
                found.push(format!("{what} in {file}"));
            }
        }
        for plaintext in &plaintexts {
            if contains(bytes, plaintext) {
                found.push(format!("a message's plaintext in {file}"));
            }
        }
    }
    assert!(found.is_empty(), "in the clear:\n{}", found.join("\n"));
    println!(
        "searched {} files ({} bytes) for {} secrets and {} names",
        files.len(),
        files.iter().map(|(_, b)| b.len()).sum::<usize>(),
        secrets.0.len(),
        names.len()
    );

    // The search finds what is in the clear: the key check value, the keyed hashes of the
    // addresses and of the phone numbers, and the session ids (base keys), all 32 bytes.
    let (_, db) = &closed[0];
    let mut public = Secrets::default();
    public.add_key("key check value", &Sealer::new(&key).key_check());
    for peer in &peers {
        public.add_key(format!("hash of {peer}"), &address_hash(&key, peer));
    }
    for (number, _) in &accounts {
        let hash = Sealer::new(&key).name("phone", number.as_str().as_bytes());
        public.add_key(format!("hash of {number}"), &hash);
    }
    for (peer, id) in &session_ids {
        let what = format!("the id of a session with {peer}");
        public.add_key(what, id.as_bytes());
    }
    let seen = occurrences("alice.db", db, &public);
    for (what, bytes) in &public.0 {
        let whole = format!("{what} (all {} bytes)", bytes.len());
        assert!(
            seen.iter().any(|s| s.starts_with(&whole)),
            "{what} not found"
        );
    }

    // And it finds secrets in a copy that holds them unsealed: a session row and the identity
    // record written as plain blobs.
    let leaky = dir.path().join("leaky.db");
    std::fs::copy(&path, &leaky).unwrap();
    let store = SqliteStore::open(&path, &key).unwrap();
    let (peer, id) = &session_ids[0];
    let session = store.session(peer, id).unwrap().unwrap();
    {
        let conn = rusqlite::Connection::open(&leaky).unwrap();
        conn.execute_batch("CREATE TABLE leak (value BLOB)")
            .unwrap();
        for value in [identity.to_bytes().to_vec(), session.to_bytes().to_vec()] {
            conn.execute("INSERT INTO leak (value) VALUES (?1)", [value])
                .unwrap();
        }
    }
    let leaked: Vec<String> = files_of(&leaky)
        .iter()
        .flat_map(|(file, bytes)| occurrences(file, bytes, &secrets))
        .collect();
    assert!(
        leaked
            .iter()
            .any(|s| s.starts_with("identity seed (all 32 bytes)"))
    );
    assert!(leaked.iter().any(|s| s.contains("root key (all 32 bytes)")));
}

// ---- Bad files -----------------------------------------------------------------------------

/// A keylink store in a file of its own directory: identity, signed prekey 1, one-time
/// prekeys 1..=5, KEM prekeys 1..=5 and last resort 100, a session with Bob holding two
/// skipped keys. Closed, so the file is complete (no `-wal` left).
struct KeylinkFile {
    dir: tempfile::TempDir,
    path: PathBuf,
    key: StorageKey,
    bob: Address,
    session: SessionId,
    skipped: Vec<SkippedKeyId>,
}

/// What [`read_everything`] counts in an intact [`KeylinkFile`].
const ROWS: usize = 1 + 1 + 5 + 6 + 1 + 1 + 1 + 2;

fn keylink_file() -> KeylinkFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let key = StorageKey::generate(&mut rng());
    let mut r = rng();
    let identity = IdentityKeyPair::generate(&mut r);
    let mut store = SqliteStore::open(&path, &key).unwrap();
    store.set_local_identity(&identity).unwrap();
    let signed = SignedPreKey::generate(1, &identity, &mut r);
    store.add_signed_prekey(&signed).unwrap();
    let one_time = OneTimePreKey::generate_batch(1, 5, &mut r);
    store.add_one_time_prekeys(&one_time).unwrap();
    let mut kem = KemPreKey::generate_batch(1, 5, &identity, &mut r);
    kem.push(KemPreKey::generate_last_resort(100, &identity, &mut r));
    store.add_kem_prekeys(&kem).unwrap();
    let me = Address::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    keylink::start_session(&mut store, &bob.addr, &bob.bundle(None), &mut rng()).unwrap();
    let m = keylink::encrypt(&mut store, &bob.addr, b"hi").unwrap();
    bob.recv_ok(&me, &m.to_bytes(), b"hi");
    let replies: Vec<_> = (0..3u8).map(|i| bob.send_bytes(&me, &[i])).collect();
    keylink::decrypt(&mut store, &bob.addr, &replies[2], &mut rng()).unwrap();
    let index = store.session_index(&bob.addr).unwrap().unwrap();
    let session = *index.current().unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let skipped = conn
        .prepare("SELECT chain, counter FROM skipped_keys")
        .unwrap()
        .query_map([], |r| {
            Ok(SkippedKeyId {
                session,
                chain: r.get::<_, i64>(0)? as u64,
                counter: r.get(1)?,
            })
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    drop(conn);
    let file = KeylinkFile {
        dir,
        path,
        key,
        bob: bob.addr,
        session,
        skipped,
    };
    assert_eq!(file.skipped.len(), 2);
    assert_eq!(listing(file.dir.path()).len(), 1, "a journal is left");
    let store = file.open().unwrap();
    assert_eq!(read_everything(&store, &file).unwrap(), ROWS);
    drop(store);
    file
}

impl KeylinkFile {
    fn open(&self) -> Result<SqliteStore, SqliteStoreError> {
        SqliteStore::open(&self.path, &self.key)
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }

    fn write(&self, bytes: &[u8]) {
        std::fs::write(&self.path, bytes).unwrap();
    }

    /// The page size and the pages of `table`'s b-tree that hold rows (its leaves).
    fn leaf_pages(&self, table: &str) -> (usize, Vec<usize>) {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let page_size: usize = conn
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
            .unwrap() as usize;
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        drop(conn);
        let bytes = self.bytes();
        // Walk the b-tree from its root: interior pages (type 5) name their children.
        let mut leaves = Vec::new();
        let mut todo = vec![root as usize];
        while let Some(page) = todo.pop() {
            let start = (page - 1) * page_size;
            let header = if page == 1 { start + 100 } else { start };
            match bytes[header] {
                13 => leaves.push(page),
                5 => {
                    let cells = u16::from_be_bytes([bytes[header + 3], bytes[header + 4]]);
                    for c in 0..usize::from(cells) {
                        let at = header + 12 + 2 * c;
                        let cell =
                            start + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
                        todo.push(
                            u32::from_be_bytes(bytes[cell..cell + 4].try_into().unwrap()) as usize,
                        );
                    }
                    let right = &bytes[header + 8..header + 12];
                    todo.push(u32::from_be_bytes(right.try_into().unwrap()) as usize);
                }
                other => panic!("page {page} of {table} has type {other}"),
            }
        }
        (page_size, leaves)
    }
}

/// Read every row of a [`KeylinkFile`] through the store, counting what is there.
fn read_everything(store: &SqliteStore, file: &KeylinkFile) -> Result<usize, SqliteStoreError> {
    let mut found = usize::from(store.local_identity()?.is_some());
    found += usize::from(store.signed_prekey(1.into())?.is_some());
    for id in 1..=5 {
        found += usize::from(store.one_time_prekey(id.into())?.is_some());
    }
    for id in [1, 2, 3, 4, 5, 100] {
        found += usize::from(store.kem_prekey(id.into())?.is_some());
    }
    found += usize::from(store.peer_identity(&file.bob)?.is_some());
    found += usize::from(store.session_index(&file.bob)?.is_some());
    found += usize::from(store.session(&file.bob, &file.session)?.is_some());
    for id in &file.skipped {
        found += usize::from(store.skipped_message_key(&file.bob, id)?.is_some());
    }
    Ok(found)
}

/// The files in `dir` (name and bytes; a directory as `None`).
fn listing(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            (
                name,
                (!path.is_dir()).then(|| std::fs::read(&path).unwrap()),
            )
        })
        .collect()
}

/// Open `path` (in `dir`), which must be refused; check that nothing in `dir` changed, no
/// journal was left beside it, and that the error says something. Returns the error.
fn refused(dir: &Path, path: &Path, key: &StorageKey) -> SqliteStoreError {
    let before = listing(dir);
    let e = match SqliteStore::open(path, key) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => e,
    };
    let after = listing(dir);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "files appeared or went ({e})"
    );
    assert!(after == before, "a file changed ({e})");
    let message = e.to_string();
    assert!(message.len() > 20, "{message:?}");
    println!("{}: {message}", path.display());
    e
}

/// SQLite's own error code of `e`, if it is one.
fn sqlite_code(e: &SqliteStoreError) -> Option<rusqlite::ErrorCode> {
    match e {
        SqliteStoreError::Sqlite(e) => e.sqlite_error_code(),
        _ => None,
    }
}

/// "Damaged", with SQLite's reason or the length check's, and what to do.
fn is_corrupt(e: &SqliteStoreError) -> bool {
    let message = e.to_string();
    matches!(e, SqliteStoreError::Damaged(_))
        && ["malformed", "not a database", "cut short"]
            .iter()
            .any(|reason| message.contains(reason))
        && message.contains("restore it from a backup")
}

#[test]
fn a_truncated_file_is_refused_and_left_alone() {
    let file = keylink_file();
    let whole = file.bytes();
    let page = 4096;
    assert_eq!(whole.len() % page, 0);
    // Half of it (whole pages), a length that is not a whole number of pages, and less than
    // SQLite's 100-byte header.
    for len in [
        whole.len() / 2 / page * page,
        whole.len() / 2 + 1234,
        99,
        50,
        16,
        10,
    ] {
        file.write(&whole[..len]);
        let e = refused(file.dir.path(), &file.path, &file.key);
        assert!(is_corrupt(&e), "{len} bytes: {e:?}");
    }
}

#[test]
fn a_file_cut_inside_its_last_page_is_refused_at_open() {
    // SQLite counts a partly missing last page as there and reads its missing end as zeros:
    // cut to the page's first 96 bytes, the last-resort KEM prekey's cell (a 3.3 kB row at the
    // page's end) would read as a row with rowid 0, and the key as absent, with no error. A
    // file that is not a whole number of pages is refused at open instead.
    let file = keylink_file();
    let whole = file.bytes();
    let (page_size, leaves) = file.leaf_pages("kem_prekeys");
    assert!(leaves.contains(&(whole.len() / page_size)), "{leaves:?}");
    for cut in [1, 100, 1000, 3000, 4000, 4095] {
        file.write(&whole[..whole.len() - cut]);
        let e = refused(file.dir.path(), &file.path, &file.key);
        assert!(is_corrupt(&e), "cut {cut}: {e:?}");
        assert!(e.to_string().contains("cut short"), "{e}");
    }
    // Cut by exactly its last page, the file is whole pages again, and SQLite finds it
    // shorter than its header says.
    file.write(&whole[..whole.len() - page_size]);
    let read = file.open().and_then(|store| read_everything(&store, &file));
    assert!(read.is_err(), "{read:?}");
}

#[test]
fn a_corrupted_header_is_refused_and_left_alone() {
    let file = keylink_file();
    let whole = file.bytes();
    // The magic string "SQLite format 3\0", and the page size (offset 16, a power of two).
    for (at, value) in [
        (0usize, b'X'),
        (7, b'x'),
        (15, 0xFF),
        (16, 0x03),
        (17, 0x01),
    ] {
        let mut bytes = whole.clone();
        bytes[at] = value;
        file.write(&bytes);
        let e = refused(file.dir.path(), &file.path, &file.key);
        assert!(is_corrupt(&e), "byte {at}: {e:?}");
    }
}

#[test]
fn a_header_that_forbids_writing_is_refused_at_open() {
    // Byte 18, SQLite's "file format write version", above 2: SQLite can only read the file.
    let file = keylink_file();
    let mut bytes = file.bytes();
    bytes[18] = 3;
    file.write(&bytes);
    let e = refused(file.dir.path(), &file.path, &file.key);
    assert!(matches!(e, SqliteStoreError::ReadOnly), "{e:?}");
    assert!(e.to_string().contains("make it writable"), "{e}");
}

#[test]
fn a_corrupted_schema_page_is_refused_at_open() {
    // Page 1 holds the table of tables: a bad b-tree header there fails the first query.
    let file = keylink_file();
    let mut bytes = file.bytes();
    bytes[100] = 0xFF;
    file.write(&bytes);
    let e = refused(file.dir.path(), &file.path, &file.key);
    assert!(is_corrupt(&e), "{e:?}");
}

#[test]
fn a_corrupted_data_page_fails_when_it_is_read() {
    // The middle of a page holding a KEM prekey (one 3.3 kB row per page) is inside its
    // sealed value: the store opens, and reading that key is refused (the value does not
    // authenticate) while the others read fine.
    let file = keylink_file();
    let (page_size, leaves) = file.leaf_pages("kem_prekeys");
    assert!(leaves.len() >= 6, "{leaves:?}");
    let whole = file.bytes();
    let page = leaves[0];
    let mut bytes = whole.clone();
    let middle = (page - 1) * page_size + page_size / 2;
    for b in &mut bytes[middle..middle + 8] {
        *b ^= 0x55;
    }
    file.write(&bytes);
    let before = listing(file.dir.path());
    let store = file.open().unwrap();
    let mut refused_ids = Vec::new();
    for id in [1, 2, 3, 4, 5, 100] {
        match store.kem_prekey(id.into()) {
            Ok(key) => assert!(key.is_some()),
            Err(e) => {
                assert!(
                    matches!(e, SqliteStoreError::AtRest(AtRestError::Rejected)),
                    "{e:?}"
                );
                assert!(e.to_string().contains("damaged or tampered"), "{e}");
                refused_ids.push(id);
            }
        }
    }
    assert_eq!(refused_ids.len(), 1, "{refused_ids:?}");
    assert!(read_everything(&store, &file).is_err());
    drop(store);
    assert!(listing(file.dir.path()) == before, "the directory changed");

    // The b-tree header of a page holding rows (its page type): SQLite finds the page
    // malformed when it is read. Opening reads only the schema and the key check.
    let (_, leaves) = file.leaf_pages("identity");
    let mut bytes = whole.clone();
    bytes[(leaves[0] - 1) * page_size] = 0xFF;
    file.write(&bytes);
    let before = listing(file.dir.path());
    let store = file.open().unwrap();
    let e = store.local_identity().unwrap_err();
    assert!(is_corrupt(&e), "{e:?}");
    println!("identity page: {e}");
    drop(store);
    assert!(listing(file.dir.path()) == before, "the directory changed");
}

#[test]
fn a_foreign_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = StorageKey::generate(&mut rng());
    // Another app's database (rollback journal, and WAL), with user_version 0, 1 (as many
    // apps number their first schema) and 7.
    for (name, wal, version) in [
        ("notes.db", false, 0),
        ("notes-wal.db", true, 0),
        ("notes-v1.db", false, 1),
        ("notes-v7.db", true, 7),
    ] {
        let path = dir.path().join(name);
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            if wal {
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            }
            conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('x')")
                .unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        // Whatever its version: 1 is keylink's too but the file has no key check table, and
        // a version above keylink's is "newer" only with keylink's application id.
        let e = refused(dir.path(), &path, &key);
        assert!(
            matches!(e, SqliteStoreError::NotKeylink),
            "{version}: {e:?}"
        );
    }
    // Another application's id, even with keylink's tables and version.
    let path = dir.path().join("other-app.db");
    drop(SqliteStore::open(&path, &key).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
    }
    let e = refused(dir.path(), &path, &key);
    assert!(matches!(e, SqliteStoreError::NotKeylink), "{e:?}");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let file = keylink_file();
    {
        let conn = rusqlite::Connection::open(&file.path).unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
    }
    assert_eq!(listing(file.dir.path()).len(), 1);
    let e = refused(file.dir.path(), &file.path, &file.key);
    assert!(
        matches!(
            e,
            SqliteStoreError::NewerSchema {
                found: 5,
                supported: 4
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("newer keylink"), "{e}");
}

#[test]
fn a_wrong_storage_key_leaves_the_file_alone() {
    let file = keylink_file();
    let other = StorageKey::generate(&mut rng());
    let e = refused(file.dir.path(), &file.path, &other);
    assert!(
        matches!(e, SqliteStoreError::AtRest(AtRestError::WrongStorageKey)),
        "{e:?}"
    );
    assert_eq!(read_everything(&file.open().unwrap(), &file).unwrap(), ROWS);
}

#[test]
fn an_empty_file_becomes_a_new_store() {
    // A 0-byte file is what SQLite calls an empty database: user_version 0 and no table, so
    // the store creates its schema in it (§8.2), as in a new file. It is not refused: an app
    // may create the file itself. A store cut to 0 bytes therefore opens as a new store with
    // no identity, which the app sees (`local_identity` is `None`) and must treat as a device
    // to set up again, never silently.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let key = StorageKey::generate(&mut rng());
    let store = SqliteStore::open(&path, &key).unwrap();
    assert!(store.local_identity().unwrap().is_none());
    drop(store);
    assert!(!std::fs::read(&path).unwrap().is_empty());
    assert!(SqliteStore::open(&path, &key).is_ok());
}

#[test]
fn a_directory_is_refused_and_left_alone() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("store.db");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"a file in the directory").unwrap();
    let key = StorageKey::generate(&mut rng());
    let inside = listing(&path);
    let e = refused(parent.path(), &path, &key);
    assert!(
        matches!(sqlite_code(&e), Some(rusqlite::ErrorCode::CannotOpen)),
        "{e:?}"
    );
    assert!(e.to_string().contains("unable to open"), "{e}");
    assert!(listing(&path) == inside, "the directory's files changed");
}
