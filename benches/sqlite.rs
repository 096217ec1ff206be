//! `SqliteStore` (feature `sqlite`, issue 11) beside the bare SQLite transaction each operation
//! needs and beside the same operation without SQLite, measured in the same run, so the ratios
//! hold on a noisy machine. Every database is a file in one temporary directory (removed at
//! the end), on the disk that holds the system's temp directory.
//!
//! - `sqlite/encrypt_100B/*` and `sqlite/decrypt_100B/*`: a 100 B message on an established
//!   chain (the session is confirmed both ways) through a `SqliteStore` (`full`, `normal`: its
//!   `synchronous` setting), through a `MemoryStore` (`memory`) and through the sans-IO
//!   `SessionRecord` (`sans_io`). The messages decrypted are encrypted off the clock by the
//!   peer and continue its sending chain in order: no DH step and no skipped key (checked
//!   after the run).
//! - `sqlite/bare_transaction/*`: what either operation asks of SQLite, alone, on a plain
//!   rusqlite connection to another database in the same directory with the same
//!   `synchronous`: `BEGIN IMMEDIATE`, the operation's 3 point reads (session index, session,
//!   peer identity: blobs of the sizes the store holds), `INSERT OR REPLACE` of the session
//!   row, `COMMIT`. What the operations read and commit is recorded once, off the clock, and
//!   printed (`sqlite: encrypt 100 B reads ...`), with a warning if it stops matching this.
//! - `sqlite/encrypt_100B_10000_sessions/*`: the same encrypt in a database that holds
//!   sessions with 10,000 peers.
//! - `sqlite/setup/initiator/*`: `start_session` with a new peer + its first encrypt (a
//!   PreKey message of 100 B), two commits; each iteration a new address, same verified
//!   bundle. `sqlite/setup/responder/*`: the responder's decrypt of a first PreKey message
//!   (one-time prekey and one-time KEM prekey), from a new address each time; the prekeys
//!   and messages for a batch are made off the clock (`iter_custom`).
//! - `sqlite/open/*`: `SqliteStore::open` of a file no connection has open, with 1 session
//!   and with 10,000. The file size for 10,000 sessions (main database + WAL after a
//!   checkpoint) is printed (`sqlite: 10000 sessions ...`).
//! - The migration of that database from schema 1 (PROTOCOL.md §8.2), timed once: a copy is
//!   turned back into a schema-1 file off the clock (every sealed value sealed for schema 1,
//!   `peer_accounts` dropped), then opened, which seals every value again for schema 2
//!   (`sqlite: migrating ...`). It runs once per file, so it is not a criterion row.
//!
//! A FULL commit is mostly its fsync, whose latency on a shared VM moves tenfold from one
//! second to the next, so two criterion medians taken seconds apart make a poor ratio. After
//! the criterion rows of each setting, the bench also alternates the operation and its bare
//! transaction, 10 calls each, for 15 rounds, and prints the ratio per round
//! (`sqlite: interleaved ...`): the ratios of record. Before measuring, the WAL of every
//! database is grown past its checkpoint size (`fill_wal`), so commits reuse WAL frames, as
//! in a connection that has been writing for a while, instead of appending to the file.

#![allow(clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::convert::Infallible;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BatchSize, Bencher, BenchmarkGroup, Criterion, SamplingMode};
use criterion::{criterion_group, criterion_main};
use keylink::account::{AccountKey, PhoneNumber};
use keylink::keys::{
    IdentityKey, IdentityKeyPair, KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId,
    PreKeyBundle, PublicKey, SignedPreKey, SignedPreKeyId, VerifiedBundle,
};
use keylink::rand_core::Rng;
use keylink::session::{
    Message, RatchetMessage, ResponderPreKeys, Session, SessionId, SessionIndex, SessionRecord,
    SkippedKeyId, SkippedMessageKey,
};
use keylink::store::at_rest::{Row, Sealer, StorageKey};
use keylink::store::{
    Address, Change, Changes, MemoryStore, ProtocolStore, SCHEMA_VERSION, SqliteConfig,
    SqliteStore, Synchronous,
};
use rusqlite::{Connection, TransactionBehavior, params};

const PLAINTEXT: [u8; 100] = [7u8; 100];

/// Sessions in the large database.
const SESSIONS: usize = 10_000;

const SETTINGS: [(Synchronous, &str); 2] =
    [(Synchronous::Full, "full"), (Synchronous::Normal, "normal")];

fn config(synchronous: Synchronous) -> SqliteConfig {
    SqliteConfig::default().synchronous(synchronous)
}

/// The device under test, as its peer knows it, and its peer, as it knows it.
fn dut_address() -> Address {
    Address::new("dut", 1)
}

fn peer_address() -> Address {
    Address::new("peer", 1)
}

/// A peer in a `MemoryStore` with a confirmed session with `dut`: `dut` starts it, the peer
/// decrypts its PreKey message and replies, `dut` decrypts the reply. Both then send plain
/// ratchet messages.
fn confirmed_peer<S: ProtocolStore>(dut: &mut S) -> MemoryStore {
    let mut rng = keylink::os_rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKey::generate(1, &identity, &mut rng);
    let kem = KemPreKey::generate(1, &identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &identity, &signed, None, &kem)
        .verify()
        .expect("peer bundle");
    let mut peer = MemoryStore::new(identity);
    peer.add_signed_prekey(signed);
    peer.add_kem_prekeys([kem]);
    keylink::start_session(dut, &peer_address(), &bundle, &mut rng).expect("start");
    let first = keylink::encrypt(dut, &peer_address(), b"hi")
        .expect("first")
        .to_bytes();
    keylink::decrypt(&mut peer, &dut_address(), &first, &mut rng).expect("first decrypts");
    let reply = keylink::encrypt(&mut peer, &dut_address(), b"ok")
        .expect("reply")
        .to_bytes();
    keylink::decrypt(dut, &peer_address(), &reply, &mut rng).expect("reply decrypts");
    peer
}

/// The same confirmed pair as sans-IO records: (the device under test, its peer).
fn confirmed_records() -> (SessionRecord, SessionRecord, IdentityKey) {
    let mut rng = keylink::os_rng();
    let dut_identity = IdentityKeyPair::generate(&mut rng);
    let peer_identity = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &peer_identity, &mut rng);
    let kem = KemPreKey::generate(1, &peer_identity, &mut rng);
    let bundle = PreKeyBundle::new(1, &peer_identity, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let mut dut = SessionRecord::new();
    dut.set_current(Session::initiate(&dut_identity, &bundle, &mut rng).expect("initiate"));
    let Ok(Message::PreKey(first)) = dut.encrypt(0, b"hi") else {
        panic!("first message")
    };
    let prekeys = ResponderPreKeys {
        signed_prekey: Some(spk),
        one_time_prekey: None,
        kem_prekey: Some(kem),
        base_key_used: false,
    };
    let mut peer = SessionRecord::new();
    let _ = peer
        .decrypt_prekey(&peer_identity, None, &first, prekeys, &mut rng)
        .expect("respond");
    let Ok(Message::Ratchet(reply)) = peer.encrypt(0, b"ok") else {
        panic!("reply")
    };
    let _ = dut.decrypt(&reply, None, &mut rng).expect("reply decrypts");
    (dut, peer, *peer_identity.public())
}

/// A store that forwards to another and records which getters an operation calls and which
/// changes it commits.
struct Recording<S> {
    inner: S,
    reads: RefCell<Vec<&'static str>>,
    writes: Vec<&'static str>,
}

impl<S> Recording<S> {
    fn new(inner: S) -> Self {
        Recording {
            inner,
            reads: RefCell::new(Vec::new()),
            writes: Vec::new(),
        }
    }

    fn read(&self, what: &'static str) {
        self.reads.borrow_mut().push(what);
    }

    /// What was read and written since the last call, sorted.
    fn take(&mut self) -> (Vec<&'static str>, Vec<&'static str>) {
        let mut reads = self.reads.take();
        let mut writes = std::mem::take(&mut self.writes);
        reads.sort_unstable();
        writes.sort_unstable();
        (reads, writes)
    }
}

impl<S: ProtocolStore> ProtocolStore for Recording<S> {
    type Error = S::Error;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, S::Error> {
        self.read("local_identity");
        self.inner.local_identity()
    }

    fn peer_identity(&self, address: &Address) -> Result<Option<IdentityKey>, S::Error> {
        self.read("peer_identity");
        self.inner.peer_identity(address)
    }

    fn peer_account(&self, phone: &PhoneNumber) -> Result<Option<AccountKey>, S::Error> {
        self.read("peer_account");
        self.inner.peer_account(phone)
    }

    fn signed_prekey(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKey>, S::Error> {
        self.read("signed_prekey");
        self.inner.signed_prekey(id)
    }

    fn one_time_prekey(&self, id: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, S::Error> {
        self.read("one_time_prekey");
        self.inner.one_time_prekey(id)
    }

    fn kem_prekey(&self, id: KemPreKeyId) -> Result<Option<KemPreKey>, S::Error> {
        self.read("kem_prekey");
        self.inner.kem_prekey(id)
    }

    fn base_key_used(&self, spk: SignedPreKeyId, base_key: &PublicKey) -> Result<bool, S::Error> {
        self.read("base_key_used");
        self.inner.base_key_used(spk, base_key)
    }

    fn session_index(&self, address: &Address) -> Result<Option<SessionIndex>, S::Error> {
        self.read("session_index");
        self.inner.session_index(address)
    }

    fn session(&self, address: &Address, id: &SessionId) -> Result<Option<Session>, S::Error> {
        self.read("session");
        self.inner.session(address, id)
    }

    fn skipped_message_key(
        &self,
        address: &Address,
        id: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, S::Error> {
        self.read("skipped_message_key");
        self.inner.skipped_message_key(address, id)
    }

    fn device_list(
        &self,
        phone: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::SignedDeviceList>, S::Error> {
        self.read("device_list");
        self.inner.device_list(phone)
    }

    fn prekey_state(&self) -> Result<Option<keylink::account::PreKeyState>, S::Error> {
        self.read("prekey_state");
        self.inner.prekey_state()
    }

    fn local_account(&self) -> Result<Option<keylink::account::PhoneNumber>, S::Error> {
        self.read("local_account");
        self.inner.local_account()
    }

    fn commit(&mut self, changes: Changes) -> Result<(), S::Error> {
        for change in &changes {
            self.writes.push(match change {
                Change::SessionIndex { .. } => "SessionIndex",
                Change::Session { .. } => "Session",
                Change::RemoveSession { .. } => "RemoveSession",
                Change::SkippedMessageKeys { .. } => "SkippedMessageKeys",
                Change::RemoveSkippedMessageKey { .. } => "RemoveSkippedMessageKey",
                Change::EvictSkippedMessageKeys { .. } => "EvictSkippedMessageKeys",
                Change::PeerIdentity { .. } => "PeerIdentity",
                Change::PeerAccount { .. } => "PeerAccount",
                Change::RemoveOneTimePreKey(_) => "RemoveOneTimePreKey",
                Change::RemoveKemPreKey(_) => "RemoveKemPreKey",
                Change::UsedBaseKey { .. } => "UsedBaseKey",
                Change::PreKeyState(_) => "PreKeyState",
                Change::DeviceList { .. } => "DeviceList",
                Change::LocalAccount(_) => "LocalAccount",
                Change::SignedPreKey(_) => "SignedPreKey",
                Change::OneTimePreKeys(_) => "OneTimePreKeys",
                Change::KemPreKeys(_) => "KemPreKeys",
                Change::RemoveSignedPreKey(_) => "RemoveSignedPreKey",
                Change::RemoveLastResortKemPreKey(_) => "RemoveLastResortKemPreKey",
                Change::RemoveOneTimePreKeysBelow { .. } => "RemoveOneTimePreKeysBelow",
            });
        }
        self.inner.commit(changes)
    }
}

/// Records one encrypt to the peer and one decrypt of its next message through `store`,
/// prints what they read and commit, and warns if that is not what the bare transaction
/// does.
fn profile(store: SqliteStore, peer: &mut MemoryStore) -> SqliteStore {
    let mut rng = keylink::os_rng();
    let mut store = Recording::new(store);
    keylink::encrypt(&mut store, &peer_address(), &PLAINTEXT).expect("encrypt");
    let encrypt = store.take();
    let bytes = keylink::encrypt(peer, &dut_address(), &PLAINTEXT)
        .expect("encrypt")
        .to_bytes();
    keylink::decrypt(&mut store, &peer_address(), &bytes, &mut rng).expect("decrypt");
    let decrypt = store.take();
    let bare = (
        vec!["peer_identity", "session", "session_index"],
        vec!["Session"],
    );
    for (name, (reads, writes)) in [("encrypt", &encrypt), ("decrypt", &decrypt)] {
        eprintln!(
            "sqlite: {name} 100 B reads {} and commits {}",
            reads.join(", "),
            writes.join(", ")
        );
        if (reads, writes) != (&bare.0, &bare.1) {
            eprintln!(
                "sqlite: WARNING: {name} no longer does what sqlite/bare_transaction does (reads {}, commits {})",
                bare.0.join(", "),
                bare.1.join(", ")
            );
        }
    }
    store.inner
}

/// The lengths of the sealed values of the rows a message reads: (session index, session,
/// peer identity), the largest in their table.
fn row_sizes(path: &Path) -> (usize, usize, usize) {
    let conn = Connection::open(path).expect("open");
    let len = |table: &str| -> usize {
        let sql = format!("SELECT max(length(value)) FROM {table}");
        let len: i64 = conn.query_row(&sql, [], |r| r.get(0)).expect("length");
        usize::try_from(len).expect("a length")
    };
    (len("session_index"), len("sessions"), len("peers"))
}

/// How many skipped keys and sessions the store at `path` holds.
fn rows(path: &Path) -> (i64, i64) {
    let conn = Connection::open(path).expect("open");
    let count = |table: &str| -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        conn.query_row(&sql, [], |r| r.get(0)).expect("count")
    };
    (count("skipped_keys"), count("sessions"))
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    keylink::os_rng().fill_bytes(&mut bytes);
    bytes
}

/// A plain rusqlite database with the three rows a message reads, of the store's sizes, in
/// tables shaped as the store's.
struct Bare {
    conn: Connection,
    address: Vec<u8>,
    session: Vec<u8>,
    value: Vec<u8>,
}

impl Bare {
    fn create(path: &Path, synchronous: Synchronous, sizes: (usize, usize, usize)) -> Self {
        let conn = Connection::open(path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        let synchronous = match synchronous {
            Synchronous::Full => "FULL",
            _ => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)
            .expect("synchronous");
        conn.execute_batch(
            "CREATE TABLE session_index (address BLOB PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE sessions (address BLOB NOT NULL, session BLOB NOT NULL,
                 value BLOB NOT NULL, PRIMARY KEY (address, session));
             CREATE TABLE peers (address BLOB PRIMARY KEY, value BLOB NOT NULL);",
        )
        .expect("schema");
        let (address, session) = (random(32), random(32));
        let (index_len, session_len, peer_len) = sizes;
        let value = random(session_len);
        conn.execute(
            "INSERT INTO session_index (address, value) VALUES (?1, ?2)",
            params![address, random(index_len)],
        )
        .expect("index row");
        conn.execute(
            "INSERT INTO sessions (address, session, value) VALUES (?1, ?2, ?3)",
            params![address, session, value],
        )
        .expect("session row");
        conn.execute(
            "INSERT INTO peers (address, value) VALUES (?1, ?2)",
            params![address, random(peer_len)],
        )
        .expect("peer row");
        Bare {
            conn,
            address,
            session,
            value,
        }
    }

    /// `BEGIN IMMEDIATE`, 3 point reads, `INSERT OR REPLACE` of the session row, `COMMIT`.
    fn transaction(&mut self) -> usize {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        let read = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Vec<u8> {
            let mut statement = tx.prepare_cached(sql).expect("prepare");
            statement.query_row(p, |r| r.get(0)).expect("read")
        };
        let a = self.address.as_slice();
        let mut read_len = read(
            "SELECT value FROM session_index WHERE address = ?1",
            params![a],
        )
        .len();
        read_len += read(
            "SELECT value FROM sessions WHERE address = ?1 AND session = ?2",
            params![a, self.session],
        )
        .len();
        read_len += read("SELECT value FROM peers WHERE address = ?1", params![a]).len();
        // A new value each time, as a store seals each with a fresh nonce.
        if let Some(byte) = self.value.first_mut() {
            *byte ^= 1;
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO sessions (address, session, value) VALUES (?1, ?2, ?3)",
        )
        .expect("prepare")
        .execute(params![a, self.session, self.value])
        .expect("write");
        tx.commit().expect("commit");
        read_len
    }
}

/// Collects what `start_session` commits instead of writing it: the sans-IO path to many
/// sessions in one transaction. It knows nothing but the local identity.
struct Collector {
    identity: IdentityKeyPair,
    changes: Changes,
}

impl ProtocolStore for Collector {
    type Error = Infallible;

    fn local_identity(&self) -> Result<Option<IdentityKeyPair>, Infallible> {
        Ok(Some(self.identity.clone()))
    }

    fn peer_identity(&self, _: &Address) -> Result<Option<IdentityKey>, Infallible> {
        Ok(None)
    }

    fn peer_account(&self, _: &PhoneNumber) -> Result<Option<AccountKey>, Infallible> {
        Ok(None)
    }

    fn signed_prekey(&self, _: SignedPreKeyId) -> Result<Option<SignedPreKey>, Infallible> {
        Ok(None)
    }

    fn one_time_prekey(&self, _: OneTimePreKeyId) -> Result<Option<OneTimePreKey>, Infallible> {
        Ok(None)
    }

    fn kem_prekey(&self, _: KemPreKeyId) -> Result<Option<KemPreKey>, Infallible> {
        Ok(None)
    }

    fn base_key_used(&self, _: SignedPreKeyId, _: &PublicKey) -> Result<bool, Infallible> {
        Ok(false)
    }

    fn session_index(&self, _: &Address) -> Result<Option<SessionIndex>, Infallible> {
        Ok(None)
    }

    fn session(&self, _: &Address, _: &SessionId) -> Result<Option<Session>, Infallible> {
        Ok(None)
    }

    fn skipped_message_key(
        &self,
        _: &Address,
        _: &SkippedKeyId,
    ) -> Result<Option<SkippedMessageKey>, Infallible> {
        Ok(None)
    }

    fn device_list(
        &self,
        _: &keylink::account::PhoneNumber,
    ) -> Result<Option<keylink::account::SignedDeviceList>, Infallible> {
        Ok(None)
    }

    fn prekey_state(&self) -> Result<Option<keylink::account::PreKeyState>, Infallible> {
        Ok(None)
    }

    fn local_account(&self) -> Result<Option<keylink::account::PhoneNumber>, Infallible> {
        Ok(None)
    }

    fn commit(&mut self, changes: Changes) -> Result<(), Infallible> {
        self.changes.extend(changes);
        Ok(())
    }
}

/// A store at `path` with `identity` and sessions with `count` peers (`peer00000`, ...), as
/// `start_session` leaves them (no message sent yet). The peers share one identity and bundle;
/// each session has its own keys. The sessions are computed on every core and written in one
/// commit.
fn store_with_sessions(path: &Path, key: &StorageKey, identity: &IdentityKeyPair, count: usize) {
    let mut rng = keylink::os_rng();
    let peer = IdentityKeyPair::generate(&mut rng);
    let spk = SignedPreKey::generate(1, &peer, &mut rng);
    let kem = KemPreKey::generate(1, &peer, &mut rng);
    let bundle = PreKeyBundle::new(1, &peer, &spk, None, &kem)
        .verify()
        .expect("bundle");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    let parts: Vec<Changes> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (bundle, identity) = (&bundle, identity.clone());
                scope.spawn(move || {
                    let mut rng = keylink::os_rng();
                    let mut collector = Collector {
                        identity,
                        changes: Changes::new(),
                    };
                    for i in (t * per_thread)..((t + 1) * per_thread).min(count) {
                        let address = Address::new(format!("peer{i:05}"), 1);
                        keylink::start_session(&mut collector, &address, bundle, &mut rng)
                            .expect("start");
                    }
                    collector.changes
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a thread"))
            .collect()
    });
    let mut changes = Changes::new();
    for part in parts {
        changes.extend(part);
    }
    let mut store = SqliteStore::open_with(path, key, config(Synchronous::Normal)).expect("open");
    store.set_local_identity(identity).expect("identity");
    store.commit(changes).expect("commit");
}

/// The size of the database at `path` and of its WAL after a checkpoint (no connection may
/// be open).
fn file_size(path: &Path) -> (u64, u64) {
    let conn = Connection::open(path).expect("open");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    (size(path), size(Path::new(&wal)))
}

/// `keylink::encrypt` of 100 B to the peer.
fn encrypt<S: ProtocolStore>(b: &mut Bencher<'_>, store: &mut S) {
    let to = peer_address();
    b.iter(|| black_box(keylink::encrypt(store, &to, &PLAINTEXT).expect("encrypt")))
}

/// `keylink::decrypt` of the peer's next 100 B message, encrypted off the clock.
fn decrypt<S: ProtocolStore>(b: &mut Bencher<'_>, store: &mut S, peer: &mut MemoryStore) {
    let (from, to) = (peer_address(), dut_address());
    let mut rng = keylink::os_rng();
    b.iter_batched(
        || {
            keylink::encrypt(peer, &to, &PLAINTEXT)
                .expect("encrypt")
                .to_bytes()
        },
        |bytes| keylink::decrypt(store, &from, &bytes, &mut rng).expect("decrypt"),
        BatchSize::SmallInput,
    )
}

fn group(c: &mut Criterion) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group("sqlite");
    // Every sample the same number of iterations: a commit that waits for an fsync takes
    // milliseconds, too long for criterion's default ramp of 1, 2, ... 100 iterations.
    group.sampling_mode(SamplingMode::Flat);
    group
}

/// The database with `SESSIONS` sessions: `SESSIONS - 1` as `start_session` leaves them and
/// one confirmed session with "peer".
struct Large {
    path: std::path::PathBuf,
    identity: IdentityKeyPair,
}

fn large(dir: &Path, key: &StorageKey) -> Large {
    let path = dir.join("sessions-10000.db");
    let identity = IdentityKeyPair::generate(&mut keylink::os_rng());
    let start = Instant::now();
    store_with_sessions(&path, key, &identity, SESSIONS - 1);
    let mut store = SqliteStore::open(&path, key).expect("open");
    let _peer = confirmed_peer(&mut store);
    drop(store);
    let built = start.elapsed();
    let (main, wal) = file_size(&path);
    let (_, sessions) = rows(&path);
    let conn = Connection::open(&path).expect("open");
    let (value_bytes, page_size): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT sum(length(value)) FROM sessions)
                  + (SELECT sum(length(value)) FROM session_index)
                  + (SELECT sum(length(value)) FROM peers),
                    (SELECT page_size FROM pragma_page_size)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("sizes");
    drop(conn);
    let per_session = |bytes: u64| bytes / u64::try_from(sessions.max(1)).expect("a count");
    eprintln!(
        "sqlite: {sessions} sessions (a session row, an index row and a peer row each): file {:.2} MiB ({main} B + WAL {wal} B after a checkpoint), {} B per session, of which {} B sealed values ({page_size} B pages); built in {:.1} s",
        (main + wal) as f64 / f64::from(1 << 20),
        per_session(main + wal),
        per_session(u64::try_from(value_bytes).expect("a size")),
        built.as_secs_f64()
    );
    Large { path, identity }
}

/// Grows the WAL of the database at `path` past the size at which SQLite checkpoints it
/// (1,000 pages), in a transaction that leaves no row behind, and checkpoints it. Later
/// commits then overwrite WAL frames instead of appending to the file, as in a connection
/// that has been writing for a while; a commit that appends also makes its fsync commit the
/// file's new size, which on the project VM took 4 ms instead of 0.2-0.3 ms. Call it while
/// the connection to be measured is open: closing the last connection deletes the WAL.
fn fill_wal(path: &Path) {
    let conn = Connection::open(path).expect("open");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE wal_filler (v BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
             INSERT INTO wal_filler SELECT zeroblob(4000) FROM n;
         COMMIT;
         DROP TABLE wal_filler;",
    )
    .expect("fill the WAL");
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .expect("checkpoint");
}

/// Runs `a` and `b` alternately, `k` calls each per round, and prints the ratio of their
/// times per round (median and range) and the median time of each. The ratio of two
/// criterion medians taken seconds apart is at the mercy of the disk, whose fsync latency
/// on a shared VM moves tenfold from one second to the next; this one is taken within
/// each round.
fn interleaved(label: &str, (rounds, k): (usize, u32), mut a: impl FnMut(), mut b: impl FnMut()) {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..k {
            f();
        }
        start.elapsed() / k
    };
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (da, db) = (time(&mut a), time(&mut b));
        ratios.push(da.as_secs_f64() / db.as_secs_f64());
        ta.push(da);
        tb.push(db);
    }
    ta.sort_unstable();
    tb.sort_unstable();
    ratios.sort_unstable_by(f64::total_cmp);
    let median = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
    let r = |i: usize| ratios.get(i).copied().unwrap_or(f64::NAN);
    eprintln!(
        "sqlite: interleaved {label}: {:.2?} / {:.2?}, per round {:.2}x ({:.2}x-{:.2}x), {rounds} rounds of {k}",
        median(&ta),
        median(&tb),
        r(rounds / 2),
        r(0),
        r(rounds.saturating_sub(1)),
    );
}

/// Encrypt and decrypt of 100 B through each store, beside the bare transaction.
fn messages(c: &mut Criterion, dir: &Path, key: &StorageKey, large: &Large) {
    let mut group = group(c);
    for (synchronous, name) in SETTINGS {
        let path = dir.join(format!("dut-{name}.db"));
        let mut store = SqliteStore::open_with(&path, key, config(synchronous)).expect("open");
        let identity = IdentityKeyPair::generate(&mut keylink::os_rng());
        store.set_local_identity(&identity).expect("identity");
        let mut peer = confirmed_peer(&mut store);
        let mut store = profile(store, &mut peer);
        let sizes = row_sizes(&path);
        eprintln!(
            "sqlite: sealed values: session index {} B, session {} B, peer identity {} B",
            sizes.0, sizes.1, sizes.2
        );
        let bare_path = dir.join(format!("bare-{name}.db"));
        let mut bare = Bare::create(&bare_path, synchronous, sizes);
        let mut many = SqliteStore::open_with(&large.path, key, config(synchronous)).expect("open");
        for path in [&path, &bare_path, &large.path] {
            fill_wal(path);
        }
        group.bench_function(format!("bare_transaction/{name}"), |b| {
            b.iter(|| black_box(bare.transaction()))
        });
        group.bench_function(format!("encrypt_100B/{name}"), |b| encrypt(b, &mut store));
        group.bench_function(format!("encrypt_100B_10000_sessions/{name}"), |b| {
            encrypt(b, &mut many)
        });
        group.bench_function(format!("decrypt_100B/{name}"), |b| {
            decrypt(b, &mut store, &mut peer)
        });
        // The same ratios, interleaved.
        let (rounds, k) = (15, 10u32);
        let to = peer_address();
        interleaved(
            &format!("encrypt_100B/{name} over bare_transaction/{name}"),
            (rounds, k),
            || {
                drop(black_box(
                    keylink::encrypt(&mut store, &to, &PLAINTEXT).expect("encrypt"),
                ))
            },
            || {
                black_box(bare.transaction());
            },
        );
        let mut messages: std::collections::VecDeque<Vec<u8>> = (0..rounds * k as usize)
            .map(|_| {
                let m = keylink::encrypt(&mut peer, &dut_address(), &PLAINTEXT);
                m.expect("encrypt").to_bytes()
            })
            .collect();
        let mut rng = keylink::os_rng();
        interleaved(
            &format!("decrypt_100B/{name} over bare_transaction/{name}"),
            (rounds, k),
            || {
                let bytes = messages.pop_front().expect("a message");
                let plaintext = keylink::decrypt(&mut store, &to, &bytes, &mut rng);
                drop(black_box(plaintext.expect("decrypt")))
            },
            || {
                black_box(bare.transaction());
            },
        );
        interleaved(
            &format!("encrypt_100B_10000_sessions/{name} over encrypt_100B/{name}"),
            (rounds, k),
            || {
                drop(black_box(
                    keylink::encrypt(&mut many, &to, &PLAINTEXT).expect("encrypt"),
                ))
            },
            || {
                drop(black_box(
                    keylink::encrypt(&mut store, &to, &PLAINTEXT).expect("encrypt"),
                ))
            },
        );
        drop((store, bare, many));
        let (skipped, sessions) = rows(&path);
        assert_eq!(
            (skipped, sessions),
            (0, 1),
            "decrypts were in order, on one session"
        );
    }
    let mut memory = MemoryStore::new(IdentityKeyPair::generate(&mut keylink::os_rng()));
    let mut peer = confirmed_peer(&mut memory);
    group.bench_function("encrypt_100B/memory", |b| encrypt(b, &mut memory));
    group.bench_function("decrypt_100B/memory", |b| {
        decrypt(b, &mut memory, &mut peer)
    });
    assert_eq!(memory.session_rows(&peer_address()), (1, 0), "in order");
    let (mut dut, mut peer, peer_identity) = confirmed_records();
    group.bench_function("encrypt_100B/sans_io", |b| {
        b.iter(|| black_box(dut.encrypt(0, &PLAINTEXT).expect("encrypt")))
    });
    let mut rng = keylink::os_rng();
    group.bench_function("decrypt_100B/sans_io", |b| {
        b.iter_batched(
            || peer.encrypt(0, &PLAINTEXT).expect("encrypt").to_bytes(),
            |bytes| {
                let message = RatchetMessage::try_from(bytes.as_slice()).expect("parses");
                dut.decrypt(&message, Some(&peer_identity), &mut rng)
                    .expect("decrypt")
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(dut.skipped_keys(), 0, "in order");
    group.finish();
}

/// What the responder benches need beyond `ProtocolStore`.
trait Device: ProtocolStore {
    fn set_up(&mut self, identity: &IdentityKeyPair, signed_prekey: SignedPreKey);
    fn add_prekeys(&mut self, one_time: Vec<OneTimePreKey>, kem: Vec<KemPreKey>);

    /// The bundle of signed prekey 1, one-time prekey `one_time` and KEM prekey `kem`, read
    /// through the getters, verified.
    fn verified_bundle(&self, one_time: u32, kem: u32) -> VerifiedBundle {
        let identity = self.local_identity().expect("read").expect("identity");
        let signed = self.signed_prekey(1.into()).expect("read").expect("signed");
        let one_time = self.one_time_prekey(one_time.into()).expect("read");
        let kem = self.kem_prekey(kem.into()).expect("read").expect("KEM");
        let one_time = one_time.expect("one-time");
        PreKeyBundle::new(1, &identity, &signed, Some(&one_time), &kem)
            .verify()
            .expect("bundle")
    }
}

impl Device for SqliteStore {
    fn set_up(&mut self, identity: &IdentityKeyPair, signed_prekey: SignedPreKey) {
        self.set_local_identity(identity).expect("identity");
        self.add_signed_prekey(&signed_prekey)
            .expect("signed prekey");
    }

    fn add_prekeys(&mut self, one_time: Vec<OneTimePreKey>, kem: Vec<KemPreKey>) {
        self.add_one_time_prekeys(&one_time).expect("one-time");
        self.add_kem_prekeys(&kem).expect("KEM");
    }
}

impl Device for MemoryStore {
    /// The identity must be the one the store was made with.
    fn set_up(&mut self, _: &IdentityKeyPair, signed_prekey: SignedPreKey) {
        self.add_signed_prekey(signed_prekey);
    }

    fn add_prekeys(&mut self, one_time: Vec<OneTimePreKey>, kem: Vec<KemPreKey>) {
        self.add_one_time_prekeys(one_time);
        self.add_kem_prekeys(kem);
    }
}

/// `start_session` with a new address and the first encrypt to it (a PreKey message). `n`
/// numbers the addresses across calls (criterion calls a bench's closure more than once).
fn initiator<S: ProtocolStore>(
    b: &mut Bencher<'_>,
    store: &mut S,
    bundle: &VerifiedBundle,
    n: &mut u64,
) {
    let mut rng = keylink::os_rng();
    b.iter_batched(
        || {
            *n += 1;
            Address::new(format!("new{n}"), 1)
        },
        |to| {
            keylink::start_session(store, &to, bundle, &mut rng).expect("start");
            keylink::encrypt(store, &to, &PLAINTEXT).expect("encrypt")
        },
        BatchSize::SmallInput,
    )
}

/// A responder device's identity and the next unused prekey id and sender address number,
/// kept across calls (criterion calls a bench's closure more than once).
struct Responder {
    identity: IdentityKeyPair,
    sender: IdentityKeyPair,
    next: u32,
}

impl Responder {
    /// A device with `identity` and signed prekey 1, in `store`; no other prekey yet.
    fn new<S: Device>(store: &mut S, identity: IdentityKeyPair) -> Self {
        let mut rng = keylink::os_rng();
        store.set_up(&identity, SignedPreKey::generate(1, &identity, &mut rng));
        Responder {
            identity,
            sender: IdentityKeyPair::generate(&mut rng),
            next: 1,
        }
    }
}

/// The responder's decrypt of first PreKey messages from new addresses, each naming a fresh
/// one-time prekey and one-time KEM prekey; those prekeys and the messages are made before
/// the clock starts.
fn responder<S: Device>(b: &mut Bencher<'_>, store: &mut S, device: &mut Responder) {
    let mut rng = keylink::os_rng();
    b.iter_custom(|iters| {
        let n = u32::try_from(iters).expect("iterations");
        let first = device.next;
        device.next += n;
        let (identity, sender, next) = (&device.identity, &device.sender, device.next);
        store.add_prekeys(
            OneTimePreKey::generate_batch(first, n, &mut rng),
            KemPreKey::generate_batch(first, n, identity, &mut rng),
        );
        let messages: Vec<(Address, Vec<u8>)> = (first..next)
            .map(|id| {
                let bundle = store.verified_bundle(id, id);
                let mut session = Session::initiate(sender, &bundle, &mut rng).expect("initiate");
                let Ok(Message::PreKey(m)) = session.encrypt(0, &PLAINTEXT) else {
                    panic!("a PreKey message")
                };
                (Address::new(format!("sender{id}"), 1), m.to_bytes())
            })
            .collect();
        let start = Instant::now();
        for (from, bytes) in &messages {
            black_box(keylink::decrypt(store, from, bytes, &mut rng).expect("decrypt"));
        }
        start.elapsed()
    })
}

fn setup(c: &mut Criterion, dir: &Path, key: &StorageKey) {
    let mut rng = keylink::os_rng();
    // The bundle every initiator iteration starts from (verified once; its one-time prekey
    // is not used up, as no responder runs).
    let peer = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::new(
        1,
        &peer,
        &SignedPreKey::generate(1, &peer, &mut rng),
        Some(&OneTimePreKey::generate(1, &mut rng)),
        &KemPreKey::generate(1, &peer, &mut rng),
    )
    .verify()
    .expect("bundle");
    let mut group = group(c);
    for (synchronous, name) in SETTINGS {
        let path = dir.join(format!("initiator-{name}.db"));
        let mut store = SqliteStore::open_with(&path, key, config(synchronous)).expect("open");
        store
            .set_local_identity(&IdentityKeyPair::generate(&mut rng))
            .expect("identity");
        fill_wal(&path);
        let mut n = 0;
        group.bench_function(format!("setup/initiator/{name}"), |b| {
            initiator(b, &mut store, &bundle, &mut n)
        });
    }
    let mut memory = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
    let mut n = 0;
    group.bench_function("setup/initiator/memory", |b| {
        initiator(b, &mut memory, &bundle, &mut n)
    });
    for (synchronous, name) in SETTINGS {
        let path = dir.join(format!("responder-{name}.db"));
        let mut store = SqliteStore::open_with(&path, key, config(synchronous)).expect("open");
        let identity = IdentityKeyPair::generate(&mut rng);
        let mut device = Responder::new(&mut store, identity);
        fill_wal(&path);
        group.bench_function(format!("setup/responder/{name}"), |b| {
            responder(b, &mut store, &mut device)
        });
    }
    let identity = IdentityKeyPair::generate(&mut rng);
    let mut memory = MemoryStore::new(identity.clone());
    let mut device = Responder::new(&mut memory, identity);
    group.bench_function("setup/responder/memory", |b| {
        responder(b, &mut memory, &mut device)
    });
    group.finish();
}

/// `SqliteStore::open` of a file no connection has open; the store is closed off the clock.
fn open(b: &mut Bencher<'_>, path: &Path, key: &StorageKey) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let store = SqliteStore::open(path, key).expect("open");
            total += start.elapsed();
            drop(black_box(store));
        }
        total
    })
}

fn opening(c: &mut Criterion, dir: &Path, key: &StorageKey, large: &Large) {
    let small = dir.join("sessions-1.db");
    store_with_sessions(&small, key, &large.identity, 1);
    let mut group = group(c);
    group.bench_function("open/1_session", |b| open(b, &small, key));
    group.bench_function("open/10000_sessions", |b| open(b, &large.path, key));
    group.finish();
}

/// The sealed values of the tables the large database fills, with the SQL of their row keys.
const LARGE_TABLES: [(&str, &str); 4] = [
    ("identity", "x''"),
    ("peers", "address"),
    ("session_index", "address"),
    ("sessions", "CAST(address || session AS BLOB)"),
];

/// The tables of schema 1.
const SCHEMA_1_TABLES: [&str; 10] = [
    "meta",
    "identity",
    "peers",
    "signed_prekeys",
    "one_time_prekeys",
    "kem_prekeys",
    "used_base_keys",
    "session_index",
    "sessions",
    "skipped_keys",
];

/// Turn the current-schema file at `path` into the file schema 1 would have written: each value of
/// `LARGE_TABLES` sealed for schema 1, none of the tables later schemas added, `user_version` 1. Returns the
/// number of values sealed.
fn to_schema_1(path: &Path, key: &StorageKey) -> usize {
    let sealer = Sealer::new(key);
    let mut conn = Connection::open(path).expect("open");
    let tx = conn.transaction().expect("transaction");
    let mut count = 0;
    for (table, row_key) in LARGE_TABLES {
        let sql = format!("SELECT rowid, {row_key}, value FROM {table}");
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = tx
            .prepare(&sql)
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let update = format!("UPDATE {table} SET value = ?1 WHERE rowid = ?2");
        for (rowid, row_key, value) in rows {
            let row = |schema_version| Row {
                table,
                row_key: &row_key,
                schema_version,
            };
            let plain = sealer
                .open(&row(SCHEMA_VERSION), &value)
                .expect("a current value");
            let sealed = sealer.seal(&row(1), &plain, &mut keylink::os_rng());
            tx.execute(&update, params![sealed.expect("sealed"), rowid])
                .expect("update");
            count += 1;
        }
    }
    // Every table a later schema added goes.
    let later: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<Vec<String>, _>>()
        .expect("tables")
        .into_iter()
        .filter(|name| !SCHEMA_1_TABLES.contains(&name.as_str()))
        .collect();
    for table in later {
        tx.execute_batch(&format!("DROP TABLE {table}"))
            .expect("drop");
    }
    tx.execute_batch("PRAGMA user_version = 1;")
        .expect("schema 1");
    tx.commit().expect("commit");
    count
}

/// Open a schema-1 copy of the large database: its migration, timed once.
fn migration(dir: &Path, key: &StorageKey, large: &Large) {
    let path = dir.join("sessions-10000-schema-1.db");
    file_size(&large.path); // checkpoints: the copy of the main file holds every row
    std::fs::copy(&large.path, &path).expect("copy");
    let values = to_schema_1(&path, key);
    let start = Instant::now();
    let store = SqliteStore::open(&path, key).expect("migrate");
    let migrated = start.elapsed();
    let start = Instant::now();
    drop(SqliteStore::open(&path, key).expect("open"));
    eprintln!(
        "sqlite: migrating {SESSIONS} sessions from schema 1 ({values} sealed values sealed again) took {:.1} ms at open; the next open {:.1} µs",
        migrated.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64() * 1e6
    );
    drop(store);
}

fn sqlite(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("keylink-bench-sqlite")
        .tempdir()
        .expect("temp dir");
    let key = StorageKey::generate(&mut keylink::os_rng());
    let large = large(dir.path(), &key);
    messages(c, dir.path(), &key, &large);
    setup(c, dir.path(), &key);
    opening(c, dir.path(), &key, &large);
    migration(dir.path(), &key, &large);
}

criterion_group!(benches, sqlite);
criterion_main!(benches);
